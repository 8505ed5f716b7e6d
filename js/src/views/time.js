// The views over steps: offset and distribution (the heatmap: heatmap.js); snapshots of
// NaN/Inf only marked. Each drawing takes its canvas' context and size and what it shows,
// writes what it drew into `drawn` and returns what answers the pointer and its legend.

import { COLORS, PERCENTILES } from "../constants.js";
import { THEME, axes, ramp } from "../draw.js";
import { fmt, frame, percentiles, spaced, statOf, total } from "../numbers.js";
import { xRange } from "./snapshot.js";

/** The time axis of Series `s` by the option `x` (step, epoch, wall): each snapshot's
 * position, the ticks (epoch: the first snapshot of each) and the axis' label. */
export function timeX(s, x) {
  const w0 = s.snaps[0].wall;
  const xs = s.snaps.map((p) => (x === "wall" ? p.wall - w0 : p.step));
  let ticks;
  if (x === "epoch") {
    ticks = [];
    let last = null;
    for (const p of s.snaps) if (p.epoch >= 0 && p.epoch !== last) {
      last = p.epoch;
      ticks.push([p.step, `ep ${p.epoch + 1}`]);
    }
    if (!ticks.length) ticks = undefined;
  }
  return { xs, ticks, label: x === "wall" ? "seconds" : x === "epoch" ? "epoch (first snapshot of each)" : "step" };
}

/** The offset view: up to 40 snapshots of `s` stacked, oldest at the top; `cur` (an
 * index) filled. */
export function drawOffset(ctx, W, Hh, { s, cur, opts, drawn }) {
  const n = s.snaps.length;
  const want = Math.min(n, 40);
  const idx = [...new Set(Array.from({ length: want }, (_, j) => Math.round((j * (n - 1)) / Math.max(1, want - 1))))];
  if (!idx.includes(cur)) idx.push(cur);
  idx.sort((a, b) => a - b);
  const [x0, x1] = xRange(s, s.snaps[cur], opts, "offset");
  const box = { l: 90, t: 50, w: W - 90 - 20, h: Hh - 50 - 30 };
  const { X } = axes(ctx, box, x0, x1, 0, 1, { yTicks: [] });
  const gap = box.h / Math.max(1, idx.length);
  let smax = 0;
  for (const j of idx) {
    const p = s.snaps[j], t = total(p) || 1;
    for (const c of p.counts) smax = Math.max(smax, c / t);
  }
  const amp = (gap * 4) / (smax || 1);
  ctx.save();
  ctx.beginPath();
  ctx.rect(box.l, 0, box.w, box.t + box.h);
  ctx.clip();
  idx.forEach((j, r) => {
    const p = s.snaps[j], t = total(p) || 1;
    const base = box.t + gap * (r + 1); // oldest at the top, newest at the bottom (front)
    ctx.beginPath();
    ctx.moveTo(X(p.edges[0]), base);
    for (let b = 0; b < p.counts.length; b++) {
      const y = base - Math.min(box.t + box.h, amp * (p.counts[b] / t));
      ctx.lineTo(X(p.edges[b]), y);
      ctx.lineTo(X(p.edges[b + 1]), y);
    }
    ctx.lineTo(X(p.edges[p.edges.length - 1]), base);
    ctx.closePath();
    ctx.fillStyle = j === cur ? COLORS[s.kind] : THEME.label;
    ctx.fill();
    ctx.strokeStyle = j === cur ? THEME.fg : ramp(THEME.rampLo + ((THEME.rampHi - THEME.rampLo) * r) / Math.max(1, idx.length - 1));
    ctx.lineWidth = 1;
    ctx.stroke();
  });
  ctx.restore();
  const labels = offsetLabels(ctx, box, gap, s, idx, cur, opts.x);
  Object.assign(drawn, { steps: idx.map((j) => s.snaps[j].step), labels });
  return { legend: "Snapshots stacked over steps (oldest at the top), each drawn from its own exact bins as a share of its values; the selected step is filled." };
}

/** The offset view's row labels: where they fit, the selected step's always, none closer
 * than a line. Returns [[label, y]]. */
