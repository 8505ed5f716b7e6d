"""Keras 3 on the JAX backend: the patches that feed :class:`._jax_engine.JaxEngine`, the
fresh snapshot of ``%tfhist model``, and the flavor the watcher uses.

Installed on an entered engine (all undone by ``engine.close()``): the patches every
Keras gets (:mod:`._install`: ``Layer.__call__``, the optimizer update
``BaseOptimizer.apply``, which ``fit``, ``train_on_batch`` and ``stateless_apply`` go
through, in or out of ``jax.jit``; ``fit`` / ``train_on_batch`` with the epoch marker;
``compile``), and those only the JAX trainer needs:

* ``Layer.stateless_call``: how Keras' JAX trainer runs a model, the outermost call of
  a training step's forward pass;
* ``Model.make_train_function``: a claimed model's train step is jitted as a
  :class:`Split` (one lean step whose argument the host sets per step; the recording
  step with ``every=1``), and its train function tells the engine
  after each call (live views are fed on the training thread).

TensorFlow is never imported on this path.
"""

from __future__ import annotations

import functools

import jax
import keras
import numpy as np

from ..recording import Recording
from ..watcher import built_under
from . import _install
from ._base import deliver_snapshot
from ._jax_engine import BaseOptimizer, JaxEngine, _current_trace, model_vars, optimizer_variables, path_name
from ._jax_rows import rows_now

# -- _private: Keras' JAX trainer jits its train step through this module's ``jit`` --------
from keras.src.backend.jax import trainer as _trainer  # noqa: E402

__all__ = ["FLAVOR", "attach", "snapshot"]


def _unpack_apply(opt, grads, trainable_variables=None):
    grads = list(grads)
    variables = list(trainable_variables) if trainable_variables is not None else optimizer_variables(opt)
    return grads, variables, getattr(opt, "loss_scale_factor", None), (grads, trainable_variables), {}


def _layer_calls(engine: JaxEngine) -> None:
    _install.layer_calls(engine, keras.Layer, "__call__")
    _install.layer_calls(engine, keras.Layer, "stateless_call")


def attach(engine: JaxEngine) -> None:
    """Install the patches on an entered engine (all undone by ``engine.close()``)."""
    _layer_calls(engine)
    _install.updates(engine, BaseOptimizer, "apply", _unpack_apply)
    claims = _install.Claims(engine, on_claim=engine.claimed)
    _install.training(engine, keras.Model, keras.callbacks.Callback, claims)
    orig_make = keras.Model.make_train_function

    @functools.wraps(orig_make)
    def make_train_function(model, force=False):
        jit = _trainer.jit
        if model in claims:  # the train step jitted as the split's: see Split
            _trainer.jit = lambda fn, **kw: Split(engine, model, fn, jit, kw)
        try:
            out = orig_make(model, force)
        finally:
            _trainer.jit = jit
        fn = model.train_function
        if model in claims and fn is not None and not getattr(fn, "_tfhist", False):

            def ticking(*args, **kwargs):
                got = fn(*args, **kwargs)
                engine.tick()  # a live view gets new rows on the training thread
                return got

            ticking._tfhist = True
            model.train_function = ticking
        return out

    engine.patches.set(keras.Model, "make_train_function", make_train_function)
    add_variable = BaseOptimizer.add_variable

    @functools.wraps(add_variable)
    def outside(opt, *args, **kwargs):  # a new model's optimizer builds its zeros as before the watch
        context = engine._context
        if context is None:
            return add_variable(opt, *args, **kwargs)
        with context.outside():
            return add_variable(opt, *args, **kwargs)

    engine.patches.set(BaseOptimizer, "add_variable", outside)


