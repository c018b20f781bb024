"""Sharing: a layer or block instance applied again (``b = x2 -> tower``: one module, its
weights used twice), and tied parameters (``tie head.weight = tok.weight``).

A second use lowers to a node (or a block scope) of its own, for its own inputs, with
``shares`` pointing at the first use: it builds no module and owns no parameters.  ``infer``
then checks that the second use would construct exactly the module the first built (a Linear
shared between a 64- and a 32-wide input cannot be one module), and ``check_ties`` that tied
tensors have one shape.
"""

from __future__ import annotations

from graphc import ast as A
from graphc.binder import _ERR
from graphc.errors import Diagnostic, diag, did_you_mean
from graphc.graph import Node, Program, Repeat, Scope
from graphc.layers.learned import PARAM_KIND
from graphc.lower.env import _Const, _ScopeState, _Value
from graphc.shapes import shape_str


def nodes_in(item):
    """Every node of a scope or repeat, nested scopes and repeats included, in order."""
    for it in (item.items if isinstance(item, Scope) else item.members):
        if isinstance(it, Node):
            yield it
        else:
            yield from nodes_in(it)


class Sharing:
    """Second uses of a layer or block instance, and ``tie`` (a mixin of graphc.lower.Lowerer)."""

    def apply_shared(self, call: A.Call, first: Node | Scope, tensors, args, ss: _ScopeState,
                     label: A.Name | None, name: str, chain_var: str | None):
        """``x2 -> tower`` or ``tower(x2)``: the instance labelled ``tower`` applied again."""
        kind = getattr(first, "kind", "Sequential")
        where = f"'{call.kind}' ({kind}, line {first.span.line})"
        if ss.group is not None:
            self.error(call.span, "invalid-sharing",
                       f"{where} cannot be applied again inside a repeat or group: nn.Sequential "
                       "would hold the module twice", f"write the uses as steps of a chain: "
                       f"'y = x -> {call.kind} -> {call.kind}'")
            return None
        if label is not None:
            self.error(label.span, "invalid-sharing",
                       f"a second use of {where} builds no new layer, so it takes no label",
                       f"name its value on the left: '{label.id} = x -> {call.kind}'")
            return None
        if args:
            self.error(args[0].span, "invalid-sharing",
                       f"{where} is already built; applying it again takes only tensors: its other "
                       "arguments are those of its first use",
                       f"write 'y = x -> {call.kind}', or build a new layer: 'other: {kind}(...)'")
            return None
        if not tensors:
            self.error(call.span, "missing-input", f"{where} is applied to no tensor",
                       f"start from a value: 'y = x -> {call.kind}'")
            return None
        if isinstance(first, Repeat):
            self.error(call.span, "invalid-sharing",
                       f"{where} is a repeat or group: applying one again is not supported",
                       "put it in a block and apply the block use again")
            return None
        if isinstance(first, Scope):
            refs = self.instantiate(call, tensors, [], ss, name, False, chain_var, shares=first)
            scope = ss.scope.items[-1]
            if isinstance(scope, Scope) and scope.shares is first:
                originals = {n.id[len(first.id):]: n for n in nodes_in(first)}
                for n in nodes_in(scope):
                    n.shares, n.shared_at = originals.get(n.id[len(scope.id):]), call.span
            return refs
        layer = first.layer
        if not first.has_module:
            self.error(call.span, "invalid-sharing",
                       f"{where} is an operation with no module and no weights: there is nothing to share",
                       f"write the operation again: '{kind}(...)'")
            return None
        if first.params is not None and any(getattr(first.params, t, False) for t in layer.tensor_args):
            self.error(call.span, "invalid-sharing",
                       f"{where} takes tensor arguments ({', '.join(layer.tensor_args)}); a second use "
                       "of such a layer is not supported yet", "put the layer in a block and share the block")
            return None
        lo, hi = layer.n_inputs
        if len(tensors) < lo or (hi is not None and len(tensors) > hi):
            want = f"{lo}" if lo == hi else (f"at least {lo}" if hi is None else f"{lo} to {hi}")
            self.error(call.span, "arity", f"{where} takes {want} tensor(s), got {len(tensors)}",
                       "in a chain the incoming value is the first tensor")
            return None
        node_id = ss.scope.path(name)
        node = Node(node_id, name, kind, call.span, ss.scope, layer=layer, params=first.params,
                    call=call, arg_exprs=first.arg_exprs, inputs=tensors, chain_var=chain_var,
                    shares=first, shared_at=call.span)
        self.add_node(node)
        ss.scope.items.append(node)
        n_out = layer.count_outputs(first.params) if first.params is not None else layer.n_outputs
        return [(node.id, i) for i in range(n_out or 1)]

    def tie(self, st: A.Tie, ss: _ScopeState) -> None:
        """``tie head.weight = tok.weight``: resolved now (both layers written above), checked
        after inference (``check_ties``: the tensors exist and have one shape)."""
        if ss.scope.shares is not None:
            return  # a second use of a block instance: its ties are the first use's
        sides = []
        for path in (st.left, st.right):
            found = self._tie_side(path, ss)
            if found is None:
                return
            sides.append(found)
        (ln, lp), (rn, rp) = sides
        if ln is rn and lp == rp:
            self.error(st.span, "invalid-sharing", "a tensor tied to itself", None)
            return
        ss.scope.ties.append((st, ln, lp, rn, rp))

    def _tie_side(self, path: tuple[A.Name, ...], ss: _ScopeState):
        """(the node, its parameter's name) at ``path``, or None after an error."""
        if len(path) < 2:
            return None
        it = self.item_at(path[:-1], ss, "tie")
        if it is None:
            return None
        where = ".".join(p.id for p in path[:-1])
        if not isinstance(it, Node):
            self.error(path[-1].span, "invalid-sharing",
                       f"'{where}' is a {'block use' if isinstance(it, Scope) else 'repeat'}, not a layer: a tie "
                       "names a layer's parameter", "name the layer inside it: e.g. 'encoder.proj.weight'")
            return None
        if not it.has_module or it.kind == PARAM_KIND:
            self.error(path[-1].span, "invalid-sharing",
                       f"'{where}' is {'a learned tensor' if it.kind == PARAM_KIND else 'an operation'} "
                       f"({it.kind}), not a layer with parameters", None)
            return None
        return it, path[-1].id

    def item_at(self, path: tuple[A.Name, ...], ss: _ScopeState, what: str):
        """The layer, block use, repeat or learned tensor at ``path`` (labels from this scope, then
        names inside block uses, a repeat's members by number), or None after an error."""
        head = path[0]
        it = ss.instances.get(head.id) or next(
            (n for n in ss.scope.items if isinstance(n, Node) and n.kind == PARAM_KIND
             and n.name == ss.legal_of.get(head.id, head.id)), None)
        if it is None:
            b = ss.env.names.get(head.id)
            if isinstance(b, _Const) and b.value is _ERR:
                return None  # its statement failed, and was reported
            hint = (f"'{head.id}' is labelled below: write the {what} after that line" if head.id in ss.legal_of
                    else self.suggest(head.id, list(ss.instances)))
            self.error(head.span, "undefined-name", f"no layer or block use labelled '{head.id}' above this {what}",
                       hint or f"label the layer where it is used ('tok: Embedding(V, D)') and {what} after it")
            return None
        for k, part in enumerate(path[1:], 1):
            if isinstance(it, Node):
                self.error(part.span, "undefined-name",
                           f"'{'.'.join(p.id for p in path[:k])}' is a layer: it has no '{part.id}' to name here",
                           None)
                return None
            members = it.members if isinstance(it, Repeat) else it.items
            if isinstance(it, Repeat):  # members by number, or by label in a group of named members
                nxt = next((m for m in members if m.name == part.id), None)
            else:
                legal = it.legal_of.get(part.id, part.id)
                nxt = next((m for m in members if m.name == legal and getattr(m, "user_named", True)), None)
            if nxt is None or getattr(nxt, "shares", None) is not None:
                names = [m.name for m in members] if isinstance(it, Repeat) else \
                    [m.name for m in members if getattr(m, "user_named", True)]
                self.error(part.span, "undefined-name",
                           f"'{'.'.join(p.id for p in path[:k])}' has no '{part.id}'",
                           self.suggest(part.id, names) or (f"it has {', '.join(names[:8])}" if names else None))
                return None
            it = nxt
        if getattr(it, "shares", None) is not None:
            self.error(head.span, "invalid-sharing",
                       f"'{'.'.join(p.id for p in path)}' is a second use of a layer; name its first use", None)
            return None
        return it

    def freeze(self, st: A.Freeze, ss: _ScopeState) -> None:
        """``freeze backbone, head.norm``: their parameters do not train (requires_grad false)."""
        if ss.scope.shares is not None:
            return
        for path in st.paths:
            it = self.item_at(path, ss, "freeze")
            if it is None:
                continue
            if isinstance(it, Node) and not it.has_module and it.kind != PARAM_KIND:
                self.error(path[-1].span, "invalid-argument",
                           f"'{'.'.join(p.id for p in path)}' is an operation ({it.kind}) with no parameters to freeze",
                           None)
                continue
            ss.scope.freezes.append((path, it))

    def not_a_layer_hint(self, kind: str, ss: _ScopeState) -> str | None:
        """The hint for ``x -> name`` where ``name`` is a value, not a layer: what can be shared."""
        b = ss.env.lookup(kind)
        if isinstance(b, _Value):
            return (f"'{kind}' is a tensor value, not a layer; to apply a layer again, label its first "
                    f"use ('{kind}: Linear(64)') and write 'y = x2 -> {kind}'")
        return None


