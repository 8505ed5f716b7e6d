"""``tf.compat.v1`` Session graphs: record what each watched ``Session.run`` computes.

``BaseSession.run`` (so ``Session``, ``InteractiveSession`` and the sessions inside a
``MonitoredSession``) and ``BaseSession.close`` are patched while the watch is open.

For each ``run``, the ops it executes are found from its fetches (backwards through
inputs and control inputs, stopping at fed tensors; cached per fetch/feed signature):

* it *trains* if it executes an optimizer apply op (``ApplyGradientDescent``,
  ``ResourceApplyAdam``, ``ResourceSparseApplyAdagrad``, ... any op with a ``grad`` or
  ``delta`` input that updates a variable): every ``tf.compat.v1.train`` optimizer;
* gradients are the exact ``grad`` inputs of those apply ops, named after their
  variables;
* weights are the reads of the trainable variables that the run's forward pass uses;
* activations are the outputs of activation ops (Relu, Sigmoid, Tanh, Softmax, ...) and
  of dense/conv layers (BiasAdd, or MatMul/Conv without one), outside the gradients;
  those no other one is computed from are the graph's outputs (``rec.outputs``).

Probes, as on the Keras path (``constants.PROBES``): the dead-unit share of each
activation (and the saturated share of Tanh/Sigmoid outputs) are probe columns of its
row. The update scalars of each weight (the update ratio of weight matrices, the update's
norm ``||Δw||``, the distance ``||w - w0||`` from its value at the first sampled run)
compare the read its forward pass used (the value before this run's update: that read is
upstream of the variable's apply ops, and a resource variable's read keeps its value)
with a read made after the run's apply ops of that variable (control dependencies on
them): exactly this run's update, for any optimizer. w0 is one variable per weight, of
the watch (in no collection: no Saver or initializer of the user's sees it), filled in
each session from the variable just before its first sampled run. All of them are part
of the sampled runs' extra fetch only.

What a run recorded reaches the Recording as one :class:`~tfhist_magic.block.Block`
through :func:`~tfhist_magic.block.deliver`, as on every other path.

The histogram rows of all of them are one extra fetch added to the user's own ``run``
call: no second forward or backward pass, and the user's results come back unchanged.
A finalized graph (``MonitoredTrainingSession``) cannot take new ops: its tensors are
fetched in the same call and binned on the host instead, and a note says so.

Steps: the k-th training ``run`` of a graph inside the watch is step k. A graph with no
optimizer at all (inference only) records the activations of its runs, step = run
index; in a graph that has one, only training runs are recorded.
Each session's trainable variables are recorded once more when it closes or the
watch ends, whichever comes first, at step = training runs done.
"""

from __future__ import annotations

import threading
import time
import weakref

import numpy as np
import tensorflow as tf

from .. import histogram as H
from .._errors import tf_message
from ..block import Block, deliver
from ..constants import KINDS
from ..health import is_weight_matrix
from ..recording import Recording
from . import _compat
from ._base import host_rows
from ._ops import PROBE_COLUMNS, compute_dtype, rows_and_probes, snapshot_rows
from ._scalars import UPDATE_COLUMNS, update_scalars
from ._graph import activation_ops, apply_grad_index, closure as run_closure, fetch_key, forward_read, graph_outputs, host_probe, session_probe_kind, update_reads, var_name
from ._patch import Patches
from ._update import all_finite

__all__ = ["SessionCapture", "is_session", "snapshot"]


def is_session(obj) -> bool:
    return isinstance(obj, _compat.BaseSession)


class _Plan:
    """What one fetch/feed signature of one graph records."""

    __slots__ = ("training", "names", "tensors", "rows", "host", "dtypes", "check", "guarded", "stamp", "kinds", "outputs", "updates", "update_rows", "origins")

    def __init__(self, training, names, tensors, rows, host, dtypes, check=None, guarded=None, stamp=None, kinds=(), outputs=(), updates=None, update_rows=(), origins=()):
        self.training = training
        self.names = names  # kind -> [names]
        self.tensors = tensors  # flat list, kinds in order (host mode fetches these)
        self.rows = rows  # the in-graph rows tensor, each row with its probe columns (None in host mode)
        self.host = host
        self.dtypes = dtypes  # kind -> [dtype names]
        self.check = check  # bool: every gradient of the run finite (None: nothing to check)
        self.guarded = guarded  # the rows when the check fails, else an empty [0, W]
        self.stamp = stamp  # the time the run computed them (tf.timestamp)
        self.kinds = kinds  # probe kind of each of ``tensors`` (``_ops.probe_kind``; None: no probe)
        self.outputs = outputs  # names of the activations that are the graph's outputs
        self.updates = updates  # [len(update_rows), UPDATE_COLUMNS] this run's update scalars (None: none)
        self.update_rows = update_rows  # the weights (indices into ``names["weights"]``) they belong to
        self.origins = origins  # the w0 variables ``updates`` reads (``_GraphState.origins``)


