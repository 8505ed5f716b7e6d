"""The binning rule in TensorFlow, and the row (and probes) of one tensor.

Owns what one histogram *is* on the device: the range, width and edges of
``tfhist_magic.histogram`` computed operation for operation (on scalars, or on vectors of
per-tensor values), the exact count of values on those edges, the statistics, and the
dead-unit and saturated shares of one activation. The ops that bin many tensors at once
(``_many``) and every capture path build on these; nothing here knows about Keras,
sessions or the Recording.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from .. import histogram as H
from . import _compat, _span

__all__ = [
    "compute_dtype", "prepare", "consts", "binning_range", "bin_width", "edges", "estimate_scale", "bin_counts",
    "dev_scale", "moments", "deviations", "one_row", "row_either", "SATURATION_MARGIN", "BOUNDS", "probe_one",
    "PROBE_COLUMNS", "probe_segment", "PART", "finite_range", "shared_range", "count_part", "shared_moments", "merged_row",
]

PART = 7  # what count_part adds beside the counts: nan, posinf, neginf, zeros, n_finite, a, q

def compute_dtype(dtype: tf.DType) -> tf.DType:
    """float64 tensors (and complex128, whose magnitudes are float64) are binned in
    float64; everything else in float32."""
    return tf.float64 if dtype in (tf.float64, tf.complex128) else tf.float32


def prepare(t):
    """Cast to the compute dtype (a no-op for float32/float64); shape is left as is."""
    t = tf.convert_to_tensor(t)
    if t.dtype.is_complex:
        t = tf.math.abs(t)
    return tf.cast(t, compute_dtype(t.dtype))


def consts(cd: tf.DType) -> H._Consts:
    return H.CONSTS[np.dtype(cd.as_numpy_dtype)]


def rare(key, body, spec, *args):
    """``body(*args)`` for a branch that rarely runs (NaN or Inf in a tensor, an edge
    that needs the rule's special cases). Outside XLA, a call of a cached ``_noinline``
    function of ``spec`` (one per ``key``): a training function that never takes the
    branch pays only part of the body's instantiation (about 10% off a new call site of
    the row functions, docs/performance.md). Under XLA, inline."""
    if _compat.in_xla_context():
        return body(*args)
    return _compat.cached(("rare",) + tuple(key), body, spec)(*args)


def binning_range(mn, mx, cd: tf.DType):
    """``histogram.binning_range`` in TensorFlow, operation for operation (:mod:`._span`)."""
    return _span.binning_range(mn, mx, consts(cd), tf, lambda v: tf.constant(v, cd))


def bin_width(lo, hi, bins: int, cd: tf.DType):
    """``histogram.bin_width`` in TensorFlow (scalar float64 work, one bit mask)."""
    c = consts(cd)
    lo64 = tf.cast(lo, tf.float64)
    hi64 = tf.cast(hi, tf.float64)
    m = tf.maximum(tf.abs(lo64), tf.abs(hi64))
    b = tf.constant(float(bins), tf.float64)
    r = tf.where(m > c.big, (hi64 * 0.5 - lo64 * 0.5) / b * 2.0, (hi64 - lo64) / b)
    w = tf.maximum(tf.maximum(r, m * c.ulp16), tf.constant(4.0 * c.tiny, tf.float64))
    bits = tf.bitwise.bitwise_and(tf.bitcast(w, tf.int64) + c.mask, tf.constant(~c.mask, tf.int64))
    w = tf.minimum(tf.bitcast(bits, tf.float64), c.wmax)
    return tf.cast(w, cd)


def edges(lo, w, bins: int, cd: tf.DType):
    """``e[..., i] = lo + i * w`` for ``i < bins`` (``histogram.edges``), for a scalar or
    a vector of ``lo``/``w``; and the same shifted by one (``e[i+1]``, +inf after the last)."""
    c = consts(cd)
    big, tiny, q = tf.constant(c.max, cd), tf.constant(c.tiny, cd), tf.constant(0.25, cd)
    lo_, w_ = lo[..., None], w[..., None]
    i = tf.constant(np.arange(1, bins), cd)
    huge = w_ > tf.constant(c.huge, cd)
    e = tf.where(huge, (lo_ * q + i * (w_ * q)) * tf.constant(4.0, cd), lo_ + i * w_)
    e = tf.concat([lo_, tf.minimum(e, big)], -1)
    e = tf.where(tf.abs(e) < tiny, -tiny, e)
    nxt = tf.concat([e[..., 1:], tf.fill(tf.shape(lo_), tf.constant(np.inf, cd))], -1)
    return e, nxt


def estimate_scale(lo, w, cd: tf.DType):
    """``(a, s, c)`` with ``(x * a) * s - c`` estimating ``(x - lo) / w - 1/2`` to within
    ``5/32`` of a bin (see ``histogram``), without overflow: a huge ``w`` is scaled down
    first, so ``1 / w`` stays a normal number (``a`` is 1 otherwise)."""
    huge = w > tf.constant(consts(cd).huge, cd)
    a = tf.where(huge, tf.constant(2.0**-64, cd), tf.constant(1.0, cd))
    s = tf.cast(1.0 / (tf.cast(w, tf.float64) * tf.cast(a, tf.float64)), cd)
    return a, s, (lo * a) * s + tf.constant(0.5, cd), huge


def bin_counts(x, lo, w, bins: int, cd: tf.DType):
    """Exact counts of ``x`` (finite, in ``[lo, e[B]]``) in the bins ``e[i] <= x < e[i+1]``.

    The estimate, half a bin low, lies in ``(i - 1, i + 1)`` for the true bin ``i`` (and
    above -1, as ``x >= lo``), so truncated toward zero it is ``i - 1`` or ``i``; one
    exact comparison with the next edge settles which. The next edge is computed where
    it can be, ``lo + (j + 1) * w`` being exactly the rule's edge (``i * w`` is exact, one
    rounding in the addition), instead of gathered from a table: TensorFlow's gather
    costs as much as six element-wise passes. The table is used when an edge needs the
    rule's special cases (one in the zero band, or a huge width). The estimate stays
    below ``B - 1/3``, so there is no clipping pass: anything counted past the last bin
    (a value equal to the top edge) is folded back into it, ``B`` additions, not a pass."""
    c = consts(cd)
    a, s, est_c, huge = estimate_scale(lo, w, cd)
    i = tf.constant(np.arange(1, bins), cd)
    inner = lo + i * w  # e[1..B-1] as the rule computes them when w is not huge
    special = huge | tf.reduce_any(tf.abs(inner) < tf.constant(c.tiny, cd))

    def arithmetic():
        j = tf.cast(x * s - est_c, tf.int32)
        return j + tf.cast(x >= lo + tf.cast(j + 1, cd) * w, tf.int32)

    spec = [tf.TensorSpec([None], cd), tf.TensorSpec([], cd), tf.TensorSpec([], cd)]
    idx = tf.cond(special, lambda: rare(("table", cd, bins), lambda x, lo, w: _table_bins(x, lo, w, bins), spec, x, lo, w), arithmetic)
    # tf.math.bincount's own kernel with its size a constant (XLA needs one; no pass for
    # the largest index either)
    got = tf.raw_ops.DenseBincount(input=idx, size=tf.constant(bins + 2, tf.int32), weights=tf.zeros([0], tf.int32))
    return tf.concat([got[: bins - 1], [tf.reduce_sum(got[bins - 1 :])]], 0)


def _table_bins(x, lo, w, bins: int):
    """:func:`bin_counts`' bin of each value of ``x`` from the table of the rule's edges
    (an edge in the zero band, or a huge width)."""
    cd = x.dtype
    a, s, est_c, huge = estimate_scale(lo, w, cd)
    _, nxt = edges(lo, w, bins, cd)
    nxt = tf.concat([nxt, tf.fill([2], tf.constant(np.inf, cd))], 0)
    xa = tf.cond(huge, lambda: x * a, lambda: x)
    j = tf.cast(xa * s - est_c, tf.int32)
    return j + tf.cast(x >= tf.gather(nxt, j), tf.int32)


#: Spans (of ``B`` bins, scaled as the sums are) outside which deviations from the mean
#: are scaled by a power of two before they are squared, so that their squares neither
#: underflow (``(span / 2**20)**2`` stays a normal number above the floor) nor overflow
#: (``2**31`` squares of the ceiling stay finite).
_DEV_RANGE = {tf.float32: (2.0**-40, 2.0**40), tf.float64: (2.0**-400, 2.0**400)}


def dev_scale(w, inv, bins: int, cd: tf.DType):
    """A power of two ``r`` in ``cd`` (a scalar, or one per tensor for vectors ``w``,
    ``inv``): ``(x - m) * r`` is at most about 2 for values ``x`` and a mean ``m``
    within ``bins * w * inv`` (the span) of each other, when the span is outside
    :data:`_DEV_RANGE`; 1 inside it (no work then). Scaling by a power of two is exact."""
    floor, ceil = _DEV_RANGE[cd]
    span = tf.cast(w, tf.float64) * tf.cast(inv, tf.float64) * float(bins)
    exp_bits = tf.constant(0x7FF0000000000000, tf.int64)
    p2 = tf.bitcast(tf.bitwise.bitwise_and(tf.bitcast(span, tf.int64), exp_bits), tf.float64)  # 2**floor(log2 span)
    return tf.cast(tf.where((span < floor) | (span > ceil), 1.0 / p2, 1.0), cd)


def moments(m, var_r, r, k, n_fin):
    """``(mean, std, norm)`` in float64 from the mean ``m`` and the variance ``var_r`` of
    the values times ``r / k`` (``r`` :func:`dev_scale`'s, ``k`` the sums' scale), and
    the count of finite values; scalars or vectors."""
    sd = tf.sqrt(var_r) / r
    norm = tf.sqrt(tf.cast(n_fin, tf.float64)) * tf.sqrt(tf.square(sd) + tf.square(m))
    return m * k, sd * k, norm * k


def deviations(xs, m, r, finite=None):
    """``(sum(d), sum(d * d))`` in float64 for ``d = (xs - m) * r`` over the finite
    values (``finite`` given: the others count as ``d = 0``); sums in ``xs``' dtype.

    The corrected two-pass formula: ``sum((x - mean)**2) = sum(d*d) - sum(d)**2 / n``
    (in ``r`` units) for any ``m``, so the rounding of ``m`` (as large as the spread when
    the values are a few ulps apart) costs nothing, and ``x - m`` is exact where it
    matters (Sterbenz: values near the mean). ``mean = m + sum(d) / (n r)``."""
    d = xs - m
    if finite is not None:
        d = tf.where(finite, d, tf.zeros([], d.dtype))
    d = tf.cond(tf.equal(r, 1), lambda: d, lambda: d * r)  # scaled only when it must be
    f64 = lambda v: tf.cast(v, tf.float64)  # noqa: E731
    return f64(tf.reduce_sum(d)), f64(tf.reduce_sum(tf.square(d)))


def one_row(x, total, bins: int, masked: bool):
    """One tensor's row. ``masked`` is the path for tensors that may hold non-finite
    values (or whose sum overflows)."""
    cd = x.dtype
    zero = tf.constant(0, cd)
    one = tf.constant(1, cd)
    inf = tf.constant(np.inf, cd)
    n = tf.size(x, out_type=tf.int32)
    if masked:
        finite = tf.math.is_finite(x)
        n_fin = tf.reduce_sum(tf.cast(finite, tf.int32))
        nan = tf.reduce_sum(tf.cast(tf.math.is_nan(x), tf.int32))
        posinf = tf.reduce_sum(tf.cast(tf.equal(x, inf), tf.int32))
        mn = tf.reduce_min(tf.where(finite, x, inf))
        mx = tf.reduce_max(tf.where(finite, x, -inf))
        xz = tf.where(finite, x, zero)
    else:
        n_fin, nan, posinf = n, tf.constant(0, tf.int32), tf.constant(0, tf.int32)
        mn = tf.reduce_min(x)  # +inf / -inf for an empty tensor, as in the masked path
        mx = tf.reduce_max(x)
        xz = x
    n_bad = n - n_fin
    lo, hi = binning_range(mn, mx, cd)
    w = bin_width(lo, hi, bins, cd)

    # Non-finite values go to bin 0 (as lo) and are taken back out after counting.
    xb = tf.where(finite, x, lo) if masked else x
    counts = bin_counts(xb, lo, w, bins, cd)
    if masked:
        counts = counts - tf.one_hot(0, bins, dtype=tf.int32) * n_bad
    zeros = tf.reduce_sum(tf.cast(tf.equal(x, zero), tf.int32))

    # Sums of values scaled down by a power of two when they are large, so nothing
    # overflows; the scalar work after the reductions is in float64. The spread comes
    # from the deviations from the mean rounded to the compute dtype, corrected by their
    # sum (see deviations): exact however few ulps apart the values are.
    c = consts(cd)
    large = tf.maximum(tf.abs(lo), tf.abs(hi)) > tf.constant(c.sum_limit, cd)
    inv = tf.where(large, tf.constant(c.sum_scale, cd), one)
    k = tf.where(large, tf.constant(1.0 / c.sum_scale, tf.float64), tf.constant(1.0, tf.float64))
    denom = tf.cast(tf.maximum(n_fin, 1), cd)
    xs = tf.cond(large, lambda: xz * inv, lambda: xz)  # scaled only when it must be
    m = (tf.reduce_sum(xs) if masked else total * inv) / denom  # the rounded mean / k
    r = dev_scale(w, inv, bins, cd)
    s1, s2 = deviations(xs, m, r, finite if masked else None)
    n64 = tf.cast(tf.maximum(n_fin, 1), tf.float64)
    r64 = tf.cast(r, tf.float64)
    m64 = tf.cast(m, tf.float64) + s1 / n64 / r64  # mean / k
    var_r = tf.maximum(s2 - tf.square(s1) / n64, 0.0) / n64  # variance * (r / k)^2
    mean, std, norm = moments(m64, var_r, r64, k, n_fin)

    ints = tf.cast(tf.stack([nan, posinf, n_bad - nan - posinf, zeros]), tf.float64)
    floats = tf.stack([tf.cast(mn, tf.float64), tf.cast(mx, tf.float64), mean, std, norm, tf.cast(w, tf.float64)])
    return tf.concat([tf.cast(counts, tf.float64), ints, floats], axis=0)


def row_either(x, bins: int):
    x = tf.reshape(x, [-1])
    total = tf.reduce_sum(x)
    # A finite sum means no NaN and no Inf (an overflowing sum just takes the masked
    # path), which is its own function (:func:`rare`).
    spec = [tf.TensorSpec([None], x.dtype)]
    return tf.cond(
        tf.math.is_finite(total),
        lambda: one_row(x, total, bins, False),
        lambda: rare(("masked_row", x.dtype, bins), lambda x: one_row(x, None, bins, True), spec, x),
    )


# -- rows in parts that add: over replicas (tf.distribute) or over the chunks of one tensor
#
# A row in two rounds: every part reduces its values to their finite min and max, these
# reduce to the global range, from which every part derives the same edges and counts its
# own values on them; counts, non-finite and zero counts and the pieces of the mean and
# variance then simply add (merged_row).


def shared_range(mn, mx, bins: int, cd: tf.DType):
    """``lo, w`` in ``cd`` and whether sums are scaled (as in :func:`one_row`), from the
    finite min and max of all the parts."""
    lo, hi = binning_range(tf.cast(mn, cd), tf.cast(mx, cd), cd)
    w = bin_width(lo, hi, bins, cd)
    return lo, w, tf.maximum(tf.abs(lo), tf.abs(hi)) > tf.constant(consts(cd).sum_limit, cd)


def finite_range(x) -> tf.Tensor:
    """``[2]`` float64: the finite min and max of ``x`` (``+inf``, ``-inf`` if none)."""
    inf = tf.constant(np.inf, x.dtype)
    finite = tf.math.is_finite(x)
    return tf.cast(tf.stack([tf.reduce_min(tf.where(finite, x, inf)), tf.reduce_max(tf.where(finite, x, -inf))]), tf.float64)


def count_part(x, lo, w, large, bins: int, masked: bool = True) -> tf.Tensor:
    """``[bins + 7]`` float64: ``x``'s counts on the shared edges and the parts of its
    statistics that add across replicas: non-finite and zero counts, the finite count
    ``n``, and, with ``e`` this replica's mean minus the shared pivot ``c`` (in ``r``
    units, :func:`shared_moments`) and ``M2`` its sum of squared deviations from its own
    mean (the corrected two-pass formula, :func:`deviations`), ``a = n e`` and
    ``q = M2 + n e^2``. Over all replicas, with ``N = sum(n)``: the mean is
    ``c + sum(a) / N`` and the sum of squared deviations ``sum(q) - sum(a)^2 / N``
    (``e`` is at most about 2: no cancellation beyond float64's). Not ``masked``: ``x``
    is known to hold only finite values (fewer passes)."""
    cd = x.dtype
    zero, inf = tf.constant(0, cd), tf.constant(np.inf, cd)
    n = tf.size(x, out_type=tf.int32)
    inv, c, r = shared_moments(lo, w, large, bins, cd)
    if masked:
        finite = tf.math.is_finite(x)
        n_fin = tf.reduce_sum(tf.cast(finite, tf.int32))
        nan = tf.reduce_sum(tf.cast(tf.math.is_nan(x), tf.int32))
        posinf = tf.reduce_sum(tf.cast(tf.equal(x, inf), tf.int32))
        counts = bin_counts(tf.where(finite, x, lo), lo, w, bins, cd) - tf.one_hot(0, bins, dtype=tf.int32) * (n - n_fin)
        xs = tf.where(finite, x * inv, zero)
    else:
        finite, n_fin, nan, posinf = None, n, tf.constant(0, tf.int32), tf.constant(0, tf.int32)
        counts = bin_counts(x, lo, w, bins, cd)
        xs = tf.cond(large, lambda: x * inv, lambda: x)
    n_bad = n - n_fin
    zeros = tf.reduce_sum(tf.cast(tf.equal(x, zero), tf.int32))
    nf = tf.cast(n_fin, tf.float64)
    n1 = tf.maximum(nf, 1.0)
    m = tf.cast(tf.cast(tf.reduce_sum(xs), tf.float64) / n1, cd)  # this replica's mean (scaled), rounded
    s1, s2 = deviations(xs, m, r, finite)
    r64 = tf.cast(r, tf.float64)
    e = (tf.cast(m, tf.float64) - c) * r64 + s1 / n1  # (its mean - c) * r; m - c exact near c
    m2 = tf.maximum(s2 - tf.square(s1) / n1, 0.0)
    ints = tf.cast(tf.stack([nan, posinf, n_bad - nan - posinf, zeros, n_fin]), tf.float64)
    return tf.concat([tf.cast(counts, tf.float64), ints, tf.stack([nf * e, m2 + nf * tf.square(e)])], 0)


def shared_moments(lo, w, large, bins: int, cd: tf.DType):
    """What every replica (and the merge) derives alike from the shared range: the sum
    scale ``inv`` (``cd``), the pivot ``c`` (float64, scaled: the middle of the bins) and
    the deviation scale ``r`` (:func:`dev_scale`)."""
    inv = tf.where(large, tf.constant(consts(cd).sum_scale, cd), tf.constant(1, cd))
    inv64 = tf.cast(inv, tf.float64)
    c = tf.cast(lo, tf.float64) * inv64 + tf.cast(w, tf.float64) * inv64 * (bins / 2)
    return inv, c, dev_scale(w, inv, bins, cd)


def merged_row(p, mn, mx, lo, w, large, bins: int, cd: tf.DType) -> tf.Tensor:
    """One tensor's row from the sum over replicas ``p`` of :func:`count_part`, its global
    finite ``mn``, ``mx`` (float64) and the shared ``lo, w, large``; or the rows of many
    tensors at once (``p`` ``[T, bins + 7]``, the others ``[T]``)."""
    nf = p[..., bins + 4]
    n = tf.maximum(nf, 1.0)
    a, q = p[..., bins + 5], p[..., bins + 6]
    k = tf.where(large, tf.constant(1.0 / consts(cd).sum_scale, tf.float64), tf.constant(1.0, tf.float64))
    _, pivot, r = shared_moments(lo, w, large, bins, cd)
    r = tf.cast(r, tf.float64)
    # Chan et al.'s combination about the shared pivot (each replica's M2 about its own
    # mean, and its mean's offset from the pivot, in r units): see count_part.
    mean = tf.where(nf > 0, pivot + a / n / r, 0.0)  # / k
    var_r = tf.maximum(q - tf.square(a) / n, 0.0) / n  # variance * (r / k)^2
    mean, std, norm = moments(mean, var_r, r, k, nf)
    floats = tf.stack([mn, mx, mean, std, norm, tf.cast(w, tf.float64)], -1)
    return tf.concat([p[..., :bins], p[..., bins : bins + 4], floats], -1)


# -- probes: the numbers the findings need that a histogram cannot give -------------------
#: Outputs within this distance of a bounded activation's bounds count as saturated
#: (the |tanh| > 0.97 rule).
SATURATION_MARGIN = 0.03
BOUNDS = {"tanh": (-1.0, 1.0), "sigmoid": (0.0, 1.0)}


def probe_one(x, bounds=None) -> tf.Tensor:
    """``[2]`` float64 for one activation reshaped to ``[examples, units]``: the share of
    units that are zero for every example; the share within :data:`SATURATION_MARGIN` of
    ``bounds`` (``[lo, hi]``, a tanh's or a sigmoid's), NaN without them."""
    alive = tf.reduce_any(tf.not_equal(x, tf.zeros([], x.dtype)), axis=0)
    dead = 1.0 - tf.reduce_mean(tf.cast(alive, tf.float64))
    if bounds is None:
        share = tf.constant(np.nan, tf.float64)
    else:
        m = tf.constant(SATURATION_MARGIN, x.dtype)
        b = tf.cast(bounds, x.dtype)
        share = tf.reduce_mean(tf.cast((x < b[0] + m) | (x > b[1] - m), tf.float64))
    return tf.stack([dead, share])


#: Probe columns after a row's ``bins + 10`` numbers when :func:`snapshot_rows` is asked
#: for them: the dead-unit share and the saturated share (NaN where they do not apply).
PROBE_COLUMNS = 2


def probe_segment(x, units, bounds) -> tf.Tensor:
    """:func:`probe_one` of a flat activation whose last axis has ``units`` units, with
    ``bounds`` ``[lo, hi]`` (NaN: no saturation share)."""
    x = tf.reshape(x, [-1, units])
    return tf.cond(
        tf.math.is_finite(bounds[0]), lambda: probe_one(x, bounds), lambda: probe_one(x)
    )

