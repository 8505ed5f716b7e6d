// Compare mode's drawings: every run's outlines, the heatmaps side by side, the bands, the
// score over the compared steps. Each takes its canvas and width and what it shows (the
// compared tensor `t`: {kind, name, series (one per run), n, j}; the runs: {label, color}),
// writes what it drew into `drawn` and returns what answers the pointer and its legend.

import { PERCENTILES } from "../constants.js";
import { THEME, axes, ramp, sizeCanvas } from "../draw.js";
import { fmt, frame, pct, percentiles, rebin, total, valueRange } from "../numbers.js";

/** The density of one snapshot on its own bins: count / (finite total × bin width), so
 * runs whose bins differ draw on one scale (a bin of no width: 0). */
export function density(snap) {
  const t = total(snap);
  const out = new Float64Array(snap.counts.length);
  if (!(t > 0)) return out;
  for (let b = 0; b < out.length; b++) {
    const w = snap.edges[b + 1] - snap.edges[b];
    out[b] = w > 0 ? snap.counts[b] / t / w : 0;
  }
  return out;
}

/** Every run's snapshot at the compared step (`snaps`), as the outline of its density. */
export function drawOverlay(canvas, W, { snaps, runs, drawn }) {
  const Hh = 300;
  const ctx = sizeCanvas(canvas, W, Hh);
  const box = { l: 62, t: 10, w: W - 62 - 20, h: Hh - 40 };
  const [lo, hi] = valueRange(snaps);
  const dens = snaps.map(density);
  let ymax = 0;
  for (const d of dens) for (const v of d) ymax = Math.max(ymax, v);
  ymax = ymax || 1;
  const { X, Y } = axes(ctx, box, lo, hi, 0, ymax * 1.05, { yLabel: "density" });
  ctx.save();
  ctx.beginPath();
  ctx.rect(box.l, box.t - 2, box.w, box.h + 2);
  ctx.clip();
  snaps.forEach((p, r) => {
    if (!(p.finite > 0)) return;
    ctx.strokeStyle = runs[r].color;
    ctx.lineWidth = 2;
    ctx.beginPath();
    ctx.moveTo(X(p.edges[0]), Y(0));
    for (let b = 0; b < p.counts.length; b++) {
      const y = Y(dens[r][b]);
      ctx.lineTo(X(p.edges[b]), y);
      ctx.lineTo(X(p.edges[b + 1]), y);
    }
    ctx.lineTo(X(p.edges[p.edges.length - 1]), Y(0));
    ctx.stroke();
  });
  ctx.restore();
  const bad = snaps.map((p, r) => [r, p.nan + p.posinf + p.neginf]).filter(([, n]) => n > 0);
  const legend = "Each run's snapshot at this compared step, drawn from its own exact bins as a density (count / values / bin width), so runs with other bins compare." +
    (bad.length ? " NaN/Inf: " + bad.map(([r, n]) => `${n} in ${runs[r].label}`).join(", ") + "." : "");
  const hit = (mx) => {
    const v = lo + ((mx - box.l) / box.w) * (hi - lo);
    const parts = snaps.map((p, r) => {
      let d = 0;
      for (let b = 0; b < p.counts.length; b++) if (p.edges[b] <= v && v < p.edges[b + 1]) d = dens[r][b];
      return `${runs[r].label} ${fmt(d)}`;
    });
    return { text: `at ${fmt(v)}: density ` + parts.join(" · ") };
  };
  drawn.range = [lo, hi];
  drawn.lines = snaps.map((p, r) => ({ run: r, color: runs[r].color, edges: Array.from(p.edges), density: Array.from(dens[r]), counts: Array.from(p.counts) }));
  return { hit, legend };
}

/** A heatmap per run, side by side, on one value grid and one colour scale, over the
 * compared `steps`. */