class _GraphState:
    def __init__(self, graph):
        self.graph = weakref.ref(graph)
        self.train_runs = 0
        self.other_runs = 0
        self.plans: dict = {}
        self.version = -1
        self.scanned = 0
        self.applies: list = []  # (apply op, grad tensor, var tensor)
        self.label = f"graph@{id(graph):x}"
        self.final_rows = None
        self.names: set = set()
        self.first_bad: int | None = None  # the first training run whose gradients went non-finite
        self.origins: dict = {}  # weight name -> its w0 variable (the watch's, in no collection)
        # session -> the weights whose w0 it filled (weak: a freed session's id is reused)
        self.filled: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


class SessionCapture:
    """Records tf.compat.v1 Session runs into ``recording``; a context manager."""

    def __init__(self, recording: Recording, *, every: int, kinds, targets=None, init_distance: bool = True):
        self.rec = recording
        self.init_distance = bool(init_distance)
        self.bins = recording.bins
        self.every = int(every)
        self.kinds = tuple(k for k in KINDS if k in kinds)
        self.targets = list(targets) if targets else None
        self.patches = Patches()
        self._graphs: dict[int, _GraphState] = {}
        self._sessions: dict[int, weakref.ref] = {}
        self._finished: weakref.WeakSet = weakref.WeakSet()  # sessions whose final weights are taken
        self._local = threading.local()
        self.last_feed: dict[int, object] = {}

    # -- install -----------------------------------------------------------------------
    def __enter__(self):
        cap = self
        orig_run = _compat.BaseSession.run
        orig_close = _compat.BaseSession.close

        def run(sess, fetches, feed_dict=None, options=None, run_metadata=None):
            return cap._run(sess, orig_run, fetches, feed_dict, options, run_metadata)

        def close(sess):
            try:
                cap._final(sess, orig_run)
            finally:
                return orig_close(sess)

        self._orig_run = orig_run
        self.patches.set(_compat.BaseSession, "run", run)
        self.patches.set(_compat.BaseSession, "close", close)
        return self

    def close(self) -> None:
        try:
            for sid, ref in list(self._sessions.items()):
                sess = ref()
                if sess is not None and not _compat.session_closed(sess):
                    self._final(sess, self._orig_run)
        finally:
            self.patches.undo()

    def __exit__(self, *exc):
        self.close()
        return False

    # -- what a run executes -----------------------------------------------------------
    def _state(self, graph) -> _GraphState:
        st = self._graphs.get(id(graph))
        if st is None or st.graph() is not graph:
            st = self._graphs[id(graph)] = _GraphState(graph)
        # Ops are immutable once made, so a plan (keyed by fetches and feeds) never goes
        # stale; only the apply ops added since the last look need finding.
        version = graph.version
        if version != st.version:
            for op in graph.get_operations()[st.scanned :]:
                i = apply_grad_index(op)
                if i is not None:
                    st.applies.append((op, op.inputs[i], op.inputs[0]))
            st.scanned = len(graph.get_operations())
            st.version = version
        return st

    def _plan(self, sess, st: _GraphState, fetches, feed_dict):
        graph = sess.graph
        key = (fetch_key(fetches), tuple(sorted(str(getattr(k, "name", k)) for k in (feed_dict or {}))))
        if key in st.plans:
            return st.plans[key]
        closure, fed = run_closure(graph, fetches, feed_dict)
        applies = [(op, g, v) for op, g, v in st.applies if op in closure]
        training = bool(applies)
        names: dict[str, list] = {}
        tensors: dict[str, list] = {}
        reads = []
        if training and "weights" in self.kinds:
            for v in graph.get_collection(tf.compat.v1.GraphKeys.TRAINABLE_VARIABLES):
                r = forward_read(v, closure)
                if r is not None:
                    reads.append((v.op.name, r, v))
            names["weights"] = [n for n, _, _ in reads]
            tensors["weights"] = [r for _, r, _ in reads]
        if training and "grads" in self.kinds:
            names["grads"] = [var_name(var) for _, _, var in applies]
            tensors["grads"] = [g for _, g, _ in applies]
        if "activations" in self.kinds and (training or not st.applies):
            acts = [op.outputs[0] for op in activation_ops(closure) if op.outputs[0].name not in fed]
            acts.sort(key=lambda t: _compat.op_order(t.op))  # graph order: model order
            names["activations"] = [t.op.name for t in acts]
            tensors["activations"] = acts
        names = {k: v for k, v in names.items() if v}
        flat = [t for k in KINDS if k in names for t in tensors[k]]
        dtypes = {k: [compute_dtype(t.dtype.base_dtype).name for t in tensors[k]] for k in names}
        names = {k: names[k] for k in KINDS if k in names}
        acts = tensors.get("activations", []) if "activations" in names else []
        kinds = [session_probe_kind(t, closure) for t in acts] + [None] * (len(flat) - len(acts))
        outputs = graph_outputs(acts, fed)
        if not flat:
            plan = None
        elif graph.finalized:
            self.rec.note(
                f"{st.label} is finalized (MonitoredTrainingSession?): its tensors are fetched in the same run and binned on the host, which is slower."
            )
            plan = _Plan(training, names, flat, None, True, dtypes, kinds=kinds, outputs=outputs)
        else:
            measured, unmeasured = update_reads(reads, applies, fed) if "weights" in names else ([], [])
            if unmeasured:
                self.rec.note(
                    f"{st.label}: no update ratio, update norm or distance from init for {', '.join(unmeasured[:3])}{' ...' if len(unmeasured) > 3 else ''}: "
                    "they are measured for resource variables (TF2's default) whose forward read runs before their update."
                )
            with graph.as_default(), tf.name_scope("tfhist"):
                rows = rows_and_probes(flat, self.bins, kinds)
                stamp = tf.timestamp()
                check = guarded = None
                if training:
                    # Every run: are all gradients finite? The first run where they are not is
                    # recorded in full whatever ``every`` (its rows computed only then).
                    check = all_finite([g for _, g, _ in applies])
                    if check is not None:
                        empty = tf.zeros([0, self.bins + H.EXTRA + PROBE_COLUMNS], tf.float64)
                        guarded = tf.cond(check, lambda: empty, lambda: rows_and_probes(flat, self.bins, kinds))
                updates, origins = self._updates(st, measured, reads)
            plan = _Plan(training, names, flat, rows, False, dtypes, check, guarded, stamp, kinds, outputs, updates, [i for i, *_ in measured], origins)
        st.plans[key] = plan
        return plan

    def _updates(self, st: _GraphState, measured, reads):
        """``(updates, origins)``: the update scalars of the weights ``measured`` (see
        :func:`update_reads`) as one ``[M, UPDATE_COLUMNS]`` tensor of the graph (None:
        none), and the names of the weights whose w0 variables it reads (none without
        ``init_distance``)."""
        if not measured:
            return None, []
        afters = []
        for _, before, v, ops in measured:
            # the variable's value once this run's apply ops of it have run
            with tf.control_dependencies(ops):
                afters.append(tf.raw_ops.ReadVariableOp(resource=v.handle, dtype=v.dtype.base_dtype))
        origins = [reads[i][0] for i, *_ in measured] if self.init_distance else []
        values = [self._origin(st, reads[i][0], v).read_value() for i, _, v, _ in measured] if origins else None
        ratio = [is_weight_matrix(reads[i][0]) and len(before.shape) >= 2 for i, before, _, _ in measured]
        return update_scalars(afters, [before for _, before, _, _ in measured], values, ratio), origins

    @staticmethod
    def _origin(st: _GraphState, name: str, v):
        """The w0 variable of the weight ``name`` (variable ``v``), made once per graph:
        in no collection (the user's Savers and initializers never see it), initialized
        from ``v``'s value (see :meth:`_fill_origins`)."""
        o = st.origins.get(name)
        if o is None:
            o = st.origins[name] = tf.compat.v1.Variable(
                tf.raw_ops.ReadVariableOp(resource=v.handle, dtype=v.dtype.base_dtype),
                trainable=False, collections=[], use_resource=True, name="w0",
            )
        return o

    def _fill_origins(self, sess, orig, st: _GraphState, plan) -> None:
        """Before ``sess``'s first sampled run of ``plan``: set the w0 variables it reads
        that ``sess`` has not filled yet to the weights' values now (what the run's forward
        pass is about to read), so its distance from init is 0 and later ones measure from
        there."""
        filled = st.filled.setdefault(sess, set())
        todo = [n for n in plan.origins if n not in filled]
        if todo:
            orig(sess, [st.origins[n].initializer for n in todo])
            filled.update(todo)

    # -- the patched run -------------------------------------------------------------
    def _run(self, sess, orig, fetches, feed_dict, options, run_metadata):
        local = self._local
        if getattr(local, "busy", False) or (self.targets is not None and not any(sess is t for t in self.targets)):
            return orig(sess, fetches, feed_dict, options, run_metadata)
        local.busy = True
        try:
            try:
                st = self._state(sess.graph)
                plan = self._plan(sess, st, fetches, feed_dict)
            except Exception as e:  # never break the user's run
                self.rec.note(f"could not instrument a Session.run ({type(e).__name__}: {e}); it ran unwatched.")
                plan = None
            self._sessions[id(sess)] = weakref.ref(sess)
            step = None if plan is None else self._step(st, plan)
            if step is None:
                return orig(sess, fetches, feed_dict, options, run_metadata)
            self.last_feed[id(sess)] = feed_dict
            run = self._host_run if plan.host else self._graph_run
            return run(sess, orig, st, plan, step, (fetches, feed_dict, options, run_metadata))
        finally:
            local.busy = False

    @staticmethod
    def _step(st: _GraphState, plan) -> int | None:
        """The step of a run of ``plan`` (counted), or None when it is not recorded (a
        run that does not train, in a graph that has an optimizer)."""
        if plan.training:
            st.train_runs += 1
            return st.train_runs - 1
        if not st.applies:  # a graph with no optimizer: its runs are the steps
            st.other_runs += 1
            return st.other_runs - 1
        return None

    def _host_run(self, sess, orig, st, plan, step, args):
        """A run of a finalized graph: its tensors fetched in the same call on sampled
        steps, binned on the host."""
        fetches, feed_dict, options, run_metadata = args
        if step % self.every:
            return orig(sess, fetches, feed_dict, options, run_metadata)
        result, got = orig(sess, [fetches, plan.tensors], feed_dict, options, run_metadata)
        rows = host_rows(got, self.bins)
        probes = np.array([host_probe(a, k) for a, k in zip(got, plan.kinds)], dtype=np.float64).reshape(-1, PROBE_COLUMNS)
        self._deliver(st, plan, step, time.time(), rows, probes)
        return result

    def _graph_run(self, sess, orig, st, plan, step, args):
        """A run with the rows (sampled steps) and the finiteness check (until the first
        bad step) as one extra fetch beside the user's."""
        fetches, feed_dict, options, run_metadata = args
        sampled = step % self.every == 0
        checking = plan.check is not None and st.first_bad is None
        if not (sampled or checking):
            return orig(sess, fetches, feed_dict, options, run_metadata)
        extra = {"rows": plan.rows if sampled else plan.guarded, "stamp": plan.stamp}
        if checking:
            extra["check"] = plan.check
        if sampled and plan.updates is not None:
            extra["updates"] = plan.updates
            self._fill_origins(sess, orig, st, plan)
        result, got = orig(sess, [fetches, extra], feed_dict, options, run_metadata)
        bad = checking and not got["check"]
        if bad:
            st.first_bad = step
        data = got["rows"]
        B = self.bins + H.EXTRA
        if len(data) or bad:
            self._deliver(st, plan, step, float(got["stamp"]), data[:, :B], data[:, B:], got.get("updates"), step if bad else None)
        return result

    def _deliver(self, st: _GraphState, plan, step: int, wall: float, rows, probes=None, updates=None, nonfinite=None) -> None:
        """One run's rows ``[T, bins + 10]`` (kinds in ``plan.names`` order), their probe
        columns ``[T, PROBE_COLUMNS]`` and the weights' update scalars ``[M,
        UPDATE_COLUMNS]`` (rows ``plan.update_rows``) as one Block."""
        b = Block(model=st.label, steps=[step] if len(rows) else [], walls=[wall] if len(rows) else [], outputs=tuple(plan.outputs), nonfinite=nonfinite)
        start = 0
        for kind, ns in plan.names.items():
            if not len(rows):
                break
            b.names[kind], b.dtypes[kind] = ns, plan.dtypes[kind]
            b.rows[kind] = rows[None, start : start + len(ns)]
            if kind == "activations" and probes is not None:
                b.probes[kind] = probes[None, start : start + len(ns)]
            elif kind == "weights" and updates is not None:
                cols = np.full((1, len(ns), UPDATE_COLUMNS), np.nan)
                cols[0, plan.update_rows] = updates
                b.probes[kind] = cols
            start += len(ns)
            st.names.update(ns)
        deliver(self.rec, b)

    # -- final weights ---------------------------------------------------------------
    def _final(self, sess, orig_run) -> None:
        """The trainable variables once more, at step = training runs done."""
        if sess in self._finished or id(sess) not in self._sessions or "weights" not in self.kinds:
            return
        self._finished.add(sess)
        graph = sess.graph
        st = self._state(graph)
        variables = graph.get_collection(tf.compat.v1.GraphKeys.TRAINABLE_VARIABLES)
        if not variables:
            return
        names = [v.op.name for v in variables]
        step = st.train_runs
        if self.rec.last_step("weights", names[0]) >= step:
            return
        local = self._local
        local.busy = True
        try:
            if graph.finalized:
                values = orig_run(sess, list(variables))
                rows = host_rows(values, self.bins)
            else:
                if st.final_rows is None:
                    with graph.as_default(), tf.name_scope("tfhist"):
                        st.final_rows = snapshot_rows([v.read_value() if hasattr(v, "read_value") else v for v in variables], self.bins)
                rows = orig_run(sess, st.final_rows)
        except tf.errors.FailedPreconditionError:
            self.rec.note(f"{st.label}: the variables were not initialized when its session closed; no final weights.")
            return
        finally:
            local.busy = False
        dtypes = [compute_dtype(v.dtype.base_dtype).name for v in variables]
        self._deliver(st, _Plan(True, {"weights": names}, None, None, False, {"weights": dtypes}), step, time.time(), rows)

    # -- queries ---------------------------------------------------------------------
    def sessions(self) -> dict:
        """id -> weakref of every session whose runs this capture saw."""
        return dict(self._sessions)

    def recorded_names(self, sess) -> list | None:
        if id(sess) not in self._sessions or self._sessions[id(sess)]() is not sess:
            return None
        st = self._graphs.get(id(sess.graph))
        return sorted(st.names) if st and st.names else None

    def trained(self, sess) -> bool:
        st = self._graphs.get(id(sess.graph))
        return id(sess) in self._sessions and st is not None and (st.train_runs > 0 or bool(st.names))


