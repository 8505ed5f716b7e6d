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

Probes, as on the Keras path (``_tf2.PROBES``): the dead-unit share of each activation
(and the saturated share of Tanh/Sigmoid outputs) are probe columns of its row; the
update ratio of each weight matrix compares the read its forward pass used (the value
before this run's update: that read is upstream of the variable's apply ops, and a
resource variable's read keeps its value) with a read made after the run's apply ops of
that variable (control dependencies on them): exactly this run's update, for any
optimizer. Both are part of the sampled runs' extra fetch only.

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
from ..health import is_weight_matrix
from ..recording import KINDS, Recording
from . import _compat
from ._ops import PROBE_COLUMNS, SATURATION_MARGIN, compute_dtype, probe_kind, rows_and_probes, snapshot_rows, update_ratio
from ._tf2 import add_probes
from ._patch import Patches

__all__ = ["SessionCapture", "is_session", "ACTIVATION_OPS"]

#: Op types whose outputs are activations.
ACTIVATION_OPS = frozenset(
    ["Relu", "Relu6", "Elu", "Selu", "LeakyRelu", "Sigmoid", "Tanh", "Softmax", "LogSoftmax", "Softplus", "Softsign", "Gelu"]
)
_LINEAR_OPS = frozenset(["MatMul", "BatchMatMulV2", "Conv1D", "Conv2D", "Conv3D", "DepthwiseConv2dNative"])
_APPLY_PREFIXES = ("Apply", "ResourceApply", "SparseApply", "ResourceSparseApply")
#: Activation ops whose outputs are bounded (their probe kind, ``_ops.probe_kind``), and
#: the bounds (for the host-binned path).
_BOUNDED = {"Tanh": "tanh", "Sigmoid": "sigmoid"}
_HOST_BOUNDS = {"tanh": (-1.0, 1.0), "sigmoid": (0.0, 1.0)}


def is_session(obj) -> bool:
    return isinstance(obj, _compat.BaseSession)


def _apply_grad_index(op):
    if not op.type.startswith(_APPLY_PREFIXES):
        return None
    names = [a.name for a in op.op_def.input_arg]
    for key in ("grad", "delta"):
        if key in names:
            return names.index(key)
    return None


def _var_name(t) -> str:
    return t.op.name


def _in_backward(op) -> bool:
    name = op.name
    return name.startswith("gradients") or "/gradients/" in name


class _Plan:
    """What one fetch/feed signature of one graph records."""

    __slots__ = ("training", "names", "tensors", "rows", "host", "dtypes", "check", "guarded", "stamp", "kinds", "outputs", "ratios", "ratio_rows")

    def __init__(self, training, names, tensors, rows, host, dtypes, check=None, guarded=None, stamp=None, kinds=(), outputs=(), ratios=None, ratio_rows=()):
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
        self.ratios = ratios  # [len(ratio_rows)] update ratios of this run's update (None: none)
        self.ratio_rows = ratio_rows  # the rows (indices into ``tensors``) they belong to


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


class SessionCapture:
    """Records tf.compat.v1 Session runs into ``recording``; a context manager."""

    def __init__(self, recording: Recording, *, every: int, kinds, targets=None):
        self.rec = recording
        self.bins = recording.bins
        self.every = int(every)
        self.kinds = tuple(k for k in KINDS if k in kinds)
        self.targets = list(targets) if targets else None
        self.patches = Patches()
        self._graphs: dict[int, _GraphState] = {}
        self._sessions: dict[int, weakref.ref] = {}
        self._finished: set[int] = set()
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
                i = _apply_grad_index(op)
                if i is not None:
                    st.applies.append((op, op.inputs[i], op.inputs[0]))
            st.scanned = len(graph.get_operations())
            st.version = version
        return st

    def _closure(self, graph, fetches, feed_dict):
        with graph.as_default():
            mapper = _compat.fetch_mapper(fetches)
        roots = []
        for f in mapper.unique_fetches():
            el = graph.as_graph_element(f, allow_tensor=True, allow_operation=True)
            roots.append(el if isinstance(el, tf.Operation) else el.op)
        fed = set()
        for k in (feed_dict or {}):
            try:
                el = graph.as_graph_element(k, allow_tensor=True, allow_operation=False)
                fed.add(el.name)
            except Exception:  # SparseTensor feeds and the like: traversal just goes on
                continue
        seen: set = set()
        stack = list(roots)
        while stack:
            op = stack.pop()
            if op in seen:
                continue
            seen.add(op)
            for t in op.inputs:
                if t.name not in fed:
                    stack.append(t.op)
            stack.extend(op.control_inputs)
        return seen, fed

    def _plan(self, sess, st: _GraphState, fetches, feed_dict):
        graph = sess.graph
        key = (_fetch_key(fetches), tuple(sorted(str(getattr(k, "name", k)) for k in (feed_dict or {}))))
        if key in st.plans:
            return st.plans[key]
        closure, fed = self._closure(graph, fetches, feed_dict)
        applies = [(op, g, v) for op, g, v in st.applies if op in closure]
        training = bool(applies)
        names: dict[str, list] = {}
        tensors: dict[str, list] = {}
        reads = []
        if training and "weights" in self.kinds:
            for v in graph.get_collection(tf.compat.v1.GraphKeys.TRAINABLE_VARIABLES):
                r = _forward_read(v, closure)
                if r is not None:
                    reads.append((v.op.name, r, v))
            names["weights"] = [n for n, _, _ in reads]
            tensors["weights"] = [r for _, r, _ in reads]
        if training and "grads" in self.kinds:
            names["grads"] = [_var_name(var) for _, _, var in applies]
            tensors["grads"] = [g for _, g, _ in applies]
        if "activations" in self.kinds and (training or not st.applies):
            acts = [op.outputs[0] for op in _activation_ops(closure) if op.outputs[0].name not in fed]
            acts.sort(key=lambda t: _compat.op_order(t.op))  # graph order: model order
            names["activations"] = [t.op.name for t in acts]
            tensors["activations"] = acts
        names = {k: v for k, v in names.items() if v}
        flat = [t for k in KINDS if k in names for t in tensors[k]]
        dtypes = {k: [compute_dtype(t.dtype.base_dtype).name for t in tensors[k]] for k in names}
        names = {k: names[k] for k in KINDS if k in names}
        acts = tensors.get("activations", []) if "activations" in names else []
        kinds = [_session_probe_kind(t, closure) for t in acts] + [None] * (len(flat) - len(acts))
        outputs = _outputs(acts, fed)
        if not flat:
            plan = None
        elif graph.finalized:
            self.rec.note(
                f"{st.label} is finalized (MonitoredTrainingSession?): its tensors are fetched in the same run and binned on the host, which is slower."
            )
            plan = _Plan(training, names, flat, None, True, dtypes, kinds=kinds, outputs=outputs)
        else:
            first_weight = len(acts)
            measured, unmeasured = _ratio_reads(reads, applies, fed) if "weights" in names else ([], [])
            if unmeasured:
                self.rec.note(
                    f"{st.label}: no update ratio for {', '.join(unmeasured[:3])}{' ...' if len(unmeasured) > 3 else ''}: "
                    "it is measured for resource variables (TF2's default) whose forward read runs before their update."
                )
            with graph.as_default(), tf.name_scope("tfhist"):
                rows = rows_and_probes(flat, self.bins, kinds)
                stamp = tf.timestamp()
                check = guarded = None
                grads = [g for _, g, _ in applies if g.dtype.base_dtype.is_floating]
                if training and grads:
                    # Every run: are all gradients finite? The first run where they are not is
                    # recorded in full whatever ``every`` (its rows computed only then).
                    check = tf.reduce_all(tf.stack([tf.reduce_all(tf.math.is_finite(g)) for g in grads]))
                    empty = tf.zeros([0, self.bins + H.EXTRA + PROBE_COLUMNS], tf.float64)
                    guarded = tf.cond(check, lambda: empty, lambda: rows_and_probes(flat, self.bins, kinds))
                ratios = None
                if measured:
                    ratios = []
                    for _, before, v, ops in measured:
                        # the variable's value once this run's apply ops of it have run
                        with tf.control_dependencies(ops):
                            after = tf.raw_ops.ReadVariableOp(resource=v.handle, dtype=v.dtype.base_dtype)
                        ratios.append(update_ratio(after, before))
                    ratios = tf.stack(ratios)
            ratio_rows = [first_weight + i for i, _, _, _ in measured]
            plan = _Plan(training, names, flat, rows, False, dtypes, check, guarded, stamp, kinds, outputs, ratios, ratio_rows)
        st.plans[key] = plan
        return plan

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
            if plan is None:
                return orig(sess, fetches, feed_dict, options, run_metadata)
            if plan.training:
                step = st.train_runs
                st.train_runs += 1
            elif not st.applies:  # a graph with no optimizer: its runs are the steps
                step = st.other_runs
                st.other_runs += 1
            else:
                return orig(sess, fetches, feed_dict, options, run_metadata)
            self.last_feed[id(sess)] = feed_dict
            sampled = step % self.every == 0
            checking = plan.check is not None and st.first_bad is None
            if plan.host:
                if not sampled:
                    return orig(sess, fetches, feed_dict, options, run_metadata)
                result, got = orig(sess, [fetches, plan.tensors], feed_dict, options, run_metadata)
                rows = np.stack([H.reference_row(a, self.bins) for a in got])
                probes = np.array([_host_probe(a, k) for a, k in zip(got, plan.kinds)], dtype=np.float64).reshape(-1, PROBE_COLUMNS)
                self._add(st, plan.names, plan.dtypes, step, rows, time.time(), probes, plan.outputs)
                return result
            if not (sampled or checking):
                return orig(sess, fetches, feed_dict, options, run_metadata)
            extra = {"rows": plan.rows if sampled else plan.guarded, "stamp": plan.stamp}
            if checking:
                extra["check"] = plan.check
            if sampled and plan.ratios is not None:
                extra["ratios"] = plan.ratios
            result, got = orig(sess, [fetches, extra], feed_dict, options, run_metadata)
            if checking and not got["check"]:
                st.first_bad = step
                self.rec.mark_nonfinite(step)
            data = got["rows"]
            if len(data):
                B = self.bins + H.EXTRA
                probes = data[:, B:].copy()
                if "ratios" in got:
                    probes[plan.ratio_rows, 0] = got["ratios"]
                self._add(st, plan.names, plan.dtypes, step, data[:, :B], float(got["stamp"]), probes, plan.outputs)
            return result
        finally:
            local.busy = False

    def _add(self, st: _GraphState, names: dict, dtypes: dict, step: int, rows: np.ndarray, wall: float, probes=None, outputs=()) -> None:
        """Rows ``[T, bins + 10]`` of one run (kinds in ``names`` order) and, when given,
        their probe columns ``[T, PROBE_COLUMNS]`` into the Recording's scalar series."""
        # the model (and its outputs) first: the rules on activations judge hidden layers only
        self.rec.add_model(st.label, [n for ns in names.values() for n in ns], outputs)
        start = 0
        with self.rec.batch():
            for kind, ns in names.items():
                self.rec.add_rows(kind, ns, [step], rows[None, start : start + len(ns)], walls=[wall], dtypes=dtypes[kind])
                if probes is not None:
                    add_probes(self.rec, kind, ns, [step], probes[None, start : start + len(ns)], [wall])
                start += len(ns)
                st.names.update(ns)
        self.rec.changed()

    # -- final weights ---------------------------------------------------------------
    def _final(self, sess, orig_run) -> None:
        """The trainable variables once more, at step = training runs done."""
        if id(sess) in self._finished or id(sess) not in self._sessions or "weights" not in self.kinds:
            return
        self._finished.add(id(sess))
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
                rows = np.stack([H.reference_row(a, self.bins) for a in values])
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
        self._add(st, {"weights": names}, {"weights": dtypes}, step, rows, time.time())

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


def _fetch_key(fetches):
    """A hashable key for a fetch structure (names of its elements, in order)."""
    out = []
    for f in tf.nest.flatten(fetches, expand_composites=False):
        out.append(getattr(f, "name", None) or str(f))
    return tuple(out)


def _forward_read(v, closure):
    """The tensor holding ``v``'s value as the run's forward pass reads it."""
    handle = getattr(v, "handle", None)
    if handle is not None and handle.dtype == tf.resource:
        reads = [op for op in handle.consumers() if op.type == "ReadVariableOp" and op in closure and not _in_backward(op)]
        if reads:
            reads.sort(key=_compat.op_order)
            return reads[0].outputs[0]
        return None
    # A reference variable: its "read" identity.
    ref = _compat.ref_variable_tensor(v)
    for op in ref.consumers():
        if op.type == "Identity" and op in closure:
            return op.outputs[0]
    return None


def _session_probe_kind(t, closure):
    """``_ops.probe_kind`` of activation ``t``; None for a layer's pre-activation (a
    BiasAdd or MatMul that feeds an activation op of the run: the layer's output is that
    op's, as Keras records it), so a dead layer is one finding, on its activation."""
    if t.op.type not in ACTIVATION_OPS and any(c.type in ACTIVATION_OPS and c in closure for c in t.consumers()):
        return None
    return probe_kind(t, _BOUNDED.get(t.op.type))


def _outputs(acts, fed) -> list:
    """Names of the activations ``acts`` that no other one is computed from: the graph's
    outputs (a classifier's sigmoid is meant to saturate; the rules leave them out)."""
    upstream: set = set()
    stack = [t.op for a in acts for t in a.op.inputs if t.name not in fed]
    while stack:
        op = stack.pop()
        if op in upstream:
            continue
        upstream.add(op)
        stack.extend(t.op for t in op.inputs if t.name not in fed)
    return [a.op.name for a in acts if a.op not in upstream]


def _ratio_reads(reads, applies, fed) -> tuple:
    """``([(i, before, variable, apply ops)], unmeasured)`` for the weights ``reads``
    (``[(name, read, variable)]``): those whose update ratio a run can measure exactly,
    weight matrices (rank >= 2, :func:`~tfhist_magic.health.is_weight_matrix`) updated by
    apply ops of the run, held in resource variables (a reference variable's read aliases
    its buffer, so the update would show in it), whose forward read ``before`` is upstream
    of every one of those ops (so it ran before the update: the value before it); and the
    names of the other updated weight matrices."""
    ops_of: dict = {}
    for op, _, var in applies:
        ops_of.setdefault(var.name, []).append(op)
    cand, unmeasured = [], []
    for i, (name, r, v) in enumerate(reads):
        shape = tf.TensorShape(r.shape)
        if not ((shape.rank or 0) >= 2 and shape.is_fully_defined() and is_weight_matrix(name)):
            continue
        handle = getattr(v, "handle", None)
        if handle is not None and handle.dtype == tf.resource and handle.name in ops_of:
            cand.append((i, r, v, ops_of[handle.name]))
        elif _compat.ref_variable_tensor(v).name in ops_of:
            unmeasured.append(name)
    if not cand:
        return [], unmeasured
    bit = {r.op: 1 << j for j, (_, r, _, _) in enumerate(cand)}
    mask = _upstream_masks([op for *_, ops in cand for op in ops], bit, fed)
    ok = [all(mask.get(op, 0) >> j & 1 for op in ops) for j, (_, _, _, ops) in enumerate(cand)]
    unmeasured += [reads[i][0] for (i, *_), good in zip(cand, ok) if not good]
    return [c for c, good in zip(cand, ok) if good], unmeasured


def _upstream_masks(roots, bit: dict, fed) -> dict:
    """``op -> int``: the OR of ``bit[o]`` over ``op`` and every op upstream of it (inputs
    and control inputs, not through fed tensors), for the ops upstream of ``roots``. One
    pass (each op once); a cycle (a while loop's back edge) is cut where it closes."""
    mask: dict = {}
    started: set = set()
    for root in roots:
        stack = [root]
        while stack:
            op = stack[-1]
            if op in mask:
                stack.pop()
                continue
            preds = [t.op for t in op.inputs if t.name not in fed] + list(op.control_inputs)
            if op not in started:
                started.add(op)
                pending = [p for p in preds if p not in mask and p not in started]
                if pending:
                    stack.extend(pending)
                    continue
            m = bit.get(op, 0)
            for p in preds:
                m |= mask.get(p, 0)
            mask[op] = m
            stack.pop()
    return mask


def _host_probe(values, kind) -> tuple:
    """``_ops.probes`` of one fetched activation, in NumPy (the host-binned path): the share
    of units zero on every example and, for a bounded kind, the saturated share."""
    if kind is None:
        return (np.nan, np.nan)
    a = np.asarray(values)
    x = a.astype(np.float64 if a.dtype == np.float64 else np.float32).reshape(-1, a.shape[-1])
    dead = float(np.mean(~np.any(x != 0, axis=0)))
    bounds = _HOST_BOUNDS.get(kind)
    if bounds is None or not x.size:
        return (dead, np.nan)
    m = x.dtype.type(SATURATION_MARGIN)
    lo, hi = (x.dtype.type(b) for b in bounds)
    return (dead, float(np.mean((x < lo + m) | (x > hi - m))))


def _activation_ops(closure):
    for op in closure:
        if _in_backward(op) or op.name.startswith("tfhist"):
            continue
        if op.type in ACTIVATION_OPS or op.type == "BiasAdd":
            yield op
        elif op.type in _LINEAR_OPS:
            if not any(c.type == "BiasAdd" for c in op.outputs[0].consumers()):
                yield op



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
        acts = sorted(_activation_ops(graph.get_operations()), key=_compat.op_order)
        parts["activations"] = [(op.name, op.outputs[0]) for op in acts]
    if feed is not None and "grads" in kinds:
        grads = []
        for op in graph.get_operations():
            i = _apply_grad_index(op)
            if i is not None:
                grads.append((_var_name(op.inputs[0]), op.inputs[i]))
        parts["grads"] = grads
    parts = {k: v for k, v in parts.items() if v}
    if not parts:
        return recording
    flat = [t for k in KINDS if k in parts for _, t in parts[k]]
    cap_run = _compat.BaseSession.run
    try:
        if graph.finalized:
            values = cap_run(sess, flat, feed_dict=feed)
            rows = np.stack([H.reference_row(a, recording.bins) for a in values])
        else:
            with graph.as_default(), tf.name_scope("tfhist"):
                rows_t = snapshot_rows([v.read_value() if hasattr(v, "read_value") else v for v in flat], recording.bins)
            rows = cap_run(sess, rows_t, feed_dict=feed)
    except tf.errors.InvalidArgumentError as e:
        raise ValueError(f"The graph needs more than the feed gives: {tf_message(e)}.") from None
    except tf.errors.FailedPreconditionError:
        raise ValueError("The session's variables are not initialized yet: run the initializer first.") from None
    start = 0
    for kind in KINDS:
        if kind not in parts:
            continue
        ns = [n for n, _ in parts[kind]]
        dts = [compute_dtype(t.dtype.base_dtype).name for _, t in parts[kind]]
        recording.add_rows(kind, ns, [0], rows[None, start : start + len(ns)], dtypes=dts)
        start += len(ns)
        recording.add_model(label, ns)
    return recording
