// The heatmap view: every kept snapshot of a Series re-binned onto one value grid, a
// column each, its share of values as colour. Takes its canvas' context and size and what
// it shows, writes what it drew into `drawn`, returns what answers the pointer and its legend.

import { THEME, axes, colorBar, ramp } from "../draw.js";
import { describe, fmt, outside, pct, rebin, robustRange, statOf, total } from "../numbers.js";
import { xRange } from "./snapshot.js";
import { markNonFinite, timeX } from "./time.js";

/** Each snapshot of `s` as its shares of finite values on `grid` (a column of zeros for
 * one with none), the shares below and above [y0, y1], the largest share, and how many
 * finite values lie outside of all there are. */
function columns(s, grid, y0, y1) {
  const cols = [], out = [];
  let vmax = 0, clipped = 0, all = 0;
  for (const p of s.snaps) {
    const t = total(p);
    if (!(t > 0)) { // no finite values: no column of shares (marked)
      cols.push(new Float64Array(grid.length - 1));
      out.push([0, 0]);
      continue;
    }
    const share = rebin(p.edges, p.counts, grid).map((v) => v / t);
    const o = outside(p, y0, y1);
    out.push(o);
    clipped += (o[0] + o[1]) * t;
    all += t;
    for (const v of share) vmax = Math.max(vmax, v);
    cols.push(share);
  }
  return { cols, out, vmax, clipped, all };
}

/** ▲ at the top edge of a column whose snapshot has values above the range, ▼ at the
 * bottom for values below: a narrowed range never hides them. Returns how many. */
function markOutside(ctx, box, colX, out) {
  let n = 0;
  const tri = (x, y, up) => {
    ctx.beginPath();
    ctx.moveTo(x - 4, up ? y + 6 : y - 6);
    ctx.lineTo(x + 4, up ? y + 6 : y - 6);
    ctx.lineTo(x, y);
    ctx.closePath();
    ctx.fill();
    ctx.stroke();
  };
  ctx.fillStyle = "#00e5ff";
  ctx.strokeStyle = "#000";
  ctx.lineWidth = 1;
  out.forEach(([below, above], j) => {
    if (!(below + above > 0)) return;
    const [xa, xb] = colX(j), x = (xa + xb) / 2;
    if (above > 0) tri(x, box.t + 1, true);
    if (below > 0) tri(x, box.t + box.h - 1, false);
    n++;
  });
  return n;
}

/** The mean of each snapshot as a white line, broken where a snapshot has none. */
function meanLine(ctx, s, colX, Y, y0, y1) {
  ctx.strokeStyle = "#fff";
  ctx.lineWidth = 1;
  ctx.beginPath();
  let on = false;
  s.snaps.forEach((p, j) => {
    const m = statOf(p, "mean");
    if (!Number.isFinite(m)) return void (on = false);
    const [xa, xb] = colX(j);
    const x = (xa + xb) / 2, y = Y(Math.min(y1, Math.max(y0, m)));
    on ? ctx.lineTo(x, y) : ctx.moveTo(x, y);
    on = true;
  });
  ctx.stroke();
}

/** The selected column framed, with a notch above: whatever its colour. Returns {x, w}. */
function frameSelected(ctx, box, colX, cur) {
  const [ca, cb] = colX(cur);
  const sel = { x: ca - 1, w: Math.max(3, cb - ca) + 2 };
  ctx.lineWidth = 2;
  ctx.strokeStyle = "#fff";
  ctx.strokeRect(sel.x - 1, box.t - 1, sel.w + 2, box.h + 2);
  ctx.lineWidth = 1;
  ctx.strokeStyle = THEME.sel;
  ctx.strokeRect(sel.x, box.t, sel.w, box.h);
  ctx.fillStyle = THEME.sel;
  ctx.beginPath();
  ctx.moveTo(sel.x + sel.w / 2 - 5, box.t - 1);
  ctx.lineTo(sel.x + sel.w / 2 + 5, box.t - 1);
  ctx.lineTo(sel.x + sel.w / 2, box.t + 6);
  ctx.fill();
  return sel;
}

/** The colour bar right of `box`, from 0% to `vmax`. Returns its two labels. */
function shareBar(ctx, box, vmax, log) {
  const cbar = { x: box.l + box.w + 14, w: 12 };
  colorBar(ctx, cbar.x, box, cbar.w);
  ctx.fillStyle = THEME.fg;
  ctx.textAlign = "left";
  ctx.textBaseline = "middle";
  const labels = [pct(vmax), "0%"];
  ctx.fillText(labels[0], cbar.x + cbar.w + 3, box.t + 4);
  ctx.fillText(labels[1], cbar.x + cbar.w + 3, box.t + box.h - 4);
  ctx.save();
  ctx.translate(cbar.x + cbar.w + 44, box.t + box.h / 2);
  ctx.rotate(Math.PI / 2);
  ctx.textAlign = "center";
  ctx.fillText(log ? "share of values (log)" : "share of values", 0, 0);
  ctx.restore();
  return labels;
}

