"""What an optimizer update did to the weights: the update scalars, in-graph.

Owns ``update_scalars`` (any graph, XLA included, or eagerly) and
``update_scalars_listed`` (a traced step outside XLA, the weights handed over as
``TensorList`` items): per weight, the update ratio ``std(after - before) / std(before)``,
the update's norm ``||after - before||`` and the distance from the origin
``||before - w0||``. Small weights are measured together (segment sums); a large one
where it lies, and above :data:`LONG` values a chunk (:data:`~._many.CHUNK`) at a time,
so the temporaries stay a few chunks whatever the weight's size. Touches no Recording.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
from tensorflow.python.ops import list_ops

from . import _compat
from ._many import CHUNK, SMALL_MAX, list_item, over_chunks, tensor_list
from ._ops import compute_dtype, prepare

__all__ = ["UPDATE_COLUMNS", "WRITES", "update_scalars", "update_scalars_listed", "update_scalars_of_write", "update_ratio"]

#: A weight above this many values is measured a chunk (:data:`CHUNK`) at a time; below it,
#: in one pass, whose temporaries (three of the weight's size) are worth the simpler
#: function: a new training function instantiates no nested loops for it.
LONG = 1 << 22


def _ratio_one(after, before) -> tf.Tensor:
    # In the compute dtype (float32 for float32 weights: no float64 copies of the weights on
    # a sampled step); TensorFlow's tree reductions keep the two stds to ~1e-6 relative.
    cd = compute_dtype(before.dtype)
    a = tf.cast(tf.reshape(after, [-1]), cd)
    b = tf.cast(tf.reshape(before, [-1]), cd)
    sb = tf.cast(tf.math.reduce_std(b), tf.float64)
    sd = tf.cast(tf.math.reduce_std(a - b), tf.float64)
    return tf.where(sb > 0, sd / tf.where(sb > 0, sb, 1.0), tf.constant(np.nan, tf.float64))


#: What :func:`update_scalars` gives per weight: the update ratio, the update's norm
#: ``||after - before||`` and the distance from the start ``||before - origin||``.
UPDATE_COLUMNS = 3

#: Below this, a norm from one fused sum of squares may have lost squares to underflow
#: (TensorFlow flushes subnormals): it is measured again with scaled values.
_SAFE_NORM = {tf.float32: 2.0**-40, tf.float64: 2.0**-400}


def _scaled_norm(d) -> tf.Tensor:
    """``||d||`` in float64, the values divided by the largest magnitude first, so the
    squares neither overflow nor underflow (0 for an empty or all-zero ``d``; NaN or Inf
    when ``d`` holds them)."""
    m = tf.reduce_max(tf.abs(d))  # the lowest float for an empty d
    s = tf.where((m > 0) & tf.math.is_finite(m), m, tf.ones([], d.dtype))
    return tf.sqrt(tf.cast(tf.reduce_sum(tf.square(d / s)), tf.float64)) * tf.cast(s, tf.float64)


def _norms(parts) -> tf.Tensor:
    """``||p||`` of each of ``parts`` in float64: fused, measured again scaled
    (:func:`_scaled_norm`) only when one may have overflowed or lost squares."""
    # XLA has no EuclideanNorm: the squares summed in float64 (XLA fuses the cast: no copy)
    norm = tf.math.reduce_euclidean_norm if not _compat.in_xla_context() else lambda p: tf.sqrt(tf.reduce_sum(tf.square(tf.cast(p, tf.float64))))
    fast = tf.stack([tf.cast(norm(p), tf.float64) for p in parts])
    ok = tf.reduce_all(tf.math.is_finite(fast) & (fast >= _SAFE_NORM[parts[0].dtype]))
    return tf.cond(ok, lambda: fast, lambda: tf.stack([_scaled_norm(p) for p in parts]))


def _update_one(a, b, o=None) -> tf.Tensor:
    """``[std(a - b), ||a - b||, ||b - o||]`` in float64 for flat vectors of one dtype
    (NaN for the last without ``o``): fused norms, measured again with scaled values
    (:func:`_scaled_norm`) only when one of them may have overflowed or lost squares."""
    d = a - b
    size = tf.size(d)
    n = tf.cast(tf.maximum(size, 1), tf.float64)
    parts = [d - tf.reduce_mean(d), d] + ([b - o] if o is not None else [])  # the spread: two passes
    norms = _norms(parts)
    sd = tf.where(size > 0, norms[0] / tf.sqrt(n), tf.constant(np.nan, tf.float64))
    dist = norms[2] if o is not None else tf.constant(np.nan, tf.float64)
    return tf.stack([sd, norms[1], dist])


def _update_long(a, b, o=None, write=None) -> tf.Tensor:
    """:func:`_update_one` of a weight above :data:`LONG` values, a chunk at a time (a
    chunk's temporaries, not the weight's; :func:`~._many.over_chunks`, static chunks
    under XLA): the update's mean first (a float64 sum over the chunks), then each
    chunk's norms about it, combined scaled by the largest (no overflow). Indices in
    int64: a weight may pass 2**31 values. ``write``: ``a`` is the value an optimizer
    writes, each chunk's new values ``write(before, a)`` (:data:`WRITES`)."""
    n = tf.size(a, out_type=tf.int64)
    cols = 3 if o is not None else 2

    def delta(take):
        after = take(a) if write is None else write(take(b), take(a))
        return after - take(b)

    def loop(each, combine, init):
        return over_chunks(a, each, combine, init, CHUNK, tf.int64)

    total = loop(lambda take, _: tf.reduce_sum(tf.cast(delta(take), tf.float64)), lambda s, x: s + x, tf.zeros([], tf.float64))
    mean = tf.cast(total / tf.cast(n, tf.float64), a.dtype)

    def norms(take, i):
        d = delta(take)
        return i, _norms([d - mean, d] + ([take(b) - take(o)] if o is not None else []))

    static = tf.TensorShape(a.shape).num_elements()
    chunks = -(-static // CHUNK) if static is not None else tf.cast((n + CHUNK - 1) // CHUNK, tf.int32)
    acc = tf.TensorArray(tf.float64, size=chunks, element_shape=[cols])
    each = loop(norms, lambda acc, got: acc.write(tf.cast(got[0], tf.int32), got[1]), acc).stack()
    top = tf.reduce_max(each, 0)
    scale = tf.where((top > 0) & tf.math.is_finite(top), top, tf.ones_like(top))
    got = tf.sqrt(tf.reduce_sum(tf.square(each / scale), 0)) * scale
    sd = got[0] / tf.sqrt(tf.cast(n, tf.float64))
    return tf.stack([sd, got[1], got[2] if o is not None else tf.constant(np.nan, tf.float64)])


def _update_fn(cd: tf.DType, origin: bool, long: bool = False):
    """The cached function ``(afters, befores[, origin], offsets) -> [T, UPDATE_COLUMNS]``
    (std of the update in the first column) of ``T`` weights of compute dtype ``cd``: their
    flat values after and before the update as ``TensorList`` items (their buffers, not
    copies), ``origin`` their w0 side by side in one flat vector, weight ``t`` at
    ``offsets[t]``. One call op in a training trace for all the weights, which it
    measures one at a time (their temporaries never add up); ``long``: some weights are
    above :data:`LONG` values (measured a chunk at a time: nested loops, which a new
    training function pays to instantiate, so only where needed)."""

    def run(afters, befores, *rest):
        T = list_ops.tensor_list_length(afters)
        offsets = rest[-1]

        def step(i, acc):
            a, b = list_item(afters, i, cd), list_item(befores, i, cd)
            o = tf.slice(rest[0], tf.reshape(offsets[i], [1]), tf.shape(b)) if origin else None
            if not long:
                return i + 1, acc.write(i, _update_one(a, b, o))
            return i + 1, acc.write(i, tf.cond(tf.size(a) > LONG, lambda: _update_long(a, b, o), lambda: _update_one(a, b, o)))

        acc = tf.TensorArray(tf.float64, size=T, element_shape=[UPDATE_COLUMNS])
        _, acc = tf.while_loop(lambda i, _: i < T, step, (tf.constant(0), acc), parallel_iterations=1)
        return tf.reshape(acc.stack(), [T, UPDATE_COLUMNS])

    spec = [tf.TensorSpec([], tf.variant)] * 2 + ([tf.TensorSpec([None], cd)] if origin else []) + [tf.TensorSpec([None], tf.int32)]
    # keyed by what the body reads when it is traced: the thresholds too (tests lower them)
    return _compat.cached(("update", cd, origin, long, LONG, CHUNK), run, spec)


def _ratio_column(out, ratio, before_std) -> tf.Tensor:
    """``out`` (``[T, UPDATE_COLUMNS]``, std of the update first) with the update ratio
    ``std(update) / std(before)`` in its first column, where ``ratio[t]`` (else NaN)."""
    sb = tf.cast(before_std, tf.float64)
    want = tf.constant([bool(w) for w in ratio]) & (sb > 0)
    r = tf.where(want, out[:, 0] / tf.where(sb > 0, sb, 1.0), tf.constant(np.nan, tf.float64))
    return tf.concat([r[:, None], out[:, 1:]], 1)


def update_scalars_listed(afters, befores, origin, ratio, before_std) -> tf.Tensor:
    """:func:`update_scalars` in a traced step, outside XLA: ``afters`` the weights (one
    compute dtype, static shapes), ``befores`` a :func:`~._many.tensor_list` of their flat
    values before the update, ``origin`` their w0 side by side in one flat vector (None:
    not measured), ``before_std`` (``[T]``) the std of their values before the update (the
    weights' rows). Adds a few ops per weight to the trace and one call op."""
    cd = compute_dtype(tf.as_dtype(afters[0].dtype))
    after_items = tensor_list([tf.cast(prepare(a), cd) for a in afters], cd)
    sizes = [tf.TensorShape(a.shape).num_elements() for a in afters]
    offsets = tf.constant(np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int32))
    args = (after_items, befores) + ((origin,) if origin is not None else ()) + (offsets,)
    with _compat.function_call_config(_compat.NO_GRAPPLER):
        out = _update_fn(cd, origin is not None, max(sizes) > LONG)(*args)
    return _ratio_column(out, ratio, before_std)


