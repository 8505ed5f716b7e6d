// The scalar series under a tensor's histogram (update ratio; dead units, saturation) and,
// below them, the sizes measured per step (update norm, distance from init; the model's
// global gradient norm): one strip part, fed the lines of one recording (View) or of
// every run (CompareView).

import { NORMS, PROBES } from "../constants.js";
import { THEME, axes, polyline, sizeCanvas } from "../draw.js";
import { fmt, niceTicks } from "../numbers.js";

// A strip's height (CSS pixels).
const STRIP_H = 120;

/** The value axis of a strip: on a log scale, whole decades around the positive values
 * (and the band), `pad` decades of room, `fallback` when there are none; else 0 to 1. */
function valueAxis(log, series, band, pad, fallback) {
  if (!log) return { y0: 0, y1: 1, f: (v) => v, yTicks: [[0, "0"], [0.5, "50%"], [1, "100%"]] };
  const f = (v) => (v > 0 ? Math.log10(v) : NaN); // a zero (no update, step 0's distance) has no place on a log axis
  let y0 = Infinity, y1 = -Infinity;
  for (const c of series) for (const v of c.values) if (v > 0 && Number.isFinite(v)) { y0 = Math.min(y0, f(v)); y1 = Math.max(y1, f(v)); }
  for (const t of band || []) { y0 = Math.min(y0, f(t)); y1 = Math.max(y1, f(t)); }
  if (!Number.isFinite(y0)) [y0, y1] = fallback;
  y0 = Math.floor(y0 - pad);
  y1 = Math.max(Math.ceil(y1 + pad), y0 + 1);
  return { y0, y1, f, yTicks: niceTicks(y0, y1, 4).filter(Number.isInteger).map((v) => [v, "1e" + v]) };
}

/** A strip of scalar series over steps x0..x1 on `canvas` (`width` wide): `lines`, each
 * {legend, legendColor, color, steps, values, rule (a threshold drawn dashed), dash}, with dots at their
 * values and their legends along the top; `faint` series under them in grey; `band` a
 * [lo, hi] shaded (a rule's band on a log axis); a mark at step `at`. */
export function drawStrip(canvas, width, { x0, x1, log, pad, fallback, lines, faint = [], band = null, at }) {
  const W = Math.max(320, width || 600);
  const ctx = sizeCanvas(canvas, W, STRIP_H);
  const box = { l: 58, t: 16, w: W - 58 - 96, h: STRIP_H - 40 };
  const { y0, y1, f, yTicks } = valueAxis(log, [...lines, ...faint], band, pad, fallback);
  const { X, Y } = axes(ctx, box, x0, x1, y0, y1, { yTicks, xTicks: niceTicks(x0, x1, 6).map((v) => [v, fmt(v)]) });
  ctx.fillStyle = THEME.dark ? "rgba(255,255,255,0.07)" : "rgba(0,0,0,0.05)";
  if (band) ctx.fillRect(box.l, Y(f(band[1])), box.w, Y(f(band[0])) - Y(f(band[1])));
  ctx.strokeStyle = THEME.faint;
  ctx.lineWidth = 1;
  for (const c of faint) polyline(ctx, c.steps, c.values, X, Y, f);
  let legendX = box.l + 4;
  for (const c of lines) {
    if (c.rule !== undefined) {
      ctx.strokeStyle = THEME.fg2;
      ctx.setLineDash([4, 3]);
      ctx.beginPath();
      ctx.moveTo(box.l, Y(c.rule));
      ctx.lineTo(box.l + box.w, Y(c.rule));
      ctx.stroke();
      ctx.setLineDash([]);
    }
    ctx.strokeStyle = ctx.fillStyle = c.color;
    ctx.lineWidth = 1.5;
    ctx.setLineDash(c.dash || []);
    polyline(ctx, c.steps, c.values, X, Y, f);
    ctx.setLineDash([]);
    for (let i = 0; i < c.steps.length; i++) if (Number.isFinite(f(c.values[i]))) ctx.fillRect(X(c.steps[i]) - 1.5, Y(f(c.values[i])) - 1.5, 3, 3);
    if (!c.legend) continue;
    if (c.legendColor) ctx.fillStyle = c.legendColor;
    ctx.textAlign = "left";
    ctx.textBaseline = "alphabetic";
    ctx.fillText(c.legend, legendX, 11);
    legendX += ctx.measureText(c.legend).width + 16;
  }
  ctx.strokeStyle = THEME.fg;
  ctx.lineWidth = 1;
  ctx.beginPath();
  ctx.moveTo(X(at), box.t);
  ctx.lineTo(X(at), box.t + box.h);
  ctx.stroke();
}

/** Show `canvas` with what it drew, or hide it (`drawn` null). */
export function showStrip(canvas, drawn) {
  canvas.style.display = drawn ? "" : "none";
  if (drawn) canvas.dataset.drawn = JSON.stringify(drawn);
  else delete canvas.dataset.drawn;
}

const PROBE_COLORS = () => (THEME.dark ? ["#f4a261", "#b39ddb"] : ["#c2410c", "#6a4c93"]); // lines and their legends: text too
const NORM_COLORS = (kind) => (THEME.dark ? (kind === "grads" ? ["#8ecae6"] : ["#5fd3c3", "#b39ddb"]) : kind === "grads" ? ["#2f5f80"] : ["#1d6f65", "#6a4c93"]);

