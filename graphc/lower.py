"""Lowering: AST -> Program (layer nodes, block tree; see graphc.graph).

Resolves names, evaluates constant expressions, expands blocks and repeats,
validates every layer's arguments with its parameter schema (graphc.params), and records a
diagnostic for each problem instead of stopping at the first.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass
from typing import Any

from graphc import ast as A
from graphc.binder import _ERR, Signature, _fmt, bind, signature
from graphc.binder import _constraints as _constraints  # re-exported: graphc.docgen imports them from here
from graphc.binder import describe_type as describe_type
from graphc.emit.names import Namespace, snake
from graphc.errors import Diagnostic, diag, did_you_mean
from graphc.graph import Node, Program, Repeat, Scope, ValueRef
from graphc.layers.base import LAYERS, REGISTRY, Layer, TensorType
from graphc.shapes import MAX_DIM, Sym
from graphc.source import Span
from graphc.syntax import MAX_INT, MAX_NESTING

DTYPES = {
    "float": "float32", "float32": "float32", "half": "float16", "float16": "float16",
    "bfloat16": "bfloat16", "double": "float64", "float64": "float64", "long": "int64",
    "int64": "int64", "int": "int32", "int32": "int32", "bool": "bool",
}

#: Words of the language that cannot name values, layers or parameters.
RESERVED_WORDS = frozenset({"model", "block", "input", "output", "const", "train", "true", "false", "none"})

#: Limits that keep a hostile or mistaken file from exhausting time or memory.
MAX_REPEAT = 10_000
MAX_NODES = 200_000
MAX_BLOCK_DEPTH = 64
MAX_STATEMENTS = 1_000_000  # statements lowered, a block's body once per use (a block of consts
                            # used 10,000 times in a block used 10,000 times adds no layers)
#: did-you-mean comparisons per file: a hint compares the word with every candidate, so
#: 20,000 undefined names among 20,000 defined ones would cost 400 million of them.
HINT_BUDGET = 100_000
#: Constant-expression evaluation per file, in steps: one per operator, literal and name of an
#: expression evaluated, plus one per item of a tuple it gives (nested items counted).  A block's
#: constants and arguments are evaluated again for every use with other argument values (uses
#: with the same values share one evaluation, see Lowerer.eval), so a 4,096-term constant in a
#: block used 190,000 times with different arguments would cost 1.6 billion steps.
MAX_EVAL_STEPS = 5_000_000
_MEMO_MIN = 16    # expressions of this many nodes or more are memoized (smaller ones cost less)
_KEY_ITEMS = 64   # a name whose tuple value has more items makes an expression's result uncached


class _Abort(Exception):
    """Stops lowering when a limit is hit (the diagnostic is already recorded)."""


@dataclass
class _Const:
    value: Any
    expr: A.Expr | None
    span: Span
    is_param: bool = False


@dataclass
class _Value:
    ref: ValueRef
    span: Span


class _Env:
    def __init__(self, parent: _Env | None = None):
        self.parent = parent
        self.names: dict[str, _Const | _Value] = {}

    def lookup(self, name: str):
        env = self
        while env is not None:
            if name in env.names:
                return env.names[name]
            env = env.parent
        return None


def _declared_names(body) -> list[str]:
    out: list[str] = []
    for st in body:
        if isinstance(st, A.Assign):
            out += [t.id for t in st.targets]
            out += [s.label.id for s in st.chain.steps if s.label is not None]
            if st.chain.source_label is not None:
                out.append(st.chain.source_label.id)
        elif isinstance(st, A.InputDecl):
            out.append(st.name.id)
    return out


class Lowerer:
    def __init__(self, file: A.File):
        self.file = file
        self.path = file.path
        self.reg = LAYERS
        self.diags: list[Diagnostic] = []
        self.nodes: dict[str, Node] = {}
        self.blocks: dict[str, A.BlockDef] = {}
        self.globals = _Env()
        self.stack: list[str] = []
        self.symbols: dict[str, int | None] = {}
        self.reported_no_output: set[str] = set()
        self._seen: set[Diagnostic] = set()
        self.train: A.TrainBlock | None = None
        self.train_env: _Env | None = None
        self.bindings: dict[str, int] = {}   # symbol -> value, from --set
        self.init_rules: dict = {}            # init section: kind | "weight" | "bias" -> (Init, span)
        self.statements = 0                   # lowered so far (MAX_STATEMENTS)
        self.hint_budget = HINT_BUDGET
        self.eval_steps = 0                   # charged so far (MAX_EVAL_STEPS)
        self._expr_info: dict[int, tuple] = {}   # id(expr) -> (expr, size, free names or None)
        self._memo: dict[tuple, tuple] = {}      # (id(expr), values of its names) -> outcome
        self._tuples: dict[int, tuple] = {}      # id(tuple value) -> (value, items, depth)

    # ------------------------------------------------------------------ api
    def error(self, span: Span, code: str, message: str, hint: str | None = None) -> None:
        d = diag(span, code, message, hint)
        if d not in self._seen:  # a block used N times reports a mistake in it once
            self._seen.add(d)
            self.diags.append(d)

    def run(self) -> Program | None:
        models: list[A.ModelDef] = []
        for item in self.file.items:
            if isinstance(item, A.ConstDef):
                self.const_def(item, self.globals)
            elif isinstance(item, A.BlockDef):
                if item.name.id in self.blocks:
                    first = self.blocks[item.name.id].name.span
                    self.error(item.name.span, "duplicate-name",
                               f"block '{item.name.id}' is already defined at line {first.line}",
                               "rename one of the blocks")
                elif item.name.id in self.reg:
                    self.error(item.name.span, "duplicate-name",
                               f"block '{item.name.id}' has the name of a built-in layer",
                               "choose another block name")
                else:
                    self.blocks[item.name.id] = item
                    seen: dict[str, A.Name] = {}
                    for prm in item.params:
                        self.reserved(prm.name)
                        if prm.name.id in seen:
                            self.error(prm.name.span, "duplicate-name",
                                       f"block '{item.name.id}' has two parameters named '{prm.name.id}' "
                                       f"(the first at column {seen[prm.name.id].span.col})",
                                       "rename one of the parameters")
                        seen.setdefault(prm.name.id, prm.name)
            else:
                models.append(item)
        if not models:
            self.error(self.file.span.__class__(self.path, 1, 1, 1, 2), "missing-model",
                       "the file defines no model", "add 'model Name { ... }'")
            return None
        for extra in models[1:]:
            self.error(extra.name.span, "duplicate-name",
                       f"a second model '{extra.name.id}' in one file (the first is "
                       f"'{models[0].name.id}' at line {models[0].span.line})",
                       "put each model in its own file")
        model = models[0]
        root = Scope("", model.name.id, model, model.span)
        try:
            self.body(model.body, root, _Env(self.globals), tensor_inputs=None)
        except _Abort:
            return None
        if not any(isinstance(st, A.OutputDecl) for st in model.body):
            self.error(model.name.span, "invalid-output", f"model '{model.name.id}' has no output",
                       "add 'output <name>' naming the value the model returns")
        consts = {k: b.value for k, b in self.globals.names.items() if isinstance(b, _Const)}
        defaults = {
            name: {p.name.id: self.eval(p.default, self.globals) for p in b.params if p.default is not None}
            for name, b in self.blocks.items()
        }
        return Program(self.path, model.name.id, root, self.nodes, self.blocks,
                       self.symbols, consts, defaults, self.train, self.train_env,
                       init_rules=self.init_rules)

    # ---------------------------------------------------------- expressions
    def eval(self, e: A.Expr, env: _Env) -> Any:
        """Evaluate a constant expression; on error record it and return _ERR.

        Every evaluation is charged to the file's MAX_EVAL_STEPS: the expression's size, plus the
        items of a tuple it gives.  A large expression (_MEMO_MIN nodes or more) whose names all
        hold constants is evaluated once per tuple of their values: a block used 190,000 times
        with the same arguments evaluates its constants once, and pays a step per use.
        """
        if self.eval_steps > MAX_EVAL_STEPS:  # spent and reported: every further value is unknown
            return _ERR
        try:
            if e.__class__ in _LEAVES:  # a literal or a name, most arguments: one step
                self._charge(1, e)
                r = self._eval(e, env)
            else:
                info = self._expr_info.get(id(e))
                if info is None:
                    info = self._expr_info[id(e)] = (e, *_size_and_names(e))
                if info[2] is None:
                    self._charge(info[1], e)
                    r = self._eval(e, env)
                else:
                    r = self._eval_memo(e, env, info[1], info[2])
            if r.__class__ is tuple:
                self._charge(self._tuple_info(r)[1], e)
            return r
        except _Silent:
            return _ERR
        except _EvalError as err:
            self.error(err.span, err.code, err.message, err.hint)
            return _ERR

    def _charge(self, steps: int, e: A.Expr) -> None:
        self.eval_steps += steps
        if self.eval_steps > MAX_EVAL_STEPS:
            raise _EvalError(e.span, "limit", f"evaluating the constant expressions of this file takes "
                             f"more than {MAX_EVAL_STEPS:,} steps (a block's constants and arguments count "
                             "again for each use with other arguments, a tuple once per item)",
                             "compute large values once, in top-level constants, and keep tuples "
                             "small: a block evaluates its constants again for each use with other "
                             "arguments")

    def _eval_memo(self, e: A.Expr, env: _Env, size: int, names: tuple[str, ...]) -> Any:
        """_eval, remembered per tuple of the values of ``e``'s names (their types included:
        1, 1.0 and true differ).  Errors are remembered too; reporting one again is a no-op."""
        key: list = [id(e)]
        cost = len(names) + 1  # a step per name, and per item of a tuple in the key
        for name in names:
            b = env.lookup(name)
            k = _value_key(b.value, self._tuple_info) if isinstance(b, _Const) else None
            if k is None:  # a tensor, an undefined name or a large tuple: evaluate as it is
                self._charge(size, e)
                return self._eval(e, env)
            if b.value.__class__ is tuple:
                cost += self._tuple_info(b.value)[1]
            key.append(k)
        key_t = tuple(key)
        hit = self._memo.get(key_t)
        if hit is not None:
            self._charge(cost, e)
            if hit[0]:
                return hit[1]
            raise hit[1].with_traceback(None)  # not the frames of every earlier raise
        self._charge(size + cost, e)
        try:
            r = self._eval(e, env)
        except _EvalError as err:  # _Silent included
            self._memo[key_t] = (False, err)
            raise
        self._memo[key_t] = (True, r)
        return r

    def _tuple_info(self, v: tuple) -> tuple:
        """(v, items nested included, nesting depth) of a tuple value, remembered by identity
        (the entry keeps ``v`` alive, so its id is not reused).  Values the evaluator built are
        entered as they are built; others (a value from another Lowerer) are measured here."""
        info = self._tuples.get(id(v))
        if info is None:
            info = self._tuples[id(v)] = (v, *self._measure(v))
        return info

    def _measure(self, v: tuple) -> tuple[int, int]:
        """(items, nested ones included; nesting depth) of a tuple value."""
        items, depth = len(v), 1
        for x in v:
            if type(x) is tuple:
                _, n, d = self._tuple_info(x)
                items += n
                depth = max(depth, d + 1)
        return items, depth

    def _eval(self, e: A.Expr, env: _Env) -> Any:
        t = e.__class__
        if t is A.BinOp:
            a, b = self._eval(e.left, env), self._eval(e.right, env)
            if not (a.__class__ in _NUMBER and b.__class__ in _NUMBER or _is_num(a) and _is_num(b)):
                raise _EvalError(e.span, "invalid-expression",
                                 f"'{e.op}' needs two numbers, got {_describe(a)} and {_describe(b)}")
            op = e.op
            if b == 0 and op in ("/", "//", "%"):
                raise _EvalError(e.right.span, "invalid-expression", "division by zero")
            try:
                r = _BINOPS[op](a, b)
            except OverflowError:
                raise _EvalError(e.span, "limit", "number too large") from None
            if r.__class__ is int:
                if (r > MAX_INT or r < -MAX_INT):
                    raise _EvalError(e.span, "limit", f"number too large ({len(str(r))} digits)",
                                     "graphc works with sizes below 2**62")
            elif isinstance(r, float) and math.isinf(r):
                raise _EvalError(e.span, "limit", "number too large for a float", "floats go up to about 1.8e308")
            return r
        if t is A.Num or t is A.Str or t is A.Const:
            return e.value
        if t is A.Name:
            b = env.lookup(e.id)
            if isinstance(b, _Const):
                if b.value is _ERR:
                    raise _Silent()
                return b.value
            if isinstance(b, _Value):
                raise _EvalError(e.span, "invalid-expression",
                                 f"'{e.id}' is a tensor, not a constant",
                                 "tensors go first in a call, e.g. add(a, b) or concat(a, b, dim=1)")
            raise _EvalError(e.span, "undefined-name", f"undefined name '{e.id}'",
                             self._name_hint(e.id, env))
        if t is A.Neg:
            v = self._eval(e.operand, env)
            if not _is_num(v):
                raise _EvalError(e.span, "invalid-expression", f"cannot negate {_describe(v)}")
            return -v
        if t is A.TupleLit or t is A.ListLit:
            v = tuple([self._eval(x, env) for x in e.items])
            items, depth = self._measure(v)
            if depth > MAX_NESTING:  # through constants: (a,) with a = (b,) with b = (c,)...
                raise _EvalError(e.span, "limit", f"a tuple nested more than {MAX_NESTING} levels deep",
                                 "each tuple or list inside another, through constants too, nests one level")
            self._tuples[id(v)] = (v, items, depth)
            return v
        if t is A.Call:
            raise _EvalError(e.span, "invalid-expression", f"a call ('{e.kind}(...)') is not a value here",
                             "calls are layers in a chain, or initializers in weight_init=, bias_init= "
                             "and the init section")
        raise AssertionError(e)  # pragma: no cover

    def suggest(self, word: str, candidates) -> str | None:
        """A did-you-mean hint, while the file's HINT_BUDGET lasts."""
        candidates = candidates if isinstance(candidates, (list, dict, set)) else list(candidates)
        if len(candidates) > self.hint_budget:
            return None
        self.hint_budget -= len(candidates)
        return did_you_mean(word, candidates)

    def _name_hint(self, name: str, env: _Env) -> str | None:
        if name in ("True", "False", "None"):
            return f"write {name.lower()}"
        scopes = []
        e = env
        while e is not None:
            scopes.append(e.names)
            e = e.parent
        if sum(map(len, scopes)) > self.hint_budget:  # before building the set: it costs as much
            return None
        return self.suggest(name, set().union(*scopes))

    def const_def(self, st: A.ConstDef, env: _Env) -> None:
        v = self.eval(st.value, env)
        self.define(env, st.name, _Const(v, st.value, st.name.span))

    def define(self, env: _Env, name: A.Name, binding) -> None:
        if self.reserved(name):
            env.names.setdefault(name.id, _Const(_ERR, None, name.span))  # later uses stay quiet
            return
        prev = env.names.get(name.id)
        if prev is not None:
            self.error(name.span, "duplicate-name",
                       f"'{name.id}' is already defined at line {prev.span.line}",
                       "choose another name: names in a model or block are defined once")
            return
        env.names[name.id] = binding

    def reserved(self, name: A.Name) -> bool:
        if name.id in RESERVED_WORDS:
            self.error(name.span, "reserved-name", f"'{name.id}' is a reserved word and cannot name a value",
                       f"choose another name, e.g. '{name.id}_'")
            return True
        return False

    # ---------------------------------------------------------------- bodies
    def body(self, stmts, scope: Scope, env: _Env, tensor_inputs: list[ValueRef] | None) -> None:
        """Lower a model (tensor_inputs None) or a block instance (the caller's tensors)."""
        users = Namespace()
        self._user_names: dict[int, str]
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

    def init_section(self, st: A.InitBlock, env: _Env) -> None:
        """``init { Conv2d = kaiming_normal(...)  weight = ...  bias = zeros() }``."""
        for s in st.settings:
            key = s.name.id
            if key in self.init_rules:
                self.error(s.name.span, "duplicate-name", f"'{key}' is already initialized above")
                continue
            if key not in ("weight", "bias"):
                layer = self.reg.get(key)
                if layer is None or layer.torch_name is None:
                    self.error(s.name.span, "unknown-layer", f"'{key}' is not a layer with parameters",
                               self.suggest(key, self.reg.module_kinds() +
                                            ["weight", "bias"]) or
                               "keys are layer kinds (Conv2d, Linear...), 'weight' or 'bias'")
                    continue
            init = self.initializer(s.value, env)
            if init is not None:
                self.init_rules[key] = (init, s.value.span)

    def model_input(self, st: A.InputDecl, ss: _ScopeState) -> None:
        if self.reserved(st.name):
            return
        if st.dims is None:
            self.error(st.span, "invalid-input", f"model input '{st.name.id}' needs a shape",
                       f"e.g. 'input {st.name.id}: [B, 3, 32, 32]'; B stays symbolic")
            return
        dims = []
        ok = True
        for d in st.dims:
            if isinstance(d, A.Name) and ss.env.lookup(d.id) is None:
                if d.id not in self.bindings:
                    dims.append(Sym(d.id))
                    self.symbols.setdefault(d.id, None)
                    continue
                v = self.symbols[d.id] = self.bindings[d.id]  # --set: checked as a written size
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

    # --------------------------------------------------------------- chains
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
                               self._name_hint(chain.source.id, ss.env) or self._later_hint(chain.source.id, ss))
                self._bind_unknown(st, ss)
                return
            refs: list[ValueRef] | None = [b.ref]
            if not chain.steps and target is not None:
                pass  # an alias: y = x
        else:
            refs = self.apply(chain.source, [], ss, label=chain.source_label,
                              default_name=(target.id if (target and not chain.steps) else None),
                              chain_var=ss.legal_of[target.id] if target else None,
                              want=len(st.targets) if not chain.steps else 1)
            if refs is not None and len(refs) == 1 and chain.source_label is not None:
                self.define(ss.env, chain.source_label, _Value(refs[0], chain.source_label.span))
        for i, step in enumerate(chain.steps):
            if refs is None:
                break
            if len(refs) != 1:
                self.error(step.span, "arity",
                           f"the value before this step is {len(refs)} tensors; a step takes one",
                           "name them (a, b = ...) and continue from one of them")
                refs = None
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
                    self.define(ss.env, step.label, _Value(refs[0], step.label.span))
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
        if (chain.steps or isinstance(chain.source, A.Call)) and ss.scope.items:
            if target is not None:
                ss.scope.items[-1].binds = ss.legal_of[target.id]
            elif not any(t.id in RESERVED_WORDS for t in st.targets):
                ss.scope.items[-1].binds_all = tuple(ss.legal_of[t.id] for t in st.targets)

    def _later_hint(self, name: str, ss: _ScopeState) -> str | None:
        if name in ss.legal_of:
            return f"'{name}' is defined later; values must be defined before use (no cycles)"
        return None

    def _bind_unknown(self, st: A.Assign, ss: _ScopeState) -> None:
        """After an error, bind the targets to an unknown value so later uses stay quiet."""
        for t in st.targets:
            if t.id not in ss.env.names:
                ss.env.names[t.id] = _Const(_ERR, None, t.span)
        for s in st.chain.steps:
            if s.label is not None and s.label.id not in ss.env.names:
                ss.env.names[s.label.id] = _Const(_ERR, None, s.label.span)

    def sequence(self, step: A.Step, refs, ss, default, target):
        """A repeat (``Kind(...) * N``) or a group (``(A -> B)``): one nn.Sequential."""
        n = 1
        if step.repeat is not None:
            n = self.eval(step.repeat, ss.env)
            if n is _ERR:
                return None
            if not isinstance(n, int) or isinstance(n, bool) or n < 1:
                self.error(step.repeat.span, "invalid-argument",
                           f"a repeat count must be a positive integer, got {_describe(n)}")
                return None
            if n > MAX_REPEAT:
                self.error(step.repeat.span, "limit", f"repeat count {n} exceeds the limit of {MAX_REPEAT}")
                return None
        calls = step.call.calls if isinstance(step.call, A.Group) else (step.call,)
        name = ss.legal_of[step.label.id] if step.label else (
            ss.legal_of[default] if default else ss.ns.fresh(
                "sequential" if isinstance(step.call, A.Group) else snake(step.call.kind)))
        rep = Repeat(ss.scope.path(name), name, step.span,
                     chain_var=ss.legal_of[target.id] if target else None)
        ss.scope.items.append(rep)
        sub = _ScopeState(ss.scope, ss.env, Namespace(), ss.legal_of, prefix=rep.id, group=rep)
        for i in range(n * len(calls)):
            call = calls[i % len(calls)]
            refs = self.apply(call, refs, sub, label=None, default_name=None, forced_name=str(i),
                              chain_var=None)
            if refs is None:
                return None
            if len(refs) != 1:
                self.error(call.span, "arity", "each step of a repeat or group must return one tensor")
                return None
        return refs

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
        unknown_input = any(
            a.name is None and isinstance(a.value, A.Name)
            and isinstance(b := ss.env.lookup(a.value.id), _Const) and b.value is _ERR
            for a in args[:1])
        # Attributes are named by labels (``conv1: Conv2d(...)``); an unlabelled
        # module gets a name from its kind.  A tensor expression (add, concat)
        # has no attribute and takes the name of the value it computes.
        layer = self.reg.get(call.kind)
        is_expression = layer is not None and layer.torch_name is None
        if label is not None and self.reserved(label):
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
            return self.instantiate(call, tensors, args, ss, name, unknown_input, chain_var)
        if layer is None:
            hint = self.suggest(call.kind, list(self.reg) + list(self.blocks))
            self.error(call.kind_span, "unknown-layer", f"unknown layer '{call.kind}'",
                       hint or "see docs/language.md for the layer list, or define a block")
            return None
        if unknown_input:
            return None
        lo, hi = layer.n_inputs
        if not tensors:
            self.error(call.span, "missing-input", f"{call.kind} has no input tensor",
                       f"start from a value: 'y = x -> {call.kind}(...)'")
            return None
        if len(tensors) < lo or (hi is not None and len(tensors) > hi):
            want = f"{lo}" if lo == hi else (f"at least {lo}" if hi is None else f"{lo} to {hi}")
            self.error(call.span, "arity",
                       f"{call.kind} takes {want} tensor(s), got {len(tensors)}",
                       "in a chain the incoming value is the first tensor" if incoming else None)
            return None
        if ss.group is not None and (len(tensors) != 1 or layer.torch_name is None):
            self.error(call.span, "arity",
                       f"{call.kind} cannot be a step of a repeat or group: each step there is a layer "
                       "that takes only the incoming tensor",
                       "write it as its own step outside the parentheses or the '* N'")
            return None
        args, inits = self.split_inits(layer, call, args, ss.env)
        params, arg_exprs = self.validate(layer, call, args, ss.env)
        if ss.group is not None and params is not None and layer.forward(params, "m", ["x"]) != "m(x)":
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
        if params is None:
            node.outs = None
        if layer.n_outputs is None:  # decided by the shapes (chunk, split): infer checks the count
            node.expected_outputs = want
            return [(node.id, i) for i in range(want)]
        return [(node.id, i) for i in range(layer.n_outputs)]

    def split_inits(self, layer: Layer, call: A.Call, args: list[A.Arg], env: _Env):
        """Take ``weight_init=`` and ``bias_init=`` out of a layer's arguments."""
        rest, inits = [], {}
        for a in args:
            if a.name in ("weight_init", "bias_init"):
                what = a.name[:-5]
                if layer.torch_name is None:
                    self.error(a.name_span or a.span, "invalid-argument",
                               f"{call.kind} has no parameters to initialize")
                else:  # whether it has this weight or bias: initializers.check_inits asks the layer
                    init = self.initializer(a.value, env)
                    if init is not None:
                        inits[what] = (init, a.value.span)
            else:
                rest.append(a)
        return rest, inits

    def initializer(self, e: A.Expr, env: _Env):
        from graphc.initializers import INITIALIZERS, Init

        if isinstance(e, A.Name):
            e = A.Call(e.id, e.span, (), e.span, bare=True)
        if not isinstance(e, A.Call):
            self.error(e.span, "invalid-argument", "an initializer is a call, e.g. kaiming_normal()",
                       f"one of: {', '.join(INITIALIZERS)}")
            return None
        info = INITIALIZERS.get(e.kind)
        if info is None:
            self.error(e.kind_span, "unknown-component", f"unknown initializer '{e.kind}'",
                       self.suggest(e.kind, INITIALIZERS) or f"one of: {', '.join(INITIALIZERS)}")
            return None
        b = bind(self, env, signature(e.kind, info.schema), e.span, e.args)
        return Init(e.kind, b.params) if b.ok else None

    def validate(self, layer: Layer, call: A.Call, args: list[A.Arg], env: _Env):
        """Map positional and keyword args to the parameter schema; diagnose each problem."""
        b = bind(self, env, signature(call.kind, layer.Params, layer.positional), call.span, args)
        return (b.params if b.ok else None), b.exprs

    # --------------------------------------------------------------- blocks
    def instantiate(self, call: A.Call, tensors, args, ss: _ScopeState, name: str,
                    unknown_input: bool, chain_var: str | None = None):
        block = self.blocks[call.kind]
        if call.kind in self.stack:
            self.error(call.kind_span, "recursion",
                       f"block '{call.kind}' uses itself ({' -> '.join(self.stack + [call.kind])})",
                       "blocks cannot be recursive; repeat with '* N' instead")
            return None
        if len(self.stack) >= MAX_BLOCK_DEPTH:
            self.error(call.span, "limit", f"blocks nested deeper than {MAX_BLOCK_DEPTH}")
            raise _Abort()
        if unknown_input:
            return None
        if ss.group is not None and len(tensors) != 1:
            self.error(call.span, "arity",
                       f"block {call.kind} takes only the incoming tensor inside a repeat or group",
                       "write it as its own step outside the parentheses or the '* N'")
            return None
        env = _Env(self.globals)
        pnames = tuple(p.name.id for p in block.params)
        sig = Signature(f"block {call.kind}", call.kind, pnames, pnames,
                        frozenset(p.name.id for p in block.params if p.default is None), noun="parameter")
        b = bind(self, ss.env, sig, call.span, args)
        if not b.ok:
            return None
        values, exprs = b.values, b.exprs
        for p in block.params:
            if p.name.id not in values:
                values[p.name.id] = self.eval(p.default, self.globals)
        if any(v is _ERR for v in values.values()):
            return None
        for p in block.params:
            env.names[p.name.id] = _Const(values[p.name.id], p.default, p.name.span, is_param=True)
        sid = (f"{ss.prefix}.{name}" if ss.prefix else ss.scope.path(name))
        scope = Scope(sid, name, block, call.span, ss.scope, values, exprs, chain_var=chain_var)
        (ss.group.members if ss.group is not None else ss.scope.items).append(scope)
        self.stack.append(call.kind)
        try:
            self.body(block.body, scope, env, tensor_inputs=tensors)
        except _ArityError as e:
            self.error(call.span, "arity",
                       f"block {call.kind} takes {e.n} tensor(s), got {len(tensors)}",
                       "in a chain the incoming value is the first tensor")
            return None
        finally:
            self.stack.pop()
        if not any(isinstance(st, A.OutputDecl) for st in block.body):
            if call.kind not in self.reported_no_output:
                self.reported_no_output.add(call.kind)
                self.error(block.name.span, "invalid-output", f"block '{call.kind}' has no output",
                           "add 'output <name>'")
            return None
        if getattr(scope, "poisoned", False) or not scope.outputs:
            return None
        return [ref for _, ref in scope.outputs]

    def add_node(self, node: Node) -> None:
        if len(self.nodes) >= MAX_NODES:
            self.error(node.span, "limit", f"the model expands to more than {MAX_NODES:,} layers")
            raise _Abort()
        self.nodes[node.id] = node


