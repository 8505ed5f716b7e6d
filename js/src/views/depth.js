// depth x step: one statistic of every tensor of a kind at every kept step.

import { DEPTH } from "../constants.js";
import { THEME, axes, colorBar, rampRGB, sizeCanvas } from "../draw.js";
import { fmt, spaced } from "../numbers.js";

// A row name needs this many pixels: below it, rows are named where they do not overlap.
const LINE = 12;

const clip = (n) => (n.length > 30 ? "…" + n.slice(-29) : n);

/** The statistic `metric` of each Series of `list` over its steps (tracks), every step
 * any has, and the colour scale's ends (log10 of them on a log scale). */
function measure(store, list, metric, log) {
  const tracks = list.map((s) => store.depthTrack(s, metric));
  const all = new Set();
  for (const t of tracks) if (t) for (const st of t.steps) all.add(st);
  const steps = [...all].sort((a, b) => a - b);
  const f = (v) => (log ? (v > 0 ? Math.log10(v) : NaN) : v);
  let lo = Infinity, hi = -Infinity;
  for (const t of tracks) if (t) for (const v of t.values) { const y = f(v); if (Number.isFinite(y)) (lo = Math.min(lo, y)), (hi = Math.max(hi, y)); }
  if (!log) [lo, hi] = [0, Math.max(1e-9, Number.isFinite(hi) ? Math.max(hi, 1) : 1)];
  if (!Number.isFinite(lo)) [lo, hi] = [0, 1];
  if (hi <= lo) hi = lo + 1;
  const x0 = steps.length ? steps[0] : 0;
  const last = steps.length ? steps[steps.length - 1] : 0;
  const x1 = steps.length > 1 ? last + (last - steps[steps.length - 2]) : last + 1;
  return { tracks, steps, f, lo, hi, x0, x1 };
}

/** The picture: one pixel column per CSS pixel, one row per tensor, scaled up unsmoothed
 * into `box`; grey where nothing was measured. */
function paint(ctx, box, m) {
  const { tracks, f, lo, hi, x0, x1 } = m;
  const rows = tracks.length;
  const pw = Math.max(1, Math.round(box.w));
  const off = document.createElement("canvas");
  off.width = pw;
  off.height = Math.max(1, rows);
  const octx = off.getContext("2d");
  const img = octx.createImageData(pw, Math.max(1, rows));
  const lut = Array.from({ length: 256 }, (_, k) => rampRGB(k / 255));
  const rgbOf = (css) => { const c = css.match(/[0-9a-f]{2}/gi); return c ? c.slice(0, 3).map((h) => parseInt(h, 16)) : [128, 128, 128]; };
  const missing = rgbOf(THEME.missing), unmeasured = rgbOf(THEME.unmeasured);
  const px = (st) => ((st - x0) / (x1 - x0 || 1)) * pw;
  tracks.forEach((t, r) => {
    const base = r * pw * 4;
    for (let x = 0; x < pw; x++) img.data.set([...missing, 255], base + 4 * x); // nothing measured
    if (!t) return;
    for (let j = 0; j < t.steps.length; j++) {
      const xa = Math.max(0, Math.floor(px(t.steps[j])));
      const xb = Math.min(pw, Math.max(xa + 1, Math.ceil(px(j + 1 < t.steps.length ? t.steps[j + 1] : x1))));
      const y = f(t.values[j]);
      const c = Number.isFinite(y) ? lut[Math.max(0, Math.min(255, Math.round((255 * (y - lo)) / (hi - lo))))] : unmeasured;
      for (let x = xa; x < xb; x++) img.data.set([c[0], c[1], c[2], 255], base + 4 * x);
    }
  });
  octx.putImageData(img, 0, 0);
  ctx.imageSmoothingEnabled = false;
  if (rows) ctx.drawImage(off, box.l, box.t, box.w, box.h);
}

/** Row names: every row when they fit; else the selected row's (`at`) and those that fit
 * between without overlapping (the hovered row's is written over the drawing). Returns
 * the named rows. */
function nameRows(ctx, box, list, ys, rowH, at) {
  ctx.textAlign = "right";
  ctx.textBaseline = "middle";
  ctx.font = "10px sans-serif";
  const named = rowH >= LINE ? list.map((_, r) => r) : spaced(ys, LINE, at >= 0 ? [at] : []);
  for (const r of named) {
    if (r === at) continue;
    ctx.fillStyle = THEME.fg;
    ctx.fillText(clip(list[r].name), box.l - 4, ys[r]);
  }
  if (at >= 0) {
    ctx.fillStyle = THEME.bg;
    ctx.fillRect(0, ys[at] - 6, box.l - 2, 12);
    ctx.fillStyle = THEME.fg;
    ctx.font = "bold 10px sans-serif";
    ctx.fillText("▶ " + clip(list[at].name), box.l - 4, ys[at]);
    ctx.strokeStyle = THEME.sel;
    ctx.strokeRect(box.l, box.t + at * rowH, box.w, Math.max(1, rowH));
  }
  return named;
}

/** The colour bar right of `box`, its ends labelled. */
function scaleBar(ctx, box, lo, hi, log) {
  const cb = { x: box.l + box.w + 12, w: 12 };
  colorBar(ctx, cb.x, box, cb.w);
  ctx.fillStyle = THEME.fg;
  ctx.font = "10px sans-serif";
  ctx.textAlign = "left";
  const tickOf = (y) => (log ? fmt(Math.pow(10, y)) : fmt(y));
  ctx.textBaseline = "top";
  ctx.fillText(tickOf(hi), cb.x + cb.w + 2, box.t);
  ctx.textBaseline = "bottom";
  ctx.fillText(tickOf(lo), cb.x + cb.w + 2, box.t + box.h);
}

