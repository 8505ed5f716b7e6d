// What the page holds of the Recording, fed by packets (Store), and a widget model's stand-in where there is no kernel (localModel).

import { binEdges, decode } from "./codec.js";
import { EXTRA, KINDS, MAX, MEAN, MIN, NAN, NEGINF, NORM, POSINF, SCALARS, STATS, STD, ZEROS } from "./constants.js";
import { statOf } from "./numbers.js";

/** The snapshots of one Series entry of a packet. */
export function snapsOf(p, B) {
  const out = [];
  for (let i = 0; i < p.n; i++) {
    const x = (k) => p.extra[i * EXTRA + k];
    const counts = p.counts.subarray(i * B, (i + 1) * B);
    let finite = 0;
    for (const c of counts) finite += c;
    out.push({
      step: p.steps[i], epoch: p.epochs[i], wall: p.wall[i], counts, finite,
      edges: p.explicit ? p.lwh.slice(i * (B + 1), (i + 1) * (B + 1)) : binEdges(p.lwh[3 * i], p.lwh[3 * i + 1], p.lwh[3 * i + 2], B, p.dtype),
      nan: x(NAN), posinf: x(POSINF), neginf: x(NEGINF), zeros: x(ZEROS),
      min: x(MIN), max: x(MAX), mean: x(MEAN), std: x(STD), norm: x(NORM),
    });
  }
  return out;
}

/** What a change addressed by step leaves of a sorted list: only the steps in `keep`
 * (when given: the Recording thinned), none after step `after` (null: none at all). */
export function cut(list, after, keep, stepOf) {
  if (after === null || after === undefined) return [];
  if (keep) {
    const k = new Set(keep);
    list = list.filter((x) => k.has(stepOf(x)));
  }
  let n = list.length;
  while (n && stepOf(list[n - 1]) > after) n--;
  list.length = n;
  return list;
}

/** Apply a change to a scalar series `c` ({steps, values, kept}). */
export function mergeTrack(c, after, keep, steps, values, kept) {
  const pairs = cut(c.steps.map((st, i) => [st, c.values[i]]), after, keep, (p) => p[0]);
  c.steps = pairs.map((p) => p[0]);
  c.values = pairs.map((p) => p[1]);
  for (let i = 0; i < steps.length; i++) {
    c.steps.push(steps[i]);
    c.values.push(values[i]);
  }
  c.kept = kept;
}

/** Where the Store keeps a scalar series: by metric and name, and by run past the first
 * (a comparison's packet carries every run's). */
function trackKey(metric, name, run) {
  return metric + "\t" + name + (run ? "\t" + run : "");
}

/** What the page holds of the Recording, fed by packets: every Series (its `kept` count
 * and the snapshots the page has: the latest at least, all of them once fetched or
 * followed live), the scalar series, the header (findings, notes, state). A change is
 * addressed by step (`after`, `keep`: see Recording.changes), so a Series that holds only
 * some snapshots stays a subset of what the Recording keeps, and one that holds all
 * keeps all. `ask` sends a request to the kernel (answered when it is idle). */