export function drawHeatmaps(canvas, W, { t, runs, steps, drawn }) {
  const R = t.series.length;
  const Hh = 300;
  const ctx = sizeCanvas(canvas, W, Hh);
  const all = t.series.flatMap((s) => s.snaps.slice(0, t.n));
  const [y0, y1] = valueRange(all);
  const G = 64;
  const grid = Float64Array.from({ length: G + 1 }, (_, g) => y0 + ((y1 - y0) * g) / G);
  const gap = 14, left = 62;
  const pw = (W - left - 10 - gap * (R - 1)) / R;
  const cols = t.series.map((s) => s.snaps.slice(0, t.n).map((p) => {
    const tt = total(p);
    return tt > 0 ? rebin(p.edges, p.counts, grid).map((v) => v / tt) : new Float64Array(G);
  }));
  let vmax = 0;
  for (const c of cols) for (const col of c) for (const v of col) vmax = Math.max(vmax, v);
  const cv = (v) => Math.log10(1 + 1000 * v) / Math.log10(1 + 1000 * (vmax || 1));
  const panels = [];
  for (let r = 0; r < R; r++) {
    const box = { l: left + r * (pw + gap), t: 22, w: pw, h: Hh - 22 - 32 };
    const ticks = [[0, String(steps[0])], [t.n - 1, String(steps[t.n - 1])]];
    const { Y } = axes(ctx, box, 0, Math.max(1, t.n), y0, y1, { xTicks: ticks.map(([i, l]) => [i + 0.5, l]), yTicks: r ? [] : undefined, yLabel: r ? "" : "value" });
    const cw = box.w / t.n;
    ctx.fillStyle = ramp(0);
    ctx.fillRect(box.l + 1, box.t, box.w - 1, box.h);
    cols[r].forEach((col, j) => {
      for (let g = 0; g < G; g++) {
        if (col[g] <= 0) continue;
        ctx.fillStyle = ramp(cv(col[g]));
        const ya = Y(grid[g + 1]), yb = Y(grid[g]);
        ctx.fillRect(box.l + j * cw, ya, cw + 0.5, Math.max(1, yb - ya + 0.5));
      }
    });
    ctx.strokeStyle = THEME.sel;
    ctx.lineWidth = 1.5;
    ctx.strokeRect(box.l + t.j * cw, box.t, Math.max(2, cw), box.h);
    ctx.fillStyle = runs[r].color;
    ctx.font = "bold 12px sans-serif";
    ctx.textAlign = "left";
    ctx.textBaseline = "top";
    ctx.fillText(runs[r].label, box.l + 2, 3);
    ctx.font = "11px sans-serif";
    panels.push({ run: r, box: [box.l, box.t, box.w, box.h] });
  }
  const legend = `A heatmap per run, side by side: each column one compared step (${fmt(steps[0])} to ${fmt(steps[t.n - 1])}), re-binned onto one value grid (mass conserved); colour is the share of the snapshot's finite values (log; one scale for all runs, largest ${pct(vmax)}); blue frame: the selected step.`;
  const hit = (mx, my) => {
    const p = panels.find((q) => mx >= q.box[0] && mx < q.box[0] + q.box[2] && my >= q.box[1] && my < q.box[1] + q.box[3]);
    if (!p) return null;
    const j = Math.floor(((mx - p.box[0]) / p.box[2]) * t.n), g = Math.floor(((p.box[1] + p.box[3] - my) / p.box[3]) * G);
    if (j < 0 || j >= t.n || g < 0 || g >= G) return null;
    const s = t.series[p.run].snaps[j];
    return { text: `${runs[p.run].label}, step ${s.step}: [${fmt(grid[g])}, ${fmt(grid[g + 1])})  ${pct(cols[p.run][j][g])} of its values` };
  };
  Object.assign(drawn, { panels, grid: [y0, y1], vmax, columns: cols.map((c) => c.length) });
  return { hit, legend };
}