/** What answers the pointer: every cell, a grey one too (its row, its column, "not
 * measured"); a click opens that tensor at that step. */
function pointer(box, list, m, X, rowH, ys, named, at, label) {
  const { tracks, steps, x0, x1 } = m;
  const cell = (mx, my) => {
    const r = Math.floor((my - box.t) / rowH);
    if (r < 0 || r >= list.length || mx < box.l || mx > box.l + box.w) return null;
    const xv = x0 + ((mx - box.l) / box.w) * (x1 - x0);
    let k = -1;
    for (let q = 0; q < steps.length; q++) if (steps[q] <= xv) k = q;
    const step = k < 0 ? steps[0] : steps[k];
    const xa = X(step), xb = X(k + 1 < steps.length ? steps[k + 1] : x1);
    const t = tracks[r];
    let j = -1;
    if (t) for (let q = 0; q < t.steps.length; q++) if (t.steps[q] <= xv) j = q;
    const measured = t && j >= 0 && t.steps[j] === step;
    const rect = [xa, box.t + r * rowH, Math.max(2, xb - xa), Math.max(2, rowH)];
    if (rowH < 2) rect[1] -= (2 - rowH) / 2;
    return { s: list[r], r, step: measured ? t.steps[j] : step, value: measured ? t.values[j] : NaN, measured, rect };
  };
  const hit = (mx, my) => {
    const c = cell(mx, my);
    if (!c) return null;
    const got = { text: `${c.s.name} · step ${c.step}: ` + (c.measured ? `${label} ${fmt(c.value)}` : "not measured"), rect: c.rect };
    if (!named.includes(c.r) || c.r === at) got.label = { text: clip(c.s.name), x: box.l - 4, y: ys[c.r] };
    return got;
  };
  const pick = (mx, my) => {
    const c = cell(mx, my);
    return c && { name: c.s.name, step: c.step, rect: c.rect };
  };
  return { hit, pick };
}

/** Depth × step on `canvas` in `plot` (W × Hh): one statistic per tensor of `list` (rows,
 * in model order; `cur` selected, `step` >= 0 the selected step) at each kept step
 * (columns), as colour: the gradient-flow picture at a glance. `opts.depth[kind]`: the
 * statistic; `opts.depthAll`: a row per line, every one named, the plot scrolling.
 * `scrolled`: the row last scrolled into sight. Returns the pointer's answers, the legend
 * and the row scrolled to. */
export function drawDepth(canvas, plot, W, Hh, { store, kind, list, cur, step, opts, scrolled, drawn }) {
  const [metric, label, scale] = (DEPTH[kind] || []).find(([m]) => m === opts.depth[kind]) || DEPTH[kind][0];
  const waiting = store.wantDepth(kind, metric, list) || store.asked.has(`depth\t${kind}\t${metric}`);
  const log = scale === "log";
  const m = measure(store, list, metric, log);
  const rows = list.length;
  const scroll = !!opts.depthAll && rows * LINE > Hh - 48;
  const rowH = scroll ? LINE : Math.max(0.5, Math.min(14, (Hh - 48) / Math.max(1, rows)));
  if (scroll) W -= 16; // the scroll bar's room
  const L = 190, box = { l: L, t: 8, w: Math.max(60, W - L - 78), h: rows * rowH };
  const ctx = sizeCanvas(canvas, W, scroll ? box.t + box.h + 40 : Hh);
  plot.style.overflowY = scroll ? "auto" : "";
  const { X } = axes(ctx, { ...box, h: box.h }, m.x0, m.x1, 0, 1, { yTicks: [], xLabel: "step" });
  paint(ctx, box, m);
  const at = list.indexOf(cur);
  const ys = list.map((_, r) => box.t + (r + 0.5) * rowH);
  const named = nameRows(ctx, box, list, ys, rowH, at);
  if (step >= 0) { // the selected step
    ctx.strokeStyle = THEME.sel;
    ctx.beginPath();
    ctx.moveTo(X(step), box.t);
    ctx.lineTo(X(step), box.t + box.h);
    ctx.stroke();
  }
  scaleBar(ctx, box, m.lo, m.hi, log);
  const incomplete = m.tracks.filter((t) => t && !t.complete).length;
  const legend = `${label} of each ${kind === "activations" ? "layer output" : "tensor"} (rows, model order) at each kept step (columns)` +
    (log ? ", log colour scale" : "") + "; grey: not measured. Click a cell to open that tensor at that step." +
    (incomplete ? ` ${incomplete} rows hold only the steps this page has seen; ` + (waiting ? "the rest is on its way from the kernel (it answers when idle)." : "the kernel did not send the rest.") : "");
  if (scroll && at >= 0 && scrolled !== cur.name) { // the selected row in sight
    scrolled = cur.name;
    plot.scrollTop = Math.max(0, ys[at] - Hh / 2);
  }
  drawn.labelled = named.map((r) => [list[r].name, +ys[r].toFixed(2)]);
  Object.assign(drawn, { box: [box.l, box.t, box.w, box.h], rowH, scroll });
  Object.assign(drawn, { metric, rows, cols: m.steps.length, names: list.map((s) => s.name), steps: m.steps,
    range: log ? [Math.pow(10, m.lo), Math.pow(10, m.hi)] : [m.lo, m.hi], complete: !incomplete });
  return { ...pointer(box, list, m, X, rowH, ys, named, at, label), legend, scrolled };
}
