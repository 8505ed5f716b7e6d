"""The device-side ring buffers of a traced training step, and their host reads.

Owns, per optimizer's update as one trace built it, a :class:`Ring`: one
``[R + 1, T, bins + 13]`` buffer for all the tensors of all kinds (each row followed by
its probe columns: what the findings need beyond a histogram, and the weights' update
scalars), the step and wall time of each slot, and the first non-finite step. Sampled
step ``k`` goes to slot ``(k // every) % R``; the last slot holds the first step whose
gradients went non-finite when it is not a sampled one (a forced snapshot, taken once).

:class:`Rings` holds one engine's rings and when the host reads them: every half ring of
sampled steps, or every ``live_interval`` seconds while a live view is shown, driven by
:meth:`Rings.due`, which the engine asks after each ``tf.function`` call. A read turns each ring's new slots
into one :class:`~tfhist_magic.block.Block` and hands it to ``deliver``: the only way its
rows reach the Recording.
"""

from __future__ import annotations

import time

import numpy as np
import tensorflow as tf

from .. import histogram as H
from ..block import Block, deliver
from . import _compat
from ._ops import PROBE_COLUMNS
from ._scalars import UPDATE_COLUMNS
from ._update import NonFiniteCheck, befores

__all__ = ["Ring", "Rings", "RING_BYTES", "COLUMNS", "ring_budget"]

#: Probe columns beside each row in a ring: as many as a kind has.
COLUMNS = max(PROBE_COLUMNS, UPDATE_COLUMNS)
#: Device memory budget for one ring (its slots, the forced one included).
RING_BYTES = 32 * 2**20
#: ... and at most this share of the bytes of the model's trained tensors (its weights, or
#: its gradients), but never below RING_FLOOR: a small model's ring stays small.
RING_SHARE = 0.25
RING_FLOOR = 2 * 2**20


def ring_budget(tensors: dict) -> int:
    """The ring's byte budget for an update that trains ``tensors`` (kind -> tensors)."""
    trained = tensors.get("weights") or tensors.get("grads") or ()
    nbytes = sum((tf.TensorShape(t.shape).num_elements() or 0) * tf.as_dtype(t.dtype).size for t in trained)
    return int(np.clip(nbytes * RING_SHARE, RING_FLOOR, RING_BYTES))