/** Percentile bands of every run over the compared `steps`, one colour each, the median a line. */
export function drawBands(canvas, W, { t, runs, steps, drawn }) {
  const Hh = 300;
  const ctx = sizeCanvas(canvas, W, Hh);
  const box = { l: 62, t: 10, w: W - 62 - 20, h: Hh - 45 };
  const ps = t.series.map((s) => s.snaps.slice(0, t.n).map((p) => (p.finite > 0 ? percentiles(p.edges, p.counts, p.min, p.max) : PERCENTILES.map(() => NaN))));
  let lo = Infinity, hi = -Infinity;
  for (const run of ps) for (const q of run) for (const v of q) if (Number.isFinite(v)) (lo = Math.min(lo, v)), (hi = Math.max(hi, v));
  [lo, hi] = frame(lo, hi);
  const pad = 0.04 * (hi - lo);
  const x0 = steps[0], x1 = steps.length > 1 ? steps[steps.length - 1] : steps[0] + 1;
  const { X, Y } = axes(ctx, box, x0, x1, lo - pad, hi + pad, { yLabel: "value", xLabel: "step" });
  ps.forEach((run, r) => {
    const color = runs[r].color;
    for (const [k, alpha] of [[1, 0.15], [2, 0.25]]) { // 6.68–93.32 and 15.87–84.13 percentiles
      ctx.fillStyle = color;
      ctx.globalAlpha = alpha;
      ctx.beginPath();
      let on = false;
      for (let j = 0; j < run.length; j++) if (Number.isFinite(run[j][k])) (on ? ctx.lineTo(X(steps[j]), Y(run[j][k])) : ctx.moveTo(X(steps[j]), Y(run[j][k]))), (on = true);
      for (let j = run.length - 1; j >= 0; j--) if (Number.isFinite(run[j][8 - k])) ctx.lineTo(X(steps[j]), Y(run[j][8 - k]));
      ctx.closePath();
      ctx.fill();
    }
    ctx.globalAlpha = 1;
    ctx.strokeStyle = color;
    ctx.lineWidth = 2;
    ctx.beginPath();
    let on = false;
    run.forEach((q, j) => {
      if (!Number.isFinite(q[4])) return void (on = false);
      on ? ctx.lineTo(X(steps[j]), Y(q[4])) : ctx.moveTo(X(steps[j]), Y(q[4]));
      on = true;
    });
    ctx.stroke();
  });
  const xs = X(steps[t.j]);
  ctx.strokeStyle = THEME.sel;
  ctx.lineWidth = 1;
  ctx.beginPath();
  ctx.moveTo(xs, box.t);
  ctx.lineTo(xs, box.t + box.h);
  ctx.stroke();
  const legend = "Each run's distribution over the compared steps, read off its exact bins: the median (line), the 15.9–84.1 and 6.7–93.3 percentile bands (±1σ, ±1.5σ of a normal), one colour per run; blue: the selected step.";
  const hit = (mx) => {
    const v = x0 + ((mx - box.l) / box.w) * (x1 - x0);
    let j = 0;
    for (let k = 0; k < steps.length; k++) if (Math.abs(steps[k] - v) < Math.abs(steps[j] - v)) j = k;
    return { text: `step ${steps[j]}: median ` + ps.map((run, r) => `${runs[r].label} ${fmt(run[j][4])}`).join(" · ") };
  };
  Object.assign(drawn, { x: steps, medians: ps.map((run) => run.map((q) => (Number.isFinite(q[4]) ? q[4] : null))) });
  return { hit, legend };
}

/** The tensor's score at each compared step (`store`'s "score.<kind>"), under the plot;
 * the canvas hidden when it has none. */
export function drawScores(canvas, W, { store, t }) {
  const c = store.scalar(`score.${t.kind}`, t.name);
  if (!c || !c.steps.length) return void (canvas.style.display = "none");
  canvas.style.display = "";
  const Hh = 90;
  const ctx = sizeCanvas(canvas, W, Hh);
  const box = { l: 62, t: 14, w: W - 62 - 20, h: Hh - 34 };
  const xs = c.steps, ys = c.values;
  let top = 0;
  for (const v of ys) if (Number.isFinite(v)) top = Math.max(top, v);
  const x1 = xs.length > 1 ? xs[xs.length - 1] : xs[0] + 1;
  const { X, Y } = axes(ctx, box, xs[0], x1, 0, (top || 1) * 1.1, { yTicks: [[0, "0"], [top || 1, fmt(top || 1)]] });
  ctx.strokeStyle = THEME.fg;
  ctx.lineWidth = 1.5;
  ctx.beginPath();
  let on = false;
  xs.forEach((x, j) => {
    if (!Number.isFinite(ys[j])) return void (on = false);
    on ? ctx.lineTo(X(x), Y(ys[j])) : ctx.moveTo(X(x), Y(ys[j]));
    on = true;
  });
  ctx.stroke();
  if (t.j < xs.length && Number.isFinite(ys[t.j])) {
    ctx.fillStyle = THEME.sel;
    ctx.beginPath();
    ctx.arc(X(xs[t.j]), Y(ys[t.j]), 3.5, 0, 2 * Math.PI);
    ctx.fill();
  }
  ctx.fillStyle = THEME.fg;
  ctx.textAlign = "left";
  ctx.textBaseline = "top";
  ctx.fillText("score at each compared step (W1 / pooled std)", box.l + 4, 1);
}
