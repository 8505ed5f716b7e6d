"""One optimizer update as the TF2 engine records it, before either path takes it.

Owns :class:`Update` (what the engine gathered of an update: its step, its tensors per
kind, how their rows are made, which weights get update scalars), the non-finite check
(:func:`all_finite`, :class:`NonFiniteCheck`) and the values before an update
(:class:`Before`): outside XLA the sampled branch's reads, held as one ``TensorList`` per
compute dtype (and group of weights, :func:`groups_of`) until the update scalars are measured (the update's own writes copy a
buffer still read: TensorFlow's copy-on-write, so a weight's old values live from its
update to its scalars, on sampled steps only); under XLA, where a branch cannot hand on
tensors of another shape, a buffer per dtype.

Builds graph ops only where a path (``_traced``, ``_eager``) asks; writes nothing to a
Recording.
"""

from __future__ import annotations

from typing import Callable

import tensorflow as tf

from . import _compat
from ._base import ratio_of
from ._many import tensor_list
from ._ops import compute_dtype, prepare, rows_and_probes
from ._scalars import update_scalars, update_scalars_listed
from ._origin import Origins, flat

__all__ = ["Update", "Before", "groups_of", "NonFiniteCheck", "all_finite", "applied", "befores", "measured_rows", "rows_maker", "own_function"]


class Update:
    """One recorded update, as the engine hands it to a path.

    Attributes:
        opt: the optimizer.
        key: the graph the update is traced in (None: eager).
        step: int64 scalar tensor, the update's step on its model's timeline.
        names, tensors: kind -> tensor names / tensors, in row order.
        model: the label its global gradient norm goes under.
        rows_of: ``fn(live, read) -> [T, bins + 10 + PROBE_COLUMNS]``: the rows of every
            tensor, from ``live`` (this trace's tensors) and ``read(variable)``; its
            ``key``: what its trace depends on beside its inputs (:mod:`._shared`).
        live: this trace's tensors the rows read (kind -> tensors, ``"scale"``).
        checked: the tensors the non-finite check reads (gradients, the loss).
        check: the check, a bool tensor (None: nothing to check); made by the path
            unless ``inline``.
        measured: ``[(row, variable, ratio)]`` (:func:`measured_rows`).
        chief: keeps what it records (False: a worker that only joins the reductions).
        inline: recorded inline, ``check`` made already (the cross-replica merge).
        not_dense: ids of the variables whose gradient is None (Keras skips their update)
            or ``IndexedSlices``.
    """

    __slots__ = ("opt", "key", "step", "names", "tensors", "model", "rows_of", "live", "checked", "check", "measured", "chief", "inline", "not_dense")

    def __init__(self, opt, key, step, names, tensors, model, rows_of, *, live=None, checked=(), check=None, measured=(), chief=True, inline=False, not_dense=()):
        self.opt, self.key, self.step, self.model, self.rows_of = opt, key, step, model, rows_of
        self.names, self.tensors, self.live = names, tensors, live if live is not None else {}
        self.checked, self.check, self.measured = list(checked), check, list(measured)
        self.chief, self.inline, self.not_dense = chief, inline, set(not_dense)

    @property
    def dtypes(self) -> dict:
        return {k: [compute_dtype(tf.as_dtype(t.dtype)).name for t in self.tensors[k]] for k in self.names}


def applied(g, scale):
    """The gradient the optimizer applies: dense, without the loss scale."""
    g = tf.convert_to_tensor(g)  # densifies IndexedSlices
    return g if scale is None else g / scale


def rows_maker(names: dict, tensors: dict, bins: int, kinds_of: list) -> Callable:
    """``rows_of(live, read)`` for an update: the weights read where the rows are made,
    the gradients densified and unscaled there (the sampled branch), so unsampled steps
    pay nothing for them."""

    def rows_of(live, read=tf.convert_to_tensor):
        def values(kind):
            if kind == "weights":
                return [read(v) for v in tensors[kind]]
            if kind == "grads":
                return [applied(g, live.get("scale")) for g in live[kind]]
            return live[kind]

        return rows_and_probes([t for kind in names for t in values(kind)], bins, kinds_of)

    rows_of.key = (tuple((k, len(v)) for k, v in names.items()), tuple(kinds_of), int(bins))  # what its trace depends on beside its inputs
    return rows_of


