// The dashboard's view of one Recording: it owns its parts (the frame, the controls, the
// picker, the tiles, the pointer, the drawings) and hands each what it needs.

import { TITLES } from "./constants.js";
import { buildControls, rootKey, viewOptions } from "./controls.js";
import { showTabs, sizeCanvas } from "./draw.js";
import { badges, showFindings } from "./findings.js";
import { Frame } from "./frame.js";
import { describe, statusText } from "./numbers.js";
import { Picker } from "./picker.js";
import { Tiles } from "./tiles.js";
import { drawDepth } from "./views/depth.js";
import { drawHeatmap } from "./views/heatmap.js";
import { Pointer, drawKept } from "./views/pointer.js";
import { drawNorms, drawProbes, showStrip } from "./views/probes.js";
import { drawOverlay, drawStep } from "./views/snapshot.js";
import { drawDistribution, drawOffset } from "./views/time.js";

// The plot's height in every view of one tensor (CSS pixels).
export const PLOT_H = 320;

// The drawings of one tensor on the plot's canvas, by view (step: the default).
const PLOTS = {
  step: (ctx, W, H, a) => drawStep(ctx, W, H, a),
  overlay: (ctx, W, H, a) => drawOverlay(ctx, W, H, a),
  offset: (ctx, W, H, a) => drawOffset(ctx, W, H, { ...a, cur: a.i }),
  heatmap: (ctx, W, H, a) => drawHeatmap(ctx, W, H, { ...a, cur: a.i }),
  distribution: (ctx, W, H, a) => drawDistribution(ctx, W, H, { ...a, cur: a.i }),
};

export class View {
  /** The dashboard in `host`, showing `store` with its controls' state in `model` (the
   * widget's, or a `localModel`); `saved`: the saved copy's header entry (no kernel). */
  constructor(model, host, store, saved = null) {
    this.frame = new Frame(model, host, { cls: "tfh", saved, redraw: () => this.draw() });
    Object.assign(this, { model, store, saved, root: this.frame.root, pins: [] });
    this.root.addEventListener("keydown", (e) => rootKey(e, this.root, this.ui, (by) => this.stepBy(by)));
    this.opts = { log: false, range: "auto", x: "step", logColor: true, gridHeat: false, gridSort: "order", gridUnusual: false, depth: {}, depthAll: false };
    const had = model.get("opts"); // the options the page had (a reopened notebook: where it was left)
    if (had && typeof had === "object") for (const k of Object.keys(this.opts)) if (had[k] !== undefined) this.opts[k] = k === "depth" ? { ...had[k] } : had[k];
    this.ui = buildControls(this.root, this.opts, {
      set: (ch) => this.set(ch),
      changed: () => (this.saveOpts(), this.draw()),
      filtered: () => (this.buildList(), this.draw()),
      slid: (i) => this.slid(i),
      follow: (on) => on && this.set({ step: -1 }),
      pin: () => this.pinStep(),
    });
    const viewOf = () => this.model.get("view");
    this.picker = new Picker(this.ui.list, { root: this.root, pick: (name) => this.set({ tensor: name, view: viewOf() === "grid" ? "step" : viewOf() }), refresh: () => this.buildList() });
    this.tiles = new Tiles(this.ui.grid, { root: this.root, store, open: (name) => this.set({ tensor: name, view: "step" }), showing: () => viewOf() === "grid" });
    this.pointer = new Pointer(this.ui.canvas, this.ui.tip, { marks: this.ui.marks, onBin: () => viewOf() === "step" && this.draw() });
    this.ui.canvas.addEventListener("click", (e) => this.clicked(e));
    this.onData = () => this.update();
    this.store.listeners.add(this.onData);
    this.frame.onState(this.onData);
    this.frame.watchWidth(this.ui.plot);
    this.update();
  }

  destroy(keepRoot = false) {
    this.store.listeners.delete(this.onData);
    clearInterval(this.ticker);
    clearTimeout(this.lateCheck);
    this.tiles.destroy();
    this.frame.destroy(keepRoot);
  }

  /** The options (log counts, range, time axis, the grid's and depth view's choices) into
   * the model, as the tab and view are: the kernel keeps them for the saved copy. */
  saveOpts() {
    this.set({ opts: JSON.parse(JSON.stringify(this.opts)) });
  }