function offsetLabels(ctx, box, gap, s, idx, cur, x) {
  const { xs } = timeX(s, x);
  ctx.fillStyle = THEME.fg;
  ctx.textAlign = "right";
  ctx.textBaseline = "middle";
  const ys = idx.map((j, r) => box.t + gap * (r + 1));
  const labels = [];
  for (const r of spaced(ys, 13, [idx.indexOf(cur)])) {
    const p = s.snaps[idx[r]];
    const label = x === "wall" ? `${fmt(xs[idx[r]])} s` : x === "epoch" && p.epoch >= 0 ? `ep ${p.epoch + 1} · ${p.step}` : `step ${p.step}`;
    ctx.font = idx[r] === cur ? "bold 11px sans-serif" : "11px sans-serif";
    ctx.fillText(label, box.l - 6, ys[r]);
    labels.push([label, ys[r]]);
  }
  ctx.font = "11px sans-serif";
  return labels;
}

/** Mark the snapshots with no finite values (NaN/Inf only) over the time axis: a red
 * hatched column each, so a step that went bad is not a blank one. Returns their steps. */
export function markNonFinite(ctx, box, s, colX) {
  const out = [];
  s.snaps.forEach((p, j) => {
    if (p.finite > 0 || !(p.nan + p.posinf + p.neginf > 0)) return;
    const [xa, xb] = colX(j);
    const w = Math.max(3, xb - xa);
    ctx.save();
    ctx.beginPath();
    ctx.rect(xa, box.t, w, box.h);
    ctx.clip();
    ctx.fillStyle = "rgba(204,0,0,0.18)";
    ctx.fillRect(xa, box.t, w, box.h);
    ctx.strokeStyle = "rgba(204,0,0,0.8)";
    ctx.lineWidth = 1;
    ctx.beginPath();
    for (let y = box.t - w; y < box.t + box.h + w; y += 6) {
      ctx.moveTo(xa, y + w);
      ctx.lineTo(xa + w, y);
    }
    ctx.stroke();
    ctx.restore();
    out.push(p.step);
  });
  if (out.length) {
    const [xa] = colX(s.snaps.findIndex((p) => p.step === out[0]));
    ctx.fillStyle = THEME.error;
    ctx.font = "bold 11px sans-serif";
    ctx.textBaseline = "top";
    const label = out.length > 1 ? `NaN/Inf only (${out.length} steps, from ${out[0]})` : `NaN/Inf only (step ${out[0]})`;
    const w = ctx.measureText(label).width;
    ctx.textAlign = xa + w + 4 > box.l + box.w ? "right" : "left";
    const x = ctx.textAlign === "right" ? Math.max(box.l + w, xa - 3) : xa + 3;
    ctx.fillStyle = THEME.label;
    ctx.fillRect(ctx.textAlign === "right" ? x - w - 2 : x - 2, box.t + 2, w + 4, 14);
    ctx.fillStyle = THEME.error;
    ctx.fillText(label, x, box.t + 3);
    ctx.font = "11px sans-serif";
  }
  return out;
}

/** A line through (X(xs[j]), Y(f(j))) over the snapshots, broken where f(j) is not finite. */
function brokenLine(ctx, n, xs, X, Y, f, style, dash) {
  ctx.strokeStyle = style;
  ctx.setLineDash(dash);
  ctx.beginPath();
  let on = false;
  for (let j = 0; j < n; j++) {
    const v = f(j);
    if (!Number.isFinite(v)) {
      on = false;
      continue;
    }
    on ? ctx.lineTo(X(xs[j]), Y(v)) : ctx.moveTo(X(xs[j]), Y(v));
    on = true;
  }
  ctx.stroke();
  ctx.setLineDash([]);
}

/** The percentile bands ([j][k]: snapshot j's k-th of PERCENTILES) in colour `col`, each
 * run of consecutive snapshots with finite values on its own. */