def all_finite(tensors):
    """A bool scalar: every value of ``tensors`` (gradients, the loss) is finite; None when
    there is nothing to check. One pass over each tensor, its sum (NaN or Inf anywhere
    makes the sum so; finite values whose sum passes the dtype's range count as Inf too,
    gradients that have exploded already), then one check of the total."""
    sums = []
    for t in tensors:
        if t is None:
            continue
        if isinstance(t, tf.IndexedSlices):
            t = t.values
        t = tf.convert_to_tensor(t)
        if t.dtype.is_complex:
            t = tf.math.real(t) + tf.math.imag(t)
        if t.dtype.is_floating:
            sums.append(tf.cast(tf.reduce_sum(t), tf.float32))
    if not sums:
        return None
    return tf.math.is_finite(sums[0] if len(sums) == 1 else tf.add_n(sums))


class NonFiniteCheck:
    """A device scalar: the first step whose check (every gradient, and the loss, all
    finite) failed. Written every step inside the step's own graph (no host sync), read
    on flush."""

    def __init__(self):
        with tf.init_scope():
            self.var = _compat.buffer_variable(tf.constant(-1, tf.int64), "tfhist_first_nonfinite")
        self.reported = -1

    def first(self, step, ok):
        """A bool tensor: ``step`` is the first whose check ``ok`` failed (and note it)."""
        new = (self.var < 0) & tf.logical_not(ok)
        self.var.assign(tf.where(new, tf.cast(step, tf.int64), self.var))
        return new

    def read(self) -> int:
        return int(self.var.numpy())

    def news(self) -> int | None:
        """The first non-finite step, the first time it is read, else None."""
        bad = self.read()
        if bad < 0 or bad == self.reported:
            return None
        self.reported = bad
        return bad


def measured_rows(names: dict, tensors: dict) -> list:
    """``[(row, variable, ratio)]`` of the weights with a static shape among
    ``tensors["weights"]``, ``row`` their index in the rows (kinds in ``names`` order):
    those whose update norm and distance from the origin are measured; ``ratio`` for the
    weight matrices, whose update ratio is measured too."""
    start = 0
    for kind in names:
        if kind == "weights":
            break
        start += len(names[kind])
    out = []
    for i, (n, v) in enumerate(zip(names.get("weights", ()), tensors.get("weights", ()))):
        sh = tf.TensorShape(v.shape)
        if sh.is_fully_defined():
            out.append((start + i, v, ratio_of(n, sh.rank)))
    return out


#: Where an optimizer's update of each weight can be observed (Keras 3), the weights are
#: measured in groups, each right after the update of its last weight, so the old values
#: alive at once are one group's: groups of at most this share of the measured weights'
#: bytes (one weight when it is larger), never split below GROUP_FLOOR bytes: each group
#: is one more small function in every new trace, worth it where the old values weigh.
GROUP_SHARE = 0.25
GROUP_FLOOR = 64 * 2**20


def groups_of(measured) -> list:
    """``measured`` (in update order) cut into runs of at most ``max(GROUP_SHARE x their
    bytes, GROUP_FLOOR)`` bytes, or one weight each where a weight is larger."""
    share, floor = GROUP_SHARE, GROUP_FLOOR
    sizes = [tf.TensorShape(v.shape).num_elements() * tf.as_dtype(v.dtype).size for _, v, _ in measured]
    cap = max(sum(sizes) * share, floor)
    out, held = [[]], 0
    for m, n in zip(measured, sizes):
        if out[-1] and held + n > cap:
            out.append([])
            held = 0
        out[-1].append(m)
        held += n
    return out


def by_dtype(measured) -> list:
    """``measured`` split per compute dtype: ``[(cd, [(row, variable, ratio)])]``."""
    out = []
    for cd in (tf.float32, tf.float64):
        pick = [(i, v, r) for i, v, r in measured if compute_dtype(tf.as_dtype(v.dtype)) == cd]
        if pick:
            out.append((cd, pick))
    return out


