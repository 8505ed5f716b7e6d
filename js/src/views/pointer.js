// What answers the pointer over a drawing: the tip, the hovered cell's frame (on a canvas
// over the drawing, so a hover never redraws a heatmap), a click's mark; and the kept
// steps under the slider.

import { THEME, sizeCanvas } from "../draw.js";

/** The pointer over one plot canvas. Each drawing hands over what answers it (`use`):
 * `hit(mx, my)` -> {text, rect?, label?, bin?} or null, and `pick(mx, my)` (a click) ->
 * what to select, or null. `marks`: the canvas over the drawing for the hovered cell's
 * frame (none: no frames); `tipRoom`: the width the tip keeps from the right edge;
 * `onBin(bin)`: the step view's hovered bin (or null), when it changes. */
export class Pointer {
  constructor(canvas, tip, { marks = null, tipRoom = 260, onBin = null } = {}) {
    Object.assign(this, { canvas, tip, marks, tipRoom, onBin, hit: null, pick: null, bin: null });
    canvas.addEventListener("mousemove", (e) => this.move(e));
    canvas.addEventListener("mouseleave", () => {
      this.tip.style.display = "none";
      this.setBin(null);
      this.mark(null);
    });
  }

  /** What answers the pointer now (a drawing's hit and pick; null: nothing). */
  use(got) {
    this.hit = (got && got.hit) || null;
    this.pick = (got && got.pick) || null;
  }

  /** Where a pointer event is on the canvas. */
  at(e) {
    const r = this.canvas.getBoundingClientRect();
    return [e.clientX - r.left, e.clientY - r.top, r];
  }

  /** A click: what it picks (with its rect), or null. */
  picked(e) {
    const [mx, my] = this.at(e);
    return this.pick ? this.pick(mx, my) : null;
  }

  setBin(bin) {
    if (bin === this.bin) return;
    this.bin = bin;
    if (this.onBin) this.onBin(bin);
  }

  move(e) {
    if (!this.hit) return;
    const [mx, my, r] = this.at(e);
    const got = this.hit(mx, my);
    if (!got) {
      this.tip.style.display = "none";
      this.mark(null);
      return;
    }
    this.tip.textContent = got.text;
    this.tip.style.display = "block";
    this.tip.style.left = Math.max(0, Math.min(mx + 12, r.width - this.tipRoom)) + "px";
    this.tip.style.top = my + 12 + "px";
    this.canvas.style.cursor = this.pick ? "pointer" : "";
    this.mark(got);
    if (got.bin !== undefined) this.setBin(got.bin);
  }

  /** Frame the cell `got.rect` ([x, y, w, h] on the canvas) and write `got.label` ({text,
   * x, y}: a row's name where not every row is labelled) on its own background; `clicked`:
   * a heavier frame that fades. null clears. */
  mark(got, clicked = false) {
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
    if (clicked) setTimeout(() => c.dataset.on === "click" && this.mark(null), 700);
  }
}

/** The kept snapshots' steps of Series `s` as ticks on the step axis under the slider
 * (canvas `c`, `width` wide), snapshot `i` selected: where a saved copy thinned the run,
 * the gaps between them show (and the recorded range around). */
export function drawKept(c, width, s, i) {
  const n = s.snaps.length;
  const thinned = s.recorded > n;
  const w = Math.max(40, width || 200), h = 8;
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
}