function drawBands(ctx, ps, xs, X, Y, col) {
  const runs = [];
  ps.forEach((q, j) => {
    if (!Number.isFinite(q[4])) return;
    if (runs.length && runs[runs.length - 1][1] === j - 1) runs[runs.length - 1][1] = j;
    else runs.push([j, j]);
  });
  for (let k = 0; k < 4; k++) {
    ctx.fillStyle = col;
    ctx.globalAlpha = 0.18 + 0.16 * k;
    for (const [a, b] of runs) {
      ctx.beginPath();
      for (let j = a; j <= b; j++) j === a ? ctx.moveTo(X(xs[j]), Y(ps[j][k])) : ctx.lineTo(X(xs[j]), Y(ps[j][k]));
      for (let j = b; j >= a; j--) ctx.lineTo(X(xs[j]), Y(ps[j][8 - k]));
      ctx.closePath();
      a === b ? ctx.fillRect(X(xs[a]) - 1, Y(ps[a][8 - k]), 3, Math.max(1, Y(ps[a][k]) - Y(ps[a][8 - k]))) : ctx.fill();
    }
  }
  ctx.globalAlpha = 1;
}

/** The distribution view: the percentile bands of `s` over its steps, the median and the
 * mean; `cur` (an index) marked. */
export function drawDistribution(ctx, W, Hh, { s, cur, opts, drawn }) {
  const box = { l: 70, t: 10, w: W - 70 - 20, h: Hh - 45 };
  const { xs, ticks, label } = timeX(s, opts.x);
  const ps = s.snaps.map((p) => (p.finite > 0 ? percentiles(p.edges, p.counts, p.min, p.max) : PERCENTILES.map(() => NaN)));
  let lo = Infinity, hi = -Infinity;
  for (const q of ps) for (const v of q) if (Number.isFinite(v)) (lo = Math.min(lo, v)), (hi = Math.max(hi, v));
  [lo, hi] = frame(lo, hi);
  const pad = 0.04 * (hi - lo);
  const x0 = xs[0], x1 = xs.length > 1 ? xs[xs.length - 1] : xs[0] + 1;
  const { X, Y } = axes(ctx, box, x0, x1, lo - pad, hi + pad, { xTicks: ticks, yLabel: "value", xLabel: label });
  drawBands(ctx, ps, xs, X, Y, COLORS[s.kind]);
  const n = s.snaps.length;
  brokenLine(ctx, n, xs, X, Y, (j) => ps[j][4], THEME.fg, []);
  brokenLine(ctx, n, xs, X, Y, (j) => statOf(s.snaps[j], "mean"), THEME.error, [4, 3]);
  const half = xs.length > 1 ? (X(xs[xs.length - 1]) - X(xs[0])) / (xs.length - 1) / 2 : 4;
  const nonfinite = markNonFinite(ctx, box, s, (j) => [X(xs[j]) - half, X(xs[j]) + half]);
  ctx.strokeStyle = THEME.sel;
  ctx.beginPath();
  ctx.moveTo(X(xs[cur]), box.t);
  ctx.lineTo(X(xs[cur]), box.t + box.h);
  ctx.stroke();
  const hit = (mx) => {
    const xv = x0 + ((mx - box.l) / box.w) * (x1 - x0);
    let j = 0;
    for (let k = 0; k < xs.length; k++) if (Math.abs(xs[k] - xv) < Math.abs(xs[j] - xv)) j = k;
    if (!Number.isFinite(ps[j][4])) return { text: `step ${s.snaps[j].step}: no finite values` };
    return { text: `step ${s.snaps[j].step}: ` + PERCENTILES.map((q, k) => `p${q} ${fmt(ps[j][k])}`).join(" · ") };
  };
  Object.assign(drawn, { percentiles: ps, steps: s.snaps.map((p) => p.step), nonfinite, mean: s.snaps.map((p) => statOf(p, "mean")) });
  return {
    hit,
    legend: "Bands: min–max, 6.7–93.3, 15.9–84.1 and 30.9–69.1 percentiles, read off the exact bins; black: median; red dashed: mean." +
      (nonfinite.length ? ` Red hatching: snapshots with NaN/Inf values only (no percentiles, no mean).` : ""),
  };
}
