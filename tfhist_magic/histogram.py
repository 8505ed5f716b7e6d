"""The histogram contract, in pure NumPy.

This module is the oracle: the in-graph code in ``capture/_ops.py`` computes the
same *row* on the device, and the tests compare the two.

A snapshot of one tensor is stored as one row of ``bins + 10`` float64 numbers::

    counts[0:B]  nan  posinf  neginf  zeros  min  max  mean  std  norm  width

* ``counts`` are exact integers: ``numpy.histogram`` of the finite values on the edges
  that :func:`bin_edges` returns for the row.
* ``min``/``max`` are over the finite values (``+inf``/``-inf`` when there are none);
  ``mean``, ``std`` (population) and ``norm`` (L2) are over the finite values too.
* ``width`` is the bin width the device used (a check: :func:`bin_width` recomputes it).

How the device bins (one rule on every path: CPU, GPU, XLA). From the finite ``min``
and ``max`` it derives ``lo``, a width ``w`` and ``B`` edges ``e[i] = lo + i * w``,
all in the compute dtype (float64 for float64 tensors, float32 for the rest), with only
operations whose IEEE results every device and NumPy agree on:

* ``w`` is rounded up to ``p - 11`` significant bits (``p`` = 24 or 53), so ``i * w`` is
  exact for every ``i <= MAX_BINS`` and ``e[i]`` is one correctly rounded addition (the
  same with or without a fused multiply-add);
* ``w`` is at least 16 units in the last place of ``M = max(|lo|, |hi|)`` and at least
  4 times the smallest normal number. Then the arithmetic estimate ``x / w - lo / w``
  (two roundings of numbers up to ``M / w`` bins, each off by at most ``1/16`` of a bin,
  and edges off their exact place by at most ``1/32``) is within ``5/32`` of a bin of
  where ``x`` lies among the edges; shifted down half a bin and truncated, it names the
  right bin or the one below, and one exact comparison with the next edge settles it;
* TensorFlow's kernels treat subnormal numbers as zero (flush-to-zero). So no edge lies
  strictly between ``-tiny`` and ``tiny`` (``tiny`` = the smallest normal number): an edge
  that would is moved to ``-tiny``, and so is a ``lo`` there (a ``hi`` there becomes
  ``tiny``). Every subnormal then falls in the same bin as zero, whether the device saw
  it as zero or not, and the counts stay exact.

A value ``x`` goes to bin ``i`` when ``e[i] <= x < e[i+1]`` (the last bin closed): the
device computes that by comparing ``x`` with the edges (an arithmetic estimate, then
one exact comparison with the next edge), so :func:`bin_edges` gives edges on which
``numpy.histogram`` reproduces the device's counts bit for bit. All finite values lie in
``[e[0], e[B]]``.

Special ranges: a tensor whose finite values are all equal to ``v`` (a zero-initialised
bias) gets ``[v - pad, v + pad]``, ``pad = max(0.5, |v| / 1024)``, all of its mass in one
bin; finite values all within ``(-tiny, tiny)`` count as the constant 0; no finite value
gives the range of the constant 0. Ranges wider than the dtype's largest value (values
near ``-max`` and ``+max`` together) are binned in float64 arithmetic without overflow.

No TensorFlow and no widgets here.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "EXTRA",
    "MAX_BINS",
    "NAN",
    "POSINF",
    "NEGINF",
    "ZEROS",
    "MIN",
    "MAX",
    "MEAN",
    "STD",
    "NORM",
    "WIDTH",
    "compute_dtype",
    "binning_range",
    "bin_width",
    "bin_edges",
    "edges_from",
    "reference_row",
    "rebin",
    "common_grid",
]

#: Number of numbers stored beside the ``B`` counts in a row.
EXTRA = 10
# Offsets of the extra numbers, counted from the end of the counts.
NAN, POSINF, NEGINF, ZEROS, MIN, MAX, MEAN, STD, NORM, WIDTH = range(EXTRA)

#: The most bins a histogram may have (so that ``i * w`` stays exact).
MAX_BINS = 1024
#: A constant tensor's range is ``v -+ max(0.5, |v| * CONSTANT_PAD)``.
CONSTANT_PAD = 2.0**-10
_INDEX_BITS = 11  # bits of i <= MAX_BINS


def compute_dtype(dtype) -> np.dtype:
    """The dtype a tensor of ``dtype`` is binned in: float64 (and complex128, whose
    magnitudes are float64) stays float64, all else float32."""
    return np.dtype(np.float64) if np.dtype(dtype) in (np.float64, np.complex128) else np.dtype(np.float32)


class _Consts:
    """The constants of the binning rule for one compute dtype (shared with ``_ops``)."""

    def __init__(self, dt):
        fi = np.finfo(dt)
        self.dtype = np.dtype(dt)
        self.p = fi.nmant + 1  # significant bits
        self.tiny = float(fi.tiny)
        self.max = float(fi.max)
        self.k = self.p - _INDEX_BITS  # significant bits kept in w
        drop = 53 - self.k  # float64 mantissa bits dropped when rounding w
        self.mask = (1 << drop) - 1
        self.wmax = float((2.0 - 2.0 ** (1 - self.k)) * 2.0 ** (fi.maxexp - 1))  # largest k-bit value <= max
        self.ulp16 = 2.0 ** (5 - self.p)  # 16 ulp(M) <= M * ulp16
        self.big = 2.0**1000  # beyond this the range is computed from halves
        self.huge = 2.0 ** (self.p + 40)  # a width beyond this is worked on scaled down
        # Sums are taken of values times ``sum_scale`` when the largest magnitude is
        # over ``sum_limit`` (powers of two: exact, and nothing overflows).
        self.sum_limit = 2.0**40 if self.p == 24 else 2.0**500
        self.sum_scale = 2.0**-100 if self.p == 24 else 2.0**-600


CONSTS = {np.dtype(np.float32): _Consts(np.float32), np.dtype(np.float64): _Consts(np.float64)}


def binning_range(mn, mx, dtype=np.float32):
    """The ``(lo, hi)`` the device bins between, from the finite ``min`` and ``max``.

    Computed in the compute dtype exactly as the device does (see the module doc): the
    zero band, the constant pad, and no ``lo``/``hi`` inside ``(-tiny, tiny)``.
    """
    c = CONSTS[compute_dtype(dtype)]
    dt = c.dtype
    with np.errstate(over="ignore", invalid="ignore"):
        mn = np.asarray(mn, dtype=np.float64).astype(dt)
        mx = np.asarray(mx, dtype=np.float64).astype(dt)
        has = mn <= mx
        lo = np.where(has, mn, dt.type(0))
        hi = np.where(has, mx, dt.type(0))
        zero = (np.abs(lo) < c.tiny) & (np.abs(hi) < c.tiny)
        lo = np.where(zero, dt.type(0), lo)
        hi = np.where(zero, dt.type(0), hi)
        const = lo == hi
        pad = np.maximum(dt.type(0.5), np.abs(lo) * dt.type(CONSTANT_PAD)).astype(dt)
        lo = np.where(const, np.maximum((lo - pad).astype(dt), dt.type(-c.max)), lo).astype(dt)
        hi = np.where(const, np.minimum((hi + pad).astype(dt), dt.type(c.max)), hi).astype(dt)
        lo = np.where(np.abs(lo) < c.tiny, dt.type(-c.tiny), lo).astype(dt)
        hi = np.where(np.abs(hi) < c.tiny, dt.type(c.tiny), hi).astype(dt)
    return lo, hi


def bin_width(lo, hi, bins: int, dtype=np.float32):
    """The bin width ``w`` for ``(lo, hi)`` (from :func:`binning_range`), in the compute dtype."""
    c = CONSTS[compute_dtype(dtype)]
    with np.errstate(over="ignore", invalid="ignore"):
        lo = np.asarray(lo, dtype=np.float64)
        hi = np.asarray(hi, dtype=np.float64)
        m = np.maximum(np.abs(lo), np.abs(hi))
        r = np.where(m > c.big, (hi * 0.5 - lo * 0.5) / bins * 2.0, (hi - lo) / bins)
        w = np.maximum(np.maximum(r, m * c.ulp16), 4.0 * c.tiny)
        bits = (w.view(np.int64) + np.int64(c.mask)) & np.int64(~c.mask)
        w = np.minimum(bits.view(np.float64), c.wmax)
    return w.astype(c.dtype)


def edges_from(lo, w, hi, bins: int, dt) -> np.ndarray:
    """All ``bins + 1`` edges in the compute dtype ``dt`` (``[..., bins + 1]``) from a
    row's ``lo, w, hi`` (:func:`binning_range`, :func:`bin_width`): what the page
    computes from a packet's ``lwh``."""
    c = CONSTS[dt]
    lo, w, hi = (np.asarray(a, dtype=dt)[..., None] for a in (lo, w, hi))
    i = np.arange(bins + 1, dtype=dt)
    q = dt.type(0.25)
    with np.errstate(over="ignore", invalid="ignore"):
        # lo + i * w; for a huge w, computed a quarter down (the same rounding, no
        # overflow of i * w on the way).
        plain = (lo + (i * w).astype(dt)).astype(dt)
        quarter = ((lo * q).astype(dt) + (i * (w * q).astype(dt)).astype(dt)).astype(dt) * dt.type(4)
        e = np.where(w > dt.type(c.huge), quarter.astype(dt), plain)
        e[..., 0] = lo[..., 0]
        e = np.minimum(e, dt.type(c.max))
        e[..., :bins] = np.where(np.abs(e[..., :bins]) < c.tiny, dt.type(-c.tiny), e[..., :bins])
        e[..., bins] = np.maximum(e[..., bins], hi[..., 0])
    return e.astype(dt)


