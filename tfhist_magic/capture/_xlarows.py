"""Under XLA, the rows of the tensors known to be large when the step is traced: one loop
over the chunks of all of them, whatever their number.

XLA compiles every loop and every ``cond`` it is given. Binning each large tensor in
loops of its own (as outside XLA) made a compile, and a trace, grow with the number of
large tensors: about 0.4 s of XLA compile and 0.3 s of Python tracing each, on this
project's machine, against the few seconds a model's step itself takes. Here the chunks
of all the large tensors of one compute dtype are the iterations of two loops (their
finite range, then their counts): a table says which tensor each chunk is read from and
where, and a ``switch_case`` whose branches only slice picks it. The binning itself is
traced and compiled once. A tensor's last chunk is padded to the chunk's size with NaN,
which the masked count leaves out of every count but the NaN count, from which the
padding is taken back.

Exactness: counts, non-finite counts, zeros, min, max and width are the rule's
(``_rule.one_row``) bit for bit, as on every path; mean and std differ from the graph
path's only in summation order (other chunks). Nothing a tensor's size is made: the
temporaries are a chunk's.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from . import _many
from ._rule import PART, count_part, finite_range, merged_row, shared_range

__all__ = ["CHUNKS", "chunk_for", "large_rows"]

#: The chunk sizes the loop picks from (:func:`chunk_for`): a tensor's last chunk is padded
#: up to the chunk, so a small chunk wastes less on tensors just above
#: ``_many.SMALL_MAX`` values, and a large one takes fewer iterations over big tensors.
CHUNKS = (1 << 16, 1 << 17, 1 << 18)
#: What a padded value and an iteration cost, roughly (XLA on this project's CPU: about
#: 7 ns a value binned, 0.1 ms an iteration of the loop and its switch).
_VALUE_COST, _ITERATION_COST = 7e-9, 1e-4


def chunk_for(sizes: list) -> int:
    """The chunk of :data:`CHUNKS` (at most ``_many.CHUNK``) at which the values read,
    padding included, and the iterations cost least."""

    def cost(c):
        chunks = sum(-(-n // c) for n in sizes)
        return chunks * (c * _VALUE_COST + _ITERATION_COST)

    return min(min(CHUNKS, key=cost), _many.CHUNK)


def _table(sizes: list, chunk: int):
    """Per chunk ``[branch, start, tensor, padding]`` and per branch ``(tensor, tail)``
    (tail: the static length of a tensor's last, partial chunk; 0: a whole chunk at a
    moving start)."""
    rows, branches = [], []
    for j, n in enumerate(sizes):
        whole, tail = divmod(n, chunk)
        if whole:
            rows += [[len(branches), i * chunk, j, 0] for i in range(whole)]
            branches.append((j, 0))
        if tail:
            rows.append([len(branches), whole * chunk, j, chunk - tail])
            branches.append((j, tail))
    return np.array(rows, np.int64), branches


def large_rows(xs: list, bins: int) -> tf.Tensor:
    """``[T, bins + 10]`` float64: the rows of the flat tensors ``xs`` (one compute dtype,
    each of a size known when the step is traced), in order."""
    cd = xs[0].dtype
    sizes = [tf.TensorShape(x.shape).num_elements() for x in xs]
    chunk = chunk_for(sizes)
    rows, branches = _table(sizes, chunk)
    index = _many.index_dtype(max(sizes), chunk)
    table = tf.constant(rows, index)
    nan = tf.constant(np.nan, cd)
    T = len(xs)

    def take(k):
        b, start = table[k, 0], table[k, 1]

        def branch(j, tail):
            if tail:
                at = sizes[j] - tail
                return lambda: tf.pad(xs[j][at:], [[0, chunk - tail]], constant_values=nan)
            return lambda: tf.slice(xs[j], tf.reshape(start, [1]), [chunk])

        fns = [branch(j, tail) for j, tail in branches]
        return fns[0]() if len(fns) == 1 else tf.switch_case(tf.cast(b, tf.int32), fns)

    def loop(body, init):
        return tf.while_loop(lambda k, _: k < len(rows), lambda k, acc: (k + 1, body(k, acc)), (tf.constant(0, index), init), parallel_iterations=1)[1]

    def mine(k):  # [T] bool: the tensor chunk k is read from
        return tf.equal(tf.range(T, dtype=index), table[k, 2])

    def ranges(k, r):
        got = finite_range(take(k))
        return tf.where(mine(k)[:, None], tf.stack([tf.minimum(r[:, 0], got[0]), tf.maximum(r[:, 1], got[1])], 1), r)

    r = loop(ranges, tf.tile(tf.constant([[np.inf, -np.inf]], tf.float64), [T, 1]))
    lo, w, large = shared_range(r[:, 0], r[:, 1], bins, cd)
    pad_col = tf.one_hot(bins, bins + PART, dtype=tf.float64)  # the NaN count's column

    def counts(k, acc):
        j = table[k, 2]
        part = count_part(take(k), tf.gather(lo, j), tf.gather(w, j), tf.gather(large, j), bins)
        part -= pad_col * tf.cast(table[k, 3], tf.float64)
        return tf.where(mine(k)[:, None], acc + part, acc)

    p = loop(counts, tf.zeros([T, bins + PART], tf.float64))
    return merged_row(p, r[:, 0], r[:, 1], lo, w, large, bins, cd)
