// The views of one or a few snapshots: step (the exact bins) and overlay. Each drawing
// takes its canvas' context and size and what it shows, writes what it drew into `drawn`
// and returns what answers the pointer ({hit, pick}) and its legend.

import { COLORS } from "../constants.js";
import { THEME, axes, ramp, searchEdges } from "../draw.js";
import { fmt, niceTicks, total, valueRange } from "../numbers.js";

/** The value axis of Series `s` at `snap` in `view`, by the range option: auto frames the
 * selected step in the step and overlay views, all steps in the views over time. */
export function xRange(s, snap, opts, view) {
  const range = opts.range === "auto" ? (["step", "overlay"].includes(view) ? "this" : "all") : opts.range;
  if (range === "this" && snap.finite > 0) return valueRange([snap]);
  return valueRange(s.snaps); // a snapshot of NaN/Inf only has no place on a value axis
}

/** A count on the count axis (log: log10(1 + count)). */
export function yOf(c, log) {
  return log ? Math.log10(1 + c) : c;
}

export function yTicks(max, log) {
  if (!log) return niceTicks(0, max * 1.05, 5).filter(Number.isInteger).map((v) => [v, fmt(v)]); // counts
  const out = [];
  for (let p = 0; Math.pow(10, p) <= max * 10; p++) out.push([Math.log10(1 + Math.pow(10, p)), fmt(Math.pow(10, p))]);
  return [[0, "0"], ...out];
}

const BAD = [["nan", "NaN"], ["posinf", "+Inf"], ["neginf", "−Inf"]];

/** NaN / +Inf / −Inf of `snap` as their own marked counts, beside the axis from `gx`. */
function drawNonFinite(ctx, box, Y, snap, log, gx, slot) {
  ctx.strokeStyle = THEME.faint;
  ctx.beginPath();
  ctx.moveTo(gx - 6, box.t);
  ctx.lineTo(gx - 6, box.t + box.h);
  ctx.stroke();
  ctx.textAlign = "center";
  ctx.textBaseline = "top";
  BAD.forEach(([k, label], j) => {
    const x = gx + j * slot;
    const c = snap[k];
    ctx.fillStyle = c > 0 ? THEME.error : THEME.fg2;
    if (c > 0) {
      const y = Y(yOf(c, log));
      ctx.fillRect(x, y, slot - 6, box.t + box.h - y);
      ctx.textBaseline = "bottom";
      ctx.fillText(fmt(c), x + (slot - 6) / 2, y - 1);
      ctx.textBaseline = "top";
    }
    ctx.fillText(label, x + (slot - 6) / 2, box.t + box.h + 5);
  });
}

/** The step view: `snap` of Series `s` as its exact bins; `hoverAt`: the hovered bin. */
export function drawStep(ctx, W, Hh, { s, snap, opts, hoverAt, drawn }) {
  const box = { l: 58, t: 10, w: W - 58 - 96, h: Hh - 40 };
  const [x0, x1] = xRange(s, snap, opts, "step");
  const log = opts.log;
  let ymax = 1;
  for (const c of snap.counts) ymax = Math.max(ymax, c);
  for (const [k] of BAD) ymax = Math.max(ymax, snap[k]);
  const { X, Y } = axes(ctx, box, x0, x1, 0, yOf(ymax, log) * 1.05, { yTicks: yTicks(ymax, log), yLabel: log ? "count (log)" : "count" });
  const B = snap.counts.length;
  const tot = total(snap);
  ctx.fillStyle = COLORS[s.kind];
  const bars = [];
  for (let b = 0; b < B; b++) {
    const c = snap.counts[b];
    const xa = X(snap.edges[b]), xb = X(snap.edges[b + 1]);
    bars.push([xa, xb]);
    if (c > 0) {
      const y = Y(yOf(c, log));
      ctx.fillRect(xa, y, Math.max(1, xb - xa), box.t + box.h - y);
    }
  }
  if (hoverAt != null && hoverAt < B) {
    ctx.fillStyle = THEME.dark ? "rgba(255,255,255,0.3)" : "rgba(0,0,0,0.25)";
    const [xa, xb] = bars[hoverAt];
    ctx.fillRect(xa, box.t, Math.max(1, xb - xa), box.h);
  }
  const slot = 26, gx = box.l + box.w + 14;
  drawNonFinite(ctx, box, Y, snap, log, gx, slot);
  const hit = (mx) => {
    const j = Math.floor((mx - gx) / slot);
    if (mx >= gx && j >= 0 && j < 3) {
      const [k, label] = BAD[j];
      return { text: `${label}: ${snap[k]} values`, bin: B + j };
    }
    const v = x0 + ((mx - box.l) / box.w) * (x1 - x0);
    const b = searchEdges(snap.edges, v);
    if (b < 0) return null;
    const c = snap.counts[b];
    return { text: `[${fmt(snap.edges[b])}, ${fmt(snap.edges[b + 1])}${b === B - 1 ? "]" : ")"}  count ${c}  (${tot ? ((100 * c) / tot).toFixed(2) : 0}% of finite)`, bin: b };
  };
  Object.assign(drawn, { counts: Array.from(snap.counts), edges: Array.from(snap.edges), nan: snap.nan, posinf: snap.posinf, neginf: snap.neginf, range: [x0, x1] });
  return { hit, legend: "" };
}

