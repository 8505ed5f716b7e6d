"""The traced path: an update recorded inside its training step's graph.

Owns the ops a recorded update adds to a trace: before the update, one ``tf.cond`` on
``step % every == 0`` (or the first step whose check failed) whose true branch computes
the rows of every tensor, writes them into the update's :class:`~._ring.Ring`, fills the
origins and hands the weights' values before the update on (:class:`~._update.Before`);
after the update, one ``tf.cond`` per group of weights that measures their update
scalars into the same slot (on Keras 3, a group right after its last weight's update:
:meth:`After.around`). An unsampled step runs the false branches: the check and nothing
else (and, with several groups, the optimizer's updates in that many stages, each after
the previous group's empty branch).

Outside XLA both are the ring's own ``tf.function``s (one call op in each training trace
that reaches it: Keras traces a step twice, and a new trace costs one op per recorded
update, not the per-tensor work again), traced once per structure in a process and shared
by later watches (:mod:`._shared`); under XLA and in the cross-replica merge they are
inlined.

Touches only the ring, the origins and the trace, and, while an update runs, the
optimizer's own methods (:meth:`After.around`: its ``update_step`` and weight decay, and
its ``assign*`` for a weight measured as it is written), each undone when the update has
been traced.
"""

from __future__ import annotations

import contextlib
import time
import warnings

import tensorflow as tf

from .. import histogram as H
from . import _compat, _scalars
from ._patch import Patches
from ._ring import ring_budget
from ._scalars import WRITES, UPDATE_COLUMNS, update_scalars_of_write
from ._shared import State, own_or_shared
from ._update import Update, all_finite, own_function

__all__ = ["record", "XlaClock"]


class XlaClock:
    """XLA has no Timestamp op: XLA-compiled steps record the host time at which the call
    that runs them was made (set by the engine's ``tf.function`` call wrapper)."""

    def __init__(self):
        self.var = None

    def read(self):
        if self.var is None:
            with tf.init_scope():
                self.var = _compat.buffer_variable(tf.constant(time.time(), tf.float64), "tfhist_clock")
        return self.var

    def set_now(self) -> None:
        if self.var is not None:
            self.var.assign(time.time())


def record(engine, u: Update, own: bool):
    """Add ``u``'s recording to the trace; what :meth:`After.finish` measures once the
    update ran (None: no update scalars). ``own``: through the ring's own functions
    (``u.live`` and ``u.checked`` their inputs); else inline, with ``u.check``."""
    ring = engine.rings.get(u.opt, u.names, u.dtypes, u.model, ring_budget(u.tensors))
    per_weight = engine.per_weight(u.opt) if engine.per_weight is not None else None
    at_write = _at_write(u, per_weight)
    befores = ring.befores(u.measured, engine.origins, grouped=per_weight is not None, at_write=at_write) if u.chief and u.measured else []
    xla = _compat.in_xla_context()
    clock = engine.clock.read() if xla else None
    if xla:
        for b in befores:
            if not b.at_write:
                b.ensure_buffer()
    fn = _sampled_fn(u, ring, befores, engine.every, engine.bins + H.STD, clock)
    if own:
        if ring.record is None:
            ring.record = _own(fn, ("record", u.chief, u.rows_of.key), ring, befores, engine.tf_var, weights=u.tensors.get("weights"))
        step, held, stds = ring.record(u.step, u.checked, u.live)
    else:
        step, held, stds = fn(u.step, None, None)
    return After(ring, befores, step, list(held), list(stds), own, engine.every, per_weight, engine.tf_var) if befores else None


