// tfhist_magic dashboard: drawn in the browser from the Recording's exact rows.
//
// The kernel sends binary packets (see widget.py: encode/decode): the full data once,
// then only what is new. Everything here (tabs, picker, slider, views, hover) runs in
// the page, so it responds while the kernel is busy training. No imports, no CDN.

const KINDS = ["activations", "weights", "grads"];
const TITLES = { activations: "Activations", weights: "Weights", grads: "Gradients" };
const COLORS = { activations: "#2a9d8f", weights: "#e76f51", grads: "#457b9d" };
const EXTRA = 10;
const [NAN, POSINF, NEGINF, ZEROS, MIN, MAX, MEAN, STD, NORM] = [0, 1, 2, 3, 4, 5, 6, 7, 8];
export const PERCENTILES = [0, 6.68, 15.87, 30.85, 50, 69.15, 84.13, 93.32, 100];
const VIEWS = [
  ["step", "step"],
  ["overlay", "overlay"],
  ["offset", "offset"],
  ["heatmap", "heatmap"],
  ["distribution", "distribution"],
  ["grid", "all tensors"],
  ["depth", "depth × step"],
];

// -- data ------------------------------------------------------------------------------

const LIMITS = {
  f4: { round: Math.fround, tiny: 2 ** -126, max: 3.4028234663852886e38, huge: 2 ** (24 + 40) },
  f8: { round: (x) => x, tiny: 2.2250738585072014e-308, max: Number.MAX_VALUE, huge: 2 ** (53 + 40) },
};

/** The exact bin edges from (lo, w, hi), with the binning rule's own arithmetic in the
 * compute dtype (histogram._edges): e[i] = lo + i*w, rounded as the device rounds. */
export function binEdges(lo, w, hi, B, dtype) {
  const c = dtype === "float64" ? LIMITS.f8 : LIMITS.f4;
  const r = c.round;
  const e = new Float64Array(B + 1);
  const quarter = w > c.huge; // computed a quarter down: no overflow of i*w on the way
  for (let i = 0; i <= B; i++) {
    let v = i === 0 ? lo : quarter ? r(r(r(lo * 0.25) + r(i * r(w * 0.25))) * 4) : r(lo + r(i * w));
    v = Math.min(v, c.max);
    if (i < B && Math.abs(v) < c.tiny) v = -c.tiny;
    if (i === B) v = Math.max(v, hi);
    e[i] = v;
  }
  return e;
}

const ARRAYS = ["steps", "epochs", "wall", "counts", "extra", "lwh", "keep"];
const TRACK_ARRAYS = ["steps", "values", "keep"];

/** Decode one packet (DataView or ArrayBuffer), as widget.decode does: the header, with
 * each Series' arrays (`steps`, `epochs`, `wall`, `counts`, `extra`, `lwh`, `keep`: views
 * of its part of the packet's concatenated arrays) and each scalar series' `steps`,
 * `values` and `keep`. */
export function decode(data) {
  const buf = data instanceof ArrayBuffer ? data : data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength);
  const bytes = new Uint8Array(buf);
  if (String.fromCharCode(...bytes.slice(0, 4)) !== "TFH1") throw new Error("not a tfhist packet");
  const n = new DataView(buf).getUint32(4, true);
  const header = JSON.parse(new TextDecoder().decode(bytes.slice(8, 8 + n)));
  let at = 8 + n;
  const flat = header.layout.map(([dt, size]) => {
    const a = dt === "u4" ? new Uint32Array(buf, at, size) : new Float64Array(buf, at, size);
    at += a.byteLength + ((8 - (a.byteLength % 8)) % 8);
    return a;
  });
  const reader = (names, arrays) => {
    const at = Object.fromEntries(names.map((k) => [k, 0]));
    return (key, size) => arrays[names.indexOf(key)].subarray(at[key], (at[key] += size));
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

/** Move counts on edges onto grid by overlap, mass conserved (histogram.rebin). */
export function rebin(edges, counts, grid) {
  const B = counts.length;
  const cdf = new Float64Array(B + 1);
  for (let i = 0; i < B; i++) cdf[i + 1] = cdf[i] + counts[i];
  const total = cdf[B];
  const at = (x) => {
    // np.interp(x, edges, cdf, left=0, right=total)
    if (x <= edges[0]) return x < edges[0] ? 0 : cdf[0];
    if (x >= edges[B]) return total;
    let lo = 0, hi = B;
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if (edges[mid] <= x) lo = mid; else hi = mid;
    }
    const w = edges[lo + 1] - edges[lo];
    return w > 0 ? cdf[lo] + ((x - edges[lo]) / w) * (cdf[lo + 1] - cdf[lo]) : cdf[lo + 1];
  };
  const G = grid.length - 1;
  const out = new Float64Array(G);
  let prev = 0;
  for (let j = 0; j < G; j++) {
    const next = j === G - 1 ? total : at(grid[j + 1]);
    out[j] = next - prev;
    prev = next;
  }
  return out;
}

/** Percentiles of one snapshot from its exact bins (histogram.percentiles). */
export function percentiles(edges, counts, mn, mx, qs = PERCENTILES) {
  const B = counts.length;
  const cdf = new Float64Array(B + 1);
  for (let i = 0; i < B; i++) cdf[i + 1] = cdf[i] + counts[i];
  const total = cdf[B];
  return qs.map((q) => {
    if (!(total > 0)) return NaN;
    const t = (q / 100) * total;
    if (t <= 0) return mn;
    let lo = 0, hi = B; // first i with cdf[i+1] >= t
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid + 1] >= t) hi = mid; else lo = mid + 1;
    }
    const i = Math.min(lo, B - 1);
    const v = edges[i] + ((t - cdf[i]) / counts[i]) * (edges[i + 1] - edges[i]);
    return Math.min(Math.max(v, mn), mx);
  });
}

// The scalar series drawn under a kind's histogram: [metric, label, log scale].
const PROBES = {
  weights: [["update_ratio", "update / weight ratio, std(Δw) / std(w) (grey: the other weight matrices)", true]],
  activations: [["dead_units", "dead units: zero on the whole batch", false], ["saturation", "saturated: within 0.03 of the bounds", false]],
};
const SCALARS = ["update_ratio", "dead_units", "saturation"];
// Statistics of the rows (widget.STATS): a page that fetched one for the depth view keeps
// it as the scalar series "<kind>.<stat>", and the deltas' rows extend it.
const STATS = ["norm", "std", "mean"];

/** A statistic of one snapshot: NaN where it had no finite values (Series._stat). */
export function statOf(snap, key) {
  return ["min", "max", "mean", "std", "norm"].includes(key) && !(snap.finite > 0) ? NaN : snap[key];
}

