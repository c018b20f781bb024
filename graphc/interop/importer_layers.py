"""graphc import: torch modules and functions as .model steps.

A leaf module becomes a registered layer found through the registry (each record names its
torch class, ``torch_name``), with its constructor arguments read back from the module's
attributes (torch stores them under the names graphc's schemas use); a function or method
call of the traced graph becomes one of the language's operations. What has no counterpart
raises :class:`Unsupported`, which the importer reports with the Python line that made it.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field
from typing import Any


class Unsupported(Exception):
    """A construct the language cannot express; ``node`` (an fx node) locates it."""

    def __init__(self, message: str, node=None, hint: str | None = None, where: str | None = None):
        super().__init__(message)
        self.message, self.node, self.hint, self.where = message, node, hint, where


@dataclass(frozen=True)
class Lit:
    """A constant written in the .model file: block instances that differ in it get a parameter
    (``hint`` names it: the argument it fills)."""

    value: Any
    hint: str = "v"


def fmt_value(v) -> str:
    """A constant in .model syntax."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "none"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if v != v or v in (float("inf"), float("-inf")):
            raise Unsupported(f"the constant {v!r} has no .model spelling")
        r = repr(v)
        return r if ("." in r or "e" in r) else r + ".0"
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t") + '"'
    if isinstance(v, (tuple, list)):
        inner = ", ".join(fmt_value(x) for x in v)
        return f"({inner},)" if len(v) == 1 else f"({inner})"
    raise Unsupported(f"the constant {v!r} ({type(v).__name__}) has no .model spelling")


def _norm(v):
    """Torch's stored value as graphc's: tensors are flags (bias), lists tuples, equal pairs one int."""
    import torch

    if isinstance(v, torch.Tensor):
        return True
    if isinstance(v, list):
        v = tuple(v)
    if isinstance(v, tuple) and len(v) > 1 and all(isinstance(x, int) and not isinstance(x, bool) for x in v) \
            and len(set(v)) == 1:
        return v[0]
    if isinstance(v, tuple) and len(v) == 1 and isinstance(v[0], int):
        return v[0]
    return v


# -------------------------------------------------------------------- modules
_SKIP = {"inplace"}  # never changes the values computed


def _by_class():
    """torch class -> layer kind, from the registry's torch names."""
    import torch.nn as nn

    from graphc.layers import REGISTRY, load_all

    load_all()
    out = {}
    for kind, layer in REGISTRY.items():
        name = layer.torch_name or ""
        if name.startswith("nn.") and hasattr(nn, name[3:]):
            out[getattr(nn, name[3:])] = kind
    return out


_CLASSES: dict | None = None


def layer_kind(mod) -> str | None:
    """The registered kind of a torch module, or None (a container or a class of the user's)."""
    global _CLASSES
    if _CLASSES is None:
        _CLASSES = _by_class()
    kind = _CLASSES.get(type(mod))
    if kind is None and type(mod).__name__ == "StochasticDepth" and type(mod).__module__.startswith("torchvision"):
        kind = "StochasticDepth"  # graphc's record is torchvision's op, bit for bit
    return kind


_SPECIAL_ATTRS = {  # a schema field torch keeps under another attribute
    "MultiheadAttention": {},
}


def module_args(kind: str, mod) -> list[tuple[str | None, Lit]]:
    """The arguments of ``kind`` that rebuild ``mod``: positional first (graphc's slots, up to
    two), then keywords; torch's defaults left out, inferred sizes (in_channels) left to graphc."""
    from graphc.layers import REGISTRY

    layer = REGISTRY[kind]
    if kind == "MultiheadAttention":
        return _mha_args(mod)
    if kind in ("TransformerEncoder", "TransformerEncoderLayer",
                "TransformerDecoderLayer", "LSTM", "GRU", "RNN"):
        raise Unsupported(f"importing nn.{kind} is not supported yet (its call returns several tensors "
                          "or wraps submodules)")
    if getattr(mod, "return_indices", False):
        raise Unsupported(f"nn.{kind}(return_indices=True) returns two tensors; the language's {kind} one")
    defaults = layer.ctor_defaults()
    fields = layer.Params.model_fields
    got: dict[str, Any] = {}
    affine = getattr(mod, "affine", getattr(mod, "elementwise_affine", True))
    for f in fields:
        if f in layer.inferred or f in layer.tensor_args or f in _SKIP or not hasattr(mod, f):
            continue
        if f == "bias" and not affine:
            continue
        v = _norm(getattr(mod, f))
        if f == "bias" and v is None:
            v = False
        if f in defaults and _norm(defaults[f]) == v:
            continue
        if kind == "PReLU" and f == "init":
            continue  # the weight is loaded; init only draws it
        if f == "stride" and "Pool" in kind and v == _norm(getattr(mod, "kernel_size", None)):
            continue  # a pool's stride defaults to its kernel size
        got[f] = v
    for f, info in fields.items():
        if info.is_required() and f not in got and f not in layer.inferred and f not in layer.tensor_args:
            raise Unsupported(f"nn.{kind}: cannot read its argument {f!r} back from the module")
    out: list[tuple[str | None, Lit]] = []
    pos = list(layer.positional)
    present = set(got)
    for i, name in enumerate(pos[:2]):
        if name in present and all(p in present for p in pos[:i]):
            out.append((None, Lit(got.pop(name), name)))
        else:
            break
    out += [(k, Lit(v, k)) for k, v in got.items()]
    return out


