"""graphc import: trace a module with torch.fx and turn each traced forward into a body.

The root module is traced with every submodule a leaf; each submodule then becomes a step:
a registered layer, an ``nn.Sequential`` (a group, or a repeat when its members are equal) or
a module class of the user's, traced again on its own into a block body. A body is kept as
statements of pieces (text, :class:`Lit` constants, fx nodes for tensor values, block calls)
so that importer_write can compare the instances of one class and make blocks of them.
"""

from __future__ import annotations

import linecache
import operator
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from graphc.interop.importer_layers import (
    NOOP_METHODS,
    Lit,
    Unsupported,
    function_op,
    layer_kind,
    module_args,
)
from graphc.interop.importer_values import is_size_value
from graphc.lower.member_labels import member_label

RESERVED = {"model", "block", "input", "output", "const", "train", "true", "false", "none",
            "init", "tie", "param", "freeze", "import"}


def source_line(node) -> str | None:
    """``file.py:12: code`` of the Python line an fx node was traced from."""
    if node is None or "graphc_line" not in node.meta:
        return None
    path, num = node.meta["graphc_line"]
    return f"{path}:{num}: {linecache.getline(path, num).strip()}"


def _torch_dir() -> str:
    import torch

    return str(Path(torch.__file__).parent) + "/"


def exception_line(e: BaseException) -> str | None:
    """The innermost frame of a traceback outside torch: the user's line that failed."""
    torch_dir = _torch_dir()
    frames = [f for f in traceback.extract_tb(e.__traceback__)
              if not f.filename.startswith(torch_dir) and "graphc" not in Path(f.filename).parts[-3:-1]]
    if not frames:
        return None
    f = frames[-1]
    return f"{f.filename}:{f.lineno}: {(f.line or '').strip()}"


@dataclass
class BlockCall:
    """A use of a block: resolved to a class name and arguments by importer_write."""

    inst: Instance
    tensors: list            # fx nodes after the incoming one


@dataclass
class Group:
    """An nn.Sequential: members are (label | None, pieces)."""

    members: list


@dataclass
class Stmt:
    pieces: list                 # "x -> a -> b" or an expression
    last: object = None          # the fx node whose value the statement names
    text: str | None = None      # a whole line (input, param, output)
    targets: list | None = None  # the values of a step with several results (chunk)


@dataclass
class Body:
    module: object
    cls_name: str
    stmts: list = field(default_factory=list)
    names: dict = field(default_factory=dict)   # fx node -> value name
    taken: set = field(default_factory=set)


@dataclass
class Instance:
    module: object
    path: str                   # its state_dict prefix, for messages
    body: Body | None = None
    n_inputs: int = 1
    block: object = None        # importer_write.BlockDef once resolved
    args: list = field(default_factory=list)  # Lits, once resolved
    cat_dim: int | None = None  # its list of inputs is concatenated by the caller, in this dim


def make_tracer():
    import torch.fx as fx

    torch_dir = _torch_dir()
    here = str(Path(__file__).parent)

    class Tracer(fx.Tracer):
        # fx's own record_stack_traces symbolizes through torch._inductor (a 10 s import on first
        # use): the user's frame is found here by walking the stack, which costs microseconds
        def create_node(self, *args, **kwargs):
            node = super().create_node(*args, **kwargs)
            f = sys._getframe(1)
            while f is not None:
                fn = f.f_code.co_filename
                if not fn.startswith(torch_dir) and not fn.startswith(here) and not fn.startswith("<"):
                    node.meta["graphc_line"] = (fn, f.f_lineno)
                    break
                f = f.f_back
            return node

        def is_leaf_module(self, m, qualname):  # every submodule is traced on its own, or is a layer
            return True

    return Tracer()


def trace(module, concrete_args=None, runs=None):
    """The fx graph of ``module.forward``; Unsupported (with the user's line) when it does not trace.
    ``runs``: example arguments to record every node's value with (importer_values.annotate)."""
    import torch.fx as fx

    tracer = make_tracer()
    try:
        graph = tracer.trace(module, concrete_args=concrete_args)
    except Unsupported:
        raise
    except Exception as e:  # noqa: BLE001 - any trace failure is the user's construct, reported by line
        where = exception_line(e)
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise Unsupported(f"torch.fx cannot trace {type(module).__name__}.forward: {msg}",
                          None, where=where) from None
    import torch.nn as nn

    if runs:
        from graphc.interop.importer_values import annotate

        annotate(module, graph, runs)
    for node in list(graph.nodes):  # calls that change nothing: their users read the input
        if node.op == "call_method" and node.target in NOOP_METHODS:
            for u in node.users:  # x.contiguous().view(...) is x.reshape(...)
                if u.op == "call_method" and u.target == "view":
                    u.target = "reshape"
            node.replace_all_uses_with(node.args[0])
            graph.erase_node(node)
        elif node.op == "call_function" and node.target is operator.getitem and \
                isinstance(node.args[0], fx.Node) and node.args[0].op == "call_module" and \
                isinstance(module.get_submodule(str(node.args[0].target)), nn.MultiheadAttention):
            # attention's (output, weights): the language's MultiheadAttention is the output
            if node.args[1] == 0:
                node.replace_all_uses_with(node.args[0])
            if node.args[1] == 0 or not node.users:
                graph.erase_node(node)
    return graph


