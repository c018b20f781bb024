"""Trials: which sizes of a block move with which of its parameters and input sizes.

A block class's constructor must build, for any argument values and input sizes the block
accepts, the layers the ``.model`` block builds for them: ``Stem(8)`` must not hold the
``BatchNorm2d(16)`` of the model's ``Stem(16)``.  Comparing a size with the arguments of the
block's uses cannot tell where it comes from when the uses agree (one use, or several with
equal values): 16 may be the parameter ``c`` and also the channels of the input, unrelated.

So each block class is lowered and inferred again on its own, in *trials*: a one-use model
whose inputs have the shapes of the class's first use, with the same arguments, except that
one *variable* is changed — a positive integer argument of the block or an integer size of
one of its inputs doubled, a boolean argument negated (``bidirectional=b`` doubles a size).
Integer variables with equal values in that use are also doubled together (an
``add(x)`` may tie the input's channels to ``c``: neither can change alone), and at the end
all at once.  A trial that fails to check, or gives the block another structure (a repeat
count, a ``dim`` used in forward), is dropped.  The emitter then treats the trials' block
scopes as more uses of the class: a size is written as a parameter (or an expression of
parameters, see graphc.emit.values) only if that expression gives its value in every use
*and* every trial, so a size that moved with another variable than the one named is caught,
and a size that moved with no variable is a literal.  (Arguments of other types, strings and
tuples, are not varied: a size that depends on one only is written as in the first use.)

Trials cost a lowering of the block's body each; their total size is bounded (TRIAL_BUDGET),
inner blocks first.  Past it, a class keeps only the evidence of its uses (a size that
agrees with a parameter in every use is written as it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

from graphc import ast as A
from graphc.graph import Program, Repeat, Scope
from graphc.layers.base import TensorType

#: Nodes lowered by all trials of one emit together: this many, or four times the program's.
TRIAL_BUDGET = 20_000
#: Variables a class is tried with, at most (more would be a block with dozens of inputs).
MAX_VARIABLES = 24

Var = tuple  # ("arg", name) | ("in", input index, negative dim index)


@dataclass
class Trials:
    """The trial scopes of every class, and the program each trial scope belongs to."""

    prog: Program
    budget: int = 0
    program_of: dict[int, Program] = field(default_factory=dict)  # id(scope) -> its trial's Program
    _keep: list = field(default_factory=list)  # keeps trial programs (and so the ids above) alive
    _lower = None

    def __post_init__(self):
        self.budget = max(TRIAL_BUDGET, 4 * len(self.prog.nodes))

    def program(self, scope: Scope) -> Program:
        return self.program_of.get(id(scope), self.prog)

    def type_of(self, scope: Scope, ref) -> TensorType | None:
        return self.program(scope).type_of(ref)

    def node(self, scope: Scope, rel: str):
        """The node at ``rel`` (a dotted path relative to ``scope``) of a use or a trial."""
        return self.program(scope).nodes.get(f"{scope.id}.{rel}" if scope.id else rel)

    # ---------------------------------------------------------------- trials
    def run(self, s0: Scope, signature: tuple) -> list[Scope]:
        """Trial scopes for the class of ``s0`` (block scopes of the same structure)."""
        if self.prog.file is None:
            return []
        cost = _size(s0)
        variables = self.variables(s0)
        if not variables:
            return []
        # changed together: every group of equal integers, then each member of a group alone,
        # then all variables at once (evidence against a sum that fits the others by chance)
        groups: dict[object, list[Var]] = {}
        for v, value in variables.items():
            groups.setdefault((type(value), value) if type(value) is int else v, []).append(v)
        plans = list(groups.values())
        plans += [[v] for g in groups.values() if len(g) > 1 for v in g]
        if len(groups) > 1:
            plans.append(list(variables))
        out = []
        for changed in plans:
            if self.budget < cost:
                break
            self.budget -= cost
            scope = self._trial(s0, {v: _changed(variables[v]) for v in changed})
            if scope is not None and tuple(_signature(i) for i in scope.items) == signature:
                out.append(scope)
        return out

    def variables(self, s0: Scope) -> dict[Var, int | bool]:
        """What a trial changes: positive integer and boolean arguments (``bidirectional=b``
        doubles a size), positive integer sizes of the inputs."""
        out: dict[Var, int | bool] = {}
        for p in s0.definition.params:
            v = s0.args.get(p.name.id)
            if type(v) is bool or (type(v) is int and v > 0):
                out[("arg", p.name.id)] = v
        for j, (_, ref) in enumerate(s0.inputs):
            t = self.type_of(s0, ref)
            if t is None:
                continue
            for d in range(-1, -len(t.shape) - 1, -1):
                if type(t.shape[d]) is int and t.shape[d] > 0:
                    out[("in", j, d)] = t.shape[d]
        return dict(list(out.items())[:MAX_VARIABLES])

    def _trial(self, s0: Scope, changed: dict[Var, int]) -> Scope | None:
        from graphc.infer import infer
        from graphc.lower import lowerer_with_constants

        if self._lower is None:
            self._lower = lowerer_with_constants(self.prog.consts, self.prog.path)
        block = s0.definition
        span = block.span
        taken = set(self.prog.consts) | set(self.prog.symbols)
        fresh = _Fresh(taken)
        body: list = []
        tensors = []
        for j, (_, ref) in enumerate(s0.inputs):
            t = self.type_of(s0, ref)
            if t is None:
                return None
            dims = []
            for d in range(-1, -len(t.shape) - 1, -1):
                dim = changed.get(("in", j, d), t.shape[d])
                if isinstance(dim, int):
                    dims.append(A.Num(dim, span))
                else:  # a symbol: its own name when it is one, a sum or product of symbols as written
                    # (16*h: the halvings and skips of a U-Net stay equal), else a new one (no algebra)
                    e = _sym_ast(dim, span, self.prog.consts)
                    dims.append(e if e is not None else A.Name(fresh("s"), span))
            name = fresh("x")
            tensors.append(A.Arg(None, A.Name(name, span), span))
            body.append(A.InputDecl(A.Name(name, span), t.dtype, tuple(reversed(dims)), span))
        args = []
        for p in block.params:
            value = changed.get(("arg", p.name.id), s0.args[p.name.id])
            args.append(A.Arg(p.name.id, value_expr(value, span), span))
        outs = tuple(A.Name(fresh("y"), span) for _ in s0.outputs) or (A.Name(fresh("y"), span),)
        call = A.Call(block.name.id, span, tuple(tensors + args), span)
        body.append(A.Assign(outs, A.Chain(call, (), span), span))
        body.append(A.OutputDecl(outs, span))
        model = A.ModelDef(A.Name(fresh("Trial"), span), tuple(body), span)
        blocks = tuple(self.prog.blocks[k] for k in _kinds(s0))
        try:
            prog, diags = self._lower(A.File(self.prog.path, blocks + (model,), span))
            if prog is None or any(d.severity == "error" for d in diags):
                return None
            if any(d.severity == "error" for d in infer(prog)):
                return None
        except Exception:  # noqa: BLE001 - values no file wrote tripped a layer: the trial says nothing
            return None
        scope = next((it for it in prog.root.items if isinstance(it, Scope)), None)
        if scope is None:
            return None
        self._keep.append(prog)
        for s in prog.scopes():
            self.program_of[id(s)] = prog
        return scope


def _sym_ast(dim, span, consts) -> A.Expr | None:
    """A symbolic size as an input declaration can write it: a symbol, or sums and products of
    symbols and positive integers (``2*h + 1``); None for anything else (floor, a difference)."""
    from graphc.shapes import Sym

    if dim.name is not None:  # a plain symbol: no sympy needed
        return A.Name(dim.name, span) if dim.name not in consts else None
    e = Sym.as_expr(dim)

    def walk(x):
        if x.is_Symbol:
            return A.Name(str(x), span) if str(x) not in consts else None
        if x.is_Integer and int(x) > 0:
            return A.Num(int(x), span)
        if (x.is_Add or x.is_Mul) and x.args:
            parts = [walk(a) for a in x.args]
            if any(p is None for p in parts):
                return None
            out = parts[0]
            for p in parts[1:]:
                out = A.BinOp("+" if x.is_Add else "*", out, p, span)
            return out
        if x.is_Pow and x.exp.is_Integer and 1 < int(x.exp) <= 4:
            base = walk(x.base)
            if base is None:
                return None
            out = base
            for _ in range(int(x.exp) - 1):
                out = A.BinOp("*", out, base, span)
            return out
        return None

    return walk(e)


def _changed(value: int | bool) -> int | bool:
    return (not value) if type(value) is bool else 2 * value


class _Fresh:
    def __init__(self, taken: set[str]):
        self.taken = taken

    def __call__(self, base: str) -> str:
        i = 0
        while f"{base}{i}" in self.taken:
            i += 1
        self.taken.add(f"{base}{i}")
        return f"{base}{i}"


def value_expr(value, span) -> A.Expr:
    """A value as a ``.model`` expression that evaluates to it (its type included)."""
    if value is None or isinstance(value, bool):
        return A.Const(value, span)
    if isinstance(value, (int, float)):
        return A.Num(value, span)
    if isinstance(value, str):
        return A.Str(value, span)
    assert isinstance(value, tuple), value
    return A.TupleLit(tuple(value_expr(v, span) for v in value), span)


def _kinds(s0: Scope) -> list[str]:
    """The blocks a use of ``s0``'s block lowers: its own and those of nested uses."""
    seen: dict[str, None] = {}
    stack = [s0]
    while stack:
        s = stack.pop()
        seen.setdefault(s.kind)
        for it in s.items:
            if isinstance(it, Scope):
                stack.append(it)
            elif isinstance(it, Repeat):
                todo = list(it.members)
                while todo:  # nested groups' members too
                    m = todo.pop()
                    if isinstance(m, Scope):
                        stack.append(m)
                    elif isinstance(m, Repeat):
                        todo += m.members
    return list(seen)


