"""Random whole models, each written twice: as ``.model`` text and as the same network in torch.

The generator draws a model step by step and runs every step in torch as it goes (so it knows the
real shapes and draws plausible arguments, and sometimes wrong ones on purpose): input dtypes
(float64, float16, bfloat16, int64 inputs into layers with weights), slices and chunks (empty
results included), in-place layers (an input read again, before or after), several inputs, blocks
with parameters, repeats, ``scaled_dot_product_attention`` with masks, PyTorch's argument order,
and train sections (a loss over the output and the data set's targets, made as the generated
script makes them).  The torch program is a list of steps that can be replayed, so a model that
uses ``inplace=true`` is run twice, as written and with every ``inplace`` off: where the two differ,
or the caller's input changed, or backward fails, torch computes another model than the one
written, which counts as torch refusing it.  tests/fuzz/models.py compares the verdicts.
"""

from __future__ import annotations

import random
import warnings
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

B = 10  # the batch the torch program runs with (every class of a data set appears once or more)
DATA = {"iris": (4, 3), "wine": (13, 3), "breast_cancer": (30, 2), "diabetes": (10, None)}
DTYPES = {"": torch.float32, "double": torch.float64, "half": torch.float16, "bfloat16": torch.bfloat16,
          "long": torch.int64, "bool": torch.bool}


class TorchFails(Exception):
    """torch refused a step: the model as written does not run."""


@dataclass
class Step:
    outs: list[str]
    fn: object                 # fn(env, inplace: bool) -> list of tensors
    srcs: list[str] = field(default_factory=list)


