"""Learned tensors: ``param pos: [1, N, D] = normal(std=0.02)`` in a model or block body.

The statement becomes a node of graphc.layers.learned.LearnedTensor (no input; one output
of the declared shape), and its name a tensor value of the scope, as an input's is.  Its
sizes are constant expressions of integers >= 1: a symbolic size (``B``, ``T``) is an
error, since an ``nn.Parameter`` has one size for every batch.  Its initializer is bound
as ``weight_init=``'s is (graphc.lower.arguments.Arguments.initializer); left out, it is
``zeros()``.
"""

from __future__ import annotations

from graphc import ast as A
from graphc import expr
from graphc.binder import _ERR
from graphc.graph import Node
from graphc.layers.base import FLOAT_DTYPES
from graphc.layers.learned import LEARNED, PARAM_KIND, LearnedParams
from graphc.lower.env import _Const, _ScopeState, _Value
from graphc.lower.evaluate import _describe
from graphc.shapes import MAX_DIM

#: The initializer of a ``param`` written without one.
DEFAULT_INIT = "zeros"


class Learned:
    """``param`` statements (a mixin of graphc.lower.Lowerer)."""

    def param_decl(self, st: A.ParamDecl, ss: _ScopeState) -> None:
        from graphc.initializers import INITIALIZERS, Init, _rank_error
        from graphc.lower.body import DTYPES

        name = st.name
        if self.reserved(name):
            ss.env.names.setdefault(name.id, _Const(_ERR, None, name.span))
            return
        if name.id in ss.env.names:  # reported by define(), before a second node takes the id
            self.define(ss.env, name, _Const(_ERR, None, name.span))
            return
        dims = self._param_dims(st, ss)
        dtype = DTYPES[st.dtype] if st.dtype else "float32"
        if dtype not in FLOAT_DTYPES:
            self.error(st.span, "dtype", f"param '{name.id}' is {st.dtype}, but a learned tensor is "
                       "floating-point: torch cannot give an integer or bool tensor gradients",
                       "leave the dtype out (float32), or write float64, float16 or bfloat16")
            dims = None
        if st.init is None:
            info = INITIALIZERS[DEFAULT_INIT]
            init = Init(DEFAULT_INIT, info.Params.model_validate({}))
        else:
            init = self.initializer(st.init, ss.env)
        if init is not None and dims is not None:
            msg = _rank_error(init, len(dims), f"param '{name.id}'")
            if msg:
                self.error(st.init.span, "invalid-argument", msg,
                           "use normal, trunc_normal, uniform, zeros, ones or constant")
                init = None
            elif (big := _beyond_dtype(init, dtype)) is not None:
                self.error(st.init.span, "invalid-argument",
                           f"{init.name}({big[0]}={big[1]:g}) is beyond the largest {dtype} value, {big[2]:g}: "
                           "torch refuses to put it in the tensor", f"use a smaller value, or declare "
                           f"param '{name.id}' as float32" if dtype in ("float16", "bfloat16") else
                           "use a smaller value")
                init = None
            elif dtype not in init.info.dtypes:
                self.error(st.init.span, "dtype", f"torch cannot initialize a {dtype} tensor with {init.name}",
                           f"declare param '{name.id}' as {' or '.join(init.info.dtypes)}, or use "
                           "another initializer")
                init = None
        if init is None or dims is None:
            self.define(ss.env, name, _Const(_ERR, None, name.span))  # later uses stay quiet
            return
        ident = ss.legal_of[name.id]
        arg_exprs = {f"size{i}": d for i, d in enumerate(st.dims)}
        if st.init is not None and st.init.__class__ is A.Call:
            arg_exprs.update((a.name, a.value) for a in st.init.args if a.name is not None)
            positional = [a for a in st.init.args if a.name is None]
            arg_exprs.update((f, a.value) for f, a in zip(init.info.signature().positional, positional))
        node = Node(ss.scope.path(ident), ident, PARAM_KIND, st.span, ss.scope, layer=LEARNED,
                    params=LearnedParams(tuple(dims), dtype, init),
                    call=A.Call(PARAM_KIND, name.span, (), st.span), arg_exprs=arg_exprs,
                    user_named=True)
        self.add_node(node)
        ss.scope.items.append(node)
        self.define(ss.env, name, _Value((node.id, 0), name.span))

    def _param_dims(self, st: A.ParamDecl, ss: _ScopeState) -> list[int] | None:
        """The sizes, each a constant integer in [1, 2**40]; None after an error (reported)."""
        dims, ok = [], True
        for d in st.dims:
            symbolic = next((n for n in expr.names(d) if ss.env.lookup(n) is None
                             and (n in self.symbols or n in self.bindings)), None)
            if symbolic is not None:
                self.error(d.span, "shape-symbolic",
                           f"param '{st.name.id}': '{symbolic}' is a symbolic size of the inputs, but a "
                           "learned tensor has one size, fixed when the model is built",
                           f"write a number, or a constant used by the input too ('const {symbolic} = 16' "
                           "above the model); for the batch dim write 1: it broadcasts, or "
                           f"expand({st.name.id}, x) gives it x's batch")
                ok = False
                continue
            v = self.eval(d, ss.env)
            if v is _ERR:
                ok = False
            elif not isinstance(v, int) or isinstance(v, bool):
                self.error(d.span, "invalid-argument",
                           f"param '{st.name.id}': a size must be an integer, got {_describe(v)}")
                ok = False
            elif v < 1:
                self.error(d.span, "shape-nonpositive", f"param '{st.name.id}': size {v} is not positive",
                           "every size of a learned tensor is at least 1")
                ok = False
            elif v > MAX_DIM:
                self.error(d.span, "limit", f"param '{st.name.id}': size {v} exceeds graphc's limit of 2**40")
                ok = False
            else:
                dims.append(v)
        return dims if ok else None


# the largest finite value of each floating dtype: torch's fill_ and uniform_ refuse a value beyond
# it ("value cannot be converted to type c10::Half without overflow", "to is out of bounds")
_LARGEST = {"float16": 65504.0, "bfloat16": 3.3895313892515355e38, "float32": 3.4028234663852886e38}


def _beyond_dtype(init, dtype: str):
    """(argument, value, largest) for a constant or uniform bound the dtype cannot hold, or None."""
    largest = _LARGEST.get(dtype)
    if largest is None:
        return None
    names = {"constant": ("val",), "uniform": ("a", "b")}.get(init.name, ())
    for n in names:
        v = getattr(init.params, n)
        if abs(v) > largest:
            return n, v, largest
    return None