class Split:
    """A claimed model's train step, jitted as the lean step: the plain step plus the
    finiteness check of the gradients, and one more argument, whether the host counts
    the step sampled. A sampled step, and the first whose gradients are not finite,
    send the update's tensors to the host, which bins them once the step has run
    (:meth:`JaxEngine.complete`). One compiled step, as plain training has.

    With ``every=1``, and for a step whose counter the host cannot read, the recording
    step is jitted instead: it returns ``(Keras' results, {trace: [each update's
    tensors]})`` (:meth:`hands_out`, no callback); :meth:`_run_full` hands them to
    :meth:`JaxEngine.handed` and gives Keras its results.

    Keras' JAX trainer calls the jitted step once per batch (``steps_per_execution``
    loops on the host), so the choice is per step. The step is the optimizer's counter
    less its phase's base (:class:`._base.Timeline`): read from the state the first
    time, then counted (the state a call returns is the one the next call gets; a state
    Keras took from the variables again is read again). A step whose counter the host
    cannot read (an update not the model's optimizer's) runs a recording step that
    samples in its own graph (the sampled ``lax.cond``; the recording step itself where
    its updates do so already, as a LossScaleOptimizer's inner one does)."""

    def __init__(self, engine: JaxEngine, model, fn, jit, kw):
        self.engine, self.model = engine, model
        self.phases: list = []  # the phases the traces' updates took
        self.lean_now = False
        self.mode = None  # while the lean step traces, its argument: 0 unsampled, 1 sampled, 2 sampled and sending its weights after the update
        self.lean_afters: list = []  # while the lean step traces: (group, variables, weights after the update) of each update
        self._from_state: dict = {}  # group -> where its weights after the update are in the returned state
        self._in_state = None  # whether every lean trace's updates left them there (None: none traced yet)
        self._groups: set = set()  # the engine's groups of the lean traces' updates
        self._ahead = False  # the lean step was traced ahead of its first call
        self.handed: list = []  # while the recording step traces: (meta, values) of each update
        self._top = None  # the recording step's own trace, while it traces
        self._metas: dict = {}  # a recording step's trace -> the metas of what it hands out
        shardings = kw.get("out_shardings")  # Keras' (logs, state) under a distribution
        full_kw = kw if shardings is None else dict(kw, out_shardings=(shardings, None))
        self.full, self.lean = jit(self._traced(fn, "hand"), **full_kw), jit(self._traced(fn, "lean"), **kw)
        self._in_graph = None  # jitted at first use (rare)
        self._jit_in_graph = functools.partial(jit, self._traced(fn, "in graph"), **kw)
        self._handing = False  # a trace of the recording step handed tensors out
        self._last = self._last_it = None

    def _traced(self, fn, how: str):
        """``fn`` as this split traces it: ``"hand"`` (the recording step, its updates'
        tensors handed out), ``"lean"``, or ``"in graph"`` (the recording step with the
        sampled ``lax.cond`` inside, for steps the host cannot tell sampled)."""

        @functools.wraps(fn)
        def step(*args, **kwargs):  # runs when jax traces it
            local = self.engine._local
            local.split, self.lean_now = self, how == "lean"
            self._top = _current_trace() if how == "hand" else None
            if how == "lean":
                *args, self.mode = args
            try:
                out = fn(*args, **kwargs)
            finally:
                local.split, self.lean_now, self._top, self.mode = None, False, None, None
                handed, self.handed = self.handed, []  # no tracer kept past its trace
                lean, self.lean_afters = self.lean_afters, []
            if how == "lean":
                self._lean_settled(out, lean)
            if how != "hand":
                return out
            handed = _settled(out, handed)
            key = len(self._metas)  # the outputs' structure names the trace they came from
            self._metas[key] = [meta for meta, _ in handed]
            self._handing |= bool(handed)
            return out, {key: [values for _, values in handed]}

        return step

    def hands_out(self) -> bool:
        """Whether an update traced now hands its tensors out as the recording step's
        outputs: it is traced in the step's own trace (not in a ``lax.cond`` of a
        wrapping optimizer, whose values cannot leave the branch)."""
        return self._top is not None and _current_trace() is self._top

    def state_index(self, variables) -> tuple | None:
        """Where ``variables`` are among the trainable weights of the state Keras' step
        returns (the model's ``trainable_variables``, in order); None if one is not."""
        at = {id(v): i for i, v in enumerate(getattr(self.model, "trainable_variables", ()))}
        found = tuple(at.get(id(v)) for v in variables)
        return None if None in found else found

    def _lean_settled(self, out, lean: list) -> None:
        """Where each update of a lean trace left its weights after the update, when they
        are, tracer for tracer, the trainable weights of the state the step returns (then a
        sampled step runs with mode 1 and sends none of them: the host reads them there)."""
        for group, variables, afters in lean:
            at = self.state_index(variables) if afters else ()
            ok = at is not None and _returned(out, at, afters)
            self._in_state = ok and self._in_state is not False
            self._groups.add(group)
            if ok:
                self._from_state[group] = at
            else:
                self._from_state.pop(group, None)

    def _run_full(self, state, data):
        """The recording step, and what it handed out recorded. The step already replaced
        Keras' state (donated), so a failure to record it costs a warning, never the
        results."""
        out, handed = self.full(state, data)
        for key, values in handed.items():
            for meta, vals in zip(self._metas[key], values):
                try:
                    self.engine.handed(meta, vals, out[1][0] if meta[-1] is not None else None)
                except Exception as e:  # noqa: BLE001 - Keras must get its state back
                    self.engine.not_recorded(e)
        return out

    def _counter(self, opt):
        """Where ``opt``'s counter is among its variables (the state's third part), when
        every update the step traced is ``opt``'s own; None otherwise. A wrapped optimizer
        that shares the counter does not count: a LossScaleOptimizer skips its inner
        update on an overflow, and the counter with it, which the host cannot tell without
        reading it every step (its steps are sampled in the graph)."""
        its = getattr(opt, "iterations", None)
        at = [i for i, v in enumerate(getattr(opt, "variables", ())) if v is its]
        if not at or any(st.opt() is not opt for st in self.phases):
            return None
        return at[0]

    def __call__(self, state, data):
        opt = getattr(self.model, "optimizer", None)
        if self.engine.every == 1:
            return self._run_full(state, data)
        if not self._ahead:  # traced ahead (the call finds it): its updates, and where they leave their weights
            self._ahead = True
            self.lean.trace(state, data, np.int8(2))
        at = self._counter(opt) if opt is not None else None
        try:
            it = state[2][at]
        except (TypeError, IndexError, KeyError):  # no counter to read: sampled in the step
            if not self._handing:  # the recording step's updates sample in its graph already
                return self._run_full(state, data)
            if self._in_graph is None:
                self._in_graph = self._jit_in_graph()
            return self._in_graph(state, data)
        it = self._last_it + 1 if it is self._last else int(np.asarray(it))
        sampled = (it - self.engine.timeline.phase(opt, self.model).base) % self.engine.every == 0
        if sampled:  # this call's trace (a cache hit, or a new shape's: where it leaves the weights)
            self.lean.trace(state, data, np.int8(2))
        mode = 0 if not sampled else 1 if self._in_state else 2
        logs, state = self.lean(state, data, np.int8(mode))
        self._last, self._last_it = state[2][at], it
        if sampled:  # its tensors are on the host once the counter is (the callbacks ran before)
            self._record(state, mode)
        return logs, state

    def _record(self, state, mode: int) -> None:
        """A sampled lean step's kept tensors binned now, the weights after the update read
        from the state it returned (mode 1) before the next step takes it (donated). A
        failure costs the step's rows and a warning, never the training."""
        jax.block_until_ready(self._last)  # the step's own failure is the step's
        try:
            self.engine.complete(state[0], self._from_state if mode == 1 else None, self._groups)
        except Exception as e:  # noqa: BLE001 - Keras must get its state back
            self.engine.not_recorded(e)
        finally:
            self.engine.drop(self.engine.incomplete(self._groups))  # none waits for weights it will not get


