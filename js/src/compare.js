// Compare mode: several runs in one packet (comparing.py), every tensor drawn for every run, the ranking beside it.
//
// The packet holds one Series entry per run and shared tensor (`run`: the run's index),
// with the rows of the compared steps aligned: snapshot j of each run is the j-th compared
// step (the nearest step each run recorded). The header's `compare` entry names the runs
// (label, fixed colour), ranks the tensors per kind, lists those not in every run and says
// how steps and names were matched. The controls' state: kind, tensor, view, step (the
// index of the compared step, -1 the last).

import { PERCENTILES, TITLES } from "./constants.js";
import { axes, el, ramp, sizeCanvas, viewBar } from "./draw.js";
import { describe, fmt, frame, pct, percentiles, rebin, total, valueRange } from "./numbers.js";

export const COMPARE_VIEWS = [
  ["overlay", "overlay"],
  ["heatmap", "heatmaps"],
  ["distribution", "distribution"],
];

/** The density of one snapshot on its own bins: count / (finite total × bin width), so
 * runs whose bins differ draw on one scale (a bin of no width: 0). */
export function density(snap) {
  const t = total(snap);
  const out = new Float64Array(snap.counts.length);
  if (!(t > 0)) return out;
  for (let b = 0; b < out.length; b++) {
    const w = snap.edges[b + 1] - snap.edges[b];
    out[b] = w > 0 ? snap.counts[b] / t / w : 0;
  }
  return out;
}

export class CompareView {
  constructor(model, host, store, saved = null) {
    this.born = performance.now();
    this.model = model;
    this.store = store;
    this.saved = saved;
    this.cmp = store.header.compare;
    this.root = el("div", "tfh tfh-compare");
    this.root.dataset.saved = saved ? "1" : "0";
    this.root.dataset.compare = String(this.cmp.runs.length);
    this.root.dataset.lmSuppressShortcuts = "true";
    host.appendChild(this.root);
    this.index = new Map(); // kind \t name -> [Series of run 0, run 1, ...]
    for (const s of store.series.values()) {
      const key = s.kind + "\t" + s.name;
      if (!this.index.has(key)) this.index.set(key, []);
      this.index.get(key)[s.run || 0] = s;
    }
    this.build();
    this.onData = () => this.update();
    for (const key of ["kind", "tensor", "view", "step"]) model.on("change:" + key, this.onData);
    this.resize = new ResizeObserver(() => {
      const w = this.plot.clientWidth;
      if (w && w !== this.lastWidth) {
        this.lastWidth = w;
        this.draw();
      }
    });
    this.resize.observe(this.plot);
    this.update();
  }

  destroy() {
    for (const key of ["kind", "tensor", "view", "step"]) this.model.off("change:" + key, this.onData);
    this.resize.disconnect();
    this.root.remove();
  }

  set(changes) {
    for (const [k, v] of Object.entries(changes)) this.model.set(k, v);
    this.model.save_changes();
  }

