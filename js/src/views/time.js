// The views over steps: offset, heatmap, distribution; snapshots of NaN/Inf only marked.

import { COLORS, PERCENTILES } from "../constants.js";
import { THEME, axes, colorBar, ramp } from "../draw.js";
import { describe, fmt, frame, outside, pct, percentiles, rebin, robustRange, spaced, statOf, total } from "../numbers.js";

// Methods of View (view.js mixes them in): `this` is the dashboard's view.
export const timeMethods = {
  timeX(s) {
    const x = this.opts.x;
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
  },

  drawOffset(ctx, W, Hh, s, cur, drawn) {
    const n = s.snaps.length;
    const want = Math.min(n, 40);
    const idx = [...new Set(Array.from({ length: want }, (_, j) => Math.round((j * (n - 1)) / Math.max(1, want - 1))))];
    if (!idx.includes(cur)) idx.push(cur);
    idx.sort((a, b) => a - b);
    const snap = s.snaps[cur];
    const [x0, x1] = this.xRange(s, snap);
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
    const { xs } = this.timeX(s);
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
    ctx.fillStyle = THEME.fg;
    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    // a label per row where they fit, the selected step's always: none closer than a line
    const ys = idx.map((j, r) => box.t + gap * (r + 1));
    const labelled = spaced(ys, 13, [idx.indexOf(cur)]);
    const labels = [];
    for (const r of labelled) {
      const p = s.snaps[idx[r]];
      const label = this.opts.x === "wall" ? `${fmt(xs[idx[r]])} s` : this.opts.x === "epoch" && p.epoch >= 0 ? `ep ${p.epoch + 1} · ${p.step}` : `step ${p.step}`;
      ctx.font = idx[r] === cur ? "bold 11px sans-serif" : "11px sans-serif";
      ctx.fillText(label, box.l - 6, ys[r]);
      labels.push([label, ys[r]]);
    }
    ctx.font = "11px sans-serif";
    this.legend.textContent = "Snapshots stacked over steps (oldest at the top), each drawn from its own exact bins as a share of its values; the selected step is filled.";
    Object.assign(drawn, { steps: idx.map((j) => s.snaps[j].step), labels });
  },

  /** Mark the snapshots with no finite values (NaN/Inf only) over the time axis: a red
   * hatched column each, so a step that went bad is not a blank one. Returns their steps. */
  markNonFinite(ctx, box, s, colX) {
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
  },

  drawHeatmap(ctx, W, Hh, s, cur, drawn) {
    const box = { l: 70, t: 10, w: W - 70 - 96, h: Hh - 45 };
    const snap = s.snaps[cur];
    const full = this.xRange(s, snap);
    // range auto: the bulk of the steps (robust percentiles); what lies outside is marked
    const robust = this.opts.range === "auto" ? robustRange(s.snaps, full) : null;
    const [y0, y1] = robust || full;
    const G = Math.max(8, Math.min(256, Math.floor(box.h / 2)));
    const grid = Float64Array.from({ length: G + 1 }, (_, j) => y0 + ((y1 - y0) * j) / G);
    const { xs, ticks, label } = this.timeX(s);
    const n = s.snaps.length;
    const xEnd = n > 1 ? xs[n - 1] + (xs[n - 1] - xs[n - 2]) : xs[0] + 1;
    const cols = [];
    let vmax = 0, clipped = 0, all = 0;
    const out = []; // per snapshot: [share below, share above] the range
    for (const p of s.snaps) {
      const t = total(p);
      if (!(t > 0)) { // no finite values: no column of shares (marked below)
        cols.push(new Float64Array(G));
        out.push([0, 0]);
        continue;
      }
      const m = rebin(p.edges, p.counts, grid);
      const share = m.map((v) => v / t);
      const o = outside(p, y0, y1);
      out.push(o);
      clipped += (o[0] + o[1]) * t;
      all += t;
      for (const v of share) vmax = Math.max(vmax, v);
      cols.push(share);
    }
    const cv = (v) => (this.opts.logColor ? Math.log10(1 + 1000 * v) / Math.log10(1 + 1000 * (vmax || 1)) : v / (vmax || 1));
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
    const nonfinite = this.markNonFinite(ctx, box, s, colX);
    const marked = this.markOutside(ctx, box, colX, out);
    // the mean (broken where a snapshot has none), then the selected step
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
    const [ca, cb_] = colX(cur);
    const sel = { x: ca - 1, w: Math.max(3, cb_ - ca) + 2 };
    ctx.lineWidth = 2;
    ctx.strokeStyle = "#fff";
    ctx.strokeRect(sel.x - 1, box.t - 1, sel.w + 2, box.h + 2);
    ctx.lineWidth = 1;
    ctx.strokeStyle = THEME.sel;
    ctx.strokeRect(sel.x, box.t, sel.w, box.h);
    ctx.fillStyle = THEME.sel;
    ctx.beginPath(); // a notch above the frame: the selected step, whatever its colour
    ctx.moveTo(sel.x + sel.w / 2 - 5, box.t - 1);
    ctx.lineTo(sel.x + sel.w / 2 + 5, box.t - 1);
    ctx.lineTo(sel.x + sel.w / 2, box.t + 6);
    ctx.fill();
    // colour bar
    const cbar = { x: box.l + box.w + 14, w: 12 };
    colorBar(ctx, cbar.x, box, cbar.w);
    ctx.fillStyle = THEME.fg;
    ctx.textAlign = "left";
    ctx.textBaseline = "middle";
    const barLabels = [pct(vmax), "0%"];
    ctx.fillText(barLabels[0], cbar.x + cbar.w + 3, box.t + 4);
    ctx.fillText(barLabels[1], cbar.x + cbar.w + 3, box.t + box.h - 4);
    ctx.save();
    ctx.translate(cbar.x + cbar.w + 44, box.t + box.h / 2);
    ctx.rotate(Math.PI / 2);
    ctx.textAlign = "center";
    ctx.fillText(this.opts.logColor ? "share of values (log)" : "share of values", 0, 0);
    ctx.restore();
    this.legend.textContent = "Each column is one snapshot re-binned onto one value grid (mass conserved); colour is its share of the snapshot's finite values; white line: mean; blue frame: the selected step." +
      (nonfinite.length ? ` Red hatching: ${nonfinite.length} snapshot${nonfinite.length > 1 ? "s" : ""} with NaN/Inf values only.` : "") +
      (robust ? ` Range: the bulk of the steps (from the 10th percentile of their lowest values to the 90th of their highest); ` : "") +
      (clipped > 0 ? ` ${pct(clipped / (all || 1))} of the finite values lie outside it, in ${marked} snapshot${marked === 1 ? "" : "s"}: ▲/▼ at the top/bottom edge (range: all steps shows them).` : "");
    this.hit = (mx, my) => {
      const xv = xs[0] + ((mx - box.l) / box.w) * (xEnd - xs[0]);
      let j = -1;
      for (let k = 0; k < n; k++) if (xs[k] <= xv) j = k;
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
    this.pick = (mx, my) => {
      const got = this.hit(mx, my);
      const xv = xs[0] + ((mx - box.l) / box.w) * (xEnd - xs[0]);
      let j = -1;
      for (let k = 0; k < n; k++) if (xs[k] <= xv) j = k;
      return got && j >= 0 ? { view: null, step: s.snaps[j].step, rect: got.rect } : null; // a click selects that step
    };
    Object.assign(drawn, { grid: Array.from(grid), shares: cols.map((c) => Array.from(c)), steps: s.snaps.map((p) => p.step), colorbar: barLabels,
      selected: [sel.x, sel.w], nonfinite, outside: clipped / (all || 1), range: [y0, y1], full, robust: !!robust, marked });
  },

  /** ▲ at the top edge of a column whose snapshot has values above the range, ▼ at the
   * bottom for values below: a narrowed range never hides them. Returns how many. */
  markOutside(ctx, box, colX, out) {
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
  },

  drawDistribution(ctx, W, Hh, s, cur, drawn) {
    const box = { l: 70, t: 10, w: W - 70 - 20, h: Hh - 45 };
    const { xs, ticks, label } = this.timeX(s);
    const ps = s.snaps.map((p) => (p.finite > 0 ? percentiles(p.edges, p.counts, p.min, p.max) : PERCENTILES.map(() => NaN)));
    let lo = Infinity, hi = -Infinity;
    for (const q of ps) for (const v of q) if (Number.isFinite(v)) (lo = Math.min(lo, v)), (hi = Math.max(hi, v));
    [lo, hi] = frame(lo, hi);
    const pad = 0.04 * (hi - lo);
    const x0 = xs[0], x1 = xs.length > 1 ? xs[xs.length - 1] : xs[0] + 1;
    const { X, Y } = axes(ctx, box, x0, x1, lo - pad, hi + pad, { xTicks: ticks, yLabel: "value", xLabel: label });
    // runs of consecutive snapshots with finite values: bands and lines break between them
    const runs = [];
    ps.forEach((q, j) => {
      if (!Number.isFinite(q[4])) return;
      if (runs.length && runs[runs.length - 1][1] === j - 1) runs[runs.length - 1][1] = j;
      else runs.push([j, j]);
    });
    const col = COLORS[s.kind];
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
    const line = (f, style, dash) => {
      ctx.strokeStyle = style;
      ctx.setLineDash(dash);
      ctx.beginPath();
      let on = false;
      s.snaps.forEach((p, j) => {
        const v = f(j);
        if (!Number.isFinite(v)) return void (on = false);
        on ? ctx.lineTo(X(xs[j]), Y(v)) : ctx.moveTo(X(xs[j]), Y(v));
        on = true;
      });
      ctx.stroke();
      ctx.setLineDash([]);
    };
    line((j) => ps[j][4], THEME.fg, []);
    line((j) => statOf(s.snaps[j], "mean"), THEME.error, [4, 3]);
    const half = xs.length > 1 ? (X(xs[xs.length - 1]) - X(xs[0])) / (xs.length - 1) / 2 : 4;
    const nonfinite = this.markNonFinite(ctx, box, s, (j) => [X(xs[j]) - half, X(xs[j]) + half]);
    ctx.strokeStyle = THEME.sel;
    ctx.beginPath();
    ctx.moveTo(X(xs[cur]), box.t);
    ctx.lineTo(X(xs[cur]), box.t + box.h);
    ctx.stroke();
    this.legend.textContent = "Bands: min–max, 6.7–93.3, 15.9–84.1 and 30.9–69.1 percentiles, read off the exact bins; black: median; red dashed: mean." +
      (nonfinite.length ? ` Red hatching: snapshots with NaN/Inf values only (no percentiles, no mean).` : "");
    this.hit = (mx) => {
      const xv = x0 + ((mx - box.l) / box.w) * (x1 - x0);
      let j = 0;
      for (let k = 0; k < xs.length; k++) if (Math.abs(xs[k] - xv) < Math.abs(xs[j] - xv)) j = k;
      if (!Number.isFinite(ps[j][4])) return { text: `step ${s.snaps[j].step}: no finite values` };
      return { text: `step ${s.snaps[j].step}: ` + PERCENTILES.map((q, k) => `p${q} ${fmt(ps[j][k])}`).join(" · ") };
    };
    Object.assign(drawn, { percentiles: ps, steps: s.snaps.map((p) => p.step), nonfinite, mean: s.snaps.map((p) => statOf(p, "mean")) });
  },
};
