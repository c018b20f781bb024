"""Emit a standalone PyTorch module from an inferred Program.

The output imports torch, never graphc: the top-level constants the code uses
(``HIDDEN = 128``), one ``nn.Module`` class per block structure (its constructor
takes the block's parameters, plus the input sizes and other values its layers
need that no parameter gives) and one for the model; one attribute per layer;
one forward line per node with a shape comment; ``MODEL``, the model class;
``example_inputs()``; ``__all__``, sorted as ruff sorts it.

Which parameter or expression each constructor value is written as, and why it
is right for other arguments than the model's, is graphc.emit.values' and
graphc.emit.provenance's business; graphc.emit.plan groups uses into classes.
"""

from __future__ import annotations

import os

from graphc import __version__, pyfmt
from graphc import ast as A
from graphc.emit.comments import place
from graphc.emit.inputs import example_inputs, symbols
from graphc.emit.learned import is_param
from graphc.emit.plan import ClassPlan, group_blocks, item_inputs, item_outputs
from graphc.emit.provenance import Trials
from graphc.emit.ruff_order import ruff_sort_key
from graphc.emit.values import Constructors, TooLong, attr_path
from graphc.expr import UNARY_PRECEDENCE, to_model
from graphc.graph import Node, Program, Repeat, ValueRef
from graphc.names import TRAIN_SCRIPT_NAMES, Namespace, legal, snake
from graphc.shapes import shape_str

#: The module attribute that holds the model class, for tools that import the module.
MODEL_ATTR = "MODEL"
#: In a module of several models: their classes by model name, in the file's order.
MODELS_ATTR = "MODELS"


