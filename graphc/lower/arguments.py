"""Binding the arguments of a layer call, a block use and an initializer (with
graphc.binder, which checks them against the callee's signature and reports each problem)."""

from __future__ import annotations

from dataclasses import replace

from graphc import ast as A
from graphc.binder import _ERR, Reading, Signature, bind, keep_reading, signature
from graphc.expr import to_model
from graphc.layers.base import Layer
from graphc.lower.env import _Env


class _Quiet:
    """A host for binding that keeps quiet: a reading is tried before it is reported."""

    def __init__(self, lowerer):
        self.lowerer = lowerer

    def eval(self, e, env):
        return self.lowerer.eval(e, env)

    def error(self, *args, **kwargs) -> None:
        pass

    def suggest(self, word, candidates) -> None:
        return None


class Arguments:
    """Argument binding (a mixin of graphc.lower.Lowerer)."""

    def validate(self, layer: Layer, call: A.Call, args: list[A.Arg], env: _Env):
        """Map positional and keyword args to the parameter schema; diagnose each problem.
        A layer that infers a size PyTorch takes first (``Layer.torch_positional``) is bound
        in both orders: see graphc.binder's "PyTorch's order"."""
        sig = signature(call.kind, layer.Params, layer.positional)
        n_pos = sum(a.name is None for a in args)
        if layer.torch_positional is None or n_pos == 0:
            b = bind(self, env, sig, call.span, args)
            return (b.params if b.ok else None), b.exprs
        tsig = signature(call.kind, layer.Params, layer.torch_positional)
        quiet = _Quiet(self)
        # the fast path first: a valid graphc call never imports pydantic for PyTorch's reading
        g = bind(quiet, env, sig, call.span, args, fast=True)
        if g.unsure:
            g = bind(quiet, env, sig, call.span, args)
        t = bind(quiet, env, tsig, call.span, args, fast=True)
        if t.unsure and not g.ok:
            t = bind(quiet, env, tsig, call.span, args)
        inferred = {k: t.values[k] for k in layer.torch_positional[:n_pos] if k in layer.inferred}
        if t.ok and inferred and (not g.ok or g.params != t.params):
            reading = self.reading(layer, call, args, t, g if g.ok else None, inferred)
            if g.ok:  # graphc's reading until the input decides (graphc.binder.decide)
                reading.both = {"graphc": (dict(g.params.__dict__), dict(g.exprs)),
                                "torch": (dict(t.params.__dict__), dict(t.exprs))}
                reading.exprs = g.exprs
                keep_reading(g.params, reading)
                return g.params, g.exprs
            keep_reading(t.params, reading)
            return t.params, t.exprs
        if g.ok or t.ok:  # t: PyTorch's order, no inferred size written
            b = g if g.ok else t
            return b.params, b.exprs
        # neither fits: the errors of the order the call's length points at
        loud = replace(tsig, graphc_order=layer.positional) if n_pos > len(layer.positional) else sig
        b = bind(self, env, loud, call.span, args)
        return (b.params if b.ok else None), b.exprs

    @staticmethod
    def reading(layer: Layer, call: A.Call, args: list[A.Arg], t, g, inferred: dict) -> Reading:
        """The Reading of a call that PyTorch's order fits, with the fixes each meaning needs."""
        keywords = [f"{a.name}={to_model(a.value)}" for a in args if a.name is not None]
        positional = [a for a in args if a.name is None]

        def text(parts: list[str]) -> str:
            return f"{call.kind}({', '.join(parts)})"

        def layout(names: list[str], exprs: dict, n_positional: int) -> list[str]:
            out = []
            for i, name in enumerate(names):
                v = to_model(exprs[name])
                keep = i < n_positional and i < len(layer.positional) and layer.positional[i] == name
                out.append(v if keep and len(out) == i else f"{name}={v}")
            return out + keywords

        tnames = [k for k in layer.torch_positional[:len(positional)] if k not in inferred]
        fix_torch = text(layout(tnames, t.exprs, len(tnames)))
        fix_graphc = None
        if g is not None:
            gnames = list(layer.positional[:len(positional)])
            required = [i for i, k in enumerate(layer.torch_positional) if layer.Params.model_fields[k].is_required()]
            fix_graphc = text(layout(gnames, g.exprs, (required[-1] if required else 1)))
        written = text([to_model(a.value) for a in positional] + keywords)
        return Reading(written, call.span, inferred,
                       {k: t.values[k] for k in layer.torch_positional[:len(positional)]},
                       None if g is None else {k: g.values[k] for k in layer.positional[:len(positional)]},
                       fix_torch, fix_graphc)

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
        if not b.ok:
            return None
        bad = info.problems(b.params)
        for msg, hint in bad:  # rules between arguments torch enforces (uniform's a <= b)
            self.error(e.span, "invalid-argument", msg, hint)
        return None if bad else Init(e.kind, b.params)
