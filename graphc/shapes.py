"""Dims and shapes, and the size formulas every layer shares (written once, here).

A dim is a Python ``int`` or a :class:`Sym`.  A ``Sym`` made from a name (the
batch ``B``, a user's ``T``) needs no algebra; only arithmetic on symbols loads
sympy, so checking an all-concrete model never imports it.  Python operators
work on both kinds, so one formula serves concrete and symbolic sizes:
``(n + 2 * p - d * (k - 1) - 1) // s + 1``.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import math

#: Symbolic size arithmetic simplifies with sympy, at a cost that grows with the size of each
#: expression: one compile's inference simplifies at most this many expression terms in all
#: (ResNet-50 with symbolic H and W needs about 1,100; ``Conv2d(...) * 10000`` on a symbolic
#: input would need hours), then a ``limit`` error.
MAX_SYMBOLIC_TERMS = 3_000
#: ... and simplifies no size with floor, ceil, min or max nested deeper than this: sympy's
#: time grows about fivefold with each level (stride-2 convs alternating with ceil_mode pools
#: nest one level each; a chain of either alone stays one level deep).
MAX_SYMBOLIC_NESTING = 4

#: The largest size graphc accepts for a dimension, declared or computed: far beyond any
#: real tensor, far below int64's range, so a size that grows without bound (``Upsample``
#: repeated 2,000 times) is an error instead of a 1,200-digit number.
MAX_DIM = 2**40

_budget: contextvars.ContextVar = contextvars.ContextVar("graphc_symbolic_budget", default=None)


class SymbolicLimit(Exception):
    """Past MAX_SYMBOLIC_TERMS or MAX_SYMBOLIC_NESTING inside ``symbolic_budget()``."""


@contextlib.contextmanager
def symbolic_budget(terms: int = MAX_SYMBOLIC_TERMS):
    """Within the block, each distinct expression simplified counts its size, and the one
    past ``terms`` in all raises SymbolicLimit (the same text always gives the same count:
    the cache below is shared between compiles, the count is not).  Outside any such block
    nothing is limited."""
    token = _budget.set(({}, [terms]))
    try:
        yield
    finally:
        _budget.reset(token)


def _simplify(e):
    """sympy's simplify, once per expression: the same formulas recur (every use of a block,
    the MACs of equal layers).  A product of symbols is already in its simplest form."""
    if e.is_Mul and all(a.is_Symbol or a.is_Integer or (a.is_Pow and a.base.is_Symbol) for a in e.args):
        return e
    budget = _budget.get()
    if budget is not None and e not in budget[0]:
        budget[0][e] = None
        size, nesting = _size_and_nesting(e)
        budget[1][0] -= size
        if budget[1][0] < 0 or nesting > MAX_SYMBOLIC_NESTING:
            raise SymbolicLimit()
    return _simplified(e)


@functools.lru_cache(maxsize=4096)
def _simplified(e):
    return _sympy().simplify(e)


def _size_and_nesting(e) -> tuple[int, int]:
    """The number of nodes of an expression, and how deep floor, ceiling, Min and Max nest in it."""
    sp = _sympy()
    rounding = (sp.floor, sp.ceiling, sp.Min, sp.Max)
    size, nesting, stack = 0, 0, [(e, 0)]
    while stack:
        x, depth = stack.pop()
        size += 1
        if isinstance(x, rounding):
            depth += 1
            nesting = max(nesting, depth)
        stack.extend((a, depth) for a in x.args)
    return size, nesting


def _sympy():
    import sympy

    return sympy


class Sym:
    """A symbolic dimension: a monomial ``coef * B * T^2`` (no algebra library needed), or a
    sympy expression over names once a formula needs more than that (a sum of different
    monomials, a floor).  Shapes and MACs of sequence models (``B*T*512``) stay monomials."""

    __slots__ = ("_mono", "_coef", "_expr")

    def __init__(self, name: str | None = None, expr=None, coef: int = 1):
        self._mono = ((name, 1),) if name is not None else None
        self._coef = coef
        self._expr = expr if name is None else None

    @classmethod
    def _monomial(cls, mono: tuple[tuple[str, int], ...], coef: int) -> Dim:
        """``coef`` times the names to their powers (sorted by name, as sympy prints them)."""
        if coef == 0:
            return 0
        if not mono:
            return coef
        out = cls.__new__(cls)
        out._mono, out._coef, out._expr = mono, coef, None
        return out

    # ------------------------------------------------------------ internals
    @property
    def fast(self) -> bool:
        return self._mono is not None

    @property
    def expr(self):
        if self._mono is not None:
            sp = _sympy()
            e = sp.Integer(self._coef)
            for name, power in self._mono:
                sym = sp.Symbol(name, integer=True, positive=True)
                e = e * (sym if power == 1 else sym ** power)
            return e
        return self._expr

    @property
    def name(self) -> str | None:
        """The symbol's name when it is a plain symbol, else None."""
        if self._mono is not None and self._coef == 1 and len(self._mono) == 1 and self._mono[0][1] == 1:
            return self._mono[0][0]
        return None

    @staticmethod
    def wrap(e, simplified: bool = False) -> Dim:
        if not e.is_Atom and not simplified:
            e = _simplify(e)
        if e.is_Integer:
            return int(e)
        mono = _as_monomial(e)
        if mono is not None:
            return Sym._monomial(*mono)
        return Sym(None, e)

    @staticmethod
    def as_expr(d: Dim):
        return d.expr if isinstance(d, Sym) else _sympy().Integer(d)

    def _op(self, other, fn) -> Dim:
        if not isinstance(other, (int, Sym)):
            return NotImplemented
        return Sym.wrap(fn(Sym.as_expr(self), Sym.as_expr(other)))

    def _scaled(self, coef: int) -> Dim:
        return Sym._monomial(self._mono, coef)

    def __add__(self, o):
        if isinstance(o, int) and o == 0:
            return self
        if isinstance(o, Sym) and self.fast and o.fast and o._mono == self._mono:
            return self._scaled(self._coef + o._coef)
        if isinstance(o, int) and not isinstance(o, bool):  # sympy folds the constant term itself
            return Sym.wrap(self.expr + o, simplified=True)
        return self._op(o, lambda a, b: a + b)

    def __radd__(self, o):
        return self.__add__(o)

    def __sub__(self, o):
        if isinstance(o, int) and o == 0:
            return self
        if isinstance(o, Sym) and self.fast and o.fast and o._mono == self._mono:
            return self._scaled(self._coef - o._coef)
        if isinstance(o, int) and not isinstance(o, bool):
            return Sym.wrap(self.expr - o, simplified=True)
        return self._op(o, lambda a, b: a - b)

    def __rsub__(self, o):
        return self._op(o, lambda a, b: b - a)

    def __mul__(self, o):
        if isinstance(o, int) and not isinstance(o, bool) and self.fast:
            return self._scaled(self._coef * o)
        if isinstance(o, int) and o == 1:
            return self
        if not isinstance(o, (int, Sym)):
            return NotImplemented
        if isinstance(o, Sym) and self.fast and o.fast:
            powers = dict(self._mono)
            for name, power in o._mono:
                powers[name] = powers.get(name, 0) + power
            return Sym._monomial(tuple(sorted(powers.items())), self._coef * o._coef)
        # factors are simplified already, and sympy keeps a product of them canonical enough
        # (simplify() here was most of the time of a symbolic ResNet-50: its MACs)
        return Sym.wrap(_tidy(Sym.as_expr(self) * Sym.as_expr(o)), simplified=True)

    def __rmul__(self, o):
        return self.__mul__(o)

    def __floordiv__(self, o):
        if isinstance(o, int) and self.fast and o != 0 and self._coef % o == 0:
            return self._scaled(self._coef // o)
        return self._op(o, _floordiv)

    def __rfloordiv__(self, o):
        return self._op(o, lambda a, b: _sympy().floor(b / a))

    def __neg__(self):
        return self * -1 if self.fast else Sym.wrap(-self.expr)

    def __eq__(self, other) -> bool:
        if isinstance(other, Sym):
            if self.fast and other.fast:
                return self._mono == other._mono and self._coef == other._coef
            if self.fast != other.fast:
                return False  # wrap() keeps every monomial in the fast form
            return bool(_simplify(self.expr - other.expr) == 0)
        return False

    def __hash__(self) -> int:
        return hash((self._mono, self._coef)) if self.fast else hash(str(self._expr))

    def __str__(self) -> str:
        if self.fast:  # as sympy prints it: -B*T, 3*B^2*T
            mono = "*".join(name if power == 1 else f"{name}^{power}" for name, power in self._mono)
            return mono if self._coef == 1 else f"-{mono}" if self._coef == -1 else f"{self._coef}*{mono}"
        return _pretty(self._expr)

    __repr__ = __str__

    @property
    def largest_number(self) -> int:
        """The largest absolute integer in the expression: a coefficient or a constant term."""
        if self.fast:
            return abs(self._coef)
        sp = _sympy()
        return max((abs(int(a)) for a in self._expr.atoms(sp.Integer)), default=0)

    @property
    def free_names(self) -> set[str]:
        if self.fast:
            return {name for name, _ in self._mono}
        return {str(s) for s in self._expr.free_symbols}

    def substitute(self, values: dict[str, int]) -> Dim:
        if self.fast:
            coef, rest = self._coef, []
            for name, power in self._mono:
                if name in values:
                    coef *= values[name] ** power
                else:
                    rest.append((name, power))
            return self if len(rest) == len(self._mono) else Sym._monomial(tuple(rest), coef)
        if not (self.free_names & set(values)):
            return self
        return _substituted(self._expr, tuple(sorted(values.items())))


def _as_monomial(e) -> tuple[tuple[tuple[str, int], ...], int] | None:
    """``(names and powers, coefficient)`` when a sympy expression is an integer times a
    product of symbols to positive integer powers, else None."""
    coef, factors = 1, []
    for f in (e.args if e.is_Mul else (e,)):
        if f.is_Integer:
            coef *= int(f)
        elif f.is_Symbol:
            factors.append((str(f), 1))
        elif f.is_Pow and f.base.is_Symbol and f.exp.is_Integer and f.exp > 0:
            factors.append((str(f.base), int(f.exp)))
        else:
            return None
    return (tuple(sorted(factors)), coef) if factors else None


# Printing, substituting and factoring a sympy expression each take about a millisecond, and
# the same few expressions recur thousands of times (every shape comment, diagram label,
# summary row and explain line of a long symbolic model): each is done once per expression.
@functools.lru_cache(maxsize=4096)
def _substituted(e, values: tuple[tuple[str, int], ...]) -> Dim:
    sp = _sympy()
    subs = {sp.Symbol(k, integer=True, positive=True): v for k, v in values}
    return Sym.wrap(_tidy(e.subs(subs)), simplified=True)


def _tidy(e):
    """A product of simplified sizes as it reads best, without simplify(): sympy distributes
    a number over a sum, 8*(floor(h) + 1) -> 8*floor(h) + 8, which reads worse for a rounded
    size; factor_terms() undoes that (64*T + 513, and long sums, stay as they are)."""
    return _factored(e) if e.is_Add and len(e.args) <= 2 else e


@functools.lru_cache(maxsize=4096)
def _factored(e):
    sp = _sympy()
    return sp.factor_terms(e) if e.has(sp.floor, sp.ceiling, sp.Min, sp.Max) else e


def _floordiv(a, b):
    """floor(a / b), folding nested floors: floor((floor(u) + c) / s) = floor((u + c) / s)
    for integers c and s > 0, so chains of convs and pools stay one floor deep."""
    return _rounded_div(_sympy().floor, a, b)


def _ceildiv(a, b):
    """ceil(a / b), folding nested ceilings as _floordiv folds floors (ceil_mode pools)."""
    return _rounded_div(_sympy().ceiling, a, b)


def _rounded_div(rnd, a, b):
    if b.is_Integer and b > 0:
        if isinstance(a, rnd):
            return rnd(a.args[0] / b)
        if a.is_Add:
            inner = [t for t in a.args if isinstance(t, rnd)]
            if len(inner) == 1 and all(t.is_Integer for t in a.args if t is not inner[0]):
                return rnd((inner[0].args[0] + (a - inner[0])) / b)
    return rnd(a / b)


@functools.lru_cache(maxsize=4096)
def _pretty(e) -> str:
    """Symbolic sizes as people write them: ``floor((H - 3)/2) + 1``, ``3*H^2`` (cached, as
    ``_substituted``)."""
    return _printer().doprint(e).replace("**", "^")


_PRINTER = None


def _printer():
    global _PRINTER
    if _PRINTER is None:
        sp = _sympy()
        from sympy.printing.str import StrPrinter

        class Printer(StrPrinter):
            def _rounded(self, name, arg):
                num, den = sp.fraction(sp.together(arg))
                if den == 1:
                    return f"{name}({self._print(arg)})"
                top = self._print(num)
                return f"{name}(({top})/{self._print(den)})" if num.is_Add else f"{name}({top}/{self._print(den)})"

            def _print_floor(self, expr):
                return self._rounded("floor", expr.args[0])

            def _print_ceiling(self, expr):
                return self._rounded("ceil", expr.args[0])

        _PRINTER = Printer()
    return _PRINTER


Dim = int | Sym
Shape = tuple  # tuple[Dim, ...]


def is_concrete(d: Dim) -> bool:
    return isinstance(d, int)


def dim_str(d: Dim) -> str:
    return str(d)


def shape_str(shape: Shape | None) -> str:
    if shape is None:
        return "?"
    return "(" + ", ".join(dim_str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def numel(dims) -> Dim:
    out: Dim = 1
    for d in dims:
        out = out * d
    return out


def dim_sum(dims) -> Dim:
    """``sum(dims)`` with at most one symbolic simplification, not one per term: a total over
    10,000 symbolic layers would otherwise simplify 10,000 growing sums."""
    total, terms = 0, []
    for d in dims:
        if isinstance(d, int):
            total += d
        else:
            terms.append(d)
    if not terms:
        return total
    if all(t.fast and t._mono == terms[0]._mono for t in terms):
        return terms[0]._scaled(sum(t._coef for t in terms)) + total
    if len(terms) == 1:
        return terms[0] + total
    # sympy's Add collects equal terms (8*X + 16*X -> 24*X), which is all a total needs:
    # simplify() of a sum over hundreds of rounded sizes took minutes
    return Sym.wrap(_sympy().Add(*(t.expr for t in terms), total), simplified=True)


def substitute(d: Dim, values: dict[str, int]) -> Dim:
    """``d`` with the named symbols bound to integers."""
    return d if isinstance(d, int) else d.substitute(values)


def ceil_div(a: Dim, b: int) -> Dim:
    if isinstance(a, int):
        return -(-a // b)
    return Sym.wrap(_ceildiv(a.expr, _sympy().Integer(b)))


# ------------------------------------------------------------------ formulas
def conv_out(n: Dim, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> Dim:
    """PyTorch's Conv/MaxPool size: floor((n + 2p - d(k-1) - 1) / s) + 1."""
    return (n + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def pool_out(n: Dim, kernel: int, stride: int, padding: int = 0, dilation: int = 1,
             ceil_mode: bool = False) -> Dim:
    """PyTorch's pooling size, including ceil_mode's rule that the last window
    must start inside the input or the left padding (``pooling_output_shape``)."""
    span = n + 2 * padding - dilation * (kernel - 1) - 1
    if not ceil_mode:
        return span // stride + 1
    out = ceil_div(span, stride) + 1
    if isinstance(out, int) and isinstance(n, int):
        if (out - 1) * stride >= n + padding:
            out -= 1
        return out
    # Symbolic: torch drops the last window when it would start in the right padding,
    # ((out - 1) * stride >= n + padding).  The first window start past n + padding - 1 is
    # ceil((n + padding) / stride), so out - 1 = min(ceil(span / stride), that - 1): the
    # correction takes at most one window, as span < n + padding (padding <= kernel / 2).
    # It can apply only when padding + stride > dilation * (kernel - 1) + 1.
    if padding + stride <= dilation * (kernel - 1) + 1:
        return out
    sp = _sympy()
    last = _ceildiv(Sym.as_expr(n + padding), sp.Integer(stride)) - 1
    return Sym.wrap(sp.Min(Sym.as_expr(out) - 1, last) + 1)


def broadcast(shapes: list[Shape]) -> Shape | None:
    """torch broadcasting of several shapes, or None when they do not broadcast."""
    rank = max(len(s) for s in shapes)
    out: list[Dim] = []
    for i in range(rank):
        dims = [s[len(s) - rank + i] for s in shapes if len(s) - rank + i >= 0]
        result: Dim = 1
        for d in dims:
            if d == 1:
                continue
            if result == 1:
                result = d
            elif result != d:
                return None
        out.append(result)
    return tuple(out)


def normalize_dim(dim: int, rank: int) -> int | None:
    """A possibly negative dim index into ``range(rank)``, or None when out of range."""
    if -rank <= dim < rank:
        return dim % rank
    return None


def prod_int(xs) -> int:
    return math.prod(xs)
