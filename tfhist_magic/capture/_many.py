"""The rows of many tensors at once: a sampled step's histogram work, vectorised.

Owns how the rows of all the tensors of a sampled step (one compute dtype) are computed
together, with the rule of ``_rule`` and nothing else:

* :func:`class_rows` bins ``k`` tensors of similar size in one pass: their values as the
  rows of one zero-padded ``[k, L]`` matrix, every per-tensor number (range, width,
  scale, mean) a ``[k]`` vector broadcast along the rows, the counts of all ``k`` from
  one ``bincount`` over ``row * (B + 1) + bin``. A tensor's fixed cost is then a few
  values in a vector, not a round of ops.
* :func:`grouped_fn` is one cached ``tf.function`` per ``(dtype, bins)`` that takes the
  values of any number of tensors side by side and their sizes, sorts the tensors into
  classes of sizes within a factor of two (so padding at most doubles what is read),
  and runs :func:`class_rows` once per class (at most :data:`CHUNK` padded values a
  class); a tensor above :data:`SMALL_MAX` values whose size was unknown when the step
  was traced is a class of its own. A new trace of a training step adds one call op per
  dtype, whatever the number of tensors.
* :func:`large_fn` is the cached function of the tensors known to be large when the
  step is traced, handed over as one ``TensorList`` (their buffers, not copies): one
  call op for all of them, binned one at a time where they lie, and above :data:`CHUNK` values a chunk at a time (the
  parts of ``_rule.count_part`` added up, as replicas' are): what binning holds in
  memory stays a few chunks, whatever the model.
* :func:`rows_fused` is the same vectorised idea for XLA (segment ids and one segment
  sum: XLA fuses the gathers; every small tensor of a dtype in one computation); under
  XLA the tensors known to be large when the step is traced are binned a chunk at a time
  in one loop over all of them (``_xlarows``), never copied into the concatenation,
  whose segment sums hold several times its values.

Exactness: counts, non-finite counts, zeros, min, max and width are bit-identical to
``_rule.one_row`` on the same values (the same rule, element for element); mean, std
and norm differ only in summation order (tested against exact rationals).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
from tensorflow.python.ops import list_ops

from .. import histogram as H
from . import _compat
from ._rule import (
    PART,
    PROBE_COLUMNS,
    count_part,
    finite_range,
    merged_row,
    shared_range,
    SATURATION_MARGIN,
    bin_width,
    binning_range,
    consts,
    dev_scale,
    edges,
    estimate_scale,
    moments,
    probe_segment,
    rare,
)

__all__ = ["SMALL_MAX", "CHUNK", "chunked_row", "index_dtype", "over_chunks", "class_rows", "grouped_fn", "large_fn", "tensor_list", "list_item", "rows_fused"]

#: Tensors of at most this many values are binned with others of their size class;
#: larger ones on their own (their fixed cost is small next to their values).
SMALL_MAX = 1 << 16
_POW2 = np.array([1 << p for p in range(SMALL_MAX.bit_length())], np.int32)
_SINGLE = 1 << 20  # class ids from here on: a tensor binned on its own


def _f64(v):
    return tf.cast(v, tf.float64)


def _class_range(X0, M, n):
    """Per row of the zero-padded ``X0`` (``M`` marks the values, ``n`` counts them):
    which are finite values, the finite min and max (from the values with the padding
    repeating a row's first value, which leaves them as they are), and the counts of finite, NaN and
    +Inf values and the finite sum. One branch when every row's sum is finite (then no
    value is NaN or Inf), the masked one otherwise."""
    cd = X0.dtype
    c = consts(cd)
    zero, inf = tf.constant(0, cd), tf.constant(np.inf, cd)
    total = tf.reduce_sum(X0, 1)

    def plain():
        Xf = tf.where(M, X0, X0[:, :1])
        has = n > 0  # an empty row: +inf and -inf, as an empty tensor reduces
        mn = tf.where(has, tf.reduce_min(Xf, 1), inf)
        mx = tf.where(has, tf.reduce_max(Xf, 1), -inf)
        z = tf.zeros_like(n)
        return M, mn, mx, n, z, z, total

    def masked():
        spec = [tf.TensorSpec([None, None], cd), tf.TensorSpec([None, None], tf.bool)]
        return rare(("class_range", cd), _masked_class_range, spec, X0, M)

    ok, mn, mx, n_fin, nan, posinf, tot = tf.cond(tf.reduce_all(tf.math.is_finite(total)), plain, masked)
    # A row reduction may return any of the values a flushing CPU takes for zero (a
    # subnormal of either sign): they all bin as zero; report 0, as one tensor's would.
    tiny = tf.constant(c.tiny, cd)
    mn = tf.where(tf.abs(mn) < tiny, zero, mn)
    mx = tf.where(tf.abs(mx) < tiny, zero, mx)
    return ok, mn, mx, n_fin, nan, posinf, tot


def _masked_class_range(X0, M):
    """:func:`_class_range`'s numbers when some value is NaN or Inf (or a sum overflows)."""
    cd = X0.dtype
    inf = tf.constant(np.inf, cd)
    ok = M & tf.math.is_finite(X0)

    def cnt(b):
        return tf.reduce_sum(tf.cast(b, tf.int32), 1)

    mn = tf.reduce_min(tf.where(ok, X0, inf), 1)
    mx = tf.reduce_max(tf.where(ok, X0, -inf), 1)
    return ok, mn, mx, cnt(ok), cnt(M & tf.math.is_nan(X0)), cnt(M & tf.equal(X0, inf)), tf.reduce_sum(tf.where(ok, X0, tf.zeros([], cd)), 1)