def _mha_args(mod) -> list:
    if mod.bias_k is not None or mod.add_zero_attn or not mod._qkv_same_embed_dim:
        raise Unsupported("nn.MultiheadAttention with add_bias_kv, add_zero_attn or kdim/vdim is not "
                          "supported by the importer yet")
    out = [(None, Lit(mod.num_heads, "num_heads"))]
    if mod.dropout:
        out.append(("dropout", Lit(mod.dropout, "dropout")))
    if mod.in_proj_bias is None:
        out.append(("bias", Lit(False, "bias")))
    if not mod.batch_first:
        out.append(("batch_first", Lit(False, "batch_first")))
    return out


# -------------------------------------------------------------------- functions
@dataclass
class Op:
    """One call of the traced graph as the language says it: ``form`` is "step" (a layer or
    operation applied to the first tensor, ``-> Kind(args)``), "call" (an operation of several
    tensors that may start a chain: ``add(a, b)``) or "expr" (``a * 0.5``)."""

    form: str
    kind: str
    tensors: list           # fx nodes
    args: list              # (keyword | None, Lit)
    text: list | None = None  # for "expr": pieces (str, Lit, or fx nodes)
    then: list = field(default_factory=list)  # for "step": more steps, (kind, args) each
    pre: list | None = None   # for "expr": a chain from tensors[0] it reads as ``pre_value``


def _fn_tables():
    import torch
    import torch.nn.functional as F  # noqa: N812

    binary = {operator.add: "add", operator.iadd: "add", torch.add: "add", operator.mul: "mul",
              operator.imul: "mul", torch.mul: "mul", operator.sub: "sub", operator.isub: "sub",
              torch.sub: "sub", operator.truediv: "div", torch.div: "div", operator.matmul: "matmul",
              torch.matmul: "matmul"}
    unary_layer = {F.relu: "ReLU", torch.relu: "ReLU", F.relu6: "ReLU6", F.hardswish: "Hardswish",
                   F.hardsigmoid: "Hardsigmoid", F.silu: "SiLU", torch.sigmoid: "Sigmoid",
                   F.sigmoid: "Sigmoid", torch.tanh: "Tanh", F.tanh: "Tanh", F.gelu: "GELU",
                   F.mish: "Mish", F.elu: "ELU", F.leaky_relu: "LeakyReLU"}
    return binary, unary_layer


_METHOD_BINARY = {"add": "add", "add_": "add", "mul": "mul", "mul_": "mul", "sub": "sub", "div": "div",
                  "matmul": "matmul"}
_METHOD_UNARY = {"relu": "ReLU", "relu_": "ReLU", "sigmoid": "Sigmoid", "tanh": "Tanh"}
NOOP_METHODS = {"contiguous"}
_SIZE = "reads a tensor's size at run time (x.size(), x.shape, x.dim()); a .model file's sizes are " \
        "static: write the size as a number or use an operation that infers it (Flatten, mean)"


def _arg(node, i, name, default=None):
    if len(node.args) > i:
        return node.args[i]
    return node.kwargs.get(name, default)


def _const(v, node, what):
    from graphc.interop.importer_values import constant

    return constant(v, node, what)