/** The snapshots of one Series entry of a packet. */
function snapsOf(p, B) {
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
function cut(list, after, keep, stepOf) {
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

/** What the page holds of the Recording, fed by packets: every Series (its `kept` count
 * and the snapshots the page has: the latest at least, all of them once fetched or
 * followed live), the scalar series, the header (findings, notes, state). A change is
 * addressed by step (`after`, `keep`: see Recording.changes), so a Series that holds only
 * some snapshots stays a subset of what the Recording keeps, and one that holds all
 * keeps all. `ask` sends a request to the kernel (answered when it is idle). */
export class Store {
  constructor(ask = null) {
    this.series = new Map();
    this.scalars = new Map(); // metric + "\t" + name -> { steps: [], values: [], kept }
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
      const key = p.metric + "\t" + p.name;
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
      s = { id: p.id, kind: p.kind, name: p.name, dtype: p.dtype, bins: B, snaps: [], kept: 0, norm0: NaN };
      this.series.set(p.id, s);
    }
    const add = snapsOf(p, B);
    s.snaps = cut(s.snaps, p.after, p.keep, (x) => x.step);
    for (const x of add) s.snaps.push(x);
    s.kept = p.kept;
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
  scalar(metric, name) {
    return this.scalars.get(metric + "\t" + name) || null;
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
    if (this.asked.has(key)) return false;
    this.asked.set(key, performance.now());
    if (this.ask) this.ask(msg);
    return true;
  }
  /** Ask for the kept snapshots of those of `list` (one kind) the page lacks. */
  wantHistory(list) {
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

const STORES = new Map();

function storeFor(model) {
  const uid = model.get("_uid");
  let store = STORES.get(uid);
  if (!store) {
    store = new Store((msg) => model.send(msg));
    STORES.set(uid, store);
    const full = () => {
      const d = model.get("_data");
      if (d && d.byteLength) store.receive(d);
    };
    full();
    model.on("change:_data", full);
    model.on("msg:custom", (msg, buffers) => {
      if (msg && msg.tfhist && buffers && buffers.length) {
        store.receive(buffers[0]);
        if (store.stale && !store.askedFull) {
          store.askedFull = true;
          model.send({ want: "full" });
        }
        if (msg.tfhist === "full") store.askedFull = false;
      }
    });
  }
  return store;
}

// -- formatting and drawing helpers ----------------------------------------------------------

export function fmt(v) {
  if (!Number.isFinite(v)) return String(v);
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 1e5 || a < 1e-3) return v.toExponential(2).replace("e+", "e");
  return String(+v.toPrecision(4));
}

function niceTicks(lo, hi, n = 5) {
  if (!(hi > lo)) return [lo];
  // the step of 1, 2, 2.5 or 5 times a power of ten that gives the count nearest n
  const p = Math.pow(10, Math.floor(Math.log10((hi - lo) / n)));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * p).reduce((a, b) => (Math.abs((hi - lo) / b - n) < Math.abs((hi - lo) / a - n) ? b : a));
  const out = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) out.push(Math.abs(t) < step * 1e-9 ? 0 : +t.toPrecision(12));
  return out;
}

const RAMP = [[0, 0, 4], [59, 15, 112], [140, 41, 129], [222, 73, 104], [254, 159, 109], [252, 253, 191]];
/** The colour scale at t in [0, 1], as [r, g, b]. */
function rampRGB(t) {
  t = Math.min(1, Math.max(0, t)) * (RAMP.length - 1);
  const i = Math.min(RAMP.length - 2, Math.floor(t)), f = t - i;
  return RAMP[i].map((v, k) => Math.round(v + f * (RAMP[i + 1][k] - v)));
}
const RAMP_CSS = Array.from({ length: 1024 }, (_, k) => `rgb(${rampRGB(k / 1023).join(",")})`);
/** The colour scale at t in [0, 1] as a CSS colour (1024 steps, made once: a heatmap
 * asks for one per cell). */
function ramp(t) {
  return RAMP_CSS[Math.round(Math.min(1, Math.max(0, t || 0)) * 1023)];
}

/** The tensors a finding covers (a grouped finding lists them all; the first is ``name``). */
function covered(f) {
  return f.tensors && f.tensors.length ? f.tensors : f.name ? [f.name] : [];
}

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

/** A canvas sized to its box, drawn at the device pixel ratio. */
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

/** Axes in a box: returns the mapping and draws ticks (x ticks may be given as [value, label]). */
function axes(ctx, box, x0, x1, y0, y1, { xTicks, yTicks, yLabel, xLabel } = {}) {
  const { l, t, w, h } = box;
  const X = (v) => l + ((v - x0) / (x1 - x0 || 1)) * w;
  const Y = (v) => t + h - ((v - y0) / (y1 - y0 || 1)) * h;
  ctx.strokeStyle = "#999";
  ctx.lineWidth = 1;
  ctx.beginPath();
  ctx.moveTo(l, t);
  ctx.lineTo(l, t + h);
  ctx.lineTo(l + w, t + h);
  ctx.stroke();
  ctx.fillStyle = "#444";
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
  for (const [v, label] of yTicks || niceTicks(y0, y1, Math.max(2, Math.floor(h / 40))).map((v) => [v, fmt(v)])) {
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
  // bin i with edges[i] <= v < edges[i+1] (last bin closed), or -1
  const B = edges.length - 1;
  if (!(v >= edges[0] && v <= edges[B])) return -1;
  let lo = 0, hi = B;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (edges[mid] <= v) lo = mid; else hi = mid;
  }
  return lo;
}

function total(snap) {
  let t = 0;
  for (const c of snap.counts) t += c;
  return t;
}

function describe(snap) {
  const size = total(snap) + snap.nan + snap.posinf + snap.neginf;
  const parts = [`step ${snap.step}`];
  if (snap.epoch >= 0) parts.push(`epoch ${snap.epoch + 1}`);
  if (total(snap) > 0) {
    for (const k of ["mean", "std", "min", "max", "norm"]) parts.push(`${k} ${fmt(snap[k])}`);
    parts.push(`zeros ${((100 * snap.zeros) / size).toFixed(1)}%`);
  } else parts.push("no finite values");
  const bad = [["nan", "NaN"], ["posinf", "+Inf"], ["neginf", "−Inf"]].filter(([k]) => snap[k] > 0).map(([k, l]) => `${snap[k]} ${l}`);
  if (bad.length) parts.push("NON-FINITE: " + bad.join(", "));
  return parts.join(" · ");
}

// -- the picker's groups, the grid's statistics, the status line ----------------------------

/** A level of the picker with more entries than this is split by name prefix. */
const CROWD = 12;

/** The tensors `names` (model order) as a tree for the picker: by model, by path ("/"),
 * and where a level holds more than CROWD entries, by the leading "_"-separated words of
 * its names (Keras' conv4_block3_2_conv falls under conv4 › conv4_block3). A group is
 * `{key, label, entries, names}` (entries: groups and items `{name, label}`, in model
 * order); a group of one entry is that entry, and a model's group is always shown. */
export function groupTree(names, modelOf = {}) {
  const group = (key, label) => ({ key, label, entries: [], index: new Map() });
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
    const path = model && name.startsWith(model + "/") ? name.slice(model.length + 1) : name;
    const segs = path.split("/");
    const leaf = segs.pop();
    let at = root;
    if (model) (at = child(root, model, "model:" + model)).model = true;
    for (const seg of segs) at = child(at, seg);
    at.entries.push({ name, label: leaf });
  }
  const split = (g) => {
    for (let k = 1; k <= 3 && g.entries.length > CROWD; k++) {
      const by = new Map();
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
      if (real.length < 2 || left > 0.6 * g.entries.length) continue; // no real split
      const of = new Map();
      for (const [p, es] of real) {
        const sub = { key: `${g.key}/${p}_`, label: p, entries: es, index: new Map() };
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
    g.names = new Set();
    for (const e of g.entries) e.entries ? e.names.forEach((n) => g.names.add(n)) : g.names.add(e.name);
    delete g.index;
    return g;
  };
  split(root);
  return finish(root);
}

/** What "all tensors" can sort and filter by: [key, label, kinds it applies to (null: all)]. */
const GRID_SORTS = [
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

/** "preparing the recording for 612 tensors… 12 s": the kernel's status and how long. */
export function statusText(status, elapsed) {
  const s = Math.floor(Math.max(0, elapsed));
  const t = s < 60 ? `${s} s` : `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, "0")} s`;
  return `${status.text}… ${t}`;
}

// The depth × step view's statistic per kind: [metric, label, colour scale].
const DEPTH = {
  grads: [["norm", "gradient norm", "log"]],
  weights: [["update_ratio", "update ratio", "log"], ["norm", "weight norm", "log"]],
  activations: [["std", "activation std", "log"], ["dead_units", "dead share", "linear"]],
};

// -- the view ----------------------------------------------------------------------------

class View {
  constructor(model, el_) {
    this.born = performance.now();
    this.model = model;
    this.root = el("div", "tfh");
    el_.appendChild(this.root);
    this.store = storeFor(model);
    this.opts = { log: false, range: "auto", x: "step", logColor: true, gridHeat: false, gridSort: "order", gridUnusual: false, depth: {} };
    this.pins = [];
    this.openState = new Map(); // picker group key -> open, where the user chose
    this.tiles = new Map(); // Series id -> its tile in "all tensors"
    this.visible = new Set(); // tiles on screen (drawn)
    this.build();
    this.onData = () => this.update();
    this.store.listeners.add(this.onData);
    for (const key of ["kind", "tensor", "view", "step"]) model.on("change:" + key, () => this.update());
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
    this.resize.disconnect();
    this.seen.disconnect();
    clearInterval(this.ticker);
    clearTimeout(this.lateCheck);
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
    this.bar = el("div", "tfh-bar");
    this.viewButtons = {};
    for (const [v, label] of VIEWS) {
      const b = el("button", "tfh-view", label);
      b.dataset.view = v;
      b.addEventListener("click", () => this.set({ view: v }));
      this.viewButtons[v] = b;
      this.bar.append(b);
    }
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
    this.main.append(this.bar, this.title, this.loading, this.plot, this.slide, this.stats, this.probe);
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
  badges() {
    const out = new Map();
    const h = this.store.header;
    for (const f of (h && h.findings) || []) for (const n of covered(f)) out.set(f.kind + "\t" + n, f.message);
    for (const s of this.store.series.values()) {
      const last = s.snaps[s.snaps.length - 1];
      if (last && last.nan + last.posinf + last.neginf > 0) out.set(s.kind + "\t" + s.name, "NaN/Inf in the latest snapshot");
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
    this.status.textContent = (live ? "● recording · " : "") + `${n} series` + (said ? " · " + said : "") + (this.store.stale ? " · some updates missed, catching up" : "");
  }

  buildList() {
    const kind = this.kind();
    const cur = this.current();
    const q = this.filter.value.trim().toLowerCase();
    const badges = this.badges();
    const models = (this.store.header && this.store.header.models) || {};
    const list = this.store.ofKind(kind).filter((s) => !q || s.name.toLowerCase().includes(q));
    const key = [kind, q, cur && cur.name, list.length, [...this.openState].join(","), [...badges.keys()].join("|")].join("\n");
    if (key === this.listKey) return;
    this.listKey = key;
    const t0 = performance.now();
    const tree = groupTree(list.map((s) => s.name), models);
    const all = list.length <= 40;
    const isOpen = (g, depth) => {
      if (q || all) return true;
      if (this.openState.has(g.key)) return this.openState.get(g.key);
      return depth === 0 || (cur && g.names.has(cur.name));
    };
    const rows = [];
    const walk = (g, depth) => {
      for (const e of g.entries) {
        if (!e.entries) {
          const item = el("div", "tfh-item" + (cur && e.name === cur.name ? " tfh-on" : ""));
          item.dataset.name = e.name;
          item.title = e.name;
          item.setAttribute("role", "treeitem");
          item.style.paddingLeft = 6 + 12 * depth + "px";
          item.append(el("span", "tfh-name", e.label));
          const b = badges.get(kind + "\t" + e.name);
          if (b) {
            const badge = el("span", "tfh-badge", "⚠");
            badge.title = b;
            item.append(badge);
          }
          item.addEventListener("click", () => this.pickTensor(e.name));
          rows.push(item);
          continue;
        }
        const open = isOpen(e, depth);
        const head = el("div", "tfh-node" + (e.model ? " tfh-group" : ""));
        head.dataset.key = e.key;
        head.dataset.depth = depth;
        head.setAttribute("role", "treeitem");
        head.setAttribute("aria-expanded", String(open));
        head.style.paddingLeft = 2 + 12 * depth + "px";
        head.append(el("span", "tfh-caret", open ? "▾" : "▸"), el("span", "tfh-name", e.label), el("span", "tfh-n", String(e.names.size)));
        const flagged = [...e.names].filter((n) => badges.has(kind + "\t" + n)).length;
        if (flagged && !open) head.append(el("span", "tfh-badge", `⚠${flagged > 1 ? flagged : ""}`));
        head.title = `${e.label}: ${e.names.size} tensors (click to ${open ? "collapse" : "expand"})`;
        head.addEventListener("click", () => this.toggle(e.key, !open));
        rows.push(head);
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

  /** Select tensor `name` from the picker (the grid view opens it in the step view). */
  pickTensor(name) {
    this.cursor = "i:" + name;
    this.set({ tensor: name, view: this.model.get("view") === "grid" ? "step" : this.model.get("view") });
    this.markCursor(); // when the list was not rebuilt (the same tensor)
  }

  toggle(key, open) {
    this.openState.set(key, open);
    this.cursor = "n:" + key;
    this.buildList();
  }

  markCursor() {
    const rows = [...this.list.children];
    let at = rows.find((r) => (r.dataset.key !== undefined ? "n:" + r.dataset.key : "i:" + r.dataset.name) === this.cursor);
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
    const isNode = row.dataset.key !== undefined;
    const open = isNode && row.getAttribute("aria-expanded") === "true";
    const go = (j) => {
      const r = rows[Math.max(0, Math.min(rows.length - 1, j))];
      if (r.dataset.key !== undefined) {
        this.cursor = "n:" + r.dataset.key;
        this.markCursor();
      } else this.pickTensor(r.dataset.name);
    };
    const depthOf = (r) => (r.dataset.key !== undefined ? +r.dataset.depth : (parseFloat(r.style.paddingLeft) - 6) / 12);
    switch (e.key) {
      case "ArrowDown": go(i + 1); break;
      case "ArrowUp": go(i - 1); break;
      case "Home": go(0); break;
      case "End": go(rows.length - 1); break;
      case "ArrowRight":
        if (isNode && !open) this.toggle(row.dataset.key, true);
        else go(i + 1);
        break;
      case "ArrowLeft":
        if (isNode && open) this.toggle(row.dataset.key, false);
        else {
          const d = depthOf(row);
          for (let j = i - 1; j >= 0; j--) if (rows[j].dataset.key !== undefined && +rows[j].dataset.depth < d) return void (go(j), e.preventDefault());
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
      const d = el("div", "tfh-finding" + (error ? " tfh-error" : ""), (error ? "⛔ " : "⚠ ") + f.message);
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
    this.at.textContent = `step ${snap.step}` + (snap.epoch >= 0 ? ` · epoch ${snap.epoch + 1}` : "") + `  (snapshot ${i + 1} of ${s.snaps.length}${complete ? "" : ` here, ${s.kept} kept`})`;
    this.title.textContent = `${TITLES[s.kind]} · ${wide ? (view === "grid" ? "all tensors" : "depth × step") : s.name}` + (!wide && s.dtype !== "float32" ? ` (${s.dtype})` : "");
    this.stats.textContent = wide ? "" : describe(snap);
    this.stats.classList.toggle("tfh-bad", !wide && snap.nan + snap.posinf + snap.neginf > 0);
    const grid = view === "grid";
    this.canvas.style.display = grid ? "none" : "";
    this.grid.style.display = grid ? "" : "none";
    this.slide.style.display = wide ? "none" : "";
    this.options.style.display = wide ? "none" : "";
    this.drawProbes(s, snap, wide);
    this.hit = this.pick = null;
    if (view !== this.drawnView) this.tip.style.display = "none"; // a tip of the view before
    this.drawnView = view;
    if (grid) {
      this.drawGrid(s.kind);
    } else {
      const width = Math.max(320, this.plot.clientWidth || 600);
      this.legend.textContent = "";
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

  /** The tensor's scalar series (update ratio; dead units, saturation) over steps, with
   * the rule's threshold and a mark at the selected step; hidden when it has none. */
  drawProbes(s, snap, hidden) {
    const got = (PROBES[s.kind] || []).map(([m, label, log]) => [m, label, log, this.store.scalar(m, s.name)]).filter((p) => p[3] && p[3].steps.length);
    if (hidden || !got.length) {
      this.probe.style.display = "none";
      delete this.probe.dataset.drawn;
      return;
    }
    this.probe.style.display = "";
    const W = Math.max(320, this.plot.clientWidth || 600), Hh = 120;
    const ctx = sizeCanvas(this.probe, W, Hh);
    const th = (this.store.header && this.store.header.thresholds) || {};
    const box = { l: 58, t: 16, w: W - 58 - 96, h: Hh - 40 };
    const x0 = s.snaps[0].step, x1 = Math.max(s.snaps[s.snaps.length - 1].step, x0 + 1);
    const log = got[0][2];
    const f = (v) => (log ? (v > 0 ? Math.log10(v) : NaN) : v); // a zero ratio (no update) has no place on a log axis
    const line = (c) => {
      ctx.beginPath();
      let on = false;
      c.steps.forEach((st, i) => {
        const y = f(c.values[i]);
        if (!Number.isFinite(y)) return void (on = false);
        on ? ctx.lineTo(X(st), Y(y)) : ctx.moveTo(X(st), Y(y));
        on = true;
      });
      ctx.stroke();
    };
    // the update ratio of every other weight matrix too, faint: the per-layer picture at once
    const mates = log ? this.store.ofKind(s.kind).filter((o) => o.name !== s.name) : [];
    if (mates.length) this.store.wantDepth(s.kind, got[0][0], mates); // their whole series, if the page lacks them
    const others = mates.map((o) => this.store.scalar(got[0][0], o.name)).filter((c) => c && c.steps.length);
    let y0 = log ? Infinity : 0, y1 = log ? -Infinity : 1;
    if (log) {
      for (const c of [...got.map((g) => g[3]), ...others]) for (const v of c.values) if (v > 0) { y0 = Math.min(y0, f(v)); y1 = Math.max(y1, f(v)); }
      for (const t of th.update_ratio || []) { y0 = Math.min(y0, f(t)); y1 = Math.max(y1, f(t)); }
      if (!Number.isFinite(y0)) [y0, y1] = [-4, -2]; // nothing positive to place: the band's neighbourhood
      y0 = Math.floor(y0 - 0.2); y1 = Math.ceil(y1 + 0.2);
    }
    const yTicks = log ? niceTicks(y0, y1, 4).filter(Number.isInteger).map((v) => [v, "1e" + v]) : [[0, "0"], [0.5, "50%"], [1, "100%"]];
    const { X, Y } = axes(ctx, box, x0, x1, y0, y1, { yTicks, xTicks: niceTicks(x0, x1, 6).map((v) => [v, fmt(v)]) });
    // the rule's band or threshold
    ctx.fillStyle = "rgba(0,0,0,0.05)";
    if (log && th.update_ratio) {
      const [lo, hi] = th.update_ratio.map(f);
      ctx.fillRect(box.l, Y(hi), box.w, Y(lo) - Y(hi));
    }
    const drawn = { kind: s.kind, name: s.name, step: snap.step, metrics: {}, others: others.length };
    ctx.strokeStyle = "#ccc";
    ctx.lineWidth = 1;
    for (const c of others) line(c);
    const colors = ["#e76f51", "#6a4c93"];
    let legendX = box.l + 4;
    got.forEach(([m, label, , c], k) => {
      if (!log && th[m] !== undefined) {
        ctx.strokeStyle = "#bbb";
        ctx.setLineDash([4, 3]);
        ctx.beginPath();
        ctx.moveTo(box.l, Y(th[m]));
        ctx.lineTo(box.l + box.w, Y(th[m]));
        ctx.stroke();
        ctx.setLineDash([]);
      }
      ctx.strokeStyle = ctx.fillStyle = colors[k % colors.length];
      ctx.lineWidth = 1.5;
      line(c);
      for (let i = 0; i < c.steps.length; i++) if (Number.isFinite(f(c.values[i]))) ctx.fillRect(X(c.steps[i]) - 1.5, Y(f(c.values[i])) - 1.5, 3, 3);
      ctx.textAlign = "left";
      ctx.textBaseline = "alphabetic";
      ctx.fillText("— " + label, legendX, 11);
      legendX += ctx.measureText("— " + label).width + 16;
      drawn.metrics[m] = { steps: c.steps.slice(), values: c.values.slice() };
    });
    ctx.strokeStyle = "#333";
    ctx.beginPath();
    ctx.moveTo(X(snap.step), box.t);
    ctx.lineTo(X(snap.step), box.t + box.h);
    ctx.stroke();
    this.probe.dataset.drawn = JSON.stringify(drawn);
  }

  xRange(s, snap) {
    const range = this.opts.range === "auto" ? (["step", "overlay"].includes(this.model.get("view")) ? "this" : "all") : this.opts.range;
    if (range === "this") return [snap.edges[0], snap.edges[snap.edges.length - 1]];
    let lo = Infinity, hi = -Infinity;
    for (const p of s.snaps) {
      lo = Math.min(lo, p.edges[0]);
      hi = Math.max(hi, p.edges[p.edges.length - 1]);
    }
    return [lo, hi];
  }

  yOf(c) {
    return this.opts.log ? Math.log10(1 + c) : c;
  }

  yTicks(max) {
    if (!this.opts.log) return niceTicks(0, max * 1.05, 5).filter(Number.isInteger).map((v) => [v, fmt(v)]); // counts
    const out = [];
    for (let p = 0; Math.pow(10, p) <= max * 10; p++) out.push([Math.log10(1 + Math.pow(10, p)), fmt(Math.pow(10, p))]);
    return [[0, "0"], ...out];
  }

  drawStep(ctx, W, Hh, s, snap, drawn) {
    const box = { l: 58, t: 10, w: W - 58 - 96, h: Hh - 40 };
    const [x0, x1] = this.xRange(s, snap);
    const bad = [["nan", "NaN"], ["posinf", "+Inf"], ["neginf", "−Inf"]];
    let ymax = 1;
    for (const c of snap.counts) ymax = Math.max(ymax, c);
    for (const [k] of bad) ymax = Math.max(ymax, snap[k]);
    const { X, Y } = axes(ctx, box, x0, x1, 0, this.yOf(ymax) * 1.05, { yTicks: this.yTicks(ymax), yLabel: this.opts.log ? "count (log)" : "count" });
    const B = snap.counts.length;
    const tot = total(snap);
    ctx.fillStyle = COLORS[s.kind];
    const bars = [];
    for (let b = 0; b < B; b++) {
      const c = snap.counts[b];
      const xa = X(snap.edges[b]), xb = X(snap.edges[b + 1]);
      bars.push([xa, xb]);
      if (c > 0) {
        const y = Y(this.yOf(c));
        ctx.fillRect(xa, y, Math.max(1, xb - xa), box.t + box.h - y);
      }
    }
    if (this.hoverAt != null && this.hoverAt < B) {
      ctx.fillStyle = "rgba(0,0,0,0.25)";
      const [xa, xb] = bars[this.hoverAt];
      ctx.fillRect(xa, box.t, Math.max(1, xb - xa), box.h);
    }
    // NaN / +Inf / −Inf as their own marked counts, beside the axis
    const slot = 26, gx = box.l + box.w + 14;
    ctx.strokeStyle = "#ccc";
    ctx.beginPath();
    ctx.moveTo(gx - 6, box.t);
    ctx.lineTo(gx - 6, box.t + box.h);
    ctx.stroke();
    ctx.textAlign = "center";
    ctx.textBaseline = "top";
    bad.forEach(([k, label], j) => {
      const x = gx + j * slot;
      const c = snap[k];
      ctx.fillStyle = c > 0 ? "#c00" : "#bbb";
      if (c > 0) {
        const y = Y(this.yOf(c));
        ctx.fillRect(x, y, slot - 6, box.t + box.h - y);
        ctx.textBaseline = "bottom";
        ctx.fillText(fmt(c), x + (slot - 6) / 2, y - 1);
        ctx.textBaseline = "top";
      }
      ctx.fillText(label, x + (slot - 6) / 2, box.t + box.h + 5);
    });
    this.hit = (mx, my) => {
      const j = Math.floor((mx - gx) / slot);
      if (mx >= gx && j >= 0 && j < 3) {
        const [k, label] = bad[j];
        return { text: `${label}: ${snap[k]} values`, bin: B + j };
      }
      const v = x0 + ((mx - box.l) / box.w) * (x1 - x0);
      const b = searchEdges(snap.edges, v);
      if (b < 0) return null;
      const c = snap.counts[b];
      return { text: `[${fmt(snap.edges[b])}, ${fmt(snap.edges[b + 1])}${b === B - 1 ? "]" : ")"}  count ${c}  (${tot ? ((100 * c) / tot).toFixed(2) : 0}% of finite)`, bin: b };
    };
    Object.assign(drawn, { counts: Array.from(snap.counts), edges: Array.from(snap.edges), nan: snap.nan, posinf: snap.posinf, neginf: snap.neginf, range: [x0, x1] });
  }

  drawOverlay(ctx, W, Hh, s, snap, drawn) {
    const n = s.snaps.length;
    let steps = this.pins.length ? [...this.pins] : [s.snaps[0].step, s.snaps[Math.floor((n - 1) / 2)].step];
    if (!steps.includes(snap.step)) steps.push(snap.step);
    const chosen = [...new Set(steps)].map((st) => s.snaps.find((p) => p.step === st)).filter(Boolean).sort((a, b) => a.step - b.step);
    const box = { l: 58, t: 10, w: W - 58 - 120, h: Hh - 40 };
    let lo = Infinity, hi = -Infinity, ymax = 1;
    for (const p of chosen) {
      lo = Math.min(lo, p.edges[0]);
      hi = Math.max(hi, p.edges[p.edges.length - 1]);
      for (const c of p.counts) ymax = Math.max(ymax, c);
    }
    if (this.opts.range === "this") [lo, hi] = [snap.edges[0], snap.edges[snap.edges.length - 1]]; // auto: all chosen steps
    const { X, Y } = axes(ctx, box, lo, hi, 0, this.yOf(ymax) * 1.05, { yTicks: this.yTicks(ymax), yLabel: "count" });
    ctx.save();
    ctx.beginPath();
    ctx.rect(box.l, box.t - 2, box.w, box.h + 2);
    ctx.clip();
    chosen.forEach((p, j) => {
      ctx.strokeStyle = ramp(0.15 + (0.7 * j) / Math.max(1, chosen.length - 1));
      ctx.lineWidth = p === snap ? 2 : 1.2;
      ctx.beginPath();
      ctx.moveTo(X(p.edges[0]), Y(0));
      for (let b = 0; b < p.counts.length; b++) {
        const y = Y(this.yOf(p.counts[b]));
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
      ctx.fillStyle = ramp(0.15 + (0.7 * j) / Math.max(1, chosen.length - 1));
      ctx.fillRect(box.l + box.w + 12, y - 1, 14, 3);
      ctx.fillStyle = "#333";
      ctx.fillText(`step ${p.step}` + (p.epoch >= 0 ? ` (ep ${p.epoch + 1})` : ""), box.l + box.w + 30, y);
    });
    this.legend.textContent = "Outlines of the chosen steps (first, middle and selected; 'pin step' adds the selected one).";
    Object.assign(drawn, { steps: chosen.map((p) => p.step) });
  }

  timeX(s) {
    const x = this.opts.x;
    const w0 = s.snaps[0].wall;
    const xs = s.snaps.map((p) => (x === "wall" ? p.wall - w0 : p.step));
    let ticks;
    if (x === "epoch") {
      ticks = [];
      let last = null;
      for (const p of s.snaps) if (p.epoch >= 0 && p.epoch !== last) {
        last = p.epoch;
        ticks.push([p.step, `ep ${p.epoch + 1}`]);
      }
      if (!ticks.length) ticks = undefined;
    }
    return { xs, ticks, label: x === "wall" ? "seconds" : x === "epoch" ? "epoch (first snapshot of each)" : "step" };
  }

  drawOffset(ctx, W, Hh, s, cur, drawn) {
    const n = s.snaps.length;
    const want = Math.min(n, 40);
    const idx = [...new Set(Array.from({ length: want }, (_, j) => Math.round((j * (n - 1)) / Math.max(1, want - 1))))];
    if (!idx.includes(cur)) idx.push(cur);
    idx.sort((a, b) => a - b);
    const snap = s.snaps[cur];
    const [x0, x1] = this.xRange(s, snap);
    const box = { l: 90, t: 50, w: W - 90 - 20, h: Hh - 50 - 30 };
    const { X } = axes(ctx, box, x0, x1, 0, 1, { yTicks: [] });
    const gap = box.h / Math.max(1, idx.length);
    let smax = 0;
    for (const j of idx) {
      const p = s.snaps[j], t = total(p) || 1;
      for (const c of p.counts) smax = Math.max(smax, c / t);
    }
    const amp = (gap * 4) / (smax || 1);
    ctx.save();
    ctx.beginPath();
    ctx.rect(box.l, 0, box.w, box.t + box.h);
    ctx.clip();
    const { xs } = this.timeX(s);
    idx.forEach((j, r) => {
      const p = s.snaps[j], t = total(p) || 1;
      const base = box.t + gap * (r + 1); // oldest at the top, newest at the bottom (front)
      ctx.beginPath();
      ctx.moveTo(X(p.edges[0]), base);
      for (let b = 0; b < p.counts.length; b++) {
        const y = base - Math.min(box.t + box.h, amp * (p.counts[b] / t));
        ctx.lineTo(X(p.edges[b]), y);
        ctx.lineTo(X(p.edges[b + 1]), y);
      }
      ctx.lineTo(X(p.edges[p.edges.length - 1]), base);
      ctx.closePath();
      ctx.fillStyle = j === cur ? COLORS[s.kind] : "rgba(255,255,255,0.85)";
      ctx.fill();
      ctx.strokeStyle = j === cur ? "#000" : ramp(0.2 + (0.6 * r) / Math.max(1, idx.length - 1));
      ctx.lineWidth = 1;
      ctx.stroke();
    });
    ctx.restore();
    ctx.fillStyle = "#444";
    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    const every = Math.max(1, Math.ceil(14 / gap));
    idx.forEach((j, r) => {
      if (r % every && j !== cur) return;
      const p = s.snaps[j];
      const label = this.opts.x === "wall" ? `${fmt(xs[j])} s` : this.opts.x === "epoch" && p.epoch >= 0 ? `ep ${p.epoch + 1} · ${p.step}` : `step ${p.step}`;
      ctx.fillText(label, box.l - 6, box.t + gap * (r + 1));
    });
    this.legend.textContent = "Snapshots stacked over steps (oldest at the top), each drawn from its own exact bins as a share of its values; the selected step is filled.";
    Object.assign(drawn, { steps: idx.map((j) => s.snaps[j].step) });
  }

  drawHeatmap(ctx, W, Hh, s, cur, drawn) {
    const box = { l: 70, t: 10, w: W - 70 - 80, h: Hh - 45 };
    const snap = s.snaps[cur];
    const [y0, y1] = this.xRange(s, snap);
    const G = Math.max(8, Math.min(256, Math.floor(box.h / 2)));
    const grid = Float64Array.from({ length: G + 1 }, (_, j) => y0 + ((y1 - y0) * j) / G);
    const { xs, ticks, label } = this.timeX(s);
    const n = s.snaps.length;
    const xEnd = n > 1 ? xs[n - 1] + (xs[n - 1] - xs[n - 2]) : xs[0] + 1;
    const cols = [];
    let vmax = 0, clipped = 0, all = 0;
    for (const p of s.snaps) {
      const t = total(p) || 1;
      const m = rebin(p.edges, p.counts, grid);
      const share = m.map((v) => v / t);
      for (let b = 0; b < p.counts.length; b++) {
        if (p.edges[b + 1] <= y0 || p.edges[b] >= y1) clipped += p.counts[b];
        all += p.counts[b];
      }
      for (const v of share) vmax = Math.max(vmax, v);
      cols.push(share);
    }
    const cv = (v) => (this.opts.logColor ? Math.log10(1 + 1000 * v) / Math.log10(1 + 1000 * (vmax || 1)) : v / (vmax || 1));
    const { X, Y } = axes(ctx, box, xs[0], xEnd, y0, y1, { xTicks: ticks, yLabel: "value", xLabel: label });
    ctx.fillStyle = ramp(0); // no mass
    ctx.fillRect(box.l + 1, box.t, box.w - 1, box.h);
    for (let j = 0; j < n; j++) {
      const xa = X(xs[j]), xb = X(j + 1 < n ? xs[j + 1] : xEnd);
      for (let g = 0; g < G; g++) {
        if (cols[j][g] <= 0) continue;
        ctx.fillStyle = ramp(cv(cols[j][g]));
        const ya = Y(grid[g + 1]), yb = Y(grid[g]);
        ctx.fillRect(xa, ya, Math.max(1, xb - xa + 0.5), Math.max(1, yb - ya + 0.5));
      }
    }
    // mean line and the selected step
    ctx.strokeStyle = "#fff";
    ctx.lineWidth = 1;
    ctx.beginPath();
    s.snaps.forEach((p, j) => {
      const x = (X(xs[j]) + X(j + 1 < n ? xs[j + 1] : xEnd)) / 2, y = Y(Math.min(y1, Math.max(y0, p.mean)));
      if (Number.isFinite(p.mean)) j ? ctx.lineTo(x, y) : ctx.moveTo(x, y);
    });
    ctx.stroke();
    ctx.strokeStyle = "#0af";
    ctx.strokeRect(X(xs[cur]), box.t, Math.max(2, X(cur + 1 < n ? xs[cur + 1] : xEnd) - X(xs[cur])), box.h);
    // colour bar
    const cb = { x: box.l + box.w + 14, w: 12 };
    for (let k = 0; k < box.h; k++) {
      ctx.fillStyle = ramp(1 - k / box.h);
      ctx.fillRect(cb.x, box.t + k, cb.w, 1.5);
    }
    ctx.fillStyle = "#444";
    ctx.textAlign = "left";
    ctx.textBaseline = "middle";
    ctx.fillText(`${(100 * vmax).toPrecision(2)}%`, cb.x + cb.w + 3, box.t + 4);
    ctx.fillText("0", cb.x + cb.w + 3, box.t + box.h - 4);
    ctx.save();
    ctx.translate(cb.x + cb.w + 30, box.t + box.h / 2);
    ctx.rotate(Math.PI / 2);
    ctx.textAlign = "center";
    ctx.fillText(this.opts.logColor ? "share of mass (log)" : "share of mass", 0, 0);
    ctx.restore();
    this.legend.textContent = "Each column is one snapshot re-binned onto one value grid (mass conserved); colour is its share of the snapshot's finite values; white line: mean." +
      (clipped > 0 ? ` ${((100 * clipped) / (all || 1)).toFixed(1)}% of values lie outside this range and are drawn in the edge rows.` : "");
    this.hit = (mx, my) => {
      const xv = xs[0] + ((mx - box.l) / box.w) * (xEnd - xs[0]);
      let j = -1;
      for (let k = 0; k < n; k++) if (xs[k] <= xv) j = k;
      const g = Math.floor(((box.t + box.h - my) / box.h) * G);
      if (j < 0 || g < 0 || g >= G) return null;
      return { text: `step ${s.snaps[j].step}: [${fmt(grid[g])}, ${fmt(grid[g + 1])})  ${(100 * cols[j][g]).toFixed(2)}% of mass` };
    };
    Object.assign(drawn, { grid: Array.from(grid), shares: cols.map((c) => Array.from(c)), steps: s.snaps.map((p) => p.step) });
  }

  drawDistribution(ctx, W, Hh, s, cur, drawn) {
    const box = { l: 70, t: 10, w: W - 70 - 20, h: Hh - 45 };
    const { xs, ticks, label } = this.timeX(s);
    const ps = s.snaps.map((p) => percentiles(p.edges, p.counts, p.min, p.max));
    let lo = Infinity, hi = -Infinity;
    for (const q of ps) for (const v of q) if (Number.isFinite(v)) (lo = Math.min(lo, v)), (hi = Math.max(hi, v));
    if (!(hi > lo)) [lo, hi] = [lo - 0.5, hi + 0.5];
    const pad = 0.04 * (hi - lo);
    const x0 = xs[0], x1 = xs.length > 1 ? xs[xs.length - 1] : xs[0] + 1;
    const { X, Y } = axes(ctx, box, x0, x1, lo - pad, hi + pad, { xTicks: ticks, yLabel: "value", xLabel: label });
    const col = COLORS[s.kind];
    for (let k = 0; k < 4; k++) {
      ctx.fillStyle = col;
      ctx.globalAlpha = 0.18 + 0.16 * k;
      ctx.beginPath();
      ps.forEach((q, j) => (j ? ctx.lineTo(X(xs[j]), Y(q[k])) : ctx.moveTo(X(xs[j]), Y(q[k]))));
      for (let j = ps.length - 1; j >= 0; j--) ctx.lineTo(X(xs[j]), Y(ps[j][8 - k]));
      ctx.closePath();
      ctx.fill();
    }
    ctx.globalAlpha = 1;
    const line = (f, style, dash) => {
      ctx.strokeStyle = style;
      ctx.setLineDash(dash);
      ctx.beginPath();
      s.snaps.forEach((p, j) => (j ? ctx.lineTo(X(xs[j]), Y(f(j))) : ctx.moveTo(X(xs[j]), Y(f(j)))));
      ctx.stroke();
      ctx.setLineDash([]);
    };
    line((j) => ps[j][4], "#000", []);
    line((j) => s.snaps[j].mean, "#c00", [4, 3]);
    ctx.strokeStyle = "#0af";
    ctx.beginPath();
    ctx.moveTo(X(xs[cur]), box.t);
    ctx.lineTo(X(xs[cur]), box.t + box.h);
    ctx.stroke();
    this.legend.textContent = "Bands: min–max, 6.7–93.3, 15.9–84.1 and 30.9–69.1 percentiles, read off the exact bins; black: median; red dashed: mean.";
    this.hit = (mx) => {
      const xv = x0 + ((mx - box.l) / box.w) * (x1 - x0);
      let j = 0;
      for (let k = 0; k < xs.length; k++) if (Math.abs(xs[k] - xv) < Math.abs(xs[j] - xv)) j = k;
      return { text: `step ${s.snaps[j].step}: ` + PERCENTILES.map((q, k) => `p${q} ${fmt(ps[j][k])}`).join(" · ") };
    };
    Object.assign(drawn, { percentiles: ps, steps: s.snaps.map((p) => p.step) });
  }

  /** "all tensors": a tile per tensor of the kind, the width's worth of columns, ordered
   * by a statistic (the most unusual first); a tile is drawn only while it is on screen. */
  drawGrid(kind) {
    const q = this.filter.value.trim().toLowerCase();
    const list = this.store.ofKind(kind).filter((s) => !q || s.name.toLowerCase().includes(q));
    const sorted = sortTiles(this.store, list, this.opts.gridSort, this.opts.gridUnusual && this.opts.gridSort !== "order");
    const badges = this.badges();
    const order = [];
    for (const [s, st] of sorted) {
      let t = this.tiles.get(s.id);
      if (!t) {
        t = el("div", "tfh-tile");
        t.dataset.id = s.id;
        t.dataset.name = s.name;
        t.title = `${s.name}: click to open`;
        t.head = el("div", "tfh-tile-name");
        t.stat = el("div", "tfh-tile-stat");
        t.append(t.head, t.stat);
        t.addEventListener("click", () => this.set({ tensor: s.name, view: "step" }));
        this.tiles.set(s.id, t);
        this.seen.observe(t);
      }
      const short = s.name.length > 30 ? "…" + s.name.slice(-29) : s.name; // the end of a path says most
      t.head.replaceChildren(...(badges.has(kind + "\t" + s.name) ? [el("span", "tfh-badge", "⚠ ")] : []), short);
      t.stat.textContent = this.opts.gridSort === "order" ? "" : st.label;
      t.stat.classList.toggle("tfh-bad", !!st.unusual);
      t.dataset.value = Number.isFinite(st.value) ? st.value : "";
      order.push(t);
    }
    const key = [kind, this.opts.gridSort, this.opts.gridUnusual, q, ...order.map((t) => t.dataset.id)].join("\n");
    if (key !== this.gridKey) {
      this.gridKey = key;
      this.grid.replaceChildren(...order);
      if (!order.length) this.grid.append(el("div", "tfh-none", "no tensor matches"));
      this.drawOnScreen(order); // now, not a frame later when the observer says so
    } else for (const t of this.visible) if (t.isConnected) this.drawTile(t); // new data: redraw what is on screen
    this.root.dataset.tiles = order.length;
    this.root.dataset.drawnTiles = this.visible.size;
    this.legend.textContent = `${order.length} tensors` + (this.opts.gridSort === "order" ? " in model order" : `, the most unusual ${GRID_SORTS.find(([k]) => k === this.opts.gridSort)[1]} first`) +
      (this.opts.gridHeat ? "; each tile a compact heatmap of its kept snapshots" : "; each tile the latest snapshot") + ". Click one to open it.";
    this.wantTileHistories();
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
    if (!s || !s.snaps.length || this.model.get("view") !== "grid") return;
    let c = tile.querySelector("canvas");
    if (!c) tile.append((c = el("canvas")));
    const w = Math.max(120, tile.clientWidth - 6), h = 80;
    const ctx = sizeCanvas(c, w, h);
    const p = s.snaps[s.snaps.length - 1];
    const kind = s.kind;
    if (this.opts.gridHeat && s.snaps.length > 1) {
      let y0 = Infinity, y1 = -Infinity;
      for (const r of s.snaps) (y0 = Math.min(y0, r.edges[0])), (y1 = Math.max(y1, r.edges[r.edges.length - 1]));
      const G = 24, grid = Float64Array.from({ length: G + 1 }, (_, j) => y0 + ((y1 - y0) * j) / G);
      const cw = w / s.snaps.length;
      s.snaps.forEach((r, j) => {
        const m = rebin(r.edges, r.counts, grid), t = total(r) || 1;
        for (let g = 0; g < G; g++) {
          ctx.fillStyle = ramp(Math.log10(1 + (1000 * m[g]) / t) / 3);
          ctx.fillRect(j * cw, h - ((g + 1) * h) / G, cw + 0.5, h / G + 0.5);
        }
      });
    } else {
      let ymax = 1;
      for (const v of p.counts) ymax = Math.max(ymax, v);
      const x0 = p.edges[0], x1 = p.edges[p.edges.length - 1];
      ctx.fillStyle = COLORS[kind];
      for (let b = 0; b < p.counts.length; b++) {
        const xa = ((p.edges[b] - x0) / (x1 - x0)) * w, xb = ((p.edges[b + 1] - x0) / (x1 - x0)) * w;
        const hh = (this.yOf(p.counts[b]) / this.yOf(ymax)) * (h - 14);
        ctx.fillRect(xa, h - hh, Math.max(1, xb - xa), hh);
      }
      ctx.fillStyle = "#555";
      ctx.font = "9px sans-serif";
      ctx.textBaseline = "top";
      ctx.textAlign = "left";
      ctx.fillText(fmt(x0), 1, 1);
      ctx.textAlign = "right";
      ctx.fillText(fmt(x1), w - 1, 1);
    }
    if (p.nan + p.posinf + p.neginf > 0) {
      ctx.fillStyle = "#c00";
      ctx.font = "10px sans-serif";
      ctx.textAlign = "center";
      ctx.fillText(`${p.nan + p.posinf + p.neginf} NaN/Inf`, w / 2, 14);
    }
    tile.dataset.drawn = "1";
    this.tileDraws = (this.tileDraws || 0) + 1;
    this.root.dataset.tileDraws = this.tileDraws;
  }

  /** Heatmap tiles need their Series' kept snapshots: ask for those on screen, at once. */
  wantTileHistories() {
    if (!this.opts.gridHeat || this.model.get("view") !== "grid") return;
    const need = [...this.visible].map((t) => this.store.series.get(+t.dataset.id)).filter(Boolean);
    if (need.length) this.store.wantHistory(need);
  }

  /** Depth × step: one statistic per tensor of the kind (rows, in model order) at each
   * kept step (columns), as colour: the gradient-flow picture at a glance. A click opens
   * that tensor at that step. */
  drawDepth(W, cur, snap, drawn) {
    const kind = cur.kind;
    const [metric, label, scale] = (DEPTH[kind] || []).find(([m]) => m === this.opts.depth[kind]) || DEPTH[kind][0];
    const q = this.filter.value.trim().toLowerCase();
    const list = this.store.ofKind(kind).filter((s) => !q || s.name.toLowerCase().includes(q));
    const waiting = this.store.wantDepth(kind, metric, list) || this.store.asked.has(`depth\t${kind}\t${metric}`);
    const tracks = list.map((s) => this.store.depthTrack(s, metric));
    const all = new Set();
    for (const t of tracks) if (t) for (const st of t.steps) all.add(st);
    const steps = [...all].sort((a, b) => a - b);
    const log = scale === "log";
    const f = (v) => (log ? (v > 0 ? Math.log10(v) : NaN) : v);
    let lo = Infinity, hi = -Infinity;
    for (const t of tracks) if (t) for (const v of t.values) { const y = f(v); if (Number.isFinite(y)) (lo = Math.min(lo, y)), (hi = Math.max(hi, y)); }
    if (!log) [lo, hi] = [0, Math.max(1e-9, Number.isFinite(hi) ? Math.max(hi, 1) : 1)];
    if (!Number.isFinite(lo)) [lo, hi] = [0, 1];
    if (hi <= lo) hi = lo + 1;
    const rows = list.length;
    const rowH = Math.max(1, Math.min(14, 560 / Math.max(1, rows)));
    const L = 190, box = { l: L, t: 8, w: Math.max(60, W - L - 78), h: rows * rowH };
    const Hh = box.t + box.h + 40;
    const ctx = sizeCanvas(this.canvas, W, Hh);
    const x0 = steps.length ? steps[0] : 0;
    const last = steps.length ? steps[steps.length - 1] : 0;
    const x1 = steps.length > 1 ? last + (last - steps[steps.length - 2]) : last + 1;
    const { X } = axes(ctx, { ...box, h: box.h }, x0, x1, 0, 1, { yTicks: [], xLabel: "step" });
    // the picture: one pixel column per CSS pixel, one row per tensor, scaled up unsmoothed
    const pw = Math.max(1, Math.round(box.w));
    const off = document.createElement("canvas");
    off.width = pw;
    off.height = Math.max(1, rows);
    const octx = off.getContext("2d");
    const img = octx.createImageData(pw, Math.max(1, rows));
    const lut = Array.from({ length: 256 }, (_, k) => rampRGB(k / 255));
    const px = (st) => ((st - x0) / (x1 - x0 || 1)) * pw;
    tracks.forEach((t, r) => {
      const base = r * pw * 4;
      for (let x = 0; x < pw; x++) img.data.set([246, 246, 246, 255], base + 4 * x); // nothing measured
      if (!t) return;
      for (let j = 0; j < t.steps.length; j++) {
        const xa = Math.max(0, Math.floor(px(t.steps[j])));
        const xb = Math.min(pw, Math.max(xa + 1, Math.ceil(px(j + 1 < t.steps.length ? t.steps[j + 1] : x1))));
        const y = f(t.values[j]);
        const c = Number.isFinite(y) ? lut[Math.max(0, Math.min(255, Math.round((255 * (y - lo)) / (hi - lo))))] : [205, 205, 205];
        for (let x = xa; x < xb; x++) img.data.set([c[0], c[1], c[2], 255], base + 4 * x);
      }
    });
    octx.putImageData(img, 0, 0);
    ctx.imageSmoothingEnabled = false;
    if (rows) ctx.drawImage(off, box.l, box.t, box.w, box.h);
    // names: every row when they fit, else every k-th; the selected tensor's always
    ctx.fillStyle = "#444";
    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    ctx.font = "10px sans-serif";
    const every = Math.max(1, Math.ceil(11 / rowH));
    const clip = (n) => (n.length > 30 ? "…" + n.slice(-29) : n);
    list.forEach((s, r) => {
      if (r % every === 0 && s !== cur) ctx.fillText(clip(s.name), box.l - 4, box.t + (r + 0.5) * rowH);
    });
    const at = list.indexOf(cur);
    if (at >= 0) {
      ctx.fillStyle = "#fff";
      ctx.fillRect(0, box.t + (at + 0.5) * rowH - 6, box.l - 2, 12);
      ctx.fillStyle = "#0a5";
      ctx.font = "bold 10px sans-serif";
      ctx.fillText("▶ " + clip(cur.name), box.l - 4, box.t + (at + 0.5) * rowH);
      ctx.strokeStyle = "#0af";
      ctx.strokeRect(box.l, box.t + at * rowH, box.w, Math.max(1, rowH));
    }
    if (this.model.get("step") >= 0) { // the selected step
      ctx.strokeStyle = "#0af";
      ctx.beginPath();
      ctx.moveTo(X(snap.step), box.t);
      ctx.lineTo(X(snap.step), box.t + box.h);
      ctx.stroke();
    }
    // colour bar
    const cb = { x: box.l + box.w + 12, w: 12 };
    for (let k = 0; k < box.h; k++) {
      ctx.fillStyle = ramp(1 - k / box.h);
      ctx.fillRect(cb.x, box.t + k, cb.w, 1.5);
    }
    ctx.fillStyle = "#444";
    ctx.font = "10px sans-serif";
    ctx.textAlign = "left";
    const tickOf = (y) => (log ? fmt(Math.pow(10, y)) : fmt(y));
    ctx.textBaseline = "top";
    ctx.fillText(tickOf(hi), cb.x + cb.w + 2, box.t);
    ctx.textBaseline = "bottom";
    ctx.fillText(tickOf(lo), cb.x + cb.w + 2, box.t + box.h);
    const incomplete = tracks.filter((t) => t && !t.complete).length;
    this.legend.textContent = `${label} of each ${kind === "activations" ? "layer output" : "tensor"} (rows, model order) at each kept step (columns)` +
      (log ? ", log colour scale" : "") + "; grey: not measured. Click a cell to open that tensor at that step." +
      (incomplete ? ` ${incomplete} rows hold only the steps this page has seen; ` + (waiting ? "the rest is on its way from the kernel (it answers when idle)." : "the kernel did not send the rest.") : "");
    const rowAt = (my) => Math.floor((my - box.t) / rowH);
    const cell = (mx, my) => {
      const r = rowAt(my);
      if (r < 0 || r >= rows || mx < box.l || mx > box.l + box.w || !tracks[r]) return null;
      const t = tracks[r], xv = x0 + ((mx - box.l) / box.w) * (x1 - x0);
      let j = -1;
      for (let k = 0; k < t.steps.length; k++) if (t.steps[k] <= xv) j = k;
      return j < 0 ? null : { s: list[r], step: t.steps[j], value: t.values[j] };
    };
    this.hit = (mx, my) => {
      const c = cell(mx, my);
      return c && { text: `${c.s.name} · step ${c.step}: ${label} ${fmt(c.value)}` };
    };
    this.pick = (mx, my) => {
      const c = cell(mx, my);
      return c && { name: c.s.name, step: c.step };
    };
    Object.assign(drawn, { metric, rows, cols: steps.length, names: list.map((s) => s.name), steps, range: log ? [Math.pow(10, lo), Math.pow(10, hi)] : [lo, hi], complete: !incomplete });
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

export default {
  initialize({ model }) {
    storeFor(model);
  },
  render({ model, el: host }) {
    const view = new View(model, host);
    return () => view.destroy();
  },
};
