"""The TF2 capture engine shared by the Keras 3 and tf_keras backends.

How a training step is recorded:

* Layer calls are observed (a class-level ``__call__`` wrapper installed by the
  backend). The outermost call starts a *forward pass*; the outputs of the layers
  nested in it are kept, per graph, until the optimizer update that follows.
* The optimizer's update (``apply`` / ``apply_gradients``) is observed. Before the
  update runs, :meth:`Engine.record_update` adds to the *same* graph: one ``tf.cond``
  on ``(iterations - base) % every == 0`` whose true branch computes the histogram rows
  of the weights (as this step reads them), of the gradients being applied and of the
  pending activations, and writes them into a device-side ring buffer
  (``tf.Variable``, ``[R, T, bins + 10]``) at slot ``(step // every) % R``.
* The host reads the ring buffers on a throttle (every ``R/2`` sampled steps, or about
  once a second while a live view is shown), driven by a wrapper around
  ``tf.function`` calls that costs one counter increment per call. No batch-level
  callback, so Keras keeps its async dispatch.
* Eagerly executed updates (``run_eagerly=True``, custom eager loops) compute the rows
  eagerly and hand them straight to the Recording.
* Under ``tf.distribute`` (Mirrored, MultiWorkerMirrored), each replica's update only
  leaves its activations for the optimizer's cross-replica update, where
  :meth:`Engine.record_distributed` records the reduced gradients, one copy of the
  weights and the activations of every replica merged (``_ops.merged_rows``, their
  dead-unit and saturated shares merged with them), once; the update ratios compare that
  copy before and after the cross-replica update.
"""

from __future__ import annotations

import threading
import time
import weakref

import numpy as np
import tensorflow as tf

from ..health import is_weight_matrix
from ..recording import KINDS, Recording
from . import _compat
from .. import histogram as H
from ._many import tensor_list
from ._ops import PROBE_COLUMNS, UPDATE_COLUMNS, compute_dtype, prepare, flat_values, merged_rows, probe_kind, rows_and_probes, snapshot_rows, update_scalars, update_scalars_listed
from ._patch import Patches

__all__ = ["Engine", "record_now", "add_probes", "add_grad_norm", "PROBES"]


def record_now(rec: Recording, kind: str, names: list, tensors: list, step: int) -> None:
    """Compute the rows of ``tensors`` now (eagerly) and add them to ``rec`` at ``step``."""
    if not names:
        return
    rows = snapshot_rows(tensors, rec.bins).numpy()
    dtypes = [compute_dtype(tf.as_dtype(t.dtype)).name for t in tensors]
    rec.add_rows(kind, names, [step], rows[None], walls=[time.time()], dtypes=dtypes)

#: What each probe column holds, per kind (None: nothing): the Recording's scalar metrics.
#: The weights' are measured once the update ran (:func:`~._ops.update_scalars`).
PROBES = {"activations": ("dead_units", "saturation"), "weights": ("update_ratio", "update_norm", "init_distance")}
#: Probe columns beside each row in a group's ring buffer: as many as a kind has.
_COLUMNS = max(PROBE_COLUMNS, UPDATE_COLUMNS)


def add_probes(rec: Recording, kind: str, names, steps, probes, walls) -> None:
    """Probe columns ``probes`` (``[S, T, C]``, the first ``C`` of :data:`PROBES`) of
    ``kind``'s tensors ``names`` at ``steps`` into ``rec``'s scalar series (finite values
    only)."""
    walls = np.asarray(walls, dtype=np.float64)
    for col, metric in enumerate(PROBES.get(kind, ())):
        if metric is None or col >= probes.shape[-1]:
            continue
        vals = probes[:, :, col]
        for t, name in enumerate(names):
            ok = np.isfinite(vals[:, t])
            if ok.any():
                rec.add_scalars(metric, name, np.asarray(steps)[ok], vals[ok, t], walls=walls[ok])


def add_grad_norm(rec: Recording, label: str, steps, rows, walls) -> None:
    """The global gradient norm of one update at each of ``steps``, ``sqrt(sum ||g||^2)``
    over its gradients' rows ``rows`` (``[S, T, bins + 10]``: each row's ``norm`` column),
    into ``rec``'s ``grad_norm`` series of the model ``label``: exact on the host, no
    graph work. Steps where some gradient held NaN or Inf are left out (a row's norm is
    of its finite values only)."""
    rows = np.asarray(rows, dtype=np.float64)
    if rows.ndim != 3 or not rows.shape[1]:
        return
    ex = rows[..., rows.shape[-1] - H.EXTRA :]
    bad = (ex[..., H.NAN] + ex[..., H.POSINF] + ex[..., H.NEGINF]).sum(axis=1) > 0
    norms = ex[..., H.NORM]
    m = np.max(np.abs(norms), axis=1)
    s = np.where((m > 0) & np.isfinite(m), m, 1.0)
    total = np.sqrt(np.sum(np.square(norms / s[:, None]), axis=1)) * s  # scaled: no overflow
    ok = ~bad & np.isfinite(total)
    if ok.any():
        rec.add_scalars("grad_norm", label, np.asarray(steps)[ok], total[ok], walls=np.asarray(walls, dtype=np.float64)[ok])


def _flat(tensors, cd) -> tf.Tensor:
    """The values of ``tensors`` (variables, tensors) in ``cd``, flat, side by side."""
    return flat_values([tf.cast(prepare(v), cd) for v in tensors])  # as update_scalars reads them (|z| of complex)


class _Origin:
    """w0 of some weights of one compute dtype: one flat device buffer of their values
    side by side as the watch's first sampled step that updated them read them (filled
    once, in that step's sampled branch; a flag on the device says whether it was), kept
    by the Engine for the whole watch, across recompiles, new optimizers and new groups."""

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
            self.buf.assign(_flat(reads if reads is not None else self.variables, self.buf.dtype))
            self.filled.assign(tf.constant(1, tf.int64))
            return tf.constant(True)

        tf.cond(self.filled > 0, lambda: tf.constant(False), fill)