def snapshot(sess, recording: Recording, *, kinds, feed=None) -> Recording:
    """A fresh snapshot of ``sess``'s graph at step 0: trainable variables now;
    activations (and gradients, when the graph has optimizer apply ops) computed with
    ``feed``. Runs no training op and changes no variable.

    Raises:
        ValueError: when the graph needs values the feed does not give.
    """
    graph = sess.graph
    label = f"graph@{id(graph):x}"
    parts: dict[str, list] = {}
    if "weights" in kinds:
        variables = graph.get_collection(tf.compat.v1.GraphKeys.TRAINABLE_VARIABLES)
        parts["weights"] = [(v.op.name, v) for v in variables]
    if feed is not None and "activations" in kinds:
        acts = sorted(activation_ops(graph.get_operations()), key=_compat.op_order)
        parts["activations"] = [(op.name, op.outputs[0]) for op in acts]
    if feed is not None and "grads" in kinds:
        grads = []
        for op in graph.get_operations():
            i = apply_grad_index(op)
            if i is not None:
                grads.append((var_name(op.inputs[0]), op.inputs[i]))
        parts["grads"] = grads
    parts = {k: v for k, v in parts.items() if v}
    if not parts:
        return recording
    flat = [t for k in KINDS if k in parts for _, t in parts[k]]
    cap_run = _compat.BaseSession.run
    try:
        if graph.finalized:
            values = cap_run(sess, flat, feed_dict=feed)
            rows = host_rows(values, recording.bins)
        else:
            with graph.as_default(), tf.name_scope("tfhist"):
                rows_t = snapshot_rows([v.read_value() if hasattr(v, "read_value") else v for v in flat], recording.bins)
            rows = cap_run(sess, rows_t, feed_dict=feed)
    except tf.errors.InvalidArgumentError as e:
        raise ValueError(f"The graph needs more than the feed gives: {tf_message(e)}.") from None
    except tf.errors.FailedPreconditionError:
        raise ValueError("The session's variables are not initialized yet: run the initializer first.") from None
    b, start = Block(steps=[0], walls=[time.time()]), 0
    for kind in KINDS:
        if kind in parts:
            b.names[kind] = [n for n, _ in parts[kind]]
            b.dtypes[kind] = [compute_dtype(t.dtype.base_dtype).name for _, t in parts[kind]]
            b.rows[kind] = rows[None, start : start + len(parts[kind])]
            start += len(parts[kind])
    deliver(recording, b)  # of no model: a snapshot has no gradient norm of a step (as on Keras)
    deliver(recording, Block(model=label, names={"": [n for ns in b.names.values() for n in ns]}))
    return recording
