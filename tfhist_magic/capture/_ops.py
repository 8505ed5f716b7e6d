"""The in-graph histogram + statistics ops, shared by every capture backend.

``snapshot_rows(tensors, bins)`` adds, to whatever graph (or eager context) is
current, one float64 row of ``bins + 10`` numbers per tensor, laid out as
``tfhist_magic.histogram`` describes, with the same binning rule (one rule on every
path: edges derived with operations every device rounds alike, then each value placed
by comparing it with the edges, so ``numpy.histogram`` on the reported edges gives
the same counts).

Outside XLA, the work for one tensor is one ``tf.function`` (no AutoGraph) of a flat
vector, traced once per process for each (dtype, bins): tracing a training step adds
one call op per tensor, not a new subgraph, so watching a big model does not cost
seconds of tracing. Inside, one ``tf.cond`` takes the masked path only when some value
is non-finite (a finite sum proves there is none); the count is a bincount.

Under XLA (``jit_compile=True``, Keras' default for ``fit`` on a GPU), all the tensors
of one dtype are binned in one fused computation (segment ids, per-segment reductions,
one segment sum over ``segment * bins + bin``): one small graph however many tensors,
so XLA compiles it quickly, for any size. Only element-wise ops, reductions, gathers
from the edges and a count on either path: no host round trip, no py_function.
"""

from __future__ import annotations

import contextlib
import logging

import numpy as np
import tensorflow as tf

from .. import histogram as H
from . import _compat

__all__ = ["snapshot_rows", "compute_dtype", "update_scalars", "update_ratio", "UPDATE_COLUMNS"]


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
    w = tf.maximum(tf.maximum(r, m * c.ulp16), tf.constant(4.0 * c.tiny, tf.float64))
    bits = tf.bitwise.bitwise_and(tf.bitcast(w, tf.int64) + c.mask, tf.constant(~c.mask, tf.int64))
    w = tf.minimum(tf.bitcast(bits, tf.float64), c.wmax)
    return tf.cast(w, cd)


def _edges(lo, w, bins: int, cd: tf.DType):
    """``e[..., i] = lo + i * w`` for ``i < bins`` (``histogram._edges``), for a scalar or
    a vector of ``lo``/``w``; and the same shifted by one (``e[i+1]``, +inf after the last)."""
    c = _consts(cd)
    big, tiny, q = tf.constant(c.max, cd), tf.constant(c.tiny, cd), tf.constant(0.25, cd)
    lo_, w_ = lo[..., None], w[..., None]
    i = tf.constant(np.arange(1, bins), cd)
    huge = w_ > tf.constant(c.huge, cd)
    e = tf.where(huge, (lo_ * q + i * (w_ * q)) * tf.constant(4.0, cd), lo_ + i * w_)
    e = tf.concat([lo_, tf.minimum(e, big)], -1)
    e = tf.where(tf.abs(e) < tiny, -tiny, e)
    nxt = tf.concat([e[..., 1:], tf.fill(tf.shape(lo_), tf.constant(np.inf, cd))], -1)
    return e, nxt


def _estimate_scale(lo, w, cd: tf.DType):
    """``(a, s, c)`` with ``(x * a) * s - c`` estimating ``(x - lo) / w - 1/2`` to within
    ``5/32`` of a bin (see ``histogram``), without overflow: a huge ``w`` is scaled down
    first, so ``1 / w`` stays a normal number (``a`` is 1 otherwise)."""
    huge = w > tf.constant(_consts(cd).huge, cd)
    a = tf.where(huge, tf.constant(2.0**-64, cd), tf.constant(1.0, cd))
    s = tf.cast(1.0 / (tf.cast(w, tf.float64) * tf.cast(a, tf.float64)), cd)
    return a, s, (lo * a) * s + tf.constant(0.5, cd), huge


def _counts(x, lo, w, bins: int, cd: tf.DType):
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
    c = _consts(cd)
    a, s, est_c, huge = _estimate_scale(lo, w, cd)
    i = tf.constant(np.arange(1, bins), cd)
    inner = lo + i * w  # e[1..B-1] as the rule computes them when w is not huge
    special = huge | tf.reduce_any(tf.abs(inner) < tf.constant(c.tiny, cd))

    def table():
        _, nxt = _edges(lo, w, bins, cd)
        nxt = tf.concat([nxt, tf.fill([2], tf.constant(np.inf, cd))], 0)
        xa = tf.cond(huge, lambda: x * a, lambda: x)
        j = tf.cast(xa * s - est_c, tf.int32)
        return j + tf.cast(x >= tf.gather(nxt, j), tf.int32)

    def arithmetic():
        j = tf.cast(x * s - est_c, tf.int32)
        return j + tf.cast(x >= lo + tf.cast(j + 1, cd) * w, tf.int32)

    idx = tf.cond(special, table, arithmetic)
    got = tf.math.bincount(idx, minlength=bins + 2, maxlength=bins + 2, dtype=tf.int32)
    return tf.concat([got[: bins - 1], [tf.reduce_sum(got[bins - 1 :])]], 0)


