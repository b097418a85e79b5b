// The state machine's graph: laid out with dagre, top to bottom, each
// Parallel branch and Map processor laid out on its own and placed inside
// its state, branches side by side, as the AWS console draws them. States
// are SVG groups named by their state (data-state) and coloured by status
// (data-status), so they can be read, clicked and tested.
import { graphlib, layout as dagreLayout } from "./vendor/dagre.esm.js";
import { s } from "./dom.js";

const NODE_H = 34;
const PAD = 14;
const HEADER = 30;
const GAP = 20;
const CHAR_W = 7.2;
/** The ids of the Start and End nodes: not "s:" + a state name. */
const START = "t:start";
const END = "t:end";
/** Nesting deeper than this is drawn as a plain box. */
const MAX_DEPTH = 16;

function textWidth(t) {
  return Math.ceil(String(t).length * CHAR_W);
}

/** The states a state leads to: [target, kind]. */
function targets(st) {
  const out = [];
  if (typeof st.Next === "string") out.push([st.Next, "next"]);
  if (st.Type === "Choice") {
    for (const c of st.Choices || []) if (typeof c.Next === "string") out.push([c.Next, "choice"]);
    if (typeof st.Default === "string") out.push([st.Default, "default"]);
  }
  for (const c of st.Catch || []) if (typeof c.Next === "string") out.push([c.Next, "catch"]);
  return out;
}

function ends(st) {
  return st.End === true || st.Type === "Succeed" || st.Type === "Fail";
}

/** The sub-graphs of a Parallel or Map state: [{label, states, startAt}]. */
function scopes(st) {
  if (st.Type === "Parallel") {
    return (st.Branches || []).map((b, i) => ({ label: `Branch ${i + 1}`, states: b.States || {}, startAt: b.StartAt }));
  }
  if (st.Type === "Map") {
    const p = st.ItemProcessor || st.Iterator;
    if (p) return [{ label: "Item processor", states: p.States || {}, startAt: p.StartAt }];
  }
  return [];
}

/**
 * Lays out one scope (the machine, a branch, a processor): its nodes with
 * positions and sizes (nested scopes inside), its edges as polylines.
 */
export function layout(states, startAt, depth = 0) {
  const top = depth === 0;
  const g = new graphlib.Graph({ multigraph: true });
  g.setGraph({ rankdir: "TB", nodesep: 26, ranksep: 34, edgesep: 12, marginx: 10, marginy: 10 });
  g.setDefaultEdgeLabel(() => ({}));
  const inner = new Map();
  for (const [name, st] of Object.entries(states)) {
    const subs = depth < MAX_DEPTH ? scopes(st).map((sc) => ({ ...sc, box: layout(sc.states, sc.startAt, depth + 1) })) : [];
    let width = Math.max(120, textWidth(name) + 2 * PAD);
    let height = NODE_H;
    if (subs.length) {
      const w = subs.reduce((a, sc) => a + sc.box.width, 0) + GAP * (subs.length - 1) + 2 * PAD;
      width = Math.max(width, w);
      height = HEADER + Math.max(...subs.map((sc) => sc.box.height)) + PAD;
      inner.set(name, subs);
    }
    g.setNode(`s:${name}`, { width, height });
  }
  if (top) {
    g.setNode(START, { width: 70, height: 28 });
    g.setNode(END, { width: 70, height: 28 });
    if (states[startAt]) g.setEdge(START, `s:${startAt}`, {}, "start");
  }
  let n = 0;
  for (const [name, st] of Object.entries(states)) {
    for (const [to, kind] of targets(st)) {
      if (states[to]) g.setEdge(`s:${name}`, `s:${to}`, { kind }, `e${n++}`);
    }
    if (top && ends(st)) g.setEdge(`s:${name}`, END, { kind: "end" }, `e${n++}`);
  }
  dagreLayout(g);
  const nodes = g.nodes().map((key) => {
    const v = g.node(key);
    // State nodes are "s:NAME"; Start and End have ids no state can take.
    const id = key.startsWith("s:") ? key.slice(2) : key;
    const node = { id, terminal: !key.startsWith("s:"), x: v.x - v.width / 2, y: v.y - v.height / 2, width: v.width, height: v.height, type: states[id]?.Type };
    const subs = inner.get(id);
    if (subs) {
      // Branches side by side, centred in the state's box.
      const total = subs.reduce((a, sc) => a + sc.box.width, 0) + GAP * (subs.length - 1);
      let x = node.x + (node.width - total) / 2;
      node.scopes = subs.map((sc) => {
        const placed = { label: sc.label, x, y: node.y + HEADER, box: sc.box };
        x += sc.box.width + GAP;
        return placed;
      });
    }
    return node;
  });
  const edges = g.edges().map((e) => ({ from: e.v.slice(2), to: e.w.slice(2), kind: g.edge(e).kind || "next", points: g.edge(e).points || [] }));
  const { width, height } = g.graph();
  return { nodes, edges, width: width || 0, height: height || 0 };
}

function drawScope(box, parent) {
  for (const e of box.edges) {
    const d = e.points.map((p, i) => `${i ? "L" : "M"}${p.x.toFixed(1)},${p.y.toFixed(1)}`).join(" ");
    parent.append(s("path", { class: `edge edge-${e.kind}`, d, "marker-end": "url(#arrow)", dataset: { from: e.from, to: e.to } }));
  }
  for (const n of box.nodes) {
    if (n.terminal) {
      const label = n.id === START ? "Start" : "End";
      parent.append(s("g", { class: "terminal" },
        s("rect", { x: n.x, y: n.y, width: n.width, height: n.height, rx: 14 }),
        s("text", { x: n.x + n.width / 2, y: n.y + n.height / 2 + 4, "text-anchor": "middle" }, label)));
      continue;
    }
    const grp = s("g", {
      class: `state type-${String(n.type).toLowerCase()}${n.scopes ? " compound" : ""}`,
      role: "button", tabindex: 0, "aria-label": n.id, dataset: { state: n.id, status: "not-run" },
    });
    grp.append(s("rect", { x: n.x, y: n.y, width: n.width, height: n.height, rx: 6 }));
    const ty = n.scopes ? n.y + 19 : n.y + n.height / 2 + 4;
    grp.append(s("text", { x: n.x + n.width / 2, y: ty, "text-anchor": "middle", class: "name" }, n.id));
    parent.append(grp);
    for (const sc of n.scopes || []) {
      const g = s("g", { class: "scope", transform: `translate(${sc.x},${sc.y})` });
      g.append(s("rect", { class: "scope-box", x: 0, y: 0, width: sc.box.width, height: sc.box.height, rx: 4 }));
      drawScope(sc.box, g);
      parent.append(g);
    }
  }
}

/** Draws a laid-out machine as an <svg> element. */
export function draw(box) {
  const svg = s("svg", {
    class: "graph", width: box.width, height: box.height, viewBox: `0 0 ${box.width} ${box.height}`,
    role: "img", "aria-label": "State machine graph",
  });
  svg.append(s("defs", {}, s("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" },
    s("path", { d: "M0,0 L10,5 L0,10 z", class: "arrowhead" }))));
  drawScope(box, svg);
  return svg;
}

/** Sets every state's data-status from `statusOf(name)`. */
export function paint(svg, statusOf) {
  for (const g of svg.querySelectorAll("g.state")) {
    const status = statusOf(g.dataset.state);
    if (g.dataset.status !== status) {
      g.dataset.status = status;
      g.setAttribute("aria-label", `${g.dataset.state}: ${status}`);
    }
  }
}
