// The views of one or a few snapshots: step (the exact bins) and overlay.

import { COLORS } from "../constants.js";
import { THEME, axes, ramp, searchEdges } from "../draw.js";
import { fmt, niceTicks, total, valueRange } from "../numbers.js";

// Methods of View (view.js mixes them in): `this` is the dashboard's view.
export const snapshotMethods = {
  xRange(s, snap) {
    const range = this.opts.range === "auto" ? (["step", "overlay"].includes(this.model.get("view")) ? "this" : "all") : this.opts.range;
    if (range === "this" && snap.finite > 0) return valueRange([snap]);
    return valueRange(s.snaps); // a snapshot of NaN/Inf only has no place on a value axis
  },

  yOf(c) {
    return this.opts.log ? Math.log10(1 + c) : c;
  },

  yTicks(max) {
    if (!this.opts.log) return niceTicks(0, max * 1.05, 5).filter(Number.isInteger).map((v) => [v, fmt(v)]); // counts
    const out = [];
    for (let p = 0; Math.pow(10, p) <= max * 10; p++) out.push([Math.log10(1 + Math.pow(10, p)), fmt(Math.pow(10, p))]);
    return [[0, "0"], ...out];
  },

  drawStep(ctx, W, Hh, s, snap, drawn) {
    const box = { l: 58, t: 10, w: W - 58 - 96, h: Hh - 40 };
    const [x0, x1] = this.xRange(s, snap);
    const bad = [["nan", "NaN"], ["posinf", "+Inf"], ["neginf", "−Inf"]];
    let ymax = 1;
    for (const c of snap.counts) ymax = Math.max(ymax, c);
    for (const [k] of bad) ymax = Math.max(ymax, snap[k]);
    const { X, Y } = axes(ctx, box, x0, x1, 0, this.yOf(ymax) * 1.05, { yTicks: this.yTicks(ymax), yLabel: this.opts.log ? "count (log)" : "count" });
    const B = snap.counts.length;
    const tot = total(snap);
    ctx.fillStyle = COLORS[s.kind];
    const bars = [];
    for (let b = 0; b < B; b++) {
      const c = snap.counts[b];
      const xa = X(snap.edges[b]), xb = X(snap.edges[b + 1]);
      bars.push([xa, xb]);
      if (c > 0) {
        const y = Y(this.yOf(c));
        ctx.fillRect(xa, y, Math.max(1, xb - xa), box.t + box.h - y);
      }
    }
    if (this.hoverAt != null && this.hoverAt < B) {
      ctx.fillStyle = THEME.dark ? "rgba(255,255,255,0.3)" : "rgba(0,0,0,0.25)";
      const [xa, xb] = bars[this.hoverAt];
      ctx.fillRect(xa, box.t, Math.max(1, xb - xa), box.h);
    }
    // NaN / +Inf / −Inf as their own marked counts, beside the axis
    const slot = 26, gx = box.l + box.w + 14;
    ctx.strokeStyle = THEME.faint;
    ctx.beginPath();
    ctx.moveTo(gx - 6, box.t);
    ctx.lineTo(gx - 6, box.t + box.h);
    ctx.stroke();
    ctx.textAlign = "center";
    ctx.textBaseline = "top";
    bad.forEach(([k, label], j) => {
      const x = gx + j * slot;
      const c = snap[k];
      ctx.fillStyle = c > 0 ? THEME.error : THEME.fg2;
      if (c > 0) {
        const y = Y(this.yOf(c));
        ctx.fillRect(x, y, slot - 6, box.t + box.h - y);
        ctx.textBaseline = "bottom";
        ctx.fillText(fmt(c), x + (slot - 6) / 2, y - 1);
        ctx.textBaseline = "top";
      }
      ctx.fillText(label, x + (slot - 6) / 2, box.t + box.h + 5);
    });
    this.hit = (mx, my) => {
      const j = Math.floor((mx - gx) / slot);
      if (mx >= gx && j >= 0 && j < 3) {
        const [k, label] = bad[j];
        return { text: `${label}: ${snap[k]} values`, bin: B + j };
      }
      const v = x0 + ((mx - box.l) / box.w) * (x1 - x0);
      const b = searchEdges(snap.edges, v);
      if (b < 0) return null;
      const c = snap.counts[b];
      return { text: `[${fmt(snap.edges[b])}, ${fmt(snap.edges[b + 1])}${b === B - 1 ? "]" : ")"}  count ${c}  (${tot ? ((100 * c) / tot).toFixed(2) : 0}% of finite)`, bin: b };
    };
    Object.assign(drawn, { counts: Array.from(snap.counts), edges: Array.from(snap.edges), nan: snap.nan, posinf: snap.posinf, neginf: snap.neginf, range: [x0, x1] });
  },

  drawOverlay(ctx, W, Hh, s, snap, drawn) {
    const n = s.snaps.length;
    let steps = this.pins.length ? [...this.pins] : [s.snaps[0].step, s.snaps[Math.floor((n - 1) / 2)].step];
    if (!steps.includes(snap.step)) steps.push(snap.step);
    const chosen = [...new Set(steps)].map((st) => s.snaps.find((p) => p.step === st)).filter(Boolean).sort((a, b) => a.step - b.step);
    const box = { l: 58, t: 10, w: W - 58 - 120, h: Hh - 40 };
    let lo = Infinity, hi = -Infinity, ymax = 1;
    for (const p of chosen) {
      lo = Math.min(lo, p.edges[0]);
      hi = Math.max(hi, p.edges[p.edges.length - 1]);
      for (const c of p.counts) ymax = Math.max(ymax, c);
    }
    [lo, hi] = valueRange(this.opts.range === "this" && snap.finite > 0 ? [snap] : chosen); // auto: all chosen steps
    const { X, Y } = axes(ctx, box, lo, hi, 0, this.yOf(ymax) * 1.05, { yTicks: this.yTicks(ymax), yLabel: "count" });
    ctx.save();
    ctx.beginPath();
    ctx.rect(box.l, box.t - 2, box.w, box.h + 2);
    ctx.clip();
    chosen.forEach((p, j) => {
      ctx.strokeStyle = ramp(THEME.rampLo + ((THEME.rampHi - THEME.rampLo) * j) / Math.max(1, chosen.length - 1));
      ctx.lineWidth = p === snap ? 2 : 1.2;
      ctx.beginPath();
      ctx.moveTo(X(p.edges[0]), Y(0));
      for (let b = 0; b < p.counts.length; b++) {
        const y = Y(this.yOf(p.counts[b]));
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
      ctx.fillStyle = ramp(THEME.rampLo + ((THEME.rampHi - THEME.rampLo) * j) / Math.max(1, chosen.length - 1));
      ctx.fillRect(box.l + box.w + 12, y - 1, 14, 3);
      ctx.fillStyle = THEME.fg;
      ctx.fillText(`step ${p.step}` + (p.epoch >= 0 ? ` (ep ${p.epoch + 1})` : ""), box.l + box.w + 30, y);
    });
    this.legend.textContent = "Outlines of the chosen steps (first, middle and selected; 'pin step' adds the selected one).";
    Object.assign(drawn, { steps: chosen.map((p) => p.step) });
  },
};
