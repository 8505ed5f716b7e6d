// "all tensors": a tile per tensor, sorted by a statistic (the most unusual first), drawn only while on screen.

import { COLORS } from "./constants.js";
import { THEME, el, mark, ramp, sizeCanvas } from "./draw.js";
import { fmt, rebin, statOf, total, valueRange } from "./numbers.js";
import { yOf } from "./views/snapshot.js";

/** What "all tensors" can sort and filter by: [key, label, kinds it applies to (null: all)]. */
export const GRID_SORTS = [
  ["order", "model order", null],
  ["nonfinite", "NaN/Inf count", null],
  ["update_ratio", "update ratio (farthest from 1e-3)", ["weights"]],
  ["norm_change", "norm change since the first step", null],
  ["dead", "dead share", ["activations"]],
];

/** One statistic of Series `s` from what every page holds (its latest snapshot, the
 * latest value of its scalar series): `{value, score, unusual, label}`, a higher score
 * being more unusual (NaN: not measured, sorted last). */
export function gridStat(store, s, key) {
  const last = s.snaps[s.snaps.length - 1];
  const th = (store.header && store.header.thresholds) || {};
  const latest = (m) => {
    const c = store.scalar(m, s.name);
    return c && c.values.length ? c.values[c.values.length - 1] : NaN;
  };
  if (key === "nonfinite") {
    const v = last.nan + last.posinf + last.neginf;
    return { value: v, score: v, unusual: v > 0, label: v ? `${v} NaN/Inf` : "no NaN/Inf" };
  }
  if (key === "update_ratio") {
    const v = latest("update_ratio");
    const [lo, hi] = th.update_ratio || [1e-5, 0.1];
    // a zero ratio (no update at all) is as far off as it gets on a log scale
    const score = v > 0 ? Math.abs(Math.log10(v / 1e-3)) : v === 0 ? 99 : NaN;
    return { value: v, score, unusual: v === 0 || v < lo || v > hi, label: Number.isFinite(v) ? `ratio ${fmt(v)}` : "no ratio" };
  }
  if (key === "norm_change") {
    const v = statOf(last, "norm") / s.norm0;
    const ok = Number.isFinite(v) && v > 0;
    return { value: v, score: ok ? Math.abs(Math.log10(v)) : NaN, unusual: ok && (v > 10 || v < 0.1), label: ok ? `norm ×${fmt(v)}` : "norm: —" };
  }
  if (key === "dead") {
    const v = latest("dead_units");
    return { value: v, score: v, unusual: v >= (th.dead_units ?? 0.9), label: Number.isFinite(v) ? `dead ${(100 * v).toFixed(0)}%` : "not measured" };
  }
  return { value: NaN, score: NaN, unusual: false, label: "" };
}

/** `list` ordered for "all tensors": the most unusual first by `key` (model order breaks
 * ties; NaN last), only the unusual ones if `unusual`. Returns [[s, stat]]. */
export function sortTiles(store, list, key, unusual = false) {
  let out = list.map((s, i) => [s, gridStat(store, s, key), i]);
  if (key === "order") return out.map(([s, st]) => [s, st]);
  if (unusual) out = out.filter(([, st]) => st.unusual);
  const sc = (st) => (Number.isNaN(st.score) ? -Infinity : st.score);
  out.sort((a, b) => sc(b[1]) - sc(a[1]) || a[2] - b[2]);
  return out.map(([s, st]) => [s, st]);
}

/** "all tensors" in `grid` (an element): a tile per tensor of the kind, the width's worth
 * of columns, ordered by a statistic (the most unusual first); a tile is drawn only while
 * it is on screen and let go when it leaves. `store`: the page's data; `open(name)`: a
 * tile clicked; `showing()`: whether the grid is the view shown; `root`: where it says how
 * many tiles it holds and drew. */
