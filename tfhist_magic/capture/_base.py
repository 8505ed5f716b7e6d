"""What the TensorFlow and JAX capture engines share, backend-neutral.

Owns, for one watch: the names of the tensors and the labels of the models
(:class:`Naming`), the forward passes seen since the last update (:class:`Forward`),
each model's step axis across optimizers, recompiles and ``fit`` calls
(:class:`Timeline`), and the engine's life (:class:`BaseEngine`: enter, the epoch marks,
the final weights, close). Everything it records goes through :func:`..block.deliver`
as a :class:`..block.Block`; it never writes a Recording otherwise.

A backend (``_tf2.Engine``, ``_jax_engine.JaxEngine``) subclasses :class:`BaseEngine`
and says what only it knows: which graph a call runs in, what a tensor is, how to read
an optimizer's counter on the host, how to compute rows now. No TensorFlow, no JAX here:
the JAX path imports this module without TensorFlow.
"""

from __future__ import annotations

import math
import threading
import time
import weakref

import numpy as np

from .. import histogram as H
from ..block import Block, deliver
from ..constants import KINDS
from ..health import is_weight_matrix
from ._patch import Patches

__all__ = ["BaseEngine", "Forward", "Naming", "Phase", "Timeline", "bounded", "deliver_snapshot", "now_block", "ratio_of", "record_now", "rows_now", "MAX_ROOTS"]

#: Outermost layer calls kept per graph while no update takes them.
MAX_ROOTS = 8


def bounded(layer) -> str | None:
    """"tanh" or "sigmoid" when ``layer``'s output is that function's (its ``activation``)."""
    name = getattr(getattr(layer, "activation", None), "__name__", "") or ""
    return name if name in ("tanh", "sigmoid") else None


def ratio_of(name: str, rank: int) -> bool:
    """Whether the weight ``name`` of rank ``rank`` gets an update ratio: a weight matrix
    (:func:`~tfhist_magic.health.is_weight_matrix`)."""
    return rank >= 2 and is_weight_matrix(name)


class Forward:
    """One outermost layer call and the outputs of the layers nested in it."""

    __slots__ = ("root", "acts", "seen", "taped", "outs")

    def __init__(self, root, taped: bool = False):
        self.root = root
        self.acts: list = []  # (layer, output index, tensor)
        self.seen: set[int] = set()
        self.taped = taped  # under a GradientTape / jax.grad: the pass a step trains on
        self.outs: set[int] = set()  # ids of the tensors the outermost call returned

    def is_output(self, j: int) -> bool:
        """Whether ``acts[j]`` is the model's output: a tensor the outermost call returned
        (or, when none of the recorded ones is, the last one recorded)."""
        if any(id(t) in self.outs for _, _, t in self.acts):
            return id(self.acts[j][2]) in self.outs
        return j == len(self.acts) - 1


class Naming:
    """The Series name of each tensor and the label of each model in one watch."""

    def __init__(self, rec):
        self.rec = rec
        self.labels: dict[int, str] = {}  # id(model) -> its key in rec.models
        self._names: dict = {}
        self._taken: dict[str, object] = {}

    def label(self, model) -> str:
        """``model``'s key in ``rec.models``: its name, made unique among the models seen."""
        label = self.labels.get(id(model))
        if label is None:
            base = getattr(model, "name", None) or type(model).__name__
            taken = set(self.labels.values()) | set(self.rec.models)
            label, n = base, 2
            while label in taken:
                label = f"{base}#{n}"
                n += 1
            self.labels[id(model)] = label
        return label

    def unique(self, key, base: str, owner) -> str:
        """The Series name of tensor ``key``: its Keras path ``base``, unless another
        model's tensor in this watch has that name already; then it is qualified by its
        model's label (``net#2/d/kernel``: the label replaces the model's own name where
        the path starts with it)."""
        name = self._names.get(key)
        if name is not None:
            return name
        name = base
        if name in self._taken and owner is not None:
            own = getattr(owner, "name", None) or ""
            rest = base[len(own) + 1 :] if own and base.startswith(own + "/") else base
            name = f"{self.label(owner)}/{rest}"
        n = 2
        while name in self._taken:
            name = f"{base}#{n}"
            n += 1
        self._taken[name] = key
        self._names[key] = name
        return name