class Before:
    """One compute dtype's weights whose update scalars a ring measures: their rows, the
    variables, which get an update ratio, where their origins lie, and how their values
    before a sampled update reach the code after it (see the module doc)."""

    __slots__ = ("rows", "variables", "ratio", "origin", "buf", "dtype", "group", "at_write")

    def __init__(self, rows, variables, ratio, origin, group: int = 0, at_write: bool = False):
        self.rows, self.variables, self.ratio, self.origin, self.group = rows, variables, ratio, origin, group
        self.at_write = at_write  # one weight, measured as the optimizer writes it: nothing held
        self.buf = None
        self.dtype = compute_dtype(tf.as_dtype(variables[0].dtype))

    def ensure_buffer(self) -> None:
        """Under XLA, the values before the update go to a buffer (made once): an XLA
        branch cannot hand on tensors whose shape the other branch does not have."""
        if self.buf is None:
            size = sum(tf.TensorShape(v.shape).num_elements() for v in self.variables)
            with tf.init_scope():
                self.buf = _compat.buffer_variable(tf.zeros([size], self.dtype), "tfhist_before")

    def hold(self, read):
        """In the sampled branch: fill the origins (the first sampled step that reads these
        weights) and hand on their values now, ``read(variable)``: a list outside XLA, a
        placeholder under XLA (the buffer holds them) and where the weight is measured as
        the optimizer writes it (nothing is held)."""
        values = [read(v) for v in self.variables]
        if self.origin is not None:
            self.origin.fill_once(values)
        if self.buf is not None:
            self.buf.assign(flat(values, self.buf.dtype))
        if self.buf is not None or self.at_write:
            return tf.zeros([])
        return tensor_list([prepare(t) for t in values], self.dtype)

    def nothing(self):
        """What the branch that does not sample hands on in :meth:`hold`'s place."""
        return tf.zeros([]) if self.buf is not None or self.at_write else tensor_list([], self.dtype)

    def scalars(self, held, std) -> tf.Tensor:
        """After the update: ``[T, UPDATE_COLUMNS]`` from the values :meth:`hold` handed on
        and the rows' std of each weight before it."""
        afters = [tf.convert_to_tensor(v) for v in self.variables]
        if self.buf is None:
            origin = self.origin.read_flat() if self.origin is not None else None
            return update_scalars_listed(afters, held, origin, self.ratio, std)
        sizes = [tf.TensorShape(v.shape).num_elements() for v in self.variables]
        values = self.buf.read_value()
        origins = self.origin.read() if self.origin is not None else None
        return update_scalars(afters, tf.split(values, sizes) if len(sizes) > 1 else [values], origins, self.ratio, std)


def befores(measured, origins: Origins, grouped: bool = False, at_write=frozenset()) -> list:
    """For the weights ``measured``, per compute dtype, a :class:`Before`; ``grouped``:
    per group of :func:`groups_of` and compute dtype; those whose id is in ``at_write``
    one each, measured as the optimizer writes them (groups -1, -2, ...)."""
    out = []
    for k, (i, v, r) in enumerate(m for m in measured if id(m[1]) in at_write):
        out.append(Before([i], [v], [r], origins.of(compute_dtype(tf.as_dtype(v.dtype)), [v]), -1 - k, at_write=True))
    measured = [m for m in measured if id(m[1]) not in at_write]
    for g, part in enumerate(groups_of(measured) if grouped else [measured]):
        for cd, pick in by_dtype(part):
            variables = [v for _, v, _ in pick]
            out.append(Before([i for i, _, _ in pick], variables, [r for _, _, r in pick], origins.of(cd, variables), g))
    return out


def own_function(fn):
    """``fn`` as a ``tf.function`` of this package's (no AutoGraph; the trace swap leaves
    it alone): traced once for its arguments' types, its call op inlined when the step
    that calls it runs."""
    # reduce_retracing: a later trace whose tensors differ only in a dimension (the batch)
    # reuses a trace with that dimension unknown
    # equal constants merged: fewer nodes for every training function to instantiate
    return _compat.mark_own(tf.function(_compat.with_shared_constants(fn), autograph=False, reduce_retracing=True))
