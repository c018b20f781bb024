"""``graphc viz FILE -o X.html``: one self-contained, interactive page.

The page fetches nothing: its script, style and the model's data are inside it.  Layout
happens in the page (graphc/emit/templates/viz/viz.js, a small layered layout written for
graphc's graphs): expanding or collapsing a block changes the graph that is drawn, so the
layout must be recomputed in the browser; a layout computed here by graphviz would hold for
one choice of open blocks only.  The data is the program's block tree (every layer, block
instance and repeat, with kind, arguments as written, output shape, parameters, MACs,
activation memory and ``file:line``), its edges with their shapes, and the diagnostics, each
tied to the items it is about.

Every text from the .model file (names, strings, comments in spans) reaches the page only as
JSON inside ``<script type="application/json">``, with ``<``, ``>`` and ``&`` written as
``\\u003c``, ``\\u003e`` and ``\\u0026`` (so ``</script>`` or ``<!--`` in a label cannot end or
change the block), and the script puts it into the page with ``textContent`` only.  The few
texts written into the HTML itself (the title) go through ``html.escape``.
"""

from __future__ import annotations

import html
import json
from importlib import resources

from graphc.graph import Node, Program, Repeat, Scope
from graphc.shapes import shape_str

MAX_CALL = 300  # characters of a call's source text kept for the details panel


def _num(d) -> int | str:
    return d if isinstance(d, int) else str(d)


def _call_text(sources: dict, span) -> str:
    """The source text of a span (its first line when it spans several), shortened."""
    src = sources.get(span.path)
    if src is None:
        return ""
    line = src.line_text(span.line)
    text = line[span.col - 1:span.end_col - 1] if span.end_line == span.line else line[span.col - 1:] + " …"
    text = text.strip()
    return text if len(text) <= MAX_CALL else text[:MAX_CALL] + "…"


def _shape_text():
    """shape_str, remembered per shape: a large model repeats a few shapes thousands of times
    (a 10,000-layer chain has 2 distinct shapes and 30,000 places that show one)."""
    seen: dict = {}

    def text(shape) -> str:
        try:
            return seen[shape]
        except KeyError:
            seen[shape] = out = shape_str(shape)
            return out
        except TypeError:  # not hashable
            return shape_str(shape)
    return text


def viz_data(prog: Program | None, source, diagnostics, models: list[str] | None = None) -> dict:
    """What the page draws, as JSON-able data (deterministic: the program's order)."""
    from graphc.summary import summarize

    shape_str = _shape_text()
    diags = [{"loc": f"{d.span.path}:{d.span.line}:{d.span.col}", "sev": d.severity, "code": d.code,
              "msg": d.message, "hint": d.hint or "", "items": []} for d in diagnostics]
    data = {"model": prog.name if prog else "", "file": source.path, "models": models or [],
            "items": [], "edges": [], "diags": diags}
    if prog is None:
        return data
    sources = {source.path: source, **{p: s for p, s in getattr(source, "imported", {}).items()}}
    sources.update(prog.sources or {})
    rows = {r.name: r for r in summarize(prog).rows}
    items: list[dict] = data["items"]
    index: dict[str, int] = {}  # node or group id -> item index
    spans: list[tuple] = []     # (span, item index) of every item, for the diagnostics

    def add(item: dict, span) -> int:
        items.append(item)
        i = len(items) - 1
        if span is not None:
            spans.append((span, i))
        return i

    def metrics(item: dict, key: str) -> None:
        r = rows.get(key)
        if r is not None:
            item.update(params=r.params, macs=_num(r.macs), mem=_num(r.activation_bytes),
                        shape=r.output_shape or item.get("shape", "?"))

    for n in prog.inputs:
        t = n.declared
        it = {"id": n.id, "t": "i", "name": n.name, "kind": "input", "cat": "input", "p": -1,
              "shape": shape_str(t.shape) if t else "?", "dtype": t.dtype if t else "",
              "loc": f"{n.span.path}:{n.span.line}", "call": _call_text(sources, n.span),
              "params": 0, "macs": 0, "mem": 0}
        index[n.id] = add(it, n.span)

    def node_item(n: Node, parent: int) -> None:
        extra = ""
        if n.outs is not None and n.params is not None and n.layer is not None:
            try:
                extra = n.layer.label(n.params, [prog.type_of(r) for r in n.inputs])
            except Exception:  # a label is decoration: a layer that cannot make one gets none
                extra = ""
        it = {"id": n.id, "t": "n", "name": n.name, "kind": n.kind, "label": extra,
              "cat": n.layer.category if n.layer else "other", "p": parent,
              "shape": "?" if not n.outs else rows[n.id].output_shape if n.id in rows and rows[n.id].output_shape
              else " ".join(shape_str(t.shape) for t in n.outs),
              "loc": f"{n.span.path}:{n.span.line}", "call": _call_text(sources, n.span),
              "params": 0, "macs": 0, "mem": 0}
        if n.shares is not None:
            it["shares"] = n.shares.id
        if n.outs is None:
            it["unknown"] = 1
        metrics(it, n.id)
        index[n.id] = add(it, n.span)

    def group_item(g: Scope | Repeat, parent: int) -> None:
        if isinstance(g, Scope):
            kind, t, children = g.kind, "s", g.items
        else:
            kinds = {m.kind for m in g.members}
            kind = f"{kinds.pop()} ×{len(g.members)}" if len(kinds) == 1 else "Sequential"
            t, children = "r", g.members
        it = {"id": g.id, "t": t, "name": g.name, "kind": kind, "cat": "block", "p": parent,
              "loc": f"{g.span.path}:{g.span.line}", "call": _call_text(sources, g.span),
              "shape": "?", "params": 0, "macs": 0, "mem": 0, "c": []}
        if getattr(g, "shares", None) is not None:
            it["shares"] = g.shares.id
        metrics(it, g.id)
        i = index[g.id] = add(it, g.span)
        walk(children, i)

    def walk(children, parent: int) -> None:
        for ch in children:
            before = len(items)
            if isinstance(ch, Node):
                node_item(ch, parent)
            else:
                group_item(ch, parent)
            if parent >= 0:
                items[parent]["c"].append(before)

    walk(prog.root.items, -1)
    for name, ref in prog.outputs:
        t = prog.type_of(ref)
        oid = "output:" + name
        index[oid] = add({"id": oid, "t": "o", "name": name, "kind": "output", "cat": "output", "p": -1,
                          "shape": shape_str(t.shape) if t else "?", "loc": "", "call": "",
                          "params": 0, "macs": 0, "mem": 0}, None)

    seen: set[tuple[int, int]] = set()
    for n in prog.nodes.values():
        for ref in n.inputs:
            if ref[0] not in index or n.id not in index:
                continue
            key = (index[ref[0]], index[n.id])
            if key in seen:
                continue
            seen.add(key)
            t = prog.type_of(ref)
            data["edges"].append([key[0], key[1], shape_str(t.shape) if t else "?"])
    for name, ref in prog.outputs:
        if ref[0] in index:
            t = prog.type_of(ref)
            data["edges"].append([index[ref[0]], index["output:" + name], shape_str(t.shape) if t else "?"])

    for d, dj in zip(diagnostics, diags):
        dj["items"] = _items_at(d.span, spans)
        for i in dj["items"]:
            if d.severity == "error":
                items[i]["err"] = 1
            else:
                items[i].setdefault("warn", 1)
    return data


