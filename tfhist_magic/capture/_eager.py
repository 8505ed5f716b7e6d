"""The eager path: an update run eagerly (``run_eagerly=True``, a custom eager loop).

Owns what an eager update records: its check (one device scalar for the engine's eager
updates), the rows of a sampled step (or of the first non-finite one) computed now and
delivered as one :class:`~tfhist_magic.block.Block`, copies of the measured weights
before the update (and their origins, filled at the first sampled step), then their
update scalars as a second Block once the optimizer ran. Also :func:`record_now`: rows
computed now for a snapshot, the final weights or a phase's end. Touches the Recording
only through ``deliver``.
"""

from __future__ import annotations

import time

import numpy as np
import tensorflow as tf

from ..block import Block, deliver
from . import _base
from ._ops import PROBE_COLUMNS, compute_dtype, snapshot_rows
from ._rule import prepare
from ._scalars import update_scalars
from ._update import NonFiniteCheck, Update, by_dtype

__all__ = ["record", "record_now", "rows_now", "EagerChecks"]


#: Rows computed now (the final weights at a watch's exit, ``%tfhist model``) of at most
#: this many values in all come from NumPy (:func:`._base.host_rows`, subnormals flushed
#: as a CPU step flushes them). The device computation reuses the cached row functions,
#: but instantiates them again for each new set of shapes and after every
#: ``tf.random.set_seed`` (which clears TensorFlow's eager caches): ~150 ms for the bench
#: MLP's 536k values, against 49 ms from NumPy and 16-24 ms once instantiated (one-off
#: measurements, docs/performance.md). The two cross near 2M values.
HOST_ROWS_MAX = 2 * 2**20


def rows_now(tensors, bins: int) -> tuple[np.ndarray, list[str]]:
    """``([T, bins + 10], dtypes)`` of ``tensors`` (eager) computed now
    (:func:`._base.rows_now`): with NumPy up to :data:`HOST_ROWS_MAX` values, else on the
    device with the cached row functions."""
    dtypes = [compute_dtype(tf.as_dtype(t.dtype)).name for t in tensors]  # as a step names them
    flat = [prepare(t) for t in tensors]
    on_cpu = lambda t: "CPU" in t.device  # noqa: E731
    return _base.rows_now(flat, bins, host_max=HOST_ROWS_MAX, on_cpu=on_cpu, on_device=lambda ts, b: snapshot_rows(ts, b).numpy()), dtypes


def record_now(rec, kind: str, names: list, tensors: list, step: int) -> None:
    """Compute the rows of ``tensors`` now and deliver them to ``rec`` at ``step``."""
    _base.record_now(rec, kind, names, tensors, step, rows_now)


class EagerChecks:
    """The non-finite check of an engine's eager updates (made at the first one)."""

    def __init__(self):
        self.check: NonFiniteCheck | None = None

    def first(self, step, ok) -> bool:
        if self.check is None:
            self.check = NonFiniteCheck()
        return bool(self.check.first(step, ok).numpy())

    def news(self) -> int | None:
        return None if self.check is None else self.check.news()


def record(engine, u: Update):
    """Record ``u`` now: its rows on a sampled (or first non-finite) step, delivered at
    once; what :meth:`After.finish` measures once the update ran, or None."""
    forced = engine.eager_checks.first(u.step, u.check) if u.check is not None else False
    k = int(u.step.numpy())
    sampled = k % engine.every == 0
    if not (sampled or forced):
        return None
    data = u.rows_of(u.live).numpy()  # the host reads the rows now anyway
    wall = time.time()
    if not u.chief:
        return None
    b = Block(model=u.model, steps=[k], walls=[wall], names=u.names, dtypes=u.dtypes, nonfinite=engine.eager_checks.news())
    start = 0
    for kind, names in u.names.items():
        part = data[start : start + len(names)]
        b.rows[kind], b.probes[kind] = part[None, :, :-PROBE_COLUMNS], part[None, :, -PROBE_COLUMNS:]
        start += len(names)
    deliver(engine.rec, b)
    if not (u.measured and sampled):
        return None
    return After(engine.rec, k, wall, _held(engine.origins, u))


def _held(origins, u: Update) -> list:
    """Per compute dtype of the measured weights: ``(names, variables, ratio, before,
    origin)``, ``before`` copies (DeepCopy: no read that could alias the updated buffers)
    of their values now; their origins filled if empty."""
    order = [n for kind in u.names for n in u.names[kind]]
    items = []
    for cd, pick in by_dtype(u.measured):
        variables = [v for _, v, _ in pick]
        before = [tf.raw_ops.DeepCopy(x=tf.convert_to_tensor(v)) for v in variables]
        origin = origins.of(cd, variables)
        if origin is not None:
            origin.fill_once(before)
            origin = origin.read()
        items.append(([order[i] for i, _, _ in pick], variables, [r for _, _, r in pick], before, origin))
    return items


class After:
    """An eager update's measured weights before it ran, for its scalars after."""

    __slots__ = ("rec", "step", "wall", "items")

    def __init__(self, rec, step: int, wall: float, items: list):
        self.rec, self.step, self.wall, self.items = rec, step, wall, items

    def finish(self) -> None:
        """The update scalars of the weights, now, delivered at the update's step."""
        names, probes = [], []
        for ns, variables, ratio, before, origin in self.items:
            names += ns
            probes.append(update_scalars([tf.convert_to_tensor(v) for v in variables], before, origin, ratio).numpy())
        if names:
            deliver(self.rec, Block(steps=[self.step], walls=[self.wall], names={"weights": names}, probes={"weights": np.concatenate(probes)[None]}))
