"""3. Generated code speed: forward+backward of graphc's modules versus hand-written twins."""

from __future__ import annotations

import time

import torch

from bench.common import ROOT, build_module, fmt_time, log, median, model_class, paired, table, tmpdir
from bench.reference import mobilenet_v2, resnet, small

GOAL = 1.03


def lstm_reference(gen, comp):
    """The hand-written classifier with the sizes and LSTM output mode of the .model file."""
    emb = next(m for m in gen.modules() if isinstance(m, torch.nn.Embedding))
    lstm = next(m for m in gen.modules() if isinstance(m, torch.nn.LSTM))
    fc = [m for m in gen.modules() if isinstance(m, torch.nn.Linear)][-1]
    drop = [m.p for m in gen.modules() if isinstance(m, torch.nn.Dropout)]
    node = next(n for n in comp.program.layer_nodes() if n.kind == "LSTM")
    return small.LSTMClassifier(emb.num_embeddings, emb.embedding_dim, lstm.hidden_size, fc.out_features,
                                lstm.num_layers, lstm.bidirectional, node.params.output, emb.padding_idx,
                                lstm.dropout, drop[-1] if drop else 0.0)


# model file stem -> (hand-written reference (generated module, Compilation) -> nn.Module,
#                     batch on CPU, batch on GPU)
CASES = {
    "resnet18": (lambda gen, comp: resnet.resnet18(), 8, 64),
    "mobilenet_v2": (lambda gen, comp: mobilenet_v2.MobileNetV2(), 8, 64),
    "mlp": (lambda gen, comp: small.MLP(), 256, 4096),
    "digits": (lambda gen, comp: small.DigitsCNN(), 64, 4096),
    "lstm_classifier": (lstm_reference, 32, 256),
}


def share_weights(gen: torch.nn.Module, ref: torch.nn.Module) -> str:
    """Give ref gen's weights: by state_dict key, else in order when every shape matches."""
    g, r = gen.state_dict(), ref.state_dict()
    if list(g) == list(r) and all(g[k].shape == r[k].shape for k in g):
        ref.load_state_dict(g)
        return "by name"
    if len(g) == len(r) and all(a.shape == b.shape for a, b in zip(g.values(), r.values())):
        ref.load_state_dict(dict(zip(r, g.values())))
        return "by order"
    return "no"


def same_outputs(gen, ref, inputs) -> str:
    gen.eval(), ref.eval()
    with torch.no_grad():
        a, b = gen(*inputs), ref(*inputs)
    gen.train(), ref.train()
    if a.shape != b.shape:
        return f"no: shapes {tuple(a.shape)} vs {tuple(b.shape)}"
    diff = (a - b).abs().max().item()
    return "yes" if torch.allclose(a, b, rtol=1e-4, atol=1e-5) else f"no: max diff {diff:.2g}"


def make_step(model, inputs, device, amp: bool):
    def step():
        model.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            out = model(*inputs)
        out.float().sum().backward()
    return step


def timer(step, n: int, device):
    def run() -> float:
        t0 = time.perf_counter()
        for _ in range(n):
            step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        return (time.perf_counter() - t0) / n
    return run


def interleave_pair(a, b, repeats: int) -> tuple[list[float], list[float]]:
    ta, tb = [], []
    for r in range(repeats):
        for f, t in ((a, ta), (b, tb)) if r % 2 == 0 else ((b, tb), (a, ta)):
            t.append(f())
    return ta, tb


def run(quick: bool, device: str = "cpu") -> str:
    device = torch.device(device)
    gpu = device.type == "cuda"
    tmp = tmpdir("bench_codegen_")
    repeats = 3 if quick else 9
    rows, notes = [], []
    for stem, (make_ref, cpu_batch, gpu_batch) in CASES.items():
        path = ROOT / "models" / f"{stem}.model"
        if not path.exists():
            notes.append(f"models/{stem}.model does not exist yet: skipped "
                         f"(its reference is ready in bench/reference/).")
            continue
        try:
            mod, comp = build_module(path, tmp)
            torch.manual_seed(0)
            gen = model_class(mod)()
            ref = make_ref(gen, comp)
            shared = share_weights(gen, ref)
            batch = gpu_batch if gpu else cpu_batch
            if quick and not gpu and stem in ("resnet18", "mobilenet_v2"):
                batch = 2
            inputs = mod.example_inputs(batch)
            match = same_outputs(gen, ref, inputs) if shared != "no" else "n/a (weights not shared)"
            gen, ref = gen.to(device).train(), ref.to(device).train()
            inputs = tuple(x.to(device) for x in inputs)
            if gpu:
                gen, ref = torch.compile(gen), torch.compile(ref)
            steps = {k: make_step(m, inputs, device, gpu) for k, m in (("gen", gen), ("ref", ref))}
            for s in steps.values():  # warm-up (and compilation), then calibrate steps per sample
                for _ in range(3 if gpu else 1):
                    s()
            one = min(timer(steps["gen"], 1, device)(), timer(steps["ref"], 1, device)())
            n = max(1, int((0.05 if quick else 0.5) / max(one, 1e-6)))
            log(f"codegen speed ({device.type}): {stem}, batch {batch}, {n} steps x {repeats} rounds")
            tg, tr = interleave_pair(timer(steps["gen"], n, device), timer(steps["ref"], n, device), repeats)
        except Exception as e:  # one broken model must not stop the suite
            notes.append(f"{stem}: failed: {type(e).__name__}: {str(e).splitlines()[0][:300]}")
            continue
        _, ratio, ok = paired(tg, tr, GOAL)
        shape = "×".join(str(d) for d in inputs[0].shape)
        rows.append([stem, shape, f"{sum(p.numel() for p in gen.parameters()):,}",
                     f"{sum(p.numel() for p in ref.parameters()):,}", shared, match,
                     fmt_time(median(tg)), fmt_time(median(tr)), ratio, ok])
    how = ("CUDA, bf16 autocast, both models torch.compile'd" if gpu else "CPU, fp32")
    out = [f"One training step (zero_grad, forward, `sum().backward()`) in train mode, {how}. Each "
           f"sample times n steps; {repeats} samples per model, generated and reference alternating "
           "(ABBA order); medians per step, and gen / ref as the median [interquartile range] of the "
           "ratios of the two samples of each round. The reference gets the generated model's weights when the "
           "parameter layouts match, and both must then give the same outputs in eval mode.", "",
           table(["model", "input", "params gen", "params ref", "weights shared", "same outputs",
                  "generated", "hand-written", "gen / ref", "goal ≤ 1.03"], rows)]
    out += ["", *(f"- {n}" for n in notes)] if notes else []
    return "\n".join(out)
