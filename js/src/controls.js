// The dashboard's controls: the tabs, picker, view buttons, options, slider (built once),
// the grid's and depth view's own options, and the keys typed anywhere in the dashboard.

import { DEPTH, VIEWS } from "./constants.js";
import { el, viewBar } from "./draw.js";
import { GRID_SORTS } from "./tiles.js";

/** A checkbox for option `key` of `opts`; `changed()` after each change. */
function check(opts, key, label, changed) {
  const l = el("label");
  const c = el("input");
  c.type = "checkbox";
  c.checked = opts[key];
  c.dataset.opt = key;
  c.addEventListener("change", () => {
    opts[key] = c.checked;
    changed();
  });
  l.append(c, " " + label);
  return l;
}

/** A select of `choices` ([value, label]) for option `key` of `opts`; `changed()` after each change. */
function choose(opts, key, choices, title, changed) {
  const s = el("select");
  s.title = title;
  s.dataset.opt = key;
  for (const [v, label] of choices) {
    const o = el("option", "", label);
    o.value = v;
    s.append(o);
  }
  s.value = opts[key];
  s.addEventListener("change", () => {
    opts[key] = s.value;
    changed();
  });
  return s;
}

/** The top row (tabs, status) and the picker's side: {top, tabs, status, side, filter, list}. */
function buildTop(on) {
  const ui = { top: el("div", "tfh-top"), tabs: el("div", "tfh-tabs"), status: el("span", "tfh-status") }; // the status: one line; the whole of it on hover
  ui.top.append(ui.tabs, ui.status);
  // picker: a tree of groups (model, layer/block), each collapsible; arrows move, Enter toggles
  ui.side = el("div", "tfh-side");
  ui.filter = el("input", "tfh-filter");
  ui.filter.placeholder = "filter tensors";
  ui.filter.addEventListener("input", on.filtered);
  ui.list = el("div", "tfh-list");
  ui.list.tabIndex = 0;
  ui.list.setAttribute("role", "tree");
  // keys typed here are the picker's, not the notebook's shortcuts (JupyterLab's Lumino honours this)
  ui.list.dataset.lmSuppressShortcuts = ui.filter.dataset.lmSuppressShortcuts = "true";
  ui.side.append(ui.filter, ui.list);
  return ui;
}

/** The plot and what sits on it: {plot, canvas, marks, grid, loading, tip, legend}. */
function buildPlot() {
  const ui = { title: el("div", "tfh-title"), loading: el("div", "tfh-loading"), plot: el("div", "tfh-plot") };
  ui.plot.tabIndex = 0; // focus the plot to step through snapshots with the arrow keys
  ui.plot.title = "←/→: previous/next snapshot, Home/End: first/last";
  ui.canvas = el("canvas", "tfh-canvas");
  ui.tip = el("div", "tfh-tip");
  ui.grid = el("div", "tfh-grid");
  ui.legend = el("div", "tfh-legend");
  ui.marks = el("canvas", "tfh-marks"); // the hovered cell's frame, over the drawing
  ui.plot.append(ui.canvas, ui.marks, ui.grid, ui.loading, ui.tip);
  return ui;
}

/** The slider row and what sits under the plot: {below, slide, slider, kept, at, followBox,
 * pin, stats, probe, norms}. */
function buildBelow(on) {
  const ui = { slide: el("div", "tfh-slide"), slider: el("input", "tfh-slider"), at: el("span", "tfh-at") };
  ui.slider.type = "range";
  ui.slider.min = 0;
  ui.slider.addEventListener("input", () => on.slid(+ui.slider.value));
  const fl = el("label", "tfh-follow");
  ui.followBox = el("input");
  ui.followBox.type = "checkbox";
  ui.followBox.checked = true;
  ui.followBox.addEventListener("change", () => on.follow(ui.followBox.checked));
  fl.append(ui.followBox, " follow latest");
  ui.pin = el("button", "tfh-pin", "pin step");
  ui.pin.title = "add this step to the overlay view";
  ui.pin.addEventListener("click", on.pin);
  ui.kept = el("canvas", "tfh-kept"); // the kept steps on the step axis: a saved copy's gaps show
  const slideBox = el("div", "tfh-slidebox");
  slideBox.append(ui.slider, ui.kept);
  ui.slide.append(slideBox, ui.at, fl, ui.pin);
  ui.stats = el("div", "tfh-stats");
  ui.probe = el("canvas", "tfh-probe");
  ui.norms = el("canvas", "tfh-norms");
  ui.below = el("div", "tfh-below"); // what only the views of one tensor have: kept as space in the others
  ui.below.append(ui.slide, ui.stats, ui.probe, ui.norms);
  return ui;
}

/** The dashboard's elements in `root`, wired to `on`: `set(changes)` (the model's state),
 * `changed()` (an option changed), `filtered()`, `slid(i)`, `follow(checked)`, `pin()`.
 * Returns them by name. */