def _returned(out, at, afters) -> bool:
    """Whether ``afters`` are, tracer for tracer, the trainable weights at ``at`` of the
    state ``out`` (Keras' ``(logs, state)``) returns."""
    try:
        returned = list(out[1][0])
    except (TypeError, IndexError, KeyError):
        return False
    return all(i < len(returned) and returned[i] is a for i, a in zip(at, afters))


def _settled(out, handed: list) -> list:
    """``handed`` as the recording step returns it: an update's weights after the update
    left out where they are, value for value, the trainable weights of the state the step
    returns at the places ``state_index`` found (Keras' own step); handed out otherwise (a
    step that applies twice, or changes the weights after the update)."""
    settled = []
    for meta, (step, ok, flat, afters) in handed:
        at = meta[-1]
        if at is not None and _returned(out, at, afters):
            settled.append((meta, (step, ok, flat, [])))
        else:
            settled.append((meta[:-1] + (None,), (step, ok, flat, afters)))
    return settled


def snapshot(model, rec: Recording, *, kinds, x=None, y=None) -> Recording:
    """A fresh snapshot of ``model`` at step 0: weights now; activations and gradients
    of one inference-mode pass on ``x`` (and ``y`` for the loss). Changes nothing."""
    variables = FLAVOR.model_vars(model)
    vnames = [path_name(v) for v in variables]
    parts = [("weights", vnames, [v.value for v in variables])] if "weights" in kinds and variables else []
    if x is not None and {"activations", "grads"} & set(kinds):
        parts += _forward(model, rec, kinds, x, y, vnames)
    deliver_snapshot(rec, model.name, vnames, parts, rows_now)
    return rec