class _ScopeState:
    def __init__(self, scope: Scope, env: _Env, ns: Namespace, legal_of: dict[str, str],
                 prefix: str | None = None, group: Repeat | None = None):
        self.scope, self.env, self.ns, self.legal_of = scope, env, ns, legal_of
        self.prefix, self.group = prefix, group


class _ArityError(Exception):
    def __init__(self, n: int):
        self.n = n


class _EvalError(Exception):
    def __init__(self, span: Span, code: str, message: str, hint: str | None = None):
        self.span, self.code, self.message, self.hint = span, code, message, hint


class _Silent(_EvalError):
    """An expression over a name whose definition already failed: no second report."""

    def __init__(self):
        pass


def _is_num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _describe(v) -> str:
    if _is_num(v):
        return str(v)
    if isinstance(v, bool):
        return f"the boolean {str(v).lower()}"
    if v is None:
        return "none"
    if isinstance(v, str):
        return f"the string {_fmt(v)}"
    if isinstance(v, tuple):
        return f"the tuple {_fmt(v)}"
    return f"{type(v).__name__} {v}"


_NUMBER = frozenset({int, float})
_LEAVES = frozenset({A.Num, A.Str, A.Const, A.Name})
_BINOPS = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv,
           "//": operator.floordiv, "%": operator.mod}


