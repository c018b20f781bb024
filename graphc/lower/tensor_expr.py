"""Tensor expressions: a statement's value that computes with tensors
(``z = mu + exp(0.5 * logvar) * randn_like(mu)``), lowered into nodes of registered,
module-less layers (graphc.layers.merge, graphc.layers.pointwise).

An expression that mentions a tensor value is a tensor expression; a part of it that
mentions none is a constant, evaluated as every constant is (graphc.lower.evaluate), and
becomes a number of the operation it belongs to (``scalar_op``).  The nodes of one
expression but its root are *folded*: the emitter writes the whole tree as one line.
"""

from __future__ import annotations

from graphc import ast as A
from graphc import expr
from graphc.binder import _ERR
from graphc.graph import ValueRef
from graphc.lower.env import _Env, _ScopeState, _Value
from graphc.lower.evaluate import _describe, _is_num

#: The operation of ``tensor <op> tensor``; a tensor and a number make a ``scalar_op``.
TENSOR_BINOPS = {"+": "add", "-": "sub", "*": "mul", "/": "div"}


def mentions_tensor(e: A.Expr, env: _Env) -> bool:
    """Whether an expression reads a tensor value (calls' arguments included)."""
    return any(x.__class__ is A.Name and isinstance(env.lookup(x.id), _Value)
               for x in expr.walk(e, calls=True))


def is_plain_call(e: A.Expr, env: _Env) -> bool:
    """A call whose tensors are all plain names (``add(a, b)``, ``Up(x, skip, 64)``): a layer
    or block use as the language always had it, lowered by Body.apply directly."""
    return e.__class__ is A.Call and all(
        a.value.__class__ is A.Name or not mentions_tensor(a.value, env) for a in e.args)


class TensorExpr:
    """Lowering of tensor expressions (a mixin of graphc.lower.Lowerer)."""

    def tensor_expr(self, e: A.Expr, ss: _ScopeState, default_name: str | None,
                    chain_var: str | None, label: A.Name | None = None) -> ValueRef | None:
        """Lower ``e`` (which mentions a tensor) into nodes; the root is labelled ``label`` or
        named ``default_name`` when given.  Returns the root's value, or None after an error
        (reported)."""
        return self._texpr(e, ss, default_name, chain_var, root=True, label=label)

    def _texpr(self, e, ss, default_name, chain_var, root=False, label=None) -> ValueRef | None:
        env = ss.env
        t = e.__class__
        if t is A.Name:
            return env.lookup(e.id).ref
        if t is A.BinOp:
            lt, rt = mentions_tensor(e.left, env), mentions_tensor(e.right, env)
            if e.op not in TENSOR_BINOPS:
                self.error(e.span, "invalid-expression",
                           f"'{e.op}' on tensors is not in the language yet",
                           "tensor expressions use + - * / (and exp, log, sqrt, clamp, ...); "
                           "'//' and '%' work between constants")
                return None
            if lt and rt:
                ins = [self._texpr(e.left, ss, None, chain_var), self._texpr(e.right, ss, None, chain_var)]
                call = A.Call(TENSOR_BINOPS[e.op], e.span, (), e.span)
            else:
                tensor, number = (e.left, e.right) if lt else (e.right, e.left)
                if not self._number(number, e, env):
                    return None
                ins = [self._texpr(tensor, ss, None, chain_var)]
                args = (A.Arg("op", A.Str(e.op, e.span), e.span), A.Arg("value", number, number.span))
                if rt:
                    args += (A.Arg("left", A.Const(True, e.span), e.span),)
                call = A.Call("scalar_op", e.span, args, e.span)
        elif t is A.Neg:
            ins = [self._texpr(e.operand, ss, None, chain_var)]
            call = A.Call("neg", e.span, (), e.span)
        elif t is A.Call:
            args = list(e.args)
            ins = []
            while args and args[0].name is None and mentions_tensor(args[0].value, env):
                ins.append(self._texpr(args.pop(0).value, ss, None, chain_var))
            late = next((a for a in args if mentions_tensor(a.value, env)), None)
            if late is not None:
                self.error(late.span, "invalid-expression",
                           f"a tensor can only be a leading positional argument of {e.kind}(...)",
                           f"put the tensors first: {e.kind}(x, ...), or compute this value "
                           "in a statement of its own")
                return None
            call = A.Call(e.kind, e.kind_span, tuple(args), e.span, e.bare)
        else:  # a tuple or list holding a tensor
            self.error(e.span, "invalid-expression", "a tuple or list of tensors is not a value",
                       "pass tensors to an operation: concat(a, b, dim=1), stack(a, b)")
            return None
        if any(r is None for r in ins):
            return None
        refs = self.apply(call, ins, ss, label=label, default_name=default_name if root else None,
                          chain_var=chain_var)
        if refs is None:
            return None
        if len(refs) != 1:
            self.error(e.span, "arity", f"{e.kind if t is A.Call else 'this'} gives {len(refs)} "
                       "tensors; an expression's parts are one tensor each",
                       "name the pieces first: a, b = x -> chunk(2)")
            return None
        node = self.nodes[refs[0][0]]
        node.folded = not root and node.layer is not None and node.layer.torch_name is None
        return refs[0]

    def _number(self, number: A.Expr, e: A.BinOp, env: _Env) -> bool:
        """The constant operand of ``tensor <op> number`` must be a number."""
        v = self.eval(number, env)
        if v is _ERR:
            return False
        if not _is_num(v):
            self.error(number.span, "invalid-expression",
                       f"'{e.op}' combines a tensor with a number, not {_describe(v)}",
                       "tensor expressions compute with tensors and numbers (x * 0.5, 1 - gate)")
            return False
        return True
