"""The classes of a generated module: one per block structure, one for the model.

Uses of a block with the same structure (the same layers, names and forward code) share a
class; a block used with, say, another repeat count gets a class of its own.  Each class
records its uses, its trials (graphc.emit.provenance) and its constructor parameters: the
block's parameters, and *derived* ones where a size depends on something else (an input's
size, a value no parameter gives).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from graphc import ast as A
from graphc.graph import Node, Repeat, Scope, ValueRef


def signature(item) -> tuple:
    """The structure of an item: names, kinds and forward code, recursively."""
    if isinstance(item, Node):
        # the forward text too: an argument used only in forward (transpose(1, d), concat's
        # dim) makes instances that need classes of their own
        args = [f"a{i}" for i in range(len(item.inputs))]
        return ("n", item.name, item.kind, item.layer.forward(item.params, "m" if item.has_module else None, args),
                item.shares.name if item.shares is not None else None)
    if isinstance(item, Repeat):
        return ("r", item.name, tuple(signature(m) for m in item.members))
    if item.shares is not None:  # a second use of an instance: its structure is the first's
        return ("s", item.name, item.kind, item.shares.name)
    return ("s", item.name, item.kind, tuple(signature(i) for i in item.items))


def item_inputs(item) -> list[ValueRef]:
    if isinstance(item, Node):
        return list(item.inputs)
    if isinstance(item, Repeat):
        return item_inputs(item.members[0])
    return [ref for _, ref in item.inputs]


def item_outputs(item) -> list[ValueRef]:
    if isinstance(item, Node):
        return [(item.id, i) for i in range(len(item.outs or [None]))]
    if isinstance(item, Repeat):
        return item_outputs(item.members[-1])
    return [ref for _, ref in item.outputs]


@dataclass(eq=False)  # hashed by identity: a derived parameter's source may hold one
class Param:
    """A constructor parameter of a generated class."""

    name: str                 # its Python name
    source: tuple             # ("arg", block parameter) | ("in", input, dim) | ("node", path, key)
    default: object = None
    has_default: bool = False

    @property
    def derived(self) -> bool:
        return self.source[0] != "arg"


@dataclass
class ClassPlan:
    """One generated class: a block definition specialised to one structure, or the model."""

    name: str
    block: A.BlockDef | A.ModelDef
    instances: list[Scope]     # its uses
    signature: tuple = ()
    trials: list[Scope] = field(default_factory=list)
    params: list[Param] = field(default_factory=list)
    derived_keys: dict[tuple, str] = field(default_factory=dict)
    param_names: dict[str, str] = field(default_factory=dict)  # block parameter -> its Python name
    param_values: list | None = None  # (param, its value in each observed scope), for comments
    sizes: dict = field(default_factory=dict)  # the input sizes in each observed scope, for comments
    written: list = field(default_factory=list)  # expressions written in the block, with their values

    @property
    def is_model(self) -> bool:
        return isinstance(self.block, A.ModelDef)

    @property
    def observed(self) -> list[Scope]:
        """The uses, then the trials: every scope a constructor value must be right for."""
        return self.instances + self.trials

    @property
    def block_params(self) -> list[A.Param]:
        return list(getattr(self.block, "params", ()))

    @property
    def block_param_names(self) -> set[str]:
        return {p.name.id for p in self.block_params}


def group_blocks(progs) -> list[tuple[str, tuple, list[Scope]]]:
    """(block kind, structure, its uses) for each class, over the models ``progs`` (a Program
    or a list), inner blocks first, so a class is defined before the classes that use it."""
    groups: dict[str, dict[tuple, list[Scope]]] = {}
    for s in (sc for p in (progs if isinstance(progs, list) else [progs]) for sc in p.scopes()):
        if s.is_block:
            body = tuple(signature(i) for i in s.items)
            groups.setdefault(s.kind, {}).setdefault(body, []).append(s)
    order = sorted(groups, key=lambda k: max(_depth(s) for g in groups[k].values() for s in g))
    return [(kind, body, insts) for kind in order for body, insts in groups[kind].items()]


def _depth(s: Scope) -> int:
    d = 0
    for it in s.items:
        if isinstance(it, Scope):
            d = max(d, 1 + _depth(it))
        elif isinstance(it, Repeat):
            stack = list(it.members)
            while stack:  # a group's members, nested groups' too
                m = stack.pop()
                if isinstance(m, Scope):
                    d = max(d, 1 + _depth(m))
                elif isinstance(m, Repeat):
                    stack += m.members
    return d
