// Small DOM helpers. Text always goes in through textContent, never as
// HTML: names, inputs and errors come from users and guests.

/** An element: h("a", {href: "/"}, "text", child, ...). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

const SVG_NS = "http://www.w3.org/2000/svg";

/** An SVG element. */
export function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

function setAttrs(el, attrs) {
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
}

function append(el, children) {
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** Replaces an element's children. */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
}

/** A date (epoch seconds, as the API returns them) for people. */
export function when(secs) {
  if (secs === undefined || secs === null) return "";
  const d = new Date(secs * 1000);
  return d.toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
}

/** A duration between two epoch-second dates (to now when `to` is unset). */
export function duration(from, to) {
  if (from === undefined || from === null) return "";
  const ms = Math.max(0, ((to ?? Date.now() / 1000) - from) * 1000);
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(s < 10 ? 2 : 1)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${Math.round(s % 60)} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

/** JSON text, pretty-printed when it parses. */
export function pretty(text) {
  if (text === undefined || text === null) return "";
  try { return JSON.stringify(JSON.parse(text), null, 2); } catch (_) { return String(text); }
}

/** A status badge. */
export function badge(status) {
  return h("span", { class: `badge status-${String(status).toLowerCase().replace(/_/g, "-")}` }, status);
}

/** A <pre> holding JSON. */
export function code(text, attrs = {}) {
  return h("pre", { class: "json", ...attrs }, pretty(text));
}