def is_group(mod) -> bool:
    import torch.nn as nn

    return isinstance(mod, nn.Sequential) and type(mod).forward is nn.Sequential.forward


class Importer:
    """Collects the bodies of the root and of every block instance."""

    def __init__(self, root, input_shapes: list[tuple[str, list]], calls: dict | None = None):
        self.root = root
        self.shapes = input_shapes
        self.calls = calls or {}       # id(module) -> its inputs in the runs (importer_values)
        self.instances: list[Instance] = []

    # ------------------------------------------------------------------ steps
    def step_pieces(self, mod, label: str | None, path: str, tensors=(), node=None, raw=()) -> list:
        kind = layer_kind(mod)
        head = [f"{label}: "] if label else []
        if kind is not None:
            if tensors:
                raise Unsupported(f"{path} ({type(mod).__name__}) is called with several tensors", node)
            try:
                args = module_args(kind, mod)
            except Unsupported as e:
                raise Unsupported(f"{path}: {e.message}", node) from None
            return head + [kind] + _call(args)
        if is_group(mod):
            if tensors:
                raise Unsupported(f"{path} (nn.Sequential) is called with several tensors", node)
            return head + [self.group(mod, path, node)]
        mod_name = type(mod).__module__
        if mod_name.startswith("torch.nn"):
            raise Unsupported(f"{path} is nn.{type(mod).__name__}, which is not a graphc layer", node,
                              "see docs/layers.md for the layers graphc knows")
        inst = self.instance(mod, path, 1 + len(tensors), raw)
        if inst.cat_dim is None:
            return head + [BlockCall(inst, list(tensors))]
        # the block concatenated its list of inputs first: the caller does, the block takes one
        if not tensors:
            return head + [BlockCall(inst, [])]
        return ["concat"] + _call([] if inst.cat_dim == 1 else [("dim", Lit(inst.cat_dim, "dim"))],
                                  tensors) + ["\n    -> "] + head + [BlockCall(inst, [])]

    def group(self, mod, path: str, node) -> Group:
        """The members of an nn.Sequential (or of a container whose items forward calls in turn)."""
        if len(mod) == 0:
            raise Unsupported(f"{path} is an empty {type(mod).__name__}", node)
        members = []
        for i, (name, child) in enumerate(mod.named_children()):
            lab = None if name == str(i) else member_label(name, i)
            if lab is not None and lab.startswith("!"):
                raise Unsupported(f"{path}: the member name {name!r} {lab[1:]}", node)
            members.append((lab, self.step_pieces(child, lab, f"{path}.{name}", node=node)))
        return Group(members)

    def container_run(self, module, node) -> list | None:
        """The nodes of ``for layer in self.layers: x = layer(x)``: every item of a ModuleList or
        ModuleDict called once, in order, each on the one before; None when it is not that."""
        import torch.nn as nn

        parent, _, first = str(node.target).rpartition(".")
        cont = module.get_submodule(parent) if parent and "." not in parent else None
        if not isinstance(cont, (nn.ModuleList, nn.ModuleDict, nn.Sequential)) or len(cont) == 0:
            return None
        names = [n for n, _ in cont.named_children()]
        run, cur = [node], node
        if first != names[0]:
            return None
        for name in names[1:]:
            nxt = list(cur.users)
            if len(nxt) != 1 or nxt[0].op != "call_module" or str(nxt[0].target) != f"{parent}.{name}" \
                    or len(nxt[0].args) != 1 or nxt[0].args[0] is not cur or nxt[0].kwargs:
                return None
            run.append(nxt[0])
            cur = nxt[0]
        return run

    def instance(self, mod, path: str, n_inputs: int, raw) -> Instance:
        import inspect

        import torch.fx as fx

        inst = Instance(mod, path, n_inputs=n_inputs)
        concrete = None
        if any(isinstance(a, (list, tuple)) for a in raw):  # a list of tensors: one placeholder each
            params = [p for p in inspect.signature(mod.forward).parameters.values()
                      if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
            concrete = {p.name: ([fx.PH] * len(a) if isinstance(a, (list, tuple)) else fx.PH)
                        for p, a in zip(params, raw)}
        graph = trace(mod, concrete, self.calls.get(id(mod)))
        if concrete is not None:
            inst.cat_dim = _hoist_cat(graph)
        inst.body = self.body(mod, graph, path, is_model=False)
        self.instances.append(inst)
        return inst

    # ------------------------------------------------------------------ bodies
    def body(self, module, graph, path: str, is_model: bool) -> Body:
        import torch
        import torch.fx as fx

        body = Body(module, type(module).__name__)
        users = {n: len(n.users) for n in graph.nodes}
        for n in graph.nodes:  # names torch owns in this body: attributes, learned tensors
            if n.op in ("call_module", "get_attr"):
                body.taken.add(str(n.target))
        open_stmt: Stmt | None = None
        called: set = set()
        skip: set = set()
        shape_i = 0
        for node in graph.nodes:
            if node.op == "placeholder":
                name = self.value_name(body, node)
                if is_model:
                    if shape_i >= len(self.shapes):
                        raise Unsupported(f"{type(module).__name__}.forward takes an input {node.target!r} "
                                          f"but only {len(self.shapes)} --input shapes were given", node,
                                          "give one --input per tensor argument of forward")
                    dt, dims = self.shapes[shape_i]
                    shape_i += 1
                    body.stmts.append(Stmt([], text=f"input {name}: {dt}[{', '.join(map(str, dims))}]"))
                else:
                    body.stmts.append(Stmt([], text=f"input {name}"))
                continue
            if node.op == "get_attr":
                t = str(node.target)
                obj = _attr(module, t)
                if not t.isidentifier() or not isinstance(obj, torch.nn.Parameter):
                    raise Unsupported(f"{path + '.' if path else ''}{t} is a "
                                      f"{'buffer' if isinstance(obj, torch.Tensor) else type(obj).__name__} "
                                      "read in forward; the language has learned tensors (param) of the "
                                      "module itself only", node)
                body.names[node] = t
                dt = "" if obj.dtype == torch.float32 else str(obj.dtype).replace("torch.", "")
                pieces: list = [f"param {t}: {dt}["]
                for i, d in enumerate(obj.shape):  # sizes are constants a block may take as parameters
                    pieces += ([", "] if i else []) + [Lit(int(d), "dim")]
                body.stmts.append(Stmt(pieces + ["]"], last=None))
                continue
            if node.op == "output":
                outs = node.args[0]
                outs = list(outs) if isinstance(outs, (tuple, list)) else [outs]
                if not outs or not all(isinstance(o, fx.Node) for o in outs):
                    raise Unsupported(f"{type(module).__name__}.forward returns "
                                      f"{type(node.args[0]).__name__}, not tensors", node)
                body.stmts.append(Stmt(["output "] + _joined(outs)))
                continue
            if node in skip or node.op in ("call_method", "call_function") and is_size_value(node):
                continue  # sizes and checks: the numbers are read where they are used
            if node.op == "call_module" and "." not in str(node.target) and not str(node.target).isidentifier():
                raise Unsupported(f"{path + '.' if path else ''}{node.target}: the attribute name is not "
                                  "a .model label (labels are identifiers)", node)
            if node.op == "call_module":
                t = str(node.target)
                if "." in t:
                    run = self.container_run(module, node)
                    if run is None:
                        raise Unsupported(f"{type(module).__name__}.forward calls {t} (an item of a container) "
                                          "on its own; the language names a module by one label", node,
                                          "call every item of the container in turn, or an nn.Sequential")
                    parent = t.rpartition(".")[0]
                    skip.update(run[1:])
                    first = _tensor_args(node)[0]
                    pieces = [f"{parent}: ", self.group(module.get_submodule(parent),
                                                        f"{path}.{parent}" if path else parent, node)]
                    node = run[-1]  # the group's value is the last item's
                    if open_stmt is not None and open_stmt.last is first and users[first] == 1:
                        open_stmt.pieces += ["\n    -> "] + pieces
                        open_stmt.last = node
                    else:
                        open_stmt = Stmt([first, " -> "] + pieces, last=node)
                        body.stmts.append(open_stmt)
                    continue
                mod = module.get_submodule(t)
                tensors = _tensor_args(node, layer_kind(mod))
                if t in called:  # the same module applied again: its label, its weights
                    pieces = [t] + _call([], tensors[1:])
                else:
                    called.add(t)
                    pieces = self.step_pieces(
                        mod, t, f"{path}.{t}" if path else t, tensors[1:], node, node.args)
                first = tensors[0]
            else:
                op = function_op(node)
                if op.form == "expr":
                    text = op.text
                    if op.pre is not None:  # a chain first, which the expression reads (None)
                        pre = _Value(f"{node.name}_norm")
                        body.stmts.append(Stmt([op.tensors[0], " -> "] + op.pre, last=pre))
                        text = [pre if t is None else t for t in text]
                    body.stmts.append(Stmt(text, last=node))
                    open_stmt = None
                    continue
                if op.form == "multi":  # a, b = x -> chunk(2, dim=1): the getitems are its names
                    n = op.args[0][1].value
                    items = {u.args[1]: u for u in node.users if u.target is operator.getitem}
                    targets = [items.get(i) or _Value(f"{node.name}_{i}") for i in range(n)]
                    skip.update(items.values())
                    body.stmts.append(Stmt([op.tensors[0], " -> ", op.kind] + _call(op.args), targets=targets))
                    open_stmt = None
                    continue
                first = op.tensors[0]
                pieces = [op.kind] + _call(op.args, op.tensors[1:])
                for kind, args in op.then:
                    pieces += ["\n    -> ", kind] + _call(args)
            if open_stmt is not None and open_stmt.last is first and users[first] == 1:
                open_stmt.pieces += ["\n    -> "] + pieces
                open_stmt.last = node
            else:
                open_stmt = Stmt([first, " -> "] + pieces, last=node)
                body.stmts.append(open_stmt)
        for st in body.stmts:  # name every value a statement defines, in order
            for v in st.targets or ([st.last] if st.last is not None else []):
                self.value_name(body, v)
        return body

    def value_name(self, body: Body, node) -> str:
        if node in body.names:
            return body.names[node]
        base = "".join(c if c.isalnum() or c == "_" else "_" for c in node.name) or "v"
        if base[0].isdigit():
            base = "v" + base
        if base in body.taken or base in RESERVED:
            base += "_out"
        name, i = base, 1
        while name in body.taken:
            name = f"{base}_{i}"
            i += 1
        body.taken.add(name)
        body.names[node] = name
        return name


def _hoist_cat(graph) -> int | None:
    """A forward that begins ``torch.cat(inputs, d)`` of its list of inputs, and reads them nowhere
    else (DenseNet's layers): the cat becomes the one input, so that every length of the list is
    one structure (one block); the caller writes the concat. The dim, or None."""
    import torch

    phs = [n for n in graph.nodes if n.op == "placeholder"]
    users = {u for p in phs for u in p.users}
    if len(phs) < 1 or len(users) != 1:
        return None
    (cat,) = users
    if cat.op != "call_function" or cat.target is not torch.cat or list(cat.args[0]) != phs \
            or any(len(p.users) != 1 for p in phs):
        return None
    dim = cat.args[1] if len(cat.args) > 1 else cat.kwargs.get("dim", 0)
    if not isinstance(dim, int):
        return None
    with graph.inserting_before(phs[0]):
        one = graph.placeholder("input")
    one.meta = dict(cat.meta)
    cat.replace_all_uses_with(one)
    graph.erase_node(cat)
    for p in phs:
        graph.erase_node(p)
    one.name = one.target = "x"  # not input_<k>: the name must not tell the lengths apart
    return dim


class _Value:
    """A value the importer adds (a layer norm before its affine part): named like a node."""

    def __init__(self, name: str):
        self.name = name
        self.meta: dict = {}


def _attr(mod, target: str):
    obj = mod
    for part in target.split("."):
        obj = getattr(obj, part)
    return obj


def _tensor_args(node, kind: str | None = None) -> list:
    import torch.fx as fx

    out = []
    for a in node.args:
        if isinstance(a, fx.Node):
            out.append(a)
        elif isinstance(a, (list, tuple)) and a and all(isinstance(x, fx.Node) for x in a):
            out += list(a)
        else:
            raise Unsupported(f"{node.target} is called with {a!r}, not a tensor", node)
    kwargs = dict(node.kwargs)
    if kind == "MultiheadAttention":  # (q, k, v): one tensor for self-attention, two when k is v
        kwargs.pop("need_weights", None)  # the weights are not read: their getitem was dropped in trace()
        if len(out) == 3 and out[1] is out[2]:
            out = out[:2] if out[0] is not out[1] else out[:1]
    if kwargs:
        raise Unsupported(f"{node.target} is called with keyword arguments "
                          f"({', '.join(kwargs)})", node)
    if not out:
        raise Unsupported(f"{node.target} is called without a tensor", node)
    return out


def _joined(nodes) -> list:
    out: list = []
    for i, n in enumerate(nodes):
        out += ([", "] if i else []) + [n]
    return out


def _call(args, tensors=()) -> list:
    """``(t1, t2, a, k=b)`` as pieces, or nothing when there is nothing to pass."""
    if not args and not tensors:
        return []
    out: list = ["("]
    items = [[t] for t in tensors] + [([f"{k}="] if k else []) + [v] for k, v in args]
    for i, it in enumerate(items):
        out += ([", "] if i else []) + it
    return out + [")"]


__all__ = ["Body", "BlockCall", "Group", "Importer", "Instance", "Lit", "Stmt", "Unsupported",
           "source_line", "trace"]
