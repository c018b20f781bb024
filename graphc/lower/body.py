"""Lowering a model's or a block's body: its statements, inputs and outputs, its chains
(``y = x -> A(...) -> B``) and each layer call in them, a node of the graph."""

from __future__ import annotations

from graphc import ast as A
from graphc import expr
from graphc.binder import _ERR
from graphc.graph import Node, Scope, ValueRef
from graphc.layers.base import TensorType
from graphc.lower.blocks import _ArityError
from graphc.lower.env import RESERVED_WORDS, _Abort, _Const, _declared_names, _Env, _ScopeState, _Value
from graphc.lower.evaluate import MAX_EVAL_STEPS, _describe
from graphc.lower.foreign import other_names
from graphc.lower.tensor_expr import is_plain_call, mentions_tensor
from graphc.names import Namespace, snake
from graphc.shapes import MAX_DIM, Sym

DTYPES = {
    "float": "float32", "float32": "float32", "half": "float16", "float16": "float16",
    "bfloat16": "bfloat16", "double": "float64", "float64": "float64", "long": "int64",
    "int64": "int64", "int": "int32", "int32": "int32", "bool": "bool",
}

#: Limits that keep a hostile or mistaken file from exhausting time or memory.
MAX_NODES = 200_000
MAX_STATEMENTS = 1_000_000  # statements lowered, a block's body once per use (a block of consts
                            # used 10,000 times in a block used 10,000 times adds no layers)


