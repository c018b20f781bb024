"""Completion: layer kinds, blocks, constants and values in scope; inside a call's parentheses,
the arguments of that layer, block or training component with their type and default; in a
``train`` section the settings and, after ``loss =``, ``optimizer =``, ``scheduler =`` or
``data =``, the components of that kind; in an ``init`` section the initializers.

Reads the text itself around the cursor (the text being typed rarely parses) and the last tree
that parsed.  Items are the protocol's dicts.
"""

from __future__ import annotations

import re

from graphc import ast as A
from graphc.lsp import navigate

PROPERTY, CLASS, FUNCTION, VARIABLE, KEYWORD = 10, 7, 3, 6, 14   # CompletionItemKind
#: The component kind a training setting takes.
SETTING_KINDS = {"loss": "loss", "optimizer": "optimizer", "scheduler": "scheduler", "data": "data set"}
_SETTING = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*[A-Za-z_0-9]*$")
_IDENT_BEFORE = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*$")


def section_at(text: str, offset: int) -> str | None:
    """"train" or "init" when ``offset`` is inside that section's braces (not in a call)."""
    depth = 0
    i = offset - 1
    stop = max(0, offset - 20000)
    while i >= stop:
        c = text[i]
        if c == "}":
            depth += 1
        elif c == "{":
            if depth == 0:
                m = _IDENT_BEFORE.search(text, max(0, i - 40), i)
                return m.group(1) if m and m.group(1) in ("train", "init") else None
            depth -= 1
        i -= 1
    return None


def _components(kind: str) -> dict:
    from graphc.components.base import registry

    return registry(kind)


def _component(name: str):
    from graphc.components.base import KINDS

    for kind in KINDS:
        c = _components(kind).get(name)
        if c is not None:
            return c
    return None


def schema_items(params_cls, given: set[str]):
    """(name, detail, documentation) of each field of a schema that ``given`` lacks."""
    from graphc.binder import _constraints, _fmt, describe_type

    for name, f in params_cls.model_fields.items():
        if name in given:
            continue
        t = describe_type(f.annotation) + _constraints(f.metadata)
        detail = f"{t}, required" if f.is_required() else f"{t} = {_fmt(f.default)}"
        yield name, detail, getattr(f, "description", None) or ""


def _argument(i: int, name: str, detail: str, doc: str) -> dict:
    item = {"label": name, "kind": PROPERTY, "detail": detail, "insertText": f"{name}=", "sortText": f"0{i:03d}"}
    if doc:
        item["documentation"] = doc
    return item


def _component_item(c) -> dict:
    item = {"label": c.name, "kind": FUNCTION, "detail": c.kind + (f" ({c.torch_name})" if c.torch_name else ""),
            "sortText": f"0{c.name}"}
    if c.doc():
        item["documentation"] = c.doc()
    return item


def items(text: str, offset: int, tree: A.File | None, trees: list[A.File], line: int, col: int) -> list[dict]:
    blocks = {it.name.id: it for t in trees for it in t.items if isinstance(it, A.BlockDef)}
    out: list[dict] = []
    ctx = navigate.call_context(text, offset)
    section = section_at(text, offset) if ctx is None else None
    if ctx is not None:
        kind, given = ctx
        comp = _component(kind) if kind not in blocks else None
        from graphc.layers.base import LAYERS

        if comp is not None and kind not in LAYERS:
            args = schema_items(comp.Params, given)
        else:
            args = navigate.argument_items(kind, given, blocks)
        out += [_argument(i, *a) for i, a in enumerate(args)]
    elif section is not None:
        line_text = text[text.rfind("\n", 0, offset) + 1:offset]
        m = _SETTING.match(line_text)
        if m is not None:  # a setting's value: the components it takes
            kind = "initializer" if section == "init" else SETTING_KINDS.get(m.group(1))
            if kind is not None:
                return [_component_item(c) for c in _components(kind).values()]
            return []
        if section == "train":
            from graphc.training import Settings

            for i, key in enumerate(SETTING_KINDS):
                out.append({"label": key, "kind": PROPERTY, "detail": f"a {SETTING_KINDS[key]}",
                            "insertText": f"{key} = ", "sortText": f"0{i:03d}"})
            for i, (name, detail, _doc) in enumerate(schema_items(Settings, set())):
                out.append({"label": name, "kind": PROPERTY, "detail": detail, "insertText": f"{name} = ",
                            "sortText": f"1{i:03d}"})
            return out
    from graphc.layers.base import LAYERS

    for kind in LAYERS:
        out.append({"label": kind, "kind": CLASS, "sortText": f"2{kind}", "data": {"kind": kind}})
    if section == "init":  # the layer kinds (above) and the parameter names an init rule targets
        for name in ("weight", "bias"):
            out.append({"label": name, "kind": PROPERTY, "sortText": f"1{name}"})
        return out
    for name, b in blocks.items():
        params_text = ", ".join(p.name.id for p in b.params)
        out.append({"label": name, "kind": FUNCTION, "detail": f"block {name}({params_text})",
                    "sortText": f"1{name}"})
    if tree is not None:
        defn = navigate.enclosing(tree, line, col)
        names = navigate.local_names(defn) if defn is not None else {}
        for t in trees:
            for it in t.items:
                if isinstance(it, A.ConstDef):
                    names.setdefault(it.name.id, it.name.span)
        for name in names:
            out.append({"label": name, "kind": VARIABLE, "sortText": f"1{name}"})
    return out


def resolve(item: dict) -> dict:
    data = item.get("data")
    kind = data.get("kind") if isinstance(data, dict) else None
    if kind:
        doc = navigate.kind_doc(kind)
        if doc:
            item["documentation"] = {"kind": "markdown", "value": doc}
    return item
