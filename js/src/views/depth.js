// depth x step: one statistic of every tensor of a kind at every kept step.

import { DEPTH } from "../constants.js";
import { axes, colorBar, rampRGB, sizeCanvas } from "../draw.js";
import { fmt } from "../numbers.js";

// Methods of View (view.js mixes them in): `this` is the dashboard's view.
export const depthMethods = {
  /** Depth × step: one statistic per tensor of the kind (rows, in model order) at each
   * kept step (columns), as colour: the gradient-flow picture at a glance. A click opens
   * that tensor at that step. */
  drawDepth(W, cur, snap, drawn) {
    const kind = cur.kind;
    const [metric, label, scale] = (DEPTH[kind] || []).find(([m]) => m === this.opts.depth[kind]) || DEPTH[kind][0];
    const q = this.filter.value.trim().toLowerCase();
    const list = this.store.ofKind(kind).filter((s) => !q || s.name.toLowerCase().includes(q));
    const waiting = this.store.wantDepth(kind, metric, list) || this.store.asked.has(`depth\t${kind}\t${metric}`);
    const tracks = list.map((s) => this.store.depthTrack(s, metric));
    const all = new Set();
    for (const t of tracks) if (t) for (const st of t.steps) all.add(st);
    const steps = [...all].sort((a, b) => a - b);
    const log = scale === "log";
    const f = (v) => (log ? (v > 0 ? Math.log10(v) : NaN) : v);
    let lo = Infinity, hi = -Infinity;
    for (const t of tracks) if (t) for (const v of t.values) { const y = f(v); if (Number.isFinite(y)) (lo = Math.min(lo, y)), (hi = Math.max(hi, y)); }
    if (!log) [lo, hi] = [0, Math.max(1e-9, Number.isFinite(hi) ? Math.max(hi, 1) : 1)];
    if (!Number.isFinite(lo)) [lo, hi] = [0, 1];
    if (hi <= lo) hi = lo + 1;
    const rows = list.length;
    const rowH = Math.max(1, Math.min(14, 560 / Math.max(1, rows)));
    const L = 190, box = { l: L, t: 8, w: Math.max(60, W - L - 78), h: rows * rowH };
    const Hh = box.t + box.h + 40;
    const ctx = sizeCanvas(this.canvas, W, Hh);
    const x0 = steps.length ? steps[0] : 0;
    const last = steps.length ? steps[steps.length - 1] : 0;
    const x1 = steps.length > 1 ? last + (last - steps[steps.length - 2]) : last + 1;
    const { X } = axes(ctx, { ...box, h: box.h }, x0, x1, 0, 1, { yTicks: [], xLabel: "step" });
    // the picture: one pixel column per CSS pixel, one row per tensor, scaled up unsmoothed
    const pw = Math.max(1, Math.round(box.w));
    const off = document.createElement("canvas");
    off.width = pw;
    off.height = Math.max(1, rows);
    const octx = off.getContext("2d");
    const img = octx.createImageData(pw, Math.max(1, rows));
    const lut = Array.from({ length: 256 }, (_, k) => rampRGB(k / 255));
    const px = (st) => ((st - x0) / (x1 - x0 || 1)) * pw;
    tracks.forEach((t, r) => {
      const base = r * pw * 4;
      for (let x = 0; x < pw; x++) img.data.set([246, 246, 246, 255], base + 4 * x); // nothing measured
      if (!t) return;
      for (let j = 0; j < t.steps.length; j++) {
        const xa = Math.max(0, Math.floor(px(t.steps[j])));
        const xb = Math.min(pw, Math.max(xa + 1, Math.ceil(px(j + 1 < t.steps.length ? t.steps[j + 1] : x1))));
        const y = f(t.values[j]);
        const c = Number.isFinite(y) ? lut[Math.max(0, Math.min(255, Math.round((255 * (y - lo)) / (hi - lo))))] : [205, 205, 205];
        for (let x = xa; x < xb; x++) img.data.set([c[0], c[1], c[2], 255], base + 4 * x);
      }
    });
    octx.putImageData(img, 0, 0);
    ctx.imageSmoothingEnabled = false;
    if (rows) ctx.drawImage(off, box.l, box.t, box.w, box.h);
    // names: every row when they fit, else every k-th; the selected tensor's always
    ctx.fillStyle = "#444";
    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    ctx.font = "10px sans-serif";
    const every = Math.max(1, Math.ceil(11 / rowH));
    const clip = (n) => (n.length > 30 ? "…" + n.slice(-29) : n);
    list.forEach((s, r) => {
      if (r % every === 0 && s !== cur) ctx.fillText(clip(s.name), box.l - 4, box.t + (r + 0.5) * rowH);
    });
    const at = list.indexOf(cur);
    if (at >= 0) {
      ctx.fillStyle = "#fff";
      ctx.fillRect(0, box.t + (at + 0.5) * rowH - 6, box.l - 2, 12);
      ctx.fillStyle = "#0a5";
      ctx.font = "bold 10px sans-serif";
      ctx.fillText("▶ " + clip(cur.name), box.l - 4, box.t + (at + 0.5) * rowH);
      ctx.strokeStyle = "#0af";
      ctx.strokeRect(box.l, box.t + at * rowH, box.w, Math.max(1, rowH));
    }
    if (this.model.get("step") >= 0) { // the selected step
      ctx.strokeStyle = "#0af";
      ctx.beginPath();
      ctx.moveTo(X(snap.step), box.t);
      ctx.lineTo(X(snap.step), box.t + box.h);
      ctx.stroke();
    }
    // colour bar
    const cb = { x: box.l + box.w + 12, w: 12 };
    colorBar(ctx, cb.x, box, cb.w);
    ctx.fillStyle = "#444";
    ctx.font = "10px sans-serif";
    ctx.textAlign = "left";
    const tickOf = (y) => (log ? fmt(Math.pow(10, y)) : fmt(y));
    ctx.textBaseline = "top";
    ctx.fillText(tickOf(hi), cb.x + cb.w + 2, box.t);
    ctx.textBaseline = "bottom";
    ctx.fillText(tickOf(lo), cb.x + cb.w + 2, box.t + box.h);
    const incomplete = tracks.filter((t) => t && !t.complete).length;
    this.legend.textContent = `${label} of each ${kind === "activations" ? "layer output" : "tensor"} (rows, model order) at each kept step (columns)` +
      (log ? ", log colour scale" : "") + "; grey: not measured. Click a cell to open that tensor at that step." +
      (incomplete ? ` ${incomplete} rows hold only the steps this page has seen; ` + (waiting ? "the rest is on its way from the kernel (it answers when idle)." : "the kernel did not send the rest.") : "");
    const rowAt = (my) => Math.floor((my - box.t) / rowH);
    const cell = (mx, my) => {
      const r = rowAt(my);
      if (r < 0 || r >= rows || mx < box.l || mx > box.l + box.w || !tracks[r]) return null;
      const t = tracks[r], xv = x0 + ((mx - box.l) / box.w) * (x1 - x0);
      let j = -1;
      for (let k = 0; k < t.steps.length; k++) if (t.steps[k] <= xv) j = k;
      return j < 0 ? null : { s: list[r], step: t.steps[j], value: t.values[j] };
    };
    this.hit = (mx, my) => {
      const c = cell(mx, my);
      return c && { text: `${c.s.name} · step ${c.step}: ${label} ${fmt(c.value)}` };
    };
    this.pick = (mx, my) => {
      const c = cell(mx, my);
      return c && { name: c.s.name, step: c.step };
    };
    Object.assign(drawn, { metric, rows, cols: steps.length, names: list.map((s) => s.name), steps, range: log ? [Math.pow(10, lo), Math.pow(10, hi)] : [lo, hi], complete: !incomplete });
  },
};