class Emitter:
    """One module for the models of a file (the first is ``MODEL``), and for their blocks: a
    block used by two models is one class, right for the uses in both."""

    def __init__(self, progs: Program | list[Program], path: str):
        progs = progs if isinstance(progs, list) else [progs]
        self.progs = progs
        self.prog = prog = progs[0]  # what the models share: constants, blocks, the file
        self.path = path
        self.ns = Namespace({"torch", "nn", "example_inputs", "F", "math", "OrderedDict", MODEL_ATTR, MODELS_ATTR,
                             *_import_names(progs)})  # and what plugins' imports bind
        self.trials = Trials(prog)
        for other in progs[1:]:  # each use's types are its own model's
            for sc in other.scopes():
                self.trials.program_of[id(sc)] = other
        self.ctors = Constructors(prog, self.ns, self.trials)
        for n in _group_operations(progs):  # their module classes are named before any parameter is
            self.ctors.wrappers.ctor(n)
        self.plans: list[ClassPlan] = []
        for kind, body, insts in group_blocks(progs):
            plan = ClassPlan(self.ns.fresh(kind), insts[0].definition, insts, body)
            self.plans.append(plan)
            for s in insts:
                self.ctors.plan_of[id(s)] = plan
        # the training script imports the model class: it must not take a name the script binds
        self.roots: list[tuple[Program, ClassPlan, str]] = []  # (model, its class, its example_inputs)
        for i, p in enumerate(progs):
            cls = Namespace(self.ns.taken | TRAIN_SCRIPT_NAMES).fresh(p.name)
            self.ns.reserve(cls)
            fn = "example_inputs" if i == 0 else self.ns.fresh(f"example_inputs_{snake(p.name)}")
            self.roots.append((p, ClassPlan(cls, p.root.definition, [p.root]), fn))
        self.root = self.roots[0][1]
        self.model_cls = self.root.name
        self.ctors.name_constants()
        self._planned = False
        self.comments = place(prog.file, [a for p in progs for a in _anchors(p)])
        self.ctors.comments = self.comments.at_call
        self.ctors.const_comments = self.comments.before_const

    def class_of(self, prog: Program) -> str:
        """The class name of one of the models."""
        return next(plan.name for p, plan, _ in self.roots if p is prog)

    def _plan(self) -> None:
        """Trials and constructor parameters of every class, inner classes first."""
        if not self._planned:
            self._planned = True
            for plan in self.plans:
                plan.trials = self.trials.run(plan.instances[0], plan.signature)
                self.ctors.plan_params(plan)

    # ------------------------------------------------------------ forward
    def _forward_lines(self, plan: ClassPlan) -> tuple[list[str], list[str]]:
        # a use that passes one tensor to two inputs cannot tell them apart (add(a, b) would
        # read a + a): write forward from a use or trial whose inputs are distinct tensors
        s0 = next((s for s in plan.observed if len({r for _, r in s.inputs}) == len(s.inputs)),
                  plan.instances[0])
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
        precedence: dict[ValueRef, int] = {}  # a folded value's text binds this tightly
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
            if is_param(it):  # a learned tensor: self.pos where it is read, no line of its own
                var[outs[0]] = f"self.{it.name}"
                continue
            if isinstance(it, Node):
                args = _operands(it, var, precedence)
                call = f"self.{(it.shares or it).name}" if it.has_module else None
                expr = it.layer.forward(it.params, call, args)
                if it.folded and it.layer.expression and len(outs) == 1 and outs[0] not in out_refs and \
                        len(consumers.get(outs[0], [])) == 1 and _takes_expressions(s0.items[consumers[outs[0]][0]]):
                    var[outs[0]] = expr  # written inside the line of the expression's root
                    precedence[outs[0]] = _precedence(it)
                    continue
            else:
                args = [var[r] for r in item_inputs(it)]
                expr = f"self.{(getattr(it, 'shares', None) or it).name}({', '.join(args)})"
            if target is None:
                if len(outs) == 1:
                    target = it.name
                elif it.binds_all and len(it.binds_all) == len(outs):
                    target = ", ".join(it.binds_all)
                else:
                    target = ", ".join(f"{it.name}_{k}" for k in range(len(outs)))
            names = [target] if len(outs) == 1 else target.split(", ")
            if len(outs) > 1:  # a value nothing reads is unpacked into _
                shown = [n if r in consumers or r in out_refs else "_" for r, n in zip(outs, names)]
                target = ", ".join(shown)
            if isinstance(it, Node) and it.layer.count_outputs(it.params) is None and len(outs) == 1:
                target += ","  # a one-piece chunk/split returns a 1-tuple: unpack it
            elif isinstance(it, Node) and len(outs) > 1:
                target = it.layer.unpack(it.params, shown)  # LSTM's state: out, (h, c)
            for r, n in zip(outs, names):
                var[r] = n
            above = self.comments.at_call.get((it.span.line, it.span.col), []) \
                if it.span.path == self.prog.path else []  # an imported block's comments stay there
            lines.append((above, f"        {target} = {expr}", self._comment(plan, i, len(outs))))
        width = min(max((len(code) for _, code, _ in lines), default=0), 72)
        body = []
        for above, code, comment in lines:
            body += [f"        {c}" for c in above] + [f"{code.ljust(width)}  # {comment}"]
        rets = [var[ref] for _, ref in s0.outputs]
        body += [f"        {c}" for c in self.comments.before_return.get(plan.block.name.id, [])]
        body.append(f"        return {', '.join(rets)}")
        return params, body

    # ---------------------------------------------------------------- all
    def run(self) -> str:
        self._plan()
        fname = pyfmt.text(os.path.basename(self.path))
        several = len(self.roots) > 1
        names = ", ".join(plan.name for _, plan, _ in self.roots)
        out = [f'"""{names}: PyTorch code generated by graphc {__version__} from {fname}.', "",
               f"Regenerate with `graphc build {fname}` rather than editing by hand.", ""]
        if several:
            out += [f"The model classes are {names}, also in {MODELS_ATTR} by name;",
                    f"{MODEL_ATTR} is {self.model_cls}. Each has a function that gives it random inputs."]
        else:
            out += [f"The model class is {self.model_cls}, also as {MODEL_ATTR}; example_inputs() gives it "
                    "random inputs."]
        examples: list[str] = []
        for prog, plan, fn in self.roots:
            syms = symbols(prog, self.ns.taken)
            out += ["", f"{plan.name}, {fn}():" if several else "Inputs:"]
            ind = "    " if several else ""
            if several:
                out.append("    Inputs:")
            for node in prog.inputs:
                out.append(f"{ind}    {node.name}: {shape_str(node.declared.shape)} {node.declared.dtype}")
            if syms:
                out.append(f"{ind}Symbolic dims ({fn} defaults):")
                for s, (arg, default) in syms.items():
                    what = "batch size" if arg == "batch_size" else "size"
                    out.append(f"{ind}    {s}: {what}, default {default}")
            total = sum(n.n_params or 0 for n in prog.nodes.values())
            out.append(f"{ind}Parameters: {total:,}")
            examples += ["", ""] + example_inputs(prog, syms, fn, plan.name,
                                                  lambda v, w, p=prog, r=plan: self._dim_src(v, w, p, r))
        out += ['"""', ""]
        if self.comments.module:
            out += [*self.comments.module, ""]
        classes: list[str] = []
        for plan in self.plans:
            classes += ["", ""] + self._class(plan)
        for prog, plan, _ in self.roots:
            classes += ["", ""] + self._class(plan, prog)
        out += (["from collections import OrderedDict", ""] if self.ctors.uses_ordered_dict else []) + \
            ["import torch", "from torch import nn", *self._plugin_imports(), ""]  # after the classes: what they use
        classes = self.ctors.wrappers.classes() + classes  # made while writing the constructors
        classes += ["", "", f"{MODEL_ATTR} = {self.model_cls}"]
        if several:
            classes += [f"{MODELS_ATTR} = {{" + ", ".join(f"{pyfmt.literal(p.name)}: {plan.name}"
                                                    for p, plan, _ in self.roots) + "}"]
        classes += examples
        names = [MODEL_ATTR] + ([MODELS_ATTR] if several else []) + [plan.name for _, plan, _ in self.roots] + \
            [p.name for p in self.plans] + [fn for _, _, fn in self.roots] + self.ctors.wrappers.names
        out.append("__all__ = [" + ", ".join(repr(n) for n in sorted(names, key=ruff_sort_key)) + "]")
        consts = self.ctors.constant_lines()  # after the classes: they find which are used
        if consts:
            out += [""] + consts
        return "\n".join(out + classes) + "\n"

    def _plugin_imports(self) -> list[str]:
        """The import lines the plugin layers in use need (graphc.plugins), each once, sorted."""
        from graphc.plugins import check_imports

        lines = sorted({line for p in self.progs for n in p.nodes.values() if n.layer is not None
                        for line in n.layer.imports})
        check_imports(lines)
        return ([""] if lines else []) + lines

    def _dim_src(self, value: int, written, prog: Program, root: ClassPlan) -> str:
        """A declared size: as written when that uses a top-level constant."""
        if written is not None and self.ctors.uses_free(written, root, prog.root):
            try:
                return self.ctors.render(written, root, prog.root)
            except TooLong:
                pass
        return str(value)

    def _class(self, plan: ClassPlan, prog: Program | None = None) -> list[str]:
        """A block's class, or model ``prog``'s."""
        defn = plan.block
        lines = [*self.comments.before_def.get(defn.name.id, []), f"class {plan.name}(nn.Module):"]
        if not plan.is_model:
            n = len(plan.instances)
            sig = pyfmt.text(", ".join(p.name.id + (f"={_src_text(p.default)}" if p.default else "")
                                       for p in defn.params))
            where = f"line {defn.span.line}"
            if defn.span.path != self.prog.path:  # an imported block: its file, as the importer names it
                rel = os.path.relpath(defn.span.path, os.path.dirname(self.prog.path) or ".").replace(os.sep, "/")
                where = f"{pyfmt.text(rel)} line {defn.span.line}"
            lines.append(f'    """block {defn.name.id}({sig}), {where}; '
                         f'used {n} time{"s" if n != 1 else ""}."""')
        else:
            lines.append(f'    """model {defn.name.id}, line {defn.span.line}."""')
        lines.append("")
        ctor = self.ctors.ctor_lines(plan)
        sig = ["self"]
        for p in plan.params:
            sig.append(f"{p.name}={self.ctors.default_src(plan, p)}" if p.has_default else p.name)
        lines.append(f"    def __init__({', '.join(sig)}):")
        lines.append("        super().__init__()")
        lines += ctor
        init_body = self._init_weights(prog) if plan.is_model else []
        if init_body:
            lines.append("        self.init_weights()")
        lines.append("")
        if init_body:
            lines += init_body + [""]
        params, body = self._forward_lines(plan)
        lines.append(f"    def forward({', '.join(['self'] + params)}):")
        lines += body
        return lines

    def _comment(self, plan: ClassPlan, i: int, n_outs: int) -> str:
        """The shape comment of item ``i``: one for every use.  A size that moves with a
        parameter of the class (in every use and trial) is shown as it; one that differs
        between uses otherwise, as its values joined by '|'."""
        out = []
        for k in range(n_outs):
            types = [self.trials.type_of(s, item_outputs(s.items[i])[k]) for s in plan.observed]
            out.append(self._merge_types(plan, types))
        return " ".join(out)

    def _merge_types(self, plan: ClassPlan, types: list) -> str:
        real = types[:len(plan.instances)]
        if any(t is None for t in real):
            return "?"
        shapes = [t.shape for t in real]
        if any(len(sh) != len(shapes[0]) for sh in shapes):
            return " | ".join(dict.fromkeys(shape_str(sh) for sh in shapes))
        dims = []
        for k in range(len(shapes[0])):
            vals = [sh[k] for sh in shapes]
            every = [t.shape[k] if t is not None and len(t.shape) == len(shapes[0]) else None for t in types]
            name = self._dim_name(plan, every) if any(v != every[0] for v in every) else None
            if name is not None:
                dims.append(name)
            elif all(v == vals[0] for v in vals):
                dims.append(str(vals[0]))
            else:
                dims.append("|".join(dict.fromkeys(str(v) for v in vals)))
        return "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"

    def _dim_name(self, plan: ClassPlan, values: list) -> str | None:
        """A parameter of the class (or a sum of them) that has ``values`` in every scope."""
        if plan.is_model or not all(type(v) is int for v in values):
            return None
        if plan.param_values is None:
            plan.param_values = [(p, [self.ctors.param_value(p, s) for s in plan.observed]) for p in plan.params]
            plan.sizes = self.ctors.input_sizes(plan, plan.observed)
            plan.written = self.ctors.written_values(plan, plan.observed)
        for p, vals in plan.param_values:
            if vals == values and all(type(v) is int for v in vals):
                return p.name
        for expr, vals in plan.written:
            if vals == values:
                try:
                    return self.ctors.render(expr, plan, plan.instances[0])
                except TooLong:
                    break
        terms = self.ctors.solve(plan, plan.observed, values, plan.sizes, existing=True)
        return self.ctors.sum_src(plan, terms) if terms else None

    def _init_weights(self, prog: Program) -> list[str]:
        """The model's init_weights(): the init section's rules, then each layer's own."""
        rules = prog.init_rules
        per_layer = [(n, what, init) for n in prog.nodes.values() for what, (init, _) in n.inits.items()]
        if not rules and not per_layer:
            return []
        lines = ["    def init_weights(self):",
                 '        """Initializers from the init section, then from weight_init= / bias_init=."""']
        kinds = [(k, v[0]) for k, v in rules.items() if k not in ("weight", "bias")]
        if kinds or "weight" in rules or "bias" in rules:
            lines.append("        for m in self.modules():")
            first = True
            merged: list[tuple[list[str], str]] = []  # adjacent kinds with one initializer: one branch
            for kind, init in kinds:
                call = init.call("m.weight")
                if merged and merged[-1][1] == call:
                    merged[-1][0].append(self.prog_layer_class(kind))
                else:
                    merged.append(([self.prog_layer_class(kind)], call))
            for classes, call in merged:
                cls = classes[0] if len(classes) == 1 else f"({', '.join(classes)})"
                lines.append(f"            {'if' if first else 'elif'} isinstance(m, {cls}):")
                lines.append(f"                {call}")
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


