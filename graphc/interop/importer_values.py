"""graphc import: the values of a traced graph at two batch sizes.

A forward that reads sizes (``n, c, h, w = x.shape``; ``x.view(n, -1)``) cannot be written as it
is: a .model file's sizes are static. The importer runs the module on example inputs at two
batch sizes (the symbols at 2, then 3), records what every traced node gives (a tensor's shape,
or a Python value), and so knows which sizes are constants (the same in both runs), which follow
the batch, and what shape a ``view`` produces. Size reads then fold away; ``view(n, -1)`` is the
language's ``reshape`` of the non-batch dims, written from the shapes torch computed.
"""

from __future__ import annotations

from graphc.interop.importer_layers import Unsupported

SIZES = (2, 3)  # the symbols' values in the two runs


def example_inputs(shapes, size: int, seed: int = 0):
    import torch

    torch.manual_seed(seed)
    xs = []
    for dt, dims in shapes:
        dims = [size if isinstance(d, str) else d for d in dims]
        dtype = {"": torch.float32, "double": torch.float64, "half": torch.float16,
                 "bfloat16": torch.bfloat16, "long": torch.int64, "int": torch.int32, "bool": torch.bool}[dt]
        if dtype.is_floating_point:
            xs.append(torch.randn(dims, dtype=dtype))
        elif dtype == torch.bool:
            xs.append(torch.rand(dims) > 0.5)
        else:
            xs.append(torch.randint(0, 2, dims, dtype=dtype))
    return xs


def record_calls(net, shapes) -> dict:
    """id(module) -> [the flat tensor arguments of its first call, one list per run]."""
    import torch

    seen: dict = {}
    handles = []

    def hook(mod, args):
        runs = seen.setdefault(id(mod), {})
        if run[0] not in runs:
            runs[run[0]] = [t.detach().clone() for t in _flat(args)]

    for m in net.modules():
        if m is not net:
            handles.append(m.register_forward_pre_hook(hook))
    run = [0]
    try:
        for i, size in enumerate(SIZES):
            run[0] = i
            with torch.no_grad():
                try:
                    net(*example_inputs(shapes, size))
                except Exception as e:  # noqa: BLE001 - the user's model fails on these inputs
                    raise Unsupported(f"the module fails on inputs of the --input shapes (the symbols at "
                                      f"{size}): {type(e).__name__}: {str(e).strip().splitlines()[0][:300]}",
                                      None, "check the --input shapes: one per forward argument") from None
    finally:
        for h in handles:
            h.remove()
    return {k: [v[i] for i in sorted(v)] for k, v in seen.items() if len(v) == len(SIZES)}


def _flat(x) -> list:
    import torch

    if isinstance(x, torch.Tensor):
        return [x]
    if isinstance(x, (list, tuple)):
        return [t for v in x for t in _flat(v)]
    return []


def annotate(module, graph, runs: list[list]) -> None:
    """Record in ``node.meta["graphc_vals"]`` what each node gives in each run: a tensor's
    ("T", shape, dtype), or the Python value."""
    import torch
    import torch.fx as fx

    gm = fx.GraphModule(module, graph)
    per_node: dict = {}

    class Rec(fx.Interpreter):
        def run_node(self, n):
            out = super().run_node(n)
            per_node.setdefault(n, []).append(_describe(out))
            return out

    for args in runs:
        with torch.no_grad():
            Rec(gm).run(*args, enable_io_processing=False)
    for n, vals in per_node.items():
        if len(vals) == len(runs):
            n.meta["graphc_vals"] = tuple(vals)


def _describe(v):
    import torch

    if isinstance(v, torch.Tensor):
        return ("T", tuple(v.shape), v.dtype)
    if isinstance(v, torch.Size):
        return tuple(v)
    if isinstance(v, (int, float, bool, str, type(None))):
        return v
    if isinstance(v, (tuple, list)) and all(isinstance(x, (int, float, bool)) for x in v):
        return tuple(v)
    return ("O", type(v).__name__)


def is_size_value(node) -> bool:
    """A node that computes sizes or checks (x.shape, x.size(0), n * 2, torch._assert): no
    statement of its own, its users read the numbers."""
    vals = node.meta.get("graphc_vals")
    if vals is None or node.op not in ("call_method", "call_function"):
        return False
    return all(v is None or isinstance(v, (int, float, bool)) or
               (isinstance(v, tuple) and (not v or v[0] not in ("T", "O"))) for v in vals)


def constant(v, node, what: str):
    """The value of an argument: a literal, or a size node that is the same in every run."""
    import torch.fx as fx

    if isinstance(v, (list, tuple)):
        return type(v)(constant(x, node, what) for x in v)
    if not isinstance(v, fx.Node):
        return v
    vals = v.meta.get("graphc_vals")
    if vals is not None and is_size_value(v) and all(x == vals[0] for x in vals):
        return vals[0]
    how = "follows the batch size" if vals is not None and is_size_value(v) else "is a tensor"
    raise Unsupported(f"{what} {how}: a .model file needs a constant here", node,
                      "write the value as a number")


def tensor_shapes(node):
    """The shapes a tensor node had in the runs, or None."""
    vals = node.meta.get("graphc_vals")
    if vals is None or not all(isinstance(v, tuple) and v and v[0] == "T" for v in vals):
        return None
    return [v[1] for v in vals]


def reshape_dims(node, x) -> tuple:
    """The language's reshape shape (the dims after the batch) for a torch view/reshape of ``x``."""
    outs, ins = tensor_shapes(node), tensor_shapes(x)
    if outs is None or ins is None:
        raise Unsupported("a reshape whose shapes are unknown", node)
    batch_in = [s[0] if s else None for s in ins]
    batch_out = [s[0] if s else None for s in outs]
    if batch_in != list(SIZES) or batch_out != list(SIZES) or outs[0][1:] != outs[1][1:]:
        raise Unsupported(f"a reshape from {ins[0]} to {outs[0]} (at batch {SIZES[0]}) that does not keep "
                          "the batch as dim 0: the language's reshape keeps the batch dim", node)
    return tuple(outs[0][1:])


def size_source(v):
    """The tensor node a size was read from (``x.shape[0]``, ``x.size(0)``), or None."""
    import operator

    import torch.fx as fx

    while isinstance(v, fx.Node):
        if v.op == "call_method" and v.target == "size":
            return v.args[0]
        if v.op == "call_function" and v.target is getattr and v.args[1] == "shape":
            return v.args[0]
        if v.op == "call_function" and v.target is operator.getitem:
            v = v.args[0]
            continue
        return None
    return None
