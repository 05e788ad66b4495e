"""The flame graph page template: one HTML document with its style and script inline; ``{{DATA}}`` is replaced
by the tree as JSON and ``{{TITLE}}`` by the escaped title. No external resource is referenced."""

PAGE = r"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy"
      content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<title>{{TITLE}}</title>
<style>
  body { font: 13px/1.4 system-ui, sans-serif; margin: 0; color: #222; }
  header { padding: 8px 12px; background: #f4f4f4; border-bottom: 1px solid #ddd; }
  header h1 { font-size: 15px; margin: 0 0 6px 0; }
  header .controls { display: flex; gap: 12px; align-items: center; flex-wrap: wrap; }
  #status { min-height: 1.4em; font-family: ui-monospace, monospace; padding: 4px 12px; white-space: nowrap;
            overflow: hidden; text-overflow: ellipsis; }
  #note, #matches { color: #555; }
  #chart { position: relative; margin: 0 12px 12px 12px; }
  .f { position: absolute; height: 17px; box-sizing: border-box; border: 1px solid #fff; overflow: hidden;
       white-space: nowrap; font: 11px/15px ui-monospace, monospace; padding: 0 3px; cursor: pointer; }
  .f:hover { border-color: #000; }
  .f.match { background: #e040fb !important; color: #fff; }
  .f.dim { opacity: 0.55; }
</style>
</head>
<body>
<header>
  <h1 id="title"></h1>
  <div class="controls">
    <label>Sample type <select id="type"></select></label>
    <label>Search <input id="search" type="search" placeholder="function name or /regex/" size="32"></label>
    <button id="reset" type="button">Reset zoom</button>
    <span id="matches"></span>
  </div>
  <div id="note"></div>
</header>
<div id="status">Hover a frame for its value; click to zoom.</div>
<div id="chart"></div>
<script>
"use strict";
const DATA = {{DATA}};
const T = DATA.types.length;
const ROW = 18;
const nodes = DATA.nodes;
const N = nodes.length;
const children = Array.from({length: N}, () => []);
const depth = new Int32Array(N);
for (let i = 1; i < N; i++) { const p = nodes[i][1]; children[p].push(i); depth[i] = depth[p] + 1; }
let type = DATA.active, zoom = 0, matcher = null;

function grow(i) { return nodes[i][2 + type]; }
function shrink(i) { return DATA.diff ? nodes[i][2 + T + type] : 0; }
function weight(i) { return grow(i) - shrink(i); }
function name(i) { return i === 0 ? "total" : DATA.names[nodes[i][0]]; }

const BYTES = [["B", 1], ["kB", 1024], ["MB", 1048576], ["GB", 1073741824], ["TB", 1099511627776]];
const TIMES = [["ns", 1], ["us", 1e3], ["ms", 1e6], ["s", 1e9], ["hrs", 3.6e12]];
const ALIASES = {b: [1, BYTES], byte: [1, BYTES], kb: [1024, BYTES], mb: [1048576, BYTES],
  ns: [1, TIMES], nanosecond: [1, TIMES], us: [1e3, TIMES], microsecond: [1e3, TIMES],
  ms: [1e6, TIMES], millisecond: [1e6, TIMES], s: [1e9, TIMES], sec: [1e9, TIMES], second: [1e9, TIMES]};
function label(value, unit) {
  if (value < 0) { const l = label(-value, unit); return l === "0" ? l : "-" + l; }
  let u = unit.toLowerCase(); if (u.length > 2 && u.endsWith("s")) u = u.slice(0, -1);
  let scaled = value, suffix = ["count", "sample", "unit", ""].includes(unit) ? "" : unit;
  if (ALIASES[u]) {
    const [factor, scale] = ALIASES[u]; const base = value * factor;
    scaled = base; suffix = scale[0][0];
    for (const [n, size] of scale) if (base / size >= 1) { scaled = base / size; suffix = n; }
  }
  let text = scaled.toFixed(2).replace(/\.00$/, "");
  return text === "0" ? "0" : text + suffix;
}
function pct(value) { const total = weight(0); return total ? (100 * value / total).toFixed(2) + "%" : "0%"; }
function describe(i) {
  const unit = DATA.types[type].unit;
  if (DATA.diff) return name(i) + "  grew " + label(grow(i), unit) + ", shrank " + label(-shrink(i), unit) +
    " (net " + label(grow(i) + shrink(i), unit) + ", " + pct(weight(i)) + " of all change)";
  return name(i) + "  " + label(weight(i), unit) + " (" + pct(weight(i)) + ")";
}
function color(i) {
  if (DATA.diff) {
    const w = weight(i) || 1, net = (grow(i) + shrink(i)) / w;  // -1 all shrink .. +1 all growth
    const strength = Math.round(60 + 140 * (1 - Math.abs(net)));
    return net >= 0 ? "rgb(255," + strength + "," + strength + ")" : "rgb(" + strength + "," + strength + ",255)";
  }
  let h = 0; const s = name(i); for (let k = 0; k < s.length; k++) h = (h * 31 + s.charCodeAt(k)) >>> 0;
  return "hsl(" + (10 + h % 45) + "," + (70 + h % 20) + "%," + (58 + h % 12) + "%)";
}
function isMatch(i) { return matcher !== null && i !== 0 && matcher(name(i)); }

function render() {
  const chart = document.getElementById("chart");
  chart.textContent = "";
  const width = chart.clientWidth;
  const total = weight(zoom);
  let maxDepth = 0;
  const place = (i, x, w) => {
    const div = document.createElement("div");
    div.className = "f" + (isMatch(i) ? " match" : "");
    div.dataset.i = i;
    div.style.left = x + "px"; div.style.width = w + "px"; div.style.top = depth[i] * ROW + "px";
    div.style.background = color(i);
    div.textContent = w > 30 ? name(i) : "";
    chart.appendChild(div);
    if (depth[i] > maxDepth) maxDepth = depth[i];
  };
  for (let a = nodes[zoom][1]; a >= 0; a = nodes[a][1]) { place(a, 0, width); }
  const stack = [[zoom, 0]];
  while (stack.length && total > 0) {
    const [i, x] = stack.pop();
    const w = weight(i) / total * width;
    if (w < 1) continue;
    place(i, x, w);
    let cx = x;
    for (const c of children[i]) { stack.push([c, cx]); cx += weight(c) / total * width; }
  }
  chart.style.height = (maxDepth + 1) * ROW + "px";
  const note = document.getElementById("note");
  const merged = DATA.mergedValue[type];
  note.textContent = DATA.mergedNodes
    ? "Frames under " + (DATA.threshold * 100).toFixed(2).replace(/\.?0+$/, "") + "% of the total are merged into " +
      "their callers: " + DATA.mergedNodes + " frames, " + pct(merged) + " of " + DATA.types[type].name + "."
    : "No frames were merged.";
  updateMatches();
}
function updateMatches() {
  const out = document.getElementById("matches");
  if (matcher === null) { out.textContent = ""; return; }
  let count = 0, value = 0;
  const stack = [[0, false]];
  while (stack.length) {
    const [i, under] = stack.pop();
    const hit = isMatch(i);
    if (hit) count++;
    if (hit && !under) value += weight(i);  // a match inside a match is not counted twice
    for (const c of children[i]) stack.push([c, under || hit]);
  }
  out.textContent = count + " matching frames, " + pct(value) + " of total";
}

const select = document.getElementById("type");
DATA.types.forEach((t, k) => { const o = document.createElement("option"); o.value = k;
  o.textContent = t.name + " (" + (t.unit || "count") + ")"; select.appendChild(o); });
select.value = String(type);
select.addEventListener("change", () => { type = Number(select.value); render(); });
document.getElementById("title").textContent = DATA.title + (DATA.diff ? " (diff: red grew, blue shrank)" : "");
document.getElementById("search").addEventListener("input", (event) => {
  const q = event.target.value;
  if (!q) matcher = null;
  else if (q.length > 2 && q.startsWith("/") && q.endsWith("/")) {
    try { const re = new RegExp(q.slice(1, -1)); matcher = (s) => re.test(s); } catch (e) { matcher = () => false; }
  } else matcher = (s) => s.includes(q);
  render();
});
document.getElementById("reset").addEventListener("click", () => { zoom = 0; render(); });
const chartDiv = document.getElementById("chart");
chartDiv.addEventListener("click", (event) => {
  const target = event.target.closest(".f"); if (!target) return;
  zoom = Number(target.dataset.i); render();
});
chartDiv.addEventListener("mouseover", (event) => {
  const target = event.target.closest(".f"); if (!target) return;
  document.getElementById("status").textContent = describe(Number(target.dataset.i));
});
window.addEventListener("resize", render);
render();
</script>
</body>
</html>
"""