def _import_names(progs) -> set[str]:
    """The names the plugin layers' import lines bind in the generated module."""
    import ast

    out: set[str] = set()
    for p in progs:
        for n in p.nodes.values():
            for line in (n.layer.imports if n.layer is not None else ()):
                try:
                    tree = ast.parse(line)
                except SyntaxError:
                    continue  # PluginError when the module is written
                for stmt in tree.body:
                    for a in getattr(stmt, "names", ()):
                        out.add(a.asname or a.name.split(".")[0])
    return out


def _group_operations(progs):
    """The operations with no module that are members of a repeat or group (graphc.emit.wrappers)."""
    for p in progs:
        for sc in p.scopes():
            todo = [it for it in sc.items if isinstance(it, Repeat)]
            while todo:
                for m in todo.pop(0).members:
                    if isinstance(m, Repeat):
                        todo.append(m)
                    elif isinstance(m, Node) and not m.has_module and m.params is not None:
                        yield m


def _anchors(prog: Program):
    """Where each item the module writes a line for starts: forward lines, and the layers of
    groups and repeats (their nn.Sequential lines)."""
    todo = [it for s in prog.scopes() for it in s.items]
    while todo:
        it = todo.pop()
        if it.span.path == prog.path:  # not an imported file's
            yield it.span.line, it.span.col
        if isinstance(it, Repeat):
            todo += it.members