/** The overlay view: the outlines of the pinned steps of Series `s` (first and middle
 * when none are pinned) and of `snap`'s. */
export function drawOverlay(ctx, W, Hh, { s, snap, opts, pins, drawn }) {
  const n = s.snaps.length;
  const steps = pins.length ? [...pins] : [s.snaps[0].step, s.snaps[Math.floor((n - 1) / 2)].step];
  if (!steps.includes(snap.step)) steps.push(snap.step);
  const chosen = [...new Set(steps)].map((st) => s.snaps.find((p) => p.step === st)).filter(Boolean).sort((a, b) => a.step - b.step);
  const box = { l: 58, t: 10, w: W - 58 - 120, h: Hh - 40 };
  let ymax = 1;
  for (const p of chosen) for (const c of p.counts) ymax = Math.max(ymax, c);
  const [lo, hi] = valueRange(opts.range === "this" && snap.finite > 0 ? [snap] : chosen); // auto: all chosen steps
  const { X, Y } = axes(ctx, box, lo, hi, 0, yOf(ymax, opts.log) * 1.05, { yTicks: yTicks(ymax, opts.log), yLabel: "count" });
  const shade = (j) => ramp(THEME.rampLo + ((THEME.rampHi - THEME.rampLo) * j) / Math.max(1, chosen.length - 1));
  ctx.save();
  ctx.beginPath();
  ctx.rect(box.l, box.t - 2, box.w, box.h + 2);
  ctx.clip();
  chosen.forEach((p, j) => {
    ctx.strokeStyle = shade(j);
    ctx.lineWidth = p === snap ? 2 : 1.2;
    ctx.beginPath();
    ctx.moveTo(X(p.edges[0]), Y(0));
    for (let b = 0; b < p.counts.length; b++) {
      const y = Y(yOf(p.counts[b], opts.log));
      ctx.lineTo(X(p.edges[b]), y);
      ctx.lineTo(X(p.edges[b + 1]), y);
    }
    ctx.lineTo(X(p.edges[p.edges.length - 1]), Y(0));
    ctx.stroke();
  });
  ctx.restore();
  ctx.textAlign = "left";
  ctx.textBaseline = "middle";
  chosen.forEach((p, j) => {
    const y = box.t + 8 + j * 16;
    ctx.fillStyle = shade(j);
    ctx.fillRect(box.l + box.w + 12, y - 1, 14, 3);
    ctx.fillStyle = THEME.fg;
    ctx.fillText(`step ${p.step}` + (p.epoch >= 0 ? ` (ep ${p.epoch + 1})` : ""), box.l + box.w + 30, y);
  });
  Object.assign(drawn, { steps: chosen.map((p) => p.step) });
  return { legend: "Outlines of the chosen steps (first, middle and selected; 'pin step' adds the selected one)." };
}