def function_op(node) -> Op:
    """The operation of a call_function or call_method node."""
    import torch
    import torch.fx as fx
    import torch.nn.functional as F  # noqa: N812

    binary, unary_layer = _fn_tables()
    t = node.target
    is_method = node.op == "call_method"
    name = t if is_method else getattr(t, "__name__", str(t))
    if is_method and t in ("size", "dim", "numel") or (not is_method and t is getattr) \
            or (not is_method and t is torch._assert):
        raise Unsupported(("torch._assert checks sizes at run time; the .model file checks them statically"
                           if t is getattr(torch, "_assert", None) else _SIZE), node)
    x = node.args[0] if node.args else None
    kind = (_METHOD_BINARY.get(t) if is_method else binary.get(t))
    if kind:
        a, b = node.args[0], _arg(node, 1, "other")
        if node.kwargs.get("alpha") not in (None, 1) or node.kwargs.get("rounding_mode"):
            raise Unsupported(f"{name} with alpha= or rounding_mode= has no counterpart", node)
        ta, tb = isinstance(a, fx.Node), isinstance(b, fx.Node)
        if ta and tb:
            if kind in ("add", "mul"):
                return Op("call", kind, [a, b], [])
            sym = {"sub": " - ", "div": " / ", "matmul": None}[kind]
            if sym is None:
                return Op("call", "matmul", [a, b], [])
            return Op("expr", kind, [a, b], [], [a, sym, b])
        if not (isinstance(a, (int, float)) or isinstance(b, (int, float))):
            raise Unsupported(f"{name} of {type(a).__name__} and {type(b).__name__}", node)
        sym = {"add": " + ", "mul": " * ", "sub": " - ", "div": " / "}.get(kind)
        if sym is None:
            raise Unsupported(f"{name} with a number", node)
        return Op("expr", kind, [a if ta else b], [],
                  [a if ta else Lit(a, "value"), sym, b if tb else Lit(b, "value")])
    kind = _METHOD_UNARY.get(t) if is_method else unary_layer.get(t)
    if kind:
        args = []
        if kind == "GELU" and _arg(node, 1, "approximate", "none") != "none":
            args = [("approximate", Lit(_arg(node, 1, "approximate"), "approximate"))]
        if kind in ("LeakyReLU",) and _arg(node, 1, "negative_slope", 0.01) != 0.01:
            args = [(None, Lit(_arg(node, 1, "negative_slope"), "negative_slope"))]
        if kind == "ELU" and _arg(node, 1, "alpha", 1.0) != 1.0:
            args = [(None, Lit(_arg(node, 1, "alpha"), "alpha"))]
        return Op("step", kind, [x], args)
    if t in (torch.cat, torch.concat) or (not is_method and name == "cat"):
        ts = list(_arg(node, 0, "tensors"))
        if not all(isinstance(v, fx.Node) for v in ts):
            raise Unsupported("torch.cat of a list built at run time", node)
        dim = _const(_arg(node, 1, "dim", 0), node, "cat's dim")
        return Op("call", "concat", ts, [] if dim == 1 else [("dim", Lit(dim, "dim"))])
    if t is torch.flatten or t == "flatten":
        start = _const(_arg(node, 1, "start_dim", 0), node, "flatten's start_dim")
        end = _const(_arg(node, 2, "end_dim", -1), node, "flatten's end_dim")
        args = [] if start == 1 else [(None, Lit(start, "start_dim"))]
        if end != -1:
            args = [(None, Lit(start, "start_dim")), (None, Lit(end, "end_dim"))]
        return Op("step", "Flatten", [x], args)
    if t in (F.adaptive_avg_pool2d, F.adaptive_max_pool2d, F.adaptive_avg_pool1d):
        k = {F.adaptive_avg_pool2d: "AdaptiveAvgPool2d", F.adaptive_max_pool2d: "AdaptiveMaxPool2d",
             F.adaptive_avg_pool1d: "AdaptiveAvgPool1d"}[t]
        size = _norm(_const(_arg(node, 1, "output_size"), node, "the output size"))
        return Op("step", k, [x], [(None, Lit(size, "output_size"))])
    if t in (F.max_pool2d, F.avg_pool2d):
        return _pool(node, x, "MaxPool2d" if t is F.max_pool2d else "AvgPool2d")
    if t in (F.dropout, F.dropout2d):
        p = _const(_arg(node, 1, "p", 0.5), node, "dropout's p")
        return Op("step", "Dropout" if t is F.dropout else "Dropout2d", [x],
                  [] if p == 0.5 else [(None, Lit(p, "p"))])
    if t in (torch.mean, torch.sum, torch.amax) or t in ("mean", "sum", "amax"):
        k = {torch.mean: "mean", torch.sum: "sum", torch.amax: "amax"}.get(t, t)
        dim = _norm(_const(_arg(node, 1, "dim"), node, f"{k}'s dim"))
        keep = _const(_arg(node, 2, "keepdim", False), node, "keepdim")
        args = [] if dim is None else [(None, Lit(dim, "dim"))]
        if keep:
            args.append(("keepdim", Lit(True, "keepdim")))
        return Op("step", k, [x], args)
    if t in (torch.permute, "permute"):
        dims = node.args[1:] if is_method and len(node.args) > 2 else _arg(node, 1, "dims")
        dims = _const(tuple(dims), node, "permute's dims")
        return Op("step", "permute", [x], [(None, Lit(d, "dim")) for d in dims])
    if t in (torch.transpose, "transpose"):
        a, b = _const(_arg(node, 1, "dim0"), node, "dim0"), _const(_arg(node, 2, "dim1"), node, "dim1")
        return Op("step", "transpose", [x], [(None, Lit(a, "dim0")), (None, Lit(b, "dim1"))])
    if t in (torch.reshape, "reshape", "view"):
        from graphc.interop.importer_values import reshape_dims

        dims = reshape_dims(node, x)
        return Op("step", "view" if t == "view" else "reshape", [x], [(None, Lit(s, "size")) for s in dims])
    if t in (torch.Tensor.expand, "expand"):
        return _expand(node, x)
    if t in (F.layer_norm,):
        return _layer_norm(node, x)
    if t in (torch.unsqueeze, "unsqueeze", torch.squeeze, "squeeze"):
        k = "unsqueeze" if t in (torch.unsqueeze, "unsqueeze") else "squeeze"
        dim = _const(_arg(node, 1, "dim"), node, f"{k}'s dim")
        return Op("step", k, [x], [] if dim is None else [(None, Lit(dim, "dim"))])
    if t in (F.softmax, torch.softmax, "softmax"):
        dim = _const(_arg(node, 1, "dim"), node, "softmax's dim")
        return Op("step", "Softmax", [x], [(None, Lit(dim, "dim"))])
    if t is operator.getitem:
        return _getitem(node, x)
    if t in (torch.chunk, "chunk"):
        chunks = _const(_arg(node, 1, "chunks"), node, "chunk's chunks")
        dim = _const(_arg(node, 2, "dim", 0), node, "chunk's dim")
        return Op("multi", "chunk", [x], [(None, Lit(chunks, "chunks")), ("dim", Lit(dim, "dim"))])
    what = f"the method .{t}()" if is_method else f"{getattr(t, '__module__', '') or ''}.{name}".lstrip(".")
    raise Unsupported(f"{what} has no counterpart in the language", node)