def _size_and_names(e: A.Expr) -> tuple[int, tuple[str, ...] | None]:
    """The number of nodes of an expression, and, when it is large enough to memoize
    (_MEMO_MIN), the names it reads, in order; iterative (expressions nest up to MAX_NESTING)."""
    size, names, stack = 0, {}, [e]
    while stack:
        x = stack.pop()
        size += 1
        t = x.__class__
        if t is A.BinOp:
            stack += (x.right, x.left)
        elif t is A.Neg:
            stack.append(x.operand)
        elif t is A.TupleLit or t is A.ListLit:
            stack += reversed(x.items)
        elif t is A.Name:
            names.setdefault(x.id, None)
        # a call's arguments are never evaluated (a call is an error): nothing below it counts
    return size, (tuple(names) if size >= _MEMO_MIN else None)


def _value_key(v, tuple_info) -> Any:
    """A dict key that tells apart values Python calls equal (1, 1.0 and true; 0.0 and -0.0),
    or None for a value not worth a key (a tuple of more than _KEY_ITEMS items)."""
    c = v.__class__
    if c is tuple:
        if tuple_info(v)[1] > _KEY_ITEMS:
            return None
        keys = tuple(_value_key(x, tuple_info) for x in v)
        return None if None in keys else (tuple, keys)
    if c is float:
        return (float, v, math.copysign(1.0, v))
    if c is int or c is bool or c is str or v is None:
        return (c, v)
    if v is _ERR:
        return v
    return None


def lower(file: A.File, bindings: dict[str, int] | None = None) -> tuple[Program | None, list[Diagnostic]]:
    lw = Lowerer(file)
    lw.bindings = dict(bindings or {})
    prog = lw.run()
    if prog is not None:
        prog.file = file  # the emitter writes the top-level constants as they are written
    return prog, lw.diags


def lowerer_with_constants(consts: dict[str, Any], path: str):
    """A function ``lower_file(file) -> (Program | None, diagnostics)`` that lowers files of
    blocks and one model against the top-level constants ``consts`` (name -> value, as
    ``Program.consts`` holds them), bound once for every call, instead of evaluating const
    definitions (the files hold none).  graphc.emit.provenance lowers single uses of a block
    this way, many times, without paying for the constants of the file again."""
    shared = _Env()
    span = Span(path, 1, 1, 1, 2)
    shared.names.update((name, _Const(value, None, span)) for name, value in consts.items())

    def lower_file(file: A.File) -> tuple[Program | None, list[Diagnostic]]:
        lw = Lowerer(file)
        lw.globals = _Env(shared)  # what lowering binds at top level goes here, not in ``shared``
        return lw.run(), lw.diags

    return lower_file


__all__ = ["lower", "REGISTRY", "DTYPES"]