def check_shared(prog: Program) -> list[Diagnostic]:
    """A second use must construct the module its first use built; it counts no parameters."""
    out: list[Diagnostic] = []
    reported: set[int] = set()
    for node in prog.nodes.values():
        first = node.shares
        if first is None:
            continue
        if node.ctor is not None and first.ctor is not None and node.ctor != first.ctor \
                and id(node.shared_at) not in reported:
            reported.add(id(node.shared_at))
            key = next((k for k in first.ctor if node.ctor.get(k) != first.ctor.get(k)), None)
            here = ", ".join(shape_str(prog.type_of(r).shape) for r in node.inputs if prog.type_of(r))
            there = ", ".join(shape_str(prog.type_of(r).shape) for r in first.inputs if prog.type_of(r))
            what = f"{first.kind} '{first.id}'"
            detail = f": its {key} would be {node.ctor.get(key)} here, {first.ctor.get(key)} there" if key else ""
            out.append(diag(node.shared_at, "invalid-sharing",
                            f"{what} is applied here to {here} but was built at {_where(first.span, node.shared_at)} "
                            f"for {there}{detail}",
                            "a shared layer is one module: give it inputs of the sizes it was built "
                            "for, or build a second layer"))
        if node.n_params is not None:
            node.n_params = 0
    return out


