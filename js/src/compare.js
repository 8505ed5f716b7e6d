// Compare mode: several runs in one packet (comparing.py), every tensor drawn for every run, the ranking beside it.
//
// The packet holds one Series entry per run and shared tensor (`run`: the run's index),
// with the rows of the compared steps aligned: snapshot j of each run is the j-th compared
// step (the nearest step each run recorded). The header's `compare` entry names the runs
// (label, fixed colour), ranks the tensors per kind, lists those not in every run and says
// how steps and names were matched, and each run's model per tensor. Each tensor's score
// per compared step, and every run's scalar series (update ratio, norms, dead units; the
// model's gradient norm) under it (`run`: the run's index) come as scalar series. The
// controls' state: kind, tensor, view, step (the index of the compared step, -1 the last).

import { NORMS, PROBES, TITLES } from "./constants.js";
import { el, showTabs, viewBar } from "./draw.js";
import { Frame } from "./frame.js";
import { describe, fmt } from "./numbers.js";
import { drawBands, drawHeatmaps, drawOverlay, drawScores } from "./views/compare-draw.js";
import { Pointer } from "./views/pointer.js";
import { drawRunStrip, showStrip } from "./views/probes.js";

export const COMPARE_VIEWS = [
  ["overlay", "overlay"],
  ["heatmap", "heatmaps"],
  ["distribution", "distribution"],
];

export { density } from "./views/compare-draw.js";

// The drawings of the compared tensor on the plot's canvas, by view (overlay: the default).
const PLOTS = { overlay: drawOverlay, heatmap: drawHeatmaps, distribution: drawBands };

export class CompareView {
  /** The comparison in `host`: `store` holds every run (its header's `compare` entry says
   * how), the controls' state is in `model`; `saved`: the saved copy's header entry. The
   * frame, the pointer and the scalar strips are the single recording's View's parts. */
  constructor(model, host, store, saved = null) {
    this.frame = new Frame(model, host, { cls: "tfh tfh-compare", saved, redraw: () => this.draw() });
    Object.assign(this, { model, store, saved, root: this.frame.root, cmp: store.header.compare });
    this.root.dataset.compare = String(this.cmp.runs.length);
    this.index = new Map(); // kind \t name -> [Series of run 0, run 1, ...]
    for (const s of store.series.values()) {
      const key = s.kind + "\t" + s.name;
      if (!this.index.has(key)) this.index.set(key, []);
      this.index.get(key)[s.run || 0] = s;
    }
    this.build();
    this.pointer = new Pointer(this.canvas, this.tip, { tipRoom: 320 });
    this.frame.onState(() => this.update());
    this.frame.watchWidth(this.plot);
    this.update();
  }

  destroy(keepRoot = false) {
    this.frame.destroy(keepRoot);
  }

  set(changes) {
    this.frame.set(changes);
  }

  build() {
    this.top = el("div", "tfh-top");
    this.tabs = el("div", "tfh-tabs");
    this.legendRuns = el("span", "tfh-runs");
    for (const [r, run] of this.cmp.runs.entries()) {
      const item = el("span", "tfh-run");
      item.dataset.run = r;
      const sw = el("span", "tfh-swatch");
      sw.style.background = run.color;
      item.append(sw, el("span", "", run.label));
      item.style.color = run.color;
      this.legendRuns.append(item);
    }
    this.status = el("span", "tfh-status");
    this.top.append(this.tabs, this.legendRuns, this.status);
    this.notes = el("div", "tfh-cmp-notes");
    for (const text of [this.cmp.steps_note, this.cmp.names_note]) if (text) this.notes.append(el("div", "tfh-cmp-note", text));
    this.body = el("div", "tfh-body");
    this.side = el("div", "tfh-side");
    this.filter = el("input", "tfh-filter");
    this.filter.placeholder = "filter tensors";
    this.filter.addEventListener("input", () => this.buildRanking());
    this.rankHead = el("div", "tfh-head");
    this.list = el("div", "tfh-list tfh-rank");
    this.only = el("div", "tfh-only");
    this.side.append(this.rankHead, this.filter, this.list, this.only);
    this.main = el("div", "tfh-main");
    ({ bar: this.bar, buttons: this.viewButtons } = viewBar(COMPARE_VIEWS, (view) => this.set({ view })));
    this.title = el("div", "tfh-title");
    this.plot = el("div", "tfh-plot");
    this.canvas = el("canvas", "tfh-canvas");
    this.tip = el("div", "tfh-tip");
    this.legend = el("div", "tfh-legend");
    this.plot.append(this.canvas, this.tip, this.legend);
    this.main.append(this.bar, this.title, this.plot, this.buildSlide(), ...this.buildBelow());
    this.body.append(this.side, this.main);
    this.root.append(this.top, this.notes, this.body);
  }

