// The orchestrator's dashboard: reads /ui/events (Server-Sent Events; the first event holds
// the whole history, each next one the samples since) and draws nodes on a world map, the
// answers and cold path over time, per (region, template) requests against the prefetch
// windows and instances by state, and the reconciler's recent decisions.
//
// For tests and scripts it writes what it drew into data attributes: body[data-updates],
// svg#map[data-nodes], each .chart's data-points / data-nonzero, table#decisions[data-decisions].
"use strict";

const model = {
  now: 0,
  historyS: 600,
  nodes: [],
  regions: [],
  windows: [],
  decisions: [],
  keys: new Map(),  // "region/template" -> {region, template, t: [], requests: [], ...}
  totals: { t: [], answers: [], cold_answers: [], cold_starts: [], start_failures: [] },
};
const KEY_FIELDS = ["requests", "cold", "reserved", "starting", "ready", "draining"];
const TOTAL_FIELDS = ["answers", "cold_answers", "cold_starts", "start_failures"];
const FUTURE_S = 300;  // how far ahead of now the charts show prefetch windows
let updates = 0;

// Appends the columns of `from` whose time is newer than the last kept, then drops what is
// older than the history.
function appendColumns(into, from, fields, oldest) {
  const last = into.t.length ? into.t[into.t.length - 1] : -Infinity;
  for (let i = 0; i < from.t.length; i++) {
    if (from.t[i] <= last) continue;
    into.t.push(from.t[i]);
    for (const f of fields) into[f].push(from[f][i]);
  }
  let drop = 0;
  while (drop < into.t.length && into.t[drop] < oldest) drop++;
  if (drop > 0) {
    into.t.splice(0, drop);
    for (const f of fields) into[f].splice(0, drop);
  }
}

function merge(s) {
  model.now = s.now;
  model.historyS = s.history_s;
  model.nodes = s.nodes;
  model.regions = s.regions;
  model.windows = s.windows;
  model.decisions = s.decisions;
  model.replica = s.replica;
  model.leading = s.leading;
  model.health = s.health;
  const oldest = s.now - s.history_s * 1000;
  for (const k of s.keys) {
    const id = k.region + "/" + k.template;
    if (!model.keys.has(id)) {
      const empty = { region: k.region, template: k.template, t: [] };
      for (const f of KEY_FIELDS) empty[f] = [];
      model.keys.set(id, empty);
    }
    appendColumns(model.keys.get(id), k, KEY_FIELDS, oldest);
  }
  appendColumns(model.totals, s.totals, TOTAL_FIELDS, oldest);
}

// --- The map: equirectangular, 2 units a degree. -------------------------------------
const project = (lon, lat) => [(lon + 180) * 2, (90 - lat) * 2];
const SVG = "http://www.w3.org/2000/svg";

// Synchronous, so that the outline is there when the page has loaded (a screenshot taken
// then shows it); the file is 55 kB from the orchestrator itself.
function drawLand() {
  const req = new XMLHttpRequest();
  req.open("GET", "vendor/world-atlas/land-110m.json", false);
  req.send();
  const topo = JSON.parse(req.responseText);
  const land = topojson.feature(topo, topo.objects.land);
  let d = "";
  for (const f of land.features || [land]) {
    const g = f.geometry;
    const polys = g.type === "Polygon" ? [g.coordinates] : g.coordinates;
    for (const poly of polys) {
      for (const ring of poly) {
        // A ring that crosses the antimeridian (Fiji) jumps across the map: move, not line.
        d += ring.map((p, i) => (i && Math.abs(p[0] - ring[i - 1][0]) < 180 ? "L" : "M") +
          project(p[0], p[1]).map((v) => v.toFixed(1))).join("") + "Z";
      }
    }
  }
  document.getElementById("land").setAttribute("d", d);
}

function el(tag, attrs, text) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