  set(changes) {
    this.frame.set(changes);
  }

  // -- state -------------------------------------------------------------------------
  kind() {
    const kinds = this.store.kinds();
    const k = this.model.get("kind");
    return kinds.includes(k) ? k : kinds[0];
  }

  current() {
    const kind = this.kind();
    if (!kind) return null;
    return this.store.find(kind, this.model.get("tensor")) || this.store.ofKind(kind)[0] || null;
  }

  index(s) {
    const step = this.model.get("step");
    if (step < 0) return s.snaps.length - 1;
    let best = 0;
    for (let i = 0; i < s.snaps.length; i++) if (s.snaps[i].step <= step) best = i;
    return best;
  }

  snap() {
    const s = this.current();
    return s ? s.snaps[this.index(s)] : null;
  }

  /** The tensors of `kind` the filter lets through. */
  filtered(kind) {
    const q = this.ui.filter.value.trim().toLowerCase();
    return { q, list: this.store.ofKind(kind).filter((s) => !q || s.name.toLowerCase().includes(q)) };
  }

  // -- the controls' actions -------------------------------------------------------------
  /** The slider moved to snapshot `i`: the latest (when the page has all) follows. */
  slid(i) {
    const s = this.current();
    if (!s) return;
    const follow = i === s.snaps.length - 1 && this.store.complete(s);
    this.ui.followBox.checked = follow;
    this.set({ step: follow ? -1 : s.snaps[i].step });
  }

  /** Select the snapshot `by` after the selected one (or "first", "last"). */
  stepBy(by) {
    const s = this.current();
    const view = this.model.get("view");
    if (!s || view === "grid" || view === "depth") return;
    const n = s.snaps.length;
    const i = this.index(s);
    this.slid(by === "first" ? 0 : by === "last" ? n - 1 : Math.max(0, Math.min(n - 1, i + by)));
  }

  pinStep() {
    const snap = this.snap();
    if (snap && !this.pins.includes(snap.step)) this.pins.push(snap.step);
    this.draw();
  }

  /** A click on the plot: what the drawing picks (a step, or a tensor at a step). */
  clicked(e) {
    const got = this.pointer.picked(e);
    if (!got) return;
    this.ui.followBox.checked = false;
    this.set(got.view === null ? { step: got.step } : { tensor: got.name, step: got.step, view: "step" });
    if (got.view === null) this.pointer.mark(got, true); // the click shows where it landed (a view of its own otherwise)
  }

  // -- update: structure, then drawing ------------------------------------------------------
  update() {
    const kinds = this.store.kinds();
    const h = this.store.header;
    const live = !!(h && h.live);
    const ui = this.ui;
    this.root.dataset.live = live ? "1" : "0";
    this.tick();
    ui.empty.style.display = kinds.length ? "none" : "";
    ui.top.style.display = ui.body.style.display = kinds.length ? "" : "none";
    if (!kinds.length) return;
    ui.status.classList.toggle("tfh-live", live);
    const kind = this.kind();
    this.tabKey = showTabs(ui.tabs, kinds, kind, this.tabKey, (k) => this.set({ kind: k }));
    const view = this.model.get("view");
    for (const [v, b] of Object.entries(ui.viewButtons)) b.classList.toggle("tfh-on", v === view);
    this.buildList();
    this.findKey = showFindings(ui.findings, h, this.findKey, (f) => {
      ui.followBox.checked = false;
      this.set({ kind: f.kind, step: f.step, view: "step", ...(f.name ? { tensor: f.name } : {}) });
    });
    this.draw();
  }

  buildList() {
    const kind = this.kind();
    const { q, list } = this.filtered(kind);
    this.picker.show({ kind, cur: this.current(), q, series: list, badges: badges(this.store), models: (this.store.header && this.store.header.models) || {} });
  }