class Ring:
    """Device buffers for one optimizer's updates as one trace built them (see the module
    doc). ``names``: kind -> names, in row order; ``model``: the label the gradient norm
    goes under."""

    def __init__(self, names: dict, bins: int, every: int, budget: int = RING_BYTES, *, dtypes=None, model=None):
        self.names = names
        self.dtypes = dtypes or {}
        self.model: str | None = model
        total = sum(len(v) for v in names.values())
        self.width = bins + H.EXTRA + COLUMNS
        row_bytes = max(1, total) * self.width * 8
        # As many slots as the budget holds (at most 256): the host reads them often
        # enough (every half ring of sampled steps) whatever their number.
        self.ring = int(np.clip(budget // row_bytes - 1, 1, 256))
        self.every = every
        with tf.init_scope():
            slots = self.ring + 1
            self.steps = _compat.buffer_variable(tf.fill([slots], tf.constant(-1, tf.int64)), "tfhist_steps")
            self.walls = _compat.buffer_variable(tf.zeros([slots], tf.float64), "tfhist_walls")
            self.buf = _compat.buffer_variable(tf.zeros([slots, total, self.width], tf.float64), "tfhist_rows")
        # The ring's own functions (``_traced``): made by the first trace that reaches the
        # ring, called by every one (None under XLA and tf.distribute: inline there).
        self.record = None
        self.afters: dict = {}  # group -> its after-update function
        self._befores = None  # per compute dtype: _update.Before
        self.nonfinite = NonFiniteCheck()
        self.last = -1
        self.lost = 0

    def befores(self, measured, origins, grouped: bool = False, at_write=frozenset()) -> list:
        """The :class:`~._update.Before` of the weights ``measured`` (``grouped``: per
        group, see :func:`~._update.groups_of`; ``at_write``: see there), made once per ring."""
        if self._befores is None:
            self._befores = befores(measured, origins, grouped, at_write)
        return self._befores

    def write(self, step, rows, wall, forced):
        """Rows of ``step``, taken at ``wall`` (seconds since the epoch, on the device);
        ``forced``: a non-sampled step written to the last slot."""
        # A scatter, not ``buf[slot].assign``: XLA needs slice bounds to be compile-time
        # constants, so a sliced assign at a moving slot would recompile the step every call.
        regular = tf.cast((step // self.every) % self.ring, tf.int32)
        slot = tf.reshape(tf.where(forced, tf.constant(self.ring, tf.int32), regular), [1])
        pad = self.width - rows.shape[-1]
        if pad:
            rows = tf.pad(rows, [[0, 0], [0, pad]], constant_values=np.nan)
        self.buf.scatter_update(tf.IndexedSlices(rows[None], slot))
        self.steps.scatter_update(tf.IndexedSlices(tf.reshape(step, [1]), slot))
        self.walls.scatter_update(tf.IndexedSlices(tf.reshape(tf.cast(wall, tf.float64), [1]), slot))

    def write_scalars(self, step, indices: list, values):
        """Put the update scalars ``values`` (``[T, UPDATE_COLUMNS]``) of weight rows
        ``indices`` into their probe columns at ``step``."""
        slot = tf.cast((step // self.every) % self.ring, tf.int32)
        col = self.width - COLUMNS
        T, C = len(indices), UPDATE_COLUMNS
        rows = np.repeat(np.asarray(indices, np.int32), C)
        cols = np.tile(np.arange(col, col + C, dtype=np.int32), T)
        at = tf.concat([tf.fill([T * C, 1], slot), tf.constant(np.stack([rows, cols], 1))], 1)
        self.buf.scatter_nd_update(at, tf.reshape(values, [-1]))

    def read(self) -> Block | None:
        """What is new since the last read, in step order, as a Block (None: nothing)."""
        bad = self.nonfinite.news()
        steps = self.steps.numpy()
        new = steps > self.last
        if not new.any():
            return None if bad is None else Block(nonfinite=bad)
        idx = np.flatnonzero(new)[np.argsort(steps[new])]
        got = steps[idx]
        regular = got[idx < self.ring]
        if regular.size == self.ring and regular[0] > self.last + self.every:
            self.lost += int((regular[0] - max(self.last, -self.every) - self.every) // self.every)
        walls = tf.gather(self.walls, idx).numpy()
        data = tf.gather(self.buf, idx).numpy()  # only the new slots cross to the host
        b = Block(model=self.model, steps=got, walls=walls, names=self.names, dtypes=self.dtypes, nonfinite=bad)
        start = 0
        for kind, names in self.names.items():
            part = data[:, start : start + len(names)]
            b.rows[kind], b.probes[kind] = part[..., :-COLUMNS], part[..., -COLUMNS:]
            start += len(names)
        self.last = int(got[-1])
        return b


class Rings:
    """One engine's rings and the throttle of their host reads (see the module doc)."""

    def __init__(self, rec, bins: int, every: int):
        self.rec, self.bins, self.every = rec, bins, every
        self.all: list[Ring] = []
        self._sigs: dict = {}
        self._calls = 0
        self._calls_at_flush = 0
        self._flush_at = 1
        self._last_flush = time.monotonic()
        self._steps_per_call = 1.0

    def __bool__(self) -> bool:
        return bool(self.all)

    def get(self, opt, names: dict, dtypes: dict, model: str, budget: int) -> Ring:
        """The ring of ``opt``'s update of ``names``, made the first time a trace asks."""
        sig = (id(opt), tuple((k, tuple(v)) for k, v in names.items()))
        ring = self._sigs.get(sig)
        if ring is not None:
            return ring
        ring = self._sigs[sig] = Ring(names, self.bins, self.every, budget, dtypes=dtypes, model=model)
        total = sum(len(v) for v in names.values())
        self.rec.status = {"text": f"preparing the recording for {total} tensors", "since": time.time()}
        self.rec.changed()  # a live page says so while the step is traced and compiled
        self.all.append(ring)
        self._flush_at = min(self._flush_at, self._calls + 1)
        return ring

    def due(self, live_interval) -> bool:
        """After every top-level ``tf.function`` call: whether to read the rings now."""
        self._calls += 1
        if self._calls >= self._flush_at:
            return True
        return live_interval is not None and time.monotonic() - self._last_flush > live_interval

    def flush(self, phases) -> None:
        """Deliver every ring's new rows; ``phases``: the timeline's, whose counters say
        how many steps a call runs (the next read comes after half a ring of sampled steps)."""
        for ring in self.all:
            b = ring.read()
            if ring.lost:
                self.rec.note(
                    f"{ring.lost} sampled steps were overwritten on the device before the host read them "
                    f"(ring of {ring.ring} slots, every={self.every}); raise --every to keep up.",
                    key=("lost", id(ring)),
                )
            if b is not None:
                if len(b.steps):
                    self.rec.status = None  # the recording is prepared: its rows arrive
                deliver(self.rec, b)
        self._schedule(phases)

    def _schedule(self, phases) -> None:
        calls_since = max(1, self._calls - self._calls_at_flush)
        advanced = 0
        for st in phases:
            if st.opt() is not None:
                now = int(st.counter.numpy())
                advanced = max(advanced, now - st.flushed)
                st.flushed = now
        if advanced:
            self._steps_per_call = max(1.0, advanced / calls_since)
        ring = min((r.ring for r in self.all), default=16)
        self._calls_at_flush = self._calls
        self._flush_at = self._calls + max(1, int((ring / 2) * self.every / self._steps_per_call))
        self._last_flush = time.monotonic()

    def clear(self) -> None:
        self.all.clear()
        self._sigs.clear()
