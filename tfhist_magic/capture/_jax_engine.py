"""The capture engine for Keras 3 on the JAX backend (the patches that feed it, and the
flavor the watcher uses, are in :mod:`.jax_keras`).

How a training step is recorded (the step stays a pure function: nothing is added to
the model's or the optimizer's state, so ``fit``, ``train_on_batch`` and a custom loop
over ``model.stateless_call`` / ``optimizer.stateless_apply`` inside ``jax.jit`` all
trace the same way):

* Layer calls are observed (``Layer.__call__`` and ``Layer.stateless_call``, which is
  how Keras' JAX trainer runs a model): the outermost call starts a forward pass, the
  outputs of the layers nested in it are kept until the optimizer update that follows.
  Under ``jax.grad`` they are the differentiation's tracers; the update reads their
  primal values, which live in the trace the update runs in (the forward pass is not
  run again).
* ``BaseOptimizer.apply`` (which ``stateless_apply`` calls inside its ``StatelessScope``)
  is observed. After the update it adds to the trace one ``lax.cond`` on
  ``step % every == 0`` whose true branch bins the weights as this step read them, the
  gradients applied and the pending activations (:mod:`._jnp`, one fused computation
  per dtype), measures the update scalars from the weights before and after the update,
  and hands the ``bins + 13`` numbers per tensor to the host with one
  ``jax.experimental.io_callback``. The distance from the start is measured on the
  host, where w0 is kept, a pack of weights a callback (no device memory holds a copy
  of the model for it; what is copied to the host at once is at most one pack).
  Unsampled steps run the false branch: nothing.
* Every step, one check (the sum of every gradient finite); the first step that fails
  it asks the host (a callback of one boolean, only on such steps) and is recorded in
  full whatever ``every``.
* ``fit`` / ``train_on_batch`` trace that step as ``jax_keras.Split`` says: one lean
  step whose sampled and first failing steps send their tensors to the host as they are
  (:meth:`JaxEngine._lean_check`, :meth:`JaxEngine.complete`), or with ``every=1`` a
  recording step that returns them (:meth:`JaxEngine.handed`); both binned by
  :func:`._jax_rows.recording`, compiled once per structure in the process.
* The host keeps what the callbacks hand it and delivers it to the Recording as one
  :class:`~tfhist_magic.block.Block` per update (``block.deliver``), on the training
  thread: at the end of each ``fit``/``train_on_batch``, at each epoch, when the watch
  ends and, while a live view is shown, every ``live_interval`` seconds (after a call of
  the train function).

A watch traces in a JAX context of its own (:mod:`._jax_traces`): functions traced
before it are traced again with the recording, none traced in it is used after it, and
what was compiled before it is found again after it. The private JAX and Keras names
used are gathered in the ``_private`` section below. What does not depend on JAX
(names, forward passes, each model's timeline, the engine's life) is
:class:`._base.BaseEngine`'s; TensorFlow is never imported here.
"""

from __future__ import annotations

import functools
import threading
import time
import warnings
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import io_callback
from jax import pure_callback

from ..block import Block, deliver
from ..recording import Recording
from . import _jnp as J
from ._base import BaseEngine, Phase, ratio_of
from ._jax_rows import computed, record_now, recording
from ._jax_traces import Traces

__all__ = ["JaxEngine", "model_vars", "optimizer_variables", "path_name", "BaseOptimizer"]

# -- _private: the JAX and Keras internals used, in one place ------------------------------
from jax._src import core as _core  # noqa: E402
from keras.src.optimizers.base_optimizer import BaseOptimizer  # noqa: E402


def _current_trace():
    return _core.trace_ctx.trace


def _primal(x):
    """The primal value of a differentiation tracer (``jax.grad``'s LinearizeTracer or
    JVPTracer), down to a value of the enclosing trace."""
    while isinstance(x, _core.Tracer) and hasattr(x, "primal"):
        x = x.primal
    return x


def _differentiated(x) -> bool:
    return isinstance(x, _core.Tracer) and hasattr(x, "primal")