  /** The status line and the empty state; while the kernel reports a status (the
   * training function being traced), its elapsed time counts up every second. The line
   * is one line at any width: what does not fit is in its tooltip. */
  tick() {
    const h = this.store.header;
    const st = h && h.status;
    const said = st ? statusText(st, this.store.statusElapsed()) : "";
    this.root.dataset.status = said;
    if (st && !this.ticker) this.ticker = setInterval(() => this.tick(), 1000);
    if (!st && this.ticker) this.ticker = clearInterval(this.ticker);
    const live = !!(h && h.live);
    const saving = !!(h && h.saving);
    this.root.dataset.saving = saving ? "1" : "0";
    this.ui.empty.textContent = said || (live || !h ? "Waiting for the first snapshot…" : "Nothing was recorded.");
    const n = [...this.store.series.values()].filter((s) => s.snaps.length).length;
    const lead = live ? "● recording · " : saving ? "● saving… · " : this.saved ? "saved in the notebook · " : "";
    const thinned = this.saved && this.saved.thinned ? ` · ${this.saved.per_series ? "about " + this.saved.per_series : "some"} snapshots per tensor kept` : "";
    const text = lead + `${n} series` + (said ? " · " + said : "") + (this.store.stale ? " · some updates missed, catching up" : "") + thinned;
    this.ui.status.textContent = text;
    this.ui.status.title = text + (saving ? "\nThe cell has ended; the dashboard the notebook keeps is being built and takes this one's place when it has drawn." : "") +
      (this.saved ? "\nThis copy is saved in the notebook" + (this.saved.note ? ": " + this.saved.note : ", every recorded snapshot.") : "");
  }

  // -- drawing ----------------------------------------------------------------------------
  /** The height of the plot: the same for every view of one tensor; the views of every
   * tensor (all tensors, depth × step) also take the room of what they do not show
   * (slider, statistics, scalar series), so the dashboard keeps its height. */
  plotHeight(wide) {
    if (!wide) return PLOT_H;
    return PLOT_H + (this.belowH || 48);
  }

  draw() {
    const s = this.current();
    if (!s) return;
    this.frame.paint();
    const t0 = performance.now();
    const view = this.model.get("view");
    const wide = view === "grid" || view === "depth"; // views of every tensor of the kind
    this.root.classList.toggle("tfh-wide", wide);
    const key = view + "|" + s.kind;
    if (key !== this.viewOptsKey) {
      this.viewOptsKey = key;
      this.ui.viewOpts.replaceChildren(...viewOptions(view, s.kind, this.opts, () => (this.saveOpts(), this.draw())));
    }
    const i = this.index(s);
    Object.assign(this.root.dataset, { kind: s.kind, tensor: s.name, view, step: s.snaps[i].step, snaps: s.snaps.length, kept: s.kept });
    this.drawHeader(s, i, view, wide);
    this.drawBelow(s, i, wide);
    this.drawPlot(s, i, view, wide);
    if (!wide && this.ui.below.isConnected) this.belowH = this.ui.below.offsetHeight; // the room the views of every tensor take
    this.root.dataset.drawMs = (performance.now() - t0).toFixed(1);
    this.frame.firstDraw(this.store);
  }

  /** What says where the page is: the loading line, slider, step, title and statistics. */
  drawHeader(s, i, view, wide) {
    const ui = this.ui, snap = s.snaps[i];
    const complete = this.store.complete(s);
    if (!wide && !complete) this.store.wantHistory([s]); // opened: fetch its kept snapshots
    ui.loading.style.display = !wide && !complete ? "" : "none";
    if (!wide && !complete) this.sayLoading(s);
    ui.slider.max = s.snaps.length - 1;
    ui.slider.value = i;
    ui.followBox.checked = this.model.get("step") < 0;
    const thinned = s.recorded > s.snaps.length;
    ui.at.textContent = `step ${snap.step}` + (snap.epoch >= 0 ? ` · epoch ${snap.epoch + 1}` : "") + ` · ${i + 1}/${s.snaps.length}` + (thinned ? ` kept of ${s.recorded}` : complete ? "" : ` here of ${s.kept}`);
    ui.at.title = `snapshot ${i + 1} of the ${s.snaps.length} ` + (thinned ? `this saved copy keeps (the run recorded ${s.recorded}: the ticks under the slider are the kept steps, the gaps between them were thinned out to fit the notebook)` : complete ? "kept" : `here (${s.kept} kept)`);
    ui.title.textContent = `${TITLES[s.kind]} · ${wide ? (view === "grid" ? "all tensors" : "depth × step") : s.name}` + (!wide && s.dtype && s.dtype !== "float32" && s.dtype !== "unknown" ? ` (${s.dtype})` : "");
    ui.title.title = ui.title.textContent;
    ui.stats.textContent = wide ? "" : describe(snap, s.explicit);
    ui.stats.title = ui.stats.textContent;
    ui.stats.classList.toggle("tfh-bad", !wide && snap.nan + snap.posinf + snap.neginf > 0);
  }