  build() {
    const runs = this.cmp.runs;
    this.top = el("div", "tfh-top");
    this.tabs = el("div", "tfh-tabs");
    this.legendRuns = el("span", "tfh-runs");
    for (const [r, run] of runs.entries()) {
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
    this.canvas.addEventListener("mousemove", (e) => this.hover(e));
    this.canvas.addEventListener("mouseleave", () => (this.tip.style.display = "none"));
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
    this.stats = el("div", "tfh-stats");
    this.probe = el("canvas", "tfh-probe");
    this.main.append(this.bar, this.title, this.plot, this.slide, this.stats, this.probe);
    this.body.append(this.side, this.main);
    this.root.append(this.top, this.notes, this.body);
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
    const tabKey = kinds.join(",") + "|" + kind;
    if (tabKey !== this.tabKey) {
      this.tabKey = tabKey;
      this.tabs.replaceChildren(...kinds.map((k) => {
        const b = el("button", "tfh-tab" + (k === kind ? " tfh-on" : ""), TITLES[k]);
        b.dataset.kind = k;
        b.addEventListener("click", () => this.set({ kind: k, step: -1 }));
        return b;
      }));
    }
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
    this.hit = null;
    this.legend.textContent = "";
    if (view === "heatmap") this.drawHeatmaps(width, t, drawn);
    else if (view === "distribution") this.drawBands(width, t, drawn);
    else this.drawOverlay(width, t, snaps, drawn);
    this.canvas.dataset.drawn = JSON.stringify(drawn);
    this.drawScores(width, t);
    if (this.root.dataset.firstDrawMs === undefined) this.root.dataset.firstDrawMs = (performance.now() - this.born).toFixed(1);
  }

  /** Every run's snapshot at the compared step, as the outline of its density. */
  drawOverlay(W, t, snaps, drawn) {
    const Hh = 300;
    const ctx = sizeCanvas(this.canvas, W, Hh);
    const box = { l: 62, t: 10, w: W - 62 - 20, h: Hh - 40 };
    const [lo, hi] = valueRange(snaps);
    const dens = snaps.map(density);
    let ymax = 0;
    for (const d of dens) for (const v of d) ymax = Math.max(ymax, v);
    ymax = ymax || 1;
    const { X, Y } = axes(ctx, box, lo, hi, 0, ymax * 1.05, { yLabel: "density" });
    ctx.save();
    ctx.beginPath();
    ctx.rect(box.l, box.t - 2, box.w, box.h + 2);
    ctx.clip();
    snaps.forEach((p, r) => {
      if (!(p.finite > 0)) return;
      ctx.strokeStyle = this.cmp.runs[r].color;
      ctx.lineWidth = 2;
      ctx.beginPath();
      ctx.moveTo(X(p.edges[0]), Y(0));
      for (let b = 0; b < p.counts.length; b++) {
        const y = Y(dens[r][b]);
        ctx.lineTo(X(p.edges[b]), y);
        ctx.lineTo(X(p.edges[b + 1]), y);
      }
      ctx.lineTo(X(p.edges[p.edges.length - 1]), Y(0));
      ctx.stroke();
    });
    ctx.restore();
    const bad = snaps.map((p, r) => [r, p.nan + p.posinf + p.neginf]).filter(([, n]) => n > 0);
    this.legend.textContent = "Each run's snapshot at this compared step, drawn from its own exact bins as a density (count / values / bin width), so runs with other bins compare." +
      (bad.length ? " NaN/Inf: " + bad.map(([r, n]) => `${n} in ${this.cmp.runs[r].label}`).join(", ") + "." : "");
    this.hit = (mx) => {
      const v = lo + ((mx - box.l) / box.w) * (hi - lo);
      const parts = snaps.map((p, r) => {
        let d = 0;
        for (let b = 0; b < p.counts.length; b++) if (p.edges[b] <= v && v < p.edges[b + 1]) d = dens[r][b];
        return `${this.cmp.runs[r].label} ${fmt(d)}`;
      });
      return { text: `at ${fmt(v)}: density ` + parts.join(" · ") };
    };
    drawn.range = [lo, hi];
    drawn.lines = snaps.map((p, r) => ({ run: r, color: this.cmp.runs[r].color, edges: Array.from(p.edges), density: Array.from(dens[r]), counts: Array.from(p.counts) }));
  }

  /** A heatmap per run, side by side, on one value grid and one colour scale. */
  drawHeatmaps(W, t, drawn) {
    const R = t.series.length;
    const Hh = 300;
    const ctx = sizeCanvas(this.canvas, W, Hh);
    const all = t.series.flatMap((s) => s.snaps.slice(0, t.n));
    const [y0, y1] = valueRange(all);
    const G = 64;
    const grid = Float64Array.from({ length: G + 1 }, (_, g) => y0 + ((y1 - y0) * g) / G);
    const gap = 14, left = 62;
    const pw = (W - left - 10 - gap * (R - 1)) / R;
    const cols = t.series.map((s) => s.snaps.slice(0, t.n).map((p) => {
      const tt = total(p);
      return tt > 0 ? rebin(p.edges, p.counts, grid).map((v) => v / tt) : new Float64Array(G);
    }));
    let vmax = 0;
    for (const c of cols) for (const col of c) for (const v of col) vmax = Math.max(vmax, v);
    const cv = (v) => Math.log10(1 + 1000 * v) / Math.log10(1 + 1000 * (vmax || 1));
    const steps = this.steps(t);
    const panels = [];
    for (let r = 0; r < R; r++) {
      const box = { l: left + r * (pw + gap), t: 22, w: pw, h: Hh - 22 - 32 };
      const ticks = [[0, String(steps[0])], [t.n - 1, String(steps[t.n - 1])]];
      const { Y } = axes(ctx, box, 0, Math.max(1, t.n), y0, y1, { xTicks: ticks.map(([i, l]) => [i + 0.5, l]), yTicks: r ? [] : undefined, yLabel: r ? "" : "value" });
      const cw = box.w / t.n;
      ctx.fillStyle = ramp(0);
      ctx.fillRect(box.l + 1, box.t, box.w - 1, box.h);
      cols[r].forEach((col, j) => {
        for (let g = 0; g < G; g++) {
          if (col[g] <= 0) continue;
          ctx.fillStyle = ramp(cv(col[g]));
          const ya = Y(grid[g + 1]), yb = Y(grid[g]);
          ctx.fillRect(box.l + j * cw, ya, cw + 0.5, Math.max(1, yb - ya + 0.5));
        }
      });
      ctx.strokeStyle = "#0af";
      ctx.lineWidth = 1.5;
      ctx.strokeRect(box.l + t.j * cw, box.t, Math.max(2, cw), box.h);
      ctx.fillStyle = this.cmp.runs[r].color;
      ctx.font = "bold 12px sans-serif";
      ctx.textAlign = "left";
      ctx.textBaseline = "top";
      ctx.fillText(this.cmp.runs[r].label, box.l + 2, 3);
      ctx.font = "11px sans-serif";
      panels.push({ run: r, box: [box.l, box.t, box.w, box.h] });
    }
    this.legend.textContent = `A heatmap per run, side by side: each column one compared step (${fmt(steps[0])} to ${fmt(steps[t.n - 1])}), re-binned onto one value grid (mass conserved); colour is the share of the snapshot's finite values (log; one scale for all runs, largest ${pct(vmax)}); blue frame: the selected step.`;
    this.hit = (mx, my) => {
      const p = panels.find((q) => mx >= q.box[0] && mx < q.box[0] + q.box[2] && my >= q.box[1] && my < q.box[1] + q.box[3]);
      if (!p) return null;
      const j = Math.floor(((mx - p.box[0]) / p.box[2]) * t.n), g = Math.floor(((p.box[1] + p.box[3] - my) / p.box[3]) * G);
      if (j < 0 || j >= t.n || g < 0 || g >= G) return null;
      const s = t.series[p.run].snaps[j];
      return { text: `${this.cmp.runs[p.run].label}, step ${s.step}: [${fmt(grid[g])}, ${fmt(grid[g + 1])})  ${pct(cols[p.run][j][g])} of its values` };
    };
    Object.assign(drawn, { panels, grid: [y0, y1], vmax, columns: cols.map((c) => c.length) });
  }

  /** Percentile bands of every run over the compared steps, one colour each, the median a line. */
  drawBands(W, t, drawn) {
    const Hh = 300;
    const ctx = sizeCanvas(this.canvas, W, Hh);
    const box = { l: 62, t: 10, w: W - 62 - 20, h: Hh - 45 };
    const steps = this.steps(t);
    const ps = t.series.map((s) => s.snaps.slice(0, t.n).map((p) => (p.finite > 0 ? percentiles(p.edges, p.counts, p.min, p.max) : PERCENTILES.map(() => NaN))));
    let lo = Infinity, hi = -Infinity;
    for (const run of ps) for (const q of run) for (const v of q) if (Number.isFinite(v)) (lo = Math.min(lo, v)), (hi = Math.max(hi, v));
    [lo, hi] = frame(lo, hi);
    const pad = 0.04 * (hi - lo);
    const x0 = steps[0], x1 = steps.length > 1 ? steps[steps.length - 1] : steps[0] + 1;
    const { X, Y } = axes(ctx, box, x0, x1, lo - pad, hi + pad, { yLabel: "value", xLabel: "step" });
    ps.forEach((run, r) => {
      const color = this.cmp.runs[r].color;
      for (const [k, alpha] of [[1, 0.15], [2, 0.25]]) { // 6.68–93.32 and 15.87–84.13 percentiles
        ctx.fillStyle = color;
        ctx.globalAlpha = alpha;
        ctx.beginPath();
        let on = false;
        for (let j = 0; j < run.length; j++) if (Number.isFinite(run[j][k])) (on ? ctx.lineTo(X(steps[j]), Y(run[j][k])) : ctx.moveTo(X(steps[j]), Y(run[j][k]))), (on = true);
        for (let j = run.length - 1; j >= 0; j--) if (Number.isFinite(run[j][8 - k])) ctx.lineTo(X(steps[j]), Y(run[j][8 - k]));
        ctx.closePath();
        ctx.fill();
      }
      ctx.globalAlpha = 1;
      ctx.strokeStyle = color;
      ctx.lineWidth = 2;
      ctx.beginPath();
      let on = false;
      run.forEach((q, j) => {
        if (!Number.isFinite(q[4])) return void (on = false);
        on ? ctx.lineTo(X(steps[j]), Y(q[4])) : ctx.moveTo(X(steps[j]), Y(q[4]));
        on = true;
      });
      ctx.stroke();
    });
    const xs = X(steps[t.j]);
    ctx.strokeStyle = "#0af";
    ctx.lineWidth = 1;
    ctx.beginPath();
    ctx.moveTo(xs, box.t);
    ctx.lineTo(xs, box.t + box.h);
    ctx.stroke();
    this.legend.textContent = "Each run's distribution over the compared steps, read off its exact bins: the median (line), the 15.9–84.1 and 6.7–93.3 percentile bands (±1σ, ±1.5σ of a normal), one colour per run; blue: the selected step.";
    this.hit = (mx) => {
      const v = x0 + ((mx - box.l) / box.w) * (x1 - x0);
      let j = 0;
      for (let k = 0; k < steps.length; k++) if (Math.abs(steps[k] - v) < Math.abs(steps[j] - v)) j = k;
      return { text: `step ${steps[j]}: median ` + ps.map((run, r) => `${this.cmp.runs[r].label} ${fmt(run[j][4])}`).join(" · ") };
    };
    Object.assign(drawn, { x: steps, medians: ps.map((run) => run.map((q) => (Number.isFinite(q[4]) ? q[4] : null))) });
  }

  /** The tensor's score at each compared step, under the plot. */
  drawScores(W, t) {
    const c = this.store.scalar(`score.${t.kind}`, t.name);
    if (!c || !c.steps.length) return void (this.probe.style.display = "none");
    this.probe.style.display = "";
    const Hh = 90;
    const ctx = sizeCanvas(this.probe, W, Hh);
    const box = { l: 62, t: 14, w: W - 62 - 20, h: Hh - 34 };
    const xs = c.steps, ys = c.values;
    let top = 0;
    for (const v of ys) if (Number.isFinite(v)) top = Math.max(top, v);
    const x1 = xs.length > 1 ? xs[xs.length - 1] : xs[0] + 1;
    const { X, Y } = axes(ctx, box, xs[0], x1, 0, (top || 1) * 1.1, { yTicks: [[0, "0"], [top || 1, fmt(top || 1)]] });
    ctx.strokeStyle = "#555";
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    let on = false;
    xs.forEach((x, j) => {
      if (!Number.isFinite(ys[j])) return void (on = false);
      on ? ctx.lineTo(X(x), Y(ys[j])) : ctx.moveTo(X(x), Y(ys[j]));
      on = true;
    });
    ctx.stroke();
    if (t.j < xs.length && Number.isFinite(ys[t.j])) {
      ctx.fillStyle = "#0af";
      ctx.beginPath();
      ctx.arc(X(xs[t.j]), Y(ys[t.j]), 3.5, 0, 2 * Math.PI);
      ctx.fill();
    }
    ctx.fillStyle = "#444";
    ctx.textAlign = "left";
    ctx.textBaseline = "top";
    ctx.fillText("score at each compared step (W1 / pooled std)", box.l + 4, 1);
  }

  hover(e) {
    if (!this.hit) return;
    const r = this.canvas.getBoundingClientRect();
    const mx = e.clientX - r.left, my = e.clientY - r.top;
    const got = this.hit(mx, my);
    if (!got) return void (this.tip.style.display = "none");
    this.tip.textContent = got.text;
    this.tip.style.display = "block";
    this.tip.style.left = Math.min(mx + 12, r.width - 320) + "px";
    this.tip.style.top = my + 12 + "px";
  }
}
