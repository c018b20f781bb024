"""Emit a standalone PyTorch module from an inferred Program.

The output imports torch, never graphc: one ``nn.Module`` class per block (its
constructor takes the block's parameters, plus input sizes that differ between
uses) and one for the model; one attribute per layer; one forward line per node
with a shape comment; ``example_inputs()``; ``__all__``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from graphc import __version__, pyfmt
from graphc import ast as A
from graphc.expr import names as expr_names
from graphc.graph import Node, Program, Repeat, Scope, ValueRef
from graphc.names import TRAIN_SCRIPT_NAMES, Namespace, legal
from graphc.shapes import shape_str

DTYPE_TORCH = {"float32": "torch.float32", "float16": "torch.float16", "bfloat16": "torch.bfloat16",
               "float64": "torch.float64", "int64": "torch.long", "int32": "torch.int32",
               "bool": "torch.bool"}
SYMBOL_DEFAULT = 16  # example_inputs' default for symbolic dims other than the batch
#: A block constant that depends on the block's parameters is written as its expression
#: (``padding=(k // 2)``) unless that text is longer or nests more constants than this;
#: then the value itself is passed (a literal, or a constructor argument of the class), so
#: constants that each use the one before twice cannot make the code exponentially long.
INLINE_MAX_CHARS = 200
INLINE_MAX_DEPTH = 16


class _TooLong(Exception):
    """A block constant's expression past INLINE_MAX_CHARS or INLINE_MAX_DEPTH."""


# ---------------------------------------------------------------- structure
def _signature(item) -> tuple:
    if isinstance(item, Node):
        # the forward text too: an argument used only in forward (transpose(1, d), concat's
        # dim) makes instances that need classes of their own
        args = [f"a{i}" for i in range(len(item.inputs))]
        return ("n", item.name, item.kind, item.layer.forward(item.params, "m" if item.has_module else None, args))
    if isinstance(item, Repeat):
        return ("r", item.name, tuple(_signature(m) for m in item.members))
    return ("s", item.name, item.kind, tuple(_signature(i) for i in item.items))


def item_inputs(item) -> list[ValueRef]:
    if isinstance(item, Node):
        return list(item.inputs)
    if isinstance(item, Repeat):
        return item_inputs(item.members[0])
    return [ref for _, ref in item.inputs]


def item_outputs(item) -> list[ValueRef]:
    if isinstance(item, Node):
        return [(item.id, i) for i in range(len(item.outs or [None]))]
    if isinstance(item, Repeat):
        return item_outputs(item.members[-1])
    return [ref for _, ref in item.outputs]


@dataclass
class _Param:
    name: str
    values: list            # one per instance
    default: object = None
    has_default: bool = False
    derived: bool = False   # not a block parameter: an input size or a per-layer value


@dataclass
class _ClassPlan:
    """One generated class: a block definition specialised to one structure."""

    name: str
    block: A.BlockDef
    instances: list[Scope]
    params: list[_Param] = field(default_factory=list)
    derived_keys: dict[tuple, str] = field(default_factory=dict)
    param_names: dict[str, str] = field(default_factory=dict)  # block parameter -> its Python name
    _positions: dict[int, int] = field(default_factory=dict)

    def index(self, scope: Scope) -> int:
        """The instance's position: a dict, as a class may have thousands of instances."""
        if not self._positions:
            self._positions.update((id(s), i) for i, s in enumerate(self.instances))
        return self._positions[id(scope)]

    @property
    def block_params(self) -> set[str]:
        return {p.name.id for p in self.block.params}