def _update_small(a, b, o, sizes) -> tf.Tensor:
    """:func:`_update_one` of many small weights at once: their values side by side in
    ``a``, ``b``, ``o`` (``sizes[t]`` each), the sums per weight as segment sums in
    float64 (small weights only: the cast copies what it reads)."""
    T = len(sizes)
    seg = tf.repeat(tf.range(T), tf.constant(sizes, tf.int32))
    n = tf.constant(np.maximum(sizes, 1), tf.float64)
    f64 = lambda v: tf.cast(v, tf.float64)  # noqa: E731
    d = f64(a - b)

    def ssum(x):
        return tf.math.unsorted_segment_sum(x, seg, T)

    mean = ssum(d) / n
    sd = tf.sqrt(ssum(tf.square(d - tf.gather(mean, seg))) / n)
    sd = tf.where(tf.constant(np.asarray(sizes) > 0), sd, tf.constant(np.nan, tf.float64))
    dist = tf.sqrt(ssum(tf.square(f64(b - o)))) if o is not None else tf.fill([T], tf.constant(np.nan, tf.float64))
    return tf.stack([sd, tf.sqrt(ssum(tf.square(d))), dist], 1)


def update_scalars(afters, befores, origins, ratio, before_std=None) -> tf.Tensor:
    """``[T, UPDATE_COLUMNS]`` float64 for the weights ``afters`` (static shapes, as they
    are after an update), ``befores`` (their values before it) and ``origins`` (their
    values at the watch's first sampled step, any shape of as many values; None: not
    measured, NaN): per weight,
    the update ratio ``std(after - before) / std(before)`` where ``ratio[t]`` (NaN
    elsewhere, and where ``std(before)`` is 0), ``||after - before||`` (the update's size)
    and ``||before - origin||`` (the distance the weights the update started from have
    travelled). ``before_std`` (``[T]``), when given, is ``std(before)`` as the weights'
    rows measured it (then not read again).

    Outside XLA, small weights are measured together (one concatenation of small
    tensors), the large ones one at a time by one call of a cached function: no copy of
    the model's weights is made."""
    T = len(afters)
    if not T:
        return tf.zeros([0, UPDATE_COLUMNS], tf.float64)
    flat = [tf.reshape(prepare(x), [-1]) for x in afters]
    bs = [tf.reshape(tf.cast(prepare(x), a.dtype), [-1]) for x, a in zip(befores, flat)]
    os_ = [tf.reshape(tf.cast(prepare(x), a.dtype), [-1]) for x, a in zip(origins, flat)] if origins is not None else None
    sizes = [a.shape.num_elements() for a in flat]
    if _compat.in_xla_context():
        cols = []
        for t, (a, b) in enumerate(zip(flat, bs)):
            if sizes[t] > LONG:  # a chunk at a time: the stack below holds ~8 copies of the weight
                cols.append(_update_long(a, b, os_[t] if os_ is not None else None))
                continue
            # the norms in one reduction, the squares summed in float64 (XLA fuses the cast:
            # no copy): each reduction costs XLA compile time, ~70 ms on a CPU
            d = tf.cast(tf.stack([a - b, b - os_[t] if os_ is not None else a - b]), tf.float64)
            norms = tf.unstack(tf.sqrt(tf.reduce_sum(tf.square(d), axis=1)))
            dist = norms[1] if os_ is not None else tf.constant(np.nan, tf.float64)
            cols.append(tf.stack([tf.math.reduce_std(d[0]), norms[0], dist]))
        out = tf.stack(cols)
    else:
        parts, order = [], []
        with _compat.function_call_config(_compat.NO_GRAPPLER):
            for cd in (tf.float32, tf.float64):
                small = [t for t in range(T) if flat[t].dtype == cd and sizes[t] <= SMALL_MAX]
                if small:
                    cat = [tf.concat([v[t] for t in small], 0) if len(small) > 1 else v[small[0]] for v in (flat, bs, os_) if v is not None]
                    parts.append(_update_small(*cat[:2], cat[2] if os_ is not None else None, [sizes[t] for t in small]))
                    order += small
                large = [t for t in range(T) if flat[t].dtype == cd and sizes[t] > SMALL_MAX]
                if large:
                    items = [tensor_list([v[t] for t in large], cd) for v in (flat, bs)]
                    origin = [tf.concat([os_[t] for t in large], 0)] if os_ is not None else []
                    offsets = tf.constant(np.concatenate([[0], np.cumsum([sizes[t] for t in large])[:-1]]).astype(np.int32))
                    parts.append(_update_fn(cd, os_ is not None, max(sizes[t] for t in large) > LONG)(*items, *origin, offsets))
                    order += large
        out = tf.concat(parts, 0) if len(parts) > 1 else parts[0]
        if order != sorted(order):
            out = tf.gather(out, np.argsort(order).astype(np.int32))
    if before_std is None:
        before_std = tf.stack([tf.cast(tf.math.reduce_std(b), tf.float64) for b in bs])
    return _ratio_column(out, ratio, before_std)