class Phase:
    """One optimizer on its model's timeline: its step ``k`` is ``counter - base``.

    The counter itself is kept: a replaced optimizer (a recompile) may be gone by the time
    the next one asks where the model's timeline stands."""

    def __init__(self, opt, counter, base: int):
        self.opt = weakref.ref(opt)
        self.counter = counter
        self.base = base
        self.vars: list = []  # the variables of the latest update seen
        self.names: list[str] = []
        self.flushed = base  # the counter's value at the last host read


class Timeline:
    """Each model's step axis: one increasing axis across every optimizer, recompile,
    ``fit`` and custom loop of the watch, so an optimizer first seen after others trained
    the model continues after their last step (``end_phase`` records their final weights
    first).

    Args:
        counter: ``fn(optimizer) -> its update counter`` (a variable).
        read: ``fn(counter) -> int | None``, its value on the host (None: not readable now).
        end_phase: ``fn(phases, step)``, called when a new optimizer takes over a model.
    """

    def __init__(self, counter, read, end_phase):
        self._counter, self._read, self._end_phase = counter, read, end_phase
        self.phases: dict[int, Phase] = {}
        self._lines: dict = {}  # model (or optimizer) key -> its phases, oldest first

    def done(self, st: Phase) -> int | None:
        """Updates done so far in ``st`` (the step its next update gets), on the host."""
        now = self._read(st.counter)
        return None if now is None else now - st.base

    def current(self, opt) -> Phase | None:
        st = self.phases.get(id(opt))
        return st if st is not None and st.opt() is opt else None

    def phase(self, opt, model=None) -> Phase:
        """``opt``'s place on ``model``'s timeline, made when first asked."""
        st = self.current(opt)
        if st is not None:
            return st
        key = id(model) if model is not None else ("optimizer", id(opt))
        line = self._lines.setdefault(key, [])
        counter = self._counter(opt)
        same = next((p for p in line if p.counter is counter), None)
        if same is not None:  # a wrapper's inner optimizer (a LossScaleOptimizer's): one counter, one phase
            st = self.phases[id(opt)] = Phase(opt, counter, same.base)
            return st
        done = max((d for d in map(self.done, line) if d is not None), default=0)
        if line:
            self._end_phase(line, done)
        now = self._read(counter)
        st = self.phases[id(opt)] = Phase(opt, counter, (0 if now is None else now) - done)
        line.append(st)
        return st


