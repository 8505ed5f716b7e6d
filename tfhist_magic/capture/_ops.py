"""The in-graph rows of a step's tensors on every path.

Owns which routine computes the rows of a set of tensors where a capture path asks for
them: ``snapshot_rows(tensors, bins)`` and ``rows_and_probes`` add, to whatever graph (or
eager context) is current, one float64 row of ``bins + 10`` numbers per tensor (laid out
as ``tfhist_magic.histogram`` describes, with the rule of ``_rule``), and its probe
columns; ``merged_rows`` does the same for tensors spread over ``tf.distribute``
replicas. What an optimizer update did to the weights is :mod:`._scalars`'.

* Outside XLA, the tensors of a compute dtype are binned a size class at a time by one
  cached function (``_many.grouped_fn``: one call op per dtype in a training trace,
  whatever the number of tensors), and a tensor known to be large is binned where it
  lies, one at a time (``_many.large_fn``), never copied into a concatenation.
* Under XLA (``jit_compile=True``, Keras' default for ``fit`` on a GPU), the tensors of
  one dtype known to be large when the step is traced are binned a chunk at a time in one
  loop over all of them (``_xlarows.large_rows``), the others in one fused computation
  (``_many.rows_fused``).

Only element-wise ops, reductions, gathers from the edges and a count on every path: no
host round trip, no py_function.
"""

from __future__ import annotations

import contextlib
import logging

import numpy as np
import tensorflow as tf

from .. import histogram as H
from . import _compat
from ._many import SMALL_MAX, grouped_fn, large_fn, rows_fused, tensor_list
from ._xlarows import large_rows
from ._rule import (
    BOUNDS,
    PART,
    count_part,
    finite_range,
    merged_row,
    shared_range,
    PROBE_COLUMNS,
    SATURATION_MARGIN,
    compute_dtype,
    prepare,
    probe_one,
)

__all__ = [
    "snapshot_rows", "rows_and_probes", "merged_rows", "probes", "probe_kind", "flat_values",
    "compute_dtype", "prepare", "PROBE_COLUMNS", "SATURATION_MARGIN",
]



def _snapshot_rows_xla(flat: list, bins: int) -> tf.Tensor:
    """Under XLA, per compute dtype: the tensors known to be above :data:`SMALL_MAX` values
    when the step is traced in one loop over all their chunks (``_xlarows.large_rows``: no
    copy of them, one compile whatever their number); the others in one fused
    computation; rows in input order."""
    out = [None] * len(flat)
    for cd in (tf.float32, tf.float64):
        mine = [i for i, t in enumerate(flat) if t.dtype == cd]
        large = [i for i in mine if (tf.TensorShape(flat[i].shape).num_elements() or 0) > SMALL_MAX]  # unknown when traced (a batch): fused
        rest = [i for i in mine if i not in large]
        for idx, make in ((large, large_rows), (rest, rows_fused)):
            if idx:
                rows = make([tf.reshape(flat[i], [-1]) for i in idx], bins)
                for r, i in enumerate(idx):
                    out[i] = rows[r]
    return tf.stack(out)


def probe_kind(t, bounded: str | None) -> str | None:
    """What :func:`snapshot_rows` can probe in activation ``t``: "units" (dead units) for an
    output of rank >= 2, "tanh"/"sigmoid" when it is also that function's; else None."""
    shape = tf.TensorShape(t.shape)
    if shape.rank is None or shape.rank < 2 or not shape[-1]:  # unknown or no units
        return None
    return bounded if bounded in BOUNDS and tf.as_dtype(t.dtype).is_floating else "units"


def snapshot_rows(tensors, bins: int) -> tf.Tensor:
    """Rows for several tensors: shape ``[len(tensors), bins + 10]``, in input order."""
    flat = [prepare(t) for t in tensors]
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


def _probe_args(t, kind, cd: tf.DType):
    """A tensor's probe arguments: its number of units (0: no probe; a scalar tensor when
    its last axis is not known until the step runs) and its bounds."""
    units = 0
    if kind is not None:
        units = tf.TensorShape(t.shape)[-1]
        units = int(units) if units is not None else tf.shape(t, out_type=tf.int32)[-1]
    return units, BOUNDS.get(kind, (np.nan, np.nan))


def _int_vector(values) -> tf.Tensor:
    """An int32 vector of Python ints and scalar tensors (a constant when all are ints)."""
    if all(isinstance(v, int) for v in values):
        return tf.constant(values, tf.int32)
    return tf.stack([tf.constant(v, tf.int32) if isinstance(v, int) else v for v in values])


