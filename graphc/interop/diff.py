"""``graphc diff A.model B.model``: the structural difference of two networks, keyed by node id
(the ``state_dict`` paths): layers added, removed and changed (kind, constructor arguments,
output shapes, parameters, MACs), and the totals.  Never imports torch.

Exit codes: 0 when the two describe the same network, 1 when they differ, 2 on a usage error
(a file that does not compile, a model that is not there).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field

from graphc.report import EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE
from graphc.shapes import shape_str


@dataclass
class Layer:
    id: str
    kind: str
    args: dict
    shapes: list[str]
    params: int
    macs: object   # an int, or a symbolic size (per sample: the batch is 1)
    line: int


@dataclass
class Change:
    id: str
    line: int                 # in B
    what: list[str] = field(default_factory=list)
    params: int = 0


@dataclass
class Diff:
    a: str
    b: str
    added: list[Layer]
    removed: list[Layer]
    changed: list[Change]
    totals: dict              # name -> (in A, in B)

    @property
    def same(self) -> bool:
        return not (self.added or self.removed or self.changed) and all(a == b for a, b in self.totals.values())


def layers(prog) -> dict[str, Layer]:
    out = {}
    for n in prog.nodes.values():
        if n.is_input:
            args = {"dtype": n.declared.dtype}
            shapes = [shape_str(n.declared.shape)]
        else:
            args = dict(n.ctor) if n.ctor is not None else {}
            shapes = [shape_str(t.shape) for t in n.outs or []]
        macs = n.macs if n.macs is not None else 0
        if not isinstance(macs, int):
            macs = _per_sample(macs)
        out[n.id] = Layer(n.id, n.kind, args, shapes, n.n_params or 0, macs, n.span.line)
    return out


def _per_sample(d):
    """A symbolic MAC count with the batch set to 1, as graphc summary counts."""
    from graphc.shapes import Sym

    try:
        return Sym.wrap(Sym.as_expr(d).subs({s: 1 for s in Sym.as_expr(d).free_symbols if str(s) == "B"}))
    except Exception:  # noqa: BLE001 - keep the count as it is
        return d


def _show(v) -> str:
    return json.dumps(v) if isinstance(v, str) else str(v)


def _delta(a, b) -> str:
    if isinstance(a, int) and isinstance(b, int):
        return f"{b - a:+,}"
    return f"{a} → {b}"


def compare(prog_a, prog_b, a: str, b: str, sum_a, sum_b) -> Diff:
    la, lb = layers(prog_a), layers(prog_b)
    added = [lb[k] for k in lb if k not in la]
    removed = [la[k] for k in la if k not in lb]
    changed = []
    for k in lb:
        if k not in la:
            continue
        x, y = la[k], lb[k]
        c = Change(k, y.line, params=y.params - x.params)
        if x.kind != y.kind:
            c.what.append(f"{x.kind} → {y.kind}")
        else:
            for name in list(dict.fromkeys([*x.args, *y.args])):
                if x.args.get(name) != y.args.get(name):
                    c.what.append(f"{name} {_show(x.args.get(name))} → {_show(y.args.get(name))}")
        if x.shapes != y.shapes:
            c.what.append(f"output {', '.join(x.shapes)} → {', '.join(y.shapes)}")
        if x.params != y.params:
            c.what.append(f"parameters {x.params:,} → {y.params:,} ({y.params - x.params:+,})")
        if x.macs != y.macs:
            c.what.append(f"MACs {x.macs:,} → {y.macs:,} ({_delta(x.macs, y.macs)})"
                          if isinstance(x.macs, int) and isinstance(y.macs, int) else f"MACs {x.macs} → {y.macs}")
        if c.what:
            changed.append(c)
    totals = {
        "layers": (len(prog_a.layer_nodes()), len(prog_b.layer_nodes())),
        "parameters": (sum_a.total_params, sum_b.total_params),
        "MACs": (sum_a.total_macs, sum_b.total_macs),
        "parameter bytes": (sum_a.param_bytes, sum_b.param_bytes),
        "outputs": (_outputs(prog_a), _outputs(prog_b)),
    }
    return Diff(a, b, added, removed, changed, totals)


def _outputs(prog) -> list[str]:
    return [f"{name} {shape_str(t.shape) if (t := prog.type_of(ref)) else '?'}" for name, ref in prog.outputs]


def _fmt_total(v) -> str:
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, list):
        return ", ".join(v)
    return str(v)


def to_text(d: Diff) -> str:
    if d.same:
        return f"{d.a} and {d.b} describe the same network"
    out = [f"--- {d.a}", f"+++ {d.b}"]
    for x in d.removed:
        out.append(f"- {x.id}: {x.kind} {', '.join(x.shapes)}" + (f", {x.params:,} parameters" if x.params else ""))
    for x in d.added:
        out.append(f"+ {x.id}: {x.kind} {', '.join(x.shapes)}" + (f", {x.params:,} parameters" if x.params else ""))
    for c in d.changed:
        out.append(f"~ {c.id}: {'; '.join(c.what)}")
    out.append("")
    for name, (a, b) in d.totals.items():
        if a != b:
            delta = f" ({_delta(a, b)})" if isinstance(a, int) and isinstance(b, int) else ""
            out.append(f"{name}: {_fmt_total(a)} → {_fmt_total(b)}{delta}")
    return "\n".join(out)


def to_json(d: Diff) -> dict:
    def layer(x: Layer) -> dict:
        return {"id": x.id, "kind": x.kind, "args": {k: _jsonable(v) for k, v in x.args.items()},
                "shapes": x.shapes, "parameters": x.params, "macs": _jsonable(x.macs), "line": x.line}

    return {"a": d.a, "b": d.b, "same": d.same,
            "added": [layer(x) for x in d.added], "removed": [layer(x) for x in d.removed],
            "changed": [{"id": c.id, "line": c.line, "changes": c.what, "parameters_delta": c.params}
                        for c in d.changed],
            "totals": {k: {"a": _jsonable(a), "b": _jsonable(b),
                           **({"delta": b - a} if isinstance(a, int) and isinstance(b, int) else {})}
                       for k, (a, b) in d.totals.items()}}


def _jsonable(v):
    if isinstance(v, (int, float, str, bool)) or v is None:
        return v
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    return str(v)


def to_github(d: Diff) -> str:
    """Workflow commands: a notice on B's line for each added or changed layer, one for the totals."""
    def esc(s: str) -> str:
        return s.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")

    def prop(s: str) -> str:
        return esc(s).replace(":", "%3A").replace(",", "%2C")

    out = []
    for x in d.added:
        out.append(f"::notice file={prop(d.b)},line={x.line}::{esc(f'added {x.id}: {x.kind}, {x.params:,} parameters')}")
    for c in d.changed:
        out.append(f"::notice file={prop(d.b)},line={c.line}::{esc(f'changed {c.id}: ' + '; '.join(c.what))}")
    for x in d.removed:
        out.append(f"::notice file={prop(d.a)},line={x.line}::{esc(f'removed {x.id}: {x.kind}')}")
    a, b = d.totals["parameters"]
    out.append(f"::notice file={prop(d.b)}::{esc(f'{_delta(a, b)} parameters ({a:,} → {b:,})')}"
               if a != b else f"::notice file={prop(d.b)}::{esc('same parameter count')}")
    return "\n".join(out)


def diff_command(args, load, report_failure) -> int:
    comps = [load(args.a), load(args.b)]
    for comp in comps:
        if not comp.ok:
            report_failure(comp)
            return EXIT_USAGE
    progs = []
    for comp in comps:
        if args.model:
            try:
                progs.append(comp.model(args.model))
            except KeyError:
                print(f"graphc: error: {comp.source.path} has no model '{args.model}'; it has "
                      f"{', '.join(p.name for p in comp.programs)}", file=sys.stderr)
                return EXIT_USAGE
        else:
            progs.append(comp.program)
    sums = [c.summary(1, p) for c, p in zip(comps, progs)]
    d = compare(progs[0], progs[1], args.a, args.b, *sums)
    if args.format == "json":
        print(json.dumps(to_json(d), indent=2))
    elif args.format == "github":
        print(to_github(d))
    else:
        print(to_text(d))
    return EXIT_OK if d.same else EXIT_PROBLEMS