#: Spans (of ``B`` bins, scaled as the sums are) outside which deviations from the mean
#: are scaled by a power of two before they are squared, so that their squares neither
#: underflow (``(span / 2**20)**2`` stays a normal number above the floor) nor overflow
#: (``2**31`` squares of the ceiling stay finite).
_DEV_RANGE = {tf.float32: (2.0**-40, 2.0**40), tf.float64: (2.0**-400, 2.0**400)}


def _dev_scale(w, inv, bins: int, cd: tf.DType):
    """A power of two ``r`` in ``cd`` (a scalar, or one per tensor for vectors ``w``,
    ``inv``): ``(x - m) * r`` is at most about 2 for values ``x`` and a mean ``m``
    within ``bins * w * inv`` (the span) of each other, when the span is outside
    :data:`_DEV_RANGE`; 1 inside it (no work then). Scaling by a power of two is exact."""
    floor, ceil = _DEV_RANGE[cd]
    span = tf.cast(w, tf.float64) * tf.cast(inv, tf.float64) * float(bins)
    exp_bits = tf.constant(0x7FF0000000000000, tf.int64)
    p2 = tf.bitcast(tf.bitwise.bitwise_and(tf.bitcast(span, tf.int64), exp_bits), tf.float64)  # 2**floor(log2 span)
    return tf.cast(tf.where((span < floor) | (span > ceil), 1.0 / p2, 1.0), cd)


def _moments(m, var_r, r, k, n_fin):
    """``(mean, std, norm)`` in float64 from the mean ``m`` and the variance ``var_r`` of
    the values times ``r / k`` (``r`` :func:`_dev_scale`'s, ``k`` the sums' scale), and
    the count of finite values; scalars or vectors."""
    sd = tf.sqrt(var_r) / r
    norm = tf.sqrt(tf.cast(n_fin, tf.float64)) * tf.sqrt(tf.square(sd) + tf.square(m))
    return m * k, sd * k, norm * k


def _deviations(xs, m, r, finite=None):
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


def _row(x, total, bins: int, masked: bool):
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
    counts = _counts(xb, lo, w, bins, cd)
    if masked:
        counts = counts - tf.one_hot(0, bins, dtype=tf.int32) * n_bad
    zeros = tf.reduce_sum(tf.cast(tf.equal(x, zero), tf.int32))

    # Sums of values scaled down by a power of two when they are large, so nothing
    # overflows; the scalar work after the reductions is in float64. The spread comes
    # from the deviations from the mean rounded to the compute dtype, corrected by their
    # sum (see _deviations): exact however few ulps apart the values are.
    c = _consts(cd)
    large = tf.maximum(tf.abs(lo), tf.abs(hi)) > tf.constant(c.sum_limit, cd)
    inv = tf.where(large, tf.constant(c.sum_scale, cd), one)
    k = tf.where(large, tf.constant(1.0 / c.sum_scale, tf.float64), tf.constant(1.0, tf.float64))
    denom = tf.cast(tf.maximum(n_fin, 1), cd)
    xs = tf.cond(large, lambda: xz * inv, lambda: xz)  # scaled only when it must be
    m = (tf.reduce_sum(xs) if masked else total * inv) / denom  # the rounded mean / k
    r = _dev_scale(w, inv, bins, cd)
    s1, s2 = _deviations(xs, m, r, finite if masked else None)
    n64 = tf.cast(tf.maximum(n_fin, 1), tf.float64)
    r64 = tf.cast(r, tf.float64)
    m64 = tf.cast(m, tf.float64) + s1 / n64 / r64  # mean / k
    var_r = tf.maximum(s2 - tf.square(s1) / n64, 0.0) / n64  # variance * (r / k)^2
    mean, std, norm = _moments(m64, var_r, r64, k, n_fin)

    ints = tf.cast(tf.stack([nan, posinf, n_bad - nan - posinf, zeros]), tf.float64)
    floats = tf.stack([tf.cast(mn, tf.float64), tf.cast(mx, tf.float64), mean, std, norm, tf.cast(w, tf.float64)])
    return tf.concat([tf.cast(counts, tf.float64), ints, floats], axis=0)


def _row_either(x, bins: int):
    x = tf.reshape(x, [-1])
    total = tf.reduce_sum(x)
    # A finite sum means no NaN and no Inf (an overflowing sum just takes the masked
    # path). The masked path is its own function, so that it is only instantiated in a
    # training function the first time a non-finite value actually shows up.
    return tf.cond(
        tf.math.is_finite(total), lambda: _row(x, total, bins, False), lambda: _masked_fn(x.dtype, bins)(x)
    )


_MASKED_FNS: dict = {}


def _masked_fn(cd: tf.DType, bins: int):
    key = (cd, bins)
    fn = _MASKED_FNS.get(key)
    if fn is None:
        fn = _MASKED_FNS[key] = tf.function(
            lambda x: _row(x, None, bins, True), input_signature=[tf.TensorSpec([None], cd)], autograph=False, experimental_attributes=_compat.NOINLINE
        )
        _compat.OWN_FUNCTIONS.add(id(fn))
    return fn


