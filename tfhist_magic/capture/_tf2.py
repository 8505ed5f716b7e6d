"""The TF2 capture engine shared by the Keras 3 and tf_keras backends.

How a training step is recorded (data flows one way: the graph writes a ring, the host
reads it into a Block, ``deliver`` writes the Recording):

* Layer calls are observed (a class-level ``__call__`` wrapper installed by the
  backend). The outermost call starts a *forward pass*; the outputs of the layers
  nested in it are kept, per graph, until the optimizer update that follows
  (:mod:`._base`).
* The optimizer's update (``apply`` / ``apply_gradients``) is observed. Before the
  update runs, :meth:`Engine.record_update` gathers it into an :class:`~._update.Update`
  (its step on the model's timeline, its tensors per kind) and hands it to a path:
  :mod:`._traced` adds to the *same* graph one ``tf.cond`` whose true branch writes the
  rows into a device-side ring buffer (:mod:`._ring`); :mod:`._eager` computes them now
  (``run_eagerly=True``, custom eager loops). After the update, :meth:`Engine.after_update`
  measures the update scalars (the weights before it: :class:`~._update.Before`; their
  origins: :mod:`._origin`).
* The host reads the ring buffers on a throttle (every ``R/2`` sampled steps, or about
  once a second while a live view is shown), driven by a wrapper around
  ``tf.function`` calls that costs one counter increment per call. No batch-level
  callback, so Keras keeps its async dispatch.
* Under ``tf.distribute`` (Mirrored, MultiWorkerMirrored), each replica's update only
  leaves its activations for the optimizer's cross-replica update, where
  :meth:`Engine.record_distributed` records them merged (:mod:`._distributed`).

This module owns the engine's state and which path an update takes; it touches the
Recording only through ``deliver`` (and its ``status`` and notes).
"""

from __future__ import annotations

import tensorflow as tf

from ..block import Block, deliver
from ..recording import Recording
from . import _compat, _eager, _traced
from ._base import BaseEngine, Phase
from ._distributed import Stash, distribution, merged_update, replica_index
from ._ops import probe_kind
from ._origin import Origins
from ._ring import Rings
from ._update import Update, all_finite, measured_rows, rows_maker

__all__ = ["Engine", "record_now"]

record_now = _eager.record_now