class _Start:
    """Where the w0 of a list of weights (one compute dtype) lies: in the Engine's
    :class:`_Origin` buffers, one or several."""

    def __init__(self, variables, parts):
        self.variables = variables
        self.parts = parts  # per variable: (origin, offset, size)
        self.origins = list({id(o): o for o, _, _ in parts}.values())
        one = self.origins[0] if len(self.origins) == 1 else None
        # the common case: one origin laid out as these weights are (the first group, a recompile)
        self.whole = one is not None and [id(v) for v in one.variables] == [id(v) for v in variables]

    def fill_once(self, reads) -> None:
        """Fill the origins not filled yet; ``reads``: these weights' values now."""
        for o in self.origins:
            o.fill_once(reads if self.whole else None)

    def read(self) -> list:
        """The w0 of each weight, flat (slices of the origins' buffers)."""
        return [o.buf[at : at + n] for o, at, n in self.parts]

    def read_flat(self) -> tf.Tensor:
        """The w0 of these weights side by side (the buffer itself in the common case)."""
        if self.whole:
            return self.origins[0].buf.read_value()
        return tf.concat(self.read(), 0)


def _bounded(layer) -> str | None:
    """"tanh" or "sigmoid" when ``layer``'s output is that function's (its ``activation``)."""
    name = getattr(getattr(layer, "activation", None), "__name__", "") or ""
    if name in ("tanh", "sigmoid"):
        return name
    return None


#: Device memory budget for one group's ring buffer (its slots, the forced one included).
_RING_BYTES = 32 * 2**20
#: ... and at most this share of the bytes of the model's trained tensors (its weights, or
#: its gradients), but never below _RING_FLOOR: a small model's ring stays small.
_RING_SHARE = 0.25
_RING_FLOOR = 2 * 2**20


def _ring_budget(tensors: dict) -> int:
    """The ring's byte budget for an update that trains ``tensors`` (kind -> tensors)."""
    trained = tensors.get("weights") or tensors.get("grads") or ()
    nbytes = sum((tf.TensorShape(t.shape).num_elements() or 0) * tf.as_dtype(t.dtype).size for t in trained)
    return int(np.clip(nbytes * _RING_SHARE, _RING_FLOOR, _RING_BYTES))
_MAX_ROOTS = 8


def _graph_key():
    return None if tf.executing_eagerly() else tf.compat.v1.get_default_graph()


class _Forward:
    """One outermost layer call and the outputs of the layers nested in it."""

    __slots__ = ("root", "acts", "seen", "taped", "outs")

    def __init__(self, root, taped: bool):
        self.root = root
        self.acts: list[tuple[object, int, tf.Tensor]] = []  # (layer, output index, tensor)
        self.seen: set[int] = set()
        self.taped = taped  # a GradientTape was recording: this pass can be trained on
        self.outs: set[int] = set()  # ids of the tensors the outermost call returned

    def is_output(self, j: int) -> bool:
        """Whether ``acts[j]`` is the model's output: a tensor the outermost call returned
        (or, when none of the recorded ones is, the last one recorded)."""
        if any(id(t) in self.outs for _, _, t in self.acts):
            return id(self.acts[j][2]) in self.outs
        return j == len(self.acts) - 1


#: ``tf.distribute`` strategies a watch cannot record yet, whatever their replica count.
_UNHANDLED_STRATEGIES = ("ParameterServerStrategy", "ParameterServerStrategyV2", "CentralStorageStrategy", "TPUStrategy", "TPUStrategyV2")
#: Strategies whose replicas are merged (one histogram over every replica's values).
_MERGED_STRATEGIES = ("MirroredStrategy", "MultiWorkerMirroredStrategy", "CollectiveAllReduceStrategy")


def _distribution():
    """The ``tf.distribute`` strategy whose replicas the watch merges, or None where a
    step runs on one replica (no strategy, the default one, ``OneDeviceStrategy``, a
    one-device ``MirroredStrategy``: recorded exactly as without a strategy).

    Raises ValueError under a strategy the watch would record wrongly: never silently
    wrong data."""
    if not tf.distribute.has_strategy():
        return None
    strategy = tf.distribute.get_strategy()
    name = type(strategy).__name__
    replicas = strategy.num_replicas_in_sync
    if name not in _UNHANDLED_STRATEGIES and replicas == 1:
        return None
    if name not in _MERGED_STRATEGIES:
        raise ValueError(
            f"tfhist_magic cannot watch training under {name} ({replicas} replicas) yet; it records "
            "MirroredStrategy, MultiWorkerMirroredStrategy, OneDeviceStrategy and single-device training."
        )
    if not _compat.strategy_merges():
        raise ValueError(
            f"tfhist_magic cannot watch {name} when the step is compiled with XLA on GPUs yet (its replicas "
            "update without a cross-replica merge); compile the model with jit_compile=False inside the watch."
        )
    return strategy


def _replica_index(strategy) -> int:
    """This replica's index among the strategy's local devices."""
    ctx = tf.distribute.get_replica_context()
    rid = tf.get_static_value(ctx.replica_id_in_sync_group)
    return int(rid) % len(strategy.extended.worker_devices)


class _Stash:
    """What the replicas of one distributed update left for the cross-replica merge."""

    __slots__ = ("opt", "variables", "mine", "acts")

    def __init__(self, opt, variables, mine):
        self.opt = opt
        self.variables = variables
        self.mine = mine
        self.acts: dict[int, list] = {}  # local replica index -> [(name, tensor)]


class _NonFiniteCheck:
    """A device scalar: the first step whose check (every gradient, and the loss, all
    finite) failed. Written every step inside the step's own graph (no host sync), read
    on flush."""

    def __init__(self):
        with tf.init_scope():
            self.var = _compat.buffer_variable(tf.constant(-1, tf.int64), "tfhist_first_nonfinite")

    def first(self, step, ok):
        """A bool tensor: ``step`` is the first whose check ``ok`` failed (and note it)."""
        new = (self.var < 0) & tf.logical_not(ok)
        self.var.assign(tf.where(new, tf.cast(step, tf.int64), self.var))
        return new

    def read(self) -> int:
        return int(self.var.numpy())


def _all_finite(tensors):
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


def _measured_rows(names: dict, tensors: dict) -> list:
    """``[(row, variable, ratio)]`` of the weights with a static shape among
    ``tensors["weights"]``, ``row`` their index in the rows (kinds in ``names`` order):
    those whose update norm and distance from the start are measured; ``ratio`` for the
    weight matrices (rank >= 2, :func:`~tfhist_magic.health.is_weight_matrix`), whose
    update ratio is measured too."""
    start = 0
    for kind in names:
        if kind == "weights":
            break
        start += len(names[kind])
    out = []
    for i, (n, v) in enumerate(zip(names.get("weights", ()), tensors.get("weights", ()))):
        sh = tf.TensorShape(v.shape)
        if sh.is_fully_defined():
            out.append((start + i, v, sh.rank >= 2 and is_weight_matrix(n)))
    return out


