// The dashboard's view: tabs, picker, plot, slider, findings, keys; each view's drawing is mixed in from its module.

import { DEPTH, TITLES, VIEWS } from "./constants.js";
import { covered, el, mark, sizeCanvas, viewBar } from "./draw.js";
import { describe, fmt, statusText } from "./numbers.js";
import { pickerMethods } from "./picker.js";
import { GRID_SORTS, tilesMethods } from "./tiles.js";
import { depthMethods } from "./views/depth.js";
import { probesMethods } from "./views/probes.js";
import { snapshotMethods } from "./views/snapshot.js";
import { timeMethods } from "./views/time.js";

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
    this.opts = { log: false, range: "auto", x: "step", logColor: true, gridHeat: false, gridSort: "order", gridUnusual: false, depth: {} };
    this.pins = [];
    this.openState = new Map(); // picker group key -> open, where the user chose
    this.tiles = new Map(); // Series id -> its tile in "all tensors"
    this.visible = new Set(); // tiles on screen (drawn)
    this.build();
    this.onData = () => this.update();
    this.store.listeners.add(this.onData);
    for (const key of ["kind", "tensor", "view", "step"]) model.on("change:" + key, this.onData);
    this.resize = new ResizeObserver(() => {
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

  destroy() {
    this.store.listeners.delete(this.onData);
    for (const key of ["kind", "tensor", "view", "step"]) this.model.off("change:" + key, this.onData);
    this.resize.disconnect();
    this.seen.disconnect();
    clearInterval(this.ticker);
    clearTimeout(this.lateCheck);
    this.tiles.clear();
    this.visible.clear();
    this.root.remove();
  }

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
  }

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
  }

  set(changes) {
    for (const [k, v] of Object.entries(changes)) this.model.set(k, v);
    this.model.save_changes(); // reaches the kernel when it is idle; the page does not wait
  }

  build() {
    const r = this.root;
    this.empty = el("div", "tfh-empty", "Waiting for the first snapshot…");
    this.top = el("div", "tfh-top");
    this.tabs = el("div", "tfh-tabs");
    this.status = el("span", "tfh-status");
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
    this.bar.append(this.options, this.viewOpts);
    this.title = el("div", "tfh-title");
    this.loading = el("div", "tfh-loading");
    this.plot = el("div", "tfh-plot");
    this.plot.tabIndex = 0; // focus the plot to step through snapshots with the arrow keys
    this.plot.title = "←/→: previous/next snapshot, Home/End: first/last";
    this.canvas = el("canvas", "tfh-canvas");
    this.tip = el("div", "tfh-tip");
    this.grid = el("div", "tfh-grid");
    this.legend = el("div", "tfh-legend");
    this.plot.append(this.canvas, this.grid, this.tip, this.legend);
    this.canvas.addEventListener("mousemove", (e) => this.hover(e));
    this.canvas.addEventListener("mouseleave", () => {
      this.tip.style.display = "none";
      this.hoverAt = null;
    });
    this.canvas.addEventListener("click", (e) => {
      const r = this.canvas.getBoundingClientRect();
      const got = this.pick && this.pick(e.clientX - r.left, e.clientY - r.top);
      if (got) {
        this.followBox.checked = false;
        this.set({ tensor: got.name, step: got.step, view: "step" });
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
    this.slide.append(this.slider, this.at, fl, this.pin);
    this.stats = el("div", "tfh-stats");
    this.probe = el("canvas", "tfh-probe");
    this.norms = el("canvas", "tfh-norms");
    this.main.append(this.bar, this.title, this.loading, this.plot, this.slide, this.stats, this.probe, this.norms);
    // findings
    this.findings = el("div", "tfh-findings");
    this.body.append(this.side, this.main, this.findings);
    r.append(this.empty, this.top, this.body);
  }

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
        this.draw();
      });
      items.push(s);
    }
    this.viewOpts.replaceChildren(...items);
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
   * training function being traced), its elapsed time counts up every second. */
  tick() {
    const h = this.store.header;
    const st = h && h.status;
    const said = st ? statusText(st, this.store.statusElapsed()) : "";
    this.root.dataset.status = said;
    if (st && !this.ticker) this.ticker = setInterval(() => this.tick(), 1000);
    if (!st && this.ticker) this.ticker = clearInterval(this.ticker);
    const live = !!(h && h.live);
    this.empty.textContent = said || (live || !h ? "Waiting for the first snapshot…" : "Nothing was recorded.");
    const n = [...this.store.series.values()].filter((s) => s.snaps.length).length;
    this.status.textContent = (live ? "● recording · " : "") + `${n} series` + (said ? " · " + said : "") + (this.store.stale ? " · some updates missed, catching up" : "") +
      (this.saved ? " · saved in the notebook" + (this.saved.note ? ": " + this.saved.note : "") : "");
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
  draw() {
    const s = this.current();
    if (!s) return;
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
    this.at.textContent = `step ${snap.step}` + (snap.epoch >= 0 ? ` · epoch ${snap.epoch + 1}` : "") + `  (snapshot ${i + 1} of ${s.snaps.length}${complete ? "" : ` here, ${s.kept} kept`}` +
      (s.recorded > s.snaps.length ? `; this saved copy keeps ${s.snaps.length} of the ${s.recorded} recorded)` : ")");
    this.title.textContent = `${TITLES[s.kind]} · ${wide ? (view === "grid" ? "all tensors" : "depth × step") : s.name}` + (!wide && s.dtype && s.dtype !== "float32" && s.dtype !== "unknown" ? ` (${s.dtype})` : "");
    this.stats.textContent = wide ? "" : describe(snap, s.explicit);
    this.stats.classList.toggle("tfh-bad", !wide && snap.nan + snap.posinf + snap.neginf > 0);
    const grid = view === "grid";
    this.canvas.style.display = grid ? "none" : "";
    this.grid.style.display = grid ? "" : "none";
    this.slide.style.display = wide ? "none" : "";
    this.options.style.display = wide ? "none" : "";
    this.drawProbes(s, snap, wide);
    this.drawNorms(s, snap, wide);
    this.hit = this.pick = null;
    if (view !== this.drawnView) this.tip.style.display = "none"; // a tip of the view before
    this.drawnView = view;
    this.legend.textContent = ""; // each view writes its own: none stays from the view before
    if (grid) {
      this.canvas.dataset.drawn = JSON.stringify({ view, kind: s.kind });
      this.drawGrid(s.kind);
    } else {
      const width = Math.max(280, this.plot.clientWidth || 600);
      const drawn = { view, kind: s.kind, name: s.name, step: snap.step };
      if (view === "depth") this.drawDepth(width, s, snap, drawn);
      else {
        const height = view === "offset" ? 360 : 300;
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
    const ms = performance.now() - t0;
    this.root.dataset.drawMs = ms.toFixed(1);
    if (this.root.dataset.firstDrawMs === undefined) { // from the view's creation: decode was before
      this.root.dataset.firstDrawMs = (performance.now() - this.born).toFixed(1);
      this.root.dataset.firstDrawAt = performance.now().toFixed(0); // since the page began loading
      const f = this.store.fullTiming;
      if (f) Object.assign(this.root.dataset, { packetBytes: f.bytes, decodeMs: f.decode.toFixed(1), applyMs: f.apply.toFixed(1) });
    }
  }

  hover(e) {
    if (!this.hit) return;
    const r = this.canvas.getBoundingClientRect();
    const mx = e.clientX - r.left, my = e.clientY - r.top;
    const got = this.hit(mx, my);
    if (!got) {
      this.tip.style.display = "none";
      return;
    }
    this.tip.textContent = got.text;
    this.tip.style.display = "block";
    this.tip.style.left = Math.min(mx + 12, r.width - 260) + "px";
    this.tip.style.top = my + 12 + "px";
    this.canvas.style.cursor = this.pick ? "pointer" : "";
    if (got.bin !== undefined && got.bin !== this.hoverAt && this.model.get("view") === "step") {
      this.hoverAt = got.bin;
      this.draw();
    }
  }
}

for (const methods of [pickerMethods, tilesMethods, snapshotMethods, timeMethods, depthMethods, probesMethods]) Object.assign(View.prototype, methods);
