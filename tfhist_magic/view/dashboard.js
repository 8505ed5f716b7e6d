// tfhist_magic dashboard: bundled by js/build.mjs from js/src/*.js (edit those, then
// `cd js && npm install && npm run build`). No imports, nothing from a CDN.
// sources: sha256 4d0ed7f6a5caf4867eb490dfb2f77fe9a119445a745301f6da243743593a4d63
var __defProp = Object.defineProperty;
var __export = (target, all) => {
  for (var name in all)
    __defProp(target, name, { get: all[name], enumerable: true });
};

// src/constants.js
var constants_exports = {};
__export(constants_exports, {
  COLORS: () => COLORS,
  DEPTH: () => DEPTH,
  EXTRA: () => EXTRA,
  EXTRA_COLUMNS: () => EXTRA_COLUMNS,
  KINDS: () => KINDS,
  MAX: () => MAX,
  MEAN: () => MEAN,
  MIN: () => MIN,
  MODEL_SCALARS: () => MODEL_SCALARS,
  NAN: () => NAN,
  NEGINF: () => NEGINF,
  NORM: () => NORM,
  NORMS: () => NORMS,
  PERCENTILES: () => PERCENTILES,
  POSINF: () => POSINF,
  PROBES: () => PROBES,
  SCALARS: () => SCALARS,
  STATS: () => STATS,
  STD: () => STD,
  TITLES: () => TITLES,
  VIEWS: () => VIEWS,
  ZEROS: () => ZEROS
});

// ../tfhist_magic/constants.json
var constants_default = {
  _about: "The names Python and the page share: one source. tfhist_magic/constants.py reads this file; js/src/constants.js imports it (esbuild inlines it into the bundle); tests/test_constants.py checks both sides.",
  KINDS: ["activations", "weights", "grads"],
  TITLES: { activations: "Activations", weights: "Weights", grads: "Gradients" },
  COLORS: { activations: "#2a9d8f", weights: "#e76f51", grads: "#457b9d" },
  EXTRA_COLUMNS: ["nan", "posinf", "neginf", "zeros", "min", "max", "mean", "std", "norm", "width"],
  PERCENTILES: [0, 6.68, 15.87, 30.85, 50, 69.15, 84.13, 93.32, 100],
  SCALARS: ["update_ratio", "update_norm", "init_distance", "dead_units", "saturation", "grad_norm"],
  MODEL_SCALARS: ["grad_norm"],
  PROBES: { activations: ["dead_units", "saturation"], weights: ["update_ratio", "update_norm", "init_distance"] },
  STATS: ["norm", "std", "mean"]
};

// src/constants.js
var KINDS = constants_default.KINDS;
var TITLES = constants_default.TITLES;
var COLORS = constants_default.COLORS;
var EXTRA_COLUMNS = constants_default.EXTRA_COLUMNS;
var EXTRA = EXTRA_COLUMNS.length;
var [NAN, POSINF, NEGINF, ZEROS, MIN, MAX, MEAN, STD, NORM] = ["nan", "posinf", "neginf", "zeros", "min", "max", "mean", "std", "norm"].map((c) => EXTRA_COLUMNS.indexOf(c));
var PERCENTILES = constants_default.PERCENTILES;
var SCALARS = constants_default.SCALARS;
var MODEL_SCALARS = constants_default.MODEL_SCALARS;
var STATS = constants_default.STATS;
var VIEWS = [
  ["step", "step"],
  ["overlay", "overlay"],
  ["offset", "offset"],
  ["heatmap", "heatmap"],
  ["distribution", "distribution"],
  ["grid", "all tensors"],
  ["depth", "depth \xD7 step"]
];
var LOOK = {
  update_ratio: ["update / weight ratio, std(\u0394w) / std(w)", "probe", true],
  dead_units: ["dead units: zero on the whole batch", "probe", false],
  saturation: ["saturated: within 0.03 of the bounds", "probe", false],
  update_norm: ["update norm \u2016\u0394w\u2016", "norms", true],
  init_distance: ["distance from init \u2016w \u2212 w\u2080\u2016", "norms", true],
  grad_norm: ["global gradient norm of the model's update", "norms", true]
};
var under = (kind) => [...constants_default.PROBES[kind] || [], ...kind === "grads" ? MODEL_SCALARS : []];
var strip = (name, entry) => Object.fromEntries(KINDS.map((k) => [k, under(k).filter((m) => LOOK[m][1] === name).map((m) => entry(m, LOOK[m]))]).filter(([, v]) => v.length));
var PROBES = strip("probe", (m, [label, , log]) => [m, label, log]);
var NORMS = strip("norms", (m, [label]) => [m, label, MODEL_SCALARS.includes(m) ? "model" : "tensor"]);
var DEPTH = {
  grads: [["norm", "gradient norm", "log"]],
  weights: [["update_ratio", "update ratio", "log"], ["norm", "weight norm", "log"]],
  activations: [["std", "activation std", "log"], ["dead_units", "dead share", "linear"]]
};

// src/codec.js
var LIMITS = {
  f4: { round: Math.fround, tiny: 2 ** -126, max: 34028234663852886e22, huge: 2 ** (24 + 40) },
  f8: { round: (x) => x, tiny: 22250738585072014e-324, max: Number.MAX_VALUE, huge: 2 ** (53 + 40) }
};
function binEdges(lo, w, hi, B, dtype) {
  const c = dtype === "float64" ? LIMITS.f8 : LIMITS.f4;
  const r = c.round;
  const e = new Float64Array(B + 1);
  const quarter = w > c.huge;
  for (let i = 0; i <= B; i++) {
    let v = i === 0 ? lo : quarter ? r(r(r(lo * 0.25) + r(i * r(w * 0.25))) * 4) : r(lo + r(i * w));
    v = Math.min(v, c.max);
    if (i < B && Math.abs(v) < c.tiny) v = -c.tiny;
    if (i === B) v = Math.max(v, hi);
    e[i] = v;
  }
  return e;
}
var ARRAYS = ["steps", "epochs", "wall", "counts", "extra", "lwh", "keep"];
var TRACK_ARRAYS = ["steps", "values", "keep"];
function decode(data) {
  const buf = data instanceof ArrayBuffer ? data : data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength);
  const bytes = new Uint8Array(buf);
  if (String.fromCharCode(...bytes.slice(0, 4)) !== "TFH1") throw new Error("not a tfhist packet");
  const n = new DataView(buf).getUint32(4, true);
  const header = JSON.parse(new TextDecoder().decode(bytes.slice(8, 8 + n)));
  let at = 8 + n;
  const flat = header.layout.map(([dt, size]) => {
    const a = dt === "u4" ? new Uint32Array(buf, at, size) : new Float64Array(buf, at, size);
    at += a.byteLength + (8 - a.byteLength % 8) % 8;
    return a;
  });
  const reader = (names, arrays) => {
    const at2 = Object.fromEntries(names.map((k) => [k, 0]));
    return (key, size) => arrays[names.indexOf(key)].subarray(at2[key], at2[key] += size);
  };
  const take = reader(ARRAYS, flat.slice(0, ARRAYS.length));
  for (const s of header.series) {
    const B = s.bins || header.bins, k = s.n;
    s.steps = take("steps", k);
    s.epochs = take("epochs", k);
    s.wall = take("wall", k);
    s.counts = take("counts", k * B);
    s.extra = take("extra", k * EXTRA);
    s.lwh = take("lwh", k * (s.explicit ? B + 1 : 3));
    s.keep = s.nkeep ? take("keep", s.nkeep) : null;
  }
  const track = reader(TRACK_ARRAYS, flat.slice(ARRAYS.length));
  for (const c of header.scalars || []) {
    c.steps = track("steps", c.n);
    c.values = track("values", c.n);
    c.keep = c.nkeep ? track("keep", c.nkeep) : null;
  }
  header.bytes = buf.byteLength;
  return header;
}

// src/numbers.js
function valueRange(snaps) {
  let lo = Infinity, hi = -Infinity;
  for (const p of snaps) {
    if (!(p.finite > 0)) continue;
    lo = Math.min(lo, p.edges[0]);
    hi = Math.max(hi, p.edges[p.edges.length - 1]);
  }
  return frame(lo, hi);
}
function rebin(edges, counts, grid) {
  const B = counts.length;
  const cdf = new Float64Array(B + 1);
  for (let i = 0; i < B; i++) cdf[i + 1] = cdf[i] + counts[i];
  const total2 = cdf[B];
  const at = (x) => {
    if (x <= edges[0]) return x < edges[0] ? 0 : cdf[0];
    if (x >= edges[B]) return total2;
    let lo = 0, hi = B;
    while (hi - lo > 1) {
      const mid = lo + hi >> 1;
      if (edges[mid] <= x) lo = mid;
      else hi = mid;
    }
    const w = edges[lo + 1] - edges[lo];
    return w > 0 ? cdf[lo] + (x - edges[lo]) / w * (cdf[lo + 1] - cdf[lo]) : cdf[lo + 1];
  };
  const G = grid.length - 1;
  const out = new Float64Array(G);
  let prev = 0;
  for (let j = 0; j < G; j++) {
    const next = j === G - 1 ? total2 : at(grid[j + 1]);
    out[j] = next - prev;
    prev = next;
  }
  return out;
}
function percentiles(edges, counts, mn, mx, qs = PERCENTILES) {
  const B = counts.length;
  const cdf = new Float64Array(B + 1);
  for (let i = 0; i < B; i++) cdf[i + 1] = cdf[i] + counts[i];
  const total2 = cdf[B];
  return qs.map((q) => {
    if (!(total2 > 0)) return NaN;
    const t = q / 100 * total2;
    if (t <= 0) return mn;
    let lo = 0, hi = B;
    while (lo < hi) {
      const mid = lo + hi >> 1;
      if (cdf[mid + 1] >= t) hi = mid;
      else lo = mid + 1;
    }
    const i = Math.min(lo, B - 1);
    const v = edges[i] + (t - cdf[i]) / counts[i] * (edges[i + 1] - edges[i]);
    return Math.min(Math.max(v, mn), mx);
  });
}
function statOf(snap, key) {
  return ["min", "max", "mean", "std", "norm"].includes(key) && !(snap.finite > 0) ? NaN : snap[key];
}
function fmt(v) {
  if (!Number.isFinite(v)) return String(v);
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 1e5 || a < 1e-3) return v.toExponential(2).replace("e+", "e");
  return String(+v.toPrecision(4));
}
function fmtStat(v) {
  return v === null || v === void 0 || Number.isNaN(v) ? "\u2014" : fmt(v);
}
function pct(share) {
  if (!Number.isFinite(share)) return "\u2014";
  const v = 100 * share;
  if (v === 0) return "0%";
  return (Math.abs(v) >= 10 ? String(Math.round(v)) : String(+v.toPrecision(2))) + "%";
}
function frame(lo, hi) {
  if (!Number.isFinite(lo) && !Number.isFinite(hi)) return [-1, 1];
  if (!Number.isFinite(lo)) lo = hi;
  if (!Number.isFinite(hi)) hi = lo;
  if (hi > lo) return [lo, hi];
  const pad = lo === 0 ? 0.5 : Math.abs(lo) * 0.1;
  return [lo - pad, hi + pad];
}
function spaced(at, gap, must = []) {
  const taken = [];
  const chosen = /* @__PURE__ */ new Set();
  const take = (i) => {
    if (chosen.has(i) || !Number.isFinite(at[i]) || taken.some((y) => Math.abs(y - at[i]) < gap)) return;
    taken.push(at[i]);
    chosen.add(i);
  };
  for (const i of must) take(i);
  for (let i = 0; i < at.length; i++) take(i);
  return [...chosen].sort((a, b) => a - b);
}
function niceTicks(lo, hi, n = 5) {
  if (!(hi > lo)) return [lo];
  const p = Math.pow(10, Math.floor(Math.log10((hi - lo) / n)));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * p).reduce((a, b) => Math.abs((hi - lo) / b - n) < Math.abs((hi - lo) / a - n) ? b : a);
  const out = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) out.push(Math.abs(t) < step * 1e-9 ? 0 : +t.toPrecision(12));
  return out;
}
function total(snap) {
  let t = 0;
  for (const c of snap.counts) t += c;
  return t;
}
function describe(snap, explicit = false) {
  const size = total(snap) + snap.nan + snap.posinf + snap.neginf;
  const parts = [`step ${snap.step}`];
  if (snap.epoch >= 0) parts.push(`epoch ${snap.epoch + 1}`);
  if (total(snap) > 0) {
    for (const k of ["mean", "std", "min", "max", "norm"]) parts.push(`${k} ${fmtStat(snap[k])}`);
    parts.push(`zeros ${explicit ? "\u2014" : (100 * snap.zeros / size).toFixed(1) + "%"}`);
  } else parts.push("no finite values");
  const bad = [["nan", "NaN"], ["posinf", "+Inf"], ["neginf", "\u2212Inf"]].filter(([k]) => snap[k] > 0).map(([k, l]) => `${snap[k]} ${l}`);
  if (bad.length) parts.push("NON-FINITE: " + bad.join(", "));
  return parts.join(" \xB7 ");
}
function statusText(status, elapsed) {
  const s = Math.floor(Math.max(0, elapsed));
  const t = s < 60 ? `${s} s` : `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, "0")} s`;
  return `${status.text}\u2026 ${t}`;
}
function robustRange(snaps, full) {
  const lows = [], highs = [];
  for (const p of snaps) {
    if (!(p.finite > 0)) continue;
    const a = p.edges[0], b = p.edges[p.counts.length];
    if (Number.isFinite(a) && Number.isFinite(b)) lows.push(a), highs.push(b);
  }
  if (lows.length < 2) return null;
  const q = (xs, f) => {
    const v = [...xs].sort((x, y) => x - y), at = f * (v.length - 1), i = Math.floor(at);
    return i + 1 < v.length ? v[i] + (at - i) * (v[i + 1] - v[i]) : v[i];
  };
  const [lo, hi] = frame(q(lows, 0.1), q(highs, 0.9));
  return 2 * (hi - lo) < full[1] - full[0] ? [lo, hi] : null;
}
function outside(p, lo, hi) {
  let below = 0, above = 0, all = 0;
  for (let b = 0; b < p.counts.length; b++) {
    const c = p.counts[b], e0 = p.edges[b], e1 = p.edges[b + 1];
    if (!(c > 0)) continue;
    all += c;
    const w = e1 - e0;
    below += w > 0 ? c * Math.min(1, Math.max(0, (lo - e0) / w)) : e0 < lo ? c : 0;
    above += w > 0 ? c * Math.min(1, Math.max(0, (e1 - hi) / w)) : e1 > hi ? c : 0;
  }
  return all > 0 ? [below / all, above / all] : [0, 0];
}