def _pool(node, x, kind):
    names = ("kernel_size", "stride", "padding") + (("dilation", "ceil_mode", "return_indices") if kind == "MaxPool2d"
                                                    else ("ceil_mode", "count_include_pad", "divisor_override"))
    vals = {n: _norm(_const(_arg(node, i + 1, n), node, f"{kind}'s {n}")) for i, n in enumerate(names)}
    if vals.get("return_indices"):
        raise Unsupported("max_pool2d(return_indices=True) returns two tensors", node)
    defaults = {"stride": None, "padding": 0, "dilation": 1, "ceil_mode": False, "return_indices": False,
                "count_include_pad": True, "divisor_override": None}
    args = [(None, Lit(vals["kernel_size"], "kernel_size"))]
    for n in names[1:]:
        v = vals[n]
        if v is not None and v != defaults.get(n) and not (n == "stride" and v in ((), vals["kernel_size"])):
            args.append((n, Lit(v, n)))
    return Op("step", kind, [x], args)


def _expand(node, x) -> Op:
    """``t.expand(n, -1, -1)`` with ``n`` read from a tensor: the language's ``expand(t, x, dim)``."""
    import torch.fx as fx

    from graphc.interop.importer_values import SIZES, size_source, tensor_shapes

    sizes = node.args[1:] if len(node.args) > 2 or not isinstance(node.args[1], (tuple, list)) else node.args[1]
    outs, ins = tensor_shapes(node), tensor_shapes(x)
    if outs is None or ins is None:
        raise Unsupported("expand of unknown shapes", node)
    grown = [d for d in range(len(outs[0])) if outs[0][d] != ins[0][d]]
    if len(grown) != 1 or [o[grown[0]] for o in outs] != list(SIZES) or not isinstance(sizes[grown[0]], fx.Node):
        raise Unsupported(f"expand from {ins[0]} to {outs[0]}: the language's expand gives one dim the "
                          "batch size of another tensor", node)
    d = grown[0]
    # the language's expand takes the size from a tensor of the same rank: the one the size was
    # read from when it has that rank, else the nearest earlier value that has the batch in dim d
    src, rank = size_source(sizes[d]), len(outs[0])
    cand = [src] + [n for n in reversed(list(node.graph.nodes)[:list(node.graph.nodes).index(node)])]
    src = next((n for n in cand if n is not None and n is not x and _fits(n, rank, d)), None)
    if src is None:
        raise Unsupported(f"expand to the batch size: no {rank}-d tensor with the batch in dim {d} to "
                          "take it from", node)
    return Op("step", "expand", [x, src], [] if d == 0 else [("dim", Lit(d, "dim"))])