export function buildControls(root, opts, on) {
  const ui = { empty: el("div", "tfh-empty", "Waiting for the first snapshot…"), body: el("div", "tfh-body"), main: el("div", "tfh-main"), ...buildTop(on), ...buildPlot(), ...buildBelow(on) };
  ({ bar: ui.bar, buttons: ui.viewButtons } = viewBar(VIEWS, (view) => on.set({ view })));
  ui.options = el("span", "tfh-options");
  ui.options.append(
    check(opts, "log", "log counts", on.changed),
    check(opts, "logColor", "log colour", on.changed),
    choose(opts, "range", [["auto", "range: auto"], ["all", "range: all steps"], ["this", "range: this step"]], "value range: auto frames the selected step in the step and overlay views, all steps in the time views", on.changed),
    choose(opts, "x", [["step", "time: step"], ["epoch", "time: epoch"], ["wall", "time: wall clock"]], "time axis", on.changed),
  );
  ui.viewOpts = el("span", "tfh-options tfh-view-options"); // what only the grid or depth view has
  // the options on a row of their own, one line whatever the view: the rows above and
  // below never move when the view changes
  ui.optRow = el("div", "tfh-optrow");
  ui.optRow.append(ui.options, ui.viewOpts);
  ui.main.append(ui.bar, ui.optRow, ui.title, ui.plot, ui.legend, ui.below);
  ui.findings = el("div", "tfh-findings");
  ui.body.append(ui.side, ui.main, ui.findings);
  root.append(ui.empty, ui.top, ui.body);
  return ui;
}

/** The grid's sort and filter, or the depth view's statistic, for `kind`: the elements
 * of the view's own options; `changed()` after each change. */
export function viewOptions(view, kind, opts, changed) {
  if (view === "grid") {
    const sorts = GRID_SORTS.filter(([, , kinds]) => !kinds || kinds.includes(kind));
    if (!sorts.some(([k]) => k === opts.gridSort)) opts.gridSort = "order";
    const s = choose(opts, "gridSort", sorts.map(([k, label]) => [k, "sort: " + label]), "the order of the tiles: the most unusual first", changed);
    const u = check(opts, "gridUnusual", "unusual only", changed);
    u.title = "only the tiles whose statistic is past the findings' thresholds (NaN/Inf, update ratio outside its band, norm changed more than 10×, dead share)";
    return [s, u, check(opts, "gridHeat", "heatmaps", changed)];
  }
  if (view !== "depth") return [];
  const choices = DEPTH[kind] || [];
  if (!choices.some(([m]) => m === opts.depth[kind])) opts.depth[kind] = choices[0] && choices[0][0];
  const s = choose(opts.depth, kind, choices, "the statistic drawn for each tensor at each step", changed);
  s.dataset.opt = "depth";
  const all = check(opts, "depthAll", "every name (scroll)", changed);
  all.title = "a line per tensor, every one named; the picture scrolls";
  return [s, all];
}

/** Keys typed anywhere in the dashboard `root` (the picker has its own): on the step
 * slider or the plot, ←/↓ and →/↑ step through the snapshots (`stepBy`), PageUp/PageDown
 * ten at a time, Home/End to the first and last; on a tab or view button, ←/→ go to the
 * next one; Esc gives the keyboard back to the notebook. */
export function rootKey(e, root, ui, stepBy) {
  const t = e.target;
  if (e.key === "Escape") {
    if (t && t.blur) t.blur();
    const nb = root.closest(".jp-Notebook");
    if (nb) nb.focus();
    e.stopPropagation();
    return;
  }
  if (e.defaultPrevented || e.altKey || e.ctrlKey || e.metaKey) return;
  if (t === ui.filter || (t && (t.tagName === "SELECT" || t.type === "checkbox")) || ui.list.contains(t)) return;
  const group = t && t.closest && (t.closest(".tfh-tab") ? ui.tabs : t.closest(".tfh-view") ? ui.bar : null);
  if (group && (e.key === "ArrowLeft" || e.key === "ArrowRight")) {
    const buttons = [...group.querySelectorAll(group === ui.tabs ? ".tfh-tab" : ".tfh-view")];
    const i = buttons.indexOf(t.closest("button"));
    const next = buttons[(i + (e.key === "ArrowRight" ? 1 : -1) + buttons.length) % buttons.length];
    next.click();
    // the tabs are rebuilt on a new kind: focus the one now showing
    const again = group === ui.tabs ? ui.tabs.querySelector(`.tfh-tab[data-kind="${next.dataset.kind}"]`) : next;
    if (again) again.focus();
  } else {
    const by = { ArrowLeft: -1, ArrowDown: -1, ArrowRight: 1, ArrowUp: 1, PageDown: -10, PageUp: 10, Home: "first", End: "last" }[e.key];
    if (by === undefined || !(t === ui.slider || t === ui.plot || t === root || ui.plot.contains(t))) return;
    stepBy(by);
  }
  e.preventDefault();
  e.stopPropagation();
}
