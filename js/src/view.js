// The dashboard's view: tabs, picker, plot, slider, findings, keys; each view's drawing is mixed in from its module.

import { TITLES } from "./constants.js";
import { controlsMethods } from "./controls.js";
import { THEME, covered, el, mark, sizeCanvas } from "./draw.js";
import { describe, fmt, statusText } from "./numbers.js";
import { pickerMethods } from "./picker.js";
import { applyTheme, watchTheme } from "./theme.js";
import { tilesMethods } from "./tiles.js";
import { hoverMethods } from "./views/hover.js";
import { depthMethods } from "./views/depth.js";
import { probesMethods } from "./views/probes.js";
import { snapshotMethods } from "./views/snapshot.js";
import { timeMethods } from "./views/time.js";

// The plot's height in every view of one tensor (CSS pixels).
export const PLOT_H = 320;

export class View {
  /** The dashboard in `host`, showing `store` with its controls' state in `model` (the
   * widget's, or a `localModel`); `saved`: the saved copy's header entry (no kernel). */
  constructor(model, host, store, saved = null) {
    this.born = performance.now();
    this.model = model;
    this.saved = saved;
    this.root = el("div", "tfh");
    this.root.dataset.saved = saved ? "1" : "0";
    // the dashboard's keys are its own: JupyterLab and Notebook 7 (Lumino) run no shortcut
    // for a key typed in here, so arrows never move the notebook's cell selection. Lumino
    // looks for the attribute from the focused element up, but a binding for ":focus"
    // matches that element first: so whatever takes the focus here gets it too (Notebook 7
    // handles keys before they reach the page; JupyterLab after, where onRootKey stops them)
    this.root.dataset.lmSuppressShortcuts = "true";
    this.root.addEventListener("focusin", (e) => {
      if (e.target && e.target.dataset) e.target.dataset.lmSuppressShortcuts = "true";
    });
    this.root.addEventListener("keydown", (e) => this.onRootKey(e));
    host.appendChild(this.root);
    this.store = store;
    this.opts = { log: false, range: "auto", x: "step", logColor: true, gridHeat: false, gridSort: "order", gridUnusual: false, depth: {}, depthAll: false };
    const had = model.get("opts"); // the options the page had (a reopened notebook: where it was left)
    if (had && typeof had === "object") for (const k of Object.keys(this.opts)) if (had[k] !== undefined) this.opts[k] = k === "depth" ? { ...had[k] } : had[k];
    this.pins = [];
    this.openState = new Map(); // picker group key -> open, where the user chose
    this.tiles = new Map(); // Series id -> its tile in "all tensors"
    this.visible = new Set(); // tiles on screen (drawn)
    this.build();
    this.onData = () => this.update();
    this.store.listeners.add(this.onData);
    for (const key of ["kind", "tensor", "view", "step"]) model.on("change:" + key, this.onData);
    this.unwatch = watchTheme(() => this.retheme(true));
    this.resize = new ResizeObserver(() => {
      if (!this.themed) this.retheme(true); // attached to the page now: its colours can be read
      const w = this.plot.clientWidth;
      if (w && w !== this.lastWidth) {
        this.lastWidth = w;
        this.draw();
      }
    });
    this.resize.observe(this.plot);
    // "all tensors" draws a tile when it comes on screen and lets it go when it leaves
    this.seen = new IntersectionObserver((entries) => {
      for (const e of entries) {
        if (e.isIntersecting) {
          this.visible.add(e.target);
          if (!e.target.dataset.drawn) this.drawTile(e.target);
        } else {
          this.visible.delete(e.target);
          e.target.querySelector("canvas")?.remove();
          delete e.target.dataset.drawn;
        }
      }
      this.root.dataset.drawnTiles = this.visible.size;
      this.wantTileHistories();
    }, { root: this.grid, rootMargin: "120px 0px" });
    this.update();
  }