def _forward(model, rec: Recording, kinds, x, y, vnames) -> list:
    """``[(kind, names, values)]`` of one inference-mode pass: its activations, and the
    gradients of its loss."""
    engine = JaxEngine(rec, every=1, kinds=("activations",))
    _layer_calls(engine)
    tv = [v.value for v in model.trainable_variables]
    ntv = [v.value for v in model.non_trainable_variables]
    try:
        if "grads" in kinds and y is not None:
            mv = [v.value for v in model.metrics_variables]
            fn = jax.value_and_grad(lambda t: model.compute_loss_and_updates(t, ntv, mv, x, y, None, training=False)[0])
            _, grads = fn(tv)
        else:
            grads = None
            model.stateless_call(tv, ntv, x, training=False)
    finally:
        engine.patches.undo()
    parts = []
    if "activations" in kinds:
        acts = engine.activations(engine.take_forwards()[-1:])
        parts.append(("activations", [n for n, _, _ in acts], [t for _, t, _ in acts]))
    if grads is not None:
        pairs = [(n, g) for n, g in zip(vnames, grads) if g is not None]
        parts.append(("grads", [n for n, _ in pairs], [g for _, g in pairs]))
    return parts


class _Flavor:
    """What the watcher needs of a Keras: the JAX backend's."""

    backend = "jax"

    def is_model(self, obj) -> bool:
        return isinstance(obj, keras.Model) and built_under(obj) == "jax"

    def model_vars(self, model) -> list:
        return model_vars(model)

    def make_engine(self, recording: Recording, *, every: int, kinds, targets=None, init_distance: bool = True) -> JaxEngine:
        return JaxEngine(recording, every=every, kinds=kinds, targets=targets, init_distance=init_distance)

    def attach(self, engine: JaxEngine) -> None:
        attach(engine)

    def snapshot(self, model, recording: Recording, *, kinds, x=None, y=None) -> Recording:
        return snapshot(model, recording, kinds=kinds, x=x, y=y)


FLAVOR = _Flavor()
