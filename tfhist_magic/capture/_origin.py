"""The origin of each weight: its values at the watch's first sampled step that updated it
(w0), what the ``init_distance`` scalar ``||w - w0||`` is measured from.

Owns the device buffers that hold the origins for the whole watch, across recompiles, new
optimizers and new rings (:class:`Origins`, one per engine; empty with
``init_distance=False``), and where a list of weights finds its origins in them
(:class:`Origin`). Filled in a sampled branch (``_traced``) or eagerly (``_eager``);
read by the update scalars. The buffers go when the watch closes.
"""

from __future__ import annotations

import tensorflow as tf

from . import _compat
from ._ops import flat_values, prepare

__all__ = ["Origins", "Origin", "flat"]


def flat(tensors, cd) -> tf.Tensor:
    """The values of ``tensors`` (variables, tensors) in ``cd``, flat, side by side, as
    the update scalars read them (``|z|`` of complex)."""
    return flat_values([tf.cast(prepare(v), cd) for v in tensors])


class _Buffer:
    """The origins of some weights of one compute dtype: one flat device buffer of their
    values side by side, filled once (a flag on the device says whether it was)."""

    def __init__(self, variables, cd):
        self.variables = list(variables)
        self.sizes = [tf.TensorShape(v.shape).num_elements() for v in self.variables]
        with tf.init_scope():
            self.buf = _compat.buffer_variable(tf.zeros([sum(self.sizes)], cd), "tfhist_w0")
            self.filled = _compat.buffer_variable(tf.constant(0, tf.int64), "tfhist_w0_filled")

    def fill_once(self, reads=None) -> None:
        """Fill the buffer with ``reads`` (the variables' values as this step reads them;
        read here when None) unless it is filled already (the values side by side are
        made in the branch that fills, once a watch)."""

        def fill():
            self.buf.assign(flat(reads if reads is not None else self.variables, self.buf.dtype))
            self.filled.assign(tf.constant(1, tf.int64))
            return tf.constant(True)

        tf.cond(self.filled > 0, lambda: tf.constant(False), fill)


class Origin:
    """Where the origins of a list of weights (one compute dtype) lie: in one or several
    of the engine's buffers."""

    def __init__(self, variables, parts):
        self.variables = variables
        self.parts = parts  # per variable: (buffer, offset, size)
        self.buffers = list({id(b): b for b, _, _ in parts}.values())
        one = self.buffers[0] if len(self.buffers) == 1 else None
        # the common case: one buffer laid out as these weights are (the first ring, a recompile)
        self.whole = one is not None and [id(v) for v in one.variables] == [id(v) for v in variables]

    def fill_once(self, reads) -> None:
        """Fill the buffers not filled yet; ``reads``: these weights' values now."""
        for b in self.buffers:
            b.fill_once(reads if self.whole else None)

    def read(self) -> list:
        """The origin of each weight, flat (slices of the buffers)."""
        return [b.buf[at : at + n] for b, at, n in self.parts]

    def read_flat(self) -> tf.Tensor:
        """The origins of these weights side by side (the buffer itself in the common case)."""
        if self.whole:
            return self.buffers[0].buf.read_value()
        return tf.concat(self.read(), 0)


class Origins:
    """Every origin one watch keeps: ``id(weight) -> (buffer, offset, size)``."""

    def __init__(self, enabled: bool = True):
        self.enabled = bool(enabled)
        self._at: dict = {}

    def of(self, cd, variables) -> Origin | None:
        """Where the origins of ``variables`` (one compute dtype) lie, a buffer made now
        for those that have none yet (their first sampled update fills it); None when
        the distance from the origin is not measured (``init_distance=False``)."""
        if not self.enabled:
            return None
        new = [v for v in variables if id(v) not in self._at]
        if new:
            b = _Buffer(new, cd)
            at = 0
            for v, n in zip(new, b.sizes):
                self._at[id(v)] = (b, at, n)
                at += n
        return Origin(variables, [self._at[id(v)] for v in variables])

    def clear(self) -> None:
        self._at.clear()
