// What answers the pointer over a drawing: the tip, the hovered cell's frame (on a canvas
// over the drawing, so a hover never redraws a heatmap), a click's mark; and the kept
// steps under the slider.

import { THEME, sizeCanvas } from "../draw.js";

// Methods of View (view.js mixes them in): `this` is the dashboard's view.
export const hoverMethods = {
  hover(e) {
    if (!this.hit) return;
    const r = this.canvas.getBoundingClientRect();
    const mx = e.clientX - r.left, my = e.clientY - r.top;
    const got = this.hit(mx, my);
    if (!got) {
      this.tip.style.display = "none";
      this.markHover(null);
      return;
    }
    this.tip.textContent = got.text;
    this.tip.style.display = "block";
    this.tip.style.left = Math.max(0, Math.min(mx + 12, r.width - 260)) + "px";
    this.tip.style.top = my + 12 + "px";
    this.canvas.style.cursor = this.pick ? "pointer" : "";
    this.markHover(got);
    if (got.bin !== undefined && got.bin !== this.hoverAt && this.model.get("view") === "step") {
      this.hoverAt = got.bin;
      this.draw();
    }
  },

  /** Frame the cell `got.rect` ([x, y, w, h] on the canvas) and write `got.label` ({text,
   * x, y}: a row's name where not every row is labelled) on its own background; `clicked`:
   * a heavier frame that fades. null clears. */
  markHover(got, clicked = false) {
    const c = this.marks;
    if (!c) return;
    if (!got || !got.rect) {
      if (c.dataset.on) {
        c.getContext("2d").clearRect(0, 0, c.width, c.height);
        delete c.dataset.on;
        delete c.dataset.rect;
      }
      return;
    }
    const w = parseFloat(this.canvas.style.width) || this.canvas.clientWidth, h = parseFloat(this.canvas.style.height) || this.canvas.clientHeight;
    const ctx = sizeCanvas(c, w, h);
    const [x, y, rw, rh] = got.rect;
    ctx.fillStyle = THEME.dark ? "rgba(255,255,255,0.18)" : "rgba(0,0,0,0.12)";
    ctx.fillRect(x, y, rw, rh);
    ctx.lineWidth = clicked ? 3 : 1.5;
    ctx.strokeStyle = THEME.bg;
    ctx.strokeRect(x - 1.5, y - 1.5, rw + 3, rh + 3);
    ctx.strokeStyle = THEME.sel;
    ctx.strokeRect(x - 0.5, y - 0.5, rw + 1, rh + 1);
    if (got.label) {
      ctx.font = "bold 10px sans-serif";
      const tw = ctx.measureText(got.label.text).width;
      const lx = got.label.x, ly = got.label.y;
      ctx.fillStyle = THEME.bg;
      ctx.fillRect(lx - tw - 4, ly - 7, tw + 6, 14);
      ctx.fillStyle = THEME.fg;
      ctx.textAlign = "right";
      ctx.textBaseline = "middle";
      ctx.fillText(got.label.text, lx, ly);
    }
    c.dataset.on = clicked ? "click" : "hover";
    c.dataset.rect = JSON.stringify(got.rect.map((v) => +v.toFixed(1)));
    if (clicked) setTimeout(() => c.dataset.on === "click" && this.markHover(null), 700);
  },

  /** The kept snapshots' steps as ticks on the step axis under the slider: where a saved
   * copy thinned the run, the gaps between them show (and the recorded range around). */
  drawKept(s, i) {
    const c = this.kept;
    const n = s.snaps.length;
    const thinned = s.recorded > n;
    const w = Math.max(40, this.slider.clientWidth || 200), h = 8;
    const ctx = sizeCanvas(c, w, h);
    const x0 = s.snaps[0].step, x1 = Math.max(s.snaps[n - 1].step, x0 + 1);
    const pad = 8; // a range input's thumb travels inside its box
    const X = (st) => pad + ((st - x0) / (x1 - x0)) * (w - 2 * pad);
    if (thinned) {
      ctx.fillStyle = THEME.dark ? "rgba(255,255,255,0.12)" : "rgba(0,0,0,0.08)";
      ctx.fillRect(pad, 2, w - 2 * pad, h - 3); // the recorded range; kept steps drawn over it
    }
    ctx.fillStyle = THEME.fg2;
    for (const p of s.snaps) ctx.fillRect(Math.round(X(p.step)) - 0.5, thinned ? 1 : 3, 1, thinned ? h - 1 : h - 3);
    ctx.fillStyle = THEME.sel;
    ctx.fillRect(Math.round(X(s.snaps[i].step)) - 1, 0, 3, h);
    c.dataset.steps = JSON.stringify(s.snaps.map((p) => p.step));
    c.dataset.thinned = thinned ? "1" : "0";
    c.title = thinned ? `the ${n} steps this saved copy keeps of the ${s.recorded} recorded, on the step axis: the gaps were thinned out to fit the notebook` : `the ${n} kept steps on the step axis`;
  },
};