def _at_write(u: Update, per_weight) -> frozenset:
    """Ids of the weights of ``u`` measured as the optimizer writes them (:meth:`After.at_write`):
    above :data:`~._scalars.LONG` values (where holding their old values across the
    update weighs), float32/float64, a dense gradient (none: Keras does not update it), no constraint, written once by the
    optimizer's own ``update_step`` (``per_weight``'s fourth item says so)."""
    if per_weight is None:
        return frozenset()
    once = per_weight[3]
    return frozenset(
        id(v)
        for _, v, _ in u.measured
        if tf.TensorShape(v.shape).num_elements() > _scalars.LONG
        and tf.as_dtype(v.dtype) in (tf.float32, tf.float64)
        and getattr(v, "constraint", None) is None
        and id(v) not in u.not_dense
        and once(u.opt, v)
    )


def _sampled_fn(u: Update, ring, befores, every: int, std_col: int, clock):
    """``record(step, checked, live) -> (step, held, stds)``: the check, then the cond
    whose true branch writes the step's rows (``checked``/``live`` None: ``u``'s own)."""

    def record(step, checked, live):
        ok = all_finite(checked) if live is not None else u.check
        sampled = tf.equal(step % every, 0)
        take = sampled if ok is None else sampled | ring.nonfinite.first(step, ok)

        def _sampled():
            reads: dict = {}  # one read of each weight for the rows, the origins and after the update

            def read(v):
                if id(v) not in reads:
                    reads[id(v)] = tf.convert_to_tensor(v)
                return reads[id(v)]

            rows = u.rows_of(live if live is not None else u.live, read)
            held = [b.hold(read) for b in befores]
            if u.chief:
                wall = tf.timestamp() if clock is None else clock.read_value()
                ring.write(step, rows, wall, tf.logical_not(sampled))
            stds = [tf.gather(rows[:, std_col], b.rows) for b in befores]
            with tf.control_dependencies([rows]):
                return tf.constant(True), held, stds

        def _skipped():
            return tf.constant(False), [b.nothing() for b in befores], [tf.zeros([len(b.rows)], tf.float64) for b in befores]

        _, held, stds = tf.cond(take, _sampled, _skipped)
        return step, held, stds

    return record


def _own(fn, key: tuple, ring, befores, tf_var, weights=None):
    """``fn`` as one of ``ring``'s own functions: the process's shared trace of its
    structure (:mod:`._shared`: ``key``, the ring's and ``befores``' layout, the variables
    it reads as arguments), or a ``tf.function`` of this watch's own where a variable
    cannot be handed on (an AutoCast or TF1 variable)."""
    state = State(tf_var)
    for v in (ring.steps, ring.walls, ring.buf, ring.nonfinite.var):
        state.add(v)
    state.add(weights)
    for b in befores:
        state.add(b.variables)
        state.add(b.buf)
        for buf in b.origin.buffers if b.origin is not None else ():
            for v in (buf.buf, buf.filled, buf.variables):
                state.add(v)
    if not state.shareable:
        return own_function(fn)
    layout = (ring.ring, ring.width, ring.every, tuple(_before_key(b, state) for b in befores), tuple(state.layout))
    return own_or_shared(fn, state, key + layout)


def _before_key(b, state) -> tuple:
    """What the trace of a :class:`~._update.Before`'s work depends on beside its variables."""
    origin = None if b.origin is None else (b.origin.whole, tuple((state.index(buf.buf), at, n) for buf, at, n in b.origin.parts))
    return (tuple(b.rows), tuple(b.ratio), b.group, b.at_write, origin)


