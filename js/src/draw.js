// Drawing helpers: the colour scale, DOM elements, severity marks, canvases and axes.

import { TITLES } from "./constants.js";
import { fmt, niceTicks } from "./numbers.js";

/** Colours of what the canvases draw besides the data: text, axes, marks. theme.js fills
 * it from the page's theme before each draw (these are the light theme's). */
export const THEME = { dark: false, bg: "#fff", fg: "#1b1b1b", fg2: "#595959", axis: "#9e9e9e", error: "#b3261e", warn: "#8a4b00", sel: "#0277bd",
  faint: "#c8c8c8", missing: "#ececec", unmeasured: "#c4c4c4", label: "rgba(255,255,255,0.88)", rampLo: 0.15, rampHi: 0.85 };

export const RAMP = [[0, 0, 4], [59, 15, 112], [140, 41, 129], [222, 73, 104], [254, 159, 109], [252, 253, 191]];

/** The colour scale at t in [0, 1], as [r, g, b]. */
export function rampRGB(t) {
  t = Math.min(1, Math.max(0, t)) * (RAMP.length - 1);
  const i = Math.min(RAMP.length - 2, Math.floor(t)), f = t - i;
  return RAMP[i].map((v, k) => Math.round(v + f * (RAMP[i + 1][k] - v)));
}

export const RAMP_CSS = Array.from({ length: 1024 }, (_, k) => `rgb(${rampRGB(k / 1023).join(",")})`);

/** The colour scale at t in [0, 1] as a CSS colour (1024 steps, made once: a heatmap
 * asks for one per cell). */
export function ramp(t) {
  return RAMP_CSS[Math.round(Math.min(1, Math.max(0, t || 0)) * 1023)];
}

/** The tensors a finding covers (a grouped finding lists them all; the first is ``name``). */
export function covered(f) {
  return f.tensors && f.tensors.length ? f.tensors : f.name ? [f.name] : [];
}

export function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

/** A severity mark drawn by CSS (a red octagon for an error, an amber triangle for a
 * warning, each with a "!"): no emoji font needed. `n` > 1 is written beside it. */
export function mark(severity, n = 1) {
  const error = severity === "error";
  const m = el("span", "tfh-mark " + (error ? "tfh-mark-error" : "tfh-mark-warning"));
  m.append(el("span", "tfh-mark-sign", "!"));
  if (n > 1) m.append(el("span", "tfh-mark-n", String(n)));
  m.setAttribute("role", "img");
  m.setAttribute("aria-label", error ? "error" : "warning");
  return m;
}

/** A canvas sized to its box, drawn at the device pixel ratio. */
export function sizeCanvas(canvas, width, height) {
  const dpr = window.devicePixelRatio || 1;
  canvas.style.width = width + "px";
  canvas.style.height = height + "px";
  canvas.width = Math.round(width * dpr);
  canvas.height = Math.round(height * dpr);
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, width, height);
  ctx.font = "11px sans-serif";
  return ctx;
}

/** Axes in a box: returns the mapping and draws ticks (x ticks may be given as [value, label]). */
export function axes(ctx, box, x0, x1, y0, y1, { xTicks, yTicks, yLabel, xLabel } = {}) {
  const { l, t, w, h } = box;
  const X = (v) => l + ((v - x0) / (x1 - x0 || 1)) * w;
  const Y = (v) => t + h - ((v - y0) / (y1 - y0 || 1)) * h;
  ctx.strokeStyle = THEME.axis;
  ctx.lineWidth = 1;
  ctx.beginPath();
  ctx.moveTo(l, t);
  ctx.lineTo(l, t + h);
  ctx.lineTo(l + w, t + h);
  ctx.stroke();
  ctx.fillStyle = THEME.fg;
  ctx.textAlign = "center";
  ctx.textBaseline = "top";
  const xs = xTicks || niceTicks(x0, x1, Math.max(3, Math.floor(w / 70))).map((v) => [v, fmt(v)]);
  let lastRight = -Infinity;
  for (const [v, label] of xs) {
    const x = X(v);
    if (x < l - 1 || x > l + w + 1) continue;
    const half = ctx.measureText(label).width / 2;
    ctx.fillRect(x, t + h, 1, 4);
    if (x - half > lastRight + 4) {
      ctx.fillText(label, x, t + h + 5);
      lastRight = x + half;
    }
  }
  ctx.textAlign = "right";
  ctx.textBaseline = "middle";
  for (const [v, label] of yTicks || niceTicks(y0, y1, Math.max(2, Math.floor(h / 40))).map((v) => [v, fmt(v)])) {
    const y = Y(v);
    if (y < t - 1 || y > t + h + 1) continue;
    ctx.fillRect(l - 4, y, 4, 1);
    ctx.fillText(label, l - 6, y);
  }
  if (yLabel) {
    ctx.save();
    ctx.translate(10, t + h / 2);
    ctx.rotate(-Math.PI / 2);
    ctx.textAlign = "center";
    ctx.fillText(yLabel, 0, 0);
    ctx.restore();
  }
  if (xLabel) {
    ctx.textAlign = "right";
    ctx.textBaseline = "top";
    ctx.fillText(xLabel, l + w, t + h + 18);
  }
  return { X, Y };
}

export function searchEdges(edges, v) {
  // bin i with edges[i] <= v < edges[i+1] (last bin closed), or -1
  const B = edges.length - 1;
  if (!(v >= edges[0] && v <= edges[B])) return -1;
  let lo = 0, hi = B;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (edges[mid] <= v) lo = mid; else hi = mid;
  }
  return lo;
}

/** A line through (X(step), Y(f(value))), broken where f(value) is not finite. */
export function polyline(ctx, steps, values, X, Y, f = (v) => v) {
  ctx.beginPath();
  let on = false;
  steps.forEach((st, i) => {
    const y = f(values[i]);
    if (!Number.isFinite(y)) return void (on = false);
    on ? ctx.lineTo(X(st), Y(y)) : ctx.moveTo(X(st), Y(y));
    on = true;
  });
  ctx.stroke();
}

/** The colour ramp as a vertical bar at x, over the plot box's height (top: 1, bottom: 0). */
export function colorBar(ctx, x, box, w = 12) {
  for (let k = 0; k < box.h; k++) {
    ctx.fillStyle = ramp(1 - k / box.h);
    ctx.fillRect(x, box.t + k, w, 1.5);
  }
}

/** A bar of view buttons ([view, label] pairs); ``pick(view)`` on a click. Returns the bar
 *  and the buttons by view. */
export function viewBar(views, pick) {
  const bar = el("div", "tfh-bar");
  const buttons = {};
  for (const [v, label] of views) {
    const b = el("button", "tfh-view", label);
    b.dataset.view = v;
    b.addEventListener("click", () => pick(v));
    buttons[v] = b;
    bar.append(b);
  }
  return { bar, buttons };
}

/** The kinds' tabs in `box`, `kind` on; ``pick(kind)`` on a click. Rebuilt only when the
 * kinds or the kind differ from what `was` (the key it returned last) says. Returns the key. */
export function showTabs(box, kinds, kind, was, pick) {
  const key = kinds.join(",") + "|" + kind;
  if (key === was) return key;
  box.replaceChildren(...kinds.map((k) => {
    const b = el("button", "tfh-tab" + (k === kind ? " tfh-on" : ""), TITLES[k]);
    b.dataset.kind = k;
    b.addEventListener("click", () => pick(k));
    return b;
  }));
  return key;
}
