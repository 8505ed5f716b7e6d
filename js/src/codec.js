// The packet codec (packet.py's decode, in the page): a header and the rows' arrays; the exact bin edges from (lo, w, hi).

import { EXTRA } from "./constants.js";

// -- data ------------------------------------------------------------------------------

export const LIMITS = {
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

export const ARRAYS = ["steps", "epochs", "wall", "counts", "extra", "lwh", "keep"];

export const TRACK_ARRAYS = ["steps", "values", "keep"];

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