def _attr_path(node_id: str) -> str:
    """``layer1.0.conv1`` -> ``self.layer1[0].conv1``."""
    return attr_path(node_id.split("."))


def _src_text(e: A.Expr) -> str:
    """A block parameter's default as the .model file writes it (for the class docstring)."""
    return to_model(e)


def emit_module(prog: Program | list[Program], source) -> str:
    return Emitter(prog, source.path).run()


def _takes_expressions(item) -> bool:
    """Whether a folded expression may be written inside this item's forward text: only an
    expression layer's (a method call on it, ``x.transpose(1, 2)``, or a form that repeats its
    argument, StochasticDepth's, would read it wrongly or twice)."""
    return isinstance(item, Node) and item.layer is not None and item.layer.expression


def _precedence(node: Node) -> int:
    """How tightly a node's forward text binds (graphc.expr.OPERATORS' scale): an operator's
    says; a call or a name binds tightest."""
    of = getattr(node.layer, "precedence_of", None)
    return of(node.params) if of is not None else UNARY_PRECEDENCE + 1


def _operands(node: Node, var: dict, precedence: dict) -> list[str]:
    """The forward's arguments, a folded operand bracketed where the node's operator binds
    more tightly than it, or as tightly on its right (Python's left associativity)."""
    args = [var[r] for r in node.inputs]
    of = getattr(node.layer, "precedence_of", None)
    if of is None:
        return args
    outer = of(node.params)
    for i, r in enumerate(node.inputs):
        inner = precedence.get(r)
        if inner is not None and (inner < outer or (inner == outer and node.layer.operand_is_right(node.params, i))):
            args[i] = f"({args[i]})"
    return args