def check_ties(prog: Program) -> list[Diagnostic]:
    """Each tied tensor exists for its layer's arguments, the two have one shape, and no tensor
    is both tied and tied to (``a = b`` then ``b = c`` would leave a with b's old tensor)."""
    out: list[Diagnostic] = []
    # every scope's ties at once: a model's tie may reach a tensor a block's tie already ties
    every = [t for scope in prog.scopes() for t in scope.ties]
    lefts: dict[tuple[str, str], A.Tie] = {}
    for st, ln, lp, _, _ in every:
        lefts.setdefault((ln.id, lp), st)
    for scope in prog.scopes():
        for st, ln, lp, rn, rp in scope.ties:
            if (rn.id, rp) in lefts:
                other = lefts[(rn.id, rp)]
                out.append(diag(st.span, "invalid-sharing",
                                f"{_side(st.right)} ({rn.id}.{rp}) is itself tied, at {_where(other.span, st.span)}",
                                "tie to the tensor it is tied to, in one place"))
                continue
            if lefts[(ln.id, lp)] is not st:
                other = lefts[(ln.id, lp)]
                out.append(diag(st.span, "invalid-sharing",
                                f"{_side(st.left)} ({ln.id}.{lp}) is tied twice (also at {_where(other.span, st.span)})",
                                "keep one tie"))
                continue
            shapes = []
            for node, pname, path in ((ln, lp, st.left), (rn, rp, st.right)):
                if node.ctor is None:
                    break
                owned = node.layer.own_weights(node.ctor)
                if pname not in owned:
                    hint = did_you_mean(pname, list(owned))
                    out.append(diag(path[-1].span, "invalid-sharing",
                                    f"{node.kind} '{_side(path[:-1])}' has no parameter '{pname}'"
                                    + (f" (it has {', '.join(owned)})" if owned else " (it has none)"), hint))
                    break
                shape = node.layer.weight_shape(node.ctor, pname)
                if shape is None:
                    out.append(diag(path[-1].span, "invalid-sharing",
                                    f"graphc does not know the shape of {node.kind}'s '{pname}', so it "
                                    "cannot check a tie of it", "tie the weights of Linear, Embedding, "
                                    "convolutions or norms"))
                    break
                shapes.append(shape)
            else:
                if shapes[0] != shapes[1]:
                    out.append(diag(st.span, "invalid-sharing",
                                    f"{_side(st.left)} is {shape_str(shapes[0])} but {_side(st.right)} is "
                                    f"{shape_str(shapes[1])}: tied tensors must have one shape",
                                    "a Linear(in, out)'s weight is (out, in), an Embedding(n, d)'s is (n, d)"))
                    continue
                if ln.n_params is not None:
                    n = 1
                    for d in shapes[0]:
                        n *= d
                    ln.n_params -= n
    return out


def _where(span, here) -> str:
    """``line 12``, or ``lib/blocks.model:12`` when ``span`` is in another file than ``here``."""
    return f"line {span.line}" if span.path == here.path else f"{span.path}:{span.line}"


def _side(path) -> str:
    return ".".join(p.id for p in path)


__all__ = ["Sharing", "check_shared", "check_ties", "nodes_in"]
