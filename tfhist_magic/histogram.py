"""The histogram contract, in pure NumPy.

This module is the oracle: the in-graph code in ``capture/_ops.py`` computes the
same *row* on the device, and the tests compare the two.

A snapshot of one tensor is stored as one row of ``bins + 10`` float64 numbers::

    counts[0:B]  nan  posinf  neginf  zeros  min  max  mean  std  norm  scale

* ``counts`` are exact integers: ``numpy.histogram`` of the finite values on the edges
  that :func:`bin_edges` returns for the row.
* ``min``/``max`` are over the finite values (``+inf``/``-inf`` when there are none);
  ``mean``, ``std`` (population) and ``norm`` (L2) are over the finite values too.
* ``scale`` says how the device mapped values to bins. Positive: a finite value ``x``
  falls in bin ``min(floor((x - lo) * scale), B - 1)``, computed in the tensor's compute
  dtype (float32, or float64 for float64 tensors); this is the portable rule (GPU, XLA).
  Negative: TensorFlow's HistogramFixedWidth CPU kernel rule, bin
  ``min(float64(x - lo) / step, B - 1)`` truncated, ``step = -scale =
  float64(hi - lo) / B``. :func:`bin_edges` finds, for each bin, the
  smallest representable value that lands in it, so the edges it returns reproduce the
  device's counts exactly under ``numpy.histogram``'s rule (``edges[i] <= x <
  edges[i+1]``, last bin closed). The edges are equal-width up to one unit in the last
  place of the compute dtype.

No TensorFlow and no widgets here.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "EXTRA",
    "NAN",
    "POSINF",
    "NEGINF",
    "ZEROS",
    "MIN",
    "MAX",
    "MEAN",
    "STD",
    "NORM",
    "SCALE",
    "compute_dtype",
    "binning_range",
    "bin_edges",
    "reference_row",
    "rebin",
    "common_grid",
]

#: Number of numbers stored beside the ``B`` counts in a row.
EXTRA = 10
# Offsets of the extra numbers, counted from the end of the counts.
NAN, POSINF, NEGINF, ZEROS, MIN, MAX, MEAN, STD, NORM, SCALE = range(EXTRA)

#: Relative half-width given to a constant tensor's single bin range (at least 0.5).
CONSTANT_PAD = 1e-3


def compute_dtype(dtype) -> np.dtype:
    """The dtype a tensor of ``dtype`` is binned in: float64 stays, all else float32."""
    return np.dtype(np.float64) if np.dtype(dtype) == np.float64 else np.dtype(np.float32)


def binning_range(mn, mx, dtype=np.float32):
    """The ``(lo, hi)`` the device bins between, from the finite ``min`` and ``max``.

    No finite values gives ``(0, 1)``; a constant tensor gets ``value -+ pad`` with
    ``pad = max(0.5, |value| * 1e-3)``, so it still has sensible, non-degenerate edges
    and all its mass in one bin. Computed in ``dtype`` exactly as the device does.
    """
    dt = np.dtype(dtype)
    mn = np.asarray(mn, dtype=np.float64).astype(dt)
    mx = np.asarray(mx, dtype=np.float64).astype(dt)
    has = mn <= mx
    lo = np.where(has, mn, dt.type(0))
    hi = np.where(has, mx, dt.type(1))
    pad = np.where(lo == hi, np.maximum(dt.type(0.5), np.abs(lo) * dt.type(CONSTANT_PAD)), dt.type(0))
    return (lo - pad).astype(dt), (hi + pad).astype(dt)


def _index(x, lo, scale, bins, dt):
    """The device's bin index of ``x`` (same arithmetic, same order of operations).

    ``scale > 0``: ``min(floor((x - lo) * scale), B - 1)`` in ``dt`` (the portable rule).
    ``scale < 0``: ``min(float64(x - lo) / step, B - 1)`` truncated, ``step = -scale``
    (TensorFlow's HistogramFixedWidth CPU kernel, used on CPU-only hosts).
    """
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        d = (x - lo).astype(dt)
        v = np.where(
            scale > 0,
            np.floor(d * scale.astype(dt)).astype(np.float64),
            np.trunc(d.astype(np.float64) / np.where(scale < 0, -scale.astype(np.float64), 1.0)),
        )
    return np.minimum(v, bins - 1)


def _to_key(x, dt):
    """Map floats to integers that sort like the floats (-0.0 and 0.0 share a key)."""
    ity = np.int32 if dt == np.float32 else np.int64
    bits = np.asarray(x, dtype=dt).view(ity).astype(np.int64)
    mag_mask = np.int64(0x7FFFFFFF) if dt == np.float32 else np.int64(0x7FFFFFFFFFFFFFFF)
    return np.where(bits >= 0, bits, -(bits & mag_mask))


def _from_key(k, dt):
    ity = np.int32 if dt == np.float32 else np.int64
    sign = np.int64(-(2**31)) if dt == np.float32 else np.int64(np.iinfo(np.int64).min)
    bits = np.where(k >= 0, k, (-k) | sign)
    return bits.astype(ity).view(dt)


def bin_edges(mn, mx, scale, bins: int, dtype=np.float32) -> np.ndarray:
    """Edges (float64, shape ``[..., bins + 1]``) that reproduce the device's counts.

    Args:
        mn, mx, scale: the row's ``min``, ``max`` and ``scale`` (scalars or arrays of
            one shape; one set of edges each).
        bins: the number of bins ``B``.
        dtype: the compute dtype (float32 or float64).

    Returns:
        ``edges`` with ``edges[..., 0] = lo`` and ``edges[..., B] = hi``; edge ``i`` is
        the smallest ``dtype`` value the device puts in bin ``i`` or above.
    """
    dt = compute_dtype(dtype)
    lo, hi = binning_range(mn, mx, dt)
    scale = np.asarray(scale, dtype=np.float64)
    lo, hi, scale = np.broadcast_arrays(lo, hi, scale)
    shape = lo.shape
    lo = lo.reshape(-1, 1)
    hi = hi.reshape(-1, 1)
    scale = scale.reshape(-1, 1)
    i = np.arange(1, bins, dtype=np.int64)[None, :].astype(np.float64)
    # Bisection over the ordered representable values in [lo, hi]:
    # invariant index(a) < i <= index(b), unless no value reaches bin i (then b = hi).
    a = np.broadcast_to(_to_key(lo, dt), (lo.shape[0], bins - 1)).copy()
    b = np.broadcast_to(_to_key(hi, dt), (lo.shape[0], bins - 1)).copy()
    for _ in range(70):
        m = (a >> 1) + (b >> 1) + (a & b & 1)  # floor((a + b) / 2) without overflow
        live = (m != a) & (m != b)
        if not live.any():
            break
        mi = _index(_from_key(m, dt), lo, scale, bins, dt)
        up = mi >= i
        b = np.where(live & up, m, b)
        a = np.where(live & ~up, m, a)
    inner = _from_key(b, dt).astype(np.float64)
    edges = np.concatenate([lo.astype(np.float64), inner, hi.astype(np.float64)], axis=1)
    return edges.reshape(shape + (bins + 1,))


def reference_row(values, bins: int = 64, rule: str = "scale") -> np.ndarray:
    """The row the device computes for ``values``, computed with NumPy.

    ``rule="scale"``: ``scale = min(B / (hi - lo), max_float)`` in the compute dtype;
    ``rule="step"``: ``scale = -float64(hi - lo) / B``. The counts are
    ``numpy.histogram`` on :func:`bin_edges`; the statistics are over the finite values,
    in float64.
    """
    arr = np.asarray(values)
    dt = compute_dtype(arr.dtype)
    x = arr.astype(dt).ravel()
    finite = np.isfinite(x)
    xf = x[finite]
    mn = xf.min() if xf.size else dt.type(np.inf)
    mx = xf.max() if xf.size else dt.type(-np.inf)
    lo, hi = binning_range(mn, mx, dt)
    with np.errstate(over="ignore", divide="ignore"):
        if rule == "step":
            scale = -(np.float64((hi - lo).astype(dt)) / bins)
        else:
            scale = np.minimum(dt.type(bins) / (hi - lo), np.finfo(dt).max).astype(dt)
    edges = bin_edges(mn, mx, scale, bins, dt)
    counts, _ = np.histogram(xf.astype(np.float64), bins=edges)
    x64 = xf.astype(np.float64)
    n = max(x64.size, 1)
    mean = x64.sum() / n
    std = np.sqrt(((x64 - mean) ** 2).sum() / n)
    norm = np.sqrt((x64**2).sum())
    extra = np.array(
        [
            np.isnan(x).sum(),
            (x == np.inf).sum(),
            (x == -np.inf).sum(),
            (x == 0).sum(),
            mn,
            mx,
            mean,
            std,
            norm,
            scale,
        ],
        dtype=np.float64,
    )
    return np.concatenate([counts.astype(np.float64), extra])


def common_grid(edges: np.ndarray, bins: int) -> np.ndarray:
    """``bins + 1`` equal-width edges covering every snapshot's ``[edges[0], edges[-1]]``."""
    edges = np.asarray(edges, dtype=np.float64)
    lo = float(np.min(edges[..., 0]))
    hi = float(np.max(edges[..., -1]))
    if not hi > lo:
        hi = lo + 1.0
    return np.linspace(lo, hi, bins + 1)


def rebin(edges: np.ndarray, counts: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Move ``counts`` on ``edges`` onto ``grid`` by overlap; mass is conserved.

    Each source bin's mass is spread uniformly over its width. Mass outside ``grid``
    lands in its first or last bin. Takes one snapshot (1-D ``edges``/``counts``) or
    many (2-D, one row each) and returns the same rank.
    """
    one = np.ndim(counts) == 1
    edges = np.atleast_2d(np.asarray(edges, dtype=np.float64))
    counts = np.atleast_2d(np.asarray(counts, dtype=np.float64))
    grid = np.asarray(grid, dtype=np.float64)
    out = np.empty((counts.shape[0], grid.size - 1))
    for r in range(counts.shape[0]):
        cdf = np.concatenate([[0.0], np.cumsum(counts[r])])
        at = np.interp(grid[1:-1], edges[r], cdf, left=0.0, right=cdf[-1])
        out[r] = np.diff(np.concatenate([[0.0], at, [cdf[-1]]]))
    return out[0] if one else out