export class Tiles {
  constructor(grid, { root, store, open, showing }) {
    Object.assign(this, { grid, root, store, open, showing, opts: {}, draws: 0 });
    this.tiles = new Map(); // Series id -> its tile
    this.visible = new Set(); // tiles on screen (drawn)
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
      this.wantHistories();
    }, { root: grid, rootMargin: "120px 0px" });
  }

  destroy() {
    this.seen.disconnect();
    this.tiles.clear();
    this.visible.clear();
  }

  /** The tiles of `list` (one kind, filtered by `q`) by `opts` (gridSort, gridUnusual,
   * gridHeat, log), with `badges`. Returns the legend. */
  show({ kind, list, q, opts, badges }) {
    this.opts = opts;
    const sorted = sortTiles(this.store, list, opts.gridSort, opts.gridUnusual && opts.gridSort !== "order");
    const order = sorted.map(([s, st]) => this.tile(s, st, kind, badges));
    const key = [kind, opts.gridSort, opts.gridUnusual, q, ...order.map((t) => t.dataset.id)].join("\n");
    if (key !== this.key) {
      this.key = key;
      this.grid.replaceChildren(...order);
      if (!order.length) this.grid.append(el("div", "tfh-none", "no tensor matches"));
      this.drawOnScreen(order); // now, not a frame later when the observer says so
    } else for (const t of this.visible) if (t.isConnected) this.drawTile(t); // new data: redraw what is on screen
    this.root.dataset.tiles = order.length;
    this.root.dataset.drawnTiles = this.visible.size;
    this.wantHistories();
    return `${order.length} tensors` + (opts.gridSort === "order" ? " in model order" : `, the most unusual ${GRID_SORTS.find(([k]) => k === opts.gridSort)[1]} first`) +
      (opts.gridHeat ? "; each tile a compact heatmap of its kept snapshots" : "; each tile the latest snapshot") + ". Click one to open it.";
  }

  /** Series `s`'s tile (made once), its name, mark and statistic `st` brought up to date. */
  tile(s, st, kind, badges) {
    let t = this.tiles.get(s.id);
    if (!t) {
      t = el("div", "tfh-tile");
      t.dataset.id = s.id;
      t.dataset.name = s.name;
      t.title = `${s.name}: click to open`;
      t.head = el("div", "tfh-tile-name");
      t.stat = el("div", "tfh-tile-stat");
      t.append(t.head, t.stat);
      t.addEventListener("click", () => this.open(s.name));
      this.tiles.set(s.id, t);
      this.seen.observe(t);
    }
    const short = s.name.length > 30 ? "…" + s.name.slice(-29) : s.name; // the end of a path says most
    const b = badges.get(kind + "\t" + s.name);
    t.head.replaceChildren(...(b ? [mark(b.severity)] : []), short);
    t.stat.textContent = this.opts.gridSort === "order" ? "" : st.label;
    t.stat.classList.toggle("tfh-bad", !!st.unusual);
    t.dataset.value = Number.isFinite(st.value) ? st.value : "";
    return t;
  }

  /** Draw the tiles on screen (in `order`, just laid out), from the top until one is below it. */
  drawOnScreen(order) {
    const box = this.grid.getBoundingClientRect();
    if (!box.height) return;
    for (const t of order) {
      const r = t.getBoundingClientRect();
      if (r.top > box.bottom + 120) break;
      if (r.bottom >= box.top - 120) {
        this.visible.add(t);
        this.drawTile(t);
      }
    }
  }

  drawTile(tile) {
    const s = this.store.series.get(+tile.dataset.id);
    if (!s || !s.snaps.length || !this.showing()) return;
    let c = tile.querySelector("canvas");
    if (!c) tile.append((c = el("canvas")));
    const w = Math.max(120, tile.clientWidth - 6), h = 80;
    const ctx = sizeCanvas(c, w, h);
    const p = s.snaps[s.snaps.length - 1];
    const bars = this.opts.gridHeat && s.snaps.length > 1 ? heatTile(ctx, w, h, s) : barTile(ctx, w, h, p, COLORS[s.kind], this.opts.log);
    if (p.nan + p.posinf + p.neginf > 0) {
      ctx.fillStyle = THEME.error;
      ctx.font = "10px sans-serif";
      ctx.textAlign = "center";
      ctx.fillText(`${p.nan + p.posinf + p.neginf} NaN/Inf`, w / 2, 14);
    }
    tile.dataset.drawn = "1";
    tile.dataset.bars = JSON.stringify(bars); // what was drawn: [x, width, height] of each non-empty bin
    this.draws++;
    this.root.dataset.tileDraws = this.draws;
  }

  /** Heatmap tiles need their Series' kept snapshots: ask for those on screen, at once. */
  wantHistories() {
    if (!this.opts.gridHeat || !this.showing()) return;
    const need = [...this.visible].map((t) => this.store.series.get(+t.dataset.id)).filter(Boolean);
    if (need.length) this.store.wantHistory(need);
  }
}

/** A compact heatmap of the kept snapshots of `s`. Returns no bars. */
function heatTile(ctx, w, h, s) {
  const [y0, y1] = valueRange(s.snaps);
  const G = 24, grid = Float64Array.from({ length: G + 1 }, (_, j) => y0 + ((y1 - y0) * j) / G);
  const cw = w / s.snaps.length;
  s.snaps.forEach((r, j) => {
    if (!(r.finite > 0)) return;
    const m = rebin(r.edges, r.counts, grid), t = total(r);
    for (let g = 0; g < G; g++) {
      ctx.fillStyle = ramp(Math.log10(1 + (1000 * m[g]) / t) / 3);
      ctx.fillRect(j * cw, h - ((g + 1) * h) / G, cw + 0.5, h / G + 0.5);
    }
  });
  return [];
}

/** Snapshot `p`'s bins as bars in `color` (log: log counts), its range at the top. Returns
 * [x, width, height] of each bar drawn. */
function barTile(ctx, w, h, p, color, log) {
  const bars = [];
  let ymax = 1;
  for (const v of p.counts) ymax = Math.max(ymax, v);
  const [x0, x1] = valueRange([p]); // one value (bins of no width) framed around it
  ctx.fillStyle = color;
  for (let b = 0; b < p.counts.length; b++) {
    if (!(p.counts[b] > 0)) continue;
    const xa = ((p.edges[b] - x0) / (x1 - x0)) * w, xb = ((p.edges[b + 1] - x0) / (x1 - x0)) * w;
    const hh = Math.max(1, (yOf(p.counts[b], log) / yOf(ymax, log)) * (h - 14));
    const bw = Math.max(2, xb - xa);
    ctx.fillRect(Math.min(xa, w - bw), h - hh, bw, hh);
    bars.push([+Math.min(xa, w - bw).toFixed(2), +bw.toFixed(2), +hh.toFixed(2)]);
  }
  ctx.fillStyle = THEME.fg;
  ctx.font = "9px sans-serif";
  ctx.textBaseline = "top";
  ctx.textAlign = "left";
  ctx.fillText(fmt(x0), 1, 1);
  ctx.textAlign = "right";
  ctx.fillText(fmt(x1), w - 1, 1);
  return bars;
}