function drawNodes() {
  const g = document.getElementById("map-nodes");
  g.replaceChildren();
  for (const r of model.regions) {
    const [x, y] = project(r.lon, r.lat);
    g.appendChild(el("circle", { class: "region", cx: x, cy: y, r: 9 }));
  }
  const perPlace = new Map();
  for (const n of model.nodes) {
    const c = n.instances;
    const total = c.reserved + c.starting + c.ready + c.draining;
    const [x, y] = project(n.lon, n.lat);
    const place = x.toFixed(0) + "," + y.toFixed(0);
    const nth = perPlace.get(place) || 0;
    perPlace.set(place, nth + 1);
    const node = el("g", {
      class: "node", "data-node": n.id, "data-region": n.region,
      "data-reserved": c.reserved, "data-starting": c.starting, "data-ready": c.ready,
      "data-draining": c.draining, transform: `translate(${x},${y + nth * 12})`,
    });
    const fill = !n.connected ? "#9aa3ae" : c.ready > 0 ? "#4ccf7a" : total > 0 ? "#f2b84b" : "#ffffff";
    node.appendChild(el("circle", { r: 3 + Math.min(total, 12) * 0.5, fill }));
    node.appendChild(el("text", { x: 8, y: 3 },
      `${n.id}: ${c.ready} ready, ${c.starting + c.reserved} starting, ${c.draining} draining`));
    g.appendChild(node);
  }
  document.getElementById("map").dataset.nodes = model.nodes.length;

  const rows = model.nodes.map((n) => {
    const c = n.instances;
    return `<tr data-node="${esc(n.id)}"><td>${esc(n.id)}${n.draining ? " (drained)" : ""}</td><td>${esc(n.region)}</td>` +
      `<td class="num">${n.slots_used}/${n.slots}</td><td class="num">${c.reserved}</td><td class="num">${c.starting}</td>` +
      `<td class="num">${c.ready}</td><td class="num">${c.draining}</td></tr>`;
  });
  document.querySelector("#node-table tbody").innerHTML = rows.join("");
}