def _rows_fused(flat: list, bins: int):
    """Rows of several flat tensors of one compute dtype in one computation (for XLA).

    All the values side by side, each with its tensor's id (``seg``); per-tensor
    reductions are segment reductions, and the count is one segment sum over
    ``seg * (bins + 3) + slot``, where slots ``bins``, ``bins + 1``, ``bins + 2`` count
    NaN, +Inf and -Inf. Same rule and counts as :func:`_row`; the graph does not grow
    with the number of tensors, so XLA compiles it quickly (a per-tensor graph made a
    15-tensor MLP's step take 3.4-5 s to compile, this about 1 s)."""
    cd = flat[0].dtype
    T = len(flat)
    S = bins + 3
    c = _consts(cd)
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
    _, nxt = _edges(lo, w, bins, cd)
    a, s_, c_, _ = _estimate_scale(lo, w, cd)

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
    r = tf.cast(_dev_scale(w, inv, bins, cd), tf.float64)
    # The corrected two-pass formula, as _deviations (float64 inputs need it here too).
    d = tf.where(finite, (xs - tf.gather(m, seg)) * tf.gather(r, seg), 0.0)
    s1 = tf.math.unsorted_segment_sum(d, seg, T)
    s2 = tf.math.unsorted_segment_sum(tf.square(d), seg, T)
    m64 = m + s1 / denom / r  # mean / k
    var_r = tf.maximum(s2 - tf.square(s1) / denom, 0.0) / denom  # variance * (r / k)^2
    mean, std, norm = _moments(m64, var_r, r, k, n_fin)
    f64 = lambda v: tf.cast(v, tf.float64)  # noqa: E731
    extra = tf.stack([f64(nan), f64(posinf), f64(neginf), f64(zeros), f64(mn), f64(mx), mean, std, norm, f64(w)], 1)
    return tf.concat([f64(counts), extra], 1)


def _snapshot_rows_xla(flat: list, bins: int) -> tf.Tensor:
    """Under XLA: one fused computation per compute dtype, rows put back in input order."""
    out = [None] * len(flat)
    for cd in (tf.float32, tf.float64):
        idx = [i for i, t in enumerate(flat) if t.dtype == cd]
        if idx:
            rows = _rows_fused([tf.reshape(flat[i], [-1]) for i in idx], bins)
            for r, i in enumerate(idx):
                out[i] = rows[r]
    return tf.stack(out)


def probe_kind(t, bounded: str | None) -> str | None:
    """What :func:`snapshot_rows` can probe in activation ``t``: "units" (dead units) for an
    output of rank >= 2, "tanh"/"sigmoid" when it is also that function's; else None."""
    shape = tf.TensorShape(t.shape)
    if shape.rank is None or shape.rank < 2 or not shape[-1]:  # unknown or no units
        return None
    return bounded if bounded in _BOUNDS and tf.as_dtype(t.dtype).is_floating else "units"


def snapshot_rows(tensors, bins: int) -> tf.Tensor:
    """Rows for several tensors: shape ``[len(tensors), bins + 10]``, in input order."""
    flat = [_prepare(t) for t in tensors]
    if not flat:
        return tf.zeros([0, bins + H.EXTRA], tf.float64)
    if _compat.in_xla_context():
        return _snapshot_rows_xla(flat, int(bins))
    return rows_and_probes(flat, bins, [None] * len(flat))[:, : bins + H.EXTRA]


#: Tensors of one shape stack together up to this many values each (the op saved is worth
#: a copy of a small tensor, not of a large one: a model's large tensors are few).
_STACK_MAX = 1 << 16


def _segments(flat: list, keep_order: bool = False):
    """The values of ``flat`` (tensors of one dtype) side by side, each one's size, and
    the order they are in (``perm``, indices into ``flat``). Small tensors of one fully
    known shape go in with one stack (one op for all of them: a model repeats few shapes), the
    others with one reshape each. ``keep_order``: only neighbours are stacked together,
    so the values lie in input order (``perm`` is the identity), as a concatenation of
    each one flattened would lay them."""
    groups: list = []
    by_shape: dict = {}
    for i, t in enumerate(flat):
        shape = tf.TensorShape(t.shape)
        # small tensors only: a stack is one more copy of what it holds (the concat copies again)
        key = tuple(shape.as_list()) if shape.is_fully_defined() and shape.num_elements() <= _STACK_MAX else None
        if key is not None and keep_order and groups and groups[-1][0] == key:
            groups[-1][1].append(i)
        elif key is not None and not keep_order and key in by_shape:
            by_shape[key].append(i)
        else:
            groups.append((key, [i]))
            if key is not None and not keep_order:
                by_shape[key] = groups[-1][1]
    flat_shape = tf.constant([-1], tf.int32)  # one constant for all the reshapes
    parts, perm, known = [], [], []
    for key, idx in groups:
        parts.append(tf.reshape(flat[idx[0]] if len(idx) == 1 else tf.stack([flat[i] for i in idx]), flat_shape))
        perm += idx
        known += [tf.TensorShape(flat[i].shape).num_elements() for i in idx]
    if all(n is not None for n in known):
        sizes = tf.constant(known, tf.int32)
    else:
        sizes = tf.stack([tf.constant(n, tf.int32) if n is not None else tf.size(flat[i], out_type=tf.int32) for n, i in zip(known, perm)])
    return (tf.concat(parts, 0) if len(parts) > 1 else parts[0]), sizes, perm