def _class_counts(xb, lo, w, bins: int):
    """``[k, bins]`` exact counts of the rows of ``xb`` (every value in ``[lo, e[B]]`` of
    its row), as ``_rule.bin_counts`` counts one tensor: an arithmetic estimate, one exact
    comparison with the next edge (from the table of edges when some row's edges need the
    rule's special cases), one ``bincount`` for all the rows."""
    cd = xb.dtype
    c = consts(cd)
    k = tf.shape(xb)[0]
    lo_, w_ = lo[:, None], w[:, None]
    a, s, est_c, huge = estimate_scale(lo, w, cd)
    inner = lo_ + tf.constant(np.arange(1, bins), cd) * w_
    special = tf.reduce_any(huge) | tf.reduce_any(tf.abs(inner) < tf.constant(c.tiny, cd))

    def table():
        spec = [tf.TensorSpec([None, None], cd), tf.TensorSpec([None], cd), tf.TensorSpec([None], cd)]
        return rare(("class_table", cd, bins), lambda xb, lo, w: _class_table(xb, lo, w, bins), spec, xb, lo, w)

    def arithmetic():
        j = tf.cast(xb * s[:, None] - est_c[:, None], tf.int32)
        return j + tf.cast(xb >= lo_ + tf.cast(j + 1, cd) * w_, tf.int32)

    j = tf.cond(special, table, arithmetic)
    S = bins + 1  # a value equal to the top edge counts past the last bin: folded back in
    got = tf.math.bincount(j + tf.range(k)[:, None] * S, minlength=k * S, maxlength=k * S, dtype=tf.int32)
    got = tf.reshape(got, [k, S])
    return tf.concat([got[:, : bins - 1], tf.reduce_sum(got[:, bins - 1 :], 1, keepdims=True)], 1)


def _class_table(xb, lo, w, bins: int):
    """:func:`_class_counts`' bin of each value from the table of its row's edges."""
    cd = xb.dtype
    a, s, est_c, _ = estimate_scale(lo, w, cd)
    _, nxt = edges(lo, w, bins, cd)
    nxt = tf.concat([nxt, tf.fill([tf.shape(xb)[0], 2], tf.constant(np.inf, cd))], 1)
    j = tf.cast((xb * a[:, None]) * s[:, None] - est_c[:, None], tf.int32)
    return j + tf.cast(xb >= tf.gather(nxt, j, batch_dims=1), tf.int32)