function esc(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

// --- Charts (uPlot; times in seconds). --------------------------------------------------
const charts = new Map();  // element id -> uPlot

function chartWidth(div) {
  return Math.max(320, div.clientWidth || div.parentElement.clientWidth || 600);
}

// Creates the chart the first time, then only replaces its data. `bands`: uPlot's fills
// between two series (indices into [x, ...series]).
function plot(div, series, data, hooks, bands) {
  let u = charts.get(div.id);
  if (!u) {
    u = new uPlot({ width: chartWidth(div), height: 180, series: [{}, ...series],
      axes: [{}, { size: 44 }], legend: { live: false }, hooks: hooks || {}, bands: bands || [] },
      data, div);
    charts.set(div.id, u);
  } else {
    u.setData(data);
  }
  // What the chart holds, for tests: points with a value, and of those the non-zero ones.
  let points = 0, nonzero = 0;
  const first = data[1] || [];
  for (const v of first) {
    if (v === null || v === undefined) continue;
    points++;
    if (v > 0) nonzero++;
  }
  div.dataset.points = points;
  div.dataset.nonzero = nonzero;
  return u;
}

function drawTotals() {
  const t = model.totals;
  plot(document.getElementById("totals-chart"), [
    { label: "answers/s", stroke: "#3b6fd8", width: 1.5 },
    { label: "cold-path answers/s", stroke: "#e0803b", width: 1.5 },
    { label: "cold starts/s", stroke: "#c0392b", width: 1.5, dash: [4, 3] },
    { label: "failed starts/s", stroke: "#7d3c98", width: 1 },
  ], [t.t.map((v) => v / 1000), t.answers, t.cold_answers, t.cold_starts, t.start_failures]);
}

// The windows of one key; the one that counts at time x is the newest received covering x.
function windowsOf(k) {
  return model.windows.filter((w) => w.region === k.region && w.template === k.template);
}
function windowAt(ws, xMs) {
  let best = null;
  for (const w of ws) {
    if (w.start <= xMs && xMs < w.end && (!best || w.received > best.received)) best = w;
  }
  return best;
}

function keyCard(id, k) {
  const safe = id.replace(/[^A-Za-z0-9_-]/g, "_");
  let card = document.getElementById("key-" + safe);
  if (card) return card;
  card = document.createElement("div");
  card.className = "key";
  card.id = "key-" + safe;
  card.dataset.key = id;
  card.innerHTML = `<h3>${esc(k.region)} · ${esc(k.template)}</h3>` +
    `<div class="chart" id="req-${safe}" data-chart="requests" data-key="${esc(id)}" data-points="0" data-nonzero="0"></div>` +
    `<div class="chart" id="inst-${safe}" data-chart="instances" data-key="${esc(id)}" data-points="0" data-nonzero="0"></div>`;
  document.getElementById("keys").appendChild(card);
  return card;
}

function drawKey(id, k) {
  const card = keyCard(id, k);
  const ws = windowsOf(k);
  // Sample times, then one point a second up to the end of the last window (bounded).
  const xs = k.t.slice();
  let last = xs.length ? xs[xs.length - 1] : model.now;
  const until = Math.min(Math.max(0, ...ws.map((w) => w.end)), model.now + FUTURE_S * 1000);
  for (let x = last + 1000; x <= until; x += 1000) xs.push(x);
  const pad = (arr) => arr.concat(new Array(xs.length - arr.length).fill(null));
  // A field of the window that counts at each x (null: no window, or one without it).
  const field = (f) => xs.map((x) => {
    const w = windowAt(ws, x);
    return w && w[f] !== null && w[f] !== undefined ? w[f] : null;
  });
  const forecast = field("rate"), lower = field("lower"), median = field("median"),
    upper = field("upper"), target = field("target");
  const starting = k.starting.map((v, i) => v + k.reserved[i]);
  const latest = ws.length ? ws[ws.length - 1] : null;
  const q = latest ? latest.quantile : null;
  const secs = xs.map((v) => v / 1000);
  const reqDiv = card.querySelector('[data-chart="requests"]');
  const stepped = uPlot.paths.stepped({ align: 1 });
  plot(reqDiv, [
    { label: "requests/s", stroke: "#3b6fd8", width: 1.5 },
    { label: "cold/s", stroke: "#e0803b", width: 1 },
    // Labels are set when the chart is made: the band's quantiles are in the legend's
    // words, not from a window that may come later.
    { label: "band upper", stroke: "rgba(46,139,87,0.6)", width: 1, paths: stepped },
    { label: "median", stroke: "#2e8b57", width: 1.5, dash: [6, 3], paths: stepped },
    { label: "band lower", stroke: "rgba(46,139,87,0.6)", width: 1, paths: stepped },
    { label: q === null ? "at target quantile" : `at target q=${q.toFixed(2)}`, stroke: "#1f5c3a",
      width: 1, dash: [2, 2], paths: stepped },
  ], [secs, pad(k.requests), pad(k.cold), upper, median, lower, forecast], null,
  [{ series: [3, 5], fill: "rgba(46,139,87,0.18)" }]);
  reqDiv.dataset.windows = ws.length;
  // For tests: the band's edges drawn (points with a value) and whether every point has
  // lower <= median <= upper.
  const drawn = (arr) => arr.filter((v) => v !== null).length;
  reqDiv.dataset.bandLower = drawn(lower);
  reqDiv.dataset.bandUpper = drawn(upper);
  reqDiv.dataset.bandOrdered = lower.every((v, i) => v === null ||
    (median[i] !== null && upper[i] !== null && v <= median[i] && median[i] <= upper[i])) ? 1 : 0;
  plot(card.querySelector('[data-chart="instances"]'), [
    { label: "ready", stroke: "#2e8b57", width: 1.5 },
    { label: "starting", stroke: "#f2a33b", width: 1.5 },
    { label: "draining", stroke: "#8e99a8", width: 1 },
    { label: "prefetch target", stroke: "#7d3c98", dash: [5, 3], width: 1.5, paths: uPlot.paths.stepped({ align: 1 }) },
  ], [secs, pad(k.ready), pad(starting), pad(k.draining), target]);
}

function drawDecisions() {
  const table = document.getElementById("decisions");
  const rows = model.decisions.slice(-30).reverse().map((d) => {
    const time = new Date(d.t).toISOString().substring(11, 19);
    const result = d.ok ? `<span class="ok">done</span>` : `<span class="failed">not done</span>`;
    return `<tr data-seq="${d.seq}"><td>${time}</td><td>${esc(d.kind)}</td><td>${esc(d.reason)}</td>` +
      `<td>${esc(d.region)}</td><td>${esc(d.template)}</td><td>${esc(d.node)}</td><td>${esc(d.instance)}</td>` +
      `<td title="${esc(d.detail)}">${result}${d.detail ? " · " + esc(d.detail) : ""}</td></tr>`;
  });
  table.querySelector("tbody").innerHTML = rows.join("");
  table.dataset.decisions = model.decisions.length;
}

function render() {
  document.getElementById("replica").textContent =
    `replica ${model.replica}${model.leading ? " (leader)" : ""}`;
  document.getElementById("health").textContent = model.health;
  drawNodes();
  drawTotals();
  for (const [id, k] of model.keys) drawKey(id, k);
  drawDecisions();
  document.body.dataset.updates = ++updates;
}

function setLive(state, text) {
  const live = document.getElementById("live");
  live.className = "live " + state;
  live.textContent = text;
  document.body.dataset.stream = state;
}

function connect() {
  const es = new EventSource("events");
  es.addEventListener("state", (ev) => {
    merge(JSON.parse(ev.data));
    render();
    setLive("open", "live · " + new Date(model.now).toISOString().substring(11, 19) + " UTC");
  });
  // EventSource reconnects by itself; a 503 (too many streams) ends it: retry later.
  es.onerror = () => {
    setLive("closed", "disconnected, retrying");
    if (es.readyState === EventSource.CLOSED) setTimeout(connect, 5000);
  };
}

try {
  drawLand();
  // The state as the page loads (synchronously: a screenshot or --dump-dom taken at load
  // shows data); the stream then keeps it current.
  const req = new XMLHttpRequest();
  req.open("GET", "state", false);
  req.send();
  merge(JSON.parse(req.responseText));
  render();
} catch (e) {
  console.error("dashboard:", e);
}
connect();
