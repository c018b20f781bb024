"""Binding the arguments of a layer call, a block use and an initializer (with
graphc.binder, which checks them against the callee's signature and reports each problem)."""

from __future__ import annotations

from graphc import ast as A
from graphc.binder import _ERR, Signature, bind, signature
from graphc.layers.base import Layer
from graphc.lower.env import _Env


class Arguments:
    """Argument binding (a mixin of graphc.lower.Lowerer)."""

    def validate(self, layer: Layer, call: A.Call, args: list[A.Arg], env: _Env):
        """Map positional and keyword args to the parameter schema; diagnose each problem."""
        b = bind(self, env, signature(call.kind, layer.Params, layer.positional), call.span, args)
        return (b.params if b.ok else None), b.exprs

    def block_arguments(self, call: A.Call, block: A.BlockDef, args: list[A.Arg], env: _Env):
        """The values of a block use's parameters and the expressions that gave them: the
        arguments, bound in the caller's ``env``, and the defaults of the rest (evaluated at
        top level); None after an error."""
        pnames = tuple(p.name.id for p in block.params)
        sig = Signature(f"block {call.kind}", call.kind, pnames, pnames,
                        frozenset(p.name.id for p in block.params if p.default is None), noun="parameter")
        b = bind(self, env, sig, call.span, args)
        if not b.ok:
            return None
        values, exprs = b.values, b.exprs
        for p in block.params:
            if p.name.id not in values:
                values[p.name.id] = self.eval(p.default, self.globals)
        if any(v is _ERR for v in values.values()):
            return None
        return values, exprs

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
        b = bind(self, env, info.signature(), e.span, e.args)
        return Init(e.kind, b.params) if b.ok else None