  /** The slider over the compared steps, and where it is. */
  buildSlide() {
    this.slide = el("div", "tfh-slide");
    this.slider = el("input", "tfh-slider");
    this.slider.type = "range";
    this.slider.min = 0;
    this.slider.addEventListener("input", () => {
      const t = this.current();
      if (!t) return;
      const j = +this.slider.value;
      this.set({ step: j === t.n - 1 ? -1 : j });
    });
    this.at = el("span", "tfh-at");
    this.slide.append(this.slider, this.at);
    return this.slide;
  }

  /** Under the plot: each run's statistics, the score, the runs' scalar series. */
  buildBelow() {
    this.stats = el("div", "tfh-stats");
    this.scores = el("canvas", "tfh-score");
    this.probe = el("canvas", "tfh-probe");
    this.norms = el("canvas", "tfh-norms");
    return [this.stats, this.scores, this.probe, this.norms];
  }

  // -- state -------------------------------------------------------------------------------
  kinds() {
    return Object.keys(this.cmp.ranking).filter((k) => this.cmp.ranking[k].length);
  }

  kind() {
    const kinds = this.kinds();
    const k = this.model.get("kind");
    return kinds.includes(k) ? k : kinds[0];
  }

  /** The selected tensor: {kind, name, score, ref, series (one per run), n, j}, or null. */
  current() {
    const kind = this.kind();
    if (!kind) return null;
    const ranked = this.cmp.ranking[kind];
    const want = this.model.get("tensor");
    const row = ranked.find((r) => r[0] === want) || ranked[0];
    const series = this.index.get(kind + "\t" + row[0]) || [];
    if (series.length !== this.cmp.runs.length || series.some((s) => !s || !s.snaps.length)) return null;
    const n = Math.min(...series.map((s) => s.snaps.length));
    const step = this.model.get("step");
    const j = step < 0 || step >= n ? n - 1 : step;
    return { kind, name: row[0], score: row[1], ref: row[2], series, n, j };
  }

  /** The compared steps of `t`: the reference run's (the run with the fewest snapshots). */
  steps(t) {
    return t.series[t.ref].snaps.slice(0, t.n).map((p) => p.step);
  }

  // -- structure ---------------------------------------------------------------------------
  update() {
    const kind = this.kind();
    const kinds = this.kinds();
    this.tabKey = showTabs(this.tabs, kinds, kind, this.tabKey, (k) => this.set({ kind: k, step: -1 }));
    const view = this.model.get("view");
    for (const [v, b] of Object.entries(this.viewButtons)) b.classList.toggle("tfh-on", v === view || (!this.viewButtons[view] && v === "overlay"));
    const shared = kinds.reduce((a, k) => a + this.cmp.ranking[k].length, 0);
    this.status.textContent = `${this.cmp.runs.length} runs · ${shared} shared tensors` + (this.cmp.only.length ? ` · ${this.cmp.only.length} not in every run` : "") +
      (this.saved ? " · saved in the notebook" + (this.saved.note ? ": " + this.saved.note : "") : "");
    this.buildRanking();
    this.draw();
  }