def flat_values(tensors) -> tf.Tensor:
    """The values of ``tensors`` (one dtype) side by side in one flat vector, in input
    order: each one flattened, concatenated (neighbours of one shape in one stack)."""
    return _segments(list(tensors), keep_order=True)[0]


def _by_dtype(flat: list, each):
    """``each(indices, tensors)`` for the tensors of each compute dtype; its ``[k, W]``
    results put back in input order (one gather, none when there is one dtype)."""
    groups, order = [], []
    for cd in (tf.float32, tf.float64):
        idx = [i for i, t in enumerate(flat) if t.dtype == cd]
        if idx:
            groups.append(each(idx, [flat[i] for i in idx]))
            order += idx
    if len(groups) == 1:
        return groups[0]
    return tf.gather(tf.concat(groups, 0), np.argsort(order).astype(np.int32))


_LOOP_FNS: dict = {}


def _loop_fn(which: str, cd: tf.DType, bins: int = 0):
    """A cached function over segments of one flat vector, traced once per process for
    each ``(which, dtype, bins)``, with a signature that fits any number of tensors of any
    shapes: ``"rows"`` bins each segment (and probes it, see :func:`rows_and_probes`),
    ``"ratios"`` gives each segment's :data:`UPDATE_COLUMNS` (see :func:`update_scalars`).
    One ``tf.while_loop`` runs :func:`_row_either` (or the update's scalars) on each
    segment in turn, so a new trace
    of a training step adds one call op per dtype, not one per tensor: the per-trace
    cost does not grow with the number of tensors (measured by ``bench/scale.py``)."""
    key = (which, cd, bins)
    fn = _LOOP_FNS.get(key)
    if fn is not None:
        return fn
    width = bins + H.EXTRA + PROBE_COLUMNS if which == "rows" else UPDATE_COLUMNS

    def loop(sizes, body):
        starts = tf.cumsum(sizes, exclusive=True)
        n = tf.shape(sizes)[0]

        def step(i, acc):
            at, size = tf.reshape(starts[i], [1]), tf.reshape(sizes[i], [1])
            return i + 1, acc.write(i, body(i, at, size))

        acc = tf.TensorArray(tf.float64, size=n, element_shape=[width])
        _, acc = tf.while_loop(lambda i, _: i < n, step, (tf.constant(0), acc))
        return tf.reshape(acc.stack(), [n, width])

    if which == "rows":

        def run(values, sizes, units, bounds):
            nan2 = tf.constant([np.nan, np.nan], tf.float64)

            def body(i, at, size):
                x = tf.slice(values, at, size)
                u = units[i]
                probe = tf.cond(u > 0, lambda: _probe_segment(x, u, bounds[i]), lambda: nan2)
                return tf.concat([_row_either(x, bins), probe], 0)

            return loop(sizes, body)

        spec = [tf.TensorSpec([None], cd), tf.TensorSpec([None], tf.int32), tf.TensorSpec([None], tf.int32), tf.TensorSpec([None, 2], cd)]
    else:

        def run(after, before, origin, sizes, ratio):
            nan = tf.constant([np.nan], tf.float64)

            def body(i, at, size):
                a, b = tf.slice(after, at, size), tf.slice(before, at, size)
                r = tf.cond(ratio[i] > 0, lambda: tf.reshape(_ratio_one(a, b), [1]), lambda: nan)
                return tf.concat([r, tf.stack([_norm(a - b), _norm(b - tf.slice(origin, at, size))])], 0)

            return loop(sizes, body)

        spec = [tf.TensorSpec([None], cd), tf.TensorSpec([None], cd), tf.TensorSpec([None], cd), tf.TensorSpec([None], tf.int32), tf.TensorSpec([None], tf.int32)]
    fn = _LOOP_FNS[key] = tf.function(run, input_signature=spec, autograph=False, experimental_attributes=_compat.NOINLINE)
    _compat.OWN_FUNCTIONS.add(id(fn))
    return fn