  /** Of a Series the page holds only some snapshots of: where the rest is. */
  sayLoading(s) {
    const live = this.store.header && this.store.header.live;
    const asked = this.store.asked.get(`series\t${s.kind}\t${s.name}`);
    const late = asked !== undefined && performance.now() - asked > 10_000;
    this.ui.loading.textContent = `${s.snaps.length} of the ${s.kept} kept snapshots are here; the rest ` +
      (live ? "arrive when the running cell ends (the kernel answers when idle)." : late ? "need the kernel, which has not answered (busy, or not running: a notebook reopened without its kernel has the latest snapshots only)." : "are on their way from the kernel…");
    if (!live && !late && !this.lateCheck) this.lateCheck = setTimeout(() => ((this.lateCheck = null), this.draw()), 10_500);
  }

  /** Under the plot: the scalar series' strips and the kept steps (views of one tensor). */
  drawBelow(s, i, wide) {
    const ui = this.ui, snap = s.snaps[i];
    ui.below.style.display = wide ? "none" : "";
    ui.options.style.display = wide ? "none" : "";
    const width = ui.plot.clientWidth;
    const h = this.store.header || {};
    showStrip(ui.probe, wide ? null : drawProbes(ui.probe, width, { store: this.store, s, snap, th: h.thresholds || {} }));
    showStrip(ui.norms, wide ? null : drawNorms(ui.norms, width, { store: this.store, s, snap, models: h.models || {} }));
    if (!wide) drawKept(ui.kept, ui.slider.clientWidth, s, i);
  }

  /** The plot: the view's drawing, what answers the pointer, the legend. */
  drawPlot(s, i, view, wide) {
    const ui = this.ui, snap = s.snaps[i];
    const grid = view === "grid";
    ui.canvas.style.display = grid ? "none" : "";
    ui.grid.style.display = grid ? "" : "none";
    this.pointer.use(null);
    if (view !== this.drawnView) ui.tip.style.display = "none"; // a tip of the view before
    this.drawnView = view;
    this.pointer.mark(null);
    const height = this.plotHeight(wide);
    ui.plot.style.height = height + "px";
    if (view !== "depth") ui.plot.style.overflowY = "";
    const drawn = grid ? { view, kind: s.kind } : { view, kind: s.kind, name: s.name, step: snap.step };
    let got;
    if (grid) {
      ui.grid.style.height = height + "px";
      const { q, list } = this.filtered(s.kind);
      got = { legend: this.tiles.show({ kind: s.kind, list, q, opts: this.opts, badges: badges(this.store) }) };
    } else {
      const width = Math.max(280, ui.plot.clientWidth || 600);
      got = view === "depth" ? this.drawDepth(width, height, s, snap, drawn) : (PLOTS[view] || PLOTS.step)(sizeCanvas(ui.canvas, width, height), width, height,
        { s, snap, i, opts: this.opts, pins: this.pins, hoverAt: this.pointer.bin, drawn });
    }
    ui.canvas.dataset.drawn = JSON.stringify(drawn);
    this.pointer.use(got);
    ui.legend.textContent = got.legend || "";
    ui.legend.title = ui.legend.textContent;
  }

  drawDepth(width, height, s, snap, drawn) {
    const { list } = this.filtered(s.kind);
    const step = this.model.get("step") >= 0 ? snap.step : -1;
    const got = drawDepth(this.ui.canvas, this.ui.plot, width, height, { store: this.store, kind: s.kind, list, cur: s, step, opts: this.opts, scrolled: this.depthScrolled, drawn });
    this.depthScrolled = got.scrolled;
    return got;
  }
}
