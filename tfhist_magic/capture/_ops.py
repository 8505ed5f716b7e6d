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

import contextlib

import numpy as np
import tensorflow as tf
from tensorflow.core.protobuf import config_pb2
from tensorflow.python.eager import context

from .. import histogram as H

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


def _row(x, total, bins: int, masked: bool, rule: str):
    """One tensor's row. ``masked`` is the path for tensors that may hold non-finite
    values; ``rule`` is how values are mapped to bins (see ``histogram.bin_edges``)."""
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

    # Non-finite values go to bin 0 (as lo) and are taken back out after counting.
    xb = tf.where(finite, x, lo) if masked else x
    if rule == "step":
        # CPU: HistogramFixedWidth's own rule, one fused kernel instead of the
        # portable chain: bin = min(float64(x - lo) / step, B - 1), truncated,
        # with step = float64(hi - lo) / B. Stored negated to mark the rule.
        step = tf.cast(hi - lo, tf.float64) / tf.constant(bins, tf.float64)
        counts = tf.histogram_fixed_width(xb, tf.stack([lo, hi]), nbins=bins, dtype=tf.int32)
        scale = -step
    else:
        # Portable (GPU, XLA): bin = min(floor((x - lo) * scale), B - 1) in the compute
        # dtype; x >= lo, so truncation is floor.
        scale = tf.minimum(tf.constant(bins, cd) / (hi - lo), tf.constant(np.finfo(np_cd).max, cd))
        pos = tf.minimum((xb - lo) * scale, tf.constant(bins - 1, cd))
        counts = tf.math.bincount(tf.cast(pos, tf.int32), minlength=bins, maxlength=bins, dtype=tf.int32)
    if masked:
        counts = counts - tf.one_hot(0, bins, dtype=tf.int32) * n_bad
    zeros = tf.reduce_sum(tf.cast(tf.equal(x, zero), tf.int32))

    # Two-pass variance on values scaled by the largest magnitude (so float32 squares
    # of large values cannot overflow); the norm follows from mean and variance.
    denom = tf.cast(tf.maximum(n_fin, 1), cd)
    mean = total / denom
    k = tf.maximum(tf.maximum(tf.abs(lo), tf.abs(hi)), one)
    inv = one / k
    m = mean * inv
    ss = tf.reduce_sum(tf.math.squared_difference(xz * inv, m))
    if masked:
        ss = tf.maximum(ss - tf.cast(n_bad, cd) * tf.square(m), zero)  # the zeros put in
    var = ss / denom
    std = k * tf.sqrt(var)
    norm = k * tf.sqrt(tf.cast(n_fin, cd) * (var + tf.square(m)))

    ints = tf.cast(tf.stack([nan, posinf, n_bad - nan - posinf, zeros]), tf.float64)
    floats = tf.concat([tf.cast(tf.stack([mn, mx, mean, std, norm]), tf.float64), tf.reshape(tf.cast(scale, tf.float64), [1])], 0)
    return tf.concat([tf.cast(counts, tf.float64), ints, floats], axis=0)


def _row_either(x, bins: int, rule: str):
    x = tf.reshape(x, [-1])
    total = tf.reduce_sum(x)
    # A finite sum means no NaN and no Inf (an overflowing sum just takes the masked
    # path). The masked path is its own function, so that it is only instantiated in a
    # training function the first time a non-finite value actually shows up.
    return tf.cond(
        tf.math.is_finite(total), lambda: _row(x, total, bins, False, rule), lambda: _masked_fn(x.dtype, bins, rule)(x)
    )


def binning_rule() -> str:
    """``"step"`` (HistogramFixedWidth) on a CPU-only host outside XLA, else ``"scale"``."""
    from tensorflow.python.framework import ops
    from tensorflow.python.ops import control_flow_util

    if control_flow_util.GraphOrParentsInXlaContext(ops.get_default_graph()):
        return "scale"
    if tf.config.list_physical_devices("GPU"):
        return "scale"
    return "step"


_NOINLINE = {"_noinline": True}
_PLAIN_CONFIG = config_pb2.ConfigProto()
_PLAIN_CONFIG.graph_options.rewrite_options.disable_meta_optimizer = True


@contextlib.contextmanager
def _plain_calls():
    """Call ops built here run their functions without Grappler: the histogram graph is
    plain element-wise work with nothing to gain from it, and optimizing it again for
    every new training function would cost more than it ever saves."""
    ctx = context.context()
    old = ctx.function_call_options
    ctx.function_call_options = context.FunctionCallOptions(config_proto=_PLAIN_CONFIG)
    try:
        yield
    finally:
        ctx.function_call_options = old


_ROW_FNS: dict = {}
_MASKED_FNS: dict = {}


def _masked_fn(cd: tf.DType, bins: int, rule: str):
    key = (cd, bins, rule)
    fn = _MASKED_FNS.get(key)
    if fn is None:
        fn = _MASKED_FNS[key] = tf.function(
            lambda x: _row(x, None, bins, True, rule), input_signature=[tf.TensorSpec([None], cd)], autograph=False, experimental_attributes=_NOINLINE
        )
    return fn


def _row_fn(cd: tf.DType, bins: int, rule: str):
    """The cached one-tensor function for ``(dtype, bins, rule)``: traced once per process."""
    key = (cd, bins, rule)
    fn = _ROW_FNS.get(key)
    if fn is None:
        fn = _ROW_FNS[key] = tf.function(
            lambda x: _row_either(x, bins, rule), input_signature=[tf.TensorSpec(None, cd)], autograph=False, experimental_attributes=_NOINLINE
        )
    return fn


def snapshot_rows(tensors, bins: int) -> tf.Tensor:
    """Rows for several tensors: shape ``[len(tensors), bins + 10]``, in input order."""
    flat = [_prepare(t) for t in tensors]
    if not flat:
        return tf.zeros([0, bins + H.EXTRA], tf.float64)
    rule = binning_rule()
    with _plain_calls():
        return tf.stack([_row_fn(x.dtype, int(bins), rule)(x) for x in flat])