def rows_and_probes(tensors, bins: int, kinds) -> tf.Tensor:
    """``[T, bins + 10 + PROBE_COLUMNS]`` float64: each tensor's row and its probe columns
    (:func:`probes`; ``kinds[t]`` from :func:`probe_kind`, None for no probe), in input
    order. Outside XLA, per compute dtype: the tensors known to be large when the step is
    traced are binned where they lie, one at a time, by one call of ``_many.large_fn``
    (never copied into a concatenation); the others side by side in one call of ``_many.grouped_fn``,
    which bins them a size class at a time."""
    bins = int(bins)
    flat = [prepare(t) for t in tensors]
    if not flat:
        return tf.zeros([0, bins + H.EXTRA + PROBE_COLUMNS], tf.float64)
    if _compat.in_xla_context():
        return tf.concat([_snapshot_rows_xla(flat, bins), probes(flat, kinds)], 1)

    def each(idx, ts):
        cd = ts[0].dtype
        sizes = [tf.TensorShape(t.shape).num_elements() for t in ts]
        large = [j for j, n in enumerate(sizes) if n is not None and n > SMALL_MAX]
        rest = [j for j, n in enumerate(sizes) if n is None or n <= SMALL_MAX]
        parts, order = [], []
        if rest:
            values, seg_sizes, perm = _segments([ts[j] for j in rest])  # the tensors of one shape together
            order = [rest[p] for p in perm]
            args = [_probe_args(ts[j], kinds[idx[j]], cd) for j in order]
            units = _int_vector([u for u, _ in args])
            bounds = tf.constant(np.array([b for _, b in args], cd.as_numpy_dtype).reshape(-1, 2))
            parts.append(grouped_fn(cd, bins)(values, seg_sizes, units, bounds))
        if large:
            args = [_probe_args(ts[j], kinds[idx[j]], cd) for j in large]
            units = _int_vector([u for u, _ in args])
            bounds = tf.constant(np.array([b for _, b in args], cd.as_numpy_dtype).reshape(-1, 2))
            parts.append(large_fn(cd, bins)(tensor_list([ts[j] for j in large], cd), units, bounds))
            order += large
        rows = parts[0] if len(parts) == 1 else tf.concat(parts, 0)
        return rows if order == sorted(order) else tf.gather(rows, np.argsort(order).astype(np.int32))  # back in input order

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



def _part_fn(which: str, cd: tf.DType, bins: int):
    """The cached one-tensor function of one round (one call op per
    tensor in a traced step, traced once per process)."""
    if which == "range":
        body, sig = finite_range, [tf.TensorSpec([None], cd)]
    else:
        body = lambda x, lo, w, large: count_part(x, lo, w, large, bins)  # noqa: E731
        sig = [tf.TensorSpec([None], cd), tf.TensorSpec([], cd), tf.TensorSpec([], cd), tf.TensorSpec([], tf.bool)]
    return _compat.cached(("part", which, cd, bins), body, sig)


def _range_part(flat: list) -> tf.Tensor:
    """``[2 T]`` float64: each tensor's finite min and max."""
    with _compat.function_call_config(_compat.NO_GRAPPLER):
        return tf.concat([_part_fn("range", x.dtype, 0)(x) for x in flat], 0)


def _global_range(flat: list, mn, mx, bins: int):
    """Per tensor: ``lo, w`` in its compute dtype and whether sums are scaled (as in :func:`one_row`)."""
    return [shared_range(mn[t], mx[t], bins, x.dtype) for t, x in enumerate(flat)]


def _count_part(flat: list, ranges, bins: int) -> tf.Tensor:
    """``[T (bins + 8)]`` float64: one replica's :func:`count_part` of every tensor."""
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
    flats = [[prepare(tf.reshape(t, [-1])) for t in ts] for ts in per_replica]
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
    n_counts = T * (bins + PART)
    rows = tf.reshape(parts[:n_counts], [T, bins + PART])
    rows = [merged_row(rows[t], mn[t], mx[t], lo, w, large, bins, x.dtype) for t, (x, (lo, w, large)) in enumerate(zip(flats[0], shared))]
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
            out.append((t, int(units), BOUNDS.get(k)))
    return out


def _probe_counts(x, units: int, bounds) -> tf.Tensor:
    """``[units + 2]`` float64 for one replica's share ``x`` of an activation: 1 for each
    unit non-zero on some example (as :func:`probe_one`: NaN counts as active), the
    number of values within :data:`SATURATION_MARGIN` of ``bounds`` (0 without them),
    and the number of values."""
    x = tf.reshape(prepare(x), [-1, units])
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
        x = prepare(t)
        x = tf.reshape(x, [-1, tf.shape(x)[-1]])
        b = tf.constant(BOUNDS[k], x.dtype) if k in BOUNDS else None
        out.append(probe_one(x, b))
    return tf.stack(out) if out else tf.zeros([0, PROBE_COLUMNS], tf.float64)