#: How an optimizer's write makes a weight's new values from its old ones ``b`` and the
#: value ``v`` it writes (Keras' ``optimizer.assign_sub`` / ``assign_add`` / ``assign``):
#: the same element-wise IEEE operation the write's kernel does, so the values match it
#: bit for bit.
WRITES = {"assign_sub": lambda b, v: b - v, "assign_add": lambda b, v: b + v, "assign": lambda b, v: v}


def update_scalars_of_write(before, value, how: str, origin, ratio: bool, before_std) -> tf.Tensor:
    """``[1, UPDATE_COLUMNS]`` of one weight above :data:`LONG` values, measured as the
    optimizer writes it (``how``, a key of :data:`WRITES`; ``value`` what it writes, of the
    weight's shape and dtype) from ``before`` (its values just before the write): the same
    numbers :func:`update_scalars_listed` measures from the values before and after, a
    chunk at a time, with no copy of the weight held across the write (its old values'
    buffer is written in place). ``origin``: its w0, flat (None: not measured);
    ``before_std``: ``[1]``."""
    b = tf.reshape(before, [-1])
    v = tf.reshape(tf.cast(value, b.dtype), [-1])
    o = tf.reshape(tf.cast(origin, b.dtype), [-1]) if origin is not None else None
    return _ratio_column(_update_long(v, b, o, write=WRITES[how])[None], [ratio], before_std)


def update_ratio(after, before) -> tf.Tensor:
    """std(after - before) / std(before) in float64 (NaN when std(before) is 0): the
    size of one update next to the size of the weights. In a graph, use
    :func:`update_scalars` (one call op for all the weights)."""
    return _ratio_one(tf.convert_to_tensor(after), tf.convert_to_tensor(before))
