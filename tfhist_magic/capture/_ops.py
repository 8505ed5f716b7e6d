"""The in-graph histogram + statistics ops, shared by every capture backend.

``snapshot_rows(tensors, bins)`` adds, to whatever graph (or eager context) is
current, one float64 row of ``bins + 10`` numbers per tensor, laid out as
``tfhist_magic.histogram`` describes, with the same binning rule (one rule on every
path: edges derived with operations every device rounds alike, then each value placed
by comparing it with the edges, so ``numpy.histogram`` on the reported edges gives
the same counts).

The work for one tensor is one ``tf.function`` (no AutoGraph) of a flat vector, traced
once per process for each (dtype, bins, XLA or not): tracing a training step adds one
call op per tensor, not a new subgraph, so watching a big model does not cost seconds
of tracing. Inside, one ``tf.cond`` takes the masked path only when some value is
non-finite (a finite sum proves there is none). Only element-wise ops, reductions, a
gather from the edges and a count: no host round trip, no py_function. Under XLA the
count is a segment sum (XLA compiles it for any size); elsewhere a bincount.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from .. import histogram as H
from . import _compat

__all__ = ["snapshot_rows", "compute_dtype"]


def compute_dtype(dtype: tf.DType) -> tf.DType:
    """float64 tensors are binned in float64; everything else in float32."""
    return tf.float64 if dtype == tf.float64 else tf.float32


def _prepare(t):
    """Cast to the compute dtype (a no-op for float32/float64); shape is left as is."""
    t = tf.convert_to_tensor(t)
    if t.dtype.is_complex:
        t = tf.math.abs(t)
    return tf.cast(t, compute_dtype(t.dtype))


def _consts(cd: tf.DType) -> H._Consts:
    return H.CONSTS[np.dtype(cd.as_numpy_dtype)]


def binning_range(mn, mx, cd: tf.DType):
    """``histogram.binning_range`` in TensorFlow, operation for operation."""
    c = _consts(cd)
    zero, tiny, big = (tf.constant(v, cd) for v in (0.0, c.tiny, c.max))
    has = mn <= mx
    lo = tf.where(has, mn, zero)
    hi = tf.where(has, mx, zero)
    band = (tf.abs(lo) < tiny) & (tf.abs(hi) < tiny)
    lo = tf.where(band, zero, lo)
    hi = tf.where(band, zero, hi)
    const = tf.equal(lo, hi)
    pad = tf.maximum(tf.constant(0.5, cd), tf.abs(lo) * tf.constant(H.CONSTANT_PAD, cd))
    lo = tf.where(const, tf.maximum(lo - pad, -big), lo)
    hi = tf.where(const, tf.minimum(hi + pad, big), hi)
    lo = tf.where(tf.abs(lo) < tiny, -tiny, lo)
    hi = tf.where(tf.abs(hi) < tiny, tiny, hi)
    return lo, hi


def bin_width(lo, hi, bins: int, cd: tf.DType):
    """``histogram.bin_width`` in TensorFlow (scalar float64 work, one bit mask)."""
    c = _consts(cd)
    lo64 = tf.cast(lo, tf.float64)
    hi64 = tf.cast(hi, tf.float64)
    m = tf.maximum(tf.abs(lo64), tf.abs(hi64))
    b = tf.constant(float(bins), tf.float64)
    r = tf.where(m > c.big, (hi64 * 0.5 - lo64 * 0.5) / b * 2.0, (hi64 - lo64) / b)
    w = tf.maximum(tf.maximum(r, m * c.ulp4), tf.constant(4.0 * c.tiny, tf.float64))
    bits = tf.bitwise.bitwise_and(tf.bitcast(w, tf.int64) + c.mask, tf.constant(~c.mask, tf.int64))
    w = tf.minimum(tf.bitcast(bits, tf.float64), c.wmax)
    return tf.cast(w, cd)


def _index(x, lo, w, bins: int, cd: tf.DType):
    """Bin of each value of ``x`` (finite, in range): ``e[i] <= x < e[i+1]``."""
    c = _consts(cd)
    big, tiny, q = tf.constant(c.max, cd), tf.constant(c.tiny, cd), tf.constant(0.25, cd)
    huge = w > tf.constant(c.huge, cd)
    i = tf.constant(np.arange(1, bins), cd)
    e = tf.where(huge, (lo * q + i * (w * q)) * tf.constant(4.0, cd), lo + i * w)
    e = tf.concat([tf.reshape(lo, [1]), tf.minimum(e, big)], 0)
    e = tf.where(tf.abs(e) < tiny, -tiny, e)
    nxt = tf.concat([e[1:], tf.constant([np.inf], cd)], 0)  # e[i+1]; no bin above the last
    # Estimate floor((x - lo) / w) without overflow: a huge w is scaled down first (only
    # then is x multiplied: the branch not taken costs nothing), so 1 / w stays normal.
    a = tf.where(huge, tf.constant(2.0**-64, cd), tf.constant(1.0, cd))
    s = tf.cast(1.0 / (tf.cast(w, tf.float64) * tf.cast(a, tf.float64)), cd)
    xa = tf.cond(huge, lambda: x * a, lambda: x)
    # x >= lo, so the estimate is > -1 and truncation toward zero is the floor, clipped.
    j = tf.minimum(tf.cast(xa * s - (lo * a) * s, tf.int32), bins - 1)
    # The estimate is off by at most one bin: one exact comparison each way settles it.
    return j + tf.cast(x >= tf.gather(nxt, j), tf.int32) - tf.cast(x < tf.gather(e, j), tf.int32)


def _count(j, bins: int, xla: bool):
    if xla:
        return tf.math.unsorted_segment_sum(tf.ones_like(j), j, bins)
    return tf.math.bincount(j, minlength=bins, maxlength=bins, dtype=tf.int32)


def _row(x, total, bins: int, masked: bool, xla: bool):
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
    counts = _count(_index(xb, lo, w, bins, cd), bins, xla)
    if masked:
        counts = counts - tf.one_hot(0, bins, dtype=tf.int32) * n_bad
    zeros = tf.reduce_sum(tf.cast(tf.equal(x, zero), tf.int32))

    # Sums of values scaled down by a power of two when they are large, so nothing
    # overflows; the scalar work after the reductions is in float64.
    c = _consts(cd)
    large = tf.maximum(tf.abs(lo), tf.abs(hi)) > tf.constant(c.sum_limit, cd)
    inv = tf.where(large, tf.constant(c.sum_scale, cd), one)
    k = tf.where(large, tf.constant(1.0 / c.sum_scale, tf.float64), tf.constant(1.0, tf.float64))
    denom = tf.cast(tf.maximum(n_fin, 1), cd)
    xs = tf.cond(large, lambda: xz * inv, lambda: xz)  # scaled only when it must be
    mean_s = (tf.reduce_sum(xs) if masked else total * inv) / denom  # mean / k
    ss = tf.reduce_sum(tf.math.squared_difference(xs, mean_s))
    if masked:
        ss = tf.maximum(ss - tf.cast(n_bad, cd) * tf.square(mean_s), zero)  # the zeros put in
    m64 = tf.cast(mean_s, tf.float64)
    var64 = tf.cast(ss, tf.float64) / tf.cast(tf.maximum(n_fin, 1), tf.float64)
    mean = m64 * k
    std = k * tf.sqrt(var64)
    norm = k * tf.sqrt(tf.cast(n_fin, tf.float64) * (var64 + tf.square(m64)))

    ints = tf.cast(tf.stack([nan, posinf, n_bad - nan - posinf, zeros]), tf.float64)
    floats = tf.stack([tf.cast(mn, tf.float64), tf.cast(mx, tf.float64), mean, std, norm, tf.cast(w, tf.float64)])
    return tf.concat([tf.cast(counts, tf.float64), ints, floats], axis=0)


def _row_either(x, bins: int, xla: bool):
    x = tf.reshape(x, [-1])
    if xla:
        # XLA compiles both branches of a cond and fuses the masking into the passes it
        # already makes: one masked path compiles in half the time and runs as fast.
        return _row(x, None, bins, True, xla)
    total = tf.reduce_sum(x)
    # A finite sum means no NaN and no Inf (an overflowing sum just takes the masked
    # path). The masked path is its own function, so that it is only instantiated in a
    # training function the first time a non-finite value actually shows up.
    return tf.cond(
        tf.math.is_finite(total), lambda: _row(x, total, bins, False, xla), lambda: _masked_fn(x.dtype, bins, xla)(x)
    )


_ROW_FNS: dict = {}
_MASKED_FNS: dict = {}


def _masked_fn(cd: tf.DType, bins: int, xla: bool):
    key = (cd, bins, xla)
    fn = _MASKED_FNS.get(key)
    if fn is None:
        fn = _MASKED_FNS[key] = tf.function(
            lambda x: _row(x, None, bins, True, xla), input_signature=[tf.TensorSpec([None], cd)], autograph=False, experimental_attributes={"_noinline": True}
        )
        _compat.OWN_FUNCTIONS.add(id(fn))
    return fn


def _row_fn(cd: tf.DType, bins: int, xla: bool):
    """The cached one-tensor function for ``(dtype, bins, xla)``: traced once per process."""
    key = (cd, bins, xla)
    fn = _ROW_FNS.get(key)
    if fn is None:
        fn = _ROW_FNS[key] = tf.function(
            lambda x: _row_either(x, bins, xla), input_signature=[tf.TensorSpec(None, cd)], autograph=False, experimental_attributes={"_noinline": True}
        )
        _compat.OWN_FUNCTIONS.add(id(fn))
    return fn


def snapshot_rows(tensors, bins: int) -> tf.Tensor:
    """Rows for several tensors: shape ``[len(tensors), bins + 10]``, in input order."""
    flat = [_prepare(t) for t in tensors]
    if not flat:
        return tf.zeros([0, bins + H.EXTRA], tf.float64)
    xla = _compat.in_xla_context()
    # The call ops run their functions without Grappler: the histogram graph is plain
    # element-wise work with nothing to gain from it, and optimizing it again for every
    # new training function would cost more than it ever saves.
    with _compat.function_call_config(_compat.NO_GRAPPLER):
        return tf.stack([_row_fn(x.dtype, int(bins), xla)(x) for x in flat])