class Body:
    """Bodies, chains and layer calls (a mixin of graphc.lower.Lowerer)."""

    def body(self, stmts, scope: Scope, env: _Env, tensor_inputs: list[ValueRef] | None) -> None:
        """Lower a model (tensor_inputs None) or a block instance (the caller's tensors)."""
        users = Namespace()
        legal_of: dict[str, str] = {}
        for n in _declared_names(stmts):
            if n not in legal_of:
                legal_of[n] = users.fresh(n)
        ns = Namespace(users.taken)
        scope.legal_of = legal_of
        scope_state = _ScopeState(scope, env, ns, legal_of)
        n_in = 0
        for st in stmts:
            self.statements += 1
            if tensor_inputs is None:
                self.model_statement = st
            if self.statements > MAX_STATEMENTS:
                self.error(self.model_statement.span, "limit", f"the model expands to more than "
                           f"{MAX_STATEMENTS:,} statements (each block's body counts once per use)",
                           "use fewer or smaller block uses")
                raise _Abort()
            if self.eval_steps > MAX_EVAL_STEPS:  # reported where it ran out (Lowerer.eval)
                raise _Abort()
            if isinstance(st, A.ConstDef):
                self.const_def(st, env)
                scope.consts[st.name.id] = env.names.get(st.name.id)
            elif isinstance(st, A.InputDecl):
                if tensor_inputs is None:
                    self.model_input(st, scope_state)
                else:
                    if st.dims is not None:
                        self.error(st.span, "invalid-input",
                                   f"block input '{st.name.id}' takes its shape from the caller",
                                   "write just 'input " + st.name.id + "'")
                    if n_in < len(tensor_inputs):
                        ref = tensor_inputs[n_in]
                        self.define(env, st.name, _Value(ref, st.name.span))
                        scope.inputs.append((st.name.id, ref))
                    n_in += 1
            elif isinstance(st, A.Assign):
                self.assign(st, scope_state)
            elif isinstance(st, A.Tie):
                self.tie(st, scope_state)
            elif isinstance(st, A.Freeze):
                self.freeze(st, scope_state)
            elif isinstance(st, A.ParamDecl):
                self.param_decl(st, scope_state)
            elif isinstance(st, A.InitBlock):
                if tensor_inputs is not None:
                    self.error(st.span, "invalid-argument", "an init section belongs in a model, not a block",
                               "give the block's layers weight_init= / bias_init= instead")
                else:
                    self.init_section(st, env)
            elif isinstance(st, A.TrainBlock):
                if tensor_inputs is not None:
                    self.error(st.span, "invalid-train", "a training section belongs in a model, not a block")
                elif self.train is not None:
                    self.error(st.span, "invalid-train",
                               f"a second training section (the first is at line {self.train.span.line})")
                else:
                    self.train, self.train_env = st, env
            elif isinstance(st, A.OutputDecl):
                for nm in st.names:
                    b = env.lookup(nm.id)
                    if isinstance(b, _Value):
                        if any(o[0] == nm.id for o in scope.outputs):
                            self.error(nm.span, "invalid-output", f"'{nm.id}' is already an output")
                        scope.outputs.append((nm.id, b.ref))
                    elif isinstance(b, _Const) and b.value is _ERR:
                        scope.poisoned = True
                    elif isinstance(b, _Const):
                        self.error(nm.span, "invalid-output", f"output '{nm.id}' is a constant, not a tensor")
                    else:
                        scope.poisoned = True
                        self.error(nm.span, "undefined-name", f"output '{nm.id}' is not defined",
                                   self._name_hint(nm.id, env) or self._later_hint(nm.id, scope_state))
        if tensor_inputs is not None and n_in != len(tensor_inputs):
            raise _ArityError(n_in)

    def model_input(self, st: A.InputDecl, ss: _ScopeState) -> None:
        if self.reserved(st.name):
            return
        if st.dims is None:
            self.error(st.span, "invalid-input", f"model input '{st.name.id}' needs a shape",
                       f"e.g. 'input {st.name.id}: [B, 3, 32, 32]'; B stays symbolic")
        dims = []
        ok = st.dims is not None  # without one the input is still defined (of no known type), so
        for d in st.dims or ():   # its uses get no second error

            if isinstance(d, A.Name) and ss.env.lookup(d.id) is None:
                if d.id not in self.bindings:
                    dims.append(Sym(d.id))
                    self.symbols.setdefault(d.id, None)
                    continue
                v = self.symbols[d.id] = self.bindings[d.id]  # --set: checked as a written size
            elif any(isinstance(x, A.Name) and ss.env.lookup(x.id) is None for x in expr.walk(d)):
                v = self.symbolic_dim(d, ss.env)  # 16*h: a size that is a multiple of 16
                if isinstance(v, Sym):
                    dims.append(v)
                    continue
            else:
                v = self.eval(d, ss.env)
            if v is _ERR:
                ok = False
            elif not isinstance(v, int) or isinstance(v, bool):
                self.error(d.span, "invalid-input", f"a dimension must be an integer, got {_describe(v)}")
                ok = False
            elif v < 1:
                self.error(d.span, "shape-nonpositive", f"dimension {v} is not positive",
                           "every dimension of an input is at least 1")
                ok = False
            elif v > MAX_DIM:
                self.error(d.span, "limit", f"dimension {v} exceeds graphc's limit of 2**40")
                ok = False
            else:
                dims.append(v)
        dtype = DTYPES[st.dtype] if st.dtype else "float32"
        name = ss.legal_of[st.name.id]
        node = Node(name, name, "input", st.span, ss.scope, user_named=True,
                    declared=TensorType(tuple(dims), dtype) if ok else None)
        node.outs = [node.declared] if ok else None
        self.add_node(node)
        ss.scope.inputs.append((st.name.id, (node.id, 0)))
        self.define(ss.env, st.name, _Value((node.id, 0), st.name.span))

    def symbolic_dim(self, d: A.Expr, env):
        """An input size written with symbols (``16*h``, ``2*k + 1``): sums and products of
        symbols and positive integers, so it is at least 1 for every value of the symbols (each is
        at least 1).  Returns the Dim (an int when --set binds every symbol), or _ERR after an error."""
        if isinstance(d, A.Name):
            b = env.lookup(d.id)
            if b is None:
                if d.id in self.bindings:
                    self.symbols[d.id] = self.bindings[d.id]
                    return self.bindings[d.id]
                self.symbols.setdefault(d.id, None)
                return Sym(d.id)
        if isinstance(d, A.BinOp) and d.op in ("+", "*"):
            a, b = self.symbolic_dim(d.left, env), self.symbolic_dim(d.right, env)
            if a is _ERR or b is _ERR:
                return _ERR
            return a + b if d.op == "+" else a * b
        if not any(isinstance(x, A.Name) and env.lookup(x.id) is None for x in expr.walk(d)):
            v = self.eval(d, env)  # a constant part: 2 * STRIDE
        else:
            self.error(d.span, "invalid-input",
                       f"a size written with symbols may only add and multiply them with positive integers, "
                       f"not '{expr.to_model(d)}'",
                       "write the size as a multiple: '16*h' for a height divisible by 16 (h is then symbolic)")
            return _ERR
        if v is _ERR:
            return _ERR
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            self.error(d.span, "invalid-input",
                       f"in a size written with symbols every number must be a positive integer, got {_describe(v)}",
                       "e.g. '16*h' or '2*k + 1'")
            return _ERR
        return v

    def assign(self, st: A.Assign, ss: _ScopeState) -> None:
        chain = st.chain
        target = st.targets[0] if len(st.targets) == 1 else None
        if isinstance(chain.source, A.Name):
            b = ss.env.lookup(chain.source.id)
            if not isinstance(b, _Value):
                if isinstance(b, _Const) and b.value is _ERR:
                    pass  # its definition failed and was reported
                elif isinstance(b, _Const):
                    self.error(chain.source.span, "missing-input",
                               f"a chain starts from a tensor; '{chain.source.id}' is a constant")
                else:
                    self.error(chain.source.span, "undefined-name",
                               f"undefined name '{chain.source.id}'",
                               self._name_hint(chain.source.id, ss.env) or self._later_hint(chain.source.id, ss)
                               or self.undefined_source_hint(chain.source.id, ss))
                self.check_detached(chain.steps, ss)
                self._bind_unknown(st, ss)
                return
            refs: list[ValueRef] | None = [b.ref]
            if not chain.steps and target is not None:
                pass  # an alias: y = x
        elif not is_plain_call(chain.source, ss.env):
            refs = self.expression_source(st, ss)
            if refs is not None and chain.source_label is not None:
                self.define(ss.env, chain.source_label, _Value(refs[0], chain.source_label.span))
        else:
            refs = self.apply(chain.source, [], ss, label=chain.source_label,
                              default_name=(target.id if (target and not chain.steps) else None),
                              chain_var=ss.legal_of[target.id] if target else None,
                              want=len(st.targets) if not chain.steps else 1)
            if refs is not None and len(refs) == 1 and chain.source_label is not None:
                self.define_label(ss.env, chain.source_label, _Value(refs[0], chain.source_label.span))
        for i, step in enumerate(chain.steps):
            if refs is None:  # an earlier step failed: the later ones are still checked for their
                self.check_detached(chain.steps[i:], ss)  # own mistakes, without a shape
                break
            if len(refs) != 1:
                self.error(step.span, "arity",
                           f"the value before this step is {len(refs)} tensors; a step takes one",
                           "name them (a, b = ...) and continue from one of them")
                refs = None
                self.check_detached(chain.steps[i + 1:], ss)
                break
            last = i == len(chain.steps) - 1
            default = target.id if (last and target is not None and step.label is None) else None
            if step.repeat is not None or isinstance(step.call, A.Group):
                refs = self.sequence(step, refs, ss, default, target)
            else:
                refs = self.apply(step.call, refs, ss, label=step.label, default_name=default,
                                  chain_var=ss.legal_of[target.id] if target else None,
                                  want=len(st.targets) if last else 1)
            if refs is not None and step.label is not None:
                if len(refs) == 1:
                    self.define_label(ss.env, step.label, _Value(refs[0], step.label.span))
        if refs is None:
            self._bind_unknown(st, ss)
            return
        if len(refs) != len(st.targets):
            self.error(st.span, "arity",
                       f"{len(st.targets)} name(s) on the left but the chain gives {len(refs)} tensor(s)",
                       None)
            self._bind_unknown(st, ss)
            return
        for t, r in zip(st.targets, refs):
            self.define(ss.env, t, _Value(r, t.span))
        if (chain.steps or not isinstance(chain.source, A.Name)) and ss.scope.items:
            if target is not None:
                ss.scope.items[-1].binds = ss.legal_of[target.id]
            elif not any(t.id in RESERVED_WORDS for t in st.targets):
                ss.scope.items[-1].binds_all = tuple(ss.legal_of[t.id] for t in st.targets)

    def expression_source(self, st: A.Assign, ss: _ScopeState) -> list[ValueRef] | None:
        """A chain whose source is an expression: a tensor expression, or an error."""
        chain, target = st.chain, (st.targets[0] if len(st.targets) == 1 else None)
        if not mentions_tensor(chain.source, ss.env):
            if self.eval(chain.source, ss.env) is not _ERR:
                self.error(chain.source.span, "missing-input",
                           "a statement's value is a tensor, and this expression mentions none",
                           "a constant is written 'const " + (target.id if target else "k") + " = ...'")
            return None
        if target is None:
            self.error(st.span, "arity", f"{len(st.targets)} names on the left, but an expression "
                       "gives one tensor", None)
            return None
        ref = self.tensor_expr(chain.source, ss, None if chain.steps else target.id,
                               ss.legal_of[target.id], label=chain.source_label)
        return None if ref is None else [ref]

    def apply(self, call: A.Call, incoming: list[ValueRef], ss: _ScopeState, label: A.Name | None,
              default_name: str | None, chain_var: str | None = None,
              forced_name: str | None = None, want: int = 1) -> list[ValueRef] | None:
        """One call: a registered layer or a block.  Returns its output values."""
        # leading positional args that name tensors are inputs
        tensors = list(incoming)
        args = list(call.args)
        while args and args[0].name is None and isinstance(args[0].value, A.Name) and \
                isinstance(ss.env.lookup(args[0].value.id), _Value):
            tensors.append(ss.env.lookup(args[0].value.id).ref)
            args.pop(0)
        if self.forward_reference(call, args, ss):
            return None
        unknown_input = any(
            a.name is None and isinstance(a.value, A.Name)
            and isinstance(b := ss.env.lookup(a.value.id), _Const) and b.value is _ERR
            for a in args[:1])
        # Attributes are named by labels (``conv1: Conv2d(...)``); an unlabelled
        # module gets a name from its kind.  A tensor expression (add, concat)
        # has no attribute and takes the name of the value it computes.
        layer = self.reg.get(call.kind)
        is_expression = layer is not None and layer.torch_name is None
        if label is not None and self.label_clashes(label):  # a keyword of the language may label
            return None                                        # (torchvision's 'block'): see define_label
            return None
        if forced_name is not None:
            name = forced_name
        elif label is not None:
            name = ss.legal_of[label.id]
        elif default_name is not None and is_expression:
            name = ss.legal_of[default_name]
        else:
            name = ss.ns.fresh(snake(call.kind))
        user_named = forced_name is None and label is not None
        if call.kind in self.blocks:
            return self.instantiate(call, tensors, args, ss, name, unknown_input, chain_var, label=label)
        if layer is None and call.kind in ss.instances:
            return self.apply_shared(call, ss.instances[call.kind], tensors, args, ss, label, name, chain_var)
        if layer is None:
            self.unknown_layer(call, ss)
            return None
        if unknown_input:
            return None
        args, tensor_args = self.tensor_arguments(layer, call, args, ss.env)
        if tensor_args is None:
            return None
        lo, hi = layer.n_inputs
        if not tensors:
            self.error(call.span, "missing-input", f"{call.kind} has no input tensor",
                       f"start from a value: 'y = x -> {call.kind}(...)'")
            return None
        if len(tensors) < lo or (hi is not None and len(tensors) > hi):
            want = f"{lo}" if lo == hi else (f"at least {lo}" if hi is None else f"{lo} to {hi}")
            op = getattr(layer, "op", None)
            hint = "in a chain the incoming value is the first tensor" if incoming else None
            if op is not None and len(tensors) == 1 and args and args[0].name is None:
                first = call.args[0].value if call.args and not incoming else None
                first = first.id if isinstance(first, A.Name) else "x"
                hint = (f"a number is not a tensor argument: write it as an expression, "
                        f"'y = {first} {op} {expr.to_model(args[0].value)}'")
            self.error(call.span, "arity", f"{call.kind} takes {want} tensor(s), got {len(tensors)}", hint)
            return None
        if ss.group is not None and (len(tensors) != 1 or tensor_args or (
                layer.torch_name is None and layer.n_outputs != 1)):
            self.error(call.span, "arity",
                       f"{call.kind} cannot be a step of a repeat or group: each step there takes only the "
                       "incoming tensor and gives one",
                       "write it as its own step outside the parentheses or the '* N'")
            return None
        args, inits = self.split_inits(layer, call, args, ss.env)
        params, arg_exprs = self.validate(layer, call, args, ss.env)
        if tensor_args:
            tensors += [tensor_args[n] for n in layer.tensor_args if n in tensor_args]
            if params is not None:
                params = type(params).model_validate({**params.model_dump(), **dict.fromkeys(tensor_args, True)})
        if ss.group is not None and params is not None and layer.torch_name is not None and \
                layer.forward(params, "m", ["x"]) != "m(x)":
            self.error(call.span, "arity",
                       f"{call.kind} cannot be a step of a repeat or group: nn.Sequential would call it "
                       f"as m(x), but its forward is {layer.forward(params, 'm', ['x'])}",
                       "write it as its own step, or put it in a block and repeat the block")
            return None
        node_id = (f"{ss.prefix}.{name}" if ss.prefix else ss.scope.path(name))
        node = Node(node_id, name, call.kind, call.span, ss.scope, layer=layer, params=params,
                    call=call, arg_exprs=arg_exprs, inputs=tensors, user_named=user_named,
                    chain_var=chain_var, inits=inits)
        self.add_node(node)
        (ss.group.members if ss.group is not None else ss.scope.items).append(node)
        if label is not None and ss.group is None:
            ss.instances[label.id] = node
        if params is None:
            node.outs = None
        n_out = layer.count_outputs(params) if params is not None else layer.n_outputs
        if n_out is None:  # decided by the shapes (chunk, split): infer checks the count
            node.expected_outputs = want
            return [(node.id, i) for i in range(want)]
        return [(node.id, i) for i in range(n_out)]

    def forward_reference(self, call: A.Call, args: list, ss: _ScopeState) -> bool:
        """``add(a, b)`` or ``concat(a, b, dim=1)`` where ``b`` is assigned later in the body: the
        cause is the order of the statements, not the number of tensors nor the name."""
        for a in args:
            if a.name is None and isinstance(a.value, A.Name) and ss.env.lookup(a.value.id) is None \
                    and a.value.id in ss.legal_of:
                line = self._defined_at(a.value.id, ss)
                self.error(a.value.span, "undefined-name",
                           f"{call.kind} uses '{a.value.id}' before it is defined"
                           + (f" (at line {line})" if line else " (later in this body)"),
                           f"move this statement after the one that assigns '{a.value.id}': values are "
                           "defined before use (no cycles)")
                return True
        return False

    @staticmethod
    def _defined_at(name: str, ss: _ScopeState) -> int | None:
        stmts = ss.scope.definition.body
        for st in stmts:
            if isinstance(st, A.Assign) and any(t.id == name for t in st.targets):
                return st.span.line
        return None

    def undefined_source_hint(self, name: str, ss: _ScopeState) -> str | None:
        """A chain that starts from a name nothing defines, in a model: most often a missing input."""
        if ss.scope.is_block or name in ss.legal_of:
            return None
        declare = f"'input {name}: [B, ...]' (its shape; B stays symbolic)"
        if not ss.scope.inputs:
            return f"the model has no input: declare it first, {declare}"
        have = ", ".join(n for n, _ in ss.scope.inputs[:3])
        return f"start from a defined value (input {have}), or declare a new input: {declare}"

    def unknown_layer(self, call: A.Call, ss: _ScopeState) -> None:
        hint = self.not_a_layer_hint(call.kind, ss) or other_names(call.kind, self.reg) or \
            self.suggest(call.kind, list(self.reg) + list(self.blocks) + list(ss.instances))
        self.error(call.kind_span, "unknown-layer", f"unknown layer '{call.kind}'",
                   hint or "see docs/layers.md for every layer, or define a block")

    def check_detached(self, steps, ss: _ScopeState) -> None:
        """The steps of a chain after one that failed: their input is unknown, so nothing that
        needs its shape is checked (and nothing is built), but each call's own mistakes are
        reported in the same run: an unknown layer, an unknown or ill-typed argument."""
        for step in steps:
            for call in _calls_of(step.call):
                if call.kind in self.blocks or call.kind in ss.instances:
                    continue  # a block's arguments are checked with its body, at a use with an input
                layer = self.reg.get(call.kind)
                if layer is None:
                    self.unknown_layer(call, ss)
                    continue
                args = list(call.args)
                while args and args[0].name is None and isinstance(args[0].value, A.Name) and \
                        self._is_tensor_or_unknown(ss.env.lookup(args[0].value.id)):
                    args.pop(0)  # tensor inputs (add(a, b)): the unknown ones were reported
                args, tensor_args = self.tensor_arguments(layer, call, args, ss.env)
                if tensor_args is None:
                    continue
                args, _ = self.split_inits(layer, call, args, ss.env)
                self.validate(layer, call, args, ss.env)

    @staticmethod
    def _is_tensor_or_unknown(b) -> bool:
        return isinstance(b, _Value) or (isinstance(b, _Const) and b.value is _ERR)

    def tensor_arguments(self, layer, call: A.Call, args: list, env):
        """Take the keyword arguments that name tensors (``attn_mask=mask``) out of ``args``:
        (the other arguments, {name: tensor}); None after an error."""
        if not layer.tensor_args:
            return args, {}
        rest, found = [], {}
        for a in args:
            if a.name not in layer.tensor_args:
                rest.append(a)
                continue
            v = env.lookup(a.value.id) if isinstance(a.value, A.Name) else None
            if isinstance(v, _Const) and v.value is _ERR:
                return args, None  # its definition failed and was reported
            if not isinstance(v, _Value):
                self.error(a.value.span, "invalid-argument",
                           f"{call.kind}'s {a.name} is a tensor: give the name of a tensor value",
                           f"e.g. input mask: [L, S] bool, then {a.name}=mask")
                return args, None
            if a.name in found:
                self.error(a.name_span or a.span, "duplicate-argument",
                           f"{call.kind} gets argument '{a.name}' twice")
                return args, None
            found[a.name] = v.ref
        return rest, found

    def add_node(self, node: Node) -> None:
        if len(self.nodes) >= MAX_NODES:
            self.error(node.span, "limit", f"the model expands to more than {MAX_NODES:,} layers")
            raise _Abort()
        self.nodes[node.id] = node


def _calls_of(callee) -> list:
    """The calls of a step's callee: a group's members' calls, labelled, repeated and nested
    ones included (a member that is a Step is not a call itself)."""
    if isinstance(callee, A.Step):
        return _calls_of(callee.call)
    if isinstance(callee, A.Group):
        return [c for m in callee.calls for c in _calls_of(m)]
    return [callee]