def class_rows(X0, n, units, bounds, bins: int) -> tf.Tensor:
    """``[k, bins + 10 + PROBE_COLUMNS]`` float64: the rows of ``k`` tensors of one compute
    dtype, the values of tensor ``i`` in ``X0[i, :n[i]]`` (zero padded), each followed by
    its probe columns (``units[i]`` > 0: the dead-unit share over its last axis of that
    many units; ``bounds[i]`` ``[lo, hi]`` of a bounded activation, NaN for none)."""
    cd = X0.dtype
    c = consts(cd)
    L = tf.shape(X0)[1]
    zero, one = tf.constant(0, cd), tf.constant(1, cd)
    M = tf.sequence_mask(n, L)
    ok, mn, mx, n_fin, nan, posinf, tot = _class_range(X0, M, n)
    lo, hi = binning_range(mn, mx, cd)
    w = bin_width(lo, hi, bins, cd)
    # Padding and non-finite values go to bin 0 (as lo) and are taken back out.
    counts = _class_counts(tf.where(ok, X0, lo[:, None]), lo, w, bins)
    counts = counts - tf.one_hot(tf.zeros_like(n), bins, dtype=tf.int32) * (L - n_fin)[:, None]
    zeros = tf.reduce_sum(tf.cast(tf.equal(X0, zero), tf.int32), 1) - (L - n)  # the padding is zeros

    # The statistics as one_row computes them (sums scaled when large, the corrected
    # two-pass spread), one number per row.
    large = tf.maximum(tf.abs(lo), tf.abs(hi)) > tf.constant(c.sum_limit, cd)
    inv = tf.where(large, tf.constant(c.sum_scale, cd), one)
    k = tf.where(large, tf.constant(1.0 / c.sum_scale, tf.float64), tf.constant(1.0, tf.float64))
    # (small tensors: scaling every row, 1 or a power of two, costs less than a branch would)
    xs = X0 * inv[:, None]
    m = tf.where(large, tf.reduce_sum(tf.where(ok, xs, zero), 1), tot) / tf.cast(tf.maximum(n_fin, 1), cd)
    r = dev_scale(w, inv, bins, cd)
    d = tf.where(ok, xs - m[:, None], zero) * r[:, None]
    s1, s2 = _f64(tf.reduce_sum(d, 1)), _f64(tf.reduce_sum(tf.square(d), 1))
    n64 = tf.cast(tf.maximum(n_fin, 1), tf.float64)
    r64 = _f64(r)
    m64 = _f64(m) + s1 / n64 / r64
    var_r = tf.maximum(s2 - tf.square(s1) / n64, 0.0) / n64
    mean, std, norm = moments(m64, var_r, r64, k, n_fin)
    ints = _f64(tf.stack([nan, posinf, n - n_fin - nan - posinf, zeros], 1))
    floats = tf.stack([_f64(mn), _f64(mx), mean, std, norm, _f64(w)], 1)
    return tf.concat([_f64(counts), ints, floats, class_probes(X0, M, n, units, bounds)], 1)