def rows_and_probes(tensors, bins: int, kinds) -> tf.Tensor:
    """``[T, bins + 10 + PROBE_COLUMNS]`` float64: each tensor's row and its probe columns
    (:func:`probes`; ``kinds[t]`` from :func:`probe_kind`, None for no probe), in input
    order. Outside XLA, all the tensors of a compute dtype go through one call of
    :func:`_loop_fn` (their values concatenated, a size and a probe kind each)."""
    bins = int(bins)
    flat = [_prepare(t) for t in tensors]
    if not flat:
        return tf.zeros([0, bins + H.EXTRA + PROBE_COLUMNS], tf.float64)
    if _compat.in_xla_context():
        return tf.concat([_snapshot_rows_xla(flat, bins), probes(flat, kinds)], 1)

    def each(idx, ts):
        cd = ts[0].dtype
        values, sizes, perm = _segments(ts)  # the tensors of one shape together
        idx, ts = [idx[j] for j in perm], [ts[j] for j in perm]
        units = [int(tf.TensorShape(t.shape)[-1]) if kinds[i] is not None else 0 for i, t in zip(idx, ts)]
        bounds = [_BOUNDS.get(kinds[i], (np.nan, np.nan)) for i in idx]
        rows = _loop_fn("rows", cd, bins)(values, sizes, tf.constant(units, tf.int32), tf.constant(np.array(bounds, cd.as_numpy_dtype).reshape(-1, 2)))
        return rows if perm == sorted(perm) else tf.gather(rows, np.argsort(perm).astype(np.int32))  # back in input order

    # The call ops run their functions without Grappler: the histogram graph is plain
    # element-wise work with nothing to gain from it, and optimizing it again for every
    # new training function would cost more than it ever saves.
    with _compat.function_call_config(_compat.NO_GRAPPLER):
        return _by_dtype(flat, each)


# -- tf.distribute: one row per tensor over every replica's values ------------------------
#
# A histogram over several replicas is built in two rounds, in the cross-replica context:
# every replica reduces its own values to their finite min and max (2 numbers a tensor),
# these are gathered (a SUM of one row per replica) and reduced to the global range, from which every replica derives the
# same edges and counts its own values on them. Counts, non-finite counts, zero counts
# and the pieces of the mean and variance then simply add (one SUM across replicas).
# Only numbers per tensor cross devices (or workers), never the tensors themselves.

_PART = 7  # nan, posinf, neginf, zeros, n_finite, a, q (per replica: see _count_one)


def _range_one(x) -> tf.Tensor:
    """``[2]`` float64: the finite min and max of ``x`` (``+inf``, ``-inf`` if none)."""
    inf = tf.constant(np.inf, x.dtype)
    finite = tf.math.is_finite(x)
    return tf.cast(tf.stack([tf.reduce_min(tf.where(finite, x, inf)), tf.reduce_max(tf.where(finite, x, -inf))]), tf.float64)


def _count_one(x, lo, w, large, bins: int) -> tf.Tensor:
    """``[bins + 7]`` float64: ``x``'s counts on the shared edges and the parts of its
    statistics that add across replicas: non-finite and zero counts, the finite count
    ``n``, and, with ``e`` this replica's mean minus the shared pivot ``c`` (in ``r``
    units, :func:`_shared_moments`) and ``M2`` its sum of squared deviations from its own
    mean (the corrected two-pass formula, :func:`_deviations`), ``a = n e`` and
    ``q = M2 + n e^2``. Over all replicas, with ``N = sum(n)``: the mean is
    ``c + sum(a) / N`` and the sum of squared deviations ``sum(q) - sum(a)^2 / N``
    (``e`` is at most about 2: no cancellation beyond float64's)."""
    cd = x.dtype
    zero, inf = tf.constant(0, cd), tf.constant(np.inf, cd)
    finite = tf.math.is_finite(x)
    n = tf.size(x, out_type=tf.int32)
    n_fin = tf.reduce_sum(tf.cast(finite, tf.int32))
    n_bad = n - n_fin
    nan = tf.reduce_sum(tf.cast(tf.math.is_nan(x), tf.int32))
    posinf = tf.reduce_sum(tf.cast(tf.equal(x, inf), tf.int32))
    counts = _counts(tf.where(finite, x, lo), lo, w, bins, cd) - tf.one_hot(0, bins, dtype=tf.int32) * n_bad
    zeros = tf.reduce_sum(tf.cast(tf.equal(x, zero), tf.int32))
    inv, c, r = _shared_moments(lo, w, large, bins, cd)
    xs = tf.where(finite, x * inv, zero)
    nf = tf.cast(n_fin, tf.float64)
    n1 = tf.maximum(nf, 1.0)
    m = tf.cast(tf.cast(tf.reduce_sum(xs), tf.float64) / n1, cd)  # this replica's mean (scaled), rounded
    s1, s2 = _deviations(xs, m, r, finite)
    r64 = tf.cast(r, tf.float64)
    e = (tf.cast(m, tf.float64) - c) * r64 + s1 / n1  # (its mean - c) * r; m - c exact near c
    m2 = tf.maximum(s2 - tf.square(s1) / n1, 0.0)
    ints = tf.cast(tf.stack([nan, posinf, n_bad - nan - posinf, zeros, n_fin]), tf.float64)
    return tf.concat([tf.cast(counts, tf.float64), ints, tf.stack([nf * e, m2 + nf * tf.square(e)])], 0)