@dataclass
class Program:
    """The torch side of a case: inputs, steps and outputs, replayable."""

    inputs: dict[str, torch.Tensor] = field(default_factory=dict)
    steps: list[Step] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    train: tuple | None = None  # (loss name, data set name)
    declared: dict = field(default_factory=dict)  # input name -> a tensor as declared (train: replaced by data)
    inplace: bool = False

    def run(self, inplace: bool = True, backward: bool = True):
        torch.manual_seed(1)
        env = {k: v.clone() for k, v in self.inputs.items()}
        if self.train:  # the script's data checks (data.py.tmpl: check_features), then its features
            declared, feats = self.declared["x"], DATA[self.train[1]][0]
            if declared.shape[1:] != (feats,):
                raise TorchFails(f"the script: features of shape (N, {feats}), but the input is {tuple(declared.shape)}")
            if not declared.is_floating_point():
                raise TorchFails(f"the script: float features, but the input is {declared.dtype}")
            torch.manual_seed(1)
        for s in self.steps:
            vals = s.fn(env, inplace)
            env.update(zip(s.outs, vals))
        outs = [env[o] for o in self.outputs]
        changed = any(not torch.equal(env[k], v) for k, v in self.inputs.items())
        if backward:
            loss = self.loss(outs[0]) if self.train else sum(o.float().sum() for o in outs if o.requires_grad)
            if isinstance(loss, torch.Tensor) and loss.requires_grad:
                loss.backward()
        return outs, changed

    def loss(self, out):
        """One loss as the generated training script computes it (steps.py.tmpl: targets_for)."""
        name, data = self.train
        feats, classes = DATA[data]
        y = (torch.arange(B) % classes) if classes else torch.linspace(-1, 1, B)
        fn = getattr(nn, name)()
        if name in ("CrossEntropyLoss", "NLLLoss"):
            return fn(out.float(), y)
        return fn(out.float(), y.to(out.float().dtype).reshape(out.shape))

    def verdict(self) -> tuple[bool, str, list]:
        """(torch runs the model as written, why not, the outputs)."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                outs, changed = self.run(True)
            except Exception as e:  # noqa: BLE001 - any refusal of torch's
                return False, f"{type(e).__name__}: {str(e).splitlines()[0][:100] if str(e) else ''}", []
            if changed:
                return False, "an in-place step changed the caller's input", outs
            if self.inplace:
                try:
                    ref, _ = self.run(False)
                except Exception as e:  # noqa: BLE001
                    return False, f"out-of-place run fails: {e}", outs
                if any(a.shape != b.shape or not torch.allclose(a.float(), b.float(), equal_nan=True)
                       for a, b in zip(outs, ref)):
                    return False, "in-place computes another model", outs
        return True, "", outs


class Gen:
    """One random model: its text and its torch program, drawn together."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.prog = Program()
        self.lines: list[str] = []      # model body
        self.blocks: list[str] = []     # block definitions
        self.vals: dict[str, torch.Tensor] = {}  # every value so far, as torch computed it
        self.n = 0
        self.failed = False             # torch refused a step: the rest is text only
        self.n_inputs = 0
        self.mask_inputs: list[str] = []

    # --------------------------------------------------------------- plumbing
    def fresh(self) -> str:
        self.n += 1
        return f"v{self.n}"

    def add_step(self, outs, fn, srcs, text):
        """Record a step and run it now on the tensors computed so far."""
        self.lines.append(text)
        self.prog.steps.append(Step(outs, fn, srcs))
        if self.failed:
            return
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                vals = fn(self.vals, False)
            for o, v in zip(outs, vals):
                self.vals[o] = v.detach()
        except Exception:  # noqa: BLE001
            self.failed = True

    def shape(self, name):
        t = self.vals.get(name)
        return None if t is None else tuple(t.shape)

    # ----------------------------------------------------------------- inputs
    def add_input(self, name, dtype, dims, symbolic=True):
        shape = [B if d == "B" else d for d in dims]
        t = DTYPES[dtype]
        x = torch.randint(0, 3, shape) if t == torch.int64 else \
            torch.rand(shape) < 0.5 if t == torch.bool else torch.randn(shape).to(t)
        self.prog.inputs[name] = x
        self.vals[name] = x
        self.n_inputs += 1
        written = ", ".join(str(d) if (d != "B" or symbolic) else str(B) for d in dims)
        self.lines.append(f"    input {name}: {'bool' if t == torch.bool else dtype}[{written}]")

    # ----------------------------------------------------------------- layers
    def layer(self, shape, body: bool = False, param: str | None = None):
        """One chain step for an input of ``shape``: its text and ``make(param value)``, which
        gives a fresh ``fn(x, inplace)`` (its own modules, built at its first call)."""
        r = self.rng
        rank = len(shape)
        last = shape[-1]
        ip = r.random() < 0.3
        choices = ["Linear", "Linear", "ReLU", "ReLU", "Tanh", "Dropout", "LayerNorm", "BatchNorm1d"]
        if not body:
            choices += ["slice", "Linear_torch", "Softmax", "Sigmoid"]
            if rank == 3:
                choices += ["Conv1d", "MaxPool1d", "Flatten", "transpose", "LSTM", "slice_last"]
            if rank == 2 and last % 2 == 0:
                choices += ["Unflatten"]
            if rank == 4:
                choices = ["Conv2d", "Conv2d", "Conv2d_torch", "MaxPool2d", "BatchNorm2d", "AdaptiveAvgPool2d",
                           "Flatten", "ReLU", "Dropout", "Tanh"]
        elif rank == 3:
            choices += ["Conv1d"]
        k = r.choice(choices)
        n = param or str(r.randint(1, 8))

        def module(build):
            """make(pv) for a layer with a module: build(x, pv) makes it at the first call."""
            def make(pv=None):
                held = []

                def fn(x, inplace):
                    if not held:
                        held.append(build(x, pv if pv is not None else int(n)))
                    return held[0](x)
                return fn
            return make

        def pure(f):
            return lambda pv=None: f

        if k == "Linear":
            return f"Linear({n})", module(lambda x, pv: nn.Linear(x.shape[-1], pv))
        if k == "Linear_torch":  # PyTorch's order, right or wrong about in_features
            fin = last if r.random() < 0.7 else max(1, last + r.choice([-1, 1]))
            out = r.randint(1, 8)
            return f"Linear({fin}, {out})", module(lambda x, pv: nn.Linear(fin, out))
        if k == "ReLU":
            return ("ReLU(inplace=true)" if ip else "ReLU"), pure(lambda x, inplace: F.relu(x, inplace=ip and inplace))
        if k == "Softmax":
            return "Softmax(dim=-1)", pure(lambda x, inplace: F.softmax(x, dim=-1))
        if k in ("Tanh", "Sigmoid"):
            fn = torch.tanh if k == "Tanh" else torch.sigmoid
            return k, pure(lambda x, inplace: fn(x))
        if k == "Dropout":
            p = r.choice([0.0, 0.2, 0.5])
            return (f"Dropout({p}, inplace=true)" if ip else f"Dropout({p})"), \
                pure(lambda x, inplace: F.dropout(x, p, True, inplace=ip and inplace))
        if k == "LayerNorm":
            return "LayerNorm", module(lambda x, pv: nn.LayerNorm(x.shape[-1]))
        if k == "BatchNorm1d":
            return "BatchNorm1d", module(lambda x, pv: nn.BatchNorm1d(x.shape[1]))
        if k == "Conv1d":
            ks = 3 if body else r.choice([1, 3, 5])
            pad = 1 if body else r.choice([0, 0, 1])
            txt = f"Conv1d({n}, {ks}" + (f", padding={pad})" if pad else ")")
            return txt, module(lambda x, pv: nn.Conv1d(x.shape[1], pv, ks, padding=pad))
        if k in ("Conv2d", "Conv2d_torch"):
            ks, st, pad = r.choice([1, 3, 5]), r.choice([1, 1, 2]), r.choice([0, 1])
            if k == "Conv2d_torch":
                # PyTorch's order with the input's in_channels, where PyTorch's reading runs (graphc
                # reads its own order where that one fails: docs/language.md, "PyTorch's order"),
                # or a wrong in_channels given by keyword
                cin = shape[1]
                ks = min(ks, min(shape[2:]) + 2 * pad)
                if r.random() < 0.7:
                    txt = f"Conv2d({cin}, {n}, {ks}" + (f", stride={st}" if st > 1 else "") + \
                        (f", padding={pad})" if pad else ")")
                else:
                    cin += r.choice([-1, 1]) if cin > 1 else 1
                    txt = f"Conv2d({n}, {ks}, in_channels={cin}" + (f", stride={st}" if st > 1 else "") + \
                        (f", padding={pad})" if pad else ")")
                return txt, module(lambda x, pv: nn.Conv2d(cin, pv, ks, stride=st, padding=pad))
            txt = f"Conv2d({n}, {ks}" + (f", stride={st}" if st > 1 else "") + (f", padding={pad})" if pad else ")")
            return txt, module(lambda x, pv: nn.Conv2d(x.shape[1], pv, ks, stride=st, padding=pad))
        if k == "MaxPool2d":
            ks = r.choice([2, 3])
            return f"MaxPool2d({ks})", pure(lambda x, inplace: F.max_pool2d(x, ks))
        if k == "BatchNorm2d":
            return "BatchNorm2d", module(lambda x, pv: nn.BatchNorm2d(x.shape[1]))
        if k == "AdaptiveAvgPool2d":
            return "AdaptiveAvgPool2d(1)", pure(lambda x, inplace: F.adaptive_avg_pool2d(x, 1))
        if k == "MaxPool1d":
            ks = r.choice([2, 3])
            return f"MaxPool1d({ks})", pure(lambda x, inplace: F.max_pool1d(x, ks))
        if k == "Flatten":
            return "Flatten", pure(lambda x, inplace: torch.flatten(x, 1))
        if k == "transpose":
            return "transpose(1, 2)", pure(lambda x, inplace: x.transpose(1, 2))
        if k == "Unflatten":
            return f"Unflatten(1, (2, {last // 2}))", pure(lambda x, inplace: x.unflatten(1, (2, last // 2)))
        if k == "LSTM":
            h, how = r.randint(1, 6), r.choice(["sequence", "last"])
            lstm = module(lambda x, pv: nn.LSTM(x.shape[-1], h, batch_first=True))

            def make(pv=None):
                f = lstm(pv)
                return lambda x, inplace: (f(x, inplace)[0] if how == "sequence" else f(x, inplace)[0][..., -1, :])
            return f'LSTM({h}, batch_first=true, output="{how}")', make
        # slice, slice_last
        dim = 2 if k == "slice_last" else 1
        size = shape[dim] if rank > dim else 4
        a = r.choice([None, 0, 1, 2, size - 1, size, -1, -2])
        b = r.choice([None, None, 1, size - 1, size + 2, -1])
        sl = (slice(None),) * dim + (slice(a, b),)
        text = f"slice({dim}, {'none' if a is None else a}, {'none' if b is None else b})"
        return text, pure(lambda x, inplace: x[sl])

    def draw_chain(self, src: str, steps: int, body=False, param=None, pv=None):
        """``L1 -> L2 ...`` on src: the texts and makers, each drawn on the real shape before it."""
        texts, makers = [], []
        x = self.vals[src]
        for _ in range(steps):
            text, make = self.layer(tuple(x.shape), body, param)
            texts.append(text)
            makers.append(make)
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    x = make(pv)(x.clone(), False).detach()
            except Exception:  # noqa: BLE001 - torch refuses: the rest of the chain is text only
                self.failed = True
                break
        return texts, makers

    # ------------------------------------------------------------- statements
    def stmt_chain(self, src):
        texts, makers = self.draw_chain(src, self.rng.randint(1, 3))
        fns = [m() for m in makers]
        out = self.fresh()

        def fn(env, inplace, fns=fns, src=src):
            x = env[src]
            for f in fns:
                x = f(x, inplace)
            return [x]
        self.add_step([out], fn, [src], f"    {out} = {src} -> " + " -> ".join(texts))
        return out

    def stmt_block(self, src):
        r = self.rng
        name = f"Blk{len(self.blocks) + 1}"
        pv = r.randint(1, 8)
        reps = r.choice([1, 1, 2, 3])
        texts, makers = self.draw_chain(src, r.randint(1, 3), body=True, param="n", pv=pv)
        readd = r.random() < 0.3  # the body adds its input back (a residual): shapes must agree
        body = f"    y = x -> {' -> '.join(texts)}\n"
        if readd:
            body += "    z = add(y, x)\n    output z\n"
        else:
            body += "    output y\n"
        self.blocks.append(f"block {name}(n) {{\n    input x\n{body}}}\n")
        uses = [[m(pv) for m in makers] for _ in range(reps)]

        def fn(env, inplace, src=src):
            x = env[src]
            for fns in uses:
                y = x
                for f in fns:
                    y = f(y, inplace)
                x = y + x if readd else y
            return [x]
        out = self.fresh()
        self.add_step([out], fn, [src], f"    {out} = {src} -> {name}({pv})" + (f" * {reps}" if reps > 1 else ""))
        return out

    def stmt_merge(self, a, b):
        r = self.rng
        op = r.choice(["add", "add", "concat", "mul"])
        out = self.fresh()
        if op == "concat":
            dim = r.choice([1, -1])

            def fn(env, inplace):
                return [torch.cat([env[a], env[b]], dim=dim)]
            text = f"    {out} = concat({a}, {b}, dim={dim})"
        else:
            f = torch.add if op == "add" else torch.mul

            def fn(env, inplace):
                return [f(env[a], env[b])]
            text = f"    {out} = {op}({a}, {b})"
        self.add_step([out], fn, [a, b], text)
        return out

    def stmt_chunk(self, src):
        k = self.rng.choice([2, 2, 3])
        dim = self.rng.choice([1, -1])
        outs = [self.fresh() for _ in range(k)]

        def fn(env, inplace):
            pieces = torch.chunk(env[src], k, dim=dim)
            if len(pieces) != k:
                raise TorchFails(f"chunk gives {len(pieces)} pieces, not {k}")
            return list(pieces)
        self.add_step(outs, fn, [src], f"    {', '.join(outs)} = {src} -> chunk({k}, dim={dim})")
        return self.rng.choice(outs)

    def stmt_sdpa(self, src):
        r = self.rng
        shape = self.shape(src)
        extra, mask = "", None
        if r.random() < 0.5:
            mask = f"m{len(self.mask_inputs) + 1}"
            lq = shape[-2]
            dims = r.choice([[lq, lq], [lq, lq + 1], ["B", lq, lq], [lq], [1, lq]])
            self.add_input_early(mask, "bool", dims)
            extra = f", attn_mask={mask}"
        causal = r.random() < 0.3
        if causal:
            extra += ", is_causal=true"
        out = self.fresh()

        def fn(env, inplace):
            return [F.scaled_dot_product_attention(env[src], env[src], env[src],
                                                   attn_mask=env[mask] if mask else None, is_causal=causal)]
        self.add_step([out], fn, [src], f"    {out} = scaled_dot_product_attention({src}, {src}, {src}{extra})")
        return out

    def stmt_mha(self, src):
        """Self-attention with nn.MultiheadAttention (batch first): heads that may not divide the
        width, a bool mask of a right or wrong shape (true: may not attend), is_causal."""
        r = self.rng
        shape = self.shape(src)
        heads = r.choice([1, 2, 3])
        extra, mask = "", None
        if r.random() < 0.4:
            mask = f"m{len(self.mask_inputs) + 1}"
            lq = shape[1]
            self.add_input_early(mask, "bool", r.choice([[lq, lq], [lq, lq + 1], [lq]]))
            extra = f", attn_mask={mask}"
        causal = r.random() < 0.3
        if causal:
            extra += ", is_causal=true"
        out = self.fresh()
        held = []

        def fn(env, inplace):
            x = env[src]
            if not held:
                held.append(nn.MultiheadAttention(x.shape[-1], heads, batch_first=True))
            m = env[mask] if mask else None
            return [held[0](x, x, x, attn_mask=m, is_causal=causal, need_weights=False)[0]]
        self.add_step([out], fn, [src], f"    {out} = MultiheadAttention({src}, {heads}{extra})")
        return out

    def add_input_early(self, name, dtype, dims):
        """An input declared after the others (the declarations come first in the text)."""
        before = len(self.lines)
        self.add_input(name, dtype, dims)
        line = self.lines.pop(before)
        self.lines.insert(self.n_inputs - 1, line)
        self.mask_inputs.append(name)


LOSSES = ["CrossEntropyLoss", "CrossEntropyLoss", "NLLLoss", "MSELoss", "L1Loss", "BCEWithLogitsLoss"]


@dataclass
class Case:
    source: str
    prog: Program
    kind: str          # plain, tokens, train


def make_case(seed: int, i: int) -> Case:
    """Case ``i`` of ``seed``, from its own random generator (replayable alone)."""
    r = random.Random(f"{seed}:{i}")
    g = Gen(r)
    kind = r.choice(["plain", "plain", "seq", "seq", "tokens", "image", "train", "train", "train"])
    dtype = "" if r.random() < 0.75 else r.choice(["double", "half", "bfloat16", "long"])
    if kind == "train":
        data = r.choice(list(DATA))
        feats = DATA[data][0]
        g.add_input("x", dtype, ["B", feats if r.random() < 0.85 else feats + 1])
    elif kind == "tokens":
        g.add_input("x", "long", ["B", r.randint(1, 6)])
    elif kind == "seq":
        g.add_input("x", dtype, ["B", r.randint(1, 6), r.randint(1, 8)])
    elif kind == "image":
        g.add_input("x", dtype, ["B", r.randint(1, 4), r.randint(3, 12), r.randint(3, 12)])
    else:
        g.add_input("x", dtype, ["B", r.randint(1, 8)])
    cur = "x"
    if kind == "tokens":
        vocab, d = r.randint(3, 9), r.randint(1, 8)
        cur = g.fresh()
        emb = nn.Embedding(vocab, d)
        g.add_step([cur], lambda env, inplace: [emb(env["x"])], ["x"], f"    {cur} = x -> Embedding({vocab}, {d})")
    if r.random() < 0.2 and kind != "train":  # a second input, merged later
        shape = g.shape(cur)
        dims = ["B", *(shape[1:] if shape and r.random() < 0.7 else [r.randint(1, 8)])]
        g.add_input_early("x2", "" if r.random() < 0.85 else r.choice(["double", "long"]), dims)
    values = [cur]
    for _ in range(r.randint(1, 5)):
        if g.failed:
            break
        shape = g.shape(cur)
        if shape is None:
            break
        roll = r.random()
        others = [v for v in values + list(g.prog.inputs) if v != cur and v not in g.mask_inputs]
        if roll < 0.55:
            cur = g.stmt_chain(cur)
        elif roll < 0.7 and others:
            cur = g.stmt_merge(cur, r.choice(others)) if r.random() < 0.8 else g.stmt_merge(r.choice(others), cur)
        elif roll < 0.8:
            cur = g.stmt_block(cur)
        elif roll < 0.9 and len(shape) >= 2:
            cur = g.stmt_chunk(cur)
        elif len(shape) == 3 and g.vals[cur].is_floating_point() and r.random() < 0.5:
            cur = g.stmt_mha(cur)
        elif len(shape) >= 3 and g.vals[cur].is_floating_point():
            cur = g.stmt_sdpa(cur)
        else:
            cur = g.stmt_chain(cur)
        values.append(cur)
    outs = [cur]
    if kind != "train" and len(values) > 2 and r.random() < 0.25:
        outs.append(r.choice(values[:-1]))
    g.prog.outputs = list(dict.fromkeys(outs))
    text = "\n".join(g.lines) + f"\n    output {', '.join(g.prog.outputs)}\n"
    if kind == "train":
        loss = r.choice(LOSSES)
        g.prog.train = (loss, data)
        g.prog.declared = {"x": g.prog.inputs["x"]}
        torch.manual_seed(2)  # the data set's features, converted to the declared dtype as the script does
        if g.prog.inputs["x"].is_floating_point():
            g.prog.inputs["x"] = torch.randn(B, DATA[data][0]).to(g.prog.inputs["x"].dtype)
        text += (f"\n    train {{\n        data = {data}()\n        loss = {loss}()\n"
                 f"        optimizer = SGD(lr=0.1)\n        epochs = 1\n        batch_size = {B}\n    }}\n")
    source = "".join(b + "\n" for b in g.blocks) + "model M {\n" + text + "}\n"
    g.prog.inplace = "inplace=true" in source
    return Case(source, g.prog, kind)