def class_probes(X0, M, n, units, bounds) -> tf.Tensor:
    """``[k, PROBE_COLUMNS]`` float64 of the rows of ``X0`` (see :func:`class_rows`): as
    ``_rule.probe_one`` of each tensor reshaped to ``[examples, units]``. Unit ``u`` of
    row ``i`` is slot ``offset[i] + position % units[i]``; one ``bincount`` of the
    non-zero values' slots says which units were ever active."""
    cd = X0.dtype
    k, L = tf.shape(X0)[0], tf.shape(X0)[1]
    nan = tf.constant(np.nan, tf.float64)
    probed = units > 0

    def measure():
        U = tf.maximum(units, 1)
        off = tf.cumsum(U, exclusive=True)
        total = tf.reduce_sum(U)
        slot = off[:, None] + tf.math.floormod(tf.range(L)[None, :], U[:, None])
        live = M & tf.not_equal(X0, tf.zeros([], cd)) & probed[:, None]
        got = tf.math.bincount(tf.where(live, slot, total), minlength=total + 1, maxlength=total + 1, dtype=tf.int32)
        alive = tf.math.segment_sum(_f64(got[:total] > 0), tf.repeat(tf.range(k), U))
        dead = tf.where(probed, 1.0 - alive / _f64(U), nan)
        m = tf.constant(SATURATION_MARGIN, cd)
        out = M & ((X0 < bounds[:, :1] + m) | (X0 > bounds[:, 1:] - m))
        sat = tf.reduce_sum(_f64(out), 1) / _f64(tf.maximum(n, 1))
        share = tf.where(probed & tf.math.is_finite(bounds[:, 0]) & (n > 0), sat, nan)
        return tf.stack([dead, share], 1)

    return tf.cond(tf.reduce_any(probed), measure, lambda: tf.fill([k, PROBE_COLUMNS], nan))


#: A tensor above this many values is binned a chunk at a time (``count_part`` of each,
#: added up): the temporaries of binning stay a few chunks, whatever the tensor's size.
CHUNK = 1 << 20


def index_dtype(size: int | None, chunk: int) -> tf.DType:
    """The dtype of chunk indices and offsets into a flat tensor of ``size`` values read
    ``chunk`` at a time: int32, int64 where an offset may pass 2**31."""
    return tf.int64 if (size or 0) >= 2**31 - chunk else tf.int32