  buildRanking() {
    const kind = this.kind();
    const cur = this.current();
    const q = this.filter.value.trim().toLowerCase();
    const ranked = (this.cmp.ranking[kind] || []).filter(([name]) => !q || name.toLowerCase().includes(q));
    const key = [kind, q, cur && cur.name].join("\n");
    if (key === this.rankKey) return;
    this.rankKey = key;
    this.rankHead.textContent = `${TITLES[kind] || ""}: the most different first`;
    this.rankHead.title = `score: ${this.cmp.score}`;
    const best = Math.max(1e-300, ...ranked.map(([, s]) => (Number.isFinite(s) ? s : 0)));
    const rows = ranked.map(([name, score], i) => {
      const item = el("div", "tfh-item tfh-rank-item" + (cur && name === cur.name ? " tfh-on" : ""));
      item.dataset.name = name;
      item.dataset.score = score === null ? "" : score;
      item.title = `${name}\nscore ${score === null ? "—" : fmt(score)} (#${i + 1})`;
      const bar = el("span", "tfh-rank-bar");
      bar.style.width = (Number.isFinite(score) ? Math.max(1, (40 * score) / best) : 0) + "px";
      item.append(bar, el("span", "tfh-name", name), el("span", "tfh-n", score === null ? "—" : fmt(score)));
      item.addEventListener("click", () => this.set({ tensor: name }));
      return item;
    });
    if (!rows.length) rows.push(el("div", "tfh-none", "no tensor matches"));
    this.list.replaceChildren(...rows);
    const only = this.cmp.only.filter(([k]) => k === kind);
    this.only.replaceChildren(...(only.length ? [el("div", "tfh-head", `Not in every run (${only.length}, not ranked)`),
      ...only.map(([, name, held]) => {
        const d = el("div", "tfh-only-item", `${name}: only in ${held.join(", ")}`);
        d.dataset.name = name;
        return d;
      })] : []));
  }

  // -- drawing -----------------------------------------------------------------------------
  draw() {
    const t = this.current();
    if (!t) return;
    this.frame.paint();
    const view = this.viewButtons[this.model.get("view")] ? this.model.get("view") : "overlay";
    const runs = this.cmp.runs;
    const snaps = t.series.map((s) => s.snaps[t.j]);
    const steps = snaps.map((p) => p.step);
    const same = steps.every((st) => st === steps[0]);
    Object.assign(this.root.dataset, { kind: t.kind, tensor: t.name, view, step: t.j, steps: steps.join(","), snaps: t.n });
    this.title.textContent = `${TITLES[t.kind]} · ${t.name} · score ${t.score === null ? "—" : fmt(t.score)}`;
    this.slider.max = t.n - 1;
    this.slider.value = t.j;
    this.at.textContent = (same ? `step ${steps[0]}` : "steps " + steps.map((st, r) => `${st} (${runs[r].label})`).join(" · ")) + `  (compared step ${t.j + 1} of ${t.n})`;
    this.stats.replaceChildren(...snaps.map((p, r) => {
      const line = el("div", "tfh-stat-run", `${runs[r].label}: ` + describe(p, t.series[r].explicit));
      line.style.color = runs[r].color;
      return line;
    }));
    const width = Math.max(280, this.plot.clientWidth || 600);
    const drawn = { view, kind: t.kind, name: t.name, at: t.j, steps, runs: runs.map((r) => r.label) };
    this.pointer.use(null);
    const got = PLOTS[view](this.canvas, width, { t, snaps, runs, steps: this.steps(t), drawn });
    this.pointer.use(got);
    this.legend.textContent = got.legend;
    this.canvas.dataset.drawn = JSON.stringify(drawn);
    drawScores(this.scores, width, { store: this.store, t });
    this.drawStrips(width, t);
    this.frame.firstDraw(this.store);
  }

  /** Every run's scalar series under the tensor (update ratio, dead units, saturation; the
   * norms, the model's gradient norm), the selected compared step marked. */
  drawStrips(width, t) {
    const steps = this.steps(t);
    const on = { store: this.store, t, runs: this.cmp.runs, steps, at: steps[t.j], th: (this.store.header && this.store.header.thresholds) || {} };
    showStrip(this.probe, drawRunStrip(this.probe, width, { ...on, table: PROBES }));
    showStrip(this.norms, drawRunStrip(this.norms, width, { ...on, table: NORMS }));
  }
}