def _fits(n, rank: int, d: int) -> bool:
    from graphc.interop.importer_values import SIZES, is_size_value, tensor_shapes

    shapes = tensor_shapes(n)
    return (shapes is not None and not is_size_value(n) and n.op != "get_attr"
            and all(len(s) == rank for s in shapes) and [s[d] for s in shapes] == list(SIZES))


def _layer_norm(node, x) -> Op:
    """``F.layer_norm(x, shape, self.weight, self.bias, eps)`` (torchvision's LayerNorm2d):
    ``LayerNorm(shape, elementwise_affine=false)`` then ``* weight + bias``, the tensors learned
    tensors (param) of the block: the same keys, the same values up to rounding."""
    import torch.fx as fx

    shape = _norm(_const(_arg(node, 1, "normalized_shape"), node, "layer_norm's shape"))
    w, b = _arg(node, 2, "weight"), _arg(node, 3, "bias")
    eps = _const(_arg(node, 4, "eps", 1e-5), node, "layer_norm's eps")
    args = [(None, Lit(shape, "normalized_shape"))]
    if eps != 1e-5:
        args.append(("eps", Lit(eps, "eps")))
    args.append(("elementwise_affine", Lit(False, "elementwise_affine")))
    pre = ["LayerNorm", "("]
    for i, (k, v) in enumerate(args):
        pre += ([", "] if i else []) + ([f"{k}="] if k else []) + [v]
    pre.append(")")
    if w is None and b is None:
        return Op("step", "LayerNorm", [x], args)
    if not all(isinstance(t, fx.Node) for t in (w, b) if t is not None):
        raise Unsupported("layer_norm with a weight or bias that is not a tensor", node)
    text: list = [None]
    if w is not None:
        text += [" * ", w]
    if b is not None:
        text += [" + ", b]
    return Op("expr", "layer_norm", [x], [], text, pre=pre)


def _getitem(node, x) -> Op:
    """``x[:, 0]``: slice and squeeze; other indexing is not in the language yet."""
    from graphc.interop.importer_values import tensor_shapes

    idx = node.args[1]
    if tensor_shapes(x) is None:
        raise Unsupported("indexing (x[...]) or taking one result of several is not in the language yet",
                          node, "use slice(...) for a range of a tensor")
    idx = idx if isinstance(idx, tuple) else (idx,)
    ints = [i for i, v in enumerate(idx) if isinstance(v, int)]
    full = all(isinstance(v, slice) and v == slice(None) for i, v in enumerate(idx) if i not in ints)
    if len(ints) != 1 or not full or ints[0] == 0:
        raise Unsupported(f"indexing x[{idx}] is not in the language yet", node,
                          "use slice(dim, start, end) and squeeze(dim)")
    d, i = ints[0], idx[ints[0]]
    if i < 0:
        raise Unsupported(f"indexing x[{idx}] with a negative index", node, "use slice(dim, start, end)")
    return Op("step", "slice", [x], [(None, Lit(d, "dim")), (None, Lit(i, "start")), (None, Lit(i + 1, "end"))],
              then=[("squeeze", [(None, Lit(d, "dim"))])])
