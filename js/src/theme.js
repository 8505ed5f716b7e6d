// The notebook's colours. dashboard.css resolves them (JupyterLab's --jp-*, VS Code's
// --vscode-*, Colab's --colab-*, else prefers-color-scheme) into --tfh-* on the root; the
// canvases read the same values here, so text drawn on them follows the theme too.

import { THEME } from "./draw.js";

/** [r, g, b, a] (0-255, a 0-1) of a CSS colour, through a canvas (any syntax it knows). */
export function rgbaOf(css) {
  const ctx = rgbaOf.ctx || (rgbaOf.ctx = document.createElement("canvas").getContext("2d"));
  ctx.fillStyle = "#000";
  ctx.fillStyle = css || "#000";
  const v = ctx.fillStyle;
  if (v[0] === "#") return [1, 3, 5].map((i) => parseInt(v.slice(i, i + 2), 16)).concat(1);
  const m = v.match(/[\d.]+/g) || [0, 0, 0, 1];
  return [+m[0], +m[1], +m[2], m[3] === undefined ? 1 : +m[3]];
}

/** A colour with alpha laid over an opaque background: [r, g, b]. */
export function over(top, under) {
  const a = top[3] === undefined ? 1 : top[3];
  return [0, 1, 2].map((k) => top[k] * a + under[k] * (1 - a));
}

/** WCAG relative luminance of [r, g, b] (0-255). */
export function luminance([r, g, b]) {
  const f = (c) => ((c /= 255) <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4));
  return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
}

/** WCAG contrast ratio of two opaque colours. */
export function contrast(a, b) {
  const [x, y] = [luminance(a), luminance(b)].sort((p, q) => q - p);
  return (x + 0.05) / (y + 0.05);
}

const LIGHT = { faint: "#c8c8c8", missing: "#ececec", unmeasured: "#c4c4c4", label: "rgba(255,255,255,0.88)", rampLo: 0.15, rampHi: 0.85 };
const DARK = { faint: "#5a5a5a", missing: "#2a2a2a", unmeasured: "#4a4a4a", label: "rgba(20,20,20,0.88)", rampLo: 0.35, rampHi: 0.97 };

/** The colours the root resolved (its --tfh-* properties), dark or light by the luminance
 * of its background; sets `root.dataset.theme` and the canvases' THEME. */
export function applyTheme(root) {
  const cs = getComputedStyle(root);
  const get = (k, d) => cs.getPropertyValue(k).trim() || d;
  const bg = over(rgbaOf(get("--tfh-bg", "#fff")), [255, 255, 255]);
  const dark = luminance(bg) < 0.3;
  root.dataset.theme = dark ? "dark" : "light";
  const cs2 = getComputedStyle(root); // after data-theme: the warning and error colours follow it
  const t = {
    dark,
    bg: `rgb(${bg.map(Math.round).join(",")})`,
    fg: get("--tfh-fg", dark ? "#e6e6e6" : "#1b1b1b"),
    fg2: get("--tfh-fg2", dark ? "#a8a8a8" : "#595959"),
    axis: get("--tfh-border", dark ? "#666" : "#9e9e9e"),
    error: cs2.getPropertyValue("--tfh-error").trim() || (dark ? "#ff8f85" : "#b3261e"),
    warn: cs2.getPropertyValue("--tfh-warn").trim() || (dark ? "#f0b35a" : "#8a4b00"),
    sel: dark ? "#4fc3f7" : "#0277bd",
    ...(dark ? DARK : LIGHT),
  };
  Object.assign(THEME, t);
  root.dataset.canvasColors = JSON.stringify({ bg: t.bg, fg: t.fg, fg2: t.fg2, error: t.error }); // what the canvases write text with
  return t;
}

/** Call `changed` when the page's theme may have changed: JupyterLab's theme setting
 * (body data-jp-theme-*), VS Code's (body class), Colab's (html attributes), the
 * system's light/dark. Returns a function that stops watching. */
export function watchTheme(changed) {
  const mo = new MutationObserver(changed);
  for (const node of [document.body, document.documentElement]) if (node) mo.observe(node, { attributes: true, attributeFilter: ["class", "data-jp-theme-light", "data-jp-theme-name", "theme", "style"] });
  const mq = window.matchMedia ? window.matchMedia("(prefers-color-scheme: dark)") : null;
  if (mq && mq.addEventListener) mq.addEventListener("change", changed);
  return () => {
    mo.disconnect();
    if (mq && mq.removeEventListener) mq.removeEventListener("change", changed);
  };
}