def bin_edges(mn, mx, bins: int, dtype=np.float32) -> np.ndarray:
    """Edges (float64, shape ``[..., bins + 1]``) on which ``numpy.histogram`` gives the
    device's counts.

    Args:
        mn, mx: the row's ``min`` and ``max`` (scalars or arrays of one shape; one set
            of edges each).
        bins: the number of bins ``B``.
        dtype: the compute dtype (float32 or float64).
    """
    dt = compute_dtype(dtype)
    lo, hi = binning_range(mn, mx, dt)
    w = bin_width(lo, hi, bins, dt)
    return edges_from(lo, w, hi, bins, dt).astype(np.float64)


def reference_row(values, bins: int = 64, flush: bool = False) -> np.ndarray:
    """The row the device computes for ``values``, computed with NumPy.

    The counts are ``numpy.histogram`` on :func:`bin_edges`; the statistics are over the
    finite values, in float64. Subnormals are kept as they are, unless ``flush``: then
    they count as the signed zeros a CPU step flushes them to (TensorFlow's kernels run
    with flush-to-zero), so ``min``/``max``/``zeros`` are the step's too; the counts
    agree either way.
    """
    arr = np.asarray(values)
    if arr.dtype.kind == "c":
        arr = np.abs(arr)
    dt = compute_dtype(arr.dtype)
    x = arr.astype(dt).ravel()
    if flush:
        x = np.where(np.abs(x) < np.finfo(dt).tiny, np.copysign(dt.type(0), x), x)
    finite = np.isfinite(x)
    xf = x[finite]
    mn = xf.min() if xf.size else dt.type(np.inf)
    mx = xf.max() if xf.size else dt.type(-np.inf)
    lo, hi = binning_range(mn, mx, dt)
    w = bin_width(lo, hi, bins, dt)
    edges = bin_edges(mn, mx, bins, dt)
    counts, _ = np.histogram(xf.astype(np.float64), bins=edges)
    x64 = xf.astype(np.float64)
    n = max(x64.size, 1)
    # Scaled by a power of two (exact) so that nothing overflows or underflows; the mean
    # from a correctly rounded sum; the variance by the corrected two-pass formula (the
    # deviations from the mean are exact when the values are close, by Sterbenz, and
    # their sum corrects for the mean's rounding), so values a few ulps apart get their
    # std right.
    top = float(np.abs(x64).max()) if x64.size else 0.0
    k = float(np.ldexp(0.5, np.frexp(top)[1])) if top > 0 else 1.0
    xs = x64 / k
    with np.errstate(over="ignore"):  # a norm past float64's max is inf
        m = math.fsum(xs) / n  # the sum correctly rounded: a mean right to the last bit
        d = xs - m
        c = d.sum()
        mean = m * k
        std = np.sqrt(max((d * d).sum() - c * c / n, 0.0) / n) * k
        norm = np.sqrt((xs**2).sum()) * k
    extra = np.array(
        [np.isnan(x).sum(), (x == np.inf).sum(), (x == -np.inf).sum(), (x == 0).sum(), mn, mx, mean, std, norm, w],
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


#: The percentiles TensorBoard's distribution chart draws (min, ±1.5σ, ±σ, ±0.5σ of a
#: normal, median, max).
PERCENTILES = (0.0, 6.68, 15.87, 30.85, 50.0, 69.15, 84.13, 93.32, 100.0)


def percentiles(edges, counts, mn, mx, qs=PERCENTILES) -> np.ndarray:
    """Percentiles ``qs`` of each snapshot, read off its exact bins.

    The value at rank ``t = q/100 * total`` lies in the first bin whose cumulative count
    reaches ``t``; inside it the mass is taken as uniform (linear interpolation). The
    result is clipped to the snapshot's exact ``[mn, mx]``, so ``q = 0`` and ``q = 100``
    give the true min and max. NaN where a snapshot has no finite values. The widget's
    distribution view computes the same (tested against this).
    """
    edges = np.atleast_2d(np.asarray(edges, dtype=np.float64))
    counts = np.atleast_2d(np.asarray(counts, dtype=np.float64))
    mn, mx = np.atleast_1d(mn).astype(np.float64), np.atleast_1d(mx).astype(np.float64)
    qs = np.asarray(qs, dtype=np.float64)
    out = np.full((counts.shape[0], qs.size), np.nan)
    for r in range(counts.shape[0]):
        cdf = np.concatenate([[0.0], np.cumsum(counts[r])])
        total = cdf[-1]
        if total <= 0:
            continue
        for j, q in enumerate(qs):
            t = q / 100.0 * total
            if t <= 0:
                out[r, j] = mn[r]
                continue
            i = min(int(np.searchsorted(cdf[1:], t, side="left")), counts.shape[1] - 1)
            v = edges[r, i] + (t - cdf[i]) / counts[r, i] * (edges[r, i + 1] - edges[r, i])
            out[r, j] = min(max(v, mn[r]), mx[r])
    return out