class Emitter:
    def __init__(self, prog: Program, path: str):
        self.prog = prog
        self.path = path
        self.ns = Namespace({"torch", "nn", "example_inputs", "F", "math"})
        self.plans: list[_ClassPlan] = []
        self.plan_of: dict[int, _ClassPlan] = {}  # id(scope) -> plan
        self._const_uses: dict[int, bool] = {}  # id(block constant) -> it uses a block parameter
        self._plan_classes()
        # the training script imports the model class: it must not take a name the script binds
        self.model_cls = Namespace(self.ns.taken | TRAIN_SCRIPT_NAMES).fresh(prog.name)
        self.ns.reserve(self.model_cls)
        for plan in self.plans:
            self._plan_params(plan)

    # ----------------------------------------------------------- planning
    def _plan_classes(self) -> None:
        groups: dict[str, dict[tuple, list[Scope]]] = {}
        for s in self.prog.scopes():
            if s.is_block:
                body = tuple(_signature(i) for i in s.items)
                groups.setdefault(s.kind, {}).setdefault(body, []).append(s)
        # inner blocks first, so a class is defined before the classes that use it
        order = sorted(groups, key=lambda k: max(self._depth(s) for g in groups[k].values() for s in g))
        for kind in order:
            for insts in groups[kind].values():
                plan = _ClassPlan(self.ns.fresh(kind), insts[0].definition, insts)
                self.plans.append(plan)
                for s in insts:
                    self.plan_of[id(s)] = plan

    @staticmethod
    def _depth(s: Scope) -> int:
        d = 0
        for it in s.items:
            if isinstance(it, Scope):
                d = max(d, 1 + Emitter._depth(it))
            elif isinstance(it, Repeat):
                for m in it.members:
                    if isinstance(m, Scope):
                        d = max(d, 1 + Emitter._depth(m))
        return d

    def _param(self, plan: _ClassPlan, name: str) -> str:
        """A block parameter's name in the generated constructor: legal, unique in the block
        (``list`` and ``list_`` both become ``list_`` by legal()), and not the name of a class
        or import of the module (a constructor builds the classes of its blocks)."""
        if not plan.param_names:
            for bp in plan.block.params:
                legal_name = legal(bp.name.id)
                while legal_name in self.ns.taken or legal_name in plan.param_names.values():
                    legal_name += "_"
                plan.param_names[bp.name.id] = legal_name
        return plan.param_names[name]

    def _plan_params(self, plan: _ClassPlan) -> None:
        # Block parameters (required first, then those with defaults) come after
        # derived ones; derived parameters are appended on demand while planning
        # constructor calls, so first run a dry pass to collect them.
        self._ctor_lines(plan, dry=True)
        env = plan.block
        names = Namespace({p.name for p in plan.params})
        required, optional = [], []
        for bp in env.params:
            vals = [s.args[bp.name.id] for s in plan.instances]
            p = _Param(self._param(plan, bp.name.id), vals)
            if bp.default is not None:
                p.has_default = True
                p.default = self.prog.block_defaults[plan.block.name.id][bp.name.id]
                optional.append(p)
            else:
                required.append(p)
            names.reserve(p.name)
        derived = [p for p in plan.params if p.derived]
        plan.params = derived + required + optional

    # ---------------------------------------------------- value rendering
    def _value_src(self, plan: _ClassPlan | None, scopes: list[Scope], values: list, written: A.Expr | None,
                   key: str, node_name: str) -> str:
        """Source for one constructor value, across every instance of a class."""
        if plan is not None and written is not None and self._uses_params(written, plan, scopes[0]):
            try:
                return pyfmt.expr(written, lambda n: self._name_src(n, plan, scopes[0], written.span))
            except _TooLong:
                pass  # the values themselves, below
        if all(v == values[0] and type(v) is type(values[0]) for v in values):
            return pyfmt.literal(values[0])
        assert plan is not None
        # a block parameter with the same value in every instance
        for bp in plan.block.params:
            if _same([s.args[bp.name.id] for s in scopes], values):  # 2.0 is not 2 here
                return self._param(plan, bp.name.id)
        # an argument written elsewhere in the block with the same value in every instance:
        # an inferred in_channels is, most often, the out_channels written one layer before
        for expr, vals in self._written_values(plan, scopes):
            if _same(vals, values):
                try:
                    return pyfmt.expr(expr, lambda n, at=expr.span: self._name_src(n, plan, scopes[0], at))
                except _TooLong:
                    break
        # an input size of the block, the same position in every instance
        for j, (_, ref) in enumerate(scopes[0].inputs):
            t0 = self.prog.type_of(ref)
            if t0 is None:
                continue
            for d in range(-1, -len(t0.shape) - 1, -1):
                dims = []
                for s in scopes:
                    t = self.prog.type_of(s.inputs[j][1])
                    dims.append(t.shape[d] if t is not None and len(t.shape) >= -d else None)
                if dims == values:
                    return self._derived(plan, ("in", j, d), key, values)
        return self._derived(plan, ("node", node_name, key), f"{node_name}_{key}", values)

    def _written_values(self, plan: _ClassPlan, scopes: list[Scope]) -> list[tuple[A.Expr, list]]:
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
                    if None not in vals and self._uses_params(expr, plan, scopes[0]):
                        out.append((expr, vals))

        walk([s.items for s in scopes])
        return out

    def _derived(self, plan: _ClassPlan, k: tuple, want: str, values: list) -> str:
        if k not in plan.derived_keys:
            taken = {p.name for p in plan.params} | {self._param(plan, p.name.id) for p in plan.block.params}
            name = Namespace(taken | self.ns.taken).fresh(want)  # never a class's name
            plan.derived_keys[k] = name
            plan.params.append(_Param(name, values, derived=True))
        return plan.derived_keys[k]

    def _uses_params(self, e: A.Expr, plan: _ClassPlan, scope: Scope) -> bool:
        names = set(expr_names(e))
        return bool(names & plan.block_params) or any(
            self._const_uses_params(c, plan, scope) for n in names
            if (c := _visible_const(scope, n, e.span)) is not None)

    def _const_uses_params(self, const, plan: _ClassPlan, scope: Scope) -> bool:
        """Whether a block constant depends on a block parameter, through any chain of
        constants.  Iterative and memoized: a chain may be thousands long, and each constant
        may use the one before several times."""
        memo = self._const_uses
        todo = [const]
        while todo:
            c = todo[-1]
            if id(c) in memo:
                todo.pop()
                continue
            names = set(expr_names(c.expr))
            deps = [d for n in names if (d := _visible_const(scope, n, c.span)) is not None]
            pending = [d for d in deps if id(d) not in memo]
            if pending and not names & plan.block_params:
                todo += pending  # defined above c: no cycles
                continue
            memo[id(c)] = bool(names & plan.block_params) or any(memo[id(d)] for d in deps)
            todo.pop()
        return memo[id(const)]

    def _name_src(self, name: str, plan: _ClassPlan, scope: Scope, at, depth: int = 0) -> str:
        """Source for a name in an expression written at span ``at`` of the block's body."""
        if name in plan.block_params:
            return self._param(plan, name)
        c = _visible_const(scope, name, at)
        if c is not None and self._const_uses_params(c, plan, scope):
            if depth >= INLINE_MAX_DEPTH:
                raise _TooLong()
            inner = pyfmt.expr(c.expr, lambda n: self._name_src(n, plan, scope, c.span, depth + 1))
            if len(inner) > INLINE_MAX_CHARS:
                raise _TooLong()
            return f"({inner})" if isinstance(c.expr, A.BinOp) else inner
        return pyfmt.literal(c.value if c is not None else self.prog.consts[name])

    # ------------------------------------------------------- constructors
    def _node_ctor(self, plan, nodes: list[Node]) -> str:
        n0 = nodes[0]
        layer = n0.layer
        defaults = layer.ctor_defaults()
        args, kwargs = [], []
        scopes = [n.scope for n in nodes]
        for idx, key in enumerate(n0.ctor):
            values = [n.ctor[key] for n in nodes]
            written = n0.arg_exprs.get(key)
            same = all(v == values[0] and type(v) is type(values[0]) for v in values)
            if idx >= layer.ctor_positional and same and key in defaults and values[0] == defaults[key] \
                    and type(values[0]) is type(defaults[key]) and (
                    written is None or plan is None or not self._uses_params(written, plan, scopes[0])):
                continue
            src = self._value_src(plan, scopes, values, written, key, n0.name)
            if idx < layer.ctor_positional:
                args.append(src)
            else:
                kwargs.append((key, src))
        return pyfmt.call(layer.torch_name, args, kwargs)

    def _scope_ctor(self, plan, subs: list[Scope]) -> str:
        child = self.plan_of[id(subs[0])]
        idx = [child.index(s) for s in subs]
        args, kwargs = [], []
        for p in child.params:
            values = [p.values[i] for i in idx]
            written = subs[0].arg_exprs.get(p.name) if not p.derived else None
            if p.has_default and written is None and all(v == p.default for v in values):
                continue
            if p.derived:
                scopes = [s.parent for s in subs]
                src = self._value_src(plan, scopes, values, None, p.name, subs[0].name)
            else:
                scopes = [s.parent for s in subs]
                src = self._value_src(plan, scopes, values, written, p.name, subs[0].name)
            if p.has_default:
                kwargs.append((p.name, src))
            else:
                args.append(src)
        return pyfmt.call(child.name, args, kwargs)

    def _item_ctor(self, plan, items: list) -> str | None:
        it = items[0]
        if isinstance(it, Node):
            return self._node_ctor(plan, items) if it.has_module else None
        if isinstance(it, Scope):
            return self._scope_ctor(plan, items)
        # Repeat: one constructor per member, across instances
        members = [self._item_ctor(plan, [r.members[i] for r in items]) for i in range(len(it.members))]
        if all(m == members[0] for m in members) and len(members) > 4:
            return f"nn.Sequential(*[{members[0]} for _ in range({len(members)})])"
        inner = "".join(f"\n            {m}," for m in members)
        return f"nn.Sequential({inner}\n        )"

    def _ctor_lines(self, plan: _ClassPlan | None, dry: bool = False) -> list[str]:
        insts = plan.instances if plan is not None else [self.prog.root]
        lines = []
        for i, it in enumerate(insts[0].items):
            items = [s.items[i] for s in insts]
            src = self._item_ctor(plan, items)
            if src is not None:
                lines += pyfmt.wrap(f"self.{it.name} = ", src, "        ") if "\n" not in src else \
                    [f"        self.{it.name} = {src}"]
        return lines

    # ------------------------------------------------------------ forward
    def _forward_lines(self, insts: list[Scope]) -> tuple[list[str], list[str]]:
        s0 = insts[0]
        var: dict[ValueRef, str] = {}
        params = []
        for name, ref in s0.inputs:
            v = s0.legal_of.get(name, legal(name))
            params.append(v)
            var.setdefault(ref, v)
        out_refs = {ref for _, ref in s0.outputs}
        consumers: dict[ValueRef, list[int]] = {}
        for i, it in enumerate(s0.items):
            for r in item_inputs(it):
                consumers.setdefault(r, []).append(i)
        lines = []
        for i, it in enumerate(s0.items):
            outs = item_outputs(it)
            chain_var = it.chain_var
            if len(outs) == 1 and it.binds:
                target = it.binds
            elif len(outs) == 1 and chain_var and outs[0] not in out_refs and \
                    consumers.get(outs[0], []) == [i + 1]:
                target = chain_var
            else:
                target = None
            if isinstance(it, Node):
                args = [var[r] for r in it.inputs]
                call = f"self.{it.name}" if it.has_module else None
                expr = it.layer.forward(it.params, call, args)
            else:
                args = [var[r] for r in item_inputs(it)]
                expr = f"self.{it.name}({', '.join(args)})"
            if target is None:
                if len(outs) == 1:
                    target = it.name
                elif it.binds_all and len(it.binds_all) == len(outs):
                    target = ", ".join(it.binds_all)
                else:
                    target = ", ".join(f"{it.name}_{k}" for k in range(len(outs)))
            names = [target] if len(outs) == 1 else target.split(", ")
            if isinstance(it, Node) and it.layer.n_outputs is None and len(outs) == 1:
                target += ","  # a one-piece chunk/split returns a 1-tuple: unpack it
            for r, n in zip(outs, names):
                var[r] = n
            types = [[self.prog.type_of(r) for r in item_outputs(s.items[i])] for s in insts]
            comment = " ".join(self._merge_types([t[k] for t in types], insts) for k in range(len(outs)))
            lines.append((f"        {target} = {expr}", comment))
        width = min(max((len(code) for code, _ in lines), default=0), 72)
        body = [f"{code.ljust(width)}  # {comment}" for code, comment in lines]
        rets = [var[ref] for _, ref in s0.outputs]
        body.append(f"        return {', '.join(rets)}")
        return params, body

    # ---------------------------------------------------------------- all
    def run(self) -> str:
        prog = self.prog
        out: list[str] = []
        fname = pyfmt.text(os.path.basename(self.path))
        total = sum(n.n_params or 0 for n in prog.nodes.values())
        out.append(f'"""{self.model_cls}: PyTorch code generated by graphc {__version__} from {fname}.')
        out.append("")
        out.append(f"Regenerate with `graphc build {fname}` rather than editing by hand.")
        out.append("")
        out.append("Inputs:")
        for node in prog.inputs:
            out.append(f"    {node.name}: {shape_str(node.declared.shape)} {node.declared.dtype}")
        syms = self._symbols()
        if syms:
            out.append("Symbolic dims (example_inputs defaults):")
            for s, (arg, default) in syms.items():
                what = "batch size" if arg == "batch_size" else "size"
                out.append(f"    {s}: {what}, default {default}")
        out.append(f"Parameters: {total:,}")
        out.append('"""')
        out.append("")
        out.append("import torch")
        out.append("from torch import nn")
        out.append("")
        names = [self.model_cls] + [p.name for p in self.plans] + ["example_inputs"]
        out.append("__all__ = [" + ", ".join(repr(n) for n in names) + "]")
        for plan in self.plans:
            out += ["", ""] + self._class(plan)
        out += ["", ""] + self._class(None)
        out += ["", ""] + self._example_inputs(syms)
        return "\n".join(out) + "\n"

    def _class(self, plan: _ClassPlan | None) -> list[str]:
        insts = plan.instances if plan else [self.prog.root]
        s0 = insts[0]
        name = plan.name if plan else self.model_cls
        lines = [f"class {name}(nn.Module):"]
        defn = s0.definition
        if plan:
            sig = pyfmt.text(", ".join(p.name.id + (f"={pyfmt.expr(p.default, str)}" if p.default else "")
                                       for p in defn.params))
            lines.append(f'    """block {defn.name.id}({sig}), line {defn.span.line}; '
                         f'used {len(insts)} time{"s" if len(insts) != 1 else ""}."""')
        else:
            lines.append(f'    """model {defn.name.id}, line {defn.span.line}."""')
        lines.append("")
        ctor = self._ctor_lines(plan)
        sig = ["self"]
        for p in (plan.params if plan else []):
            sig.append(f"{p.name}={pyfmt.literal(p.default)}" if p.has_default else p.name)
        lines.append(f"    def __init__({', '.join(sig)}):")
        lines.append("        super().__init__()")
        lines += ctor
        init_body = self._init_weights() if plan is None else []
        if init_body:
            lines.append("        self.init_weights()")
        lines.append("")
        if init_body:
            lines += init_body + [""]
        params, body = self._forward_lines(insts)
        lines.append(f"    def forward({', '.join(['self'] + params)}):")
        lines += body
        return lines

    def _merge_types(self, types, insts: list[Scope]) -> str:
        """One shape comment for every instance: a dim that differs is shown as the
        class parameter that carries it, or as its values joined by '|'."""
        if any(t is None for t in types):
            return "?"
        shapes = [t.shape for t in types]
        if all(len(sh) == len(shapes[0]) for sh in shapes) is False:
            return " | ".join(dict.fromkeys(shape_str(sh) for sh in shapes))
        plan = self.plan_of.get(id(insts[0]))
        dims = []
        for k in range(len(shapes[0])):
            vals = [sh[k] for sh in shapes]
            if all(v == vals[0] for v in vals):
                dims.append(str(vals[0]))
                continue
            match = None
            if plan is not None:
                idx = [plan.index(s) for s in insts]
                for p in plan.params:
                    if [p.values[i] for i in idx] == vals:
                        match = p.name
                        break
            dims.append(match or "|".join(dict.fromkeys(str(v) for v in vals)))
        return "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"

    def _init_weights(self) -> list[str]:
        """The model's init_weights(): the init section's rules, then each layer's own."""
        rules = self.prog.init_rules
        per_layer = [(n, what, init) for n in self.prog.nodes.values() for what, (init, _) in n.inits.items()]
        if not rules and not per_layer:
            return []
        lines = ["    def init_weights(self):",
                 '        """Initializers from the init section, then from weight_init= / bias_init=."""']
        kinds = [(k, v[0]) for k, v in rules.items() if k not in ("weight", "bias")]
        if kinds or "weight" in rules or "bias" in rules:
            lines.append("        for m in self.modules():")
            first = True
            for kind, init in kinds:
                cls = self.prog_layer_class(kind)
                lines.append(f"            {'if' if first else 'elif'} isinstance(m, {cls}):")
                lines.append(f"                {init.call('m.weight')}")
                first = False
            if "weight" in rules:
                init = rules["weight"][0]
                cond = "isinstance(getattr(m, 'weight', None), torch.Tensor)"
                if init.info.min_dims or init.info.exact_dims:
                    cond += f" and m.weight.dim() {'==' if init.info.exact_dims else '>='} " \
                            f"{init.info.exact_dims or init.info.min_dims}"
                lines.append(f"            {'if' if first else 'elif'} {cond}:")
                lines.append(f"                {init.call('m.weight')}")
            if "bias" in rules:
                lines.append("            if isinstance(getattr(m, 'bias', None), torch.Tensor):")
                lines.append(f"                {rules['bias'][0].call('m.bias')}")
        for node, what, init in per_layer:
            lines.append(f"        {init.call(_attr_path(node.id) + '.' + what)}")
        return lines

    @staticmethod
    def prog_layer_class(kind: str) -> str:
        from graphc.layers.base import LAYERS

        return LAYERS[kind].torch_name

    def _symbols(self) -> dict[str, tuple[str, int]]:
        out: dict[str, tuple[str, int]] = {}
        args = Namespace({"batch_size"})  # the other sizes' argument names: never batch_size
        for node in self.prog.inputs:
            for i, d in enumerate(node.declared.shape):
                if isinstance(d, int) or str(d) in out:
                    continue
                out[str(d)] = ("batch_size", 2) if i == 0 else (args.fresh(str(d)), SYMBOL_DEFAULT)
        return out

    def _example_inputs(self, syms) -> list[str]:
        args = []
        seen = set()
        for arg, default in syms.values():
            if arg not in seen:
                args.append(f"{arg}={default}")
                seen.add(arg)
        lines = [f"def example_inputs({', '.join(args)}):",
                 f'    """Random inputs of the declared shapes and dtypes, for {self.model_cls}."""']
        items = []
        for node in self.prog.inputs:
            dims = ", ".join(str(d) if isinstance(d, int) else syms[str(d)][0] for d in node.declared.shape)
            shape = f"({dims},)" if len(node.declared.shape) == 1 else f"({dims})"
            dt = node.declared.dtype
            if dt.startswith("float") or dt == "bfloat16":
                t = f"torch.randn({shape}" + (f", dtype={DTYPE_TORCH[dt]})" if dt != "float32" else ")")
            elif dt == "bool":
                t = f"torch.rand({shape}) < 0.5"
            else:
                t = f"torch.randint(0, 2, {shape}, dtype={DTYPE_TORCH[dt]})"
            items.append(t)
        body = ", ".join(items) + ("," if len(items) == 1 else "")
        lines.append(f"    return ({body})")
        return lines


def _same(a: list, b: list) -> bool:
    """Equal values of equal types, item by item (1 == 1.0 == True in Python)."""
    return len(a) == len(b) and all(type(x) is type(y) and x == y for x, y in zip(a, b))


def _attr_path(node_id: str) -> str:
    """``layer1.0.conv1`` -> ``self.layer1[0].conv1``."""
    out = "self"
    for part in node_id.split("."):
        out += f"[{part}]" if part.isdigit() else f".{part}"
    return out


def _visible_const(scope: Scope, name: str, at):
    """Block constant ``name`` of ``scope`` where it is defined before span ``at``, else None
    (the name is then a top-level constant: in ``const a = a + 1`` the right ``a``, and any
    use above a block constant that shadows a top-level one)."""
    c = scope.consts.get(name)
    if c is None or getattr(c, "expr", None) is None or (c.span.line, c.span.col) >= (at.line, at.col):
        return None
    return c


def emit_module(prog: Program, source) -> str:
    return Emitter(prog, source.path).run()
