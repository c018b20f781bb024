// graphc viz: a layered (Sugiyama-style) layout of the graph that is shown, recomputed when a
// block opens or closes.  Ranks by longest path in the items' order (a topological order),
// long edges through dummy vertices, a few barycentre sweeps that keep every open block's
// vertices together, x by isotonic regression towards the neighbours' median (straight chains),
// and rank gaps wide enough for the block frames.  Linear in the vertices and edges per sweep.
"use strict";

function graphcLayout(g) {
  // g: {n, w[], h[], order[] (topological key), path[] (open groups, outermost first),
  //     edges: [[u, v, label]], groupDepth: Map group -> depth}
  const n = g.n, E = g.edges;
  const PAD = 10, LABEL = 16, GAP = 24, RANKGAP = 34;
  const preds = Array.from({length: n}, () => []), succs = Array.from({length: n}, () => []);
  const fwd = [];
  for (let k = 0; k < E.length; k++) {
    const [u, v] = E[k];
    if (g.order[u] < g.order[v]) { preds[v].push(u); succs[u].push(v); fwd.push(k); }
  }
  // ranks: longest path from the sources, in topological order; sources that are not inputs
  // (learned tensors, constants) sit just above their first consumer
  const byOrder = Array.from({length: n}, (_, i) => i).sort((a, b) => g.order[a] - g.order[b]);
  const rank = new Int32Array(n);
  for (const v of byOrder) {
    let r = 0;
    for (const u of preds[v]) r = Math.max(r, rank[u] + 1);
    rank[v] = r;
  }
  for (let k = byOrder.length - 1; k >= 0; k--) {
    const v = byOrder[k];
    if (preds[v].length || !succs[v].length || g.isInput[v]) continue;
    let r = Infinity;
    for (const s of succs[v]) r = Math.min(r, rank[s] - 1);
    rank[v] = Math.max(0, r);
  }
  // vertices: the real ones, then a dummy per rank an edge crosses
  const W = Array.from(g.w), H = Array.from(g.h), R = Array.from(rank), P = Array.from(g.path);
  const vp = Array.from({length: n}, (_, i) => preds[i].slice()), vs = Array.from({length: n}, (_, i) => succs[i].slice());
  const chains = new Array(E.length);  // edge -> its vertices, source to target
  for (const k of fwd) {
    const [u, v] = E[k];
    const chain = [u];
    if (rank[v] - rank[u] > 1) {
      const pu = g.path[u], pv = g.path[v];
      let c = 0;
      while (c < pu.length && c < pv.length && pu[c] === pv[c]) c++;
      const common = pu.slice(0, c);
      // the direct link replaced by the dummies
      vp[v] = vp[v].filter((x) => x !== u); vs[u] = vs[u].filter((x) => x !== v);
      let prev = u;
      for (let r = rank[u] + 1; r < rank[v]; r++) {
        const d = W.length;
        W.push(8); H.push(0); R.push(r); P.push(common); vp.push([prev]); vs.push([]);
        vs[prev].push(d); chain.push(d); prev = d;
      }
      vs[prev].push(v); vp[v].push(prev);
    }
    chain.push(v);
    chains[k] = chain;
  }
  const m = W.length;
  let maxRank = 0;
  for (let i = 0; i < m; i++) maxRank = Math.max(maxRank, R[i]);
  const layers = Array.from({length: maxRank + 1}, () => []);
  for (const v of byOrder) layers[R[v]].push(v);
  for (let i = n; i < m; i++) layers[R[i]].push(i);
  const pos = new Float64Array(m);
  const setPos = (L) => { for (let i = 0; i < L.length; i++) pos[L[i]] = i; };
  layers.forEach(setPos);

  function groupSort(list, key, depth) {
    const units = [], byG = new Map();
    for (const v of list) {
      const p = P[v];
      if (p.length > depth) {
        let u = byG.get(p[depth]);
        if (!u) { u = {vs: [], k: 0}; byG.set(p[depth], u); units.push(u); }
        u.vs.push(v); u.k += key[v];
      } else units.push({v, k: key[v]});
    }
    for (const u of units) if (u.vs) u.k /= u.vs.length;
    units.sort((a, b) => a.k - b.k);
    const out = [];
    for (const u of units) {
      if (u.vs) for (const v of (u.vs.length > 1 ? groupSort(u.vs, key, depth + 1) : u.vs)) out.push(v);
      else out.push(u.v);
    }
    return out;
  }
  const key = new Float64Array(m);
  const sweeps = m > 20000 ? 1 : 4;
  for (let it = 0; it < sweeps; it++) {
    const down = it % 2 === 0;
    for (let j = 1; j <= maxRank; j++) {
      const r = down ? j : maxRank - j;
      const L = layers[r];
      if (L.length < 2) continue;
      for (const v of L) {
        const nb = down ? vp[v] : vs[v];
        if (!nb.length) { key[v] = pos[v]; continue; }
        let s = 0;
        for (const u of nb) s += pos[u];
        key[v] = s / nb.length;
      }
      layers[r] = groupSort(L, key, 0);
      setPos(layers[r]);
    }
  }
  // x: per layer, as near the neighbours' median as the separations allow (isotonic regression)
  const x = new Float64Array(m);
  // the frames' x extents as the last pass left them: a vertex beside a frame keeps clear of
  // the whole frame, not only of the member in its own rank
  const ext = new Map();
  function frames() {
    ext.clear();
    for (let i = 0; i < m; i++) {
      for (const grp of P[i]) {
        const e = ext.get(grp);
        if (!e) ext.set(grp, [x[i] - W[i] / 2, x[i] + W[i] / 2]);
        else { e[0] = Math.min(e[0], x[i] - W[i] / 2); e[1] = Math.max(e[1], x[i] + W[i] / 2); }
      }
    }
  }
  function sep(a, b) {
    const pa = P[a], pb = P[b];
    let c = 0;
    while (c < pa.length && c < pb.length && pa[c] === pb[c]) c++;
    let s = (W[a] + W[b]) / 2 + (a >= n && b >= n ? 6 : GAP) + PAD * ((pa.length - c) + (pb.length - c));
    if (pa.length > c && ext.has(pa[c])) s = Math.max(s, ext.get(pa[c])[1] - x[a] + W[b] / 2 + GAP + 2 * PAD * (pa.length - c));
    if (pb.length > c && ext.has(pb[c])) s = Math.max(s, x[b] - ext.get(pb[c])[0] + W[a] / 2 + GAP + 2 * PAD * (pb.length - c));
    return s;
  }
  function place(L, want) {
    const k = L.length, S = new Float64Array(k);
    for (let i = 1; i < k; i++) S[i] = S[i - 1] + sep(L[i - 1], L[i]);
    const sum = [], cnt = [];
    for (let i = 0; i < k; i++) {
      sum.push(want[i] - S[i]); cnt.push(1);
      while (sum.length > 1 && sum[sum.length - 2] / cnt[cnt.length - 2] > sum[sum.length - 1] / cnt[cnt.length - 1]) {
        const s = sum.pop(), c = cnt.pop();
        sum[sum.length - 1] += s; cnt[cnt.length - 1] += c;
      }
    }
    let i = 0;
    for (let b = 0; b < sum.length; b++) {
      const y = sum[b] / cnt[b];
      for (let c = 0; c < cnt[b]; c++, i++) x[L[i]] = y + S[i];
    }
  }
  for (const L of layers) place(L, new Float64Array(L.length));
  frames();
  const median = (vals) => {
    vals.sort((a, b) => a - b);
    const h = vals.length >> 1;
    return vals.length % 2 ? vals[h] : (vals[h - 1] + vals[h]) / 2;
  };
  const wantOf = (v, down) => {  // the median of the neighbours' x (no arrays for one or two)
    const nb = down ? vp[v] : vs[v];
    const all = nb.length ? nb : down ? vs[v] : vp[v];
    if (all.length === 0) return x[v];
    if (all.length === 1) return x[all[0]];
    if (all.length === 2) return (x[all[0]] + x[all[1]]) / 2;
    return median(all.map((u) => x[u]));
  };
  let framed = false;  // frames() matters only where a block is open
  for (let i = 0; i < m && !framed; i++) framed = P[i].length > 0;
  const passes = m > 20000 ? 4 : 10;
  for (let it = 0; it < passes; it++) {
    const down = it % 2 === 0;
    for (let j = 0; j <= maxRank; j++) {
      const L = layers[down ? j : maxRank - j];
      if (L.length === 1) { x[L[0]] = wantOf(L[0], down); continue; }  // a chain's rank: nothing to separate
      const want = new Float64Array(L.length);
      for (let k = 0; k < L.length; k++) want[k] = wantOf(L[k], down);
      place(L, want);
    }
    if (framed) frames();
  }
  // y: each rank as tall as its tallest vertex; gaps for the frames that end and start there
  const rankH = new Float64Array(maxRank + 1), starts = new Int32Array(maxRank + 1), ends = new Int32Array(maxRank + 1);
  for (let i = 0; i < n; i++) rankH[R[i]] = Math.max(rankH[R[i]], H[i]);
  const gmin = new Map(), gmax = new Map();
  for (let i = 0; i < n; i++) {
    for (const grp of P[i]) {
      gmin.set(grp, Math.min(gmin.has(grp) ? gmin.get(grp) : Infinity, R[i]));
      gmax.set(grp, Math.max(gmax.has(grp) ? gmax.get(grp) : -1, R[i]));
    }
  }
  for (let i = 0; i < n; i++) {
    let s = 0, e = 0;
    for (const grp of P[i]) { if (gmin.get(grp) === R[i]) s++; if (gmax.get(grp) === R[i]) e++; }
    starts[R[i]] = Math.max(starts[R[i]], s); ends[R[i]] = Math.max(ends[R[i]], e);
  }
  const top = new Float64Array(maxRank + 1);
  let yy = starts[0] * (PAD + LABEL);
  for (let r = 0; r <= maxRank; r++) {
    top[r] = yy;
    yy += rankH[r] + RANKGAP + ends[r] * PAD + (r < maxRank ? starts[r + 1] * (PAD + LABEL) : 0);
  }
  const y = new Float64Array(m);
  for (let i = 0; i < m; i++) y[i] = top[R[i]] + rankH[R[i]] / 2;
  // frames of the open groups, innermost first: the members' boxes and inner frames, padded
  const boxes = new Map();
  const groups = Array.from(gmin.keys()).sort((a, b) => (g.groupDepth.get(b) - g.groupDepth.get(a)) || (a - b));
  const memberBox = new Map();
  for (let i = 0; i < n; i++) {
    for (const grp of P[i]) {
      const b = memberBox.get(grp) || [Infinity, Infinity, -Infinity, -Infinity];
      b[0] = Math.min(b[0], x[i] - W[i] / 2); b[1] = Math.min(b[1], y[i] - H[i] / 2);
      b[2] = Math.max(b[2], x[i] + W[i] / 2); b[3] = Math.max(b[3], y[i] + H[i] / 2);
      memberBox.set(grp, b);
    }
  }
  for (const grp of groups) {
    const b = memberBox.get(grp);
    boxes.set(grp, [b[0] - PAD, b[1] - PAD - LABEL, b[2] + PAD, b[3] + PAD]);
  }
  for (const grp of groups) {  // an outer frame holds its inner frames
    const b = boxes.get(grp), parent = g.parentOf(grp);
    if (parent >= 0 && boxes.has(parent)) {
      const pb = boxes.get(parent);
      pb[0] = Math.min(pb[0], b[0] - PAD); pb[1] = Math.min(pb[1], b[1] - PAD - LABEL);
      pb[2] = Math.max(pb[2], b[2] + PAD); pb[3] = Math.max(pb[3], b[3] + PAD);
    }
  }
  // edges: polylines through their dummies; a backward edge (a cycle made by folding) is direct
  const routes = E.map((e, k) => {
    const chain = chains[k] || [e[0], e[1]];
    const pts = [];
    for (let c = 0; c < chain.length; c++) {
      const v = chain[c];
      if (c === 0) pts.push([x[v], y[v] + H[v] / 2]);
      else if (c === chain.length - 1) pts.push([x[v], y[v] - H[v] / 2]);
      else { pts.push([x[v], top[R[v]]]); pts.push([x[v], top[R[v]] + rankH[R[v]]]); }
    }
    return {pts, back: !chains[k]};
  });
  let minX = Infinity, maxX = -Infinity, maxY = 0;
  for (let i = 0; i < m; i++) { minX = Math.min(minX, x[i] - W[i] / 2); maxX = Math.max(maxX, x[i] + W[i] / 2); maxY = Math.max(maxY, y[i] + H[i] / 2); }
  for (const b of boxes.values()) { minX = Math.min(minX, b[0]); maxX = Math.max(maxX, b[2]); maxY = Math.max(maxY, b[3]); }
  return {x: Array.from(x.slice(0, n)), y: Array.from(y.slice(0, n)), rank: R.slice(0, n), routes, boxes,
          bounds: [minX, Math.min(0, ...Array.from(boxes.values(), (b) => b[1])), maxX, maxY], vertices: m, ranks: maxRank + 1};
}
