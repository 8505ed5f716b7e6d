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

const ARRAYS = ["steps", "epochs", "wall", "counts", "extra", "lwh"];

/** Decode one packet (DataView or ArrayBuffer): the header, with each Series' arrays. */
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
  header.series.forEach((s, j) => ARRAYS.forEach((key, k) => (s[key] = flat[j * ARRAYS.length + k])));
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

/** All kept snapshots of every Series, fed by packets. */
// The scalar series drawn under a kind's histogram: [metric, label, log scale].
const PROBES = {
  weights: [["update_ratio", "update / weight ratio, std(Δw) / std(w) (grey: the other weight matrices)", true]],
  activations: [["dead_units", "dead units: zero on the whole batch", false], ["saturation", "saturated: within 0.03 of the bounds", false]],
};

export class Store {
  constructor() {
    this.series = new Map();
    this.scalars = new Map(); // metric + "\t" + name -> { steps: [], values: [] }
    this.header = null;
    this.seq = -1;
    this.listeners = new Set();
    this.stale = false;
  }
  apply(header) {
    if (header.full) {
      this.series = new Map();
      this.scalars = new Map();
      this.seq = header.seq;
      this.stale = false;
    } else if (header.seq <= this.seq) {
      return; // already in the full data
    } else if (header.seq !== this.seq + 1) {
      this.stale = true; // a missed update: ask for everything (answered when the kernel is idle)
    }
    if (!header.full) this.seq = Math.max(this.seq, header.seq);
    for (const p of header.series) {
      const B = p.bins || header.bins;
      let s = this.series.get(p.id);
      if (!s) {
        s = { id: p.id, kind: p.kind, name: p.name, dtype: p.dtype, bins: B, snaps: [] };
        this.series.set(p.id, s);
      }
      if (p.start > s.snaps.length) {
        this.stale = true;
        continue;
      }
      s.snaps.length = p.start;
      for (let i = 0; i < p.n; i++) {
        const extra = p.extra.subarray(i * EXTRA, (i + 1) * EXTRA);
        const x = (k) => extra[k];
        s.snaps.push({
          step: p.steps[i], epoch: p.epochs[i], wall: p.wall[i],
          counts: p.counts.subarray(i * B, (i + 1) * B),
          edges: p.explicit ? p.lwh.slice(i * (B + 1), (i + 1) * (B + 1)) : binEdges(p.lwh[3 * i], p.lwh[3 * i + 1], p.lwh[3 * i + 2], B, p.dtype),
          nan: x(NAN), posinf: x(POSINF), neginf: x(NEGINF), zeros: x(ZEROS),
          min: x(MIN), max: x(MAX), mean: x(MEAN), std: x(STD), norm: x(NORM),
        });
      }
    }
    for (const p of header.scalars || []) {
      const key = p.metric + "\t" + p.name;
      let c = this.scalars.get(key);
      if (!c) this.scalars.set(key, (c = { steps: [], values: [] }));
      if (p.start > c.steps.length) {
        this.stale = true;
        continue;
      }
      c.steps.length = c.values.length = p.start;
      c.steps.push(...p.steps);
      c.values.push(...p.values.map((v) => (v === null ? NaN : v))); // null: not a number (JSON has none)
    }
    this.header = header;
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
}

const STORES = new Map();

function storeFor(model) {
  const uid = model.get("_uid");
  let store = STORES.get(uid);
  if (!store) {
    store = new Store();
    STORES.set(uid, store);
    const full = () => {
      const d = model.get("_data");
      if (d && d.byteLength) store.apply(decode(d));
    };
    full();
    model.on("change:_data", full);
    model.on("msg:custom", (msg, buffers) => {
      if (msg && msg.tfhist && buffers && buffers.length) {
        store.apply(decode(buffers[0]));
        if (store.stale && !store.asked) {
          store.asked = true;
          model.send({ want: "full" });
        }
        if (msg.tfhist === "full") store.asked = false;
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
function ramp(t) {
  t = Math.min(1, Math.max(0, t)) * (RAMP.length - 1);
  const i = Math.min(RAMP.length - 2, Math.floor(t)), f = t - i;
  const c = RAMP[i].map((v, k) => Math.round(v + f * (RAMP[i + 1][k] - v)));
  return `rgb(${c[0]},${c[1]},${c[2]})`;
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

// -- the view ----------------------------------------------------------------------------

class View {
  constructor(model, el_) {
    this.model = model;
    this.root = el("div", "tfh");
    el_.appendChild(this.root);
    this.store = storeFor(model);
    this.opts = { log: false, range: "auto", x: "step", logColor: true, gridHeat: false };
    this.pins = [];
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
    this.update();
  }

  destroy() {
    this.store.listeners.delete(this.onData);
    this.resize.disconnect();
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
    // picker
    this.side = el("div", "tfh-side");
    this.filter = el("input", "tfh-filter");
    this.filter.placeholder = "filter tensors";
    this.filter.addEventListener("input", () => this.buildList());
    this.list = el("div", "tfh-list");
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
    this.options.append(
      check("log", "log counts"),
      check("logColor", "log colour"),
      choose("range", [["auto", "range: auto"], ["all", "range: all steps"], ["this", "range: this step"]], "value range: auto frames the selected step in the step and overlay views, all steps in the time views"),
      choose("x", [["step", "time: step"], ["epoch", "time: epoch"], ["wall", "time: wall clock"]], "time axis"),
      check("gridHeat", "grid as heatmaps"),
    );
    this.bar.append(this.options);
    this.title = el("div", "tfh-title");
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
    this.slide = el("div", "tfh-slide");
    this.slider = el("input", "tfh-slider");
    this.slider.type = "range";
    this.slider.min = 0;
    this.slider.addEventListener("input", () => {
      const s = this.current();
      if (!s) return;
      const i = +this.slider.value;
      const follow = i === s.snaps.length - 1;
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
    this.main.append(this.bar, this.title, this.plot, this.slide, this.stats, this.probe);
    // findings
    this.findings = el("div", "tfh-findings");
    this.body.append(this.side, this.main, this.findings);
    r.append(this.empty, this.top, this.body);
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
    const list = this.store.ofKind(kind);
    return this.store.find(kind, this.model.get("tensor")) || list[0] || null;
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
    if (!kinds.length) {
      this.empty.textContent = live || !h ? "Waiting for the first snapshot…" : "Nothing was recorded.";
      this.empty.style.display = "";
      this.top.style.display = this.body.style.display = "none";
      return;
    }
    this.empty.style.display = "none";
    this.top.style.display = this.body.style.display = "";
    this.status.textContent = (live ? "● recording · " : "") + `${this.store.series.size} series` + (this.store.stale ? " · some updates missed, catching up" : "");
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

  buildList() {
    const kind = this.kind();
    const cur = this.current();
    const q = this.filter.value.trim().toLowerCase();
    const badges = this.badges();
    const models = (this.store.header && this.store.header.models) || {};
    const list = this.store.ofKind(kind).filter((s) => !q || s.name.toLowerCase().includes(q));
    const key = [kind, q, cur && cur.name, list.length, [...badges.keys()].join("|")].join("\n");
    if (key === this.listKey) return;
    this.listKey = key;
    const items = [];
    let group = null, layer = null;
    const layerOf = (n) => (n.includes("/") ? n.slice(0, n.lastIndexOf("/")) : "");
    list.forEach((s, k) => {
      const g = models[s.name] || "";
      if (g !== group) {
        group = g;
        layer = null;
        if (g) items.push(el("div", "tfh-group", g));
      }
      // a layer's tensors (kernel, bias, ...) under one sub-heading when there are several
      const l = layerOf(s.name);
      const shared = l && [list[k - 1], list[k + 1]].some((o) => o && layerOf(o.name) === l);
      if (shared && l !== layer) items.push(el("div", "tfh-layer", l));
      layer = shared ? l : null;
      const item = el("div", "tfh-item" + (cur && s.name === cur.name ? " tfh-on" : "") + (shared ? " tfh-in-layer" : ""));
      item.dataset.name = s.name;
      item.title = s.name;
      item.append(el("span", "tfh-name", shared ? s.name.slice(l.length + 1) : s.name));
      const b = badges.get(kind + "\t" + s.name);
      if (b) {
        const badge = el("span", "tfh-badge", "⚠");
        badge.title = b;
        item.append(badge);
      }
      item.addEventListener("click", () => this.set({ tensor: s.name, view: this.model.get("view") === "grid" ? "step" : this.model.get("view") }));
      items.push(item);
    });
    if (!list.length) items.push(el("div", "tfh-none", "no tensor matches"));
    this.list.replaceChildren(...items);
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
    const view = this.model.get("view");
    const i = this.index(s);
    const snap = s.snaps[i];
    this.root.dataset.kind = s.kind;
    this.root.dataset.tensor = s.name;
    this.root.dataset.view = view;
    this.root.dataset.step = snap.step;
    this.slider.max = s.snaps.length - 1;
    this.slider.value = i;
    this.followBox.checked = this.model.get("step") < 0;
    this.at.textContent = `step ${snap.step}` + (snap.epoch >= 0 ? ` · epoch ${snap.epoch + 1}` : "") + `  (snapshot ${i + 1} of ${s.snaps.length})`;
    this.title.textContent = `${TITLES[s.kind]} · ${s.name}` + (s.dtype !== "float32" ? ` (${s.dtype})` : "");
    this.stats.textContent = describe(snap);
    this.stats.classList.toggle("tfh-bad", snap.nan + snap.posinf + snap.neginf > 0);
    const grid = view === "grid";
    this.canvas.style.display = grid ? "none" : "";
    this.grid.style.display = grid ? "" : "none";
    this.slide.style.display = grid ? "none" : "";
    this.drawProbes(s, snap, grid);
    if (grid) return this.drawGrid(s.kind);
    const width = Math.max(320, this.plot.clientWidth || 600);
    const height = view === "offset" ? 360 : 300;
    const ctx = sizeCanvas(this.canvas, width, height);
    this.hit = null;
    this.legend.textContent = "";
    const drawn = { view, kind: s.kind, name: s.name, step: snap.step };
    ({ step: () => this.drawStep(ctx, width, height, s, snap, drawn),
       overlay: () => this.drawOverlay(ctx, width, height, s, snap, drawn),
       offset: () => this.drawOffset(ctx, width, height, s, i, drawn),
       heatmap: () => this.drawHeatmap(ctx, width, height, s, i, drawn),
       distribution: () => this.drawDistribution(ctx, width, height, s, i, drawn),
    }[view] || (() => this.drawStep(ctx, width, height, s, snap, drawn)))();
    this.canvas.dataset.drawn = JSON.stringify(drawn);
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
    const others = log ? this.store.ofKind(s.kind).filter((o) => o.name !== s.name).map((o) => this.store.scalar(got[0][0], o.name)).filter((c) => c && c.steps.length) : [];
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

  drawGrid(kind) {
    const list = this.store.ofKind(kind);
    const q = this.filter.value.trim().toLowerCase();
    const shown = list.filter((s) => !q || s.name.toLowerCase().includes(q));
    const badges = this.badges();
    const tiles = [];
    for (const s of shown) {
      const tile = el("div", "tfh-tile");
      tile.dataset.name = s.name;
      const head = el("div", "tfh-tile-name", s.name);
      if (badges.has(kind + "\t" + s.name)) head.prepend(el("span", "tfh-badge", "⚠ "));
      const c = el("canvas");
      tile.append(head, c);
      tile.title = `${s.name}: click to open`;
      tile.addEventListener("click", () => this.set({ tensor: s.name, view: "step" }));
      const w = 180, h = 80;
      const ctx = sizeCanvas(c, w, h);
      const p = s.snaps[s.snaps.length - 1];
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
      tiles.push(tile);
    }
    this.grid.replaceChildren(...tiles);
    this.root.dataset.tiles = tiles.length;
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