class BaseEngine:
    """One watch's engine; a backend subclasses it (see the module doc).

    Args:
        recording: where the blocks go.
        every: record every ``every``-th optimizer step (step 0 always).
        kinds: the kinds to record.
        targets: models to restrict to (their variables); None records every model.
        var_name, layer_name: ``fn(variable) -> str``, ``fn(layer) -> str``.
        model_vars: ``fn(model) -> list`` of its trainable variables.
        init_distance: measure each weight's distance from its origin (its value at the
            first sampled step: one copy of the weights kept for the whole watch).
    """

    #: Deliver what arrived before an epoch's mark (a backend that holds rows on the host).
    flush_on_epoch = False

    def __init__(self, recording, *, every: int, kinds, targets=None, var_name, layer_name, model_vars, init_distance: bool = True):
        self.rec = recording
        self.bins = recording.bins
        self.every = int(every)
        self.kinds = tuple(k for k in KINDS if k in kinds)
        self.targets = list(targets) if targets is not None else None
        self.init_distance = bool(init_distance)
        self.var_name, self.layer_name, self.model_vars = var_name, layer_name, model_vars
        self.patches = Patches()
        self.chief = True  # False on a MultiWorkerMirroredStrategy worker that is not the chief
        self.closed = False
        self.live_interval: float | None = None  # seconds between flushes while shown live
        self.trained_var_ids: set[int] = set()
        self.seen_models: dict = {}  # id -> weakref of models whose updates were recorded
        self.on_close: list = []  # callables run once the patches are undone
        self.naming = Naming(recording)
        self.timeline = Timeline(self._counter, self._read_counter, self._end_phase)
        self._target_ids: set[int] | None = None
        self._local = threading.local()
        self._pending: dict = {}  # graph key -> [Forward]
        self._outputs: set[str] = set()  # activations that are a model's output
        self._registered: dict[str, tuple] = {}  # model label -> (names, outputs) delivered

    # -- what a backend says -------------------------------------------------------------
    def _counter(self, opt):
        return opt.iterations

    def _read_counter(self, counter) -> int | None:
        raise NotImplementedError

    def _graph_key(self):
        """The graph a call is traced in (None: eager, or a backend without graphs)."""
        return None

    def _taping(self) -> bool:
        return False

    def _leaves(self, out) -> list:
        raise NotImplementedError

    def _is_value(self, t) -> bool:
        """Whether the leaf ``t`` of a nested layer's output is an activation to bin."""
        raise NotImplementedError

    def _in_graph(self, t, key) -> bool:
        """Whether ``t`` belongs to graph ``key`` (the update can read it there)."""
        return True

    def _differentiated(self, leaves) -> bool:
        return False

    def _usable(self, t):
        """``t`` as the update can use it, or None where it cannot."""
        return t

    def _weights_now(self, st: Phase, step: int) -> None:
        raise NotImplementedError

    def flush(self) -> None:
        raise NotImplementedError

    def _release(self) -> None:
        """Drop what the watch holds on the device (after the patches are undone)."""

    # -- life ----------------------------------------------------------------------------
    def __enter__(self):
        if self.targets is not None:
            self._target_ids = {id(v) for m in self.targets for v in self.model_vars(m)}
        return self

    def close(self) -> None:
        """Deliver what is left, take the final weights, undo every patch."""
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
                self._release()
                self.rec.status = None
                for fn in self.on_close:
                    fn()

    def __exit__(self, *exc):
        self.close()
        return False

    # -- names ---------------------------------------------------------------------------
    @property
    def model_labels(self) -> dict[int, str]:
        return self.naming.labels

    def model_label(self, model) -> str:
        return self.naming.label(model)

    def activation_name(self, layer, i: int, owner) -> str:
        """The name of output ``i`` of ``layer`` (-1: its only output)."""
        return self.naming.unique(("act", id(layer), i), self.layer_name(layer) + ("" if i < 0 else f":{i}"), owner)

    def weight_names(self, variables, owner) -> list[str]:
        return [self.naming.unique(("var", id(v)), self.var_name(v), owner) for v in variables]

    def label_of(self, mine, opt) -> str:
        """The label the update's global gradient norm goes under: its model's, or the
        optimizer's name when no model's layers were seen."""
        if mine:
            return self.model_label(mine[0].root)
        return getattr(opt, "name", None) or type(opt).__name__

    # -- forward passes ------------------------------------------------------------------
    def layer_call(self, layer, call, args, kwargs):
        """Run ``call(*args, **kwargs)`` for ``layer``, noting its output if nested."""
        depth = getattr(self._local, "depth", 0)
        key = self._graph_key()
        if depth == 0:
            fw = Forward(layer, self._taping())
            roots = self._pending.setdefault(key, [])
            roots.append(fw)
            if len(roots) > MAX_ROOTS:  # drop the oldest, one not under a tape first
                del roots[next((i for i, r in enumerate(roots) if not r.taped), 0)]
        self._local.depth = depth + 1
        try:
            out = call(*args, **kwargs)
        finally:
            self._local.depth = depth
        if depth == 0:
            leaves = self._leaves(out)
            fw.outs = {id(t) for t in leaves}
            fw.taped = fw.taped or self._differentiated(leaves)
        elif "activations" in self.kinds:
            self._note_output(layer, out, key)
        return out

    def _note_output(self, layer, out, key) -> None:
        roots = self._pending.get(key)
        if not roots or id(layer) in roots[-1].seen:
            return
        fw = roots[-1]
        fw.seen.add(id(layer))
        kept = [t for t in self._leaves(out) if self._is_value(t)]
        for i, t in enumerate(kept):
            if self._in_graph(t, key):
                fw.acts.append((layer, i if len(kept) > 1 else -1, t))

    def take_forwards(self, key=None) -> list:
        """The forward passes of graph ``key`` since the last update (and forget them);
        where the update runs in a nested graph (a LossScaleOptimizer applies inside a
        ``tf.cond``), those of the nearest enclosing graph that has some."""
        return self._take(self._pending, key, [])

    @staticmethod
    def _take(store: dict, key, default=None):
        g = key
        while g is not None:
            if g in store:
                return store.pop(g)
            g = getattr(g, "outer_graph", None)
        return store.pop(key, default)

    def _mine(self, roots, variables) -> list:
        """The forward passes of the model that owns ``variables``: the one run under a
        tape when there is one (the pass whose gradients the step applies, not a
        monitoring or validation call)."""
        ids = {id(v) for v in variables}
        mine = [fw for fw in roots if any(id(v) in ids for v in self.model_vars(fw.root))]
        return [fw for fw in mine if fw.taped] or mine

    def activations(self, mine) -> list:
        """``[(name, tensor, bounded)]``: the outputs recorded in the forward passes
        ``mine``; ``bounded`` names a tanh/sigmoid output (for saturation), else None."""
        if "activations" not in self.kinds:
            return []
        seen, acts = set(), []
        for fw in mine:
            for j, (layer, i, t) in enumerate(fw.acts):
                value = self._usable(t)
                if (id(layer), i) in seen or value is None:
                    continue
                seen.add((id(layer), i))
                name = self.activation_name(layer, i, fw.root)
                if fw.is_output(j):
                    self._outputs.add(name)
                acts.append((name, value, bounded(layer) if i < 0 else None))
        return acts

    # -- updates -------------------------------------------------------------------------
    def enter_update(self) -> bool:
        """Start recording an optimizer update on this thread; False when one is already
        being recorded (an optimizer that calls another's update)."""
        if getattr(self._local, "in_update", False):
            return False
        self._local.in_update = True
        return True

    def exit_update(self) -> None:
        self._local.in_update = False

    def _targeted(self, variables) -> bool:
        return self._target_ids is None or any(id(v) in self._target_ids for v in variables)

    def take_phase(self, opt, mine, variables) -> tuple[Phase, list[str]]:
        """The update's phase on its model's timeline and its weights' names."""
        owner = mine[0].root if mine else None
        st = self.timeline.phase(opt, owner)
        st.vars, st.names = variables, self.weight_names(variables, owner)
        self.trained_var_ids.update(id(v) for v in variables)
        return st, st.names

    def update_tensors(self, acts, vnames, weights, pairs) -> tuple[dict, dict]:
        """``(names, tensors)`` per kind of one update, in row order, empty kinds left out."""
        names: dict[str, list[str]] = {}
        tensors: dict[str, list] = {}
        if acts:
            names["activations"], tensors["activations"] = [n for n, _, _ in acts], [t for _, t, _ in acts]
        if "weights" in self.kinds and vnames:
            names["weights"], tensors["weights"] = list(vnames), list(weights)
        if "grads" in self.kinds and pairs:
            names["grads"], tensors["grads"] = [n for n, _ in pairs], [g for _, g in pairs]
        return names, tensors

    def register(self, mine, names: dict) -> None:
        """Say which tensors belong to the models of ``mine`` (a Block without steps),
        once per new set of names."""
        outputs = tuple(n for n in names.get("activations", ()) if n in self._outputs)
        for fw in mine:
            label = self.model_label(fw.root)
            self.seen_models[id(fw.root)] = weakref.ref(fw.root)
            key = (tuple(n for k in names for n in names[k]), outputs)
            if names and self._registered.get(label) != key:
                self._registered[label] = key
                deliver(self.rec, Block(model=label, names=dict(names), outputs=outputs))

    # -- the timeline's marks ------------------------------------------------------------
    def step_of(self, opt, model=None) -> int:
        """The current step of ``opt`` on ``model``'s timeline (updates done inside this
        watch), read on the host."""
        return self.timeline.done(self.timeline.phase(opt, model)) or 0

    def epoch_begins(self, model, epoch: int) -> None:
        """Keras' ``epoch`` of ``model`` starts at its current step: marked under its label."""
        opt = getattr(model, "optimizer", None)
        if opt is None:
            return
        if self.flush_on_epoch:
            self.flush()
        deliver(self.rec, Block(model=self.model_label(model), epochs={self.step_of(opt, model): int(epoch)}))

    def end_fit(self, model) -> None:
        """A ``fit`` of ``model`` ends and a callback may change its weights next (Keras'
        ``EarlyStopping(restore_best_weights=True)``): record the weights of the last
        update now, at their step, so the restored ones are never labelled with it."""
        opt = getattr(model, "optimizer", None)
        st = self.timeline.current(opt) if opt is not None else None
        step = self.timeline.done(st) if st is not None else None
        if step is None:
            return
        self._end_phase([st], step)
        label = self.model_label(model)
        self.rec.note(
            f"{label}: EarlyStopping restored its best weights after step {step}; "
            f"the weights at step {step} are the last update's, not the restored ones.",
            key=("restored", label),
        )

    def _end_phase(self, phases, step: int) -> None:
        """The weights trained by ``phases`` after their last update, at ``step`` (updates
        done), once what the device holds is delivered (a Series' steps only increase)."""
        self.flush()
        if "weights" in self.kinds:
            for st in phases:
                if st.vars and self.rec.last_step("weights", st.names[0]) < step:
                    self._weights_now(st, step)

    def _final_weights(self) -> None:
        """Weights after the last update, at step = number of updates done."""
        if "weights" not in self.kinds:
            return
        for st in self.timeline.phases.values():
            if st.opt() is None or not st.vars:
                continue
            k = self.timeline.done(st)
            if k is not None and self.rec.last_step("weights", st.names[0]) < k:
                self._weights_now(st, k)


