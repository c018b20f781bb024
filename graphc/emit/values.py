"""Constructor values of generated classes: literals, parameters, expressions, constants.

A value in a class's ``__init__`` is written, by preference, as:

1. the expression written in the ``.model`` file at that place, when it uses a block
   parameter or a top-level constant (``Conv2d(c * t, ...)``, ``Linear(hidden)``), with
   block constants replaced by their expressions and top-level constants by their names;
2. a literal, when the value is the same in every use and every trial of the class
   (graphc.emit.provenance): it depends on no parameter and no input size;
3. a block parameter, an expression written elsewhere in the block (an inferred
   ``in_channels`` is most often the ``out_channels`` written one layer before), or an
   input size (a derived parameter of the class), whichever gives the value in every use
   and every trial;
4. a sum of those with small integer factors (``c + skip_channels``, ``2 * hidden``),
   solved exactly from the uses and trials and checked against all of them;
5. else a derived parameter of its own (``fc_in_features``), passed by the caller.

Trials change one parameter or input size at a time, so a value that 2 and 3 give only
by coincidence of the first use (16 is ``c`` and also the input's channels) is told apart.
"""

from __future__ import annotations

from graphc import ast as A
from graphc import pyfmt
from graphc.emit.learned import is_param, param_lines
from graphc.emit.plan import ClassPlan, Param
from graphc.emit.provenance import Trials, solve_exact
from graphc.emit.wrappers import Wrappers
from graphc.emit.written import INLINE_MAX_CHARS, TooLong, WrittenExpressions, names_in, printable
from graphc.graph import Node, Program, Repeat, Scope
from graphc.layers.base import Ctor
from graphc.names import Namespace, legal
from graphc.params import same_value as _same

#: A sum (rule 4) has at most this many terms, each factor at most this large.
MAX_TERMS, MAX_FACTOR = 3, 8


