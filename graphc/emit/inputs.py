"""What a generated module says of a model's inputs: the symbolic sizes and their defaults, and
``example_inputs()``, random inputs of the declared shapes and dtypes."""

from __future__ import annotations

from graphc import ast as A
from graphc.graph import Program
from graphc.names import Namespace

DTYPE_TORCH = {"float32": "torch.float32", "float16": "torch.float16", "bfloat16": "torch.bfloat16",
               "float64": "torch.float64", "int64": "torch.long", "int32": "torch.int32",
               "bool": "torch.bool"}
SYMBOL_DEFAULT = 16  # example_inputs' default for symbolic dims other than the batch


def symbols(prog: Program, taken: set[str]) -> dict[str, tuple[str, int]]:
    """symbol -> (example_inputs' argument for it, its default): ``batch_size`` for the batch."""
    out: dict[str, tuple[str, int]] = {}
    # the other sizes' argument names: never batch_size, nor a name of the module (a
    # constant that example_inputs() uses)
    args = Namespace({"batch_size"} | taken)
    batch = prog.batch_symbol
    for node in prog.inputs:
        for d in node.declared.shape:
            if isinstance(d, int):
                continue
            if d.name is None:  # 16*h: its symbols, each an argument, default 2 (32: small, and a
                # U-Net's four halvings leave 2×2, enough for BatchNorm to train on one sample)
                for s in sorted(d.free_names):
                    if s not in out:
                        out[s] = (args.fresh(s), 2)
            elif d.name not in out:
                out[d.name] = ("batch_size", 2) if d.name == batch else (args.fresh(d.name), SYMBOL_DEFAULT)
    return out


def example_inputs(prog: Program, syms, fn: str, cls: str, dim_src) -> list[str]:
    """The function ``fn`` giving random inputs for model class ``cls``; ``dim_src(value,
    written)`` writes a concrete size (as written, when that uses a module constant)."""
    args = []
    seen = set()
    for arg, default in syms.values():
        if arg not in seen:
            args.append(f"{arg}={default}")
            seen.add(arg)
    lines = [f"def {fn}({', '.join(args)}):",
             f'    """Random inputs of the declared shapes and dtypes, for {cls}."""']
    items = []
    decls = {st.name.id: st for st in prog.root.definition.body if isinstance(st, A.InputDecl)}
    for (name, _), node in zip(prog.root.inputs, prog.inputs):
        written = decls[name].dims if name in decls else None
        dims = ", ".join(dim_src(d, written[i] if written else None) if isinstance(d, int)
                         else syms[d.name][0] if d.name is not None
                         else _sym_src(d, {s: a for s, (a, _) in syms.items()})
                         for i, d in enumerate(node.declared.shape))
        shape = f"({dims},)" if len(node.declared.shape) == 1 else f"({dims})"
        dt = node.declared.dtype
        if dt.startswith("float") or dt == "bfloat16":
            t = f"torch.randn({shape}" + (f", dtype={DTYPE_TORCH[dt]})" if dt != "float32" else ")")
        elif dt == "bool":
            t = f"torch.rand({shape}) < 0.5"
        else:  # ids an Embedding can look up (any id below its num_embeddings), else 0 or 1
            high = prog.id_limit((node.id, 0)) or 2
            t = f"torch.randint(0, {high}, {shape}, dtype={DTYPE_TORCH[dt]})"
        items.append(t)
    body = ", ".join(items) + ("," if len(items) == 1 else "")
    if len(body) > 100:  # one input a line (ruff's 120 columns)
        return lines + ["    return ("] + [f"        {t}," for t in items] + ["    )"]
    lines.append(f"    return ({body})")
    return lines


def _sym_src(d, args: dict[str, str]) -> str:
    """A size written with symbols (``16*h + 2``) as Python over example_inputs' arguments (the
    lowering admits only sums and products of symbols and positive integers)."""
    import sympy as sp

    from graphc.shapes import Sym

    e = Sym.as_expr(d)
    return sp.sstr(e.subs({s: sp.Symbol(args[str(s)]) for s in e.free_symbols}))
