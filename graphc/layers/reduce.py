"""Tensor operations without parameters that reduce a tensor or take parts of it, emitted as
expressions: the reductions mean/sum/max/amax, split, chunk, slice, and positions (the
position of every step of a sequence).

Dims are torch's (the batch is dim 0, negative dims count from the end, a 0-d tensor
takes dims -1 and 0).
"""

from __future__ import annotations

from typing import Annotated

from graphc.layers.base import (
    FLOAT_DTYPES,
    Field,
    Layer,
    NonNegInt,
    Params,
    PosInt,
    Sample,
    ShapeError,
    TensorType,
    need_concrete,
    register,
)
from graphc.layers.tensor_ops import _wrap, _wrap_all
from graphc.pyfmt import literal
from graphc.shapes import Dim, Sym, shape_str


# ------------------------------------------------------------------ reductions
class _Reduce(Layer):
    """A reduction over ``dim`` (an int, a tuple, or none: every dim; an empty tuple is every
    dim too, as in torch), keeping the reduced dims as size 1 when ``keepdim``."""

    category = "other"
    positional = ("dim", "keepdim")
    fn = "sum"
    needs_nonempty = False  # max and amax raise over a dim of size 0

    class Params(Params):
        dim: int | tuple[int, ...] | None = None
        keepdim: bool = False

    def out_dtype(self, dtype: str) -> str:
        return dtype

    def infer(self, p, ins):
        (x,) = ins
        if p.dim is None or p.dim == ():
            dims = list(range(len(x.shape)))
        else:
            dims = _wrap_all(p.dim if isinstance(p.dim, tuple) else (p.dim,), len(x.shape), "dim", x)
        if not x.shape:
            dims = []
        if self.needs_nonempty and any(x.shape[d] == 0 for d in dims):
            raise ShapeError(f"cannot reduce {shape_str(x.shape)} over a dim of size 0", arg="dim",
                             code="shape-nonpositive")
        if p.keepdim:
            shape = tuple(1 if i in dims else n for i, n in enumerate(x.shape))
        else:
            shape = tuple(n for i, n in enumerate(x.shape) if i not in dims)
        return [TensorType(shape, self.out_dtype(x.dtype))]

    def forward(self, p, call, args):
        kw = f", dim={literal(p.dim)}" if p.dim is not None or p.keepdim else ""
        return f"torch.{self.fn}({args[0]}{kw}{', keepdim=True' if p.keepdim else ''})"

    def label(self, p, ins):
        return ("" if p.dim is None else f"dim={literal(p.dim)}") + (" keepdim" if p.keepdim else "")


@register
class mean(_Reduce):
    """``torch.mean(x, dim, keepdim)``: the mean over ``dim`` (none: every dim); needs floats."""

    fn = "mean"
    needs_float = True
    samples = (
        Sample({"dim": (2, 3)}, ((2, 3, 4, 5),)),
        Sample({"dim": 1, "keepdim": True}, ((2, 3, 4),)),
        Sample({}, ((2, 3),)),
    )


@register
class Sum(_Reduce):
    """``torch.sum(x, dim, keepdim)``: the sum over ``dim`` (none: every dim); integer and
    bool tensors sum to int64."""

    kind = "sum"
    samples = (
        Sample({"dim": -1}, ((2, 3, 4),)),
        Sample({"dim": (0, 2), "keepdim": True}, ((2, 3, 4),), "int64"),
        Sample({"keepdim": True}, ((2, 3),)),
        Sample({"dim": ()}, ((2, 3),)),
    )

    def out_dtype(self, dtype):
        return dtype if dtype in FLOAT_DTYPES else "int64"


@register
class amax(_Reduce):
    """``torch.amax(x, dim, keepdim)``: the maximum over ``dim`` (none: every dim)."""

    fn = "amax"
    needs_nonempty = True
    samples = (
        Sample({"dim": (1, 2)}, ((2, 3, 4),)),
        Sample({"dim": 0, "keepdim": True}, ((2, 3),), "int64"),
        Sample({}, ((2, 3),)),
    )