  destroy(keepRoot = false) {
    this.store.listeners.delete(this.onData);
    for (const key of ["kind", "tensor", "view", "step"]) this.model.off("change:" + key, this.onData);
    this.resize.disconnect();
    this.seen.disconnect();
    this.unwatch();
    clearTimeout(this.themeLater);
    clearInterval(this.ticker);
    clearTimeout(this.lateCheck);
    this.tiles.clear();
    this.visible.clear();
    if (!keepRoot) this.root.remove();
  }

  /** Read the page's colours again (the theme may have changed: JupyterLab loads the new
   * theme's styles a moment after it says so, hence a second look); redraw if they did. */
  retheme(redraw, again = true) {
    if (!this.root.isConnected) return;
    const was = this.themeKey;
    this.theme = applyTheme(this.root);
    this.themed = true;
    this.themeKey = JSON.stringify(this.theme);
    if (redraw && was !== undefined && was !== this.themeKey) this.draw();
    if (redraw && again) {
      clearTimeout(this.themeLater);
      this.themeLater = setTimeout(() => this.retheme(true, false), 400);
    }
  }

  /** The options (log counts, range, time axis, the grid's and depth view's choices) into
   * the model, as the tab and view are: the kernel keeps them for the saved copy. */
  saveOpts() {
    this.set({ opts: JSON.parse(JSON.stringify(this.opts)) });
  }