def _shared_moments(lo, w, large, bins: int, cd: tf.DType):
    """What every replica (and the merge) derives alike from the shared range: the sum
    scale ``inv`` (``cd``), the pivot ``c`` (float64, scaled: the middle of the bins) and
    the deviation scale ``r`` (:func:`_dev_scale`)."""
    inv = tf.where(large, tf.constant(_consts(cd).sum_scale, cd), tf.constant(1, cd))
    inv64 = tf.cast(inv, tf.float64)
    c = tf.cast(lo, tf.float64) * inv64 + tf.cast(w, tf.float64) * inv64 * (bins / 2)
    return inv, c, _dev_scale(w, inv, bins, cd)


_PART_FNS: dict = {}


def _part_fn(which: str, cd: tf.DType, bins: int):
    """The cached one-tensor function of one round (one call op per
    tensor in a traced step, traced once per process)."""
    key = (which, cd, bins)
    fn = _PART_FNS.get(key)
    if fn is None:
        if which == "range":
            body, sig = _range_one, [tf.TensorSpec([None], cd)]
        else:
            body = lambda x, lo, w, large: _count_one(x, lo, w, large, bins)  # noqa: E731
            sig = [tf.TensorSpec([None], cd), tf.TensorSpec([], cd), tf.TensorSpec([], cd), tf.TensorSpec([], tf.bool)]
        fn = _PART_FNS[key] = tf.function(body, input_signature=sig, autograph=False, experimental_attributes=_compat.NOINLINE)
        _compat.OWN_FUNCTIONS.add(id(fn))
    return fn


def _range_part(flat: list) -> tf.Tensor:
    """``[2 T]`` float64: each tensor's finite min and max."""
    with _compat.function_call_config(_compat.NO_GRAPPLER):
        return tf.concat([_part_fn("range", x.dtype, 0)(x) for x in flat], 0)


def _global_range(flat: list, mn, mx, bins: int):
    """Per tensor: ``lo, w`` in its compute dtype and whether sums are scaled (as in :func:`_row`)."""
    out = []
    for t, x in enumerate(flat):
        cd = x.dtype
        lo, hi = binning_range(tf.cast(mn[t], cd), tf.cast(mx[t], cd), cd)
        w = bin_width(lo, hi, bins, cd)
        out.append((lo, w, tf.maximum(tf.abs(lo), tf.abs(hi)) > tf.constant(_consts(cd).sum_limit, cd)))
    return out


def _count_part(flat: list, ranges, bins: int) -> tf.Tensor:
    """``[T (bins + 8)]`` float64: one replica's :func:`_count_one` of every tensor."""
    with _compat.function_call_config(_compat.NO_GRAPPLER):
        return tf.concat([_part_fn("count", x.dtype, bins)(x, lo, w, large) for x, (lo, w, large) in zip(flat, ranges)], 0)


@contextlib.contextmanager
def _quiet_tf_logger():
    logger = tf.get_logger()
    level = logger.level
    logger.setLevel(max(level, logging.WARNING))
    try:
        yield
    finally:
        logger.setLevel(level)


def merged_rows(distribution, per_replica: list, bins: int, kinds=None) -> tf.Tensor:
    """Rows ``[T, bins + 10]`` of ``T`` tensors whose values are spread over replicas.

    ``per_replica[r]`` lists the ``T`` tensors of local replica ``r`` (same order and
    dtypes on every replica). Call in the cross-replica context of ``distribution``; under
    ``MultiWorkerMirroredStrategy`` every worker must call it (the reductions are
    collective). The counts equal ``numpy.histogram`` of all replicas' values together
    on the edges :func:`tfhist_magic.histogram.bin_edges` gives for the global min/max.

    With ``kinds`` (:func:`probe_kind` of each tensor, None for no probe), each row is
    followed by its :data:`PROBE_COLUMNS` probe columns, merged exactly as the counts are
    (:func:`_merged_probes`): ``[T, bins + 10 + PROBE_COLUMNS]``, in the same reduction."""
    bins = int(bins)
    local = len(per_replica)
    T = len(per_replica[0])
    flats = [[_prepare(tf.reshape(t, [-1])) for t in ts] for ts in per_replica]
    probed = _probe_plan(per_replica[0], kinds) if kinds is not None else []

    R = distribution.num_replicas_in_sync
    SUM = tf.distribute.ReduceOp.SUM

    def on_replica(fn):
        def value_fn(ctx):
            return fn(ctx.replica_id_in_sync_group)

        return distribution.experimental_distribute_values_from_function(value_fn)

    # Each replica's min/max in its own row of an [R, 2T] matrix of zeros: the sum across
    # replicas is then every replica's numbers, exactly (x + 0 == x), so one SUM (the
    # reduction every strategy has) serves as the gather.
    def ranges_of(rid):
        part = _range_part(flats[rid % local])
        return tf.scatter_nd([[rid]], part[None], [R, 2 * T])

    with _quiet_tf_logger():  # TF logs each reduction it builds; these are ours, not the user's
        ranges = distribution.reduce(SUM, on_replica(ranges_of), axis=None)  # [R, 2T]
    mn = tf.reduce_min(ranges[:, 0::2], 0)
    mx = tf.reduce_max(ranges[:, 1::2], 0)
    shared = _global_range(flats[0], mn, mx, bins)

    def counts_of(rid):
        part = _count_part(flats[rid % local], shared, bins)
        if not probed:
            return part
        return tf.concat([part, _probe_part([per_replica[rid % local][t] for t, _, _ in probed], probed)], 0)

    with _quiet_tf_logger():
        parts = distribution.reduce(SUM, on_replica(counts_of), axis=None)
    n_counts = T * (bins + _PART)
    rows = tf.reshape(parts[:n_counts], [T, bins + _PART])
    rows = [_merged_row(rows[t], mn[t], mx[t], lo, w, large, bins, x.dtype) for t, (x, (lo, w, large)) in enumerate(zip(flats[0], shared))]
    rows = tf.stack(rows) if rows else tf.zeros([0, bins + H.EXTRA], tf.float64)
    if kinds is None:
        return rows
    return tf.concat([rows, _merged_probes(parts[n_counts:], probed, T)], 1)