/** Series `s`'s scalar series (update ratio; dead units, saturation) over steps, from
 * `store`, with the rules' thresholds (`th`) and a mark at `snap`'s step; the update ratio
 * of every other weight matrix too, faint: the per-layer picture at once. Returns what it
 * drew, or null when `s` has none. */
export function drawProbes(canvas, width, { store, s, snap, th }) {
  const got = (PROBES[s.kind] || []).map(([m, label, log]) => [m, label, log, store.scalar(m, s.name)]).filter((p) => p[3] && p[3].steps.length);
  if (!got.length) return null;
  const log = got[0][2];
  const mates = log ? store.ofKind(s.kind).filter((o) => o.name !== s.name) : [];
  if (mates.length) store.wantDepth(s.kind, got[0][0], mates); // their whole series, if the page lacks them
  const others = mates.map((o) => store.scalar(got[0][0], o.name)).filter((c) => c && c.steps.length);
  const colors = PROBE_COLORS();
  const lines = got.map(([m, label, , c], k) => ({ legend: "— " + label + (k === 0 && log ? " (grey: the other weight matrices)" : ""), color: colors[k % colors.length], steps: c.steps, values: c.values, rule: log ? undefined : th[m] }));
  const x0 = s.snaps[0].step, x1 = Math.max(s.snaps[s.snaps.length - 1].step, x0 + 1);
  drawStrip(canvas, width, { x0, x1, log, pad: 0.2, fallback: [-4, -2], lines, faint: others, band: log ? th.update_ratio : null, at: snap.step });
  const metrics = Object.fromEntries(got.map(([m, , , c]) => [m, { steps: c.steps.slice(), values: c.values.slice() }]));
  return { kind: s.kind, name: s.name, step: snap.step, metrics, others: others.length };
}

/** Series `s`'s sizes over steps on a log axis (NORMS: a weight's update norm and
 * distance from init; a gradient's model's global gradient norm, `models`: tensor ->
 * model), with a mark at `snap`'s step. Returns what it drew, or null when `s` has none. */
export function drawNorms(canvas, width, { store, s, snap, models }) {
  const got = (NORMS[s.kind] || [])
    .map(([m, label, by]) => [m, label, by === "model" ? models[s.name] : s.name])
    .map(([m, label, of]) => [m, label, of, of === undefined ? null : store.scalar(m, of)])
    .filter((p) => p[3] && p[3].steps.length);
  if (!got.length) return null;
  const colors = NORM_COLORS(s.kind);
  const lines = got.map(([, label, of, c], k) => {
    const i = c.steps.indexOf(snap.step);
    return { legend: "— " + label + (of !== s.name ? ` (${of})` : "") + (i >= 0 ? `: ${fmt(c.values[i])}` : ""), color: colors[k % colors.length], steps: c.steps, values: c.values };
  });
  const x0 = Math.min(s.snaps[0].step, ...got.map((g) => g[3].steps[0]));
  const x1 = Math.max(s.snaps[s.snaps.length - 1].step, ...got.map((g) => g[3].steps[g[3].steps.length - 1]), x0 + 1);
  drawStrip(canvas, width, { x0, x1, log: true, pad: 0.1, fallback: [-3, 0], lines, at: snap.step });
  const metrics = Object.fromEntries(got.map(([m, , of, c]) => [m, { of, steps: c.steps.slice(), values: c.values.slice() }]));
  return { kind: s.kind, name: s.name, step: snap.step, metrics };
}

// A metric's line in every run: the first of a strip solid, the next dashed.
const DASHES = [[], [5, 3], [1, 2]];

/** Every run's scalar series of one strip (`table`: PROBES or NORMS) under a compared
 * tensor `t` ({kind, name}) over the compared `steps` (`at`: the selected one), a line per
 * run and metric in the run's colour (the metrics told apart by their dash). `runs`: the
 * comparison's runs ({color, label, models}). Returns what it drew, or null when no run
 * has any. */
export function drawRunStrip(canvas, width, { store, table, t, runs, steps, at, th }) {
  const lines = [], drawn = [];
  const entries = table[t.kind] || [];
  entries.forEach(([m, label, how], k) => {
    const legend = (k ? "┄ " : "— ") + label;
    runs.forEach((run, r) => {
      const of = how === "model" ? (run.models || {})[t.name] : t.name;
      const c = of === undefined ? null : store.scalar(m, of, r);
      if (!c || !c.steps.length) return;
      const first = !lines.some((l) => l.metric === m);
      const rule = first && table === PROBES && !how ? th[m] : undefined; // a linear probe's threshold, once
      lines.push({ metric: m, legend: first ? legend : "", legendColor: THEME.fg, color: run.color, steps: c.steps, values: c.values, dash: DASHES[k % DASHES.length], rule });
      drawn.push({ metric: m, run: r, of, steps: c.steps.slice(), values: c.values.slice() });
    });
  });
  if (!lines.length) return null;
  const log = table === NORMS || entries[0][2] === true;
  const x0 = Math.min(steps[0], ...lines.map((c) => c.steps[0]));
  const x1 = Math.max(steps[steps.length - 1], ...lines.map((c) => c.steps[c.steps.length - 1]), x0 + 1);
  drawStrip(canvas, width, { x0, x1, log, pad: table === NORMS ? 0.1 : 0.2, fallback: table === NORMS ? [-3, 0] : [-4, -2], lines, band: log && table === PROBES ? th.update_ratio : null, at });
  return { kind: t.kind, name: t.name, step: at, lines: drawn };
}