def _items_at(span, spans: list[tuple]) -> list[int]:
    """The items a diagnostic is about: the innermost item whose span holds its start."""
    def holds(s, line, col):
        return s.path == span.path and (s.line, s.col) <= (line, col) <= (s.end_line, s.end_col)

    hits = [(s, i) for s, i in spans if holds(s, span.line, span.col)]
    if not hits:
        hits = [(s, i) for s, i in spans if s.path == span.path and s.line == span.line]
    if not hits:
        return []
    size = min((s.end_line - s.line, s.end_col - s.col if s.end_line == s.line else 0) for s, _ in hits)
    return [i for s, i in hits
            if (s.end_line - s.line, s.end_col - s.col if s.end_line == s.line else 0) == size][:4]


def _script_json(data: dict) -> str:
    """JSON that cannot end or alter the <script> element it is written in."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), sort_keys=False)
    return (text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def _asset(name: str) -> str:
    return resources.files("graphc.emit").joinpath("templates", "viz", name).read_text(encoding="utf-8")


def to_html(data: dict, live: dict | None = None) -> str:
    """The page: the template with its style, script and the data filled in.

    ``live`` (from ``graphc serve``: ``{"data": URL, "version": N}``) makes a page that follows
    the file: it may fetch from its own server (``connect-src 'self'``) and polls ``URL``."""
    title = f"{data['model'] or data['file']} — graphc"
    page = _asset("page.html")
    js = _asset("layout.js") + "\n" + _asset("viz.js")
    if live is not None:
        js += "\n" + _asset("live.js")
    parts = {"@TITLE@": html.escape(title), "@CSS@": _asset("viz.css"), "@DATA@": _script_json(data),
             "@CONNECT@": " connect-src 'self';" if live is not None else "",
             "@LIVE@": "" if live is None else
             f'<script type="application/json" id="graphc-live">{_script_json(live)}</script>\n',
             "@JS@": js}
    out = []
    rest = page
    while True:  # one pass, so a filled-in part is never searched for another marker
        starts = [(rest.find(k), k) for k in parts if rest.find(k) >= 0]
        if not starts:
            out.append(rest)
            break
        pos, key = min(starts)
        out += [rest[:pos], parts[key]]
        rest = rest[pos + len(key):]
    return "".join(out)
