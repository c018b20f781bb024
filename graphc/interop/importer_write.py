"""graphc import: the .model text of traced bodies, blocks recovered.

The instances of one module class whose bodies have the same structure (the same text once
their constants are blanked) become one block; a constant that differs between them becomes a
block parameter (constants that differ together, one parameter), named after the argument it
fills (``out_channels``, ``stride``). Instances of one class whose structure differs (a ResNet
block with and without its downsample) become blocks of their own: ``BasicBlock``,
``BasicBlock_2``. An ``nn.Sequential`` whose members are equal is a repeat (``Block(64) * 2``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from graphc.interop.importer_layers import Lit, Unsupported, fmt_value
from graphc.interop.importer_trace import RESERVED, BlockCall, Body, Group, Importer


@dataclass
class BlockDef:
    name: str
    params: list[str]
    tokens: list                      # str, or int: the index of a parameter
    inputs: int
    uses: int = 0
    paths: list = field(default_factory=list)


def render(body: Body, pieces: list) -> list:
    """Pieces as tokens: text and Lit constants (block calls and groups resolved)."""
    out: list = []
    for p in pieces:
        if isinstance(p, str) or isinstance(p, Lit):
            out.append(p)
        elif isinstance(p, BlockCall):
            inst = p.inst
            if inst.block is None:
                raise RuntimeError("block used before it was resolved")
            out.append(inst.block.name)
            items = [[body.names.get(t) or _name(body, t)] for t in p.tensors] + [[a] for a in inst.args]
            if items:
                out.append("(")
                for i, it in enumerate(items):
                    out += ([", "] if i else []) + it
                out.append(")")
        elif isinstance(p, Group):
            out += _group(body, p)
        else:  # an fx node: its value's name
            out.append(body.names.get(p) or _name(body, p))
    return out


def _name(body: Body, node) -> str:
    raise Unsupported(f"internal: the value {node.name} has no name in {body.cls_name}", node)


def _group(body: Body, g: Group) -> list:
    members = [render(body, pieces) for _, pieces in g.members]
    unlabelled = all(lab is None for lab, _ in g.members)
    nested = any(isinstance(x, Group) for _, pieces in g.members for x in pieces)
    if len(members) > 1 and unlabelled and not nested and all(m == members[0] for m in members):
        return members[0] + [" * ", Lit(len(members), "n")]
    out: list = ["("]
    for i, m in enumerate(members):
        out += (["\n        -> "] if i else []) + m
    return out + [")"]


def body_tokens(body: Body) -> list:
    """The statements of a body as one token list, one statement a line."""
    out: list = []
    for st in body.stmts:
        if st.text is not None:
            out += ["\n    ", st.text]
            continue
        toks = render(body, st.pieces)
        if toks and isinstance(toks[0], str) and toks[0].startswith(("output ", "param ")):
            out += ["\n    "] + toks
            continue
        names = [body.names[v] for v in st.targets] if st.targets else [body.names[st.last]]
        out += ["\n    ", ", ".join(names), " = "] + toks
    return out


def _key(v):
    return (type(v).__name__, repr(v))


def resolve(imp: Importer) -> list[BlockDef]:
    """Make blocks of every instance, inner ones first; returns them in the order of the file."""
    pending = list(imp.instances)  # appended in the order their trace finished: inner first
    defs: list[BlockDef] = []
    by_class: dict = {}
    for inst in pending:
        by_class.setdefault(type(inst.module), []).append(inst)
    done: set = set()
    names: set = set()
    from graphc.layers import REGISTRY

    while len(done) < len(by_class):
        progressed = False
        for cls, insts in by_class.items():
            if cls in done or not all(_ready(i) for i in insts):
                continue
            progressed = True
            done.add(cls)
            groups: dict = {}
            for inst in insts:
                toks = body_tokens(inst.body)
                sig = tuple(t if isinstance(t, str) else None for t in toks)
                groups.setdefault(sig, []).append((inst, toks))
            for n, members in enumerate(groups.values()):
                base = cls.__name__.lstrip("_") or "Block"
                if not base[0].isalpha():
                    base = "B" + base
                name = base if n == 0 else f"{base}_{n + 1}"
                while name in names or name in REGISTRY or name in RESERVED:
                    name += "_"
                names.add(name)
                defs.append(_make_block(name, members))
        if not progressed:
            raise RuntimeError("blocks that use each other")
    return defs


def _ready(inst) -> bool:
    def pieces_ready(pieces):
        for p in pieces:
            if isinstance(p, BlockCall) and p.inst.block is None:
                return False
            if isinstance(p, Group) and not all(pieces_ready(m) for _, m in p.members):
                return False
        return True

    return all(pieces_ready(st.pieces) for st in inst.body.stmts)


def _make_block(name: str, members: list) -> BlockDef:
    first = members[0][1]
    lit_pos = [i for i, t in enumerate(first) if isinstance(t, Lit)]
    vectors = {i: tuple(_key(toks[i].value) for _, toks in members) for i in lit_pos}
    taken = set(members[0][0].body.taken) | set(members[0][0].body.names.values()) | RESERVED
    param_of_vector: dict = {}
    params: list[str] = []
    tokens: list = []
    for i, t in enumerate(first):
        if not isinstance(t, Lit) or len(set(vectors[i])) == 1:
            tokens.append(t if isinstance(t, str) else fmt_value(t.value))
            continue
        vec = vectors[i]
        if vec not in param_of_vector:
            pname, k = t.hint, 2
            while pname in taken or pname in params:
                pname, k = f"{t.hint}_{k}", k + 1
            param_of_vector[vec] = len(params)
            params.append(pname)
        tokens.append(param_of_vector[vec])
    block = BlockDef(name, params, tokens, members[0][0].n_inputs, len(members))
    index_of = {}
    for vec, j in param_of_vector.items():
        index_of[j] = next(i for i in lit_pos if vectors[i] == vec)
    for inst, toks in members:
        inst.block = block
        inst.args = [Lit(toks[index_of[j]].value, params[j]) for j in range(len(params))]
        block.paths.append(inst.path)
    return block


def block_text(b: BlockDef) -> str:
    body = "".join(t if isinstance(t, str) else b.params[t] for t in b.tokens)
    uses = ", ".join(p for p in b.paths[:4]) + (", ..." if len(b.paths) > 4 else "")
    return f"# {b.uses} use{'s' if b.uses != 1 else ''}: {uses}\nblock {b.name}({', '.join(b.params)}) {{{body}\n}}\n"


def model_text(name: str, body: Body) -> str:
    toks = body_tokens(body)
    text = "".join(t if isinstance(t, str) else fmt_value(t.value) for t in toks)
    return f"model {name} {{{text}\n}}\n"


def file_text(imp: Importer, root_body: Body, header: str) -> str:
    defs = resolve(imp)
    name = root_body.cls_name.lstrip("_") or "Imported"
    from graphc.layers import REGISTRY

    if name in {d.name for d in defs} or name in RESERVED or name in REGISTRY:
        name += "Model"
    parts = [header] + [block_text(d) for d in defs] + [model_text(name, root_body)]
    return "\n".join(parts)