class _Group:
    """Device buffers for one optimizer's updates as one trace built them: one ring of
    ``[R + 1, T, bins + 13]`` for all the tensors of all kinds (each row followed by its
    three probe columns, ``PROBES``: what the findings need beyond a histogram, and the
    weights' update scalars), and the
    step and wall time of each slot. Sampled step ``k`` goes to slot ``(k // every) % R``;
    the last slot holds the first step whose gradients went non-finite when it is not a
    sampled one (a forced snapshot, taken once)."""

    def __init__(self, kinds_names: dict, bins: int, every: int, budget: int = _RING_BYTES):
        self.names = kinds_names  # kind -> [names], in row order
        self.dtypes = {}
        total = sum(len(v) for v in kinds_names.values())
        self.width = bins + H.EXTRA + _COLUMNS
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
        # The group's own functions (Engine._write): made by the first trace that reaches
        # the group, called by every one (None under XLA and tf.distribute: inline there).
        self.record = None
        self.after = None
        self._befores = None  # per compute dtype: _Before
        self.model: str | None = None  # the label of the model whose updates these are
        self.nonfinite = _NonFiniteCheck()
        self.last = -1
        self.lost = 0

    def write(self, step, rows, wall, forced):
        """Rows of ``step``, taken at ``wall`` (seconds since the epoch, on the device);
        ``forced``: a non-sampled step written to the last slot."""
        # A scatter, not ``buf[slot].assign``: XLA needs slice bounds to be compile-time
        # constants, so a sliced assign at a moving slot recompiled the step every call.
        regular = tf.cast((step // self.every) % self.ring, tf.int32)
        slot = tf.reshape(tf.where(forced, tf.constant(self.ring, tf.int32), regular), [1])
        pad = self.width - rows.shape[-1]
        if pad:
            rows = tf.pad(rows, [[0, 0], [0, pad]], constant_values=np.nan)
        self.buf.scatter_update(tf.IndexedSlices(rows[None], slot))
        self.steps.scatter_update(tf.IndexedSlices(tf.reshape(step, [1]), slot))
        self.walls.scatter_update(tf.IndexedSlices(tf.reshape(tf.cast(wall, tf.float64), [1]), slot))

    def befores(self, measured, start_of) -> list:
        """For the weights ``measured`` (:func:`_measured_rows`), per compute dtype, a
        :class:`_Before`: their rows, which get an update ratio, and where their w0 lies
        (``start_of(cd, variables)``, the Engine's); made once per group."""
        if self._befores is None:
            self._befores = []
            for cd in (tf.float32, tf.float64):
                pick = [(i, v, r) for i, v, r in measured if compute_dtype(tf.as_dtype(v.dtype)) == cd]
                if pick:
                    variables = [v for _, v, _ in pick]
                    self._befores.append(_Before([i for i, _, _ in pick], variables, [r for _, _, r in pick], start_of(cd, variables)))
        return self._befores

    def write_scalars(self, step, indices: list, values):
        """Put the update scalars ``values`` (``[T, UPDATE_COLUMNS]``) of weight rows
        ``indices`` into their probe columns at ``step``."""
        slot = tf.cast((step // self.every) % self.ring, tf.int32)
        col = self.width - _COLUMNS
        T, C = len(indices), UPDATE_COLUMNS
        rows = np.repeat(np.asarray(indices, np.int32), C)
        cols = np.tile(np.arange(col, col + C, dtype=np.int32), T)
        at = tf.concat([tf.fill([T * C, 1], slot), tf.constant(np.stack([rows, cols], 1))], 1)
        self.buf.scatter_nd_update(at, tf.reshape(values, [-1]))

    def read(self):
        """New (steps, walls, {kind: (rows, probes)}) since the last read, in step order."""
        steps = self.steps.numpy()
        new = steps > self.last
        if not new.any():
            return None
        order = np.argsort(steps[new])
        idx = np.flatnonzero(new)[order]
        got = steps[idx]
        regular = got[idx < self.ring]
        if regular.size == self.ring and regular[0] > self.last + self.every:
            self.lost += int((regular[0] - max(self.last, -self.every) - self.every) // self.every)
        walls = tf.gather(self.walls, idx).numpy()
        data = tf.gather(self.buf, idx).numpy()  # only the new slots cross to the host
        rows, probes = data[..., :-_COLUMNS], data[..., -_COLUMNS:]
        out, start = {}, 0
        for kind, names in self.names.items():
            out[kind] = (rows[:, start : start + len(names)], probes[:, start : start + len(names)])
            start += len(names)
        self.last = int(got[-1])
        return got, walls, out


def _own_function(fn):
    """``fn`` as a ``tf.function`` of this package's (no AutoGraph; the trace swap leaves
    it alone): traced once for its arguments' types, its call op inlined when the step
    that calls it runs."""
    # reduce_retracing: a later trace whose tensors differ only in a dimension (the batch)
    # reuses a trace with that dimension unknown
    return _compat.mark_own(tf.function(fn, autograph=False, reduce_retracing=True))


class _Before:
    """One compute dtype's weights whose update scalars a group measures: their rows, the
    variables, which get an update ratio, and where their w0 lies (:class:`_Start`).

    Their values before a sampled update are not copied into a buffer: the sampled
    branch hands its reads of them on to the code after the update, and the update's
    own writes copy a buffer still read (TensorFlow's copy-on-write), so a copy of a
    weight lives only from its update to its update scalars, on sampled steps."""

    __slots__ = ("rows", "variables", "ratio", "start", "buf", "dtype")

    def __init__(self, rows, variables, ratio, start):
        self.rows, self.variables, self.ratio, self.start = rows, variables, ratio, start
        self.buf = None
        self.dtype = compute_dtype(tf.as_dtype(variables[0].dtype))

    def ensure_buffer(self) -> None:
        """Under XLA, the values before the update go to a buffer (made once): an XLA
        branch cannot hand on tensors whose shape the other branch does not have."""
        if self.buf is None:
            size = sum(tf.TensorShape(v.shape).num_elements() for v in self.variables)
            with tf.init_scope():
                self.buf = _compat.buffer_variable(tf.zeros([size], self.dtype), "tfhist_before")


class _OptState:
    """One optimizer on one model's timeline: its step ``k`` is ``iterations - base``."""

    def __init__(self, opt, iterations, base: int, timeline):
        self.opt = weakref.ref(opt)
        # The counter itself is kept: a replaced optimizer (a recompile) may be gone by the
        # time the next one asks where the model's timeline stands.
        self.iterations = iterations
        self.base = base
        self.timeline = timeline
        self.vars: list = []  # the variables of the latest update seen
        self.names: list[str] = []
        self.flushed_iterations = base

    def read_done(self) -> int:
        """Updates done so far on the timeline (the step the next update gets), read on
        the host."""
        with tf.init_scope():
            return int(self.iterations.numpy()) - self.base


class Engine:
    """Records one watch. Backends install the patches that call into it.

    Args:
        recording: where snapshots go.
        every: record every ``every``-th optimizer step (step 0 always).
        kinds: the kinds to record.
        targets: models to restrict to (their variables); None records every model.
        iterations: ``fn(optimizer) -> variable`` giving the update counter.
        var_name: ``fn(variable) -> str``.
        layer_name: ``fn(layer) -> str``.
        model_vars: ``fn(model) -> list`` of its trainable variables.
        tf_var: ``fn(variable) -> tf.Variable`` the variable a distributed update names
            (Keras 3 hands ``v.value`` to the strategy).
        init_distance: measure each weight's distance from its value at the first sampled
            step (keeps one copy of the weights on the device for the whole watch).
    """

    def __init__(self, recording: Recording, *, every: int, kinds, targets=None, iterations, var_name, layer_name, model_vars, tf_var=None, init_distance: bool = True):
        self.rec = recording
        # w0 of every weight, kept for the whole watch (one copy of the weights): what the
        # distance from the start needs, and nothing else
        self.init_distance = bool(init_distance)
        self.bins = recording.bins
        self.every = int(every)
        self.kinds = tuple(k for k in KINDS if k in kinds)
        self.targets = list(targets) if targets is not None else None
        self._target_var_ids = None
        self._iterations = iterations
        self._var_name = var_name
        self._layer_name = layer_name
        self._model_vars = model_vars
        self._tf_var = tf_var or (lambda v: v)
        self._stash: dict = {}  # graph -> _Stash: replicas' activations awaiting the merge
        self._post: dict = {}  # graph -> what after_update measures once the optimizer ran
        self.chief = True  # False on a MultiWorkerMirroredStrategy worker that is not the chief
        self.patches = Patches()
        self._local = threading.local()
        self._pending: dict = {}
        self._losses: dict = {}  # graph -> the loss Keras computed for the update that follows
        self._opts: dict[int, _OptState] = {}
        self._timelines: dict = {}  # model (or optimizer) key -> its _OptStates, oldest first
        self._clock = None  # under XLA (no Timestamp op): the host time of the current call
        self._groups: list[_Group] = []
        self._names: dict[int, str] = {}
        self._taken: dict[str, int] = {}
        self._calls = 0
        self._calls_at_flush = 0
        self._flush_at = 1
        self._last_flush = time.monotonic()
        self._steps_per_call = 1.0
        self.live_interval: float | None = None  # seconds between flushes while shown live
        self.trained_var_ids: set[int] = set()
        self.seen_models: dict = {}  # id -> weakref of models whose updates were recorded
        self.closed = False
        self.on_close: list = []  # callables run once the patches are undone
        self.traces = _compat.TraceSwap()
        self._eager_check: _NonFiniteCheck | None = None  # for updates run eagerly
        self.model_labels: dict[int, str] = {}  # id(model) -> its name in rec.models
        self._output_names: set[str] = set()  # activations that are a model's output
        # id(weight) -> (_Origin, offset, size): where its w0 lies, for the whole watch
        # (the device buffers go when the watch closes)
        self._origins: dict = {}

    # -- install / uninstall -----------------------------------------------------------
    def __enter__(self):
        _distribution()  # refuses an unhandled strategy before anything is patched
        if self.targets is not None:
            self._target_var_ids = {id(v) for m in self.targets for v in self._model_vars(m)}
        engine = self
        orig_call = _compat.Function.__call__
        enter = self.traces.enter

        def __call__(fn, *args, **kwargs):
            enter(fn)
            if engine._clock is not None and tf.executing_eagerly():
                engine._clock.assign(time.time())  # the wall time XLA-compiled steps record
            out = orig_call(fn, *args, **kwargs)
            if engine._groups and tf.executing_eagerly():
                engine.tick()
            return out

        self.patches.set(_compat.Function, "__call__", __call__)
        return self

    def close(self) -> None:
        """Read what is left on the device, take the final weights, undo every patch."""
        if self.closed:
            return
        self.closed = True
        try:
            try:
                self.flush()
            finally:
                self._final_weights()
        finally:
            try:
                self.patches.undo()
            finally:
                self._pending.clear()
                self._losses.clear()
                self._stash.clear()
                self._post.clear()
                self.traces.restore()
                self._groups.clear()  # the device buffers go with the traces that wrote them
                self._origins.clear()
                self.rec.status = None
                for fn in self.on_close:
                    fn()

    def __exit__(self, *exc):
        self.close()
        return False

    # -- names -----------------------------------------------------------------------
    def _unique(self, key: int, base: str, owner) -> str:
        """The Series name of tensor ``key``: its Keras path ``base``, unless another
        model's tensor in this watch has that name already; then it is qualified by its
        model's label in ``rec.models`` (``net#2/d/kernel``: the label replaces the
        model's own name where the path starts with it)."""
        name = self._names.get(key)
        if name is not None:
            return name
        name = base
        if name in self._taken and owner is not None:
            own = getattr(owner, "name", None) or ""
            rest = base[len(own) + 1 :] if own and base.startswith(own + "/") else base
            name = f"{self.model_label(owner)}/{rest}"
        n = 2
        while name in self._taken:
            name = f"{base}#{n}"
            n += 1
        self._taken[name] = key
        self._names[key] = name
        return name

    def model_label(self, model) -> str:
        """``model``'s key in ``rec.models``: its name, made unique among the models seen."""
        label = self.model_labels.get(id(model))
        if label is None:
            base = getattr(model, "name", None) or type(model).__name__
            taken = set(self.model_labels.values()) | set(self.rec.models)
            label, n = base, 2
            while label in taken:
                label = f"{base}#{n}"
                n += 1
            self.model_labels[id(model)] = label
        return label

    def activation_name(self, layer, i: int, owner) -> str:
        """The name of output ``i`` of ``layer`` (-1: its only output)."""
        return self._unique(hash((id(layer), i)), self._layer_name(layer) + ("" if i < 0 else f":{i}"), owner)

    # -- forward passes --------------------------------------------------------------
    def layer_call(self, layer, call, args, kwargs):
        """Run ``call(*args, **kwargs)`` for ``layer``, noting its output if nested."""
        depth = getattr(self._local, "depth", 0)
        key = _graph_key()
        if depth == 0:
            fw = _Forward(layer, _compat.tape_active())
            roots = self._pending.setdefault(key, [])
            roots.append(fw)
            if len(roots) > _MAX_ROOTS:  # drop the oldest, one not under a tape first
                del roots[next((i for i, r in enumerate(roots) if not r.taped), 0)]
        self._local.depth = depth + 1
        try:
            out = call(*args, **kwargs)
        finally:
            self._local.depth = depth
        if depth == 0:
            fw.outs = {id(t) for t in tf.nest.flatten(out) if isinstance(t, tf.Tensor)}
        if depth > 0 and "activations" in self.kinds:
            roots = self._pending.get(key)
            if roots:
                fw = roots[-1]
                if id(layer) not in fw.seen:
                    fw.seen.add(id(layer))
                    flat = [t for t in tf.nest.flatten(out) if isinstance(t, tf.Tensor) and (t.dtype.is_floating or t.dtype.is_integer)]
                    for i, t in enumerate(flat):
                        if key is not None and getattr(t, "graph", None) is not key:
                            continue
                        fw.acts.append((layer, i if len(flat) > 1 else -1, t))
        return out

    def enter_update(self) -> bool:
        """Start recording an optimizer update on this thread; False when one is already
        being recorded (an optimizer that calls another's update)."""
        if getattr(self._local, "in_update", False):
            return False
        self._local.in_update = True
        return True

    def exit_update(self) -> None:
        self._local.in_update = False

    def take_forwards(self) -> list:
        """The forward passes run eagerly since the last update (and forget them)."""
        return self._pending.pop(None, [])

    @staticmethod
    def _take(store: dict, key, default=None):
        """What ``store`` holds for this graph or, when the update runs in a nested graph
        (a LossScaleOptimizer applies inside a ``tf.cond``), the nearest enclosing graph
        that has something; its tensors are captured from there."""
        g = key
        while g is not None:
            if g in store:
                return store.pop(g)
            g = getattr(g, "outer_graph", None)
        return store.pop(key, default)

    def note_loss(self, loss) -> None:
        """Keras computed ``loss`` for a training step: the update that follows checks it
        for NaN/Inf along with its gradients."""
        if _compat.tape_active() and isinstance(loss, tf.Tensor):
            key = _graph_key()
            if key is None or getattr(loss, "graph", None) is key:
                self._losses[key] = loss

    # -- optimizer updates -------------------------------------------------------------
    def _opt_state(self, opt, model=None) -> _OptState:
        """``opt``'s place on its model's timeline: the model's steps are one increasing
        axis across every optimizer, recompile, ``fit`` and custom loop of the watch, so an
        optimizer first seen after others trained the model continues after their last
        step (and their phase's final weights are recorded first)."""
        st = self._opts.get(id(opt))
        if st is not None and st.opt() is opt:
            return st
        key = id(model) if model is not None else ("optimizer", id(opt))
        line = self._timelines.setdefault(key, [])
        done = max((o.read_done() for o in line), default=0)
        if line:
            self._end_phase(line, done)
        with tf.init_scope():
            it = self._iterations(opt)
            base = int(it.numpy()) - done
        st = self._opts[id(opt)] = _OptState(opt, it, base, key)
        line.append(st)
        return st

    def _end_phase(self, states, step: int) -> None:
        """The weights trained by ``states`` after their last update, at ``step`` (updates
        done), once what the device holds is read (a Series' steps only increase)."""
        with tf.init_scope():  # may run while a new training step is traced
            if self._groups:
                self.flush()
            if "weights" not in self.kinds:
                return
            for st in states:
                if st.vars and self.rec.last_step("weights", st.names[0]) < step:
                    record_now(self.rec, "weights", st.names, [tf.convert_to_tensor(v) for v in st.vars], step)

    def step_of(self, opt, model=None) -> int:
        """The current step of ``opt`` on ``model``'s timeline (updates done inside this
        watch), read on the host."""
        return self._opt_state(opt, model).read_done()

    def end_fit(self, model) -> None:
        """A ``fit`` of ``model`` ends and a callback may change its weights next (Keras'
        ``EarlyStopping(restore_best_weights=True)``): record the weights of the last
        update now, at their step, so the restored ones are never labelled with it."""
        opt = getattr(model, "optimizer", None)
        st = self._opts.get(id(opt)) if opt is not None else None
        if st is None or st.opt() is not opt:
            return
        step = st.read_done()
        self._end_phase([st], step)
        self.rec.note(
            f"{self.model_label(model)}: EarlyStopping restored its best weights after step {step}; "
            f"the weights at step {step} are the last update's, not the restored ones.",
            key=("restored", self.model_label(model)),
        )

    def _activations(self, mine) -> list:
        """``[(name, tensor, bounded)]``: the outputs recorded in the forward passes
        ``mine``; ``bounded`` names a tanh/sigmoid output (for saturation), else None."""
        if "activations" not in self.kinds:
            return []
        seen, acts = set(), []
        for fw in mine:
            for j, (layer, i, t) in enumerate(fw.acts):
                if (id(layer), i) in seen:
                    continue
                seen.add((id(layer), i))
                name = self.activation_name(layer, i, fw.root)
                if fw.is_output(j):
                    self._output_names.add(name)
                acts.append((name, t, _bounded(layer) if i < 0 else None))
        return acts

    def _mine(self, roots, variables) -> list:
        var_ids = {id(v) for v in variables}
        mine = [fw for fw in roots if any(id(v) in var_ids for v in self._model_vars(fw.root))]
        # The activations of step k are those of the pass whose gradients step k
        # applies: the one run under a GradientTape, not a monitoring or validation call.
        return [fw for fw in mine if fw.taped] or mine

    def record_update(self, opt, grads, variables, scale=None) -> None:
        """Add the recording of one update (weights, grads, activations) before it runs."""
        strategy = _distribution()
        key = _graph_key()
        roots = self._take(self._pending, key, [])
        loss = self._take(self._losses, key)
        variables = list(variables)
        grads = list(grads)
        if self._target_var_ids is not None and not any(id(v) in self._target_var_ids for v in variables):
            return
        mine = self._mine(roots, variables)
        if strategy is not None and tf.distribute.in_cross_replica_context():
            raise ValueError(
                f"tfhist_magic cannot watch an optimizer update made in the cross-replica context of "
                f"{type(strategy).__name__}; call apply_gradients inside strategy.run."
            )
        if strategy is not None:
            # One replica's share: its activations wait for the cross-replica update
            # (record_distributed), which records every replica's together, once.
            stash = self._stash.get(key)
            if stash is None:
                stash = self._stash[key] = _Stash(opt, variables, mine)
            stash.acts[_replica_index(strategy)] = self._activations(mine)
            return
        st = self._opt_state(opt, mine[0].root if mine else None)
        owner = mine[0].root if mine else None
        vnames = [self._unique(id(v), self._var_name(v), owner) for v in variables]
        st.vars, st.names = variables, vnames
        self.trained_var_ids.update(id(v) for v in variables)

        tensors: dict[str, list] = {}
        names: dict[str, list[str]] = {}
        acts = self._activations(mine)
        if acts:
            names["activations"] = [n for n, _, _ in acts]
            tensors["activations"] = [t for _, t, _ in acts]
        # Variables and gradients as given: read, densified and unscaled only where the
        # rows are computed (the sampled branch), so unsampled steps pay nothing for them.
        if "weights" in self.kinds:
            names["weights"] = list(vnames)
            tensors["weights"] = list(variables)
        pairs = [(n, g) for n, g in zip(vnames, grads) if g is not None]
        if "grads" in self.kinds:
            names["grads"] = [n for n, _ in pairs]
            tensors["grads"] = [g for _, g in pairs]
        self._add_models(mine, names)
        names = {k: v for k, v in names.items() if v}
        tensors = {k: tensors[k] for k in names}
        if not names:
            return

        step = tf.cast(tf.convert_to_tensor(self._iterations(opt)), tf.int64) - st.base
        checked = [t for t in [g for _, g in pairs] + [loss] if t is not None]
        # The update's scalars (its norm, the distance from w0, the update ratio of weight
        # matrices) of the weights with a static shape: read before the update, compared after.
        measured = _measured_rows(names, tensors)

        kinds_of = [probe_kind(t, b) for _, t, b in acts] + [None] * sum(len(names[k]) for k in names if k != "activations")
        # This trace's tensors the rows read (the weights are read where the rows are made).
        live = {k: tensors[k] for k in names if k != "weights"}
        if scale is not None:
            live["scale"] = scale

        def rows_of(live, read=tf.convert_to_tensor):
            def values(kind):
                if kind == "weights":
                    return [read(v) for v in tensors[kind]]
                return [self._applied(g, live.get("scale")) for g in live[kind]] if kind == "grads" else live[kind]

            return rows_and_probes([t for kind in names for t in values(kind)], self.bins, kinds_of)

        if key is not None and not _compat.in_xla_context():  # the group's own functions
            self._write(opt, key, step, None, names, tensors, rows_of, measured, model=self._label_of(mine, opt), checked=checked, live=live)
        else:
            self._write(opt, key, step, _all_finite(checked), names, tensors, lambda: rows_of(live), measured, model=self._label_of(mine, opt))

    def _label_of(self, mine, opt) -> str:
        """The label the update's global gradient norm goes under: its model's (as in
        ``rec.models``), or the optimizer's name when no model's layers were seen."""
        if mine:
            return self.model_label(mine[0].root)
        return getattr(opt, "name", None) or type(opt).__name__

    def _start_of(self, cd, variables) -> _Start | None:
        """Where the w0 of ``variables`` (one compute dtype) lies: the Engine's origins,
        one made now for those that have none yet (their first sampled update fills it);
        None when the distance from the start is not measured (``init_distance=False``)."""
        if not self.init_distance:
            return None
        new = [v for v in variables if id(v) not in self._origins]
        if new:
            o = _Origin(new, cd)
            at = 0
            for v, n in zip(new, o.sizes):
                self._origins[id(v)] = (o, at, n)
                at += n
        return _Start(variables, [self._origins[id(v)] for v in variables])

    def _add_models(self, mine, names) -> None:
        outputs = [n for n in names.get("activations", ()) if n in self._output_names]
        for m in mine:
            self.rec.add_model(self.model_label(m.root), [n for k in names for n in names[k]], outputs)
            self.seen_models[id(m.root)] = weakref.ref(m.root)

    def _write(self, opt, key, step, check, names, tensors, rows_of, measured=(), chief=True, model=None, checked=None, live=None) -> None:
        """Record the rows ``rows_of()`` builds (``[T, bins + 12]``: each with its probe
        columns), at ``step`` and its wall time: now when running eagerly, else in the
        graph, into the group's ring buffer, on sampled steps and on the first step whose
        ``check`` (every gradient and the loss finite) fails, whatever ``every``.
        ``measured`` lists ``(row, variable, ratio)`` of the weights whose update scalars
        :meth:`after_update` measures once the optimizer has run (:func:`_measured_rows`):
        on sampled steps, their reads before the update are handed on (a buffer under
        XLA), and the first
        sampled step that reads them fills their w0 (:class:`_Origin`). ``model``: the
        label the global gradient norm goes under.

        With ``live`` (a traced step, not XLA), the work is the group's own function
        (``check`` None: ``checked`` are the tensors the check reads, ``rows_of(live)``
        makes the rows from ``live``, this trace's tensors): traced once for the group and
        called from every trace that reaches it (Keras traces a step twice), one call op
        in the training graph, inlined when it runs. A training step's new trace then
        costs one op per recorded update, not the per-tensor work again."""
        dtypes = {k: [compute_dtype(tf.as_dtype(t.dtype)).name for t in tensors[k]] for k in names}
        order = [(kind, n) for kind in names for n in names[kind]]
        if key is None:  # eager: straight to the Recording
            forced = False
            if check is not None:
                if self._eager_check is None:
                    self._eager_check = _NonFiniteCheck()
                forced = bool(self._eager_check.first(step, check).numpy())
            k = int(step.numpy())
            if k % self.every == 0 or forced:  # the host reads the rows now anyway
                data = rows_of().numpy()
                wall = [time.time()]
                rows, probes = data[:, :-PROBE_COLUMNS], data[:, -PROBE_COLUMNS:]
                if chief:
                    with self.rec.batch():
                        start = 0
                        for kind in names:
                            n = len(names[kind])
                            self.rec.add_rows(kind, names[kind], [k], rows[None, start : start + n], walls=wall, dtypes=dtypes[kind])
                            self._add_probes(kind, names[kind], [k], probes[None, start : start + n], wall)
                            if kind == "grads" and model is not None:
                                add_grad_norm(self.rec, model, [k], rows[None, start : start + n], wall)
                            start += n
                    if measured and k % self.every == 0:
                        items = []
                        for cd in (tf.float32, tf.float64):
                            pick = [(i, v, r) for i, v, r in measured if compute_dtype(tf.as_dtype(v.dtype)) == cd]
                            if pick:
                                variables = [v for _, v, _ in pick]
                                # copies (DeepCopy), not reads that could alias the updated buffers
                                before = [tf.raw_ops.DeepCopy(x=tf.convert_to_tensor(v)) for v in variables]
                                start_ = self._start_of(cd, variables)
                                origin = None
                                if start_ is not None:
                                    start_.fill_once(before)
                                    origin = start_.read()
                                items.append(([order[i][1] for i, _, _ in pick], variables, [r for _, _, r in pick], before, origin))
                        self._post[key] = (k, wall, items)
                    self._read_eager_check()
                    self.rec.changed()
            return
        group = self._group(opt, names, dtypes, model, _ring_budget(tensors))
        befores = group.befores(measured, self._start_of) if chief and measured else []
        xla = _compat.in_xla_context()
        clock = self._xla_clock() if xla else None
        std_col = self.bins + H.STD
        if xla:
            for b in befores:
                b.ensure_buffer()

        def record(step, checked, live):
            ok = _all_finite(checked) if live is not None else check
            sampled = tf.equal(step % self.every, 0)
            take = sampled if ok is None else sampled | group.nonfinite.first(step, ok)

            def _sampled():
                reads: dict = {}  # one read of each weight for the rows, w0 and after the update

                def read(v):
                    if id(v) not in reads:
                        reads[id(v)] = tf.convert_to_tensor(v)
                    return reads[id(v)]

                rows = rows_of(live, read) if live is not None else rows_of()
                held = []
                for b in befores:
                    values = [read(v) for v in b.variables]
                    if b.start is not None:
                        b.start.fill_once(values)  # w0, at the first sampled step that reads these weights
                    if b.buf is not None:  # XLA: a copy in the buffer (a branch's outputs keep their shapes there)
                        b.buf.assign(_flat(values, b.buf.dtype))
                        held.append(tf.zeros([]))
                    else:  # held for after_update (the update copies what is still read): one list
                        held.append(tensor_list([prepare(t) for t in values], b.dtype))
                if chief:
                    wall = tf.timestamp() if clock is None else clock.read_value()
                    group.write(step, rows, wall, tf.logical_not(sampled))
                stds = [tf.gather(rows[:, std_col], b.rows) for b in befores]
                with tf.control_dependencies([rows]):
                    return tf.constant(True), held, stds

            def _skipped():
                held = [tf.zeros([]) if b.buf is not None else tensor_list([], b.dtype) for b in befores]
                return tf.constant(False), held, [tf.zeros([len(b.rows)], tf.float64) for b in befores]

            _, held, stds = tf.cond(take, _sampled, _skipped)
            return step, held, stds

        if live is None:
            step, held, stds = record(step, None, None)
        else:
            if group.record is None:
                group.record = _own_function(record)
            step, held, stds = group.record(step, checked, live)
        if befores:
            self._post[key] = (group, step, befores, live is not None, list(held), list(stds))

    def _xla_clock(self):
        """XLA has no Timestamp op: XLA-compiled steps record the host time at which the
        call that runs them was made (set by the ``tf.function`` call wrapper)."""
        if self._clock is None:
            with tf.init_scope():
                self._clock = _compat.buffer_variable(tf.constant(time.time(), tf.float64), "tfhist_clock")
        return self._clock

    def after_update(self) -> None:
        """Once the optimizer's update ran, the update scalars of this step's weights
        (:func:`~._ops.update_scalars`), from the values before it that :meth:`_write`
        handed on: the update
        ratio of weight matrices (std of what the update changed over std of the weights
        before it), the update's norm ``||w_after - w||`` and the distance from the start
        ``||w - w0||`` of every weight with a static shape. Measured on what the optimizer
        actually did, so any optimizer, any ``every``."""
        key = _graph_key()
        post = self._post.pop(key, None)
        if post is None:
            return
        if key is None:
            k, wall, items = post
            with self.rec.batch():
                for names, variables, ratio, before, origin in items:
                    vals = update_scalars([tf.convert_to_tensor(v) for v in variables], before, origin, ratio).numpy()
                    self._add_probes("weights", names, [k], vals[None], wall)
            self.rec.changed()
            return
        group, step, befores, own, held, stds = post

        def after(step, held, stds):
            def _sampled():
                for b, before, std in zip(befores, held, stds):
                    afters = [tf.convert_to_tensor(v) for v in b.variables]
                    if b.buf is None:
                        origin = b.start.read_flat() if b.start is not None else None
                        vals = update_scalars_listed(afters, before, origin, b.ratio, std)
                    else:
                        sizes = [tf.TensorShape(v.shape).num_elements() for v in b.variables]
                        flat = b.buf.read_value()
                        origins = b.start.read() if b.start is not None else None
                        vals = update_scalars(afters, tf.split(flat, sizes) if len(sizes) > 1 else [flat], origins, b.ratio, std)
                    group.write_scalars(step, b.rows, vals)
                return tf.constant(True)

            tf.cond(tf.equal(step % self.every, 0), _sampled, lambda: tf.constant(False))

        if not own:
            after(step, held, stds)
            return
        if group.after is None:
            group.after = _own_function(after)
        group.after(step, held, stds)

    def _add_probes(self, kind: str, names, steps, probes, walls) -> None:
        """Probe columns into the Recording's scalar series (finite values only)."""
        add_probes(self.rec, kind, names, steps, probes, walls)

    def record_distributed(self, distribution, grads, variables) -> None:
        """Record an update in the cross-replica context of ``distribution`` (the
        optimizer's merge): ``grads`` are the reduced gradients the optimizer applies;
        the activations are every replica's, merged into one histogram per tensor
        (:func:`~._ops.merged_rows`), with their probes (a unit is dead when it is zero on
        every replica's share of the batch). The weight matrices' update ratios come from
        one copy, before this update and after it (:meth:`after_update`, which the
        optimizer's cross-replica update calls once it ran). Under
        ``MultiWorkerMirroredStrategy`` every worker computes the merged rows (the
        reductions are collective); only the chief keeps them."""
        key = _graph_key()
        stash = self._stash.pop(key, None)
        if stash is None:  # nothing was deferred: not a merged update (or not watched)
            return
        opt = stash.opt
        local = distribution.experimental_local_results
        by_tf = {id(self._tf_var(v)): v for v in stash.variables}
        pairs = [(by_tf.get(id(v), v), g) for g, v in zip(grads, variables)]
        variables = [v for v, _ in pairs]
        st = self._opt_state(opt, stash.mine[0].root if stash.mine else None)
        owner = stash.mine[0].root if stash.mine else None
        vnames = [self._unique(id(v), self._var_name(v), owner) for v in variables]
        st.vars, st.names = variables, vnames
        self.trained_var_ids.update(id(v) for v in variables)
        self.chief = bool(distribution.extended.should_save_summary)
        if not self.chief:
            st.vars = []  # no final snapshot either

        names: dict[str, list[str]] = {}
        tensors: dict[str, list] = {}
        replicas = [stash.acts[r] for r in sorted(stash.acts)]
        acts = replicas[0] if replicas else []
        if len(replicas) != len(distribution.extended.worker_devices) or any(
            [n for n, _, _ in a] != [n for n, _, _ in acts] or [t.dtype for _, t, _ in a] != [t.dtype for _, t, _ in acts]
            for a in replicas
        ):
            acts = []  # replicas that disagree about their layers: no activations (never one replica's)
            self.rec.note("Activations were not recorded: the replicas' forward passes differed.")
        if acts:
            names["activations"] = [n for n, _, _ in acts]
            tensors["activations"] = [t for _, t, _ in acts]
        if "weights" in self.kinds:
            names["weights"] = list(vnames)
            tensors["weights"] = [local(self._tf_var(v))[0] for v in variables]
        reduced = [(n, local(g)[0]) for n, (_, g) in zip(vnames, pairs) if g is not None]
        if "grads" in self.kinds:
            names["grads"] = [n for n, _ in reduced]
            tensors["grads"] = [g for _, g in reduced]
        self._add_models(stash.mine, names)
        names = {k: v for k, v in names.items() if v}
        tensors = {k: tensors[k] for k in names}
        if not names:
            return
        device = distribution.extended.worker_devices[0]
        # Dead units and saturation merged over the replicas in the counting round's
        # reduction; the update scalars from one copy of the weights, before and after the
        # cross-replica update (after_update, called once the optimizer's merge ran).
        kinds_of = [probe_kind(t, b) for _, t, b in acts]
        measured = _measured_rows(names, tensors)

        def rows_of():
            with tf.device(device):
                own = [t for kind in names if kind != "activations" for t in tensors[kind]]
                parts = [merged_rows(distribution, [[t for _, t, _ in a] for a in replicas], self.bins, kinds_of)] if acts else []
                if own:
                    rows = snapshot_rows([tf.convert_to_tensor(t) for t in own], self.bins)
                    parts.append(tf.concat([rows, tf.fill([tf.shape(rows)[0], PROBE_COLUMNS], tf.constant(np.nan, tf.float64))], 1))
                return tf.concat(parts, 0)

        with tf.device(device):
            step = tf.cast(tf.convert_to_tensor(self._iterations(opt)), tf.int64) - st.base
            check = _all_finite([g for _, g in reduced])
        self._write(opt, key, step, check, names, tensors, rows_of, measured, chief=self.chief, model=self._label_of(stash.mine, opt))

    @staticmethod
    def _applied(g, scale):
        """The gradient the optimizer applies: dense, without the loss scale."""
        g = tf.convert_to_tensor(g)  # densifies IndexedSlices
        return g if scale is None else g / scale

    def _group(self, opt, names, dtypes, model=None, budget: int = _RING_BYTES) -> _Group:
        sig = (id(opt), tuple((k, tuple(v)) for k, v in names.items()))
        for g in self._groups:
            if g.sig == sig:
                return g
        g = _Group(names, self.bins, self.every, budget)
        g.sig = sig
        g.model = model
        total = sum(len(v) for v in names.values())
        self.rec.status = {"text": f"preparing the recording for {total} tensors", "since": time.time()}
        self.rec.changed()  # a live page says so while the step is traced and compiled
        g.dtypes = dtypes
        self._groups.append(g)
        self._flush_at = min(self._flush_at, self._calls + 1)
        return g

    # -- host reads ----------------------------------------------------------------------
    def tick(self) -> None:
        """Called after every top-level tf.function call: flush on a throttle."""
        self._calls += 1
        if self._calls >= self._flush_at:
            self.flush()
        elif self.live_interval is not None and time.monotonic() - self._last_flush > self.live_interval:
            self.flush()

    def _read_eager_check(self) -> None:
        if self._eager_check is not None and self._eager_check.read() >= 0:
            self.rec.mark_nonfinite(self._eager_check.read())

    def flush(self) -> None:
        """Read every group's new rows into the Recording."""
        self._read_eager_check()
        if not self._groups:
            return
        got_any = False
        calls_since = max(1, self._calls - self._calls_at_flush)
        advanced = 0
        for g in self._groups:
            res = g.read()
            if g.lost:
                self.rec.note(
                    f"{g.lost} sampled steps were overwritten on the device before the host read them "
                    f"(ring of {g.ring} slots, every={self.every}); raise --every to keep up.",
                    key=("lost", id(g)),
                )
            bad = g.nonfinite.read()
            if bad >= 0:
                self.rec.mark_nonfinite(bad)
            if res is None:
                continue
            steps, walls, data = res
            with self.rec.batch():
                for kind, (rows, probes) in data.items():
                    self.rec.add_rows(kind, g.names[kind], steps, rows, walls=walls, dtypes=g.dtypes[kind])
                    self._add_probes(kind, g.names[kind], steps, probes, walls)
                    if kind == "grads" and g.model is not None:
                        add_grad_norm(self.rec, g.model, steps, rows, walls)
            got_any = True
        if got_any:
            self.rec.status = None
        for st in self._opts.values():
            opt = st.opt()
            if opt is not None and self._groups:
                now = int(self._iterations(opt).numpy())
                advanced = max(advanced, now - st.flushed_iterations)
                st.flushed_iterations = now
        if advanced:
            self._steps_per_call = max(1.0, advanced / calls_since)
        ring = min((g.ring for g in self._groups), default=16)
        self._calls_at_flush = self._calls
        self._flush_at = self._calls + max(1, int((ring / 2) * self.every / self._steps_per_call))
        self._last_flush = time.monotonic()
        if got_any:
            self.rec.changed()

    def _final_weights(self) -> None:
        """Weights after the last update, at step = number of updates done."""
        if "weights" not in self.kinds:
            return
        for st in self._opts.values():
            if st.opt() is None or not st.vars:
                continue
            k = st.read_done()
            if self.rec.last_step("weights", st.names[0]) < k:
                record_now(self.rec, "weights", st.names, [tf.convert_to_tensor(v) for v in st.vars], k)
        self.rec.changed()