export class Store {
  constructor(ask = null) {
    this.series = new Map();
    this.scalars = new Map(); // metric \t name (\t run, past the first) -> { steps: [], values: [], kept }
    this.header = null;
    this.seq = -1;
    this.listeners = new Set();
    this.stale = false;
    this.ask = ask;
    this.asked = new Map(); // what was asked for and not answered yet -> when
    this.timing = null; // the last packet: bytes, ms to decode and apply
    this.fullTiming = null; // the last full packet's
  }
  /** Decode and apply one packet, timing it. */
  receive(data) {
    const t0 = performance.now();
    const h = decode(data);
    const t1 = performance.now();
    this.apply(h);
    this.timing = { bytes: h.bytes, decode: t1 - t0, apply: performance.now() - t1, what: h.full ? "full" : h.history ? h.want : "delta" };
    if (h.full) this.fullTiming = this.timing;
    return h;
  }
  apply(header) {
    header.receivedAt = performance.now();
    if (header.history) { // an answer: newer than every packet before it, whatever their number
      for (const p of header.series) this.asked.delete(`series\t${p.kind}\t${p.name}`);
      for (const m of header.metrics || []) this.asked.delete(`depth\t${header.kind}\t${m}`);
    } else if (header.full) {
      const inSync = this.header && !this.stale && header.seq === this.seq;
      this.header = header;
      if (inSync) return this.changed(); // it holds all this says, and more: keep it
      this.series = new Map();
      this.scalars = new Map();
      this.asked = new Map();
      this.seq = header.seq;
      this.stale = false;
    } else {
      if (header.seq <= this.seq) return; // already in the full data
      if (header.seq !== this.seq + 1) this.stale = true; // a missed update: ask for everything (answered when the kernel is idle)
      this.seq = header.seq;
      this.header = header;
    }
    for (const p of header.series) this.mergeSeries(p, header.bins);
    for (const p of header.scalars || []) {
      const key = trackKey(p.metric, p.name, p.run);
      let c = this.scalars.get(key);
      if (!c) this.scalars.set(key, (c = { steps: [], values: [], kept: 0 }));
      mergeTrack(c, p.after, p.keep, p.steps, p.values, p.kept);
    }
    this.changed();
  }
  mergeSeries(p, bins) {
    const B = p.bins || bins;
    let s = this.series.get(p.id);
    if (!s) {
      s = { id: p.id, kind: p.kind, name: p.name, dtype: p.dtype, bins: B, snaps: [], kept: 0, norm0: NaN, explicit: !!p.explicit, run: p.run || 0 };
      this.series.set(p.id, s);
    }
    const add = snapsOf(p, B);
    s.snaps = cut(s.snaps, p.after, p.keep, (x) => x.step);
    for (const x of add) s.snaps.push(x);
    s.kept = p.kept;
    if (p.recorded !== undefined) s.recorded = p.recorded; // a saved copy: how many the Recording kept
    if ("norm0" in p) s.norm0 = p.norm0 === null ? NaN : p.norm0;
    else if (p.after === null && add.length) s.norm0 = statOf(add[0], "norm");
    for (const stat of STATS) { // a statistic fetched for the depth view follows the rows
      const c = this.scalars.get(`${s.kind}.${stat}\t${s.name}`);
      if (c) mergeTrack(c, p.after, p.keep, add.map((x) => x.step), add.map((x) => statOf(x, stat)), p.kept);
    }
  }
  changed() {
    for (const fn of this.listeners) fn();
  }
  /** The scalar series `metric` of `name` ({steps, values, kept}), of run `run` in a
   * comparison's packet; null when the page has none. */
  scalar(metric, name, run = 0) {
    return this.scalars.get(trackKey(metric, name, run)) || null;
  }
  kinds() {
    const have = new Set([...this.series.values()].filter((s) => s.snaps.length).map((s) => s.kind));
    return KINDS.filter((k) => have.has(k));
  }
  ofKind(kind) {
    return [...this.series.values()].filter((s) => s.kind === kind && s.snaps.length);
  }
  find(kind, name) {
    for (const s of this.series.values()) if (s.kind === kind && s.name === name && s.snaps.length) return s;
    return null;
  }
  /** Whether the page holds every snapshot the Recording keeps of `s`. */
  complete(s) {
    return s.snaps.length >= s.kept;
  }
  want(key, msg) {
    if (!this.ask || this.asked.has(key)) return false; // no kernel (a saved copy): nothing to wait for
    this.asked.set(key, performance.now());
    if (this.ask) this.ask(msg);
    return true;
  }
  /** After a packet from the kernel: when updates were missed (`stale`), ask for
   * everything, once until a full packet (`full`) answers. */
  catchUp(full) {
    if (full) this.asked.delete("full");
    else if (this.stale) this.want("full", { want: "full" });
  }
  /** Ask for the kept snapshots of those of `list` (one kind) the page lacks. */
  wantHistory(list) {
    if (!this.ask) return false;
    const need = list.filter((s) => !this.complete(s) && !this.asked.has(`series\t${s.kind}\t${s.name}`));
    if (!need.length) return false;
    for (const s of need) this.asked.set(`series\t${s.kind}\t${s.name}`, performance.now());
    if (this.ask) this.ask({ want: "series", kind: need[0].kind, names: need.map((s) => s.name) });
    return true;
  }
  /** One statistic of `s` over its steps for the depth view: a scalar series
   * (update_ratio, dead_units, saturation) or a statistic of its rows (norm, std, mean),
   * from the snapshots the page holds or, when it lacks some, from the fetched series.
   * `{steps, values, complete}`, or null when `s` has no such series. */
  depthTrack(s, metric) {
    if (SCALARS.includes(metric)) {
      const c = this.scalar(metric, s.name);
      return c && { steps: c.steps, values: c.values, complete: c.steps.length >= c.kept };
    }
    const c = this.scalar(`${s.kind}.${metric}`, s.name);
    if (this.complete(s) || !c) return { steps: s.snaps.map((x) => x.step), values: s.snaps.map((x) => statOf(x, metric)), complete: this.complete(s) };
    return { steps: c.steps, values: c.values, complete: c.steps.length >= c.kept };
  }
  /** Ask for `metric` of every Series of `list` (one kind) over its kept steps, unless
   * the page has all of it. */
  wantDepth(kind, metric, list) {
    if (list.every((s) => { const t = this.depthTrack(s, metric); return !t || t.complete; })) return false;
    return this.want(`depth\t${kind}\t${metric}`, { want: "depth", kind, metrics: [metric] });
  }
  /** Seconds since the header's status began (the kernel's clock, then the page's). */
  statusElapsed() {
    const h = this.header;
    if (!h || !h.status) return 0;
    return Math.max(0, (h.now || 0) - (h.status.since || h.now || 0) + (performance.now() - h.receivedAt) / 1000);
  }
}

/** A widget model's stand-in for a page with no kernel: the same get/set/on/off, the
 * changes applied at once (as Backbone does), nothing sent anywhere. */
export function localModel(state) {
  const handlers = new Map();
  return {
    get: (k) => state[k],
    set(k, v) {
      if (state[k] === v) return;
      state[k] = v;
      for (const fn of [...(handlers.get("change:" + k) || [])]) fn();
    },
    on(ev, fn) {
      if (!handlers.has(ev)) handlers.set(ev, new Set());
      handlers.get(ev).add(fn);
    },
    off(ev, fn) {
      handlers.get(ev)?.delete(fn);
    },
    save_changes() {},
    send() {},
    handlers,
  };
}