class Constructors(WrittenExpressions):
    """Writes the ``__init__`` bodies and constructor calls of every class."""

    def __init__(self, prog: Program, ns: Namespace, trials: Trials):
        self.prog, self.ns, self.trials = prog, ns, trials
        self.wrappers = Wrappers(ns)  # modules for the operations that are steps of a Sequential
        self.uses_ordered_dict = False  # a group of labelled members: nn.Sequential(OrderedDict(...))
        self.plan_of: dict[int, ClassPlan] = {}   # id(block scope) -> its class
        self._free: dict[tuple, bool] = {}         # (id(block constant), params only) -> it uses a free name
        self.const_names: dict[str, str] = {}      # top-level constant -> its Python name
        self.used_consts: set[str] = set()
        self.comments: dict[tuple[int, int], list[str]] = {}  # a call's (line, col) -> comment lines above
        self.const_comments: dict[str, list[str]] = {}         # a top-level constant -> comment lines above

    # ------------------------------------------------------- constants
    def name_constants(self) -> None:
        """Python names for the top-level constants: upper case, legal, unique."""
        for name in self.prog.consts:
            self.const_names[name] = self.ns.fresh(name.upper())

    def constant_lines(self) -> list[str]:
        """``HIDDEN = 128`` for every top-level constant the code uses, and those they use,
        in the order of the file, each as written (or as its value, if that is too long)."""
        defs = {it.name.id: it for it in self.prog.const_defs}  # imported ones too
        for name in reversed(list(self.prog.consts)):  # a constant uses only those above it
            if name in self.used_consts and name in defs:
                self.used_consts |= names_in(defs[name].value) & set(self.prog.consts)
        lines = []
        for name in self.prog.consts:
            if name not in self.used_consts:
                continue
            value = pyfmt.literal(self.prog.consts[name])
            if name in defs and names_in(defs[name].value) and printable(defs[name].value):
                text = pyfmt.expr(defs[name].value, lambda n: self.const_names[n])
                value = text if len(text) <= INLINE_MAX_CHARS else value
            lines += [*self.const_comments.get(name, []), f"{self.const_names[name]} = {value}"]
        return lines

    def const_ref(self, name: str) -> str:
        self.used_consts.add(name)
        return self.const_names[name]

    # ------------------------------------------------------- parameters
    def param(self, plan: ClassPlan, name: str) -> str:
        """A block parameter's name in the generated constructor: legal, unique in the block
        (``list`` and ``list_`` both become ``list_`` by legal()), and not the name of a class,
        a constant or an import of the module (a constructor builds the classes of its blocks)."""
        if not plan.param_names:
            for bp in plan.block_params:
                legal_name = legal(bp.name.id)
                while legal_name in self.ns.taken or legal_name in plan.param_names.values():
                    legal_name += "_"
                plan.param_names[bp.name.id] = legal_name
        return plan.param_names[name]

    def plan_params(self, plan: ClassPlan) -> None:
        """The class's parameters: derived ones (collected by a dry run of its constructor),
        then the block's, required before those with defaults."""
        self.ctor_lines(plan)
        required, optional = [], []
        for bp in plan.block_params:
            p = Param(self.param(plan, bp.name.id), ("arg", bp.name.id))
            if bp.default is not None:
                p.has_default = True
                p.default = self.prog.block_defaults[plan.block.name.id][bp.name.id]
                optional.append(p)
            else:
                required.append(p)
        plan.params = [p for p in plan.params if p.derived] + required + optional

    def default_src(self, plan: ClassPlan, p: Param) -> str:
        """A parameter's default: as written when it uses top-level constants."""
        bp = next(b for b in plan.block_params if b.name.id == p.source[1])
        if names_in(bp.default) and names_in(bp.default) <= set(self.prog.consts) and printable(bp.default):
            return pyfmt.expr(bp.default, self.const_ref)
        return pyfmt.literal(p.default)

    def param_value(self, p: Param, scope: Scope):
        """The value of parameter ``p`` of a class in one of its uses or trials."""
        kind = p.source[0]
        if kind == "arg":
            return scope.args.get(p.source[1])
        if kind == "in":
            _, j, d = p.source
            t = self.trials.type_of(scope, scope.inputs[j][1])
            return t.shape[d] if t is not None and len(t.shape) >= -d else None
        if kind == "node":
            n = self.trials.node(scope, p.source[1])
            v = n.ctor if n is not None else None
            for k in p.source[2]:
                v = (v.kwargs if isinstance(v, Ctor) else v or {}).get(k)
            return v
        _, rel, child_param = p.source  # "sub": a value the class of a nested use takes
        return self.param_value(child_param, _find(scope, rel))

    def _derived(self, plan: ClassPlan, key: tuple, want: str) -> str:
        if key not in plan.derived_keys:
            taken = {p.name for p in plan.params} | {self.param(plan, p.name.id) for p in plan.block_params}
            name = Namespace(taken | self.ns.taken).fresh(want)  # never a class's name
            plan.derived_keys[key] = name
            plan.params.append(Param(name, key))
        return plan.derived_keys[key]

    # ------------------------------------------------------- values
    def value_src(self, plan: ClassPlan, scopes: list[Scope], values: list, written: A.Expr | None,
                  key: str, slot: tuple, own: str) -> str:
        """Source for one constructor value of ``plan``: ``values`` in its ``scopes`` (uses, then
        trials); ``written`` the expression at that place; ``slot`` and ``own`` the key and the
        name of the derived parameter that passes it when nothing else gives it."""
        if written is not None and self.uses_free(written, plan, scopes[0]):
            try:
                return self.render(written, plan, scopes[0])
            except TooLong:
                pass  # the values themselves, below
        if all(_same(v, values[0]) for v in values) or plan.is_model:
            return pyfmt.literal(values[0])
        for bp in plan.block_params:
            if _same_all([s.args.get(bp.name.id) for s in scopes], values):  # 2.0 is not 2 here
                return self.param(plan, bp.name.id)
        for expr, vals in self.written_values(plan, scopes):
            if _same_all(vals, values):
                try:
                    return self.render(expr, plan, scopes[0])
                except TooLong:
                    break
        sizes = self.input_sizes(plan, scopes)
        for var, vals in sizes.items():
            if _same_all(vals, values):
                return self._derived(plan, var, key if var[1] == 0 else self._size_name(plan, var))
        terms = self.solve(plan, scopes, values, sizes)
        if terms is not None:
            return self.sum_src(plan, terms)
        return self._derived(plan, slot, own)

    def _size_name(self, plan: ClassPlan, var: tuple) -> str:
        _, j, d = var
        s0 = plan.instances[0]
        name, ref = s0.inputs[j]
        rank = len(self.trials.type_of(s0, ref).shape)  # s0's own model's
        what = "channels" if rank >= 3 and rank + d == 1 else "features" if d == -1 else f"size{rank + d}"
        return f"{s0.legal_of.get(name, legal(name))}_{what}"

    def input_sizes(self, plan: ClassPlan, scopes: list[Scope]) -> dict[tuple, list]:
        """("in", input, dim) -> that size in each scope, for every integer size of an input."""
        out = {}
        for j, (_, ref) in enumerate(scopes[0].inputs):
            t0 = self.trials.type_of(scopes[0], ref)
            for d in range(-1, -len(t0.shape) - 1, -1) if t0 is not None else ():
                dims = []
                for s in scopes:
                    t = self.trials.type_of(s, s.inputs[j][1])
                    dims.append(t.shape[d] if t is not None and len(t.shape) >= -d else None)
                if all(type(x) is int for x in dims):
                    out[("in", j, d)] = dims
        return out

    def solve(self, plan: ClassPlan, scopes: list[Scope], values: list, sizes: dict,
              existing: bool = False) -> list[tuple[int, tuple]] | None:
        """``values`` as a sum of integer parameters and input sizes with small integer factors,
        exact in every scope, and the only such sum: [(factor, variable)], or None.  With
        ``existing``, only parameters the class already has."""
        if not all(type(v) is int for v in values):
            return None
        columns: dict[tuple, list] = {}
        for bp in plan.block_params:
            col = [s.args.get(bp.name.id) for s in scopes]
            if all(type(v) is int for v in col):
                columns[("arg", bp.name.id)] = col
        for var, col in sizes.items():
            if not existing or var in plan.derived_keys:
                columns[var] = col
        kept: dict[tuple, list] = {}
        for var, col in columns.items():  # a variable that never moved says nothing
            if len(set(col)) > 1 and col not in kept.values():
                kept[var] = col
        if not kept:
            return None
        coefs = solve_exact([kept[v] for v in kept], values)
        if coefs is None:
            return None
        terms = [(int(c), v) for c, v in zip(coefs, kept) if c != 0]
        if not 1 <= len(terms) <= MAX_TERMS or any(c.denominator != 1 or abs(c) > MAX_FACTOR for c in coefs):
            return None
        if len(terms) == 1 and terms[0][0] == 1:
            return None  # one variable as it is: matched above, or not (a trial disagrees)
        return terms

    def sum_src(self, plan: ClassPlan, terms: list[tuple[int, tuple]]) -> str:
        out = ""
        for c, var in sorted(terms, key=lambda t: t[0] < 0):  # positive terms first
            name = self.param(plan, var[1]) if var[0] == "arg" else \
                self._derived(plan, var, self._size_name(plan, var))
            text = name if abs(c) == 1 else f"{abs(c)} * {name}"
            out += (" - " if c < 0 else " + ") + text if out else ("-" if c < 0 else "") + text
        return out

    def written_values(self, plan: ClassPlan, scopes: list[Scope]) -> list[tuple[A.Expr, list]]:
        """(expression, its value in each of ``scopes``) for every argument written in the
        block's body that uses a block parameter, in the order written."""
        out: list[tuple[A.Expr, list]] = []

        def walk(items_per_scope: list[list]) -> None:
            for column in zip(*items_per_scope):
                it = column[0]
                if isinstance(it, Repeat):
                    for i in range(len(it.members)):
                        walk([[r.members[i]] for r in column])
                    continue
                for key, expr in it.arg_exprs.items():
                    if isinstance(it, Node):
                        vals = [n.ctor.get(key) if n.ctor else None for n in column]
                    else:
                        vals = [sc.args.get(key) for sc in column]
                    if None not in vals and self.uses_free(expr, plan, scopes[0], params_only=True):
                        out.append((expr, vals))

        walk([s.items for s in scopes])
        return out

    # ------------------------------------------------------- constructors
    def node_ctor(self, plan: ClassPlan, nodes: list[Node]) -> str:
        n0 = nodes[0]
        layer = n0.layer
        defaults = layer.ctor_defaults()
        args, kwargs = [], []
        scopes = [n.scope for n in nodes]
        for idx, key in enumerate(n0.ctor):
            values = [n.ctor.get(key) for n in nodes]
            written = _written(nodes, key, values)
            if idx >= layer.ctor_positional and key in defaults and all(_same(v, defaults[key]) for v in values) \
                    and (written is None or not self.uses_free(written, plan, scopes[0])):
                continue
            src = self._slot(plan, nodes, scopes, (key,), values, written)
            if idx < layer.ctor_positional:
                args.append(src)
            else:
                kwargs.append((key, src))
        return pyfmt.call(layer.torch_name, args, kwargs)

    def _slot(self, plan: ClassPlan, nodes: list[Node], scopes: list[Scope], path: tuple, values: list,
              written: A.Expr | None) -> str:
        v0 = values[0]
        if isinstance(v0, Ctor) and all(
                isinstance(v, Ctor) and v.func == v0.func and list(v.kwargs) == list(v0.kwargs) for v in values):
            parts = []
            for k in v0.kwargs:
                sub = [v.kwargs[k] for v in values]
                parts.append((k, self._slot(plan, nodes, scopes, path + (k,), sub, _written(nodes, k, sub))))
            return pyfmt.call(v0.func, [], parts)
        rel = _rel(nodes[0])
        return self.value_src(plan, scopes, values, written, path[-1], ("node", rel, path),
                              f"{nodes[0].name}_{path[-1]}")

    def scope_ctor(self, plan: ClassPlan, subs: list[Scope]) -> str:
        child = self.plan_of[id(subs[0])]
        parents = [s.parent for s in subs]
        args, kwargs = [], []
        for p in child.params:
            values = [self.param_value(p, s) for s in subs]
            written = subs[0].arg_exprs.get(p.source[1]) if not p.derived else None
            if p.has_default and written is None and all(_same(v, p.default) for v in values):
                continue
            src = self.value_src(plan, parents, values, written, p.name, ("sub", subs[0].id[len(parents[0].id):]
                                 .lstrip("."), p), f"{subs[0].name}_{p.name}")
            if p.has_default:
                kwargs.append((p.name, src))
            else:
                args.append(src)
        return pyfmt.call(child.name, args, kwargs)

    def item_ctor(self, plan: ClassPlan, items: list) -> str | None:
        it = items[0]
        if getattr(it, "shares", None) is not None:
            return None  # a second use of a layer or block instance builds nothing
        if is_param(it):
            return None  # ctor_lines writes it: param_lines
        if isinstance(it, Node):
            return self.node_ctor(plan, items) if it.has_module else None
        if isinstance(it, Scope):
            return self.scope_ctor(plan, items)
        # Repeat: one constructor per member, across uses and trials
        members = [self.wrappers.ctor(it.members[i]) if isinstance(it.members[i], Node) and not it.members[i].has_module
                   else self.item_ctor(plan, [r.members[i] for r in items]) for i in range(len(it.members))]
        named = any(not m.name.isdigit() for m in it.members)  # labelled members: named children
        if all(m == members[0] for m in members) and len(members) > 4 and not named and "\n" not in members[0]:
            return f"nn.Sequential(*[{members[0]} for _ in range({len(members)})])"
        inner = ""
        ind = "                " if named else "            "
        for m, member in zip(members, it.members):
            at = (member.span.line, member.span.col)
            if at != (it.span.line, it.span.col) and member.span.path == self.prog.path:  # a group's layer
                inner += "".join(f"\n{ind}{c}" for c in self.comments.get(at, []))
            m = m.replace("\n", "\n" + ind[8:])  # a group inside: its lines one level deeper
            inner += f"\n{ind}({pyfmt.literal(member.name)}, {m})," if named else f"\n{ind}{m},"
        if named:
            self.uses_ordered_dict = True
            return f"nn.Sequential(OrderedDict([{inner}\n            ]))"
        return f"nn.Sequential({inner}\n        )"

    def ctor_lines(self, plan: ClassPlan) -> list[str]:
        scopes = plan.observed
        lines = []
        for i, it in enumerate(scopes[0].items):
            if is_param(it):  # a learned tensor: nn.Parameter, then its initializer
                if it.span.path == self.prog.path:  # an imported block's comments stay there
                    lines += [f"        {c}" for c in self.comments.get((it.span.line, it.span.col), [])]
                lines += param_lines(self, plan, [s.items[i] for s in scopes])
                continue
            src = self.item_ctor(plan, [s.items[i] for s in scopes])
            if src is not None:
                lines += pyfmt.wrap(f"self.{it.name} = ", src, "        ") if "\n" not in src else \
                    [f"        self.{it.name} = {src}"]
        scope = scopes[0]
        for _, left, lp, right, rp in scope.ties:  # one tensor: the left layer takes the right's
            lines.append(f"        {_attr(scope, left)}.{legal(lp)} = {_attr(scope, right)}.{legal(rp)}")
        for _, it in scope.freezes:  # parameters that do not train
            lines.append(f"        {_attr(scope, it)}.requires_grad_(False)")
        return lines


