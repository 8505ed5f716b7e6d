// Numbers of the views, pure functions (Node-tested against the NumPy reference): re-binning, percentiles, value ranges, labels.

import { PERCENTILES } from "./constants.js";

/** The values the snapshots `snaps` span: from the first edge to the last of those with
 * finite values (a snapshot of NaN/Inf only has bins but no values), framed (`frame`). */
export function valueRange(snaps) {
  let lo = Infinity, hi = -Infinity;
  for (const p of snaps) {
    if (!(p.finite > 0)) continue;
    lo = Math.min(lo, p.edges[0]);
    hi = Math.max(hi, p.edges[p.edges.length - 1]);
  }
  return frame(lo, hi);
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

/** A statistic of one snapshot: NaN where it had no finite values (Series._stat). */
export function statOf(snap, key) {
  return ["min", "max", "mean", "std", "norm"].includes(key) && !(snap.finite > 0) ? NaN : snap[key];
}

// -- formatting and drawing helpers ----------------------------------------------------------

export function fmt(v) {
  if (!Number.isFinite(v)) return String(v);
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 1e5 || a < 1e-3) return v.toExponential(2).replace("e+", "e");
  return String(+v.toPrecision(4));
}

/** A statistic for reading: "—" where it is not known (a series imported from TensorBoard
 * keeps no mean, no std, no norm; a snapshot with no finite values has none). */
export function fmtStat(v) {
  return v === null || v === undefined || Number.isNaN(v) ? "—" : fmt(v);
}

/** A share (0..1) as a percentage label: "100%", "42%", "1.5%", "0.012%". */
export function pct(share) {
  if (!Number.isFinite(share)) return "—";
  const v = 100 * share;
  if (v === 0) return "0%";
  return (Math.abs(v) >= 10 ? String(Math.round(v)) : String(+v.toPrecision(2))) + "%";
}

/** A value range to draw on: [lo, hi] itself when it has a width, else widened around its
 * one value (a tensor of one value whose bins have no width: a constant imported from
 * TensorBoard) so that it maps onto pixels; [-1, 1] when nothing is finite. */
export function frame(lo, hi) {
  if (!Number.isFinite(lo) && !Number.isFinite(hi)) return [-1, 1];
  if (!Number.isFinite(lo)) lo = hi;
  if (!Number.isFinite(hi)) hi = lo;
  if (hi > lo) return [lo, hi];
  const pad = lo === 0 ? 0.5 : Math.abs(lo) * 0.1;
  return [lo - pad, hi + pad];
}

/** The labels to draw among those at positions `at` (pixels) so that no two are closer
 * than `gap`: those in `must` (indices) first, then the others in order where they fit.
 * Returns the chosen indices, sorted. */
export function spaced(at, gap, must = []) {
  const taken = [];
  const chosen = new Set();
  const take = (i) => {
    if (chosen.has(i) || !Number.isFinite(at[i]) || taken.some((y) => Math.abs(y - at[i]) < gap)) return;
    taken.push(at[i]);
    chosen.add(i);
  };
  for (const i of must) take(i);
  for (let i = 0; i < at.length; i++) take(i);
  return [...chosen].sort((a, b) => a - b);
}

export function niceTicks(lo, hi, n = 5) {
  if (!(hi > lo)) return [lo];
  // the step of 1, 2, 2.5 or 5 times a power of ten that gives the count nearest n
  const p = Math.pow(10, Math.floor(Math.log10((hi - lo) / n)));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * p).reduce((a, b) => (Math.abs((hi - lo) / b - n) < Math.abs((hi - lo) / a - n) ? b : a));
  const out = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) out.push(Math.abs(t) < step * 1e-9 ? 0 : +t.toPrecision(12));
  return out;
}

export function total(snap) {
  let t = 0;
  for (const c of snap.counts) t += c;
  return t;
}

/** The line of statistics under a snapshot; "—" for what is not known (an imported
 * Series, `explicit`, keeps no zero count, and TensorBoard's own files no mean, std or norm). */
export function describe(snap, explicit = false) {
  const size = total(snap) + snap.nan + snap.posinf + snap.neginf;
  const parts = [`step ${snap.step}`];
  if (snap.epoch >= 0) parts.push(`epoch ${snap.epoch + 1}`);
  if (total(snap) > 0) {
    for (const k of ["mean", "std", "min", "max", "norm"]) parts.push(`${k} ${fmtStat(snap[k])}`);
    parts.push(`zeros ${explicit ? "—" : ((100 * snap.zeros) / size).toFixed(1) + "%"}`);
  } else parts.push("no finite values");
  const bad = [["nan", "NaN"], ["posinf", "+Inf"], ["neginf", "−Inf"]].filter(([k]) => snap[k] > 0).map(([k, l]) => `${snap[k]} ${l}`);
  if (bad.length) parts.push("NON-FINITE: " + bad.join(", "));
  return parts.join(" · ");
}

/** "preparing the recording for 612 tensors… 12 s": the kernel's status and how long. */
export function statusText(status, elapsed) {
  const s = Math.floor(Math.max(0, elapsed));
  const t = s < 60 ? `${s} s` : `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, "0")} s`;
  return `${status.text}… ${t}`;
}

/** The heatmap's default value range: the bulk of the steps, not their extremes. Each
 * snapshot's own range (its exact bins' first and last edge); the range runs from the
 * 10th percentile over steps of their lows to the 90th of their highs, so one wide step
 * (an early gradient) does not squeeze the rest into a line. Null when it would not be
 * narrower than half of `full` (then the whole range shows everything at little cost). */
export function robustRange(snaps, full) {
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

/** The shares of a snapshot's finite values below `lo` and above `hi` (values spread
 * evenly within a bin): what a narrowed range leaves out of the drawing. */
export function outside(p, lo, hi) {
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