def _size(s: Scope) -> int:
    """Nodes and scopes under ``s``: what lowering it again costs."""
    n, stack = 0, [s]
    while stack:
        x = stack.pop()
        n += 1
        if isinstance(x, Scope):
            stack += x.items
        elif isinstance(x, Repeat):
            stack += x.members
    return n


def _signature(item) -> tuple:
    from graphc.emit.plan import signature

    return signature(item)


def solve_exact(columns: list[list[int]], target: list[int]) -> list[Fraction] | None:
    """x with sum(x[k] * columns[k][i]) == target[i] for every i, or None.  A column that is
    a combination of those before it (a size the block ties to others: the skip input twice
    as wide as x) gets 0, so the solution is unique: the earlier columns are preferred."""
    n, m = len(columns), len(target)
    rows = [[Fraction(col[i]) for col in columns] + [Fraction(target[i])] for i in range(m)]
    pivot_of: dict[int, int] = {}  # column -> its pivot row
    r = 0
    for c in range(n):
        p = next((i for i in range(r, m) if rows[i][c] != 0), None)
        if p is None:
            continue  # dependent on the columns before: left out
        rows[r], rows[p] = rows[p], rows[r]
        pivot = rows[r][c]
        rows[r] = [x / pivot for x in rows[r]]
        for i in range(m):
            if i != r and rows[i][c] != 0:
                f = rows[i][c]
                rows[i] = [x - f * y for x, y in zip(rows[i], rows[r])]
        pivot_of[c] = r
        r += 1
    if any(row[n] != 0 for row in rows[r:]):
        return None  # inconsistent: no such sum
    return [rows[pivot_of[c]][n] if c in pivot_of else Fraction(0) for c in range(n)]
