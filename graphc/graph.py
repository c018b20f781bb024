"""The lowered program: layer nodes wired by value references, the block tree,
and the same thing as a networkx DiGraph.

``lower`` fills it; ``infer`` adds types, parameter counts and MACs; the
emitters read it.  Node ids are dotted paths (``layer1.0.conv1``) that equal
the attribute paths of the generated ``nn.Module`` (``state_dict`` keys).

``Program.graph`` (networkx) is built from the nodes on first use: the
passes of ``graphc check`` walk ``nodes`` in their (topological) insertion
order and never need it, so checking does not pay networkx's import.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from graphc import ast as A
from graphc.layers.base import Layer, Params, TensorType
from graphc.shapes import Dim
from graphc.source import Span

ValueRef = tuple[str, int]  # (node id, output index)


@dataclass(eq=False)
class Node:
    id: str
    name: str                       # attribute / variable name in its scope
    kind: str                       # layer kind, or "input"
    span: Span
    scope: Scope
    layer: Layer | None = None
    params: Params | None = None    # None when validation failed
    call: A.Call | None = None      # the call as written
    arg_exprs: dict[str, A.Expr] = field(default_factory=dict)  # parameter -> expression written
    inputs: list[ValueRef] = field(default_factory=list)
    declared: TensorType | None = None  # for inputs
    expected_outputs: int | None = None  # for layers whose output count depends on shapes
    inits: dict = field(default_factory=dict)  # "weight"/"bias" -> (Init, span), from weight_init=
    chain_var: str | None = None    # forward variable suggested by the statement
    binds: str | None = None        # the name an assignment gives this node's value
    binds_all: tuple[str, ...] | None = None
    user_named: bool = False
    folded: bool = False            # a part of a tensor expression: written inside its parent's line
    # a second use of a layer (``x2 -> tower``): the node it applies again, and where; it owns no
    # module and no parameters, and infer checks that its constructor is the first use's
    shares: Node | None = None
    shared_at: Span | None = None
    # filled by infer
    outs: list[TensorType] | None = None
    ctor: dict[str, Any] | None = None
    n_params: int | None = None
    macs: Dim | None = None

    @property
    def is_input(self) -> bool:
        return self.kind == "input"

    @property
    def has_module(self) -> bool:
        return self.layer is not None and self.layer.torch_name is not None


@dataclass(eq=False)
class Scope:
    """The model, or one instance of a block."""

    id: str                          # "" for the model; "layer1.0" for an instance
    name: str                        # attribute name in the parent
    definition: A.ModelDef | A.BlockDef
    span: Span
    parent: Scope | None = None
    args: dict[str, Any] = field(default_factory=dict)        # block parameter values
    arg_exprs: dict[str, A.Expr] = field(default_factory=dict)  # as written at the call
    items: list[Item] = field(default_factory=list)
    inputs: list[tuple[str, ValueRef]] = field(default_factory=list)   # (name, value)
    outputs: list[tuple[str, ValueRef]] = field(default_factory=list)
    consts: dict[str, Any] = field(default_factory=dict)
    legal_of: dict[str, str] = field(default_factory=dict)   # user name -> identifier
    chain_var: str | None = None
    binds: str | None = None
    shares: Scope | None = None      # a second use of a block instance: the instance it applies again
    ties: list = field(default_factory=list)  # ``tie a.weight = b.weight``: (Tie, left Node, right Node)
    freezes: list = field(default_factory=list)  # ``freeze a, b.c``: (path, the item at it)

    @property
    def kind(self) -> str:
        return self.definition.name.id

    @property
    def is_block(self) -> bool:
        return isinstance(self.definition, A.BlockDef)

    def path(self, name: str) -> str:
        return f"{self.id}.{name}" if self.id else name


@dataclass(eq=False)
class Repeat:
    """``Kind(...) * N``: N copies in sequence, emitted as an nn.Sequential."""

    id: str
    name: str
    span: Span
    members: list[Node | Scope] = field(default_factory=list)
    chain_var: str | None = None
    binds: str | None = None
    binds_all: tuple[str, ...] | None = None


Item = Node | Scope | Repeat


@dataclass(eq=False)
class Program:
    path: str
    name: str                      # the model's name
    root: Scope
    nodes: dict[str, Node]
    blocks: dict[str, A.BlockDef]
    symbols: dict[str, int | None] = field(default_factory=dict)  # symbol -> default
    consts: dict[str, Any] = field(default_factory=dict)      # top-level constants
    block_defaults: dict[str, dict[str, Any]] = field(default_factory=dict)
    train: A.TrainBlock | None = None       # the model's training section, as written
    train_env: Any = None                    # its constant scope (for evaluating settings)
    training: Any = None                     # graphc.training.TrainSpec, once checked
    init_rules: dict = field(default_factory=dict)  # the init section: key -> (Init, span)
    file: A.File | None = None               # the syntax tree it was lowered from
    const_defs: list = field(default_factory=list)  # top-level constant definitions, imported ones too
    sources: dict = field(default_factory=dict)     # imported path -> its graphc.source.Source

    @cached_property
    def graph(self):
        """A networkx.DiGraph: node attrs ``node`` (the Node), ``kind``, ``shape``;
        edge attrs ``shape`` and ``slot`` (the input position)."""
        import networkx as nx

        g = nx.DiGraph(name=self.name)
        for n in self.nodes.values():
            g.add_node(n.id, node=n, kind=n.kind,
                       shape=n.outs[0].shape if n.outs else None)
        for n in self.nodes.values():
            for slot, ref in enumerate(n.inputs):
                t = self.type_of(ref)
                g.add_edge(ref[0], n.id, slot=slot, shape=t.shape if t else None)
        return g

    def live(self) -> set[str]:
        """Ids of the nodes that reach an output."""
        seen: set[str] = set()
        stack = [ref[0] for _, ref in self.outputs]
        while stack:
            nid = stack.pop()
            if nid in seen:
                continue
            seen.add(nid)
            stack.extend(r[0] for r in self.nodes[nid].inputs)
        return seen

    def node(self, ref: ValueRef) -> Node:
        return self.nodes[ref[0]]

    def id_limit(self, ref: ValueRef) -> int | None:
        """The ids an integer value may hold: below the smallest limit of the layers that index
        with it (``Layer.id_limit``: an Embedding's num_embeddings); None where none does."""
        limits = [lim for n in self.nodes.values() if ref in n.inputs and n.params is not None
                  and n.layer is not None and (lim := n.layer.id_limit(n.params)) is not None]
        return min(limits) if limits else None

    def type_of(self, ref: ValueRef) -> TensorType | None:
        n = self.nodes[ref[0]]
        if n.outs is None or ref[1] >= len(n.outs):
            return None
        return n.outs[ref[1]]

    @property
    def inputs(self) -> list[Node]:
        return [self.nodes[ref[0]] for _, ref in self.root.inputs]

    @property
    def batch_symbol(self) -> str | None:
        """The batch: the symbol that is the first dim of the most inputs (of the first such input
        on a tie), or None.  A ``[T, T]`` mask beside ``x: [B, T, D]`` does not make T a batch."""
        firsts = [n.declared.shape[0].name for n in self.inputs
                  if n.declared and n.declared.shape and not isinstance(n.declared.shape[0], int)]
        firsts = [f for f in firsts if f is not None]
        return max(firsts, key=firsts.count) if firsts else None

    @property
    def outputs(self) -> list[tuple[str, ValueRef]]:
        return self.root.outputs

    def layer_nodes(self) -> list[Node]:
        return [n for n in self.nodes.values() if not n.is_input]

    def scopes(self):
        """Every scope that is built (the model first), depth-first in definition order; a second
        use of a block instance (``Scope.shares``) builds nothing and is left out."""
        def walk(s: Scope):
            yield s
            for it in s.items:
                yield from within(it)

        def within(it):
            if isinstance(it, Scope) and it.shares is None:
                yield from walk(it)
            elif isinstance(it, Repeat):  # a group's members: layers, block uses, nested groups
                for m in it.members:
                    yield from within(m)
        yield from walk(self.root)