# Probes over replicas: each replica counts, per probed tensor, which units were ever
# non-zero on its share of the batch (one 0/1 per unit), how many of its values are
# saturated and how many values it has; these add across replicas (in the counting
# round's reduction), so a unit is dead when no replica saw it active, and the
# saturated share is of all replicas' values together: exactly what one device would
# measure on the whole batch.


def _probe_plan(tensors, kinds) -> list:
    """``[(t, units, bounds)]`` for the tensors with a probe kind and a static last axis."""
    out = []
    for t, (x, k) in enumerate(zip(tensors, kinds)):
        units = tf.TensorShape(x.shape)[-1] if k is not None and tf.TensorShape(x.shape).rank else None
        if units:
            out.append((t, int(units), _BOUNDS.get(k)))
    return out


def _probe_counts(x, units: int, bounds) -> tf.Tensor:
    """``[units + 2]`` float64 for one replica's share ``x`` of an activation: 1 for each
    unit non-zero on some example (as :func:`_probe_one`: NaN counts as active), the
    number of values within :data:`SATURATION_MARGIN` of ``bounds`` (0 without them),
    and the number of values."""
    x = tf.reshape(_prepare(x), [-1, units])
    alive = tf.cast(tf.reduce_any(tf.not_equal(x, tf.zeros([], x.dtype)), axis=0), tf.float64)
    if bounds is None:
        sat = tf.constant(0.0, tf.float64)
    else:
        m = tf.constant(SATURATION_MARGIN, x.dtype)
        lo, hi = (tf.constant(b, x.dtype) for b in bounds)
        sat = tf.reduce_sum(tf.cast((x < lo + m) | (x > hi - m), tf.float64))
    return tf.concat([alive, tf.stack([sat, tf.cast(tf.size(x), tf.float64)])], 0)


def _probe_part(tensors, probed) -> tf.Tensor:
    """One replica's :func:`_probe_counts` of each probed tensor, side by side."""
    return tf.concat([_probe_counts(x, units, bounds) for x, (_, units, bounds) in zip(tensors, probed)], 0)


def _merged_probes(p, probed, T: int) -> tf.Tensor:
    """``[T, PROBE_COLUMNS]`` from the sum over replicas ``p`` of :func:`_probe_part`: the
    share of units no replica saw active, the saturated share of all the values (NaN
    without bounds, or without values); NaN rows for tensors without a probe."""
    cols = [tf.constant([np.nan, np.nan], tf.float64)] * T
    at = 0
    for t, units, bounds in probed:
        alive, sat, n = p[at : at + units], p[at + units], p[at + units + 1]
        dead = tf.reduce_mean(tf.cast(tf.equal(alive, 0.0), tf.float64))
        nan = tf.constant(np.nan, tf.float64)
        share = nan if bounds is None else tf.where(n > 0, sat / tf.maximum(n, 1.0), nan)
        cols[t] = tf.stack([dead, share])
        at += units + 2
    return tf.stack(cols) if cols else tf.zeros([0, PROBE_COLUMNS], tf.float64)


def _merged_row(p, mn, mx, lo, w, large, bins: int, cd: tf.DType) -> tf.Tensor:
    """One tensor's row from the sum over replicas ``p`` of :func:`_count_one`, its global
    finite ``mn``, ``mx`` (float64) and the shared ``lo, w, large``."""
    nf = p[bins + 4]
    n = tf.maximum(nf, 1.0)
    a, q = p[bins + 5], p[bins + 6]
    k = tf.where(large, tf.constant(1.0 / _consts(cd).sum_scale, tf.float64), tf.constant(1.0, tf.float64))
    _, pivot, r = _shared_moments(lo, w, large, bins, cd)
    r = tf.cast(r, tf.float64)
    # Chan et al.'s combination about the shared pivot (each replica's M2 about its own
    # mean, and its mean's offset from the pivot, in r units): see _count_one.
    mean = tf.where(nf > 0, pivot + a / n / r, 0.0)  # / k
    var_r = tf.maximum(q - tf.square(a) / n, 0.0) / n  # variance * (r / k)^2
    mean, std, norm = _moments(mean, var_r, r, k, nf)
    floats = tf.stack([mn, mx, mean, std, norm, tf.cast(w, tf.float64)])
    return tf.concat([p[:bins], p[bins : bins + 4], floats], 0)


