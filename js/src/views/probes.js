// The scalar series under a tensor's histogram (update ratio; dead units, saturation) and,
// below them, the sizes measured per step (update norm, distance from init; the model's
// global gradient norm).

import { NORMS, PROBES } from "../constants.js";
import { THEME, axes, polyline, sizeCanvas } from "../draw.js";
import { fmt, niceTicks } from "../numbers.js";

// Methods of View (view.js mixes them in): `this` is the dashboard's view.
export const probesMethods = {
  /** The tensor's scalar series (update ratio; dead units, saturation) over steps, with
   * the rule's threshold and a mark at the selected step; hidden when it has none. */
  drawProbes(s, snap, hidden) {
    const got = (PROBES[s.kind] || []).map(([m, label, log]) => [m, label, log, this.store.scalar(m, s.name)]).filter((p) => p[3] && p[3].steps.length);
    if (hidden || !got.length) {
      this.probe.style.display = "none";
      delete this.probe.dataset.drawn;
      return;
    }
    this.probe.style.display = "";
    const W = Math.max(320, this.plot.clientWidth || 600), Hh = 120;
    const ctx = sizeCanvas(this.probe, W, Hh);
    const th = (this.store.header && this.store.header.thresholds) || {};
    const box = { l: 58, t: 16, w: W - 58 - 96, h: Hh - 40 };
    const x0 = s.snaps[0].step, x1 = Math.max(s.snaps[s.snaps.length - 1].step, x0 + 1);
    const log = got[0][2];
    const f = (v) => (log ? (v > 0 ? Math.log10(v) : NaN) : v); // a zero ratio (no update) has no place on a log axis
    const line = (c) => polyline(ctx, c.steps, c.values, X, Y, f);
    // the update ratio of every other weight matrix too, faint: the per-layer picture at once
    const mates = log ? this.store.ofKind(s.kind).filter((o) => o.name !== s.name) : [];
    if (mates.length) this.store.wantDepth(s.kind, got[0][0], mates); // their whole series, if the page lacks them
    const others = mates.map((o) => this.store.scalar(got[0][0], o.name)).filter((c) => c && c.steps.length);
    let y0 = log ? Infinity : 0, y1 = log ? -Infinity : 1;
    if (log) {
      for (const c of [...got.map((g) => g[3]), ...others]) for (const v of c.values) if (v > 0) { y0 = Math.min(y0, f(v)); y1 = Math.max(y1, f(v)); }
      for (const t of th.update_ratio || []) { y0 = Math.min(y0, f(t)); y1 = Math.max(y1, f(t)); }
      if (!Number.isFinite(y0)) [y0, y1] = [-4, -2]; // nothing positive to place: the band's neighbourhood
      y0 = Math.floor(y0 - 0.2); y1 = Math.ceil(y1 + 0.2);
    }
    const yTicks = log ? niceTicks(y0, y1, 4).filter(Number.isInteger).map((v) => [v, "1e" + v]) : [[0, "0"], [0.5, "50%"], [1, "100%"]];
    const { X, Y } = axes(ctx, box, x0, x1, y0, y1, { yTicks, xTicks: niceTicks(x0, x1, 6).map((v) => [v, fmt(v)]) });
    // the rule's band or threshold
    ctx.fillStyle = THEME.dark ? "rgba(255,255,255,0.07)" : "rgba(0,0,0,0.05)";
    if (log && th.update_ratio) {
      const [lo, hi] = th.update_ratio.map(f);
      ctx.fillRect(box.l, Y(hi), box.w, Y(lo) - Y(hi));
    }
    const drawn = { kind: s.kind, name: s.name, step: snap.step, metrics: {}, others: others.length };
    ctx.strokeStyle = THEME.faint;
    ctx.lineWidth = 1;
    for (const c of others) line(c);
    const colors = THEME.dark ? ["#f4a261", "#b39ddb"] : ["#c2410c", "#6a4c93"]; // lines and their legends: text too
    let legendX = box.l + 4;
    got.forEach(([m, label, , c], k) => {
      if (!log && th[m] !== undefined) {
        ctx.strokeStyle = THEME.fg2;
        ctx.setLineDash([4, 3]);
        ctx.beginPath();
        ctx.moveTo(box.l, Y(th[m]));
        ctx.lineTo(box.l + box.w, Y(th[m]));
        ctx.stroke();
        ctx.setLineDash([]);
      }
      ctx.strokeStyle = ctx.fillStyle = colors[k % colors.length];
      ctx.lineWidth = 1.5;
      line(c);
      for (let i = 0; i < c.steps.length; i++) if (Number.isFinite(f(c.values[i]))) ctx.fillRect(X(c.steps[i]) - 1.5, Y(f(c.values[i])) - 1.5, 3, 3);
      ctx.textAlign = "left";
      ctx.textBaseline = "alphabetic";
      ctx.fillText("— " + label, legendX, 11);
      legendX += ctx.measureText("— " + label).width + 16;
      drawn.metrics[m] = { steps: c.steps.slice(), values: c.values.slice() };
    });
    ctx.strokeStyle = THEME.fg;
    ctx.beginPath();
    ctx.moveTo(X(snap.step), box.t);
    ctx.lineTo(X(snap.step), box.t + box.h);
    ctx.stroke();
    this.probe.dataset.drawn = JSON.stringify(drawn);
  },

  /** The tensor's sizes over steps on a log axis (NORMS: a weight's update norm and
   * distance from init; a gradient's model's global gradient norm), with a mark at the
   * selected step; hidden when it has none. */
  drawNorms(s, snap, hidden) {
    const models = (this.store.header && this.store.header.models) || {};
    const got = (NORMS[s.kind] || [])
      .map(([m, label, by]) => [m, label, by === "model" ? models[s.name] : s.name])
      .map(([m, label, of]) => [m, label, of, of === undefined ? null : this.store.scalar(m, of)])
      .filter((p) => p[3] && p[3].steps.length);
    if (hidden || !got.length) {
      this.norms.style.display = "none";
      delete this.norms.dataset.drawn;
      return;
    }
    this.norms.style.display = "";
    const W = Math.max(320, this.plot.clientWidth || 600), Hh = 120;
    const ctx = sizeCanvas(this.norms, W, Hh);
    const box = { l: 58, t: 16, w: W - 58 - 96, h: Hh - 40 };
    const x0 = Math.min(s.snaps[0].step, ...got.map((g) => g[3].steps[0]));
    const x1 = Math.max(s.snaps[s.snaps.length - 1].step, ...got.map((g) => g[3].steps[g[3].steps.length - 1]), x0 + 1);
    const f = (v) => (v > 0 ? Math.log10(v) : NaN); // a zero (step 0's distance, no update) has no place on a log axis
    let y0 = Infinity, y1 = -Infinity;
    for (const g of got) for (const v of g[3].values) if (v > 0 && Number.isFinite(v)) { y0 = Math.min(y0, f(v)); y1 = Math.max(y1, f(v)); }
    if (!Number.isFinite(y0)) [y0, y1] = [-3, 0];
    y0 = Math.floor(y0 - 0.1); y1 = Math.max(Math.ceil(y1 + 0.1), y0 + 1);
    const yTicks = niceTicks(y0, y1, 4).filter(Number.isInteger).map((v) => [v, "1e" + v]);
    const { X, Y } = axes(ctx, box, x0, x1, y0, y1, { yTicks, xTicks: niceTicks(x0, x1, 6).map((v) => [v, fmt(v)]) });
    const drawn = { kind: s.kind, name: s.name, step: snap.step, metrics: {} };
    const colors = THEME.dark ? (s.kind === "grads" ? ["#8ecae6"] : ["#5fd3c3", "#b39ddb"]) : s.kind === "grads" ? ["#2f5f80"] : ["#1d6f65", "#6a4c93"];
    let legendX = box.l + 4;
    got.forEach(([m, label, of, c], k) => {
      ctx.strokeStyle = ctx.fillStyle = colors[k % colors.length];
      ctx.lineWidth = 1.5;
      polyline(ctx, c.steps, c.values, X, Y, f);
      for (let i = 0; i < c.steps.length; i++) if (Number.isFinite(f(c.values[i]))) ctx.fillRect(X(c.steps[i]) - 1.5, Y(f(c.values[i])) - 1.5, 3, 3);
      const at = c.steps.indexOf(snap.step);
      const text = "— " + label + (of !== s.name ? ` (${of})` : "") + (at >= 0 ? `: ${fmt(c.values[at])}` : "");
      ctx.textAlign = "left";
      ctx.textBaseline = "alphabetic";
      ctx.fillText(text, legendX, 11);
      legendX += ctx.measureText(text).width + 16;
      drawn.metrics[m] = { of, steps: c.steps.slice(), values: c.values.slice() };
    });
    ctx.strokeStyle = THEME.fg;
    ctx.lineWidth = 1;
    ctx.beginPath();
    ctx.moveTo(X(snap.step), box.t);
    ctx.lineTo(X(snap.step), box.t + box.h);
    ctx.stroke();
    this.norms.dataset.drawn = JSON.stringify(drawn);
  },
};