def _usable(x) -> bool:
    """Whether ``x`` can be used where the update is traced: a concrete array, or a
    tracer of the update's own trace or of one it is nested in (a wrapping optimizer's
    ``lax.cond`` closes over the step's values); not one of a finished trace (a scan's
    body...)."""
    if isinstance(x, _core.Tracer):
        mine, trace = getattr(x, "_trace", None), _current_trace()
        while trace is not None:
            if trace is mine:
                return True
            trace = getattr(trace, "parent_trace", None)
        return False
    return isinstance(x, jax.Array)


def _host_value(v):
    """A Keras variable's value outside any stateless scope (None when ``fit`` has
    detached it for the duration of an epoch)."""
    return getattr(v, "_value", None)


def optimizer_variables(opt) -> list:
    """The variables ``opt`` was built on (what ``apply(grads)`` updates)."""
    return list(getattr(opt, "_trainable_variables", None) or [])


def path_name(obj) -> str:
    """A Keras 3 variable's or layer's name: its path."""
    return getattr(obj, "path", None) or obj.name


def model_vars(model) -> list:
    try:
        return list(model.trainable_variables)
    except Exception:  # a model that is not built yet
        return []


# -- the engine -------------------------------------------------------------------------
_BOOL = jax.ShapeDtypeStruct((), jnp.bool_)
#: Sampled steps held on the host before they are delivered whatever the throttle.
_MAX_PENDING = 256
#: Values of the weights one callback hands to the host at most (unless one weight is
#: larger): on a sampled step the host gets the weights for the distance from w0, and a
#: callback's operands are copied, so the copy at once is at most this (64 MiB of float32).
_PACK = 1 << 24


class _Group:
    """One update's tensors as one trace named them, and what the host has of it: the
    rows its callbacks delivered, not yet in the Recording."""

    def __init__(self, model: str | None, names: dict, dtypes: dict):
        self.model, self.names, self.dtypes = model, names, dtypes
        self.pending: list = []  # (step, wall, rows, cols)
        self.nonfinite: int | None = None
        self.reported: int | None = None
        self.raws: list = []  # a lean step's kept tensors (_Raw), until their rows are pending
        self.distances: dict = {}  # (step, weight index) -> ||before - w0||, until the step's rows arrive

    def block(self, items: list) -> Block:
        """The Block of ``items`` (in step order) and a new first non-finite step."""
        items.sort(key=lambda it: it[0])
        b = Block(model=self.model, steps=[it[0] for it in items], walls=[it[1] for it in items], names=self.names, dtypes=self.dtypes)
        if self.nonfinite != self.reported:
            b.nonfinite = self.reported = self.nonfinite
        if items:
            data, cols, at = np.stack([it[2] for it in items]), np.stack([it[3] for it in items]), 0
            for kind, ns in self.names.items():
                b.rows[kind], b.probes[kind] = data[:, at : at + len(ns)], cols[:, at : at + len(ns)]
                at += len(ns)
        return b


@dataclass(eq=False)
class _Raw:
    """A lean step's kept tensors (:meth:`JaxEngine._keep`), until binned."""

    step: int
    wall: float
    meta: tuple  # (kinds_of, ratio, keys)
    values: list
    afters: list | None = None  # None until sent, or read from the state the step returned
    claimed: bool = False  # taken by one thread's completion (under the engine's lock)


@dataclass
class _Plan:
    """What an update's recording needs once it ran (:meth:`JaxEngine.after_update`)."""

    opt: object
    step: object
    names: dict
    tensors: dict
    grads: list
    kinds_of: list
    variables: list
    label: str
    kept: object = None  # lean: True on a sampled or the first non-finite step (its tensors went to the host)


