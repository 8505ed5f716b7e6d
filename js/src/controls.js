// The dashboard's controls: the tabs, picker, view buttons, options, slider (built once), and its keys.

import { DEPTH, VIEWS } from "./constants.js";
import { el, viewBar } from "./draw.js";
import { GRID_SORTS } from "./tiles.js";

// Methods of View (view.js mixes them in): `this` is the dashboard's view.
export const controlsMethods = {
  build() {
    const r = this.root;
    this.empty = el("div", "tfh-empty", "Waiting for the first snapshot…");
    this.top = el("div", "tfh-top");
    this.tabs = el("div", "tfh-tabs");
    this.status = el("span", "tfh-status"); // one line; the whole of it on hover
    this.top.append(this.tabs, this.status);
    this.body = el("div", "tfh-body");
    // picker: a tree of groups (model, layer/block), each collapsible; arrows move, Enter toggles
    this.side = el("div", "tfh-side");
    this.filter = el("input", "tfh-filter");
    this.filter.placeholder = "filter tensors";
    this.filter.addEventListener("input", () => {
      this.buildList();
      this.draw();
    });
    this.list = el("div", "tfh-list");
    this.list.tabIndex = 0;
    this.list.setAttribute("role", "tree");
    this.list.addEventListener("keydown", (e) => this.onKey(e));
    // keys typed here are the picker's, not the notebook's shortcuts (JupyterLab's Lumino honours this)
    this.list.dataset.lmSuppressShortcuts = this.filter.dataset.lmSuppressShortcuts = "true";
    this.side.append(this.filter, this.list);
    // main
    this.main = el("div", "tfh-main");
    ({ bar: this.bar, buttons: this.viewButtons } = viewBar(VIEWS, (view) => this.set({ view })));
    this.options = el("span", "tfh-options");
    const check = (key, label) => {
      const l = el("label");
      const c = el("input");
      c.type = "checkbox";
      c.checked = this.opts[key];
      c.dataset.opt = key;
      c.addEventListener("change", () => {
        this.opts[key] = c.checked;
        this.saveOpts();
        this.draw();
      });
      l.append(c, " " + label);
      return l;
    };
    const choose = (key, choices, title) => {
      const s = el("select");
      s.title = title;
      s.dataset.opt = key;
      for (const [v, label] of choices) {
        const o = el("option", "", label);
        o.value = v;
        s.append(o);
      }
      s.value = this.opts[key];
      s.addEventListener("change", () => {
        this.opts[key] = s.value;
        this.saveOpts();
        this.draw();
      });
      return s;
    };
    this.makeCheck = check;
    this.makeSelect = choose;
    this.options.append(
      check("log", "log counts"),
      check("logColor", "log colour"),
      choose("range", [["auto", "range: auto"], ["all", "range: all steps"], ["this", "range: this step"]], "value range: auto frames the selected step in the step and overlay views, all steps in the time views"),
      choose("x", [["step", "time: step"], ["epoch", "time: epoch"], ["wall", "time: wall clock"]], "time axis"),
    );
    this.viewOpts = el("span", "tfh-options tfh-view-options"); // what only the grid or depth view has
    // the options on a row of their own, one line whatever the view: the rows above and
    // below never move when the view changes
    this.optRow = el("div", "tfh-optrow");
    this.optRow.append(this.options, this.viewOpts);
    this.title = el("div", "tfh-title");
    this.loading = el("div", "tfh-loading");
    this.plot = el("div", "tfh-plot");
    this.plot.tabIndex = 0; // focus the plot to step through snapshots with the arrow keys
    this.plot.title = "←/→: previous/next snapshot, Home/End: first/last";
    this.canvas = el("canvas", "tfh-canvas");
    this.tip = el("div", "tfh-tip");
    this.grid = el("div", "tfh-grid");
    this.legend = el("div", "tfh-legend");
    this.marks = el("canvas", "tfh-marks"); // the hovered cell's frame, over the drawing
    this.plot.append(this.canvas, this.marks, this.grid, this.loading, this.tip);
    this.canvas.addEventListener("mousemove", (e) => this.hover(e));
    this.canvas.addEventListener("mouseleave", () => {
      this.tip.style.display = "none";
      this.hoverAt = null;
      this.markHover(null);
    });
    this.canvas.addEventListener("click", (e) => {
      const r = this.canvas.getBoundingClientRect();
      const got = this.pick && this.pick(e.clientX - r.left, e.clientY - r.top);
      if (got) {
        this.followBox.checked = false;
        this.set(got.view === null ? { step: got.step } : { tensor: got.name, step: got.step, view: "step" });
        if (got.view === null) this.markHover(got, true); // the click shows where it landed (a view of its own otherwise)
      }
    });
    this.slide = el("div", "tfh-slide");
    this.slider = el("input", "tfh-slider");
    this.slider.type = "range";
    this.slider.min = 0;
    this.slider.addEventListener("input", () => {
      const s = this.current();
      if (!s) return;
      const i = +this.slider.value;
      const follow = i === s.snaps.length - 1 && this.store.complete(s);
      this.followBox.checked = follow;
      this.set({ step: follow ? -1 : s.snaps[i].step });
    });
    this.at = el("span", "tfh-at");
    const fl = el("label", "tfh-follow");
    this.followBox = el("input");
    this.followBox.type = "checkbox";
    this.followBox.checked = true;
    this.followBox.addEventListener("change", () => {
      if (this.followBox.checked) this.set({ step: -1 });
    });
    fl.append(this.followBox, " follow latest");
    this.pin = el("button", "tfh-pin", "pin step");
    this.pin.title = "add this step to the overlay view";
    this.pin.addEventListener("click", () => {
      const snap = this.snap();
      if (snap && !this.pins.includes(snap.step)) this.pins.push(snap.step);
      this.draw();
    });
    this.kept = el("canvas", "tfh-kept"); // the kept steps on the step axis: a saved copy's gaps show
    this.slideBox = el("div", "tfh-slidebox");
    this.slideBox.append(this.slider, this.kept);
    this.slide.append(this.slideBox, this.at, fl, this.pin);
    this.stats = el("div", "tfh-stats");
    this.probe = el("canvas", "tfh-probe");
    this.norms = el("canvas", "tfh-norms");
    this.below = el("div", "tfh-below"); // what only the views of one tensor have: kept as space in the others
    this.below.append(this.slide, this.stats, this.probe, this.norms);
    this.main.append(this.bar, this.optRow, this.title, this.plot, this.legend, this.below);
    // findings
    this.findings = el("div", "tfh-findings");
    this.body.append(this.side, this.main, this.findings);
    r.append(this.empty, this.top, this.body);
  },

  /** The grid's sort and filter, or the depth view's statistic, for this kind. */
  buildViewOptions(view, kind) {
    const key = view + "|" + kind;
    if (key === this.viewOptsKey) return;
    this.viewOptsKey = key;
    const items = [];
    if (view === "grid") {
      const sorts = GRID_SORTS.filter(([, , kinds]) => !kinds || kinds.includes(kind));
      if (!sorts.some(([k]) => k === this.opts.gridSort)) this.opts.gridSort = "order";
      const s = this.makeSelect("gridSort", sorts.map(([k, label]) => [k, "sort: " + label]), "the order of the tiles: the most unusual first");
      const u = this.makeCheck("gridUnusual", "unusual only");
      u.title = "only the tiles whose statistic is past the findings' thresholds (NaN/Inf, update ratio outside its band, norm changed more than 10×, dead share)";
      items.push(s, u, this.makeCheck("gridHeat", "heatmaps"));
    } else if (view === "depth") {
      const choices = DEPTH[kind] || [];
      if (!choices.some(([m]) => m === this.opts.depth[kind])) this.opts.depth[kind] = choices[0] && choices[0][0];
      const s = el("select");
      s.dataset.opt = "depth";
      s.title = "the statistic drawn for each tensor at each step";
      for (const [m, label] of choices) {
        const o = el("option", "", label);
        o.value = m;
        s.append(o);
      }
      s.value = this.opts.depth[kind];
      s.addEventListener("change", () => {
        this.opts.depth[kind] = s.value;
        this.saveOpts();
        this.draw();
      });
      const all = this.makeCheck("depthAll", "every name (scroll)");
      all.title = "a line per tensor, every one named; the picture scrolls";
      items.push(s, all);
    }
    this.viewOpts.replaceChildren(...items);
  },

  /** Keys typed anywhere in the dashboard (the picker has its own, `onKey`): on the step
   * slider or the plot, ←/↓ and →/↑ step through the snapshots, PageUp/PageDown ten at a
   * time, Home/End to the first and last; on a tab or view button, ←/→ go to the next
   * one; Esc gives the keyboard back to the notebook. */
  onRootKey(e) {
    const t = e.target;
    if (e.key === "Escape") {
      if (t && t.blur) t.blur();
      const nb = this.root.closest(".jp-Notebook");
      if (nb) nb.focus();
      e.stopPropagation();
      return;
    }
    if (e.defaultPrevented || e.altKey || e.ctrlKey || e.metaKey) return;
    if (t === this.filter || (t && (t.tagName === "SELECT" || t.type === "checkbox")) || this.list.contains(t)) return;
    const group = t && t.closest && (t.closest(".tfh-tab") ? this.tabs : t.closest(".tfh-view") ? this.bar : null);
    if (group && (e.key === "ArrowLeft" || e.key === "ArrowRight")) {
      const buttons = [...group.querySelectorAll(group === this.tabs ? ".tfh-tab" : ".tfh-view")];
      const i = buttons.indexOf(t.closest("button"));
      const next = buttons[(i + (e.key === "ArrowRight" ? 1 : -1) + buttons.length) % buttons.length];
      next.click();
      // the tabs are rebuilt on a new kind: focus the one now showing
      const again = group === this.tabs ? this.tabs.querySelector(`.tfh-tab[data-kind="${next.dataset.kind}"]`) : next;
      if (again) again.focus();
    } else {
      const by = { ArrowLeft: -1, ArrowDown: -1, ArrowRight: 1, ArrowUp: 1, PageDown: -10, PageUp: 10, Home: "first", End: "last" }[e.key];
      if (by === undefined || !(t === this.slider || t === this.plot || t === this.root || this.plot.contains(t))) return;
      this.stepBy(by);
    }
    e.preventDefault();
    e.stopPropagation();
  },

  /** Select the snapshot `by` after the selected one (or "first", "last"). */
  stepBy(by) {
    const s = this.current();
    const view = this.model.get("view");
    if (!s || view === "grid" || view === "depth") return;
    const n = s.snaps.length;
    const i = this.index(s);
    const j = by === "first" ? 0 : by === "last" ? n - 1 : Math.max(0, Math.min(n - 1, i + by));
    const follow = j === n - 1 && this.store.complete(s);
    this.followBox.checked = follow;
    this.set({ step: follow ? -1 : s.snaps[j].step });
  },
};