def _written(nodes: list[Node], key: str, values: list) -> A.Expr | None:
    """The expression written for ``key`` at these nodes, if it is what gives ``values``
    (a layer may fill in or change a constructor value)."""
    e = nodes[0].arg_exprs.get(key)
    if e is None or any(n.params is None or not _same(getattr(n.params, key, _MISSING), v)
                        for n, v in zip(nodes, values)):
        return None
    return e


_MISSING = object()


def _same_all(a: list, b: list) -> bool:
    return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))


def _attr(scope: Scope, node: Node) -> str:
    """``self.encoder.layers[0].fc``: the attribute of ``node`` seen from ``scope``'s module."""
    out = "self"
    return attr_path((node.id[len(scope.id) + 1:] if scope.id else node.id).split("."), out)


def attr_path(parts: list[str], out: str = "self") -> str:
    """``self.layer1[0].conv1``; a part that is no plain name (a quoted member label,
    ``"block1-0"``) only as a string literal: ``getattr(self.trunk, 'block1-0')``."""
    for part in parts:
        if part.isascii() and part.isdigit():
            out += f"[{int(part)}]"
        elif legal(part) == part:
            out += f".{part}"
        else:
            out = f"getattr({out}, {pyfmt.literal(part)})"
    return out


def _rel(node: Node) -> str:
    """A node's path inside the scope that holds it (``conv1``, ``layers.0``)."""
    sid = node.scope.id
    return node.id[len(sid) + 1:] if sid else node.id


def _find(scope: Scope, rel: str) -> Scope:
    """The nested scope at path ``rel`` of ``scope``."""
    it = scope
    for part in rel.split("."):
        if isinstance(it, Repeat):
            it = next(m for m in it.members if m.name == part)
        else:
            it = next(i for i in it.items if i.name == part)
    return it
