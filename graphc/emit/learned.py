"""The ``__init__`` lines of a learned tensor (``param pos: [1, N, D] = normal(std=0.02)``)::

    self.pos = nn.Parameter(torch.empty(1, 197, hidden))
    nn.init.normal_(self.pos, std=0.02)

``zeros()`` and ``ones()`` (the initializer records' ``factory``) make the tensor at once:
``nn.Parameter(torch.zeros(1, 1, hidden))``.  Each size and each argument of the
initializer is a constructor value of the class like a layer's (graphc.emit.values'
``value_src``): a literal where every use and trial of the class agrees, else the block
parameter, expression or derived parameter that gives it in all of them.  In forward the
tensor is ``self.pos`` itself, written where it is read (graphc.emit.torch_module).
"""

from __future__ import annotations

from graphc import pyfmt
from graphc.graph import Node
from graphc.layers.learned import PARAM_KIND
from graphc.params import same_value

DTYPE_TORCH = {"float16": "torch.float16", "bfloat16": "torch.bfloat16", "float64": "torch.float64"}


def is_param(item) -> bool:
    return isinstance(item, Node) and item.kind == PARAM_KIND


def param_lines(ctors, plan, nodes: list[Node]) -> list[str]:
    """The lines that make the learned tensor of ``nodes`` (one per use and trial of ``plan``)."""
    n0 = nodes[0]
    scopes = [n.scope for n in nodes]
    rel = _rel(n0)
    sizes = []
    for i in range(len(n0.params.shape)):
        key = f"size{i}"
        values = [n.params.shape[i] for n in nodes]
        sizes.append(ctors.value_src(plan, scopes, values, n0.arg_exprs.get(key), key, ("node", rel, (key,)),
                                     f"{n0.name}_{key}"))
    dtype = n0.params.dtype
    kwargs = [("dtype", DTYPE_TORCH[dtype])] if dtype in DTYPE_TORCH else []
    init = n0.params.init
    info = init.info
    factory = getattr(info, "factory", None)
    attr = f"self.{n0.name}"
    tensor = pyfmt.call(factory or "torch.empty", sizes if sizes else ["()"], kwargs)
    lines = pyfmt.wrap(f"{attr} = ", f"nn.Parameter({tensor})", "        ")
    if factory is None:
        args = []
        for name, f in type(init.params).model_fields.items():
            values = [getattr(n.params.init.params, name) for n in nodes]
            written = n0.arg_exprs.get(name)
            if not f.is_required() and all(same_value(v, f.default) for v in values) and \
                    (written is None or not ctors.uses_free(written, plan, scopes[0])):
                continue
            args.append(f"{name}=" + ctors.value_src(plan, scopes, values, written, name, ("node", rel, (name,)),
                                                     f"{n0.name}_{name}"))
        lines.append(f"        {info.call(init.params, attr, args)}")
    return lines


def _rel(node: Node) -> str:
    sid = node.scope.id
    return node.id[len(sid) + 1:] if sid else node.id