class JaxEngine(BaseEngine):
    """Records one watch of Keras 3 models on the JAX backend (see the module doc)."""

    flush_on_epoch = True
    _context = None  # the watch's traces (Traces), from entry to exit

    def __init__(self, recording: Recording, *, every: int, kinds, targets=None, init_distance: bool = True):
        super().__init__(recording, every=every, kinds=kinds, targets=targets, var_name=path_name, layer_name=path_name, model_vars=model_vars, init_distance=init_distance)
        self._lock = threading.Lock()
        self._flush_lock = threading.RLock()  # see flush
        self._groups: dict = {}
        self._last_flush = time.monotonic()
        self._origins: dict = {}  # id(weight) -> its origin, w0 (NumPy, flat, compute dtype)
        self._warned_lost = False  # a sampled step that could not be recorded was reported

    def __enter__(self):
        super().__enter__()
        self._context = Traces().__enter__()
        return self

    def close(self) -> None:
        if not self.closed:
            jax.effects_barrier()  # the callbacks of steps still running arrive before the last flush
            jax.block_until_ready([v for st in self.timeline.phases.values() for v in map(_host_value, st.vars) if v is not None])
        super().close()

    def _release(self) -> None:
        if self._context is not None:
            self._context.__exit__()
            self._context = None
        self._origins = {}  # a function traced in the watch may keep the engine: not its w0

    # -- what the base asks of a backend --------------------------------------------------
    def _read_counter(self, counter) -> int | None:
        value = _host_value(counter)
        return None if value is None else int(np.asarray(value))

    def _leaves(self, out) -> list:
        return [t for t in jax.tree_util.tree_leaves(out) if isinstance(t, (jax.Array, _core.Tracer))]

    def _is_value(self, t) -> bool:
        return jnp.issubdtype(t.dtype, jnp.floating) or jnp.issubdtype(t.dtype, jnp.integer)

    def _differentiated(self, leaves) -> bool:
        return any(_differentiated(t) for t in leaves)

    def _usable(self, t):
        value = _primal(t)
        return value if _usable(value) else None

    def _weights_now(self, st: Phase, step: int) -> None:
        values = [_host_value(v) for v in st.vars]
        if all(v is not None for v in values):
            record_now(self.rec, "weights", st.names, values, step)

    def claimed(self, model) -> None:
        """``model`` trains in the watch: its timeline's base, while the variables hold values."""
        if getattr(model, "optimizer", None) is not None:
            self.timeline.phase(model.optimizer, model)

    # -- optimizer updates -------------------------------------------------------------
    def record_update(self, opt, grads, variables, scale=None) -> _Plan | None:
        """Before ``opt``'s update runs: what the recording needs of it (None: nothing).
        In a lean step, ``grads`` (the list the update is then given) is replaced in place
        by the same values tied to the check (:meth:`_lean_check`)."""
        given, grads, variables = grads, list(grads), list(variables)
        if not self._targeted(variables):
            return None
        mine = self._mine(self.take_forwards(), variables)
        st, vnames = self.take_phase(opt, mine, variables)
        pairs = [(n, g if scale is None else g / scale) for n, g in zip(vnames, grads) if g is not None]
        acts = self.activations(mine)
        names, tensors = self.update_tensors(acts, vnames, [v.value for v in variables], pairs)
        self.register(mine, names)
        if not names:
            return None
        kinds_of = [J.probe_kind(jnp.shape(t), t.dtype, b) for _, t, b in acts]
        step = jnp.asarray(opt.iterations.value) - st.base
        plan = _Plan(opt, step, names, tensors, [g for _, g in pairs], kinds_of, variables, self.label_of(mine, opt))
        split = getattr(self._local, "split", None)
        if split is not None:
            split.phases.append(st)
            if split.lean_now and isinstance(given, list):
                plan.kept = self._lean_check(plan, split.mode)
                # The update reads the check (times exactly 1): the check runs before it, so the
                # update still writes the weights in place, and XLA keeps the check (an
                # optimization barrier is expanded away on the CPU, and the callbacks are pure,
                # which the fast dispatch path needs).
                k = plan.kept.astype(jnp.float32)
                for i, g in enumerate(given):
                    if g is not None:
                        given[i] = g * (1.0 + 0.0 * k).astype(g.dtype)
        return plan

    def _lean_check(self, plan: _Plan, mode):
        """The lean step's check, before the update: when the host says the step is
        sampled (``mode``, the step's argument, above 0: :class:`~.jax_keras.Split`), or the
        gradients are not finite and the host says it is the first such step, every tensor
        of the update goes to the host as it is (rows computed there, :meth:`_complete`);
        True then."""
        names, tensors = plan.names, plan.tensors
        group = self._group(plan.opt, plan.label, names, self._dtypes(tensors, names))
        flat = [t for k in names for t in tensors[k]]
        ratio = self._ratio(names, tensors)
        keys = [id(v) for v in plan.variables] if "weights" in names else []
        with J.x64():
            step = plan.step

            bad = functools.partial(pure_callback, functools.partial(self._first_bad, group), _BOOL, step)
            take = jax.lax.cond(J.all_finite(plan.grads), lambda: jnp.asarray(False), bad)
            if mode is not None:
                take = take | (mode > 0)
            keep = functools.partial(self._keep, group, (plan.kinds_of, ratio, keys))
            return jax.lax.cond(take, lambda: pure_callback(keep, _BOOL, step, *flat), lambda: jnp.asarray(False))

    def after_update(self, plan: _Plan) -> None:
        """Once the update ran (still in its trace): the sampled branch (see the module doc),
        or, in a recording step of :class:`~.jax_keras.Split` (where the update is traced
        in the step's own trace), its tensors handed out as the step's outputs."""
        names, tensors = plan.names, plan.tensors
        afters = [v.value for v in plan.variables] if "weights" in names else []
        group = self._group(plan.opt, plan.label, names, self._dtypes(tensors, names))
        split = getattr(self._local, "split", None)
        if plan.kept is not None:  # lean: the weights after a kept step's update, to the host
            # unless the host takes them from the state the step returns (mode 1: Split)
            send = plan.kept if split.mode is None else plan.kept & (split.mode != 1)
            split.lean_afters.append((group, plan.variables, afters))
            with J.x64():
                after = functools.partial(self._kept_after, group)
                done = jax.lax.cond(send, lambda: pure_callback(after, _BOOL, plan.step, *afters), lambda: jnp.asarray(False))
            it = plan.opt.iterations  # what the step returns depends on it (max(n, -1 or 0) = n)
            it.assign(jnp.maximum(it.value, done.astype(it.value.dtype) - 1))
            return
        meta = self._meta(group, plan)
        flat = [t for k in names for t in tensors[k]]
        with J.x64():
            step = plan.step
            ok = J.all_finite(plan.grads)
            if split is not None and split.hands_out():
                # where the weights after the update are in the state the step returns (Split keeps
                # them out of the handed values when they are: a value returned twice is copied twice)
                at = split.state_index(plan.variables) if afters else None
                split.handed.append((meta + (at,), (step, ok, flat, afters)))
                return
            forced = jax.lax.cond(ok, lambda: jnp.asarray(False), lambda: io_callback(functools.partial(self._first_bad, group), jax.ShapeDtypeStruct((), jnp.bool_), step))
            take = (step % self.every == 0) | forced

            def sampled():
                rows, cols = computed(flat, afters, *meta[1:4], self.bins)
                first, rest = ([], []), []
                if afters and self.init_distance:
                    first, rest = self._send_befores(group, plan.variables, step, tensors["weights"])
                # the first pack of weights with the rows; ``rest``: the others' callbacks ran
                # before this one (a data dependency)
                receive = functools.partial(self._receive, group, first[0], [id(plan.variables[i]) for i in first[0]])
                io_callback(receive, None, step, rows, cols, *first[1], *rest)

            jax.lax.cond(take, sampled, lambda: None)

    def _meta(self, group: _Group, plan: _Plan) -> tuple:
        """What the host needs to record an update's handed-out tensors: ``(group, layout,
        kinds_of, ratio, keys)`` (keys: the weights' origins, when measured)."""
        layout = tuple((k, len(v)) for k, v in plan.names.items())
        keys = [id(v) for v in plan.variables] if "weights" in plan.names and self.init_distance else []
        return group, layout, tuple(plan.kinds_of), tuple(self._ratio(plan.names, plan.tensors)), keys

    def handed(self, meta: tuple, values: tuple, trainable=None) -> None:
        """A recording step's handed-out tensors of one update (on the training thread):
        recorded when the step is sampled or the first non-finite one, their rows, probes
        and update scalars computed by :func:`._jax_rows.recording` (compiled once per
        structure in the process), the distances from w0 on the host. ``trainable``: the
        trainable weights of the state the step returned, where the weights after the
        update are found when ``meta`` says where (they were not handed out again)."""
        group, layout, kinds_of, ratio, keys, after_at = meta
        step, ok, flat, afters = values
        if after_at is not None:
            afters = [trainable[i] for i in after_at]
        step = int(step)
        forced = not bool(ok) and bool(self._first_bad(group, step))
        if self.closed or not (step % self.every == 0 or forced):
            return
        rows, cols = recording(flat, afters, layout, kinds_of, ratio, self.bins)
        cols = np.array(cols)
        if keys:
            at = self._weights_at(group)
            cols[at : at + len(keys), 2] = [self._from_start(k, step, np.asarray(b)) for k, b in zip(keys, flat[at:])]
        self._pend(group, step, rows, cols)

    @staticmethod
    def _dtypes(tensors, names) -> dict:
        return {k: [J.compute_dtype(t.dtype).name for t in tensors[k]] for k in names}

    @staticmethod
    def _ratio(names, tensors) -> list:
        return [ratio_of(n, len(jnp.shape(w))) for n, w in zip(names.get("weights", ()), tensors.get("weights", ()))]

    def _from_start(self, key, step, before) -> float:
        """``||before - w0||`` of one weight (float64, a chunk at a time: no temporary the
        size of the weight), on the host, where w0 is kept (``_origins[key]``): a weight's
        first sampled step in the watch sets its w0 (a forced, non-finite step sets none,
        and measures 0)."""
        b = np.ravel(np.abs(before) if np.iscomplexobj(before) else before)
        with self._lock:
            o = self._origins.get(key)
            if o is None:
                if int(step) % self.every:
                    return 0.0
                o = self._origins[key] = b.astype(J.compute_dtype(b.dtype), copy=True)
        return _distance(b, o)

    @staticmethod
    def _packs(sizes) -> list:
        """The weights' indices in packs of at most :data:`_PACK` values (or one weight):
        what one callback copies to the host at once."""
        packs, n = [[]], 0
        for i, k in enumerate(sizes):
            if packs[-1] and n + k > _PACK:
                packs.append([])
                n = 0
            packs[-1].append(i)
            n += k
        return packs if packs[0] else []

    def _send_befores(self, group: _Group, variables, step, befores) -> tuple:
        """The weights as the step read them, to the host for their distances from w0, a
        pack at a time: ``((indices, values) of the first pack, which goes with the rows;
        the results of the other packs' callbacks, for :meth:`_receive` to wait on)``."""
        packs = self._packs([int(np.prod(jnp.shape(b))) for b in befores])
        rest = [io_callback(functools.partial(self._distance_of, group, p, [id(variables[i]) for i in p]), _BOOL, step, *[befores[i] for i in p]) for p in packs[1:]]
        return (packs[0], [befores[i] for i in packs[0]]), rest

    def _distance_of(self, group: _Group, idx, keys, step, *befores):
        """A sampled step's distances of the weights ``idx`` of ``group``, kept for :meth:`_receive`."""
        got = [self._from_start(k, step, b) for k, b in zip(keys, befores)]
        with self._lock:
            group.distances.update(((int(step), i), d) for i, d in zip(idx, got))
        return np.asarray(True)

    def _first_bad(self, group: _Group, step):
        """The host's answer to "record this non-finite step?": yes for the first one."""
        with self._lock:
            first = group.nonfinite is None
            if first:
                group.nonfinite = int(step)
        return np.asarray(first)

    def _keep(self, group: _Group, meta, step, *values):
        """A lean step's sampled or first non-finite step: its tensors as they are (rows
        computed on the training thread, :meth:`_complete`). A callback's operands arrive as
        arrays JAX put on its CPU device, the host's own copy of the step's buffers (which
        the step reuses once the callback returns: ``test_a_callbacks_operands_are_the_hosts_own_copy``),
        so they are kept as they are, not copied again."""
        with self._lock:
            group.raws.append(_Raw(int(step), time.time(), meta, list(values)))
        return np.asarray(True)

    def _kept_after(self, group: _Group, step, *afters) -> None:
        with self._lock:
            for raw in group.raws:
                if raw.step == int(step) and raw.afters is None:
                    raw.afters = list(afters)
        return np.asarray(True)

    def _complete(self, group: _Group, raw: _Raw) -> tuple:
        """A lean step's kept tensors as a pending row set, computed now (training thread),
        by the same computation as a recording step's; the update scalars from the weights
        kept before and after its update."""
        step, wall, (kinds_of, ratio, keys), values, afters = raw.step, raw.wall, raw.meta, raw.values, raw.afters
        layout = tuple((k, len(v)) for k, v in group.names.items())
        device = jax.devices()[0]  # binned where the step ran (the callbacks' copies are on the CPU)
        rows, cols = recording(jax.device_put(values, device), jax.device_put(afters or [], device), layout, tuple(kinds_of), tuple(ratio), self.bins)
        cols = np.array(cols)
        if afters and self.init_distance:
            at = self._weights_at(group)
            cols[at : at + len(keys), 2] = [self._from_start(k, step, np.asarray(b)) for k, b in zip(keys, values[at:])]
        return step, wall, np.asarray(rows), cols

    @staticmethod
    def _weights_at(group: _Group) -> int:
        """Where the weights' rows start among ``group``'s."""
        kinds = list(group.names)
        return sum(len(group.names[k]) for k in kinds[: kinds.index("weights")])

    def _receive(self, group: _Group, idx, keys, step, rows, cols, *more) -> None:
        """A sampled step's rows, on the host (in JAX's callback thread), with its weights'
        distances from the start when measured (the weights ``idx``, given here, then those
        :meth:`_distance_of` kept): kept for :meth:`flush`, which runs on the training
        thread (:meth:`tick`), so no view ever runs inside a step; delivered here only past
        :data:`_MAX_PENDING` steps."""
        if self.closed:
            return
        cols = np.array(cols)
        if idx:
            self._distance_of(group, idx, keys, step, *more[: len(idx)])
            at, n = self._weights_at(group), len(group.names["weights"])
            with self._lock:
                cols[at : at + n, 2] = [group.distances.pop((int(step), i)) for i in range(n)]
        self._pend(group, step, rows, cols)

    def _pend(self, group: _Group, step, rows, cols) -> None:
        """Keep a sampled step's rows for :meth:`flush` (at once past :data:`_MAX_PENDING`)."""
        rows = np.asarray(rows)  # a device array's transfer outside the lock
        with self._lock:
            group.pending.append((int(step), time.time(), rows, cols))
            full = len(group.pending) >= _MAX_PENDING and not group.raws
        if full:
            self.flush(complete=False)

    def tick(self) -> None:
        """After each call of a watched train function: deliver what arrived, while a live
        view is shown every ``live_interval`` seconds (else at the end of the call's
        ``fit``, or of the epoch)."""
        if self.live_interval is not None and time.monotonic() - self._last_flush > self.live_interval:
            self.flush()

    def _group(self, opt, label, names, dtypes) -> _Group:
        sig = (id(opt), tuple((k, tuple(v)) for k, v in names.items()))
        g = self._groups.get(sig)
        if g is None:
            g = self._groups[sig] = _Group(label, names, dtypes)
        return g

    # -- host --------------------------------------------------------------------------
    def complete(self, trainable=None, at=None, groups=None) -> None:
        """Bin the lean steps' kept tensors whose update has run (on the training thread:
        :class:`~.jax_keras.Split` calls it after a sampled step, so no more than one
        step's tensors wait on the host), and keep their rows for :meth:`flush`. A kept
        step that did not send its weights after the update finds them in ``trainable``,
        the trainable weights of the state that step returned, at ``at[group]``.
        ``groups``: only those (a split's own: another thread's model may be mid-step).
        A failure leaves that step unrecorded (its tensors dropped), with a warning once a
        watch: the step already ran, and training goes on."""
        with self._lock:
            for g, where in (at or {}).items():
                for raw in g.raws:
                    if raw.afters is None and not raw.claimed:
                        raw.afters = [trainable[i] for i in where]
            done = [(g, raw) for g in (self._groups.values() if groups is None else groups) for raw in g.raws if raw.afters is not None and not raw.claimed]
            for _, raw in done:
                raw.claimed = True
        # Binned outside the locks (a flush from a callback must not wait on it); a raw stays
        # in ``raws`` until its rows are pending, so no later row is delivered before it.
        items, failed = [], []
        for g, raw in done:
            try:
                items.append((g, raw, self._complete(g, raw)))
            except Exception as e:  # noqa: BLE001 - the step ran: its rows are lost, not the training
                failed.append((g, raw))
                self.not_recorded(e)
        self.drop(failed)
        with self._lock:
            for g, raw, it in items:
                self._forget(g, raw)
                g.pending.append(it)
            full = any(len(g.pending) >= _MAX_PENDING and not g.raws for g, _, _ in items)
        if full:
            self.flush(complete=False)

    def not_recorded(self, e: BaseException) -> None:
        """A step that ran was not recorded (its state already replaced, donated: training
        goes on): said once a watch."""
        if not self._warned_lost:
            self._warned_lost = True
            warnings.warn(f"tfhist_magic: a sampled step was not recorded ({type(e).__name__}: {e})", RuntimeWarning, stacklevel=4)

    @staticmethod
    def _forget(group: _Group, raw: _Raw) -> None:  # under the lock
        group.raws = [r for r in group.raws if r is not raw]

    def drop(self, raws) -> None:
        """Forget kept tensors that will not be recorded (``(group, raw)`` pairs)."""
        with self._lock:
            for g, raw in raws:
                self._forget(g, raw)

    def incomplete(self, groups) -> list:
        """``(group, raw)`` of ``groups``' kept tensors still without their weights after the update."""
        with self._lock:
            return [(g, raw) for g in groups for raw in g.raws if raw.afters is None and not raw.claimed]

    def flush(self, complete: bool = True) -> None:
        """Deliver what the callbacks handed over to the Recording, in step order (a lean
        step's kept tensors binned first, unless called from a callback: ``complete``)."""
        if complete:
            self.complete()
        # One flush at a time from taking its rows to delivering them: the callback thread
        # (past _MAX_PENDING) and the training thread must not deliver out of step order.
        with self._flush_lock:
            with self._lock:
                work = []
                for g in self._groups.values():
                    if g.pending or g.nonfinite != g.reported:
                        cut = min((raw.step for raw in g.raws), default=None)  # an incomplete lean step: later rows wait
                        work.append((g, [it for it in g.pending if cut is None or it[0] < cut]))
                        g.pending = [it for it in g.pending if cut is not None and it[0] >= cut]
                self._last_flush = time.monotonic()
            for g, items in work:
                deliver(self.rec, g.block(items))


def _distance(b: np.ndarray, o: np.ndarray, chunk: int = 1 << 16) -> float:
    """``||b - o||`` in float64, a chunk at a time (NaN or Inf where ``b`` holds them).
    ``einsum``, not ``dot``: a BLAS call wakes BLAS's threads, which then spin beside the
    training step's (measured: +21 ms of CPU a sampled step on the bench MLP)."""
    total = 0.0
    for i in range(0, b.size, chunk):
        d = b[i : i + chunk].astype(np.float64) - o[i : i + chunk]
        total += float(np.einsum("i,i->", d, d))
    return float(np.sqrt(total))