# -- probes: the numbers the findings need that a histogram cannot give -------------------

#: Outputs within this distance of a bounded activation's bounds count as saturated
#: (the |tanh| > 0.97 rule).
SATURATION_MARGIN = 0.03
_BOUNDS = {"tanh": (-1.0, 1.0), "sigmoid": (0.0, 1.0)}


def _probe_one(x, bounds=None) -> tf.Tensor:
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


def _probe_segment(x, units, bounds) -> tf.Tensor:
    """:func:`_probe_one` of a flat activation whose last axis has ``units`` units, with
    ``bounds`` ``[lo, hi]`` (NaN: no saturation share)."""
    x = tf.reshape(x, [-1, units])
    return tf.cond(
        tf.math.is_finite(bounds[0]), lambda: _probe_one(x, bounds), lambda: _probe_one(x)
    )


def probes(tensors, kinds) -> tf.Tensor:
    """``[T, PROBE_COLUMNS]`` float64: each tensor's dead-unit and saturated shares, for
    ``kinds[t]`` (:func:`probe_kind`) "units", "tanh" or "sigmoid"; NaN where None."""
    nan2 = tf.constant([np.nan, np.nan], tf.float64)
    out = []
    # inline ops: only XLA-compiled steps call this (rows_and_probes probes in its loop otherwise)
    for t, k in zip(tensors, kinds):
        if k is None:
            out.append(nan2)
            continue
        x = _prepare(t)
        x = tf.reshape(x, [-1, tf.shape(x)[-1]])
        b = tf.constant(_BOUNDS[k], x.dtype) if k in _BOUNDS else None
        out.append(_probe_one(x, b))
    return tf.stack(out) if out else tf.zeros([0, PROBE_COLUMNS], tf.float64)


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


def _norm(d) -> tf.Tensor:
    """``||d||`` (L2) of a flat vector, in float64, from sums in ``d``'s own dtype (no
    float64 copy): the values are divided by the largest magnitude first, so the squares
    neither overflow nor underflow (0 for an empty or all-zero ``d``; NaN or Inf when
    ``d`` holds them)."""
    m = tf.reduce_max(tf.abs(d))  # the lowest float for an empty d
    s = tf.where((m > 0) & tf.math.is_finite(m), m, tf.ones([], d.dtype))
    return tf.sqrt(tf.cast(tf.reduce_sum(tf.square(d / s)), tf.float64)) * tf.cast(s, tf.float64)


def update_scalars(afters, before, origin, ratio) -> tf.Tensor:
    """``[T, UPDATE_COLUMNS]`` float64 for the weights ``afters`` (one compute dtype, static
    shapes, as they are after an update), with ``before`` and ``origin`` flat vectors of
    their values side by side (the buffers ``_tf2`` keeps: before the update, and at the
    watch's first sampled step): per weight, :func:`update_ratio` where ``ratio[t]``
    (NaN elsewhere), ``||after - before||`` (the update's size) and
    ``||before - origin||`` (the distance the weights the update started from have
    travelled). One call op outside XLA, whatever ``T``: one pass of the fused loop."""
    afters = [_prepare(a) for a in afters]
    if not afters:
        return tf.zeros([0, UPDATE_COLUMNS], tf.float64)
    if _compat.in_xla_context() or tf.executing_eagerly():
        xla = _compat.in_xla_context()
        out, at = [], 0
        nan = tf.constant(np.nan, tf.float64)
        for a, want in zip(afters, ratio):
            n = a.shape.num_elements()
            x, b, o = tf.reshape(a, [-1]), before[at : at + n], origin[at : at + n]
            if xla:
                # both norms in one reduction, the squares summed in float64 (XLA fuses the
                # cast: no copy): each reduction costs XLA compile time, ~70 ms on a CPU
                d = tf.cast(tf.stack([x - b, b - o]), tf.float64)
                norms = tf.unstack(tf.sqrt(tf.reduce_sum(tf.square(d), axis=1)))
            else:
                norms = [_norm(x - b), _norm(b - o)]
            out.append(tf.stack([_ratio_one(x, b) if want else nan, *norms]))
            at += n
        return tf.stack(out)
    after, sizes, _ = _segments(afters, keep_order=True)  # laid out as flat_values lays ``before``
    with _compat.function_call_config(_compat.NO_GRAPPLER):
        return _loop_fn("ratios", after.dtype)(after, before, origin, sizes, tf.constant([int(bool(w)) for w in ratio], tf.int32))


def update_ratio(after, before) -> tf.Tensor:
    """std(after - before) / std(before) in float64 (NaN when std(before) is 0): the
    size of one update next to the size of the weights. In a graph, use
    :func:`update_scalars` (one call op for all the weights)."""
    return _ratio_one(tf.convert_to_tensor(after), tf.convert_to_tensor(before))
