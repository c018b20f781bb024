"""Expanding a block use (its body lowered again in a scope of its own) and a repeat or a
group (``Kind(...) * N``, ``(A -> B)``: one nn.Sequential)."""

from __future__ import annotations

from graphc import ast as A
from graphc.binder import _ERR
from graphc.graph import Repeat, Scope
from graphc.lower.env import _Abort, _Const, _Env, _ScopeState
from graphc.lower.evaluate import _describe
from graphc.lower.member_labels import MemberLabels
from graphc.names import Namespace, legal, snake

#: Limits that keep a hostile or mistaken file from exhausting time or memory.
MAX_REPEAT = 10_000
MAX_BLOCK_DEPTH = 64


class _ArityError(Exception):
    def __init__(self, n: int):
        self.n = n


def member_name_of(label, i: int) -> str:
    """The child's name of a group's ``i``-th member: its label as written (a quoted one
    exactly: ``"block1-0"``), else its position."""
    if label is None:
        return str(i)
    return label.value if isinstance(label, A.Str) else legal(label.id)


class Blocks(MemberLabels):
    """Blocks and repeats (a mixin of graphc.lower.Lowerer)."""

    def instantiate(self, call: A.Call, tensors, args, ss: _ScopeState, name: str,
                    unknown_input: bool, chain_var: str | None = None, label: A.Name | None = None,
                    shares: Scope | None = None):
        """A block use: its body lowered in a new scope.  ``shares``: a second use of that
        instance (``x2 -> tower``), lowered again for its own inputs with the same arguments."""
        block = self.blocks[shares.kind if shares is not None else call.kind]
        if block.name.id in self.stack:
            self.error(call.kind_span, "recursion",
                       f"block '{block.name.id}' uses itself ({' -> '.join(self.stack + [block.name.id])})",
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
        bound = self.block_arguments(call, block, args, ss.env) if shares is None else (shares.args, shares.arg_exprs)
        if bound is None:
            return None
        values, exprs = bound
        env = _Env(self.globals)
        for p in block.params:
            env.names[p.name.id] = _Const(values[p.name.id], p.default, p.name.span, is_param=True)
        sid = (f"{ss.prefix}.{name}" if ss.prefix else ss.scope.path(name))
        scope = Scope(sid, name, block, call.span, ss.scope, values, exprs, chain_var=chain_var, shares=shares)
        (ss.group.members if ss.group is not None else ss.scope.items).append(scope)
        if label is not None and ss.group is None:
            ss.instances[label.id] = scope
        self.stack.append(block.name.id)
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
            if block.name.id not in self.reported_no_output:
                self.reported_no_output.add(block.name.id)
                self.error(block.name.span, "invalid-output", f"block '{block.name.id}' has no output",
                           "add 'output <name>'")
            return None
        if getattr(scope, "poisoned", False) or not scope.outputs:
            return None
        return [ref for _, ref in scope.outputs]

    def sequence(self, step: A.Step, refs, ss, default, target, parent: Repeat | None = None,
                 member_name: str | None = None):
        """A repeat (``Kind(...) * N``) or a group (``(A -> B)``): one nn.Sequential.  Its members
        may be labelled (named children), repeated or groups themselves (a Sequential inside,
        ``parent`` the Repeat that holds it, under ``member_name``)."""
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
        if parent is None and step.label is not None and self.label_clashes(step.label):  # a member's: checked
            return None
        calls = step.call.calls if isinstance(step.call, A.Group) else (step.call,)
        if parent is None:
            name = ss.legal_of[step.label.id] if step.label else (
                ss.legal_of[default] if default else ss.ns.fresh(
                    "sequential" if isinstance(step.call, A.Group) else snake(step.call.kind)))
            rep = Repeat(ss.scope.path(name), name, step.span,
                         chain_var=ss.legal_of[target.id] if target else None)
            ss.scope.items.append(rep)
            if step.label is not None:
                ss.instances[step.label.id] = rep  # for freeze and tie paths (layers.0.fc)
        else:
            rep = Repeat(f"{parent.id}.{member_name}", member_name, step.span)
            parent.members.append(rep)
        sub = _ScopeState(ss.scope, ss.env, Namespace(), ss.legal_of, prefix=rep.id, group=rep)
        sub.instances = ss.instances  # a shared layer there is an error (Body.apply_shared)
        labels = [c.label for c in calls if isinstance(c, A.Step) and c.label is not None]
        if labels and n > 1:
            self.error(labels[0].span, "invalid-argument",
                       "a repeated group cannot have labelled members: each copy would reuse the names",
                       "label the group, or put the members in a block and repeat the block")
            return None
        if labels and not self.member_names_ok(calls):
            return None
        for i in range(n * len(calls)):
            c = calls[i % len(calls)]
            if isinstance(c, A.Step):
                mname = member_name_of(c.label, i)
                if c.repeat is not None or isinstance(c.call, A.Group):
                    refs = self.sequence(c, refs, ss, None, None, parent=rep, member_name=mname)
                else:
                    refs = self.apply(c.call, refs, sub, label=None, default_name=None, forced_name=mname,
                                      chain_var=None)
                call = c
            else:
                refs = self.apply(c, refs, sub, label=None, default_name=None, forced_name=str(i),
                                  chain_var=None)
                call = c
            if refs is None:
                return None
            if len(refs) != 1:
                self.error(call.span, "arity", "each step of a repeat or group must return one tensor")
                return None
        return refs

    def member_names_ok(self, calls) -> bool:
        """The members' names are the children's names, so the state_dict keys: each must be one
        nn.Sequential accepts (graphc.lower.member_labels) and no two may be the same."""
        seen: dict[str, object] = {}
        for i, c in enumerate(calls):
            lab = c.label if isinstance(c, A.Step) else None
            if lab is not None and (self.label_clashes(lab) if isinstance(lab, A.Name)
                                    else self.quoted_label_bad(lab, i)):
                return False
            mname = member_name_of(lab, i)
            if mname in seen:
                self.error((lab or c).span, "duplicate-name",
                           f"'{mname}' names two members of this group", "give each member its own label")
                return False
            seen[mname] = lab
        return True