// src/store.js
function snapsOf(p, B) {
  const out = [];
  for (let i = 0; i < p.n; i++) {
    const x = (k) => p.extra[i * EXTRA + k];
    const counts = p.counts.subarray(i * B, (i + 1) * B);
    let finite = 0;
    for (const c of counts) finite += c;
    out.push({
      step: p.steps[i],
      epoch: p.epochs[i],
      wall: p.wall[i],
      counts,
      finite,
      edges: p.explicit ? p.lwh.slice(i * (B + 1), (i + 1) * (B + 1)) : binEdges(p.lwh[3 * i], p.lwh[3 * i + 1], p.lwh[3 * i + 2], B, p.dtype),
      nan: x(NAN),
      posinf: x(POSINF),
      neginf: x(NEGINF),
      zeros: x(ZEROS),
      min: x(MIN),
      max: x(MAX),
      mean: x(MEAN),
      std: x(STD),
      norm: x(NORM)
    });
  }
  return out;
}
function cut(list, after, keep, stepOf) {
  if (after === null || after === void 0) return [];
  if (keep) {
    const k = new Set(keep);
    list = list.filter((x) => k.has(stepOf(x)));
  }
  let n = list.length;
  while (n && stepOf(list[n - 1]) > after) n--;
  list.length = n;
  return list;
}
function mergeTrack(c, after, keep, steps, values, kept) {
  const pairs = cut(c.steps.map((st, i) => [st, c.values[i]]), after, keep, (p) => p[0]);
  c.steps = pairs.map((p) => p[0]);
  c.values = pairs.map((p) => p[1]);
  for (let i = 0; i < steps.length; i++) {
    c.steps.push(steps[i]);
    c.values.push(values[i]);
  }
  c.kept = kept;
}
function trackKey(metric, name, run) {
  return metric + "	" + name + (run ? "	" + run : "");
}
var Store = class {
  constructor(ask = null) {
    this.series = /* @__PURE__ */ new Map();
    this.scalars = /* @__PURE__ */ new Map();
    this.header = null;
    this.seq = -1;
    this.listeners = /* @__PURE__ */ new Set();
    this.stale = false;
    this.ask = ask;
    this.asked = /* @__PURE__ */ new Map();
    this.timing = null;
    this.fullTiming = null;
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
    if (header.history) {
      for (const p of header.series) this.asked.delete(`series	${p.kind}	${p.name}`);
      for (const m of header.metrics || []) this.asked.delete(`depth	${header.kind}	${m}`);
    } else if (header.full) {
      const inSync = this.header && !this.stale && header.seq === this.seq;
      this.header = header;
      if (inSync) return this.changed();
      this.series = /* @__PURE__ */ new Map();
      this.scalars = /* @__PURE__ */ new Map();
      this.asked = /* @__PURE__ */ new Map();
      this.seq = header.seq;
      this.stale = false;
    } else {
      if (header.seq <= this.seq) return;
      if (header.seq !== this.seq + 1) this.stale = true;
      this.seq = header.seq;
      this.header = header;
    }
    for (const p of header.series) this.mergeSeries(p, header.bins);
    for (const p of header.scalars || []) {
      const key = trackKey(p.metric, p.name, p.run);
      let c = this.scalars.get(key);
      if (!c) this.scalars.set(key, c = { steps: [], values: [], kept: 0 });
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
    if (p.recorded !== void 0) s.recorded = p.recorded;
    if ("norm0" in p) s.norm0 = p.norm0 === null ? NaN : p.norm0;
    else if (p.after === null && add.length) s.norm0 = statOf(add[0], "norm");
    for (const stat of STATS) {
      const c = this.scalars.get(`${s.kind}.${stat}	${s.name}`);
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
    if (!this.ask || this.asked.has(key)) return false;
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
    const need = list.filter((s) => !this.complete(s) && !this.asked.has(`series	${s.kind}	${s.name}`));
    if (!need.length) return false;
    for (const s of need) this.asked.set(`series	${s.kind}	${s.name}`, performance.now());
    if (this.ask) this.ask({ want: "series", kind: need[0].kind, names: need.map((s) => s.name) });
    return true;
  }
  /** One statistic of `s` over its steps for the depth view: a scalar series
   * (update_ratio, dead_units, saturation) or a statistic of its rows (norm, std, mean),
   * from the snapshots the page holds or, when it lacks some, from the fetched series.
   * `{steps, values, complete}`, or null when `s` has no such series. */
  depthTrack(s, metric) {
    if (SCALARS.includes(metric)) {
      const c2 = this.scalar(metric, s.name);
      return c2 && { steps: c2.steps, values: c2.values, complete: c2.steps.length >= c2.kept };
    }
    const c = this.scalar(`${s.kind}.${metric}`, s.name);
    if (this.complete(s) || !c) return { steps: s.snaps.map((x) => x.step), values: s.snaps.map((x) => statOf(x, metric)), complete: this.complete(s) };
    return { steps: c.steps, values: c.values, complete: c.steps.length >= c.kept };
  }
  /** Ask for `metric` of every Series of `list` (one kind) over its kept steps, unless
   * the page has all of it. */
  wantDepth(kind, metric, list) {
    if (list.every((s) => {
      const t = this.depthTrack(s, metric);
      return !t || t.complete;
    })) return false;
    return this.want(`depth	${kind}	${metric}`, { want: "depth", kind, metrics: [metric] });
  }
  /** Seconds since the header's status began (the kernel's clock, then the page's). */
  statusElapsed() {
    const h = this.header;
    if (!h || !h.status) return 0;
    return Math.max(0, (h.now || 0) - (h.status.since || h.now || 0) + (performance.now() - h.receivedAt) / 1e3);
  }
};
function localModel(state) {
  const handlers = /* @__PURE__ */ new Map();
  return {
    get: (k) => state[k],
    set(k, v) {
      if (state[k] === v) return;
      state[k] = v;
      for (const fn of [...handlers.get("change:" + k) || []]) fn();
    },
    on(ev, fn) {
      if (!handlers.has(ev)) handlers.set(ev, /* @__PURE__ */ new Set());
      handlers.get(ev).add(fn);
    },
    off(ev, fn) {
      handlers.get(ev)?.delete(fn);
    },
    save_changes() {
    },
    send() {
    },
    handlers
  };
}

// src/draw.js
var THEME = {
  dark: false,
  bg: "#fff",
  fg: "#1b1b1b",
  fg2: "#595959",
  axis: "#9e9e9e",
  error: "#b3261e",
  warn: "#8a4b00",
  sel: "#0277bd",
  faint: "#c8c8c8",
  missing: "#ececec",
  unmeasured: "#c4c4c4",
  label: "rgba(255,255,255,0.88)",
  rampLo: 0.15,
  rampHi: 0.85
};
var RAMP = [[0, 0, 4], [59, 15, 112], [140, 41, 129], [222, 73, 104], [254, 159, 109], [252, 253, 191]];
function rampRGB(t) {
  t = Math.min(1, Math.max(0, t)) * (RAMP.length - 1);
  const i = Math.min(RAMP.length - 2, Math.floor(t)), f = t - i;
  return RAMP[i].map((v, k) => Math.round(v + f * (RAMP[i + 1][k] - v)));
}
var RAMP_CSS = Array.from({ length: 1024 }, (_, k) => `rgb(${rampRGB(k / 1023).join(",")})`);
function ramp(t) {
  return RAMP_CSS[Math.round(Math.min(1, Math.max(0, t || 0)) * 1023)];
}
function covered(f) {
  return f.tensors && f.tensors.length ? f.tensors : f.name ? [f.name] : [];
}
function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== void 0) e.textContent = text;
  return e;
}
function mark(severity, n = 1) {
  const error = severity === "error";
  const m = el("span", "tfh-mark " + (error ? "tfh-mark-error" : "tfh-mark-warning"));
  m.append(el("span", "tfh-mark-sign", "!"));
  if (n > 1) m.append(el("span", "tfh-mark-n", String(n)));
  m.setAttribute("role", "img");
  m.setAttribute("aria-label", error ? "error" : "warning");
  return m;
}
function sizeCanvas(canvas, width, height) {
  const dpr = window.devicePixelRatio || 1;
  canvas.style.width = width + "px";
  canvas.style.height = height + "px";
  canvas.width = Math.round(width * dpr);
  canvas.height = Math.round(height * dpr);
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, width, height);
  ctx.font = "11px sans-serif";
  return ctx;
}
function axes(ctx, box, x0, x1, y0, y1, { xTicks, yTicks: yTicks2, yLabel, xLabel } = {}) {
  const { l, t, w, h } = box;
  const X = (v) => l + (v - x0) / (x1 - x0 || 1) * w;
  const Y = (v) => t + h - (v - y0) / (y1 - y0 || 1) * h;
  ctx.strokeStyle = THEME.axis;
  ctx.lineWidth = 1;
  ctx.beginPath();
  ctx.moveTo(l, t);
  ctx.lineTo(l, t + h);
  ctx.lineTo(l + w, t + h);
  ctx.stroke();
  ctx.fillStyle = THEME.fg;
  ctx.textAlign = "center";
  ctx.textBaseline = "top";
  const xs = xTicks || niceTicks(x0, x1, Math.max(3, Math.floor(w / 70))).map((v) => [v, fmt(v)]);
  let lastRight = -Infinity;
  for (const [v, label] of xs) {
    const x = X(v);
    if (x < l - 1 || x > l + w + 1) continue;
    const half = ctx.measureText(label).width / 2;
    ctx.fillRect(x, t + h, 1, 4);
    if (x - half > lastRight + 4) {
      ctx.fillText(label, x, t + h + 5);
      lastRight = x + half;
    }
  }
  ctx.textAlign = "right";
  ctx.textBaseline = "middle";
  for (const [v, label] of yTicks2 || niceTicks(y0, y1, Math.max(2, Math.floor(h / 40))).map((v2) => [v2, fmt(v2)])) {
    const y = Y(v);
    if (y < t - 1 || y > t + h + 1) continue;
    ctx.fillRect(l - 4, y, 4, 1);
    ctx.fillText(label, l - 6, y);
  }
  if (yLabel) {
    ctx.save();
    ctx.translate(10, t + h / 2);
    ctx.rotate(-Math.PI / 2);
    ctx.textAlign = "center";
    ctx.fillText(yLabel, 0, 0);
    ctx.restore();
  }
  if (xLabel) {
    ctx.textAlign = "right";
    ctx.textBaseline = "top";
    ctx.fillText(xLabel, l + w, t + h + 18);
  }
  return { X, Y };
}
function searchEdges(edges, v) {
  const B = edges.length - 1;
  if (!(v >= edges[0] && v <= edges[B])) return -1;
  let lo = 0, hi = B;
  while (hi - lo > 1) {
    const mid = lo + hi >> 1;
    if (edges[mid] <= v) lo = mid;
    else hi = mid;
  }
  return lo;
}
function polyline(ctx, steps, values, X, Y, f = (v) => v) {
  ctx.beginPath();
  let on = false;
  steps.forEach((st, i) => {
    const y = f(values[i]);
    if (!Number.isFinite(y)) return void (on = false);
    on ? ctx.lineTo(X(st), Y(y)) : ctx.moveTo(X(st), Y(y));
    on = true;
  });
  ctx.stroke();
}
function colorBar(ctx, x, box, w = 12) {
  for (let k = 0; k < box.h; k++) {
    ctx.fillStyle = ramp(1 - k / box.h);
    ctx.fillRect(x, box.t + k, w, 1.5);
  }
}
function viewBar(views, pick2) {
  const bar = el("div", "tfh-bar");
  const buttons = {};
  for (const [v, label] of views) {
    const b = el("button", "tfh-view", label);
    b.dataset.view = v;
    b.addEventListener("click", () => pick2(v));
    buttons[v] = b;
    bar.append(b);
  }
  return { bar, buttons };
}
function showTabs(box, kinds, kind, was, pick2) {
  const key = kinds.join(",") + "|" + kind;
  if (key === was) return key;
  box.replaceChildren(...kinds.map((k) => {
    const b = el("button", "tfh-tab" + (k === kind ? " tfh-on" : ""), TITLES[k]);
    b.dataset.kind = k;
    b.addEventListener("click", () => pick2(k));
    return b;
  }));
  return key;
}

// src/views/snapshot.js
function xRange(s, snap, opts, view) {
  const range = opts.range === "auto" ? ["step", "overlay"].includes(view) ? "this" : "all" : opts.range;
  if (range === "this" && snap.finite > 0) return valueRange([snap]);
  return valueRange(s.snaps);
}
function yOf(c, log) {
  return log ? Math.log10(1 + c) : c;
}
function yTicks(max, log) {
  if (!log) return niceTicks(0, max * 1.05, 5).filter(Number.isInteger).map((v) => [v, fmt(v)]);
  const out = [];
  for (let p = 0; Math.pow(10, p) <= max * 10; p++) out.push([Math.log10(1 + Math.pow(10, p)), fmt(Math.pow(10, p))]);
  return [[0, "0"], ...out];
}
var BAD = [["nan", "NaN"], ["posinf", "+Inf"], ["neginf", "\u2212Inf"]];
function drawNonFinite(ctx, box, Y, snap, log, gx, slot) {
  ctx.strokeStyle = THEME.faint;
  ctx.beginPath();
  ctx.moveTo(gx - 6, box.t);
  ctx.lineTo(gx - 6, box.t + box.h);
  ctx.stroke();
  ctx.textAlign = "center";
  ctx.textBaseline = "top";
  BAD.forEach(([k, label], j) => {
    const x = gx + j * slot;
    const c = snap[k];
    ctx.fillStyle = c > 0 ? THEME.error : THEME.fg2;
    if (c > 0) {
      const y = Y(yOf(c, log));
      ctx.fillRect(x, y, slot - 6, box.t + box.h - y);
      ctx.textBaseline = "bottom";
      ctx.fillText(fmt(c), x + (slot - 6) / 2, y - 1);
      ctx.textBaseline = "top";
    }
    ctx.fillText(label, x + (slot - 6) / 2, box.t + box.h + 5);
  });
}
function drawStep(ctx, W, Hh, { s, snap, opts, hoverAt, drawn }) {
  const box = { l: 58, t: 10, w: W - 58 - 96, h: Hh - 40 };
  const [x0, x1] = xRange(s, snap, opts, "step");
  const log = opts.log;
  let ymax = 1;
  for (const c of snap.counts) ymax = Math.max(ymax, c);
  for (const [k] of BAD) ymax = Math.max(ymax, snap[k]);
  const { X, Y } = axes(ctx, box, x0, x1, 0, yOf(ymax, log) * 1.05, { yTicks: yTicks(ymax, log), yLabel: log ? "count (log)" : "count" });
  const B = snap.counts.length;
  const tot = total(snap);
  ctx.fillStyle = COLORS[s.kind];
  const bars = [];
  for (let b = 0; b < B; b++) {
    const c = snap.counts[b];
    const xa = X(snap.edges[b]), xb = X(snap.edges[b + 1]);
    bars.push([xa, xb]);
    if (c > 0) {
      const y = Y(yOf(c, log));
      ctx.fillRect(xa, y, Math.max(1, xb - xa), box.t + box.h - y);
    }
  }
  if (hoverAt != null && hoverAt < B) {
    ctx.fillStyle = THEME.dark ? "rgba(255,255,255,0.3)" : "rgba(0,0,0,0.25)";
    const [xa, xb] = bars[hoverAt];
    ctx.fillRect(xa, box.t, Math.max(1, xb - xa), box.h);
  }
  const slot = 26, gx = box.l + box.w + 14;
  drawNonFinite(ctx, box, Y, snap, log, gx, slot);
  const hit = (mx) => {
    const j = Math.floor((mx - gx) / slot);
    if (mx >= gx && j >= 0 && j < 3) {
      const [k, label] = BAD[j];
      return { text: `${label}: ${snap[k]} values`, bin: B + j };
    }
    const v = x0 + (mx - box.l) / box.w * (x1 - x0);
    const b = searchEdges(snap.edges, v);
    if (b < 0) return null;
    const c = snap.counts[b];
    return { text: `[${fmt(snap.edges[b])}, ${fmt(snap.edges[b + 1])}${b === B - 1 ? "]" : ")"}  count ${c}  (${tot ? (100 * c / tot).toFixed(2) : 0}% of finite)`, bin: b };
  };
  Object.assign(drawn, { counts: Array.from(snap.counts), edges: Array.from(snap.edges), nan: snap.nan, posinf: snap.posinf, neginf: snap.neginf, range: [x0, x1] });
  return { hit, legend: "" };
}
function drawOverlay(ctx, W, Hh, { s, snap, opts, pins, drawn }) {
  const n = s.snaps.length;
  const steps = pins.length ? [...pins] : [s.snaps[0].step, s.snaps[Math.floor((n - 1) / 2)].step];
  if (!steps.includes(snap.step)) steps.push(snap.step);
  const chosen = [...new Set(steps)].map((st) => s.snaps.find((p) => p.step === st)).filter(Boolean).sort((a, b) => a.step - b.step);
  const box = { l: 58, t: 10, w: W - 58 - 120, h: Hh - 40 };
  let ymax = 1;
  for (const p of chosen) for (const c of p.counts) ymax = Math.max(ymax, c);
  const [lo, hi] = valueRange(opts.range === "this" && snap.finite > 0 ? [snap] : chosen);
  const { X, Y } = axes(ctx, box, lo, hi, 0, yOf(ymax, opts.log) * 1.05, { yTicks: yTicks(ymax, opts.log), yLabel: "count" });
  const shade = (j) => ramp(THEME.rampLo + (THEME.rampHi - THEME.rampLo) * j / Math.max(1, chosen.length - 1));
  ctx.save();
  ctx.beginPath();
  ctx.rect(box.l, box.t - 2, box.w, box.h + 2);
  ctx.clip();
  chosen.forEach((p, j) => {
    ctx.strokeStyle = shade(j);
    ctx.lineWidth = p === snap ? 2 : 1.2;
    ctx.beginPath();
    ctx.moveTo(X(p.edges[0]), Y(0));
    for (let b = 0; b < p.counts.length; b++) {
      const y = Y(yOf(p.counts[b], opts.log));
      ctx.lineTo(X(p.edges[b]), y);
      ctx.lineTo(X(p.edges[b + 1]), y);
    }
    ctx.lineTo(X(p.edges[p.edges.length - 1]), Y(0));
    ctx.stroke();
  });
  ctx.restore();
  ctx.textAlign = "left";
  ctx.textBaseline = "middle";
  chosen.forEach((p, j) => {
    const y = box.t + 8 + j * 16;
    ctx.fillStyle = shade(j);
    ctx.fillRect(box.l + box.w + 12, y - 1, 14, 3);
    ctx.fillStyle = THEME.fg;
    ctx.fillText(`step ${p.step}` + (p.epoch >= 0 ? ` (ep ${p.epoch + 1})` : ""), box.l + box.w + 30, y);
  });
  Object.assign(drawn, { steps: chosen.map((p) => p.step) });
  return { legend: "Outlines of the chosen steps (first, middle and selected; 'pin step' adds the selected one)." };
}