/** What answers the pointer over the heatmap: a cell's shares (hit), a column's step (pick). */
function pointer(s, box, xs, xEnd, grid, colX, Y, cols, out) {
  const G = grid.length - 1, n = s.snaps.length;
  const column = (mx) => {
    const xv = xs[0] + ((mx - box.l) / box.w) * (xEnd - xs[0]);
    let j = -1;
    for (let k = 0; k < n; k++) if (xs[k] <= xv) j = k;
    return j;
  };
  const hit = (mx, my) => {
    const j = column(mx);
    const g = Math.floor(((box.t + box.h - my) / box.h) * G);
    if (j < 0 || g < 0 || g >= G) return null;
    const p = s.snaps[j];
    const [xa, xb] = colX(j), ya = Y(grid[g + 1]), yb = Y(grid[g]);
    const rect = [xa, ya, Math.max(2, xb - xa), Math.max(2, yb - ya)];
    if (!(p.finite > 0)) return { rect, text: `step ${p.step}: no finite values (` + describe(p, s.explicit).split(" · ").pop() + ")" };
    const [below, above] = out[j];
    return { rect, text: `step ${p.step}: [${fmt(grid[g])}, ${fmt(grid[g + 1])})  ${pct(cols[j][g])} of its values` +
      (below + above > 0 ? ` · outside the range: ${pct(below)} below, ${pct(above)} above` : "") };
  };
  const pick = (mx, my) => {
    const got = hit(mx, my);
    const j = column(mx);
    return got && j >= 0 ? { view: null, step: s.snaps[j].step, rect: got.rect } : null; // a click selects that step
  };
  return { hit, pick };
}

/** The heatmap view of Series `s`, snapshot `cur` (an index) framed. */
export function drawHeatmap(ctx, W, Hh, { s, cur, opts, drawn }) {
  const box = { l: 70, t: 10, w: W - 70 - 96, h: Hh - 45 };
  const full = xRange(s, s.snaps[cur], opts, "heatmap");
  // range auto: the bulk of the steps (robust percentiles); what lies outside is marked
  const robust = opts.range === "auto" ? robustRange(s.snaps, full) : null;
  const [y0, y1] = robust || full;
  const G = Math.max(8, Math.min(256, Math.floor(box.h / 2)));
  const grid = Float64Array.from({ length: G + 1 }, (_, j) => y0 + ((y1 - y0) * j) / G);
  const { xs, ticks, label } = timeX(s, opts.x);
  const n = s.snaps.length;
  const xEnd = n > 1 ? xs[n - 1] + (xs[n - 1] - xs[n - 2]) : xs[0] + 1;
  const { cols, out, vmax, clipped, all } = columns(s, grid, y0, y1);
  const cv = (v) => (opts.logColor ? Math.log10(1 + 1000 * v) / Math.log10(1 + 1000 * (vmax || 1)) : v / (vmax || 1));
  const { X, Y } = axes(ctx, box, xs[0], xEnd, y0, y1, { xTicks: ticks, yLabel: "value", xLabel: label });
  const colX = (j) => [X(xs[j]), X(j + 1 < n ? xs[j + 1] : xEnd)];
  ctx.fillStyle = ramp(0); // no mass
  ctx.fillRect(box.l + 1, box.t, box.w - 1, box.h);
  for (let j = 0; j < n; j++) {
    const [xa, xb] = colX(j);
    for (let g = 0; g < G; g++) {
      if (cols[j][g] <= 0) continue;
      ctx.fillStyle = ramp(cv(cols[j][g]));
      const ya = Y(grid[g + 1]), yb = Y(grid[g]);
      ctx.fillRect(xa, ya, Math.max(1, xb - xa + 0.5), Math.max(1, yb - ya + 0.5));
    }
  }
  const nonfinite = markNonFinite(ctx, box, s, colX);
  const marked = markOutside(ctx, box, colX, out);
  meanLine(ctx, s, colX, Y, y0, y1);
  const sel = frameSelected(ctx, box, colX, cur);
  const barLabels = shareBar(ctx, box, vmax, opts.logColor);
  const legend = "Each column is one snapshot re-binned onto one value grid (mass conserved); colour is its share of the snapshot's finite values; white line: mean; blue frame: the selected step." +
    (nonfinite.length ? ` Red hatching: ${nonfinite.length} snapshot${nonfinite.length > 1 ? "s" : ""} with NaN/Inf values only.` : "") +
    (robust ? ` Range: the bulk of the steps (from the 10th percentile of their lowest values to the 90th of their highest); ` : "") +
    (clipped > 0 ? ` ${pct(clipped / (all || 1))} of the finite values lie outside it, in ${marked} snapshot${marked === 1 ? "" : "s"}: ▲/▼ at the top/bottom edge (range: all steps shows them).` : "");
  Object.assign(drawn, { grid: Array.from(grid), shares: cols.map((c) => Array.from(c)), steps: s.snaps.map((p) => p.step), colorbar: barLabels,
    selected: [sel.x, sel.w], nonfinite, outside: clipped / (all || 1), range: [y0, y1], full, robust: !!robust, marked });
  return { ...pointer(s, box, xs, xEnd, grid, colX, Y, cols, out), legend };
}