class After:
    """What a traced update's scalars need once the optimizer ran: the ring, the weights'
    :class:`~._update.Before` and what the sampled branch handed on.

    The scalars of a group of weights are measured once its last weight is updated:
    :meth:`around` observes the optimizer's update of each weight where the engine
    names how (``per_weight``), :meth:`finish` measures the groups left after it."""

    __slots__ = ("ring", "befores", "step", "held", "stds", "own", "every", "per_weight", "tf_var", "done")

    def __init__(self, ring, befores, step, held, stds, own: bool, every: int, per_weight=None, tf_var=None):
        self.ring, self.befores, self.step, self.held, self.stds, self.own, self.every = ring, befores, step, held, stds, own, every
        self.per_weight, self.tf_var = per_weight, tf_var or (lambda v: v)
        self.done: dict = {}  # group -> the graph it was measured in

    def finish(self) -> None:
        """The update scalars of the weights (see :meth:`~._update.Before.scalars`) into
        the ring's slot, on sampled steps: measured on what the optimizer actually did,
        so any optimizer, any ``every``. Groups measured already in this graph are left
        alone; those measured inside a branch of the update (an update that may not run:
        gradient accumulation) are measured again here, after it, as without groups."""
        graph = tf.compat.v1.get_default_graph()
        for g in sorted({b.group for b in self.befores if not b.at_write}):  # the written ones are measured at their write
            if self.done.get(g) is not graph:  # not measured, or inside a branch of the update
                self.finish_group(g)

    def finish_group(self, g: int):
        """Measure group ``g`` now (once its weights were updated); a tensor to order
        what follows after it."""
        self.done[g] = tf.compat.v1.get_default_graph()
        ring, every = self.ring, self.every
        pick = [i for i, b in enumerate(self.befores) if b.group == g]
        befores = [self.befores[i] for i in pick]

        def after(step, held, stds):
            def _sampled():
                for b, before, std in zip(befores, held, stds):
                    ring.write_scalars(step, b.rows, b.scalars(before, std))
                return tf.constant(True)

            return tf.cond(tf.equal(step % every, 0), _sampled, lambda: tf.constant(False))

        held, stds = [self.held[i] for i in pick], [self.stds[i] for i in pick]
        if not self.own:
            return after(self.step, held, stds)
        fn = ring.afters.get(g)
        if fn is None:
            fn = ring.afters[g] = _own(after, ("after",), ring, befores, self.tf_var)
        return fn(self.step, held, stds)

    @contextlib.contextmanager
    def around(self, opt):
        """While ``opt``'s update runs: each group measured right after its last weight's
        update, and the next group's updates made to wait for it, so one group's old
        values are alive at a time. Weight decay, which Keras applies to every weight
        before any update, is deferred to each weight's own update (the same values: a
        weight's decay and update read only that weight); an update of a weight not in a
        group applies every deferred decay first. A group with a constrained weight is
        measured after the whole update (Keras applies constraints after it). A weight
        measured as it is written (:meth:`at_write`) is measured inside its own update,
        and the next update waits for its write."""
        grouped = [b for b in self.befores if not b.at_write]
        groups = {b.group for b in grouped}
        if self.per_weight is None or (len(groups) < 2 and len(grouped) == len(self.befores)):
            yield
            return
        meth, at, decay_meth, _ = self.per_weight
        constrained = {b.group for b in grouped for v in b.variables if getattr(v, "constraint", None) is not None}
        group_of, left = {}, dict.fromkeys(groups, 0)
        for b in grouped:
            for v in b.variables if b.group not in constrained else ():
                group_of[id(v)] = group_of[id(self.tf_var(v))] = (b.group, v)
                left[b.group] += 1
        written = {}
        for b in self.befores:
            if b.at_write:
                written[id(b.variables[0])] = written[id(self.tf_var(b.variables[0]))] = b
        orig_step, orig_decay = getattr(opt, meth), getattr(opt, decay_meth, None)
        deferred: dict = {}  # id(weight) -> the variable its decay was asked for
        last: list = []

        def decay(variables, *args, **kwargs):
            now = []
            for v in variables:
                got = group_of.get(id(v))
                (deferred.__setitem__(id(got[1]), v) if got is not None else now.append(v))
            if now:
                orig_decay(now, *args, **kwargs)

        def update_step(*args, **kwargs):
            var = args[at] if len(args) > at else kwargs.get("variable")
            got = group_of.get(id(var))
            with tf.control_dependencies(last[-1:]):
                mine = [deferred.pop(id(got[1]))] if got is not None and id(got[1]) in deferred else []
                if got is None and id(var) not in written and deferred:  # a weight we cannot place: decay every weight first, as Keras does
                    mine = list(deferred.values())
                    deferred.clear()
                if mine:
                    orig_decay(mine)
                w = written.get(id(var))
                with self.at_write(opt, w) if w is not None else contextlib.nullcontext([]) as writes:
                    out = orig_step(*args, **kwargs)
                last.extend(writes)  # the next weight's update after this one's write
            if got is not None:
                left[got[0]] -= 1
                if left[got[0]] == 0:
                    last.append(self.finish_group(got[0]))
            return out

        patches = Patches()
        try:
            patches.set(opt, meth, tf.autograph.experimental.do_not_convert(update_step))
            if orig_decay is not None:
                patches.set(opt, decay_meth, tf.autograph.experimental.do_not_convert(decay))
            yield
        finally:
            patches.undo()
        if deferred:  # weights never updated one by one (not expected): decayed all the same
            orig_decay(list(deferred.values()))

    @contextlib.contextmanager
    def at_write(self, opt, b):
        """While ``opt`` updates the one weight of ``b``: its update scalars measured as
        the optimizer writes it (``opt.assign_sub`` / ``assign_add`` / ``assign``), from
        its values just before the write and what the write makes of them
        (:func:`~._scalars.update_scalars_of_write`), the write made to wait for them. No
        copy of the weight is held across its update: the write's kernel writes the old
        buffer in place. A weight written more than once, or by a sparse write, gets NaN
        (never a wrong number): :func:`_at_write` picks only weights that are not."""
        v = b.variables[0]
        ids, seen, writes, patches = {id(v), id(self.tf_var(v))}, [], [], Patches()

        def hook(how, orig):
            def write(variable, value, *args, **kwargs):
                if id(variable) not in ids:
                    return orig(variable, value, *args, **kwargs)
                seen.append(None if seen or isinstance(value, tf.IndexedSlices) else self._measure_write(b, how, value))
                graph = tf.compat.v1.get_default_graph()
                n = len(graph.get_operations())
                with tf.control_dependencies(seen[-1:] if seen[-1] is not None else []):
                    out = orig(variable, value, *args, **kwargs)
                writes.extend(graph.get_operations()[n:][-1:])  # the write
                return out

            return write

        try:
            for how in WRITES:
                patches.set(opt, how, hook(how, getattr(opt, how)))
            yield writes
        finally:
            patches.undo()
        if len(seen) != 1 or seen[0] is None:  # not measured as written: NaN, after whatever was
            warnings.warn(
                f"tfhist_magic: {type(opt).__name__} wrote {v.name} {len(seen)} times in one update, or sparsely, "
                "so its update scalars are NaN (not measured) at every step.",
                stacklevel=4,
            )
            with tf.control_dependencies([t for t in seen if t is not None]):
                nan = tf.fill([1, UPDATE_COLUMNS], tf.constant(float("nan"), tf.float64))
                tf.cond(tf.equal(self.step % self.every, 0), lambda: self._write(b, nan), lambda: tf.constant(False))

    def _measure_write(self, b, how: str, value):
        """On sampled steps, ``b``'s update scalars from the write ``how`` of ``value`` (see
        :meth:`at_write`) into the ring; a tensor to order the write after."""
        std = self.stds[self.befores.index(b)]

        def sampled():
            before = tf.convert_to_tensor(b.variables[0])  # read now, just before the write
            origin = b.origin.read_flat() if b.origin is not None else None
            return self._write(b, update_scalars_of_write(before, value, how, origin, b.ratio[0], std))

        return tf.cond(tf.equal(self.step % self.every, 0), sampled, lambda: tf.constant(False))

    def _write(self, b, values):
        self.ring.write_scalars(self.step, b.rows, values)
        return tf.constant(True)