// src/tiles.js
var GRID_SORTS = [
  ["order", "model order", null],
  ["nonfinite", "NaN/Inf count", null],
  ["update_ratio", "update ratio (farthest from 1e-3)", ["weights"]],
  ["norm_change", "norm change since the first step", null],
  ["dead", "dead share", ["activations"]]
];
function gridStat(store, s, key) {
  const last = s.snaps[s.snaps.length - 1];
  const th = store.header && store.header.thresholds || {};
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
    const score = v > 0 ? Math.abs(Math.log10(v / 1e-3)) : v === 0 ? 99 : NaN;
    return { value: v, score, unusual: v === 0 || v < lo || v > hi, label: Number.isFinite(v) ? `ratio ${fmt(v)}` : "no ratio" };
  }
  if (key === "norm_change") {
    const v = statOf(last, "norm") / s.norm0;
    const ok = Number.isFinite(v) && v > 0;
    return { value: v, score: ok ? Math.abs(Math.log10(v)) : NaN, unusual: ok && (v > 10 || v < 0.1), label: ok ? `norm \xD7${fmt(v)}` : "norm: \u2014" };
  }
  if (key === "dead") {
    const v = latest("dead_units");
    return { value: v, score: v, unusual: v >= (th.dead_units ?? 0.9), label: Number.isFinite(v) ? `dead ${(100 * v).toFixed(0)}%` : "not measured" };
  }
  return { value: NaN, score: NaN, unusual: false, label: "" };
}
function sortTiles(store, list, key, unusual = false) {
  let out = list.map((s, i) => [s, gridStat(store, s, key), i]);
  if (key === "order") return out.map(([s, st]) => [s, st]);
  if (unusual) out = out.filter(([, st]) => st.unusual);
  const sc = (st) => Number.isNaN(st.score) ? -Infinity : st.score;
  out.sort((a, b) => sc(b[1]) - sc(a[1]) || a[2] - b[2]);
  return out.map(([s, st]) => [s, st]);
}
var Tiles = class {
  constructor(grid, { root, store, open, showing }) {
    Object.assign(this, { grid, root, store, open, showing, opts: {}, draws: 0 });
    this.tiles = /* @__PURE__ */ new Map();
    this.visible = /* @__PURE__ */ new Set();
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
  show({ kind, list, q, opts, badges: badges2 }) {
    this.opts = opts;
    const sorted = sortTiles(this.store, list, opts.gridSort, opts.gridUnusual && opts.gridSort !== "order");
    const order = sorted.map(([s, st]) => this.tile(s, st, kind, badges2));
    const key = [kind, opts.gridSort, opts.gridUnusual, q, ...order.map((t) => t.dataset.id)].join("\n");
    if (key !== this.key) {
      this.key = key;
      this.grid.replaceChildren(...order);
      if (!order.length) this.grid.append(el("div", "tfh-none", "no tensor matches"));
      this.drawOnScreen(order);
    } else for (const t of this.visible) if (t.isConnected) this.drawTile(t);
    this.root.dataset.tiles = order.length;
    this.root.dataset.drawnTiles = this.visible.size;
    this.wantHistories();
    return `${order.length} tensors` + (opts.gridSort === "order" ? " in model order" : `, the most unusual ${GRID_SORTS.find(([k]) => k === opts.gridSort)[1]} first`) + (opts.gridHeat ? "; each tile a compact heatmap of its kept snapshots" : "; each tile the latest snapshot") + ". Click one to open it.";
  }
  /** Series `s`'s tile (made once), its name, mark and statistic `st` brought up to date. */
  tile(s, st, kind, badges2) {
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
    const short = s.name.length > 30 ? "\u2026" + s.name.slice(-29) : s.name;
    const b = badges2.get(kind + "	" + s.name);
    t.head.replaceChildren(...b ? [mark(b.severity)] : [], short);
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
    if (!c) tile.append(c = el("canvas"));
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
    tile.dataset.bars = JSON.stringify(bars);
    this.draws++;
    this.root.dataset.tileDraws = this.draws;
  }
  /** Heatmap tiles need their Series' kept snapshots: ask for those on screen, at once. */
  wantHistories() {
    if (!this.opts.gridHeat || !this.showing()) return;
    const need = [...this.visible].map((t) => this.store.series.get(+t.dataset.id)).filter(Boolean);
    if (need.length) this.store.wantHistory(need);
  }
};
function heatTile(ctx, w, h, s) {
  const [y0, y1] = valueRange(s.snaps);
  const G = 24, grid = Float64Array.from({ length: G + 1 }, (_, j) => y0 + (y1 - y0) * j / G);
  const cw = w / s.snaps.length;
  s.snaps.forEach((r, j) => {
    if (!(r.finite > 0)) return;
    const m = rebin(r.edges, r.counts, grid), t = total(r);
    for (let g = 0; g < G; g++) {
      ctx.fillStyle = ramp(Math.log10(1 + 1e3 * m[g] / t) / 3);
      ctx.fillRect(j * cw, h - (g + 1) * h / G, cw + 0.5, h / G + 0.5);
    }
  });
  return [];
}
function barTile(ctx, w, h, p, color, log) {
  const bars = [];
  let ymax = 1;
  for (const v of p.counts) ymax = Math.max(ymax, v);
  const [x0, x1] = valueRange([p]);
  ctx.fillStyle = color;
  for (let b = 0; b < p.counts.length; b++) {
    if (!(p.counts[b] > 0)) continue;
    const xa = (p.edges[b] - x0) / (x1 - x0) * w, xb = (p.edges[b + 1] - x0) / (x1 - x0) * w;
    const hh = Math.max(1, yOf(p.counts[b], log) / yOf(ymax, log) * (h - 14));
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

// src/controls.js
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
function buildTop(on) {
  const ui = { top: el("div", "tfh-top"), tabs: el("div", "tfh-tabs"), status: el("span", "tfh-status") };
  ui.top.append(ui.tabs, ui.status);
  ui.side = el("div", "tfh-side");
  ui.filter = el("input", "tfh-filter");
  ui.filter.placeholder = "filter tensors";
  ui.filter.addEventListener("input", on.filtered);
  ui.list = el("div", "tfh-list");
  ui.list.tabIndex = 0;
  ui.list.setAttribute("role", "tree");
  ui.list.dataset.lmSuppressShortcuts = ui.filter.dataset.lmSuppressShortcuts = "true";
  ui.side.append(ui.filter, ui.list);
  return ui;
}
function buildPlot() {
  const ui = { title: el("div", "tfh-title"), loading: el("div", "tfh-loading"), plot: el("div", "tfh-plot") };
  ui.plot.tabIndex = 0;
  ui.plot.title = "\u2190/\u2192: previous/next snapshot, Home/End: first/last";
  ui.canvas = el("canvas", "tfh-canvas");
  ui.tip = el("div", "tfh-tip");
  ui.grid = el("div", "tfh-grid");
  ui.legend = el("div", "tfh-legend");
  ui.marks = el("canvas", "tfh-marks");
  ui.plot.append(ui.canvas, ui.marks, ui.grid, ui.loading, ui.tip);
  return ui;
}
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
  ui.kept = el("canvas", "tfh-kept");
  const slideBox = el("div", "tfh-slidebox");
  slideBox.append(ui.slider, ui.kept);
  ui.slide.append(slideBox, ui.at, fl, ui.pin);
  ui.stats = el("div", "tfh-stats");
  ui.probe = el("canvas", "tfh-probe");
  ui.norms = el("canvas", "tfh-norms");
  ui.below = el("div", "tfh-below");
  ui.below.append(ui.slide, ui.stats, ui.probe, ui.norms);
  return ui;
}
function buildControls(root, opts, on) {
  const ui = { empty: el("div", "tfh-empty", "Waiting for the first snapshot\u2026"), body: el("div", "tfh-body"), main: el("div", "tfh-main"), ...buildTop(on), ...buildPlot(), ...buildBelow(on) };
  ({ bar: ui.bar, buttons: ui.viewButtons } = viewBar(VIEWS, (view) => on.set({ view })));
  ui.options = el("span", "tfh-options");
  ui.options.append(
    check(opts, "log", "log counts", on.changed),
    check(opts, "logColor", "log colour", on.changed),
    choose(opts, "range", [["auto", "range: auto"], ["all", "range: all steps"], ["this", "range: this step"]], "value range: auto frames the selected step in the step and overlay views, all steps in the time views", on.changed),
    choose(opts, "x", [["step", "time: step"], ["epoch", "time: epoch"], ["wall", "time: wall clock"]], "time axis", on.changed)
  );
  ui.viewOpts = el("span", "tfh-options tfh-view-options");
  ui.optRow = el("div", "tfh-optrow");
  ui.optRow.append(ui.options, ui.viewOpts);
  ui.main.append(ui.bar, ui.optRow, ui.title, ui.plot, ui.legend, ui.below);
  ui.findings = el("div", "tfh-findings");
  ui.body.append(ui.side, ui.main, ui.findings);
  root.append(ui.empty, ui.top, ui.body);
  return ui;
}
function viewOptions(view, kind, opts, changed) {
  if (view === "grid") {
    const sorts = GRID_SORTS.filter(([, , kinds]) => !kinds || kinds.includes(kind));
    if (!sorts.some(([k]) => k === opts.gridSort)) opts.gridSort = "order";
    const s2 = choose(opts, "gridSort", sorts.map(([k, label]) => [k, "sort: " + label]), "the order of the tiles: the most unusual first", changed);
    const u = check(opts, "gridUnusual", "unusual only", changed);
    u.title = "only the tiles whose statistic is past the findings' thresholds (NaN/Inf, update ratio outside its band, norm changed more than 10\xD7, dead share)";
    return [s2, u, check(opts, "gridHeat", "heatmaps", changed)];
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
function rootKey(e, root, ui, stepBy) {
  const t = e.target;
  if (e.key === "Escape") {
    if (t && t.blur) t.blur();
    const nb = root.closest(".jp-Notebook");
    if (nb) nb.focus();
    e.stopPropagation();
    return;
  }
  if (e.defaultPrevented || e.altKey || e.ctrlKey || e.metaKey) return;
  if (t === ui.filter || t && (t.tagName === "SELECT" || t.type === "checkbox") || ui.list.contains(t)) return;
  const group = t && t.closest && (t.closest(".tfh-tab") ? ui.tabs : t.closest(".tfh-view") ? ui.bar : null);
  if (group && (e.key === "ArrowLeft" || e.key === "ArrowRight")) {
    const buttons = [...group.querySelectorAll(group === ui.tabs ? ".tfh-tab" : ".tfh-view")];
    const i = buttons.indexOf(t.closest("button"));
    const next = buttons[(i + (e.key === "ArrowRight" ? 1 : -1) + buttons.length) % buttons.length];
    next.click();
    const again = group === ui.tabs ? ui.tabs.querySelector(`.tfh-tab[data-kind="${next.dataset.kind}"]`) : next;
    if (again) again.focus();
  } else {
    const by = { ArrowLeft: -1, ArrowDown: -1, ArrowRight: 1, ArrowUp: 1, PageDown: -10, PageUp: 10, Home: "first", End: "last" }[e.key];
    if (by === void 0 || !(t === ui.slider || t === ui.plot || t === root || ui.plot.contains(t))) return;
    stepBy(by);
  }
  e.preventDefault();
  e.stopPropagation();
}

// src/findings.js
function badges(store) {
  const out = /* @__PURE__ */ new Map();
  const put = (key, message, severity) => {
    const had = out.get(key);
    if (!had || severity === "error" && had.severity !== "error") out.set(key, { message, severity });
  };
  const h = store.header;
  for (const f of h && h.findings || []) for (const n of covered(f)) put(f.kind + "	" + n, f.message, f.severity);
  for (const s of store.series.values()) {
    const last = s.snaps[s.snaps.length - 1];
    if (last && last.nan + last.posinf + last.neginf > 0) put(s.kind + "	" + s.name, "NaN/Inf in the latest snapshot", "error");
  }
  return out;
}
function finding(f, open) {
  const error = f.severity === "error";
  const n = covered(f).length;
  const d = el("div", "tfh-finding" + (error ? " tfh-error" : ""));
  d.append(mark(f.severity), el("span", "tfh-finding-text", f.message));
  if (n > 1) d.prepend(el("span", "tfh-count", `\xD7${n}`));
  d.title = `${f.rule}: ${fmt(f.value)} against ${f.threshold === null ? "\u2014" : fmt(f.threshold)}, steps ${f.first_step}\u2013${f.last_step}` + (n > 1 ? `
${covered(f).join("\n")}` : "");
  Object.assign(d.dataset, { kind: f.kind, name: f.name || "", step: f.step, rule: f.rule || "", severity: f.severity || "", count: n });
  d.addEventListener("click", () => open(f));
  return d;
}
function showFindings(box, header, key, open) {
  const found = header && header.findings || [];
  const notes = header && header.notes || [];
  const now = JSON.stringify([found, notes]);
  if (now === key) return key;
  const items = [el("div", "tfh-head", found.length ? `Findings (${found.length})` : "No findings")];
  for (const f of found) items.push(finding(f, open));
  for (const n of notes) items.push(el("div", "tfh-note", n));
  box.replaceChildren(...items);
  return now;
}

// src/theme.js
function rgbaOf(css) {
  const ctx = rgbaOf.ctx || (rgbaOf.ctx = document.createElement("canvas").getContext("2d"));
  ctx.fillStyle = "#000";
  ctx.fillStyle = css || "#000";
  const v = ctx.fillStyle;
  if (v[0] === "#") return [1, 3, 5].map((i) => parseInt(v.slice(i, i + 2), 16)).concat(1);
  const m = v.match(/[\d.]+/g) || [0, 0, 0, 1];
  return [+m[0], +m[1], +m[2], m[3] === void 0 ? 1 : +m[3]];
}
function over(top, under2) {
  const a = top[3] === void 0 ? 1 : top[3];
  return [0, 1, 2].map((k) => top[k] * a + under2[k] * (1 - a));
}
function luminance([r, g, b]) {
  const f = (c) => (c /= 255) <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4);
  return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
}
function contrast(a, b) {
  const [x, y] = [luminance(a), luminance(b)].sort((p, q) => q - p);
  return (x + 0.05) / (y + 0.05);
}
var LIGHT = { faint: "#c8c8c8", missing: "#ececec", unmeasured: "#c4c4c4", label: "rgba(255,255,255,0.88)", rampLo: 0.15, rampHi: 0.85 };
var DARK = { faint: "#5a5a5a", missing: "#2a2a2a", unmeasured: "#4a4a4a", label: "rgba(20,20,20,0.88)", rampLo: 0.35, rampHi: 0.97 };
function applyTheme(root) {
  const cs = getComputedStyle(root);
  const get = (k, d) => cs.getPropertyValue(k).trim() || d;
  const bg = over(rgbaOf(get("--tfh-bg", "#fff")), [255, 255, 255]);
  const dark = luminance(bg) < 0.3;
  root.dataset.theme = dark ? "dark" : "light";
  const cs2 = getComputedStyle(root);
  const t = {
    dark,
    bg: `rgb(${bg.map(Math.round).join(",")})`,
    fg: get("--tfh-fg", dark ? "#e6e6e6" : "#1b1b1b"),
    fg2: get("--tfh-fg2", dark ? "#a8a8a8" : "#595959"),
    axis: get("--tfh-border", dark ? "#666" : "#9e9e9e"),
    error: cs2.getPropertyValue("--tfh-error").trim() || (dark ? "#ff8f85" : "#b3261e"),
    warn: cs2.getPropertyValue("--tfh-warn").trim() || (dark ? "#f0b35a" : "#8a4b00"),
    sel: dark ? "#4fc3f7" : "#0277bd",
    ...dark ? DARK : LIGHT
  };
  Object.assign(THEME, t);
  root.dataset.canvasColors = JSON.stringify({ bg: t.bg, fg: t.fg, fg2: t.fg2, error: t.error });
  return t;
}
function watchTheme(changed) {
  const mo = new MutationObserver(changed);
  for (const node of [document.body, document.documentElement]) if (node) mo.observe(node, { attributes: true, attributeFilter: ["class", "data-jp-theme-light", "data-jp-theme-name", "theme", "style"] });
  const mq = window.matchMedia ? window.matchMedia("(prefers-color-scheme: dark)") : null;
  if (mq && mq.addEventListener) mq.addEventListener("change", changed);
  return () => {
    mo.disconnect();
    if (mq && mq.removeEventListener) mq.removeEventListener("change", changed);
  };
}

// src/frame.js
var STATE = ["kind", "tensor", "view", "step"];
var Frame = class {
  /** A root element of class `cls` in `host`, for widget model `model` (or a localModel);
   * `saved`: the saved copy's header entry (no kernel). `redraw()` draws again, when the
   * theme's colours change. */
  constructor(model, host, { cls, saved = null, redraw }) {
    this.born = performance.now();
    this.model = model;
    this.saved = saved;
    this.redraw = redraw;
    this.root = el("div", cls);
    this.root.dataset.saved = saved ? "1" : "0";
    this.root.dataset.lmSuppressShortcuts = "true";
    this.root.addEventListener("focusin", (e) => {
      if (e.target && e.target.dataset) e.target.dataset.lmSuppressShortcuts = "true";
    });
    host.appendChild(this.root);
    this.unwatch = watchTheme(() => this.retheme(true));
    this.undo = [];
  }
  /** Call `fn` on every change of the state the model holds (kind, tensor, view, step). */
  onState(fn) {
    for (const key of STATE) this.model.on("change:" + key, fn);
    this.undo.push(() => {
      for (const key of STATE) this.model.off("change:" + key, fn);
    });
  }
  /** Redraw when `plot` changes width (and read the theme once it is on the page). */
  watchWidth(plot) {
    const resize = new ResizeObserver(() => {
      if (!this.themed) this.retheme(true);
      const w = plot.clientWidth;
      if (w && w !== this.lastWidth) {
        this.lastWidth = w;
        this.redraw();
      }
    });
    resize.observe(plot);
    this.undo.push(() => resize.disconnect());
  }
  set(changes) {
    for (const [k, v] of Object.entries(changes)) this.model.set(k, v);
    this.model.save_changes();
  }
  /** Read the page's colours again (the theme may have changed: JupyterLab loads the new
   * theme's styles a moment after it says so, hence a second look); redraw if they did. */
  retheme(redraw, again = true) {
    if (!this.root.isConnected) return;
    const was = this.themeKey;
    this.theme = applyTheme(this.root);
    this.themed = true;
    this.themeKey = JSON.stringify(this.theme);
    if (redraw && was !== void 0 && was !== this.themeKey) this.redraw();
    if (redraw && again) {
      clearTimeout(this.themeLater);
      this.themeLater = setTimeout(() => this.retheme(true, false), 400);
    }
  }
  /** Before drawing: the canvases' colours are this dashboard's. */
  paint() {
    if (!this.themed) this.retheme(false);
    if (this.theme) Object.assign(THEME, this.theme);
  }
  /** The first draw's timing, once: from the view's creation (decode was before). */
  firstDraw(store) {
    const d = this.root.dataset;
    if (d.firstDrawMs !== void 0) return;
    d.firstDrawMs = (performance.now() - this.born).toFixed(1);
    d.firstDrawAt = performance.now().toFixed(0);
    const f = store.fullTiming;
    if (f) Object.assign(d, { packetBytes: f.bytes, decodeMs: f.decode.toFixed(1), applyMs: f.apply.toFixed(1) });
  }
  destroy(keepRoot = false) {
    for (const undo of this.undo) undo();
    this.unwatch();
    clearTimeout(this.themeLater);
    if (!keepRoot) this.root.remove();
  }
};

// src/picker.js
var CROWD = 12;
function groupTree(names, modelOf = {}) {
  const group = (key, label) => ({ key, label, entries: [], index: /* @__PURE__ */ new Map() });
  const root = group("", "");
  const child = (at, label, key) => {
    let c = at.index.get(label);
    if (!c) {
      c = group(key || (at.key ? at.key + "/" : "") + label, label);
      at.index.set(label, c);
      at.entries.push(c);
    }
    return c;
  };
  for (const name of names) {
    const model = modelOf[name] || "";
    const base = model.replace(/#\d+$/, "");
    const path = model && name.startsWith(model + "/") ? name.slice(model.length + 1) : base && name.startsWith(base + "/") ? name.slice(base.length + 1) : name;
    const segs = path.split("/");
    const leaf = segs.pop();
    let at = root;
    if (model) (at = child(root, model, "model:" + model)).model = true;
    for (const seg of segs) at = child(at, seg);
    at.entries.push({ name, label: leaf });
  }
  const split = (g) => {
    for (let k = 1; k <= 3 && g.entries.length > CROWD; k++) {
      const by = /* @__PURE__ */ new Map();
      for (const e of g.entries) {
        const w = e.label.split("_");
        if (w.length > k) {
          const p = w.slice(0, k).join("_");
          if (!by.has(p)) by.set(p, []);
          by.get(p).push(e);
        }
      }
      const real = [...by.entries()].filter(([, es]) => es.length > 1);
      const left = g.entries.length - real.reduce((a, [, es]) => a + es.length - 1, 0);
      if (real.length < 2 || left > 0.6 * g.entries.length) continue;
      const of = /* @__PURE__ */ new Map();
      for (const [p, es] of real) {
        const sub = { key: `${g.key}/${p}_`, label: p, entries: es, index: /* @__PURE__ */ new Map() };
        for (const e of es) of.set(e, sub);
      }
      const out = [];
      for (const e of g.entries) {
        const sub = of.get(e);
        if (!sub) out.push(e);
        else if (!out.includes(sub)) out.push(sub);
      }
      g.entries = out;
    }
    for (const e of g.entries) if (e.entries) split(e);
  };
  const finish = (g) => {
    g.entries = g.entries.map((e) => {
      if (!e.entries) return e;
      finish(e);
      if (e.entries.length !== 1 || e.model) return e;
      const only = e.entries[0];
      return only.entries ? { ...only, label: e.label + "/" + only.label } : { name: only.name, label: e.label + "/" + only.label };
    });
    g.names = /* @__PURE__ */ new Set();
    for (const e of g.entries) e.entries ? e.names.forEach((n) => g.names.add(n)) : g.names.add(e.name);
    delete g.index;
    return g;
  };
  split(root);
  return finish(root);
}
var Picker = class {
  constructor(list, { root, pick: pick2, refresh }) {
    Object.assign(this, { list, root, pick: pick2, refresh });
    this.openState = /* @__PURE__ */ new Map();
    this.cursor = null;
    list.addEventListener("keydown", (e) => this.onKey(e));
  }
  /** The tree of `series` (one kind, filtered by `q`; `cur` selected), with `badges`
   * (kind \t name -> {message, severity}) and `models` (name -> model label). Rebuilt
   * only when what it shows changed. */
  show(input) {
    const { kind, cur, q, series: list, badges: badges2, models } = input;
    const key = [kind, q, cur && cur.name, list.length, [...this.openState].join(","), [...badges2.keys()].join("|")].join("\n");
    if (key === this.key) return;
    this.key = key;
    const t0 = performance.now();
    const tree = groupTree(list.map((s) => s.name), models);
    const all = list.length <= 40;
    const isOpen = (g, depth) => {
      if (q || all) return true;
      if (this.openState.has(g.key)) return this.openState.get(g.key);
      return depth === 0 || cur && g.names.has(cur.name);
    };
    const rows = [];
    const walk = (g, depth) => {
      for (const e of g.entries) {
        if (!e.entries) {
          rows.push(this.item(e, depth, kind, cur, badges2));
          continue;
        }
        const open = isOpen(e, depth);
        rows.push(this.node(e, depth, open, kind, badges2));
        if (open) walk(e, depth + 1);
      }
    };
    walk(tree, 0);
    if (!list.length) rows.push(el("div", "tfh-none", "no tensor matches"));
    this.list.replaceChildren(...rows);
    this.markCursor();
    this.root.dataset.pickerRows = rows.length;
    this.root.dataset.pickerMs = (performance.now() - t0).toFixed(1);
  }
  /** A tensor's row. */
  item(e, depth, kind, cur, badges2) {
    const item = el("div", "tfh-item" + (cur && e.name === cur.name ? " tfh-on" : ""));
    item.dataset.name = e.name;
    item.title = e.name;
    item.setAttribute("role", "treeitem");
    item.style.paddingLeft = 6 + 12 * depth + "px";
    item.append(el("span", "tfh-name", e.label));
    const b = badges2.get(kind + "	" + e.name);
    if (b) {
      const badge = el("span", "tfh-badge");
      badge.append(mark(b.severity));
      badge.title = b.message;
      item.append(badge);
    }
    item.addEventListener("click", () => this.pickTensor(e.name));
    return item;
  }
  /** A group's row: its caret, name and count; a closed one shows its tensors' marks. */
  node(e, depth, open, kind, badges2) {
    const head = el("div", "tfh-node" + (e.model ? " tfh-group" : ""));
    head.dataset.key = e.key;
    head.dataset.depth = depth;
    head.setAttribute("role", "treeitem");
    head.setAttribute("aria-expanded", String(open));
    head.style.paddingLeft = 2 + 12 * depth + "px";
    head.append(el("span", "tfh-caret", open ? "\u25BE" : "\u25B8"), el("span", "tfh-name", e.label), el("span", "tfh-n", String(e.names.size)));
    const flagged = [...e.names].map((n) => badges2.get(kind + "	" + n)).filter(Boolean);
    if (flagged.length && !open) {
      const badge = el("span", "tfh-badge");
      badge.append(mark(flagged.some((b) => b.severity === "error") ? "error" : "warning", flagged.length));
      head.append(badge);
    }
    head.title = `${e.label}: ${e.names.size} tensors (click to ${open ? "collapse" : "expand"})`;
    head.addEventListener("click", () => this.toggle(e.key, !open));
    return head;
  }
  /** Select tensor `name` from the picker. */
  pickTensor(name) {
    this.cursor = "i:" + name;
    this.pick(name);
    this.markCursor();
  }
  toggle(key, open) {
    this.openState.set(key, open);
    this.cursor = "n:" + key;
    this.refresh();
  }
  markCursor() {
    const rows = [...this.list.children];
    let at = rows.find((r) => (r.dataset.key !== void 0 ? "n:" + r.dataset.key : "i:" + r.dataset.name) === this.cursor);
    if (!at) at = rows.find((r) => r.classList.contains("tfh-on"));
    for (const r of rows) r.classList.toggle("tfh-cursor", r === at);
    if (at && this.list.contains(document.activeElement)) at.scrollIntoView({ block: "nearest" });
  }
  /** The picker from the keyboard: ↑/↓ move (an item is selected), → opens a group,
   * ← closes it or goes to the enclosing group, Enter/Space toggles, Home/End. */
  onKey(e) {
    const rows = [...this.list.querySelectorAll(".tfh-node, .tfh-item")];
    if (!rows.length) return;
    let i = rows.findIndex((r) => r.classList.contains("tfh-cursor"));
    if (i < 0) i = Math.max(0, rows.findIndex((r) => r.classList.contains("tfh-on")));
    const row = rows[i];
    const isNode = row.dataset.key !== void 0;
    const open = isNode && row.getAttribute("aria-expanded") === "true";
    const go = (j) => {
      const r = rows[Math.max(0, Math.min(rows.length - 1, j))];
      if (r.dataset.key !== void 0) {
        this.cursor = "n:" + r.dataset.key;
        this.markCursor();
      } else this.pickTensor(r.dataset.name);
    };
    const depthOf = (r) => r.dataset.key !== void 0 ? +r.dataset.depth : (parseFloat(r.style.paddingLeft) - 6) / 12;
    switch (e.key) {
      case "ArrowDown":
        go(i + 1);
        break;
      case "ArrowUp":
        go(i - 1);
        break;
      case "Home":
        go(0);
        break;
      case "End":
        go(rows.length - 1);
        break;
      case "ArrowRight":
        if (isNode && !open) this.toggle(row.dataset.key, true);
        else go(i + 1);
        break;
      case "ArrowLeft":
        if (isNode && open) this.toggle(row.dataset.key, false);
        else {
          const d = depthOf(row);
          for (let j = i - 1; j >= 0; j--) if (rows[j].dataset.key !== void 0 && +rows[j].dataset.depth < d) return void (go(j), e.preventDefault());
        }
        break;
      case "Enter":
      case " ":
        if (isNode) this.toggle(row.dataset.key, !open);
        else this.pickTensor(row.dataset.name);
        break;
      default:
        return;
    }
    e.preventDefault();
  }
};

// src/views/depth.js
var LINE = 12;
var clip = (n) => n.length > 30 ? "\u2026" + n.slice(-29) : n;
function measure(store, list, metric, log) {
  const tracks = list.map((s) => store.depthTrack(s, metric));
  const all = /* @__PURE__ */ new Set();
  for (const t of tracks) if (t) for (const st of t.steps) all.add(st);
  const steps = [...all].sort((a, b) => a - b);
  const f = (v) => log ? v > 0 ? Math.log10(v) : NaN : v;
  let lo = Infinity, hi = -Infinity;
  for (const t of tracks) if (t) for (const v of t.values) {
    const y = f(v);
    if (Number.isFinite(y)) lo = Math.min(lo, y), hi = Math.max(hi, y);
  }
  if (!log) [lo, hi] = [0, Math.max(1e-9, Number.isFinite(hi) ? Math.max(hi, 1) : 1)];
  if (!Number.isFinite(lo)) [lo, hi] = [0, 1];
  if (hi <= lo) hi = lo + 1;
  const x0 = steps.length ? steps[0] : 0;
  const last = steps.length ? steps[steps.length - 1] : 0;
  const x1 = steps.length > 1 ? last + (last - steps[steps.length - 2]) : last + 1;
  return { tracks, steps, f, lo, hi, x0, x1 };
}
function paint(ctx, box, m) {
  const { tracks, f, lo, hi, x0, x1 } = m;
  const rows = tracks.length;
  const pw = Math.max(1, Math.round(box.w));
  const off = document.createElement("canvas");
  off.width = pw;
  off.height = Math.max(1, rows);
  const octx = off.getContext("2d");
  const img = octx.createImageData(pw, Math.max(1, rows));
  const lut = Array.from({ length: 256 }, (_, k) => rampRGB(k / 255));
  const rgbOf = (css) => {
    const c = css.match(/[0-9a-f]{2}/gi);
    return c ? c.slice(0, 3).map((h) => parseInt(h, 16)) : [128, 128, 128];
  };
  const missing = rgbOf(THEME.missing), unmeasured = rgbOf(THEME.unmeasured);
  const px = (st) => (st - x0) / (x1 - x0 || 1) * pw;
  tracks.forEach((t, r) => {
    const base = r * pw * 4;
    for (let x = 0; x < pw; x++) img.data.set([...missing, 255], base + 4 * x);
    if (!t) return;
    for (let j = 0; j < t.steps.length; j++) {
      const xa = Math.max(0, Math.floor(px(t.steps[j])));
      const xb = Math.min(pw, Math.max(xa + 1, Math.ceil(px(j + 1 < t.steps.length ? t.steps[j + 1] : x1))));
      const y = f(t.values[j]);
      const c = Number.isFinite(y) ? lut[Math.max(0, Math.min(255, Math.round(255 * (y - lo) / (hi - lo))))] : unmeasured;
      for (let x = xa; x < xb; x++) img.data.set([c[0], c[1], c[2], 255], base + 4 * x);
    }
  });
  octx.putImageData(img, 0, 0);
  ctx.imageSmoothingEnabled = false;
  if (rows) ctx.drawImage(off, box.l, box.t, box.w, box.h);
}
function nameRows(ctx, box, list, ys, rowH, at) {
  ctx.textAlign = "right";
  ctx.textBaseline = "middle";
  ctx.font = "10px sans-serif";
  const named = rowH >= LINE ? list.map((_, r) => r) : spaced(ys, LINE, at >= 0 ? [at] : []);
  for (const r of named) {
    if (r === at) continue;
    ctx.fillStyle = THEME.fg;
    ctx.fillText(clip(list[r].name), box.l - 4, ys[r]);
  }
  if (at >= 0) {
    ctx.fillStyle = THEME.bg;
    ctx.fillRect(0, ys[at] - 6, box.l - 2, 12);
    ctx.fillStyle = THEME.fg;
    ctx.font = "bold 10px sans-serif";
    ctx.fillText("\u25B6 " + clip(list[at].name), box.l - 4, ys[at]);
    ctx.strokeStyle = THEME.sel;
    ctx.strokeRect(box.l, box.t + at * rowH, box.w, Math.max(1, rowH));
  }
  return named;
}
function scaleBar(ctx, box, lo, hi, log) {
  const cb = { x: box.l + box.w + 12, w: 12 };
  colorBar(ctx, cb.x, box, cb.w);
  ctx.fillStyle = THEME.fg;
  ctx.font = "10px sans-serif";
  ctx.textAlign = "left";
  const tickOf = (y) => log ? fmt(Math.pow(10, y)) : fmt(y);
  ctx.textBaseline = "top";
  ctx.fillText(tickOf(hi), cb.x + cb.w + 2, box.t);
  ctx.textBaseline = "bottom";
  ctx.fillText(tickOf(lo), cb.x + cb.w + 2, box.t + box.h);
}
function pointer(box, list, m, X, rowH, ys, named, at, label) {
  const { tracks, steps, x0, x1 } = m;
  const cell = (mx, my) => {
    const r = Math.floor((my - box.t) / rowH);
    if (r < 0 || r >= list.length || mx < box.l || mx > box.l + box.w) return null;
    const xv = x0 + (mx - box.l) / box.w * (x1 - x0);
    let k = -1;
    for (let q = 0; q < steps.length; q++) if (steps[q] <= xv) k = q;
    const step = k < 0 ? steps[0] : steps[k];
    const xa = X(step), xb = X(k + 1 < steps.length ? steps[k + 1] : x1);
    const t = tracks[r];
    let j = -1;
    if (t) {
      for (let q = 0; q < t.steps.length; q++) if (t.steps[q] <= xv) j = q;
    }
    const measured = t && j >= 0 && t.steps[j] === step;
    const rect = [xa, box.t + r * rowH, Math.max(2, xb - xa), Math.max(2, rowH)];
    if (rowH < 2) rect[1] -= (2 - rowH) / 2;
    return { s: list[r], r, step: measured ? t.steps[j] : step, value: measured ? t.values[j] : NaN, measured, rect };
  };
  const hit = (mx, my) => {
    const c = cell(mx, my);
    if (!c) return null;
    const got = { text: `${c.s.name} \xB7 step ${c.step}: ` + (c.measured ? `${label} ${fmt(c.value)}` : "not measured"), rect: c.rect };
    if (!named.includes(c.r) || c.r === at) got.label = { text: clip(c.s.name), x: box.l - 4, y: ys[c.r] };
    return got;
  };
  const pick2 = (mx, my) => {
    const c = cell(mx, my);
    return c && { name: c.s.name, step: c.step, rect: c.rect };
  };
  return { hit, pick: pick2 };
}
function drawDepth(canvas, plot, W, Hh, { store, kind, list, cur, step, opts, scrolled, drawn }) {
  const [metric, label, scale] = (DEPTH[kind] || []).find(([m2]) => m2 === opts.depth[kind]) || DEPTH[kind][0];
  const waiting = store.wantDepth(kind, metric, list) || store.asked.has(`depth	${kind}	${metric}`);
  const log = scale === "log";
  const m = measure(store, list, metric, log);
  const rows = list.length;
  const scroll = !!opts.depthAll && rows * LINE > Hh - 48;
  const rowH = scroll ? LINE : Math.max(0.5, Math.min(14, (Hh - 48) / Math.max(1, rows)));
  if (scroll) W -= 16;
  const L = 190, box = { l: L, t: 8, w: Math.max(60, W - L - 78), h: rows * rowH };
  const ctx = sizeCanvas(canvas, W, scroll ? box.t + box.h + 40 : Hh);
  plot.style.overflowY = scroll ? "auto" : "";
  const { X } = axes(ctx, { ...box, h: box.h }, m.x0, m.x1, 0, 1, { yTicks: [], xLabel: "step" });
  paint(ctx, box, m);
  const at = list.indexOf(cur);
  const ys = list.map((_, r) => box.t + (r + 0.5) * rowH);
  const named = nameRows(ctx, box, list, ys, rowH, at);
  if (step >= 0) {
    ctx.strokeStyle = THEME.sel;
    ctx.beginPath();
    ctx.moveTo(X(step), box.t);
    ctx.lineTo(X(step), box.t + box.h);
    ctx.stroke();
  }
  scaleBar(ctx, box, m.lo, m.hi, log);
  const incomplete = m.tracks.filter((t) => t && !t.complete).length;
  const legend = `${label} of each ${kind === "activations" ? "layer output" : "tensor"} (rows, model order) at each kept step (columns)` + (log ? ", log colour scale" : "") + "; grey: not measured. Click a cell to open that tensor at that step." + (incomplete ? ` ${incomplete} rows hold only the steps this page has seen; ` + (waiting ? "the rest is on its way from the kernel (it answers when idle)." : "the kernel did not send the rest.") : "");
  if (scroll && at >= 0 && scrolled !== cur.name) {
    scrolled = cur.name;
    plot.scrollTop = Math.max(0, ys[at] - Hh / 2);
  }
  drawn.labelled = named.map((r) => [list[r].name, +ys[r].toFixed(2)]);
  Object.assign(drawn, { box: [box.l, box.t, box.w, box.h], rowH, scroll });
  Object.assign(drawn, {
    metric,
    rows,
    cols: m.steps.length,
    names: list.map((s) => s.name),
    steps: m.steps,
    range: log ? [Math.pow(10, m.lo), Math.pow(10, m.hi)] : [m.lo, m.hi],
    complete: !incomplete
  });
  return { ...pointer(box, list, m, X, rowH, ys, named, at, label), legend, scrolled };
}

// src/views/time.js
function timeX(s, x) {
  const w0 = s.snaps[0].wall;
  const xs = s.snaps.map((p) => x === "wall" ? p.wall - w0 : p.step);
  let ticks;
  if (x === "epoch") {
    ticks = [];
    let last = null;
    for (const p of s.snaps) if (p.epoch >= 0 && p.epoch !== last) {
      last = p.epoch;
      ticks.push([p.step, `ep ${p.epoch + 1}`]);
    }
    if (!ticks.length) ticks = void 0;
  }
  return { xs, ticks, label: x === "wall" ? "seconds" : x === "epoch" ? "epoch (first snapshot of each)" : "step" };
}
function drawOffset(ctx, W, Hh, { s, cur, opts, drawn }) {
  const n = s.snaps.length;
  const want = Math.min(n, 40);
  const idx = [...new Set(Array.from({ length: want }, (_, j) => Math.round(j * (n - 1) / Math.max(1, want - 1))))];
  if (!idx.includes(cur)) idx.push(cur);
  idx.sort((a, b) => a - b);
  const [x0, x1] = xRange(s, s.snaps[cur], opts, "offset");
  const box = { l: 90, t: 50, w: W - 90 - 20, h: Hh - 50 - 30 };
  const { X } = axes(ctx, box, x0, x1, 0, 1, { yTicks: [] });
  const gap = box.h / Math.max(1, idx.length);
  let smax = 0;
  for (const j of idx) {
    const p = s.snaps[j], t = total(p) || 1;
    for (const c of p.counts) smax = Math.max(smax, c / t);
  }
  const amp = gap * 4 / (smax || 1);
  ctx.save();
  ctx.beginPath();
  ctx.rect(box.l, 0, box.w, box.t + box.h);
  ctx.clip();
  idx.forEach((j, r) => {
    const p = s.snaps[j], t = total(p) || 1;
    const base = box.t + gap * (r + 1);
    ctx.beginPath();
    ctx.moveTo(X(p.edges[0]), base);
    for (let b = 0; b < p.counts.length; b++) {
      const y = base - Math.min(box.t + box.h, amp * (p.counts[b] / t));
      ctx.lineTo(X(p.edges[b]), y);
      ctx.lineTo(X(p.edges[b + 1]), y);
    }
    ctx.lineTo(X(p.edges[p.edges.length - 1]), base);
    ctx.closePath();
    ctx.fillStyle = j === cur ? COLORS[s.kind] : THEME.label;
    ctx.fill();
    ctx.strokeStyle = j === cur ? THEME.fg : ramp(THEME.rampLo + (THEME.rampHi - THEME.rampLo) * r / Math.max(1, idx.length - 1));
    ctx.lineWidth = 1;
    ctx.stroke();
  });
  ctx.restore();
  const labels = offsetLabels(ctx, box, gap, s, idx, cur, opts.x);
  Object.assign(drawn, { steps: idx.map((j) => s.snaps[j].step), labels });
  return { legend: "Snapshots stacked over steps (oldest at the top), each drawn from its own exact bins as a share of its values; the selected step is filled." };
}
function offsetLabels(ctx, box, gap, s, idx, cur, x) {
  const { xs } = timeX(s, x);
  ctx.fillStyle = THEME.fg;
  ctx.textAlign = "right";
  ctx.textBaseline = "middle";
  const ys = idx.map((j, r) => box.t + gap * (r + 1));
  const labels = [];
  for (const r of spaced(ys, 13, [idx.indexOf(cur)])) {
    const p = s.snaps[idx[r]];
    const label = x === "wall" ? `${fmt(xs[idx[r]])} s` : x === "epoch" && p.epoch >= 0 ? `ep ${p.epoch + 1} \xB7 ${p.step}` : `step ${p.step}`;
    ctx.font = idx[r] === cur ? "bold 11px sans-serif" : "11px sans-serif";
    ctx.fillText(label, box.l - 6, ys[r]);
    labels.push([label, ys[r]]);
  }
  ctx.font = "11px sans-serif";
  return labels;
}
function markNonFinite(ctx, box, s, colX) {
  const out = [];
  s.snaps.forEach((p, j) => {
    if (p.finite > 0 || !(p.nan + p.posinf + p.neginf > 0)) return;
    const [xa, xb] = colX(j);
    const w = Math.max(3, xb - xa);
    ctx.save();
    ctx.beginPath();
    ctx.rect(xa, box.t, w, box.h);
    ctx.clip();
    ctx.fillStyle = "rgba(204,0,0,0.18)";
    ctx.fillRect(xa, box.t, w, box.h);
    ctx.strokeStyle = "rgba(204,0,0,0.8)";
    ctx.lineWidth = 1;
    ctx.beginPath();
    for (let y = box.t - w; y < box.t + box.h + w; y += 6) {
      ctx.moveTo(xa, y + w);
      ctx.lineTo(xa + w, y);
    }
    ctx.stroke();
    ctx.restore();
    out.push(p.step);
  });
  if (out.length) {
    const [xa] = colX(s.snaps.findIndex((p) => p.step === out[0]));
    ctx.fillStyle = THEME.error;
    ctx.font = "bold 11px sans-serif";
    ctx.textBaseline = "top";
    const label = out.length > 1 ? `NaN/Inf only (${out.length} steps, from ${out[0]})` : `NaN/Inf only (step ${out[0]})`;
    const w = ctx.measureText(label).width;
    ctx.textAlign = xa + w + 4 > box.l + box.w ? "right" : "left";
    const x = ctx.textAlign === "right" ? Math.max(box.l + w, xa - 3) : xa + 3;
    ctx.fillStyle = THEME.label;
    ctx.fillRect(ctx.textAlign === "right" ? x - w - 2 : x - 2, box.t + 2, w + 4, 14);
    ctx.fillStyle = THEME.error;
    ctx.fillText(label, x, box.t + 3);
    ctx.font = "11px sans-serif";
  }
  return out;
}
function brokenLine(ctx, n, xs, X, Y, f, style, dash) {
  ctx.strokeStyle = style;
  ctx.setLineDash(dash);
  ctx.beginPath();
  let on = false;
  for (let j = 0; j < n; j++) {
    const v = f(j);
    if (!Number.isFinite(v)) {
      on = false;
      continue;
    }
    on ? ctx.lineTo(X(xs[j]), Y(v)) : ctx.moveTo(X(xs[j]), Y(v));
    on = true;
  }
  ctx.stroke();
  ctx.setLineDash([]);
}
function drawBands(ctx, ps, xs, X, Y, col) {
  const runs = [];
  ps.forEach((q, j) => {
    if (!Number.isFinite(q[4])) return;
    if (runs.length && runs[runs.length - 1][1] === j - 1) runs[runs.length - 1][1] = j;
    else runs.push([j, j]);
  });
  for (let k = 0; k < 4; k++) {
    ctx.fillStyle = col;
    ctx.globalAlpha = 0.18 + 0.16 * k;
    for (const [a, b] of runs) {
      ctx.beginPath();
      for (let j = a; j <= b; j++) j === a ? ctx.moveTo(X(xs[j]), Y(ps[j][k])) : ctx.lineTo(X(xs[j]), Y(ps[j][k]));
      for (let j = b; j >= a; j--) ctx.lineTo(X(xs[j]), Y(ps[j][8 - k]));
      ctx.closePath();
      a === b ? ctx.fillRect(X(xs[a]) - 1, Y(ps[a][8 - k]), 3, Math.max(1, Y(ps[a][k]) - Y(ps[a][8 - k]))) : ctx.fill();
    }
  }
  ctx.globalAlpha = 1;
}
function drawDistribution(ctx, W, Hh, { s, cur, opts, drawn }) {
  const box = { l: 70, t: 10, w: W - 70 - 20, h: Hh - 45 };
  const { xs, ticks, label } = timeX(s, opts.x);
  const ps = s.snaps.map((p) => p.finite > 0 ? percentiles(p.edges, p.counts, p.min, p.max) : PERCENTILES.map(() => NaN));
  let lo = Infinity, hi = -Infinity;
  for (const q of ps) for (const v of q) if (Number.isFinite(v)) lo = Math.min(lo, v), hi = Math.max(hi, v);
  [lo, hi] = frame(lo, hi);
  const pad = 0.04 * (hi - lo);
  const x0 = xs[0], x1 = xs.length > 1 ? xs[xs.length - 1] : xs[0] + 1;
  const { X, Y } = axes(ctx, box, x0, x1, lo - pad, hi + pad, { xTicks: ticks, yLabel: "value", xLabel: label });
  drawBands(ctx, ps, xs, X, Y, COLORS[s.kind]);
  const n = s.snaps.length;
  brokenLine(ctx, n, xs, X, Y, (j) => ps[j][4], THEME.fg, []);
  brokenLine(ctx, n, xs, X, Y, (j) => statOf(s.snaps[j], "mean"), THEME.error, [4, 3]);
  const half = xs.length > 1 ? (X(xs[xs.length - 1]) - X(xs[0])) / (xs.length - 1) / 2 : 4;
  const nonfinite = markNonFinite(ctx, box, s, (j) => [X(xs[j]) - half, X(xs[j]) + half]);
  ctx.strokeStyle = THEME.sel;
  ctx.beginPath();
  ctx.moveTo(X(xs[cur]), box.t);
  ctx.lineTo(X(xs[cur]), box.t + box.h);
  ctx.stroke();
  const hit = (mx) => {
    const xv = x0 + (mx - box.l) / box.w * (x1 - x0);
    let j = 0;
    for (let k = 0; k < xs.length; k++) if (Math.abs(xs[k] - xv) < Math.abs(xs[j] - xv)) j = k;
    if (!Number.isFinite(ps[j][4])) return { text: `step ${s.snaps[j].step}: no finite values` };
    return { text: `step ${s.snaps[j].step}: ` + PERCENTILES.map((q, k) => `p${q} ${fmt(ps[j][k])}`).join(" \xB7 ") };
  };
  Object.assign(drawn, { percentiles: ps, steps: s.snaps.map((p) => p.step), nonfinite, mean: s.snaps.map((p) => statOf(p, "mean")) });
  return {
    hit,
    legend: "Bands: min\u2013max, 6.7\u201393.3, 15.9\u201384.1 and 30.9\u201369.1 percentiles, read off the exact bins; black: median; red dashed: mean." + (nonfinite.length ? ` Red hatching: snapshots with NaN/Inf values only (no percentiles, no mean).` : "")
  };
}

// src/views/heatmap.js
function columns(s, grid, y0, y1) {
  const cols = [], out = [];
  let vmax = 0, clipped = 0, all = 0;
  for (const p of s.snaps) {
    const t = total(p);
    if (!(t > 0)) {
      cols.push(new Float64Array(grid.length - 1));
      out.push([0, 0]);
      continue;
    }
    const share = rebin(p.edges, p.counts, grid).map((v) => v / t);
    const o = outside(p, y0, y1);
    out.push(o);
    clipped += (o[0] + o[1]) * t;
    all += t;
    for (const v of share) vmax = Math.max(vmax, v);
    cols.push(share);
  }
  return { cols, out, vmax, clipped, all };
}
function markOutside(ctx, box, colX, out) {
  let n = 0;
  const tri = (x, y, up) => {
    ctx.beginPath();
    ctx.moveTo(x - 4, up ? y + 6 : y - 6);
    ctx.lineTo(x + 4, up ? y + 6 : y - 6);
    ctx.lineTo(x, y);
    ctx.closePath();
    ctx.fill();
    ctx.stroke();
  };
  ctx.fillStyle = "#00e5ff";
  ctx.strokeStyle = "#000";
  ctx.lineWidth = 1;
  out.forEach(([below, above], j) => {
    if (!(below + above > 0)) return;
    const [xa, xb] = colX(j), x = (xa + xb) / 2;
    if (above > 0) tri(x, box.t + 1, true);
    if (below > 0) tri(x, box.t + box.h - 1, false);
    n++;
  });
  return n;
}
function meanLine(ctx, s, colX, Y, y0, y1) {
  ctx.strokeStyle = "#fff";
  ctx.lineWidth = 1;
  ctx.beginPath();
  let on = false;
  s.snaps.forEach((p, j) => {
    const m = statOf(p, "mean");
    if (!Number.isFinite(m)) return void (on = false);
    const [xa, xb] = colX(j);
    const x = (xa + xb) / 2, y = Y(Math.min(y1, Math.max(y0, m)));
    on ? ctx.lineTo(x, y) : ctx.moveTo(x, y);
    on = true;
  });
  ctx.stroke();
}
function frameSelected(ctx, box, colX, cur) {
  const [ca, cb] = colX(cur);
  const sel = { x: ca - 1, w: Math.max(3, cb - ca) + 2 };
  ctx.lineWidth = 2;
  ctx.strokeStyle = "#fff";
  ctx.strokeRect(sel.x - 1, box.t - 1, sel.w + 2, box.h + 2);
  ctx.lineWidth = 1;
  ctx.strokeStyle = THEME.sel;
  ctx.strokeRect(sel.x, box.t, sel.w, box.h);
  ctx.fillStyle = THEME.sel;
  ctx.beginPath();
  ctx.moveTo(sel.x + sel.w / 2 - 5, box.t - 1);
  ctx.lineTo(sel.x + sel.w / 2 + 5, box.t - 1);
  ctx.lineTo(sel.x + sel.w / 2, box.t + 6);
  ctx.fill();
  return sel;
}
function shareBar(ctx, box, vmax, log) {
  const cbar = { x: box.l + box.w + 14, w: 12 };
  colorBar(ctx, cbar.x, box, cbar.w);
  ctx.fillStyle = THEME.fg;
  ctx.textAlign = "left";
  ctx.textBaseline = "middle";
  const labels = [pct(vmax), "0%"];
  ctx.fillText(labels[0], cbar.x + cbar.w + 3, box.t + 4);
  ctx.fillText(labels[1], cbar.x + cbar.w + 3, box.t + box.h - 4);
  ctx.save();
  ctx.translate(cbar.x + cbar.w + 44, box.t + box.h / 2);
  ctx.rotate(Math.PI / 2);
  ctx.textAlign = "center";
  ctx.fillText(log ? "share of values (log)" : "share of values", 0, 0);
  ctx.restore();
  return labels;
}
function pointer2(s, box, xs, xEnd, grid, colX, Y, cols, out) {
  const G = grid.length - 1, n = s.snaps.length;
  const column = (mx) => {
    const xv = xs[0] + (mx - box.l) / box.w * (xEnd - xs[0]);
    let j = -1;
    for (let k = 0; k < n; k++) if (xs[k] <= xv) j = k;
    return j;
  };
  const hit = (mx, my) => {
    const j = column(mx);
    const g = Math.floor((box.t + box.h - my) / box.h * G);
    if (j < 0 || g < 0 || g >= G) return null;
    const p = s.snaps[j];
    const [xa, xb] = colX(j), ya = Y(grid[g + 1]), yb = Y(grid[g]);
    const rect = [xa, ya, Math.max(2, xb - xa), Math.max(2, yb - ya)];
    if (!(p.finite > 0)) return { rect, text: `step ${p.step}: no finite values (` + describe(p, s.explicit).split(" \xB7 ").pop() + ")" };
    const [below, above] = out[j];
    return { rect, text: `step ${p.step}: [${fmt(grid[g])}, ${fmt(grid[g + 1])})  ${pct(cols[j][g])} of its values` + (below + above > 0 ? ` \xB7 outside the range: ${pct(below)} below, ${pct(above)} above` : "") };
  };
  const pick2 = (mx, my) => {
    const got = hit(mx, my);
    const j = column(mx);
    return got && j >= 0 ? { view: null, step: s.snaps[j].step, rect: got.rect } : null;
  };
  return { hit, pick: pick2 };
}
function drawHeatmap(ctx, W, Hh, { s, cur, opts, drawn }) {
  const box = { l: 70, t: 10, w: W - 70 - 96, h: Hh - 45 };
  const full = xRange(s, s.snaps[cur], opts, "heatmap");
  const robust = opts.range === "auto" ? robustRange(s.snaps, full) : null;
  const [y0, y1] = robust || full;
  const G = Math.max(8, Math.min(256, Math.floor(box.h / 2)));
  const grid = Float64Array.from({ length: G + 1 }, (_, j) => y0 + (y1 - y0) * j / G);
  const { xs, ticks, label } = timeX(s, opts.x);
  const n = s.snaps.length;
  const xEnd = n > 1 ? xs[n - 1] + (xs[n - 1] - xs[n - 2]) : xs[0] + 1;
  const { cols, out, vmax, clipped, all } = columns(s, grid, y0, y1);
  const cv = (v) => opts.logColor ? Math.log10(1 + 1e3 * v) / Math.log10(1 + 1e3 * (vmax || 1)) : v / (vmax || 1);
  const { X, Y } = axes(ctx, box, xs[0], xEnd, y0, y1, { xTicks: ticks, yLabel: "value", xLabel: label });
  const colX = (j) => [X(xs[j]), X(j + 1 < n ? xs[j + 1] : xEnd)];
  ctx.fillStyle = ramp(0);
  ctx.fillRect(box.l + 1, box.t, box.w - 1, box.h);
  for (let j = 0; j < n; j++) {
    const [xa, xb] = colX(j);
    for (let g = 0; g < G; g++) {
      if (cols[j][g] <= 0) continue;
      ctx.fillStyle = ramp(cv(cols[j][g]));
      const ya = Y(grid[g + 1]), yb = Y(grid[g]);
      ctx.fillRect(xa, ya, Math.max(1, xb - xa + 0.5), Math.max(1, yb - ya + 0.5));
    }
  }
  const nonfinite = markNonFinite(ctx, box, s, colX);
  const marked = markOutside(ctx, box, colX, out);
  meanLine(ctx, s, colX, Y, y0, y1);
  const sel = frameSelected(ctx, box, colX, cur);
  const barLabels = shareBar(ctx, box, vmax, opts.logColor);
  const legend = "Each column is one snapshot re-binned onto one value grid (mass conserved); colour is its share of the snapshot's finite values; white line: mean; blue frame: the selected step." + (nonfinite.length ? ` Red hatching: ${nonfinite.length} snapshot${nonfinite.length > 1 ? "s" : ""} with NaN/Inf values only.` : "") + (robust ? ` Range: the bulk of the steps (from the 10th percentile of their lowest values to the 90th of their highest); ` : "") + (clipped > 0 ? ` ${pct(clipped / (all || 1))} of the finite values lie outside it, in ${marked} snapshot${marked === 1 ? "" : "s"}: \u25B2/\u25BC at the top/bottom edge (range: all steps shows them).` : "");
  Object.assign(drawn, {
    grid: Array.from(grid),
    shares: cols.map((c) => Array.from(c)),
    steps: s.snaps.map((p) => p.step),
    colorbar: barLabels,
    selected: [sel.x, sel.w],
    nonfinite,
    outside: clipped / (all || 1),
    range: [y0, y1],
    full,
    robust: !!robust,
    marked
  });
  return { ...pointer2(s, box, xs, xEnd, grid, colX, Y, cols, out), legend };
}

// src/views/pointer.js
var Pointer = class {
  constructor(canvas, tip, { marks = null, tipRoom = 260, onBin = null } = {}) {
    Object.assign(this, { canvas, tip, marks, tipRoom, onBin, hit: null, pick: null, bin: null });
    canvas.addEventListener("mousemove", (e) => this.move(e));
    canvas.addEventListener("mouseleave", () => {
      this.tip.style.display = "none";
      this.setBin(null);
      this.mark(null);
    });
  }
  /** What answers the pointer now (a drawing's hit and pick; null: nothing). */
  use(got) {
    this.hit = got && got.hit || null;
    this.pick = got && got.pick || null;
  }
  /** Where a pointer event is on the canvas. */
  at(e) {
    const r = this.canvas.getBoundingClientRect();
    return [e.clientX - r.left, e.clientY - r.top, r];
  }
  /** A click: what it picks (with its rect), or null. */
  picked(e) {
    const [mx, my] = this.at(e);
    return this.pick ? this.pick(mx, my) : null;
  }
  setBin(bin) {
    if (bin === this.bin) return;
    this.bin = bin;
    if (this.onBin) this.onBin(bin);
  }
  move(e) {
    if (!this.hit) return;
    const [mx, my, r] = this.at(e);
    const got = this.hit(mx, my);
    if (!got) {
      this.tip.style.display = "none";
      this.mark(null);
      return;
    }
    this.tip.textContent = got.text;
    this.tip.style.display = "block";
    this.tip.style.left = Math.max(0, Math.min(mx + 12, r.width - this.tipRoom)) + "px";
    this.tip.style.top = my + 12 + "px";
    this.canvas.style.cursor = this.pick ? "pointer" : "";
    this.mark(got);
    if (got.bin !== void 0) this.setBin(got.bin);
  }
  /** Frame the cell `got.rect` ([x, y, w, h] on the canvas) and write `got.label` ({text,
   * x, y}: a row's name where not every row is labelled) on its own background; `clicked`:
   * a heavier frame that fades. null clears. */
  mark(got, clicked = false) {
    const c = this.marks;
    if (!c) return;
    if (!got || !got.rect) {
      if (c.dataset.on) {
        c.getContext("2d").clearRect(0, 0, c.width, c.height);
        delete c.dataset.on;
        delete c.dataset.rect;
      }
      return;
    }
    const w = parseFloat(this.canvas.style.width) || this.canvas.clientWidth, h = parseFloat(this.canvas.style.height) || this.canvas.clientHeight;
    const ctx = sizeCanvas(c, w, h);
    const [x, y, rw, rh] = got.rect;
    ctx.fillStyle = THEME.dark ? "rgba(255,255,255,0.18)" : "rgba(0,0,0,0.12)";
    ctx.fillRect(x, y, rw, rh);
    ctx.lineWidth = clicked ? 3 : 1.5;
    ctx.strokeStyle = THEME.bg;
    ctx.strokeRect(x - 1.5, y - 1.5, rw + 3, rh + 3);
    ctx.strokeStyle = THEME.sel;
    ctx.strokeRect(x - 0.5, y - 0.5, rw + 1, rh + 1);
    if (got.label) {
      ctx.font = "bold 10px sans-serif";
      const tw = ctx.measureText(got.label.text).width;
      const lx = got.label.x, ly = got.label.y;
      ctx.fillStyle = THEME.bg;
      ctx.fillRect(lx - tw - 4, ly - 7, tw + 6, 14);
      ctx.fillStyle = THEME.fg;
      ctx.textAlign = "right";
      ctx.textBaseline = "middle";
      ctx.fillText(got.label.text, lx, ly);
    }
    c.dataset.on = clicked ? "click" : "hover";
    c.dataset.rect = JSON.stringify(got.rect.map((v) => +v.toFixed(1)));
    if (clicked) setTimeout(() => c.dataset.on === "click" && this.mark(null), 700);
  }
};
function drawKept(c, width, s, i) {
  const n = s.snaps.length;
  const thinned = s.recorded > n;
  const w = Math.max(40, width || 200), h = 8;
  const ctx = sizeCanvas(c, w, h);
  const x0 = s.snaps[0].step, x1 = Math.max(s.snaps[n - 1].step, x0 + 1);
  const pad = 8;
  const X = (st) => pad + (st - x0) / (x1 - x0) * (w - 2 * pad);
  if (thinned) {
    ctx.fillStyle = THEME.dark ? "rgba(255,255,255,0.12)" : "rgba(0,0,0,0.08)";
    ctx.fillRect(pad, 2, w - 2 * pad, h - 3);
  }
  ctx.fillStyle = THEME.fg2;
  for (const p of s.snaps) ctx.fillRect(Math.round(X(p.step)) - 0.5, thinned ? 1 : 3, 1, thinned ? h - 1 : h - 3);
  ctx.fillStyle = THEME.sel;
  ctx.fillRect(Math.round(X(s.snaps[i].step)) - 1, 0, 3, h);
  c.dataset.steps = JSON.stringify(s.snaps.map((p) => p.step));
  c.dataset.thinned = thinned ? "1" : "0";
  c.title = thinned ? `the ${n} steps this saved copy keeps of the ${s.recorded} recorded, on the step axis: the gaps were thinned out to fit the notebook` : `the ${n} kept steps on the step axis`;
}

// src/views/probes.js
var STRIP_H = 120;
function valueAxis(log, series, band, pad, fallback) {
  if (!log) return { y0: 0, y1: 1, f: (v) => v, yTicks: [[0, "0"], [0.5, "50%"], [1, "100%"]] };
  const f = (v) => v > 0 ? Math.log10(v) : NaN;
  let y0 = Infinity, y1 = -Infinity;
  for (const c of series) for (const v of c.values) if (v > 0 && Number.isFinite(v)) {
    y0 = Math.min(y0, f(v));
    y1 = Math.max(y1, f(v));
  }
  for (const t of band || []) {
    y0 = Math.min(y0, f(t));
    y1 = Math.max(y1, f(t));
  }
  if (!Number.isFinite(y0)) [y0, y1] = fallback;
  y0 = Math.floor(y0 - pad);
  y1 = Math.max(Math.ceil(y1 + pad), y0 + 1);
  return { y0, y1, f, yTicks: niceTicks(y0, y1, 4).filter(Number.isInteger).map((v) => [v, "1e" + v]) };
}
function drawStrip(canvas, width, { x0, x1, log, pad, fallback, lines, faint = [], band = null, at }) {
  const W = Math.max(320, width || 600);
  const ctx = sizeCanvas(canvas, W, STRIP_H);
  const box = { l: 58, t: 16, w: W - 58 - 96, h: STRIP_H - 40 };
  const { y0, y1, f, yTicks: yTicks2 } = valueAxis(log, [...lines, ...faint], band, pad, fallback);
  const { X, Y } = axes(ctx, box, x0, x1, y0, y1, { yTicks: yTicks2, xTicks: niceTicks(x0, x1, 6).map((v) => [v, fmt(v)]) });
  ctx.fillStyle = THEME.dark ? "rgba(255,255,255,0.07)" : "rgba(0,0,0,0.05)";
  if (band) ctx.fillRect(box.l, Y(f(band[1])), box.w, Y(f(band[0])) - Y(f(band[1])));
  ctx.strokeStyle = THEME.faint;
  ctx.lineWidth = 1;
  for (const c of faint) polyline(ctx, c.steps, c.values, X, Y, f);
  let legendX = box.l + 4;
  for (const c of lines) {
    if (c.rule !== void 0) {
      ctx.strokeStyle = THEME.fg2;
      ctx.setLineDash([4, 3]);
      ctx.beginPath();
      ctx.moveTo(box.l, Y(c.rule));
      ctx.lineTo(box.l + box.w, Y(c.rule));
      ctx.stroke();
      ctx.setLineDash([]);
    }
    ctx.strokeStyle = ctx.fillStyle = c.color;
    ctx.lineWidth = 1.5;
    ctx.setLineDash(c.dash || []);
    polyline(ctx, c.steps, c.values, X, Y, f);
    ctx.setLineDash([]);
    for (let i = 0; i < c.steps.length; i++) if (Number.isFinite(f(c.values[i]))) ctx.fillRect(X(c.steps[i]) - 1.5, Y(f(c.values[i])) - 1.5, 3, 3);
    if (!c.legend) continue;
    if (c.legendColor) ctx.fillStyle = c.legendColor;
    ctx.textAlign = "left";
    ctx.textBaseline = "alphabetic";
    ctx.fillText(c.legend, legendX, 11);
    legendX += ctx.measureText(c.legend).width + 16;
  }
  ctx.strokeStyle = THEME.fg;
  ctx.lineWidth = 1;
  ctx.beginPath();
  ctx.moveTo(X(at), box.t);
  ctx.lineTo(X(at), box.t + box.h);
  ctx.stroke();
}
function showStrip(canvas, drawn) {
  canvas.style.display = drawn ? "" : "none";
  if (drawn) canvas.dataset.drawn = JSON.stringify(drawn);
  else delete canvas.dataset.drawn;
}
var PROBE_COLORS = () => THEME.dark ? ["#f4a261", "#b39ddb"] : ["#c2410c", "#6a4c93"];
var NORM_COLORS = (kind) => THEME.dark ? kind === "grads" ? ["#8ecae6"] : ["#5fd3c3", "#b39ddb"] : kind === "grads" ? ["#2f5f80"] : ["#1d6f65", "#6a4c93"];
function drawProbes(canvas, width, { store, s, snap, th }) {
  const got = (PROBES[s.kind] || []).map(([m, label, log2]) => [m, label, log2, store.scalar(m, s.name)]).filter((p) => p[3] && p[3].steps.length);
  if (!got.length) return null;
  const log = got[0][2];
  const mates = log ? store.ofKind(s.kind).filter((o) => o.name !== s.name) : [];
  if (mates.length) store.wantDepth(s.kind, got[0][0], mates);
  const others = mates.map((o) => store.scalar(got[0][0], o.name)).filter((c) => c && c.steps.length);
  const colors = PROBE_COLORS();
  const lines = got.map(([m, label, , c], k) => ({ legend: "\u2014 " + label + (k === 0 && log ? " (grey: the other weight matrices)" : ""), color: colors[k % colors.length], steps: c.steps, values: c.values, rule: log ? void 0 : th[m] }));
  const x0 = s.snaps[0].step, x1 = Math.max(s.snaps[s.snaps.length - 1].step, x0 + 1);
  drawStrip(canvas, width, { x0, x1, log, pad: 0.2, fallback: [-4, -2], lines, faint: others, band: log ? th.update_ratio : null, at: snap.step });
  const metrics = Object.fromEntries(got.map(([m, , , c]) => [m, { steps: c.steps.slice(), values: c.values.slice() }]));
  return { kind: s.kind, name: s.name, step: snap.step, metrics, others: others.length };
}
function drawNorms(canvas, width, { store, s, snap, models }) {
  const got = (NORMS[s.kind] || []).map(([m, label, by]) => [m, label, by === "model" ? models[s.name] : s.name]).map(([m, label, of]) => [m, label, of, of === void 0 ? null : store.scalar(m, of)]).filter((p) => p[3] && p[3].steps.length);
  if (!got.length) return null;
  const colors = NORM_COLORS(s.kind);
  const lines = got.map(([, label, of, c], k) => {
    const i = c.steps.indexOf(snap.step);
    return { legend: "\u2014 " + label + (of !== s.name ? ` (${of})` : "") + (i >= 0 ? `: ${fmt(c.values[i])}` : ""), color: colors[k % colors.length], steps: c.steps, values: c.values };
  });
  const x0 = Math.min(s.snaps[0].step, ...got.map((g) => g[3].steps[0]));
  const x1 = Math.max(s.snaps[s.snaps.length - 1].step, ...got.map((g) => g[3].steps[g[3].steps.length - 1]), x0 + 1);
  drawStrip(canvas, width, { x0, x1, log: true, pad: 0.1, fallback: [-3, 0], lines, at: snap.step });
  const metrics = Object.fromEntries(got.map(([m, , of, c]) => [m, { of, steps: c.steps.slice(), values: c.values.slice() }]));
  return { kind: s.kind, name: s.name, step: snap.step, metrics };
}
var DASHES = [[], [5, 3], [1, 2]];
function drawRunStrip(canvas, width, { store, table, t, runs, steps, at, th }) {
  const lines = [], drawn = [];
  const entries = table[t.kind] || [];
  entries.forEach(([m, label, how], k) => {
    const legend = (k ? "\u2504 " : "\u2014 ") + label;
    runs.forEach((run, r) => {
      const of = how === "model" ? (run.models || {})[t.name] : t.name;
      const c = of === void 0 ? null : store.scalar(m, of, r);
      if (!c || !c.steps.length) return;
      const first = !lines.some((l) => l.metric === m);
      const rule = first && table === PROBES && !how ? th[m] : void 0;
      lines.push({ metric: m, legend: first ? legend : "", legendColor: THEME.fg, color: run.color, steps: c.steps, values: c.values, dash: DASHES[k % DASHES.length], rule });
      drawn.push({ metric: m, run: r, of, steps: c.steps.slice(), values: c.values.slice() });
    });
  });
  if (!lines.length) return null;
  const log = table === NORMS || entries[0][2] === true;
  const x0 = Math.min(steps[0], ...lines.map((c) => c.steps[0]));
  const x1 = Math.max(steps[steps.length - 1], ...lines.map((c) => c.steps[c.steps.length - 1]), x0 + 1);
  drawStrip(canvas, width, { x0, x1, log, pad: table === NORMS ? 0.1 : 0.2, fallback: table === NORMS ? [-3, 0] : [-4, -2], lines, band: log && table === PROBES ? th.update_ratio : null, at });
  return { kind: t.kind, name: t.name, step: at, lines: drawn };
}

// src/view.js
var PLOT_H = 320;
var PLOTS = {
  step: (ctx, W, H, a) => drawStep(ctx, W, H, a),
  overlay: (ctx, W, H, a) => drawOverlay(ctx, W, H, a),
  offset: (ctx, W, H, a) => drawOffset(ctx, W, H, { ...a, cur: a.i }),
  heatmap: (ctx, W, H, a) => drawHeatmap(ctx, W, H, { ...a, cur: a.i }),
  distribution: (ctx, W, H, a) => drawDistribution(ctx, W, H, { ...a, cur: a.i })
};
var View = class {
  /** The dashboard in `host`, showing `store` with its controls' state in `model` (the
   * widget's, or a `localModel`); `saved`: the saved copy's header entry (no kernel). */
  constructor(model, host, store, saved = null) {
    this.frame = new Frame(model, host, { cls: "tfh", saved, redraw: () => this.draw() });
    Object.assign(this, { model, store, saved, root: this.frame.root, pins: [] });
    this.root.addEventListener("keydown", (e) => rootKey(e, this.root, this.ui, (by) => this.stepBy(by)));
    this.opts = { log: false, range: "auto", x: "step", logColor: true, gridHeat: false, gridSort: "order", gridUnusual: false, depth: {}, depthAll: false };
    const had = model.get("opts");
    if (had && typeof had === "object") {
      for (const k of Object.keys(this.opts)) if (had[k] !== void 0) this.opts[k] = k === "depth" ? { ...had[k] } : had[k];
    }
    this.ui = buildControls(this.root, this.opts, {
      set: (ch) => this.set(ch),
      changed: () => (this.saveOpts(), this.draw()),
      filtered: () => (this.buildList(), this.draw()),
      slid: (i) => this.slid(i),
      follow: (on) => on && this.set({ step: -1 }),
      pin: () => this.pinStep()
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
    if (got.view === null) this.pointer.mark(got, true);
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
      this.set({ kind: f.kind, step: f.step, view: "step", ...f.name ? { tensor: f.name } : {} });
    });
    this.draw();
  }
  buildList() {
    const kind = this.kind();
    const { q, list } = this.filtered(kind);
    this.picker.show({ kind, cur: this.current(), q, series: list, badges: badges(this.store), models: this.store.header && this.store.header.models || {} });
  }
  /** The status line and the empty state; while the kernel reports a status (the
   * training function being traced), its elapsed time counts up every second. The line
   * is one line at any width: what does not fit is in its tooltip. */
  tick() {
    const h = this.store.header;
    const st = h && h.status;
    const said = st ? statusText(st, this.store.statusElapsed()) : "";
    this.root.dataset.status = said;
    if (st && !this.ticker) this.ticker = setInterval(() => this.tick(), 1e3);
    if (!st && this.ticker) this.ticker = clearInterval(this.ticker);
    const live = !!(h && h.live);
    const saving = !!(h && h.saving);
    this.root.dataset.saving = saving ? "1" : "0";
    this.ui.empty.textContent = said || (live || !h ? "Waiting for the first snapshot\u2026" : "Nothing was recorded.");
    const n = [...this.store.series.values()].filter((s) => s.snaps.length).length;
    const lead = live ? "\u25CF recording \xB7 " : saving ? "\u25CF saving\u2026 \xB7 " : this.saved ? "saved in the notebook \xB7 " : "";
    const thinned = this.saved && this.saved.thinned ? ` \xB7 ${this.saved.per_series ? "about " + this.saved.per_series : "some"} snapshots per tensor kept` : "";
    const text = lead + `${n} series` + (said ? " \xB7 " + said : "") + (this.store.stale ? " \xB7 some updates missed, catching up" : "") + thinned;
    this.ui.status.textContent = text;
    this.ui.status.title = text + (saving ? "\nThe cell has ended; the dashboard the notebook keeps is being built and takes this one's place when it has drawn." : "") + (this.saved ? "\nThis copy is saved in the notebook" + (this.saved.note ? ": " + this.saved.note : ", every recorded snapshot.") : "");
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
    const wide = view === "grid" || view === "depth";
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
    if (!wide && this.ui.below.isConnected) this.belowH = this.ui.below.offsetHeight;
    this.root.dataset.drawMs = (performance.now() - t0).toFixed(1);
    this.frame.firstDraw(this.store);
  }
  /** What says where the page is: the loading line, slider, step, title and statistics. */
  drawHeader(s, i, view, wide) {
    const ui = this.ui, snap = s.snaps[i];
    const complete = this.store.complete(s);
    if (!wide && !complete) this.store.wantHistory([s]);
    ui.loading.style.display = !wide && !complete ? "" : "none";
    if (!wide && !complete) this.sayLoading(s);
    ui.slider.max = s.snaps.length - 1;
    ui.slider.value = i;
    ui.followBox.checked = this.model.get("step") < 0;
    const thinned = s.recorded > s.snaps.length;
    ui.at.textContent = `step ${snap.step}` + (snap.epoch >= 0 ? ` \xB7 epoch ${snap.epoch + 1}` : "") + ` \xB7 ${i + 1}/${s.snaps.length}` + (thinned ? ` kept of ${s.recorded}` : complete ? "" : ` here of ${s.kept}`);
    ui.at.title = `snapshot ${i + 1} of the ${s.snaps.length} ` + (thinned ? `this saved copy keeps (the run recorded ${s.recorded}: the ticks under the slider are the kept steps, the gaps between them were thinned out to fit the notebook)` : complete ? "kept" : `here (${s.kept} kept)`);
    ui.title.textContent = `${TITLES[s.kind]} \xB7 ${wide ? view === "grid" ? "all tensors" : "depth \xD7 step" : s.name}` + (!wide && s.dtype && s.dtype !== "float32" && s.dtype !== "unknown" ? ` (${s.dtype})` : "");
    ui.title.title = ui.title.textContent;
    ui.stats.textContent = wide ? "" : describe(snap, s.explicit);
    ui.stats.title = ui.stats.textContent;
    ui.stats.classList.toggle("tfh-bad", !wide && snap.nan + snap.posinf + snap.neginf > 0);
  }
  /** Of a Series the page holds only some snapshots of: where the rest is. */
  sayLoading(s) {
    const live = this.store.header && this.store.header.live;
    const asked = this.store.asked.get(`series	${s.kind}	${s.name}`);
    const late = asked !== void 0 && performance.now() - asked > 1e4;
    this.ui.loading.textContent = `${s.snaps.length} of the ${s.kept} kept snapshots are here; the rest ` + (live ? "arrive when the running cell ends (the kernel answers when idle)." : late ? "need the kernel, which has not answered (busy, or not running: a notebook reopened without its kernel has the latest snapshots only)." : "are on their way from the kernel\u2026");
    if (!live && !late && !this.lateCheck) this.lateCheck = setTimeout(() => (this.lateCheck = null, this.draw()), 10500);
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
    if (view !== this.drawnView) ui.tip.style.display = "none";
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
      got = view === "depth" ? this.drawDepth(width, height, s, snap, drawn) : (PLOTS[view] || PLOTS.step)(
        sizeCanvas(ui.canvas, width, height),
        width,
        height,
        { s, snap, i, opts: this.opts, pins: this.pins, hoverAt: this.pointer.bin, drawn }
      );
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
};

// src/widget.js
var STORES = /* @__PURE__ */ new Map();
function storeFor(model) {
  const uid = model.get("_uid");
  let entry = STORES.get(uid);
  if (!entry) {
    const store = new Store((msg) => model.send(msg));
    const full = () => {
      const d = model.get("_data");
      if (d && d.byteLength) store.receive(d);
    };
    const custom = (msg, buffers) => {
      if (msg && msg.tfhist && buffers && buffers.length) {
        store.receive(buffers[0]);
        store.catchUp(msg.tfhist === "full");
      }
    };
    full();
    model.on("change:_data", full);
    model.on("msg:custom", custom);
    entry = {
      store,
      free() {
        model.off("change:_data", full);
        model.off("msg:custom", custom);
        store.listeners.clear();
        STORES.delete(uid);
      }
    };
    STORES.set(uid, entry);
  }
  return entry;
}
function stateOf(model, view) {
  const out = Object.fromEntries(["kind", "tensor", "view", "step"].map((k) => [k, model.get(k)]));
  out.opts = JSON.parse(JSON.stringify(view.opts));
  return out;
}
function liveViews() {
  const g = globalThis;
  if (!g.__tfhistLive) g.__tfhistLive = /* @__PURE__ */ new Map();
  return g.__tfhistLive;
}
function register(model, view) {
  const uid = model.get("_uid");
  const entry = { root: view.root, height: 0, claimed: false, state: () => stateOf(model, view) };
  const sized = new ResizeObserver(() => {
    const h = view.root.getBoundingClientRect().height;
    if (h > 0) entry.height = h;
    if (h > 0 && Math.abs(h - (entry.told || 0)) > 8) tell();
  });
  let timer = null;
  const tell = () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      entry.told = Math.round(entry.height);
      model.send({ page: { ...entry.state(), height: entry.told } });
    }, 60);
  };
  const keys = ["kind", "tensor", "view", "step", "opts"];
  for (const k of keys) model.on("change:" + k, tell);
  sized.observe(view.root);
  liveViews().set(uid, entry);
  return () => {
    for (const k of keys) model.off("change:" + k, tell);
    clearTimeout(timer);
    sized.disconnect();
    const st = entry.state();
    entry.state = () => st;
    handOver(uid, st);
    view.destroy(true);
    if (!entry.claimed) view.root.remove();
    if (!entry.claimed) setTimeout(() => liveViews().get(uid) === entry && !entry.claimed && liveViews().delete(uid), 6e4);
  };
}
function handOver(uid, state) {
  const g = globalThis;
  if (!g.__tfhistHandOver) g.__tfhistHandOver = /* @__PURE__ */ new Map();
  g.__tfhistHandOver.set(uid, state);
}
var widget_default = {
  initialize({ model }) {
    const entry = storeFor(model);
    return () => entry.free();
  },
  render({ model, el: host }) {
    const view = new View(model, host, storeFor(model).store);
    return register(model, view);
  }
};

// src/views/compare-draw.js
function density(snap) {
  const t = total(snap);
  const out = new Float64Array(snap.counts.length);
  if (!(t > 0)) return out;
  for (let b = 0; b < out.length; b++) {
    const w = snap.edges[b + 1] - snap.edges[b];
    out[b] = w > 0 ? snap.counts[b] / t / w : 0;
  }
  return out;
}
function drawOverlay2(canvas, W, { snaps, runs, drawn }) {
  const Hh = 300;
  const ctx = sizeCanvas(canvas, W, Hh);
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
    ctx.strokeStyle = runs[r].color;
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
  const legend = "Each run's snapshot at this compared step, drawn from its own exact bins as a density (count / values / bin width), so runs with other bins compare." + (bad.length ? " NaN/Inf: " + bad.map(([r, n]) => `${n} in ${runs[r].label}`).join(", ") + "." : "");
  const hit = (mx) => {
    const v = lo + (mx - box.l) / box.w * (hi - lo);
    const parts = snaps.map((p, r) => {
      let d = 0;
      for (let b = 0; b < p.counts.length; b++) if (p.edges[b] <= v && v < p.edges[b + 1]) d = dens[r][b];
      return `${runs[r].label} ${fmt(d)}`;
    });
    return { text: `at ${fmt(v)}: density ` + parts.join(" \xB7 ") };
  };
  drawn.range = [lo, hi];
  drawn.lines = snaps.map((p, r) => ({ run: r, color: runs[r].color, edges: Array.from(p.edges), density: Array.from(dens[r]), counts: Array.from(p.counts) }));
  return { hit, legend };
}
function drawHeatmaps(canvas, W, { t, runs, steps, drawn }) {
  const R = t.series.length;
  const Hh = 300;
  const ctx = sizeCanvas(canvas, W, Hh);
  const all = t.series.flatMap((s) => s.snaps.slice(0, t.n));
  const [y0, y1] = valueRange(all);
  const G = 64;
  const grid = Float64Array.from({ length: G + 1 }, (_, g) => y0 + (y1 - y0) * g / G);
  const gap = 14, left = 62;
  const pw = (W - left - 10 - gap * (R - 1)) / R;
  const cols = t.series.map((s) => s.snaps.slice(0, t.n).map((p) => {
    const tt = total(p);
    return tt > 0 ? rebin(p.edges, p.counts, grid).map((v) => v / tt) : new Float64Array(G);
  }));
  let vmax = 0;
  for (const c of cols) for (const col of c) for (const v of col) vmax = Math.max(vmax, v);
  const cv = (v) => Math.log10(1 + 1e3 * v) / Math.log10(1 + 1e3 * (vmax || 1));
  const panels = [];
  for (let r = 0; r < R; r++) {
    const box = { l: left + r * (pw + gap), t: 22, w: pw, h: Hh - 22 - 32 };
    const ticks = [[0, String(steps[0])], [t.n - 1, String(steps[t.n - 1])]];
    const { Y } = axes(ctx, box, 0, Math.max(1, t.n), y0, y1, { xTicks: ticks.map(([i, l]) => [i + 0.5, l]), yTicks: r ? [] : void 0, yLabel: r ? "" : "value" });
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
    ctx.strokeStyle = THEME.sel;
    ctx.lineWidth = 1.5;
    ctx.strokeRect(box.l + t.j * cw, box.t, Math.max(2, cw), box.h);
    ctx.fillStyle = runs[r].color;
    ctx.font = "bold 12px sans-serif";
    ctx.textAlign = "left";
    ctx.textBaseline = "top";
    ctx.fillText(runs[r].label, box.l + 2, 3);
    ctx.font = "11px sans-serif";
    panels.push({ run: r, box: [box.l, box.t, box.w, box.h] });
  }
  const legend = `A heatmap per run, side by side: each column one compared step (${fmt(steps[0])} to ${fmt(steps[t.n - 1])}), re-binned onto one value grid (mass conserved); colour is the share of the snapshot's finite values (log; one scale for all runs, largest ${pct(vmax)}); blue frame: the selected step.`;
  const hit = (mx, my) => {
    const p = panels.find((q) => mx >= q.box[0] && mx < q.box[0] + q.box[2] && my >= q.box[1] && my < q.box[1] + q.box[3]);
    if (!p) return null;
    const j = Math.floor((mx - p.box[0]) / p.box[2] * t.n), g = Math.floor((p.box[1] + p.box[3] - my) / p.box[3] * G);
    if (j < 0 || j >= t.n || g < 0 || g >= G) return null;
    const s = t.series[p.run].snaps[j];
    return { text: `${runs[p.run].label}, step ${s.step}: [${fmt(grid[g])}, ${fmt(grid[g + 1])})  ${pct(cols[p.run][j][g])} of its values` };
  };
  Object.assign(drawn, { panels, grid: [y0, y1], vmax, columns: cols.map((c) => c.length) });
  return { hit, legend };
}
function drawBands2(canvas, W, { t, runs, steps, drawn }) {
  const Hh = 300;
  const ctx = sizeCanvas(canvas, W, Hh);
  const box = { l: 62, t: 10, w: W - 62 - 20, h: Hh - 45 };
  const ps = t.series.map((s) => s.snaps.slice(0, t.n).map((p) => p.finite > 0 ? percentiles(p.edges, p.counts, p.min, p.max) : PERCENTILES.map(() => NaN)));
  let lo = Infinity, hi = -Infinity;
  for (const run of ps) for (const q of run) for (const v of q) if (Number.isFinite(v)) lo = Math.min(lo, v), hi = Math.max(hi, v);
  [lo, hi] = frame(lo, hi);
  const pad = 0.04 * (hi - lo);
  const x0 = steps[0], x1 = steps.length > 1 ? steps[steps.length - 1] : steps[0] + 1;
  const { X, Y } = axes(ctx, box, x0, x1, lo - pad, hi + pad, { yLabel: "value", xLabel: "step" });
  ps.forEach((run, r) => {
    const color = runs[r].color;
    for (const [k, alpha] of [[1, 0.15], [2, 0.25]]) {
      ctx.fillStyle = color;
      ctx.globalAlpha = alpha;
      ctx.beginPath();
      let on2 = false;
      for (let j = 0; j < run.length; j++) if (Number.isFinite(run[j][k])) on2 ? ctx.lineTo(X(steps[j]), Y(run[j][k])) : ctx.moveTo(X(steps[j]), Y(run[j][k])), on2 = true;
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
  ctx.strokeStyle = THEME.sel;
  ctx.lineWidth = 1;
  ctx.beginPath();
  ctx.moveTo(xs, box.t);
  ctx.lineTo(xs, box.t + box.h);
  ctx.stroke();
  const legend = "Each run's distribution over the compared steps, read off its exact bins: the median (line), the 15.9\u201384.1 and 6.7\u201393.3 percentile bands (\xB11\u03C3, \xB11.5\u03C3 of a normal), one colour per run; blue: the selected step.";
  const hit = (mx) => {
    const v = x0 + (mx - box.l) / box.w * (x1 - x0);
    let j = 0;
    for (let k = 0; k < steps.length; k++) if (Math.abs(steps[k] - v) < Math.abs(steps[j] - v)) j = k;
    return { text: `step ${steps[j]}: median ` + ps.map((run, r) => `${runs[r].label} ${fmt(run[j][4])}`).join(" \xB7 ") };
  };
  Object.assign(drawn, { x: steps, medians: ps.map((run) => run.map((q) => Number.isFinite(q[4]) ? q[4] : null)) });
  return { hit, legend };
}
function drawScores(canvas, W, { store, t }) {
  const c = store.scalar(`score.${t.kind}`, t.name);
  if (!c || !c.steps.length) return void (canvas.style.display = "none");
  canvas.style.display = "";
  const Hh = 90;
  const ctx = sizeCanvas(canvas, W, Hh);
  const box = { l: 62, t: 14, w: W - 62 - 20, h: Hh - 34 };
  const xs = c.steps, ys = c.values;
  let top = 0;
  for (const v of ys) if (Number.isFinite(v)) top = Math.max(top, v);
  const x1 = xs.length > 1 ? xs[xs.length - 1] : xs[0] + 1;
  const { X, Y } = axes(ctx, box, xs[0], x1, 0, (top || 1) * 1.1, { yTicks: [[0, "0"], [top || 1, fmt(top || 1)]] });
  ctx.strokeStyle = THEME.fg;
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
    ctx.fillStyle = THEME.sel;
    ctx.beginPath();
    ctx.arc(X(xs[t.j]), Y(ys[t.j]), 3.5, 0, 2 * Math.PI);
    ctx.fill();
  }
  ctx.fillStyle = THEME.fg;
  ctx.textAlign = "left";
  ctx.textBaseline = "top";
  ctx.fillText("score at each compared step (W1 / pooled std)", box.l + 4, 1);
}

// src/compare.js
var COMPARE_VIEWS = [
  ["overlay", "overlay"],
  ["heatmap", "heatmaps"],
  ["distribution", "distribution"]
];
var PLOTS2 = { overlay: drawOverlay2, heatmap: drawHeatmaps, distribution: drawBands2 };
var CompareView = class {
  /** The comparison in `host`: `store` holds every run (its header's `compare` entry says
   * how), the controls' state is in `model`; `saved`: the saved copy's header entry. The
   * frame, the pointer and the scalar strips are the single recording's View's parts. */
  constructor(model, host, store, saved = null) {
    this.frame = new Frame(model, host, { cls: "tfh tfh-compare", saved, redraw: () => this.draw() });
    Object.assign(this, { model, store, saved, root: this.frame.root, cmp: store.header.compare });
    this.root.dataset.compare = String(this.cmp.runs.length);
    this.index = /* @__PURE__ */ new Map();
    for (const s of store.series.values()) {
      const key = s.kind + "	" + s.name;
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
    const series = this.index.get(kind + "	" + row[0]) || [];
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
    for (const [v, b] of Object.entries(this.viewButtons)) b.classList.toggle("tfh-on", v === view || !this.viewButtons[view] && v === "overlay");
    const shared = kinds.reduce((a, k) => a + this.cmp.ranking[k].length, 0);
    this.status.textContent = `${this.cmp.runs.length} runs \xB7 ${shared} shared tensors` + (this.cmp.only.length ? ` \xB7 ${this.cmp.only.length} not in every run` : "") + (this.saved ? " \xB7 saved in the notebook" + (this.saved.note ? ": " + this.saved.note : "") : "");
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
    const best = Math.max(1e-300, ...ranked.map(([, s]) => Number.isFinite(s) ? s : 0));
    const rows = ranked.map(([name, score], i) => {
      const item = el("div", "tfh-item tfh-rank-item" + (cur && name === cur.name ? " tfh-on" : ""));
      item.dataset.name = name;
      item.dataset.score = score === null ? "" : score;
      item.title = `${name}
score ${score === null ? "\u2014" : fmt(score)} (#${i + 1})`;
      const bar = el("span", "tfh-rank-bar");
      bar.style.width = (Number.isFinite(score) ? Math.max(1, 40 * score / best) : 0) + "px";
      item.append(bar, el("span", "tfh-name", name), el("span", "tfh-n", score === null ? "\u2014" : fmt(score)));
      item.addEventListener("click", () => this.set({ tensor: name }));
      return item;
    });
    if (!rows.length) rows.push(el("div", "tfh-none", "no tensor matches"));
    this.list.replaceChildren(...rows);
    const only = this.cmp.only.filter(([k]) => k === kind);
    this.only.replaceChildren(...only.length ? [
      el("div", "tfh-head", `Not in every run (${only.length}, not ranked)`),
      ...only.map(([, name, held]) => {
        const d = el("div", "tfh-only-item", `${name}: only in ${held.join(", ")}`);
        d.dataset.name = name;
        return d;
      })
    ] : []);
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
    this.title.textContent = `${TITLES[t.kind]} \xB7 ${t.name} \xB7 score ${t.score === null ? "\u2014" : fmt(t.score)}`;
    this.slider.max = t.n - 1;
    this.slider.value = t.j;
    this.at.textContent = (same ? `step ${steps[0]}` : "steps " + steps.map((st, r) => `${st} (${runs[r].label})`).join(" \xB7 ")) + `  (compared step ${t.j + 1} of ${t.n})`;
    this.stats.replaceChildren(...snaps.map((p, r) => {
      const line = el("div", "tfh-stat-run", `${runs[r].label}: ` + describe(p, t.series[r].explicit));
      line.style.color = runs[r].color;
      return line;
    }));
    const width = Math.max(280, this.plot.clientWidth || 600);
    const drawn = { view, kind: t.kind, name: t.name, at: t.j, steps, runs: runs.map((r) => r.label) };
    this.pointer.use(null);
    const got = PLOTS2[view](this.canvas, width, { t, snaps, runs, steps: this.steps(t), drawn });
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
    const on = { store: this.store, t, runs: this.cmp.runs, steps, at: steps[t.j], th: this.store.header && this.store.header.thresholds || {} };
    showStrip(this.probe, drawRunStrip(this.probe, width, { ...on, table: PROBES }));
    showStrip(this.norms, drawRunStrip(this.norms, width, { ...on, table: NORMS }));
  }
};

// src/saved.js
var STATE_KEYS = ["kind", "tensor", "view", "step", "opts"];
function mount(host, packet, state = {}) {
  const store = new Store(null);
  store.receive(packet);
  const saved = store.header.saved || {};
  const model = localModel({ kind: "", tensor: "", view: "step", step: -1, opts: {}, ...pick(saved.state), ...pick(handedOver(store.header)), ...pick(state) });
  const Kind = store.header.compare ? CompareView : View;
  if (store.header.compare && !state.view) model.set("view", "overlay");
  const view = new Kind(model, host, store, saved);
  return { view, model, store, destroy: () => view.destroy() };
}
function pick(state) {
  const out = {};
  if (state && typeof state === "object") {
    for (const k of STATE_KEYS) if (state[k] !== void 0 && state[k] !== null) out[k] = state[k];
  }
  return out;
}
function handedOver(header) {
  const from = header && header.saved && header.saved.from;
  const had = from && globalThis.__tfhistHandOver && globalThis.__tfhistHandOver.get(from);
  return had || {};
}
function fromBase64(text) {
  const bin = atob(text.replace(/\s+/g, ""));
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}
function remembered(key) {
  try {
    return key ? JSON.parse(localStorage.getItem("tfhist:" + key) || "null") || {} : {};
  } catch {
    return {};
  }
}
function remember(key, model) {
  if (!key) return;
  let timer = null;
  const save = () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      try {
        localStorage.setItem("tfhist:" + key, JSON.stringify(Object.fromEntries(STATE_KEYS.map((k) => [k, model.get(k)]))));
      } catch {
      }
    }, 200);
  };
  for (const k of STATE_KEYS) model.on("change:" + k, save);
}
async function mountSaved(root) {
  if (root.dataset.mounted) return root.tfhMounted;
  root.dataset.mounted = "1";
  const host = root.querySelector(".tfh-host");
  try {
    let bytes = fromBase64(root.getAttribute("data-packet") || "");
    if (root.dataset.encoding === "deflate") {
      const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("deflate"));
      bytes = new Uint8Array(await new Response(stream).arrayBuffer());
    }
    const live = root.tfhLive;
    const state = live ? live.state() : remembered(root.dataset.key);
    host.classList.add("tfh-building");
    const got = mount(host, bytes.buffer, state);
    remember(root.dataset.key, got.model);
    root.removeAttribute("data-packet");
    if (root.tfhHeld) root.tfhHeld.remove();
    if (live) globalThis.__tfhistLive.delete(root.dataset.from);
    host.classList.remove("tfh-building");
    root.removeAttribute("data-booting");
    root.style.minHeight = "";
    root.dataset.opened = live ? "live" : Object.keys(state).length ? "remembered" : "file";
    const fallback = root.querySelector(".tfh-fallback");
    if (fallback) fallback.style.display = "none";
    root.tfhMounted = got;
    return got;
  } catch (e) {
    unboot(root);
    throw e;
  }
}
function unboot(root) {
  if (root.tfhHeld) root.tfhHeld.remove();
  root.removeAttribute("data-booting");
  root.style.minHeight = "";
  const host = root.querySelector(".tfh-host");
  if (host) host.classList.remove("tfh-building");
}
export {
  COMPARE_VIEWS,
  CompareView,
  PERCENTILES,
  Store,
  binEdges,
  constants_exports as constants,
  contrast,
  decode,
  widget_default as default,
  density,
  describe,
  fmt,
  fmtStat,
  frame,
  gridStat,
  groupTree,
  localModel,
  luminance,
  mount,
  mountSaved,
  outside,
  pct,
  percentiles,
  rebin,
  robustRange,
  sortTiles,
  spaced,
  statOf,
  statusText,
  valueRange
};
