"""The in-graph histogram + statistics ops, shared by every capture backend.

``snapshot_rows(tensors, bins)`` builds, in whatever graph (or eager context) is
current, one float64 row of ``bins + 10`` numbers per tensor, laid out as
``tfhist_magic.histogram`` describes. Only basic element-wise ops, reductions and a
bincount: no host round trip, no py_function, nothing that would stop the training
step's graph from running on the device.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from .. import histogram as H

__all__ = ["snapshot_row", "snapshot_rows", "compute_dtype"]


def compute_dtype(dtype: tf.DType) -> tf.DType:
    """float64 tensors are binned in float64; everything else in float32."""
    return tf.float64 if dtype == tf.float64 else tf.float32


def snapshot_row(x, bins: int) -> tf.Tensor:
    """One tensor's row: ``bins`` exact counts, then the ten extra numbers."""
    x = tf.convert_to_tensor(x)
    cd = compute_dtype(x.dtype)
    if x.dtype.is_complex:
        x = tf.math.abs(x)
    x = tf.reshape(tf.cast(x, cd), [-1])
    np_cd = np.float64 if cd == tf.float64 else np.float32
    zero = tf.constant(0, cd)
    one = tf.constant(1, cd)
    inf = tf.constant(np.inf, cd)

    n = tf.size(x, out_type=tf.int32)
    finite = tf.math.is_finite(x)
    n_fin = tf.reduce_sum(tf.cast(finite, tf.int32))
    all_finite = tf.equal(n_fin, n)

    def _fast():  # every value finite: no masking passes
        return x, tf.reduce_min(x), tf.reduce_max(x)

    def _masked():
        return (
            tf.where(finite, x, zero),
            tf.reduce_min(tf.where(finite, x, inf)),
            tf.reduce_max(tf.where(finite, x, -inf)),
        )

    xz, mn, mx = tf.cond(all_finite, _fast, _masked)
    # The empty tensor reduces to +inf / -inf in both branches.
    has = mn <= mx
    lo = tf.where(has, mn, zero)
    hi = tf.where(has, mx, one)
    pad = tf.where(
        tf.equal(lo, hi), tf.maximum(tf.constant(0.5, cd), tf.abs(lo) * tf.constant(H.CONSTANT_PAD, cd)), zero
    )
    lo = lo - pad
    hi = hi + pad
    scale = tf.minimum(tf.constant(bins, cd) / (hi - lo), tf.constant(np.finfo(np_cd).max, cd))

    # Non-finite values are sent to bin 0 and taken back out below: no boolean_mask,
    # so the shapes stay static.
    xb = tf.cond(all_finite, lambda: x, lambda: tf.where(finite, x, lo))
    idx = tf.cast(tf.minimum(tf.floor((xb - lo) * scale), tf.constant(bins - 1, cd)), tf.int32)
    counts = tf.math.bincount(idx, minlength=bins, maxlength=bins, dtype=tf.int32)
    n_bad = n - n_fin
    counts = counts - tf.one_hot(0, bins, on_value=n_bad, off_value=0, dtype=tf.int32)

    nan = tf.reduce_sum(tf.cast(tf.math.is_nan(x), tf.int32))
    posinf = tf.reduce_sum(tf.cast(tf.equal(x, inf), tf.int32))
    neginf = n_bad - nan - posinf
    zeros = tf.reduce_sum(tf.cast(tf.equal(x, zero), tf.int32))

    # Statistics on values scaled by the largest magnitude, so that float32 squares of
    # large values cannot overflow.
    denom = tf.cast(tf.maximum(n_fin, 1), cd)
    big = tf.maximum(tf.maximum(tf.abs(lo), tf.abs(hi)), one)
    xs = xz * (one / big)
    mean_s = tf.reduce_sum(xs) / denom
    dev = tf.where(finite, xs - mean_s, zero)
    std = big * tf.sqrt(tf.reduce_sum(dev * dev) / denom)
    norm = big * tf.sqrt(tf.reduce_sum(xs * xs))
    mean = big * mean_s

    ints = tf.cast(tf.stack([nan, posinf, neginf, zeros]), tf.float64)
    floats = tf.cast(tf.stack([mn, mx, mean, std, norm, scale]), tf.float64)
    return tf.concat([tf.cast(counts, tf.float64), ints, floats], axis=0)


def snapshot_rows(tensors, bins: int) -> tf.Tensor:
    """Rows for several tensors, stacked: shape ``[len(tensors), bins + 10]``."""
    return tf.stack([snapshot_row(t, bins) for t in tensors], axis=0)