class Engine(BaseEngine):
    """Records one watch. Backends install the patches that call into it.

    Args (beside :class:`~._base.BaseEngine`'s):
        iterations: ``fn(optimizer) -> variable`` giving the update counter.
        tf_var: ``fn(variable) -> tf.Variable`` the variable a distributed update names
            (Keras 3 hands ``v.value`` to the strategy).
        per_weight: ``fn(optimizer) -> (method, index, decay method, written_once)`` or
            None: the optimizer's method that updates one weight (the weight its
            positional argument ``index``) and the one that applies weight decay to a
            list of weights, observed so each group of weights' update scalars is
            measured right after its update (:meth:`~._traced.After.around`);
            ``written_once(optimizer, variable)``: that method writes the weight once,
            through the optimizer's ``assign*`` (then a large weight is measured as it
            is written); None: all after the whole update.
    """

    def __init__(self, recording: Recording, *, every: int, kinds, targets=None, iterations, var_name, layer_name, model_vars, tf_var=None, init_distance: bool = True, per_weight=None):
        super().__init__(recording, every=every, kinds=kinds, targets=targets, var_name=var_name, layer_name=layer_name, model_vars=model_vars, init_distance=init_distance)
        self._iterations = iterations
        self.tf_var = tf_var or (lambda v: v)
        self.per_weight = per_weight
        self.rings = Rings(recording, self.bins, self.every)
        self.origins = Origins(init_distance)  # kept for the whole watch: one copy of the weights
        self.clock = _traced.XlaClock()
        self.eager_checks = _eager.EagerChecks()
        self.traces = _compat.TraceSwap()
        self._stash: dict = {}  # graph -> Stash: replicas' activations awaiting the merge
        self._losses: dict = {}  # graph -> the loss Keras computed for the update that follows

    # -- install / uninstall -----------------------------------------------------------
    def __enter__(self):
        distribution()  # refuses an unhandled strategy before anything is patched
        super().__enter__()
        engine = self
        orig_call = _compat.Function.__call__
        enter = self.traces.enter

        def __call__(fn, *args, **kwargs):
            enter(fn)
            eager = tf.executing_eagerly()
            if eager:
                engine.clock.set_now()  # the wall time XLA-compiled steps record
            out = orig_call(fn, *args, **kwargs)
            if eager and engine.rings:
                engine.tick()
            return out

        self.patches.set(_compat.Function, "__call__", __call__)
        return self

    def _release(self) -> None:
        self._losses.clear()
        self._stash.clear()
        self.traces.restore()
        self.rings.clear()  # the device buffers go with the traces that wrote them
        self.origins.clear()

    # -- what the base asks of a backend --------------------------------------------------
    def counter(self, opt):
        """``opt``'s update counter, as the current graph reads it."""
        return self._iterations(opt)

    def _counter(self, opt):
        with tf.init_scope():  # a legacy optimizer makes its counter when first asked
            return self._iterations(opt)

    def _read_counter(self, counter) -> int:
        with tf.init_scope():
            return int(counter.numpy())

    def _graph_key(self):
        return None if tf.executing_eagerly() else tf.compat.v1.get_default_graph()

    def _taping(self) -> bool:
        return _compat.tape_active()

    def _leaves(self, out) -> list:
        return [t for t in tf.nest.flatten(out) if isinstance(t, tf.Tensor)]

    def _is_value(self, t) -> bool:
        return t.dtype.is_floating or t.dtype.is_integer

    def _in_graph(self, t, key) -> bool:
        return key is None or getattr(t, "graph", None) is key

    def _end_phase(self, phases, step: int) -> None:
        with tf.init_scope():  # may run while a new training step is traced
            super()._end_phase(phases, step)

    def _weights_now(self, st: Phase, step: int) -> None:
        with tf.init_scope():
            record_now(self.rec, "weights", st.names, [tf.convert_to_tensor(v) for v in st.vars], step)

    # -- updates -------------------------------------------------------------------------
    def note_loss(self, loss) -> None:
        """Keras computed ``loss`` for a training step: the update that follows checks it
        for NaN/Inf along with its gradients."""
        if _compat.tape_active() and isinstance(loss, tf.Tensor):
            key = self._graph_key()
            if key is None or getattr(loss, "graph", None) is key:
                self._losses[key] = loss

    def record_update(self, opt, grads, variables, scale=None):
        """Add the recording of one update (weights, grads, activations) before it runs;
        what :meth:`after_update` measures once it ran, or None."""
        strategy = distribution()
        key = self._graph_key()
        roots = self.take_forwards(key)
        loss = self._take(self._losses, key)
        variables, grads = list(variables), list(grads)
        if not self._targeted(variables):
            return None
        mine = self._mine(roots, variables)
        if strategy is not None:
            self._stash_replica(strategy, key, opt, variables, mine)
            return None
        st, vnames = self.take_phase(opt, mine, variables)
        acts = self.activations(mine)
        # Variables and gradients as given: read, densified and unscaled only where the
        # rows are computed (the sampled branch), so unsampled steps pay nothing for them.
        pairs = [(n, g) for n, g in zip(vnames, grads) if g is not None]
        names, tensors = self.update_tensors(acts, vnames, variables, pairs)
        self.register(mine, names)
        if not names:
            return None
        kinds_of = [probe_kind(t, b) for _, t, b in acts] + [None] * sum(len(names[k]) for k in names if k != "activations")
        live = {k: tensors[k] for k in names if k != "weights"}  # this trace's tensors the rows read
        if scale is not None:
            live["scale"] = scale
        u = Update(
            opt=opt, key=key, step=tf.cast(tf.convert_to_tensor(self._iterations(opt)), tf.int64) - st.base,
            names=names, tensors=tensors, model=self.label_of(mine, opt), rows_of=rows_maker(names, tensors, self.bins, kinds_of),
            live=live, checked=[t for t in [g for _, g in pairs] + [loss] if t is not None],
            # the update's scalars (its norm, the distance from the origin, the update ratio
            # of weight matrices) of the weights with a static shape
            measured=measured_rows(names, tensors),
            not_dense=[id(v) for v, g in zip(variables, grads) if g is None or isinstance(g, tf.IndexedSlices)],
        )
        return self._record(u)

    def _stash_replica(self, strategy, key, opt, variables, mine) -> None:
        """One replica's share: its activations wait for the cross-replica update
        (:meth:`record_distributed`), which records every replica's together, once."""
        if tf.distribute.in_cross_replica_context():
            raise ValueError(
                f"tfhist_magic cannot watch an optimizer update made in the cross-replica context of "
                f"{type(strategy).__name__}; call apply_gradients inside strategy.run."
            )
        stash = self._stash.get(key)
        if stash is None:
            stash = self._stash[key] = Stash(opt, variables, mine)
        stash.acts[replica_index(strategy)] = self.activations(mine)

    def record_distributed(self, distribution, grads, variables):
        """Record an update in the cross-replica context of ``distribution`` (the
        optimizer's merge; see :mod:`._distributed`); what :meth:`after_update` measures
        once the merge ran, or None."""
        key = self._graph_key()
        stash = self._stash.pop(key, None)
        if stash is None:  # nothing was deferred: not a merged update (or not watched)
            return None
        u = merged_update(self, key, stash, distribution, grads, variables)
        return None if u is None else self._record(u)

    def _record(self, u: Update):
        """``u`` on its path: eager, the ring's own functions, or inline (XLA, the merge)."""
        if not u.inline:
            if u.key is not None and not _compat.in_xla_context():
                return _traced.record(self, u, own=True)
            u.check = all_finite(u.checked)
        if u.key is None:
            return _eager.record(self, u)
        return _traced.record(self, u, own=False)

    def after_update(self, plan) -> None:
        """Once the optimizer's update ran, the update scalars of its weights: the update
        ratio of weight matrices (std of what the update changed over std of the weights
        before it), the update's norm ``||w_after - w||`` and the distance from the origin
        ``||w - w0||`` of every weight with a static shape."""
        if plan is not None:
            plan.finish()

    # -- host reads ----------------------------------------------------------------------
    def tick(self) -> None:
        """Called after every top-level tf.function call: flush on a throttle."""
        if self.rings.due(self.live_interval):
            self.flush()

    def flush(self) -> None:
        """Deliver every ring's new rows (and a new first non-finite eager step)."""
        bad = self.eager_checks.news()
        if bad is not None:
            deliver(self.rec, Block(nonfinite=bad))
        if self.rings:
            self.rings.flush(list(self.timeline.phases.values()))