def now_block(kind: str, names, rows, dtypes, step: int) -> Block:
    """A Block of one kind's rows (``[T, bins + 10]``) computed now, at ``step``."""
    return Block(steps=[step], walls=[time.time()], names={kind: list(names)}, dtypes={kind: list(dtypes)}, rows={kind: rows[None]})


def host_rows(arrays, bins: int, flush: bool = False) -> np.ndarray:
    """``[T, bins + 10]``: the rows of host ``arrays`` from NumPy, the contract's oracle
    (:func:`~tfhist_magic.histogram.reference_row`), for rows computed now (the final
    weights at a watch's exit, ``%tfhist model``) where a device computation would cost
    more to build than to skip: about 90 ns a value on one core, and nothing to trace,
    compile or instantiate (docs/performance.md)."""
    rows = [H.reference_row(a, bins, flush) for a in arrays]
    return np.stack(rows) if rows else np.zeros((0, bins + H.EXTRA))


def rows_now(arrays, bins: int, *, host_max: int, on_cpu, on_device) -> np.ndarray:
    """``[T, bins + 10]``: the rows of ``arrays`` computed now, for either backend: from
    NumPy (:func:`host_rows`) up to ``host_max`` values in all, subnormals flushed where
    every array lies on a CPU (``on_cpu(a)``), as a CPU step flushes them (XLA on a GPU
    does not); else ``on_device(arrays, bins)``, the backend's device computation."""
    if sum(math.prod(a.shape) for a in arrays) <= host_max:
        return host_rows([np.asarray(a) for a in arrays], bins, flush=all(on_cpu(a) for a in arrays))
    return on_device(arrays, bins)


def record_now(rec, kind: str, names: list, values: list, step: int, rows_now) -> None:
    """The rows of ``values`` computed now (``rows_now(values, bins) -> (rows, dtypes)``),
    delivered to ``rec`` as ``kind`` at ``step``."""
    if names:
        rows, dtypes = rows_now(values, rec.bins)
        deliver(rec, now_block(kind, names, rows, dtypes, step))


def deliver_snapshot(rec, model: str, vnames, parts, rows_now) -> None:
    """A snapshot of ``model`` at step 0 into ``rec``: the rows of each ``(kind, names,
    values)`` of ``parts`` computed now (``rows_now(values, bins) -> (rows, dtypes)``),
    then the model's weights (``vnames``, recorded or not) and activations registered."""
    b = Block(steps=[0], walls=[time.time()])
    for kind, names, values in parts:
        if names:
            rows, dtypes = rows_now(values, rec.bins)
            b.names[kind], b.dtypes[kind], b.rows[kind] = list(names), dtypes, rows[None]
    if b.names:
        deliver(rec, b)
    deliver(rec, Block(model=model, names={"": list(vnames) + list(b.names.get("activations", ()))}))
