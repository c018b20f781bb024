// graphc viz: the page.  Every text of the model reaches the page through textContent or an
// attribute set with setAttribute, never as markup.
"use strict";

(function () {
  const SVGNS = "http://www.w3.org/2000/svg";
  const BUDGET = 150;  // items drawn at most when the page opens (blocks open while they fit)
  const COLORS = {input: "#dbeafe", output: "#dbeafe", conv: "#fde68a", pool: "#bbf7d0", norm: "#e9d5ff",
    activation: "#fecaca", linear: "#fed7aa", dropout: "#e5e7eb", reshape: "#e5e7eb", merge: "#a5f3fc",
    recurrent: "#fbcfe8", attention: "#c7d2fe", embedding: "#d9f99d", param: "#fef9c3", block: "#f3f4f6",
    other: "#f3f4f6"};
  const $ = (id) => document.getElementById(id);
  const el = (tag, attrs, text) => {
    const e = tag.startsWith("svg:") ? document.createElementNS(SVGNS, tag.slice(4)) : document.createElement(tag);
    for (const k in attrs || {}) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  };
  // the model: replaced as a whole when `graphc serve` sends a new one (graphcUpdate below)
  let D, items, N, byId, depth, leaves, open, diagsOf, errIn;
  const isGroup = (i) => items[i].t === "s" || items[i].t === "r";
  function setData(data) {
    D = data; items = D.items; N = items.length;
    byId = new Map(items.map((it, i) => [it.id, i]));
    depth = new Int32Array(N); leaves = new Int32Array(N);
    for (let i = 0; i < N; i++) depth[i] = items[i].p >= 0 ? depth[items[i].p] + 1 : 0;
    for (let i = N - 1; i >= 0; i--) {
      if (!isGroup(i)) leaves[i] = 1;
      if (items[i].p >= 0) leaves[items[i].p] += leaves[i];
    }
    open = new Uint8Array(N);
    diagsOf = new Map();
    D.diags.forEach((d, k) => d.items.forEach((i) => { if (!diagsOf.has(i)) diagsOf.set(i, []); diagsOf.get(i).push(k); }));
    errIn = new Uint8Array(N);  // an error in the item or inside it
    for (let i = N - 1; i >= 0; i--) {
      if (items[i].err) errIn[i] = 1;
      if (errIn[i] && items[i].p >= 0) errIn[items[i].p] = 1;
    }
  }
  setData(JSON.parse(document.getElementById("graphc-data").textContent));

  // ------------------------------------------------------------ number formats
  const num = (v) => (typeof v === "number" ? v.toLocaleString("en-US") : String(v));
  const bytes = (v) => {
    if (typeof v !== "number") return v + " B";
    for (const [u, s] of [["GB", 2 ** 30], ["MB", 2 ** 20], ["KB", 2 ** 10]]) if (v >= s) return (v / s).toFixed(2) + " " + u;
    return v + " B";
  };

  // ------------------------------------------------------------ which items are drawn
  function defaultOpen() {  // level by level, a whole level or none: stages, then their blocks...
    open.fill(0);
    let shown = items.filter((it) => it.p < 0).length;
    let level = [];
    for (let i = 0; i < N; i++) if (isGroup(i) && items[i].p < 0) level.push(i);
    while (level.length) {
      const more = level.reduce((a, g) => a + items[g].c.length - 1, 0);
      if (shown + more > BUDGET) break;
      shown += more;
      const next = [];
      for (const g of level) { open[g] = 1; for (const c of items[g].c) if (isGroup(c)) next.push(c); }
      level = next;
    }
  }
  function reveal(i) {  // open every group above item i
    for (let p = items[i].p; p >= 0; p = items[p].p) open[p] = 1;
  }
  function visibleGraph() {
    const rep = new Int32Array(N);
    for (let i = 0; i < N; i++) {
      const p = items[i].p;
      rep[i] = p < 0 ? i : rep[p] !== p ? rep[p] : !open[p] ? p : i;
    }
    const verts = [], vid = new Int32Array(N).fill(-1);
    for (let i = 0; i < N; i++) if (rep[i] === i && !(isGroup(i) && open[i])) { vid[i] = verts.length; verts.push(i); }
    const edges = [], seen = new Set();
    for (const [a, b, shape] of D.edges) {
      const u = vid[rep[a]], v = vid[rep[b]];
      if (u < 0 || v < 0 || u === v) continue;
      const k = u * 1e6 + v;
      if (seen.has(k)) continue;
      seen.add(k); edges.push([u, v, shape]);
    }
    return {rep, verts, vid, edges};
  }

  // ------------------------------------------------------------ sizes of the boxes
  const ctx = document.createElement("canvas").getContext("2d");
  const FONT = "11px system-ui, -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif";
  // widths remembered per text: a large model repeats its kinds and shapes thousands of times,
  // and setting the canvas's font is itself slow, so it is set once per weight
  const widths = [new Map(), new Map()];
  let ctxBold = -1;
  const textW = (s, bold) => {
    const cache = widths[bold ? 1 : 0];
    let w = cache.get(s);
    if (w === undefined) {
      if (ctxBold !== (bold ? 1 : 0)) { ctxBold = bold ? 1 : 0; ctx.font = (bold ? "600 " : "") + FONT; }
      w = ctx.measureText(s).width;
      cache.set(s, w);
    }
    return w;
  };
  function lines(i) {
    const it = items[i];
    if (isGroup(i)) return [it.name, it.kind + "  (" + leaves[i].toLocaleString("en-US") + " layers)", it.shape];
    if (it.t === "i") return [it.name, "input " + (it.dtype || ""), it.shape];
    if (it.t === "o") return [it.name, "output", it.shape];
    return [it.name, it.kind + (it.label ? "  " + it.label : ""), it.shape];
  }

  // ------------------------------------------------------------ state, layout, drawing
  let G = null, L = null, selected = -1, hits = new Set();
  const view = {x: 0, y: 0, k: 1};
  const svg = $("svg"), world = $("world"), gNodes = $("nodes"), gEdges = $("edges"), gClusters = $("clusters");
  let metric = "cat", metricMax = 0;

  function relayout() {
    const t0 = performance.now();
    G = visibleGraph();
    const n = G.verts.length, w = new Float64Array(n), h = new Float64Array(n);
    const path = [], order = new Float64Array(n), isInput = new Uint8Array(n);
    G.verts.forEach((i, v) => {
      const ls = lines(i);
      w[v] = Math.max(80, Math.max(textW(ls[0], true), textW(ls[1]), textW(ls[2])) + 24);
      h[v] = 50;
      const p = [];
      for (let a = items[i].p; a >= 0; a = items[a].p) p.unshift(a);
      path.push(p);
      order[v] = items[i].t === "o" ? N + v : i;
      isInput[v] = items[i].t === "i" ? 1 : 0;
    });
    const groupDepth = new Map();
    for (let i = 0; i < N; i++) if (isGroup(i) && open[i]) groupDepth.set(i, depth[i]);
    L = graphcLayout({n, w, h, path, order, isInput, edges: G.edges, groupDepth, parentOf: (g) => items[g].p});
    L.w = w; L.h = h;
    L.ms = performance.now() - t0;
    updateMetric();
    draw(true);
  }

  function fill(i) {
    const it = items[i];
    if (metric === "cat") return COLORS[it.cat] || COLORS.other;
    const v = it[metric];
    if (typeof v !== "number") return "#e5e7eb";
    const t = metricMax > 0 ? Math.log1p(v) / Math.log1p(metricMax) : 0;
    const c = (a, b) => Math.round(a + (b - a) * t);
    return "rgb(" + c(248, 220) + "," + c(250, 38) + "," + c(252, 38) + ")";
  }
  function updateMetric() {
    metricMax = 0;
    if (metric !== "cat") for (const i of G.verts) if (typeof items[i][metric] === "number") metricMax = Math.max(metricMax, items[i][metric]);
    $("legend").textContent = metric === "cat" ? "" : "white 0 → red " + (metric === "mem" ? bytes(metricMax) : num(metricMax));
  }

  const nodeEls = new Map();
  function nodeEl(v) {
    const i = G.verts[v], it = items[i], ls = lines(i), w = L.w[v], h = L.h[v];
    const cls = ["node"];
    if (isGroup(i)) cls.push("group");
    if (it.err || (isGroup(i) && errIn[i])) cls.push("err"); else if (it.warn) cls.push("warn");
    if (it.unknown) cls.push("unknown");
    const g = el("svg:g", {class: cls.join(" "), "data-id": it.id, transform: `translate(${L.x[v] - w / 2},${L.y[v] - h / 2})`});
    g.appendChild(el("svg:rect", {width: w, height: h, rx: 6, fill: fill(i)}));
    g.appendChild(el("svg:text", {x: 10, y: 15, class: "name"}, ls[0]));
    g.appendChild(el("svg:text", {x: 10, y: 29, class: "kind"}, ls[1]));
    g.appendChild(el("svg:text", {x: 10, y: 43, class: "shape"}, ls[2]));
    if (isGroup(i)) {
      const t = el("svg:text", {x: w - 16, y: 15, class: "toggle", "data-toggle": it.id}, "+");
      g.appendChild(t);
    }
    g.addEventListener("click", (ev) => { if (ev.target.dataset && ev.target.dataset.toggle) return; select(i); });
    g.addEventListener("dblclick", () => { if (isGroup(i)) toggle(i); });
    g.addEventListener("mousemove", (ev) => showTip(i, ev));
    g.addEventListener("mouseleave", hideTip);
    return g;
  }
  function draw(rebuild) {
    if (rebuild) {
      nodeEls.clear();
      gNodes.replaceChildren(); gEdges.replaceChildren(); gClusters.replaceChildren();
    }
    const rect = svg.getBoundingClientRect();
    const vw = rect.width || 800, vh = rect.height || 600, m = 0.5;
    const x0 = (-view.x - vw * m) / view.k, x1 = (-view.x + vw * (1 + m)) / view.k;
    const y0 = (-view.y - vh * m) / view.k, y1 = (-view.y + vh * (1 + m)) / view.k;
    drawn = [x0, y0, x1, y1];
    const detail = view.k >= 0.3;
    const nodes = [], edges = [], clusters = [];
    for (let v = 0; v < G.verts.length; v++) {
      const x = L.x[v], y = L.y[v];
      if (x + L.w[v] / 2 < x0 || x - L.w[v] / 2 > x1 || y + 25 < y0 || y - 25 > y1) continue;
      let e = nodeEls.get(v);
      if (!e) { e = nodeEl(v); nodeEls.set(v, e); }
      e.classList.toggle("hit", hits.has(G.verts[v]));
      e.classList.toggle("sel", G.verts[v] === selected);
      e.classList.toggle("changed", changed.has(G.verts[v]));
      nodes.push(e);
    }
    G.edges.forEach((ed, k) => {
      const r = L.routes[k], p = r.pts;
      let ex0 = Infinity, ex1 = -Infinity, ey0 = Infinity, ey1 = -Infinity;
      for (const [px, py] of p) { ex0 = Math.min(ex0, px); ex1 = Math.max(ex1, px); ey0 = Math.min(ey0, py); ey1 = Math.max(ey1, py); }
      if (ex1 < x0 || ex0 > x1 || ey1 < y0 || ey0 > y1) return;
      let d = `M${p[0][0]},${p[0][1]}`;
      for (let j = 1; j < p.length; j++) {
        const [ax, ay] = p[j - 1], [bx, by] = p[j];
        d += ax === bx ? `L${bx},${by}` : `C${ax},${(ay + by) / 2} ${bx},${(ay + by) / 2} ${bx},${by}`;
      }
      const g = el("svg:g", {class: "edge" + (r.back ? " back" : "")});
      g.appendChild(el("svg:path", {d, "marker-end": "url(#arrow)"}));
      if (detail) {
        const [ax, ay] = p[p.length - 2], [bx, by] = p[p.length - 1];
        g.appendChild(el("svg:text", {x: (ax + bx) / 2 + 4, y: (ay + by) / 2 + 3}, ed[2]));
      }
      edges.push(g);
    });
    for (const [grp, b] of L.boxes) {
      if (b[2] < x0 || b[0] > x1 || b[3] < y0 || b[1] > y1) continue;
      const it = items[grp];
      const g = el("svg:g", {class: "cluster " + it.t + (errIn[grp] ? " err" : ""), "data-id": it.id});
      g.appendChild(el("svg:rect", {x: b[0], y: b[1], width: b[2] - b[0], height: b[3] - b[1], rx: 8}));
      g.appendChild(el("svg:text", {x: b[0] + 22, y: b[1] + 13}, it.name + ": " + it.kind + (it.shares ? " (shares " + it.shares + ")" : "")));
      const t = el("svg:text", {x: b[0] + 6, y: b[1] + 14, class: "toggle", "data-toggle": it.id}, "−");
      g.appendChild(t);
      clusters.push(g);
    }
    gNodes.replaceChildren(...nodes); gEdges.replaceChildren(...edges); gClusters.replaceChildren(...clusters);
    applyView();
    writeState();
  }
  let drawn = [0, 0, 0, 0];
  function applyView() { world.setAttribute("transform", `translate(${view.x},${view.y}) scale(${view.k})`); }
  let pending = false;
  function viewChanged() {
    applyView();
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => {
      pending = false;
      const rect = svg.getBoundingClientRect();
      const vx0 = -view.x / view.k, vx1 = (-view.x + rect.width) / view.k;
      const vy0 = -view.y / view.k, vy1 = (-view.y + rect.height) / view.k;
      const inside = vx0 >= drawn[0] && vx1 <= drawn[2] && vy0 >= drawn[1] && vy1 <= drawn[3];
      if (!inside || Math.abs(Math.log(view.k / drawnK)) > 0.7) { drawnK = view.k; draw(false); }
    });
  }
  let drawnK = 1;

  // ------------------------------------------------------------ view: fit, pan, zoom
  function fit(all) {
    const rect = svg.getBoundingClientRect(), b = L.bounds;
    const vw = rect.width || 800, vh = rect.height || 600;
    const gw = b[2] - b[0] + 40, gh = b[3] - b[1] + 40;
    view.k = Math.min(1, vw / gw, all ? vh / gh : Infinity);
    if (!all) view.k = Math.max(view.k, 0.35);
    view.x = (vw - (b[2] + b[0]) * view.k) / 2;
    view.y = all ? (vh - (b[3] + b[1]) * view.k) / 2 : 20 - b[1] * view.k;
    drawnK = view.k;
    draw(false);
  }
  function centerOn(v) {
    const rect = svg.getBoundingClientRect();
    view.k = Math.max(view.k, 0.6);
    view.x = (rect.width || 800) / 2 - L.x[v] * view.k;
    view.y = (rect.height || 600) / 2 - L.y[v] * view.k;
    draw(false);
  }
  let drag = null;
  svg.addEventListener("pointerdown", (ev) => {
    const t = ev.target;
    if (t.dataset && t.dataset.toggle) { toggle(byId.get(t.dataset.toggle)); return; }
    drag = {x: ev.clientX, y: ev.clientY, vx: view.x, vy: view.y};
    $("view").classList.add("dragging");
  });
  window.addEventListener("pointermove", (ev) => {
    if (!drag) return;
    view.x = drag.vx + ev.clientX - drag.x; view.y = drag.vy + ev.clientY - drag.y;
    viewChanged();
  });
  window.addEventListener("pointerup", () => { drag = null; $("view").classList.remove("dragging"); });
  svg.addEventListener("wheel", (ev) => {
    ev.preventDefault();
    const rect = svg.getBoundingClientRect(), mx = ev.clientX - rect.left, my = ev.clientY - rect.top;
    if (ev.ctrlKey || ev.metaKey || !ev.shiftKey) {
      const f = Math.exp(-ev.deltaY * 0.0015), k = Math.min(4, Math.max(0.01, view.k * f));
      view.x = mx - (mx - view.x) * (k / view.k); view.y = my - (my - view.y) * (k / view.k); view.k = k;
    } else { view.x -= ev.deltaX; view.y -= ev.deltaY; }
    viewChanged();
  }, {passive: false});

  // ------------------------------------------------------------ open and close, select, details
  function toggle(i) {
    if (i === undefined || !isGroup(i)) return;
    open[i] = open[i] ? 0 : 1;
    relayout();
    const v = G.vid[i];
    if (v >= 0) centerOn(v);
  }
  function details(i) {
    const it = items[i], rows = [["name", it.id], ["kind", it.kind + (it.shares ? " (shares " + it.shares + ")" : "")]];
    if (it.label) rows.push(["arguments", it.label]);
    if (it.call) rows.push(["as written", it.call]);
    rows.push(["output shape", it.shape || "?"]);
    if (it.dtype) rows.push(["dtype", it.dtype]);
    rows.push(["parameters", num(it.params)], ["MACs", num(it.macs)], ["activation memory", bytes(it.mem)]);
    if (isGroup(i)) rows.push(["layers", leaves[i].toLocaleString("en-US")]);
    if (it.loc) rows.push(["source", it.loc]);
    for (const k of diagsOf.get(i) || []) rows.push([D.diags[k].sev, D.diags[k].msg]);
    return rows;
  }
  const KEYS = {"name": "name", "kind": "kind", "arguments": "args", "as written": "call", "output shape": "shape",
    "parameters": "params", "MACs": "macs", "activation memory": "mem", "source": "loc", "layers": "layers"};
  function select(i) {
    selected = i;
    const dl = $("details");
    dl.replaceChildren();
    for (const [k, v] of details(i)) {
      dl.appendChild(el("dt", {}, k));
      dl.appendChild(el("dd", {"data-k": KEYS[k] || k}, v));
    }
    for (const e of gNodes.children) e.classList.toggle("sel", e.dataset.id === items[i].id);
    writeState();
  }
  function focus(i) {
    reveal(i);
    relayout();
    const v = G.vid[G.rep[i]];
    if (v >= 0) centerOn(v);
    select(i);
  }
  const tip = $("tip");
  function showTip(i, ev) {
    tip.textContent = details(i).map(([k, v]) => k + ": " + v).join("\n");
    tip.hidden = false;
    tip.style.left = Math.min(ev.clientX + 14, window.innerWidth - 430) + "px";
    tip.style.top = (ev.clientY + 14) + "px";
  }
  function hideTip() { tip.hidden = true; }

  // ------------------------------------------------------------ search, colour, buttons
  function search(q, quiet) {
    q = q.trim().toLowerCase();
    hits = new Set();
    const ol = $("results");
    ol.replaceChildren();
    if (q) {
      let count = 0;
      for (let i = 0; i < N; i++) {
        const it = items[i];
        if (!(it.id.toLowerCase().includes(q) || it.kind.toLowerCase().includes(q))) continue;
        count++;
        let r = i;  // a hidden match lights its closed group
        for (let p = it.p; p >= 0; p = items[p].p) if (!open[p]) r = p;
        hits.add(r);
        if (count <= 200) {
          const li = el("li", {"data-id": it.id}, it.id + " — " + it.kind);
          li.addEventListener("click", () => focus(i));
          ol.appendChild(li);
        }
      }
      if (count > 200) ol.appendChild(el("li", {}, "… " + (count - 200) + " more"));
    }
    if (!quiet) draw(false);
  }
  $("search").addEventListener("input", (ev) => search(ev.target.value));
  $("color").addEventListener("change", (ev) => { metric = ev.target.value; updateMetric(); draw(true); });
  $("fit").addEventListener("click", () => fit(true));
  $("expand-all").addEventListener("click", () => { for (let i = 0; i < N; i++) if (isGroup(i)) open[i] = 1; relayout(); fit(false); });
  $("collapse-all").addEventListener("click", () => { open.fill(0); relayout(); fit(false); });

  // ------------------------------------------------------------ header, diagnostics, the state for tests
  let errors = 0, updates = 0, lastUpdateMs = 0, readyMs = null, changed = new Set();
  function header() {
    $("model-name").textContent = D.model || "(no model)";
    $("file-name").textContent = D.file;
    const top = items.filter((it) => it.p < 0 && (it.t === "n" || it.t === "s" || it.t === "r"));
    const sum = (k) => top.reduce((a, it) => (typeof a === "number" && typeof it[k] === "number" ? a + it[k] : "?"), 0);
    $("totals").textContent = !N ? "" : num(sum("params")) + " parameters · " + num(sum("macs")) + " MACs · "
      + bytes(sum("mem")) + " activations (per sample) · " + items.filter((it) => it.t === "n").length.toLocaleString("en-US") + " layers";
    errors = D.diags.filter((d) => d.sev === "error").length;
    const box = $("diags");
    box.replaceChildren();
    if (D.stale) box.appendChild(el("div", {class: "stale"}, "the file does not parse: the diagram is the last one that did"));
    if (D.diags.length) {
      box.appendChild(el("b", {}, errors ? `${errors} error${errors > 1 ? "s" : ""}` : `${D.diags.length} warning${D.diags.length > 1 ? "s" : ""}`));
      for (const d of D.diags) {
        const div = el("div", {class: "diag " + d.sev});
        div.appendChild(el("span", {class: "loc"}, d.loc + ": "));
        div.appendChild(el("span", {class: "msg"}, d.sev + "[" + d.code + "]: " + d.msg));
        if (d.hint) div.appendChild(el("div", {class: "hint"}, "hint: " + d.hint));
        if (d.items.length) div.addEventListener("click", () => focus(d.items[0]));
        box.appendChild(div);
      }
    }
    document.body.classList.toggle("stale", !!D.stale);
  }
  function writeState() {
    $("graphc-state").textContent = JSON.stringify({
      vertices: G ? G.verts.length : 0, drawn: gNodes.childElementCount, edges: G ? G.edges.length : 0,
      open: items.filter((it, i) => open[i]).map((it) => it.id), selected: selected >= 0 ? items[selected].id : null,
      hits: Array.from(hits, (i) => items[i].id), errors, diags: D.diags.map((d) => d.code), stale: !!D.stale,
      layout_ms: L ? Math.round(L.ms) : 0, ranks: L ? L.ranks : 0, updates, update_ms: Math.round(lastUpdateMs), ready_ms: readyMs,
      changed: Array.from(changed, (i) => items[i].id),
      view: {x: Math.round(view.x * 100) / 100, y: Math.round(view.y * 100) / 100, k: Math.round(view.k * 1e4) / 1e4},
    });
  }

  // ------------------------------------------------------------ a new model from `graphc serve`: the view stays
  // The blocks that were open stay open (by name), the selection, search, colour, zoom and pan
  // stay; a block that is new starts closed.  A file that does not parse keeps the last diagram
  // (marked stale) and lists the diagnostics.
  window.graphcUpdate = function (data) {
    const t0 = performance.now();
    const hadItems = N > 0;
    if (!data.items.length && hadItems && data.diags.some((d) => d.sev === "error")) {
      data = Object.assign({}, data, {items: D.items, edges: D.edges, model: D.model, stale: 1,
        diags: data.diags.map((d) => Object.assign({}, d, {items: []}))});
    }
    const wasOpen = new Set();
    for (let i = 0; i < N; i++) if (open[i]) wasOpen.add(items[i].id);
    const sel = selected >= 0 ? items[selected].id : null;
    const before = new Map(items.map((it) => [it.id, it.shape + "|" + it.params]));
    setData(data);
    // what the save changed (a new item, another shape or parameter count) is outlined until the next
    changed = new Set();
    if (hadItems && !D.stale) {
      for (let i = 0; i < N; i++) if (before.get(items[i].id) !== items[i].shape + "|" + items[i].params) changed.add(i);
      for (const i of Array.from(changed)) for (let p = items[i].p; p >= 0 && !changed.has(p); p = items[p].p) changed.add(p);
    }
    if (!hadItems) defaultOpen();
    else for (let i = 0; i < N; i++) if (isGroup(i)) open[i] = wasOpen.has(items[i].id) ? 1 : 0;
    selected = sel !== null && byId.has(sel) ? byId.get(sel) : -1;
    header();
    updates++;
    if (N) {
      search($("search").value, true);
      relayout();
      if (!hadItems) fit(false);
      if (selected >= 0) select(selected); else $("details").replaceChildren();
    } else {
      G = null; L = null; nodeEls.clear();
      gNodes.replaceChildren(); gEdges.replaceChildren(); gClusters.replaceChildren();
    }
    lastUpdateMs = performance.now() - t0;
    writeState();
  };

  // ------------------------------------------------------------ start: the URL fragment may ask for things
  // #expand=ID,ID  #collapse=ID  #open=all  #select=ID  #search=TEXT  #color=params|macs|mem  #fit=all
  header();
  defaultOpen();
  const frag = new URLSearchParams(location.hash.slice(1));
  if (frag.get("open") === "all") for (let i = 0; i < N; i++) if (isGroup(i)) open[i] = 1;
  for (const id of (frag.get("expand") || "").split(",")) if (byId.has(id)) { const i = byId.get(id); reveal(i); open[i] = 1; }
  for (const id of (frag.get("collapse") || "").split(",")) if (byId.has(id)) open[byId.get(id)] = 0;
  if (["params", "macs", "mem"].includes(frag.get("color"))) { metric = frag.get("color"); $("color").value = metric; }
  if (N) {
    relayout();
    fit(frag.get("fit") === "all");
    if (frag.get("search")) { $("search").value = frag.get("search"); search(frag.get("search")); }
    if (frag.has("select") && byId.has(frag.get("select"))) focus(byId.get(frag.get("select")));
  }
  window.addEventListener("resize", () => draw(false));
  document.body.dataset.ready = "1";
  readyMs = Math.round(performance.now());  // from the navigation's start: parse, layout, first draw
  writeState();
})();