@register
class Max(_Reduce):
    """``torch.max(x, dim, keepdim).values``: the maximum over one dim (none: every dim, when
    keepdim is false)."""

    kind = "max"
    needs_nonempty = True

    class Params(Params):
        dim: int | None = None
        keepdim: bool = False

    def infer(self, p, ins):
        if p.dim is None and p.keepdim:
            raise ShapeError("keepdim=true needs a dim", arg="keepdim", code="invalid-argument",
                             hint="give dim, or use amax, which keeps every dim")
        return super().infer(p, ins)

    def forward(self, p, call, args):
        keepdim = ", keepdim=True" if p.keepdim else ""
        if p.dim is None:
            return f"torch.max({args[0]}{keepdim})"
        return f"torch.max({args[0]}, dim={p.dim}{keepdim}).values"

    samples = (
        Sample({"dim": 1}, ((2, 3, 4),)),
        Sample({"dim": -1, "keepdim": True}, ((2, 3),), "int64"),
        Sample({}, ((2, 3),)),
    )


# ------------------------------------------------------------------ splitting
#: the most pieces one split or chunk may give (each needs a name on the left of ``=``)
MAX_PIECES = 65_536


def _check_pieces(count: int, arg: str) -> None:
    if count > MAX_PIECES:
        raise ShapeError(f"this gives {count:,} pieces; graphc allows at most {MAX_PIECES:,}", arg=arg,
                         code="limit", hint="split into fewer, larger pieces")