def over_chunks(x, each, combine, init, chunk: int | None = None, index=None):
    """``combine(...combine(init, each(take, 0))..., each(take, last))``, one
    ``tf.while_loop`` over the chunks of flat ``x`` (``chunk`` values each, default
    :data:`CHUNK`): ``take(t)`` is chunk ``i`` of any flat tensor ``t`` as long as ``x``.
    A tensor of a size known when the step is traced (XLA needs it) is read in chunks of
    a static size (:func:`tf.slice` at a moving start), the shorter last one apart: the
    same chunks, combined in the same order. ``index``: the dtype of the chunk index and
    the offsets (default int32, int64 for a tensor known to pass 2**31 values)."""
    size_ = CHUNK if chunk is None else chunk
    size = tf.TensorShape(x.shape).num_elements()
    if index is None:
        index = index_dtype(size, size_)
    c = tf.constant(size_, index)

    def loop(chunks, span):
        def step(i, acc):
            return i + 1, combine(acc, each(lambda t: span(t, i), i))

        return tf.while_loop(lambda i, _: i < chunks, step, (tf.constant(0, index), init), parallel_iterations=1)[1]

    if size is None:
        n = tf.size(x, out_type=index)
        return loop((n + c - 1) // c, lambda t, i: t[i * c : tf.minimum((i + 1) * c, n)])
    whole, tail = divmod(size, size_)
    acc = loop(tf.constant(whole, index), lambda t, i: tf.slice(t, [i * c], [size_])) if whole else init
    if tail:
        acc = combine(acc, each(lambda t: t[whole * size_ :], tf.constant(whole, index)))
    return acc


def _masked_range(x):
    """``[2]`` float64: the finite min and max of flat ``x``, a chunk at a time."""
    both = lambda a, b: tf.stack([tf.minimum(a[0], b[0]), tf.maximum(a[1], b[1])])  # noqa: E731
    return over_chunks(x, lambda take, _: finite_range(take(x)), both, tf.constant([np.inf, -np.inf], tf.float64))


def chunked_row(x, bins: int):
    """The row of a large flat tensor, exactly ``_rule.one_row``'s (counts, extremes and
    width bit for bit; mean and std combined over the chunks about a shared pivot, as the
    replicas' are): the range from whole-tensor reductions (fused: no temporary), or a
    chunk at a time when some value is NaN or Inf, then each chunk (one for a tensor of
    at most :data:`CHUNK` values) counted on the shared edges (:func:`over_chunks`).
    Nothing the size of ``x`` is made on either branch. Outside XLA (under XLA:
    ``_xlarows.large_rows``, one loop for all the large tensors)."""
    cd = x.dtype
    finite = tf.math.is_finite(tf.reduce_sum(x))

    def masked_range():  # NaN or Inf somewhere (rare)
        r = rare(("chunked_range", cd, CHUNK), _masked_range, [tf.TensorSpec([None], cd)], x)
        return r[0], r[1]

    mn, mx = tf.cond(finite, lambda: (_f64(tf.reduce_min(x)), _f64(tf.reduce_max(x))), masked_range)
    lo, w, large = shared_range(mn, mx, bins, cd)
    spec = [tf.TensorSpec([None], cd), tf.TensorSpec([], cd), tf.TensorSpec([], cd), tf.TensorSpec([], tf.bool)]

    def masked_part(c):
        return rare(("masked_part", cd, bins), lambda c, lo, w, large: count_part(c, lo, w, large, bins), spec, c, lo, w, large)

    def part(c):
        return tf.cond(finite, lambda: count_part(c, lo, w, large, bins, masked=False), lambda: masked_part(c))

    p = over_chunks(x, lambda take, _: part(take(x)), lambda a, b: a + b, tf.zeros([bins + PART], tf.float64))
    return merged_row(p, mn, mx, lo, w, large, bins, cd)


def _one(x, units, bounds, bins: int):
    """One flat tensor's row and probe columns (``[bins + 10 + PROBE_COLUMNS]``)."""
    nan2 = tf.constant([np.nan, np.nan], tf.float64)
    probe = tf.cond(units > 0, lambda: probe_segment(x, units, bounds), lambda: nan2)
    return tf.concat([chunked_row(x, bins), probe], 0)


def _classes(sizes):
    """The classes of the tensors of sizes ``sizes``: ``(order, starts, ends)``, ``order``
    the tensors sorted by class, class ``g`` being ``order[starts[g]:ends[g]]``. Sizes
    within a factor of two share a class, and a class holds at most :data:`CHUNK` padded
    values (more tensors of a size make more classes: what binning one holds stays
    bounded); a tensor above :data:`SMALL_MAX` values (one whose size was not known when
    the step was traced) is a class of its own."""
    T = tf.shape(sizes)[0]
    log2 = tf.reduce_sum(tf.cast(sizes[:, None] > tf.constant(_POW2)[None, :], tf.int32), 1)  # ceil(log2 size)
    cls = tf.where(sizes <= SMALL_MAX, log2, _SINGLE + tf.range(T))
    order = tf.argsort(cls, stable=True)
    sorted_cls = tf.gather(cls, order)
    pos = tf.range(T)
    first = tf.concat([tf.ones([tf.minimum(T, 1)], tf.bool), tf.not_equal(sorted_cls[1:], sorted_cls[:-1])], 0)
    class_start = tf.gather(tf.boolean_mask(pos, first), tf.cumsum(tf.cast(first, tf.int32)) - 1)
    cap = tf.bitwise.right_shift(CHUNK, tf.minimum(sorted_cls, CHUNK.bit_length() - 1))  # members whose padded values fit in CHUNK
    sub = (pos - class_start) // tf.maximum(cap, 1)
    key = tf.cast(sorted_cls, tf.int64) * (CHUNK + 1) + tf.cast(sub, tf.int64)
    new = tf.concat([tf.ones([tf.minimum(T, 1)], tf.bool), tf.not_equal(key[1:], key[:-1])], 0)
    starts = tf.cast(tf.reshape(tf.where(new), [-1]), tf.int32)
    ends = tf.concat([starts[1:], tf.reshape(T, [1])], 0)
    return order, starts, ends


def grouped_fn(cd: tf.DType, bins: int):
    """The cached function ``(values, sizes, units, bounds) -> [T, bins + 10 +
    PROBE_COLUMNS]``: the rows (in input order) of ``T`` tensors of compute dtype ``cd``
    whose flat values lie side by side in ``values``, ``sizes[t]`` values each, with the
    probes of ``units`` and ``bounds`` (see :func:`class_rows`). One ``tf.while_loop``
    over the size classes (:func:`_classes`): a few dozen rounds for a ResNet-50's 600
    tensors, not one a tensor."""
    width = bins + H.EXTRA + PROBE_COLUMNS

    def run(values, sizes, units, bounds):
        T = tf.shape(sizes)[0]
        order, starts, ends = _classes(sizes)
        ragged = tf.RaggedTensor.from_row_lengths(values, sizes, validate=False)

        def body(g, acc):
            members = order[starts[g] : ends[g]]
            X0 = tf.gather(ragged, members).to_tensor()
            rows = class_rows(X0, tf.gather(sizes, members), tf.gather(units, members), tf.gather(bounds, members), bins)
            return g + 1, acc.scatter(members, rows)

        acc = tf.TensorArray(tf.float64, size=T, element_shape=[width])
        _, acc = tf.while_loop(lambda g, _: g < tf.shape(starts)[0], body, (tf.constant(0), acc))
        return tf.reshape(acc.stack(), [T, width])

    spec = [tf.TensorSpec([None], cd), tf.TensorSpec([None], tf.int32), tf.TensorSpec([None], tf.int32), tf.TensorSpec([None, 2], cd)]
    return _compat.cached(("grouped", cd, bins, SMALL_MAX, CHUNK), run, spec)  # the thresholds it reads


def tensor_list(tensors, cd: tf.DType) -> tf.Tensor:
    """A ``TensorList`` (one variant tensor) of the flat ``tensors``: handed to a cached
    function as one argument, its items are the tensors themselves (no copy)."""
    items = list_ops.empty_tensor_list(element_shape=None, element_dtype=cd)
    for t in tensors:  # one op a tensor (no index, no reshape: flattened where it is read)
        items = list_ops.tensor_list_push_back(items, t)
    return items


def list_item(items, i, cd: tf.DType) -> tf.Tensor:
    """Item ``i`` of a :func:`tensor_list`, flat (the tensor, not a copy)."""
    return tf.reshape(list_ops.tensor_list_get_item(items, i, element_dtype=cd, element_shape=None), [-1])


def large_fn(cd: tf.DType, bins: int):
    """The cached function ``(items, units, bounds) -> [K, bins + 10 + PROBE_COLUMNS]`` of
    ``K`` large tensors of compute dtype ``cd`` (a :func:`tensor_list`: one call op in a
    training trace for all of them, none copied): one at a time (their temporaries never
    add up), each a chunk at a time above :data:`CHUNK` values."""
    width = bins + H.EXTRA + PROBE_COLUMNS

    def run(items, units, bounds):
        K = tf.shape(units)[0]

        def step(i, acc):
            return i + 1, acc.write(i, _one(list_item(items, i, cd), units[i], bounds[i], bins))

        acc = tf.TensorArray(tf.float64, size=K, element_shape=[width])
        _, acc = tf.while_loop(lambda i, _: i < K, step, (tf.constant(0), acc), parallel_iterations=1)
        return tf.reshape(acc.stack(), [K, width])

    spec = [tf.TensorSpec([], tf.variant), tf.TensorSpec([None], tf.int32), tf.TensorSpec([None, 2], cd)]
    return _compat.cached(("large", cd, bins, SMALL_MAX, CHUNK), run, spec)  # the thresholds it reads


def rows_fused(flat: list, bins: int):
    """Rows of several flat tensors of one compute dtype in one computation (for XLA).

    All the values side by side, each with its tensor's id (``seg``); per-tensor
    reductions are segment reductions, and the count is one segment sum over
    ``seg * (bins + 3) + slot``, where slots ``bins``, ``bins + 1``, ``bins + 2`` count
    NaN, +Inf and -Inf. Same rule and counts as :func:`one_row`; the graph does not grow
    with the number of tensors, so XLA compiles it quickly (a per-tensor graph made a
    15-tensor MLP's step take 3.4-5 s to compile, this about 1 s)."""
    cd = flat[0].dtype
    T = len(flat)
    S = bins + 3
    c = consts(cd)
    zero, inf = tf.constant(0, cd), tf.constant(np.inf, cd)
    x = tf.concat(flat, 0) if T > 1 else flat[0]
    seg = tf.concat([tf.fill(tf.shape(t), i) for i, t in enumerate(flat)], 0) if T > 1 else tf.zeros(tf.shape(x), tf.int32)
    finite = tf.math.is_finite(x)
    mn = tf.math.unsorted_segment_min(tf.where(finite, x, inf), seg, T)  # an empty segment
    mx = tf.math.unsorted_segment_max(tf.where(finite, x, -inf), seg, T)  # gives the finite extremes
    zeros = tf.math.unsorted_segment_sum(tf.cast(tf.equal(x, zero), tf.int32), seg, T)
    has = mn <= mx
    mn, mx = tf.where(has, mn, inf), tf.where(has, mx, -inf)
    lo, hi = binning_range(mn, mx, cd)
    w = bin_width(lo, hi, bins, cd)
    _, nxt = edges(lo, w, bins, cd)
    a, s_, c_, _ = estimate_scale(lo, w, cd)

    xb = tf.where(finite, x, tf.gather(lo, seg))
    j = tf.minimum(tf.cast(xb * tf.gather(a, seg) * tf.gather(s_, seg) - tf.gather(c_, seg), tf.int32), bins - 1)
    j = j + tf.cast(xb >= tf.gather(tf.reshape(nxt, [-1]), seg * bins + j), tf.int32)
    slot = tf.where(finite, j, tf.where(tf.math.is_nan(x), bins, tf.where(x > zero, bins + 1, bins + 2)))
    got = tf.reshape(tf.math.unsorted_segment_sum(tf.ones_like(slot), seg * S + slot, T * S), [T, S])
    counts, nan, posinf, neginf = got[:, :bins], got[:, bins], got[:, bins + 1], got[:, bins + 2]
    n_fin = tf.reduce_sum(counts, 1)

    # A segment sum adds one value at a time: accumulate in float64 (XLA fuses the cast).
    large = tf.maximum(tf.abs(lo), tf.abs(hi)) > tf.constant(c.sum_limit, cd)
    inv = tf.where(large, tf.constant(c.sum_scale, cd), tf.constant(1.0, cd))
    k = tf.where(large, tf.constant(1.0 / c.sum_scale, tf.float64), tf.constant(1.0, tf.float64))
    xs = tf.where(finite, tf.cast(x * tf.gather(inv, seg), tf.float64), 0.0)
    denom = tf.cast(tf.maximum(n_fin, 1), tf.float64)
    m = tf.math.unsorted_segment_sum(xs, seg, T) / denom  # the rounded mean / k
    r = tf.cast(dev_scale(w, inv, bins, cd), tf.float64)
    # The corrected two-pass formula, as deviations (float64 inputs need it here too).
    d = tf.where(finite, (xs - tf.gather(m, seg)) * tf.gather(r, seg), 0.0)
    s1 = tf.math.unsorted_segment_sum(d, seg, T)
    s2 = tf.math.unsorted_segment_sum(tf.square(d), seg, T)
    m64 = m + s1 / denom / r  # mean / k
    var_r = tf.maximum(s2 - tf.square(s1) / denom, 0.0) / denom  # variance * (r / k)^2
    mean, std, norm = moments(m64, var_r, r, k, n_fin)
    f64 = lambda v: tf.cast(v, tf.float64)  # noqa: E731
    extra = tf.stack([f64(nan), f64(posinf), f64(neginf), f64(zeros), f64(mn), f64(mx), mean, std, norm, f64(w)], 1)
    return tf.concat([f64(counts), extra], 1)