  set(changes) {
    for (const [k, v] of Object.entries(changes)) this.model.set(k, v);
    this.model.save_changes(); // reaches the kernel when it is idle; the page does not wait
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

  /** The tensors a finding names, or whose latest snapshot holds NaN/Inf: key ->
   * {message, severity} (an error wins over a warning). */
  badges() {
    const out = new Map();
    const put = (key, message, severity) => {
      const had = out.get(key);
      if (!had || (severity === "error" && had.severity !== "error")) out.set(key, { message, severity });
    };
    const h = this.store.header;
    for (const f of (h && h.findings) || []) for (const n of covered(f)) put(f.kind + "\t" + n, f.message, f.severity);
    for (const s of this.store.series.values()) {
      const last = s.snaps[s.snaps.length - 1];
      if (last && last.nan + last.posinf + last.neginf > 0) put(s.kind + "\t" + s.name, "NaN/Inf in the latest snapshot", "error");
    }
    return out;
  }

  // -- update: structure, then drawing ------------------------------------------------------
  update() {
    const kinds = this.store.kinds();
    const h = this.store.header;
    const live = !!(h && h.live);
    this.root.dataset.live = live ? "1" : "0";
    this.tick();
    if (!kinds.length) {
      this.empty.style.display = "";
      this.top.style.display = this.body.style.display = "none";
      return;
    }
    this.empty.style.display = "none";
    this.top.style.display = this.body.style.display = "";
    this.status.classList.toggle("tfh-live", live);
    const kind = this.kind();
    const tabKey = kinds.join(",") + "|" + kind;
    if (tabKey !== this.tabKey) {
      this.tabKey = tabKey;
      this.tabs.replaceChildren(
        ...kinds.map((k) => {
          const b = el("button", "tfh-tab" + (k === kind ? " tfh-on" : ""), TITLES[k]);
          b.dataset.kind = k;
          b.addEventListener("click", () => this.set({ kind: k }));
          return b;
        }),
      );
    }
    const view = this.model.get("view");
    for (const [v, b] of Object.entries(this.viewButtons)) b.classList.toggle("tfh-on", v === view);
    this.buildList();
    this.buildFindings();
    this.draw();
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
    this.empty.textContent = said || (live || !h ? "Waiting for the first snapshot…" : "Nothing was recorded.");
    const n = [...this.store.series.values()].filter((s) => s.snaps.length).length;
    const lead = live ? "● recording · " : saving ? "● saving… · " : this.saved ? "saved in the notebook · " : "";
    const thinned = this.saved && this.saved.thinned ? ` · ${this.saved.per_series ? "about " + this.saved.per_series : "some"} snapshots per tensor kept` : "";
    const text = lead + `${n} series` + (said ? " · " + said : "") + (this.store.stale ? " · some updates missed, catching up" : "") + thinned;
    this.status.textContent = text;
    this.status.title = text + (saving ? "\nThe cell has ended; the dashboard the notebook keeps is being built and takes this one's place when it has drawn." : "") +
      (this.saved ? "\nThis copy is saved in the notebook" + (this.saved.note ? ": " + this.saved.note : ", every recorded snapshot.") : "");
  }

  buildFindings() {
    const h = this.store.header;
    const found = (h && h.findings) || [];
    const notes = (h && h.notes) || [];
    const key = JSON.stringify([found, notes]);
    if (key === this.findKey) return;
    this.findKey = key;
    const items = [el("div", "tfh-head", found.length ? `Findings (${found.length})` : "No findings")];
    for (const f of found) {
      const error = f.severity === "error";
      const n = covered(f).length;
      const d = el("div", "tfh-finding" + (error ? " tfh-error" : ""));
      d.append(mark(f.severity), el("span", "tfh-finding-text", f.message));
      if (n > 1) d.prepend(el("span", "tfh-count", `×${n}`)); // one problem on n tensors
      d.title = `${f.rule}: ${fmt(f.value)} against ${f.threshold === null ? "—" : fmt(f.threshold)}, steps ${f.first_step}–${f.last_step}` + (n > 1 ? `\n${covered(f).join("\n")}` : "");
      Object.assign(d.dataset, { kind: f.kind, name: f.name || "", step: f.step, rule: f.rule || "", severity: f.severity || "", count: n });
      d.addEventListener("click", () => {
        const ch = { kind: f.kind, step: f.step, view: "step" };
        if (f.name) ch.tensor = f.name;
        this.followBox.checked = false;
        this.set(ch);
      });
      items.push(d);
    }
    for (const n of notes) items.push(el("div", "tfh-note", n));
    this.findings.replaceChildren(...items);
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
    if (!this.themed) this.retheme(false);
    if (this.theme) Object.assign(THEME, this.theme); // the canvases' colours are this dashboard's
    const t0 = performance.now();
    const view = this.model.get("view");
    const wide = view === "grid" || view === "depth"; // views of every tensor of the kind
    this.root.classList.toggle("tfh-wide", wide);
    this.buildViewOptions(view, s.kind);
    const i = this.index(s);
    const snap = s.snaps[i];
    const complete = this.store.complete(s);
    Object.assign(this.root.dataset, { kind: s.kind, tensor: s.name, view, step: snap.step, snaps: s.snaps.length, kept: s.kept });
    if (!wide && !complete) this.store.wantHistory([s]); // opened: fetch its kept snapshots
    this.loading.style.display = !wide && !complete ? "" : "none";
    if (!wide && !complete) {
      const live = this.store.header && this.store.header.live;
      const asked = this.store.asked.get(`series\t${s.kind}\t${s.name}`);
      const late = asked !== undefined && performance.now() - asked > 10_000;
      this.loading.textContent = `${s.snaps.length} of the ${s.kept} kept snapshots are here; the rest ` +
        (live ? "arrive when the running cell ends (the kernel answers when idle)." : late ? "need the kernel, which has not answered (busy, or not running: a notebook reopened without its kernel has the latest snapshots only)." : "are on their way from the kernel…");
      if (!live && !late && !this.lateCheck) this.lateCheck = setTimeout(() => ((this.lateCheck = null), this.draw()), 10_500);
    }
    this.slider.max = s.snaps.length - 1;
    this.slider.value = i;
    this.followBox.checked = this.model.get("step") < 0;
    const thinned = s.recorded > s.snaps.length;
    this.at.textContent = `step ${snap.step}` + (snap.epoch >= 0 ? ` · epoch ${snap.epoch + 1}` : "") + ` · ${i + 1}/${s.snaps.length}` + (thinned ? ` kept of ${s.recorded}` : complete ? "" : ` here of ${s.kept}`);
    this.at.title = `snapshot ${i + 1} of the ${s.snaps.length} ` + (thinned ? `this saved copy keeps (the run recorded ${s.recorded}: the ticks under the slider are the kept steps, the gaps between them were thinned out to fit the notebook)` : complete ? "kept" : `here (${s.kept} kept)`);
    this.title.textContent = `${TITLES[s.kind]} · ${wide ? (view === "grid" ? "all tensors" : "depth × step") : s.name}` + (!wide && s.dtype && s.dtype !== "float32" && s.dtype !== "unknown" ? ` (${s.dtype})` : "");
    this.title.title = this.title.textContent;
    this.stats.textContent = wide ? "" : describe(snap, s.explicit);
    this.stats.title = this.stats.textContent;
    this.stats.classList.toggle("tfh-bad", !wide && snap.nan + snap.posinf + snap.neginf > 0);
    const grid = view === "grid";
    this.canvas.style.display = grid ? "none" : "";
    this.grid.style.display = grid ? "" : "none";
    this.below.style.display = wide ? "none" : "";
    this.options.style.display = wide ? "none" : "";
    this.drawProbes(s, snap, wide);
    this.drawNorms(s, snap, wide);
    if (!wide) this.drawKept(s, i);
    this.hit = this.pick = null;
    if (view !== this.drawnView) this.tip.style.display = "none"; // a tip of the view before
    this.drawnView = view;
    this.markHover(null);
    this.legend.textContent = ""; // each view writes its own: none stays from the view before
    const height = this.plotHeight(wide);
    this.plot.style.height = height + "px";
    if (view !== "depth") this.plot.style.overflowY = "";
    if (grid) {
      this.grid.style.height = height + "px";
      this.canvas.dataset.drawn = JSON.stringify({ view, kind: s.kind });
      this.drawGrid(s.kind);
    } else {
      const width = Math.max(280, this.plot.clientWidth || 600);
      const drawn = { view, kind: s.kind, name: s.name, step: snap.step };
      if (view === "depth") this.drawDepth(width, height, s, snap, drawn);
      else {
        const ctx = sizeCanvas(this.canvas, width, height);
        ({ step: () => this.drawStep(ctx, width, height, s, snap, drawn),
           overlay: () => this.drawOverlay(ctx, width, height, s, snap, drawn),
           offset: () => this.drawOffset(ctx, width, height, s, i, drawn),
           heatmap: () => this.drawHeatmap(ctx, width, height, s, i, drawn),
           distribution: () => this.drawDistribution(ctx, width, height, s, i, drawn),
        }[view] || (() => this.drawStep(ctx, width, height, s, snap, drawn)))();
      }
      this.canvas.dataset.drawn = JSON.stringify(drawn);
    }
    this.legend.title = this.legend.textContent;
    if (!wide && this.below.isConnected) this.belowH = this.below.offsetHeight; // the room the views of every tensor take
    const ms = performance.now() - t0;
    this.root.dataset.drawMs = ms.toFixed(1);
    if (this.root.dataset.firstDrawMs === undefined) { // from the view's creation: decode was before
      this.root.dataset.firstDrawMs = (performance.now() - this.born).toFixed(1);
      this.root.dataset.firstDrawAt = performance.now().toFixed(0); // since the page began loading
      const f = this.store.fullTiming;
      if (f) Object.assign(this.root.dataset, { packetBytes: f.bytes, decodeMs: f.decode.toFixed(1), applyMs: f.apply.toFixed(1) });
    }
  }
}

for (const methods of [controlsMethods, hoverMethods, pickerMethods, tilesMethods, snapshotMethods, timeMethods, depthMethods, probesMethods]) Object.assign(View.prototype, methods);