def _pieces(n: int, size: int, arg: str = "split_size_or_sections") -> list[int]:
    """torch.split's sizes for a dim of ``n`` in pieces of ``size`` > 0 (the last may be smaller)."""
    count = max(-(-n // size), 1)
    _check_pieces(count, arg)
    return [size] * (count - 1) + [n - size * (count - 1)]


class _Split(Layer):
    category = "reshape"
    n_outputs = None

    def split_dim(self, p, x: TensorType) -> int:
        if not x.shape:
            raise ShapeError("expects at least a 1-d input, got a 0-d tensor", code="shape-rank")
        return _wrap(p.dim, len(x.shape), "dim", x)

    @staticmethod
    def outs(x: TensorType, d: int, sizes: list[Dim]) -> list[TensorType]:
        return [TensorType(x.shape[:d] + (s,) + x.shape[d + 1:], x.dtype) for s in sizes]


@register
class chunk(_Split):
    """``torch.chunk(x, chunks, dim)``: ``chunks`` pieces of ⌈n/chunks⌉ along ``dim`` (default
    0, as torch), the last smaller; fewer pieces when that size covers ``n`` sooner (5 in 4
    chunks gives 2, 2, 1). Write one name per piece: ``a, b = x -> chunk(2, dim=1)``."""

    positional = ("chunks", "dim")

    class Params(Params):
        chunks: PosInt
        dim: int = 0

    def infer(self, p, ins):
        (x,) = ins
        d = self.split_dim(p, x)
        n = x.shape[d]
        if isinstance(n, int):
            if n == 0:
                _check_pieces(p.chunks, "chunks")
                return self.outs(x, d, [0] * p.chunks)
            return self.outs(x, d, _pieces(n, -(-n // p.chunks), "chunks"))
        _check_pieces(p.chunks, "chunks")
        k = p.chunks
        size = n // k
        if size * k == n:
            return self.outs(x, d, [size] * k)
        # torch gives k pieces of ⌈n/k⌉, the last n − (k−1)·⌈n/k⌉, where that last one is not
        # empty (else fewer pieces).  k = 2: every n ≥ 2 gives 2 (n = 1 would leave the second
        # empty: the 0-size rule); k ≥ 3: n = k gives k pieces, n = k + 1 fewer, so the count
        # depends on n.
        if k > 2:  # n = k gives k pieces, n = k + 1 gives ⌈(k+1)/2⌉ < k
            v = k + 1
            raise ShapeError(f"dim {d} is the symbolic {n}, and the number of pieces {k} chunks give "
                             f"depends on it: {k} gives {k}, {v} gives {len(_pieces(v, 2, 'chunks'))}",
                             arg="chunks", code="shape-symbolic",
                             hint="give that dim a number in the input declaration, or use "
                                  "split with sizes")
        first = -((-n) // k)
        return self.outs(x, d, [first] * (k - 1) + [n - first * (k - 1)])

    def forward(self, p, call, args):
        return f"torch.chunk({args[0]}, {p.chunks}, dim={p.dim})"

    def label(self, p, ins):
        return f"{p.chunks} dim={p.dim}"

    def explain(self, p, ins, outs):
        d = _wrap(p.dim, len(ins[0].shape), "dim", ins[0])
        n = ins[0].shape[d]
        return [f"chunk = ⌈{n}/{p.chunks}⌉ = {outs[0].shape[d]}, {len(outs)} chunk(s)"]

    samples = (
        Sample({"chunks": 2, "dim": 1}, ((2, 6, 3),)),
        Sample({"chunks": 4, "dim": -1}, ((2, 5),)),
        Sample({"chunks": 3}, ((2, 3),), "int64"),
    )


@register
class split(_Split):
    """``torch.split(x, split_size_or_sections, dim)``: pieces of one size (the last smaller) or
    of the listed sizes, which must sum to the dim; ``dim`` defaults to 0, as torch.
    Write one name per piece: ``a, b = x -> split((2, 6), dim=1)``."""

    positional = ("split_size_or_sections", "dim")

    class Params(Params):
        split_size_or_sections: NonNegInt | tuple[NonNegInt, ...]
        dim: int = 0

    def infer(self, p, ins):
        (x,) = ins
        d = self.split_dim(p, x)
        s = p.split_size_or_sections
        n = need_concrete(x.shape[d], f"dim {d} (the dim split)", "dim")
        if isinstance(s, tuple):
            if sum(s) != n:
                raise ShapeError(f"split_size_or_sections={literal(s)} sums to {sum(s)}, but dim {d} "
                                 f"of {shape_str(x.shape)} has {n}", arg="split_size_or_sections",
                                 hint=f"sizes that sum to {n}")
            return self.outs(x, d, list(s))
        if s == 0 and n != 0:
            raise ShapeError(f"split_size_or_sections=0, but dim {d} of {shape_str(x.shape)} has {n}",
                             arg="split_size_or_sections", hint="a size of at least 1")
        return self.outs(x, d, [0] if s == 0 else _pieces(n, s))

    def forward(self, p, call, args):
        return f"torch.split({args[0]}, {literal(p.split_size_or_sections)}, dim={p.dim})"

    def label(self, p, ins):
        return f"{literal(p.split_size_or_sections)} dim={p.dim}"

    samples = (
        Sample({"split_size_or_sections": 2, "dim": 1}, ((2, 5, 3),)),
        Sample({"split_size_or_sections": (1, 3), "dim": -1}, ((2, 4),)),
        Sample({"split_size_or_sections": 4}, ((3, 2),), "int64"),
    )


@register
class Slice(Layer):
    """``x[:, start:end:step]`` along ``dim``: Python's clamping of out-of-range ``start`` and
    ``end`` (none: the ends), ``step`` > 0. The length of a slice of a symbolic dim must not
    depend on its value where the slice leaves something (``2:`` on T gives T − 2, for the T > 2
    that it is valid for; ``0:10`` on T is an error)."""

    kind = "slice"
    category = "reshape"
    positional = ("dim", "start", "end", "step")

    class Params(Params):
        dim: int = 0
        start: int | None = None
        end: int | None = None
        step: PosInt = 1

    def infer(self, p, ins):
        (x,) = ins
        if not x.shape:
            raise ShapeError("cannot slice a 0-d tensor", code="shape-rank")
        d = _wrap(p.dim, len(x.shape), "dim", x)
        n = x.shape[d]
        if isinstance(n, int):
            length = len(range(n)[p.start:p.end:p.step])
        else:
            length = _symbolic_length(n, p.start, p.end, p.step)
            if length is None:
                raise ShapeError(f"the length of [{self.index(p)}] on the symbolic dim {d} ({n}) "
                                 f"depends on its value", arg="dim", code="shape-symbolic",
                                 hint="give that dim a number in the input declaration")
        return [TensorType(x.shape[:d] + (length,) + x.shape[d + 1:], x.dtype)]

    @staticmethod
    def index(p) -> str:
        part = ":".join("" if v is None else literal(v) for v in (p.start, p.end))
        return part + (f":{literal(p.step)}" if p.step != 1 else "")

    def forward(self, p, call, args):
        if p.dim >= 0:
            return f"{args[0]}[{':, ' * p.dim}{self.index(p)}]"
        return f"{args[0]}[..., {self.index(p)}{', :' * (-p.dim - 1)}]"

    def label(self, p, ins):
        return self.forward(p, None, [""])

    samples = (
        Sample({"dim": 1, "start": 0, "end": 10}, ((2, 12, 3),)),
        Sample({"dim": -1, "start": -3}, ((2, 5),)),
        Sample({"dim": -2, "end": -1, "step": 2}, ((2, 7, 3),), "int64"),
        Sample({"start": -6, "end": 2}, ((4, 3),)),
    )


#: a slice of a symbolic dim is checked at every size up to its bounds: bounds beyond this make it
#: an error (give the dim a number)
MAX_COUNTED = 10_000


def _symbolic_length(n: Sym, start: int | None, end: int | None, step: int) -> Dim | None:
    """The slice's length on a symbolic dim, or None when it depends on the dim's value.

    The 0-size rule decides it: a slice that leaves nothing is an error, so only the values of
    the dim that leave at least one element count.  For those, the length must be one formula
    (``[2:]`` of T is T − 2 for every T > 2, the values it is valid for; ``[0:10]`` of T is 10
    only for T ≥ 10 and T below, so it depends).  Bounds that no longer clamp once the dim is
    larger than them give the formula; each smaller dim is checked against it by counting."""
    def at(size):  # start and end where they do not clamp
        s = 0 if start is None else start if start >= 0 else size + start
        e = size if end is None else end if end >= 0 else size + end
        return s, e

    s, e = at(n)
    span = e - s
    if isinstance(span, int):
        length = max(-(-span // step), 0)  # [3:1]: empty for every size (the 0-size rule reports it)
    else:
        import sympy as sp

        length = Sym.wrap(sp.ceiling(span.expr / step)) if step != 1 else span

    def formula(v: int) -> int:  # the same formula at a number
        s2, e2 = at(v)
        return -((s2 - e2) // step)

    bound = max(abs(start or 0), abs(end or 0)) + 2 * step + 2
    if bound > MAX_COUNTED:
        return None
    for v in range(1, bound + 1):
        true = len(range(v)[start:end:step])
        if true > 0 and true != formula(v):
            return None
    if not isinstance(length, int) and len(range(bound)[start:end:step]) == 0:
        return None  # a formula that shrinks as the dim grows: empty for large dims
    return length


@register
class positions(Layer):
    """The position of every step: ``(B, T, ...)`` in, int64 ``(B, T)`` of 0..T−1 out, for learned
    positional embeddings (``tokens -> positions -> Embedding(max_len, d)``). ``dim`` is the
    sequence dim (1 by default, 0 for sequence-first layouts)."""

    category = "embedding"
    positional = ("dim",)

    class Params(Params):
        dim: Annotated[int, Field(ge=0, le=1)] = 1

    def infer(self, p, ins):
        (x,) = ins
        if len(x.shape) < 2:
            raise ShapeError(f"expects a batch of sequences, at least 2-d, got {len(x.shape)}-d "
                             f"{shape_str(x.shape)}", code="shape-rank")
        return [TensorType(tuple(x.shape[:2]), "int64")]

    def forward(self, p, call, args):
        x = args[0]
        steps = f"torch.arange({x}.shape[{p.dim}], device={x}.device)"
        return f"{steps}.expand({x}.shape[0], -1)" if p.dim == 1 else f"{steps}[:, None].expand(-1, {x}.shape[1])"

    samples = (
        Sample({}, ((2, 5),), "int64"),
        Sample({"dim": 0}, ((7, 3, 4),)),
    )
