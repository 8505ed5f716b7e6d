"""The in-graph histogram + statistics ops, shared by every capture backend.

``snapshot_rows(tensors, bins)`` adds, to whatever graph (or eager context) is
current, one float64 row of ``bins + 10`` numbers per tensor, laid out as
``tfhist_magic.histogram`` describes.

The work for one tensor is one ``tf.function`` (no AutoGraph) of a flat vector, traced
once per process for each (dtype, bins): tracing a training step adds one call op per
tensor, not a new subgraph, so watching a big model does not cost seconds of tracing.
Inside, one ``tf.cond`` takes the masked path only when some value is non-finite (a
finite sum proves there is none). Only element-wise ops, reductions and a bincount: no host round
trip, no py_function.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from .. import histogram as H

__all__ = ["snapshot_rows", "compute_dtype"]


def compute_dtype(dtype: tf.DType) -> tf.DType:
    """float64 tensors are binned in float64; everything else in float32."""
    return tf.float64 if dtype == tf.float64 else tf.float32


def _flat(t):
    t = tf.convert_to_tensor(t)
    if t.dtype.is_complex:
        t = tf.math.abs(t)
    return tf.reshape(tf.cast(t, compute_dtype(t.dtype)), [-1])


def _row(x, total, bins: int, masked: bool):
    """One tensor's row. ``masked`` is the path for tensors that may hold non-finite values."""
    cd = x.dtype
    np_cd = np.float64 if cd == tf.float64 else np.float32
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
        total = tf.reduce_sum(xz)
    else:
        n_fin, nan, posinf = n, tf.constant(0, tf.int32), tf.constant(0, tf.int32)
        mn = tf.reduce_min(x)  # +inf / -inf for an empty tensor, as in the masked path
        mx = tf.reduce_max(x)
        xz = x
    n_bad = n - n_fin
    has = n_fin > 0
    lo = tf.where(has, mn, zero)
    hi = tf.where(has, mx, one)
    pad = tf.where(tf.equal(lo, hi), tf.maximum(tf.constant(0.5, cd), tf.abs(lo) * tf.constant(H.CONSTANT_PAD, cd)), zero)
    lo = lo - pad
    hi = hi + pad
    scale = tf.minimum(tf.constant(bins, cd) / (hi - lo), tf.constant(np.finfo(np_cd).max, cd))

    # Bin index min(floor((x - lo) * scale), B - 1): the rule histogram.bin_edges
    # inverts. x >= lo, so truncation is floor. Non-finite values were replaced by 0:
    # clip them into range and take them back out of the bin that 0 falls in.
    top = tf.constant(bins - 1, cd)
    pos = tf.minimum((xz - lo) * scale, top)
    if masked:
        pos = tf.maximum(pos, zero)
    counts = tf.math.bincount(tf.cast(pos, tf.int32), minlength=bins, maxlength=bins, dtype=tf.int32)
    if masked:
        zero_bin = tf.cast(tf.clip_by_value(tf.floor((zero - lo) * scale), zero, top), tf.int32)
        counts = counts - tf.one_hot(zero_bin, bins, dtype=tf.int32) * n_bad
    zeros = tf.reduce_sum(tf.cast(tf.equal(x, zero), tf.int32))

    # Two-pass variance on values scaled by the largest magnitude (float32 squares of
    # large values cannot overflow); the norm follows from mean and variance.
    denom = tf.cast(tf.maximum(n_fin, 1), cd)
    big = tf.maximum(tf.maximum(tf.abs(lo), tf.abs(hi)), one)
    mean = total / denom
    ss = tf.reduce_sum(tf.math.squared_difference(xz / big, mean / big))
    if masked:
        ss = tf.maximum(ss - tf.cast(n_bad, cd) * tf.square(mean / big), zero)  # the zeros put in
    var_s = ss / denom
    std = big * tf.sqrt(var_s)
    norm = big * tf.sqrt(tf.cast(n_fin, cd) * (var_s + tf.square(mean / big)))

    ints = tf.cast(tf.stack([nan, posinf, n_bad - nan - posinf, zeros]), tf.float64)
    floats = tf.cast(tf.stack([mn, mx, mean, std, norm, scale]), tf.float64)
    return tf.concat([tf.cast(counts, tf.float64), ints, floats], axis=0)


def _row_either(x, bins: int):
    total = tf.reduce_sum(x)
    # A finite sum means no NaN and no Inf (an overflowing sum just takes the masked path).
    return tf.cond(tf.math.is_finite(total), lambda: _row(x, total, bins, False), lambda: _row(x, total, bins, True))


_ROW_FNS: dict = {}


def _row_fn(cd: tf.DType, bins: int):
    """The cached one-tensor function for ``(dtype, bins)``: traced once per process."""
    key = (cd, bins)
    fn = _ROW_FNS.get(key)
    if fn is None:
        fn = _ROW_FNS[key] = tf.function(
            lambda x: _row_either(x, bins), input_signature=[tf.TensorSpec([None], cd)], autograph=False
        )
    return fn


_TAKE_FNS: dict = {}


def _take_fn(dtypes: tuple, bins: int):
    """``fn(take, flat_tensors) -> rows`` (zeros when not ``take``): one call op in the
    caller's graph, traced once per process for each (dtypes, bins)."""
    key = (dtypes, bins)
    fn = _TAKE_FNS.get(key)
    if fn is None:

        def rows(take, flat):
            def _compute():
                return tf.stack([_row_fn(x.dtype, bins)(x) for x in flat])

            def _skip():
                return tf.zeros([len(flat), bins + H.EXTRA], tf.float64)

            return tf.cond(take, _compute, _skip)

        sig = [tf.TensorSpec([], tf.bool), [tf.TensorSpec([None], d) for d in dtypes]]
        fn = _TAKE_FNS[key] = tf.function(rows, input_signature=sig, autograph=False, experimental_attributes={"_noinline": True})
    return fn


def snapshot_rows(tensors, bins: int, take=None) -> tf.Tensor:
    """Rows for several tensors: shape ``[len(tensors), bins + 10]``, in input order.

    With ``take`` (a boolean scalar tensor), the rows are computed only when it is true
    and are zeros otherwise, without a ``tf.cond`` in the caller's graph.
    """
    flat = [_flat(t) for t in tensors]
    if not flat:
        return tf.zeros([0, bins + H.EXTRA], tf.float64)
    if take is not None:
        return _take_fn(tuple(x.dtype for x in flat), int(bins))(take, flat)
    return tf.stack([_row_fn(x.dtype, int(bins))(x) for x in flat])
