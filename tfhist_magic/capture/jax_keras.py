"""Keras 3 on the JAX backend: the patches that feed :class:`._jax_engine.JaxEngine`, the
fresh snapshot of ``%tfhist model``, and the flavor the watcher uses.

Installed on an entered engine (all undone by ``engine.close()``):

* ``Layer.__call__`` and ``Layer.stateless_call``: forward passes and the outputs of the
  layers nested in them (activations);
* ``BaseOptimizer.apply``: every update, from ``fit``, ``train_on_batch`` or a custom
  loop over ``optimizer.stateless_apply``, in or out of ``jax.jit``;
* ``Model.fit`` / ``Model.train_on_batch``: the first time a model trains in the watch,
  its compiled train function is set aside (the next call traces one with the
  recording) and put back on exit; ``fit`` also gets an epoch-marker callback (epoch
  hooks only, so Keras keeps its async dispatch);
* ``Model.make_train_function``: a claimed model's train function tells the engine
  after each call (live views are fed on the training thread);
* ``Model.compile``: a model recompiled inside the watch keeps its new state.
"""

from __future__ import annotations

import functools
import inspect

import jax
import keras

from ..recording import Recording
from ..watcher import built_under
from ._jax_engine import BaseOptimizer, JaxEngine, model_vars, optimizer_variables, record_now

__all__ = ["FLAVOR", "attach", "snapshot"]


# -- the patches ------------------------------------------------------------------------


class _EpochMarker(keras.callbacks.Callback):
    """Marks each epoch's first step (epoch hooks only: Keras keeps its async dispatch)."""

    def __init__(self, engine: JaxEngine, model):
        super().__init__()
        self._tfhist = (engine, model)

    def on_epoch_begin(self, epoch, logs=None):
        engine, model = self._tfhist
        opt = getattr(model, "optimizer", None)
        if opt is not None:
            engine.flush()
            engine.rec.mark_epoch(engine.step_of(opt, model), epoch)


def attach(engine: JaxEngine) -> None:
    """Install the patches on an entered engine (all undone by ``engine.close()``)."""
    p = engine.patches
    claimed: dict = {}
    recompiled: set = set()

    orig_call = keras.Layer.__call__

    @functools.wraps(orig_call)
    def __call__(layer, *args, **kwargs):
        return engine.layer_call(layer, functools.partial(orig_call, layer), args, kwargs)

    p.set(keras.Layer, "__call__", __call__)

    # Keras' JAX trainer runs the model as ``stateless_call`` -> ``call``, not ``__call__``:
    # that is the outermost call of a training step's forward pass.
    orig_stateless = keras.Layer.stateless_call

    @functools.wraps(orig_stateless)
    def stateless_call(layer, *args, **kwargs):
        return engine.layer_call(layer, functools.partial(orig_stateless, layer), args, kwargs)

    p.set(keras.Layer, "stateless_call", stateless_call)

    orig_apply = BaseOptimizer.__dict__["apply"]

    @functools.wraps(orig_apply)
    def apply(opt, grads, trainable_variables=None):
        if not engine.enter_update():  # an update inside an update (a wrapped optimizer)
            return orig_apply(opt, grads, trainable_variables)
        try:
            grads = list(grads)
            variables = list(trainable_variables) if trainable_variables is not None else optimizer_variables(opt)
            plan = engine.record_update(opt, grads, variables)
            out = orig_apply(opt, grads, trainable_variables)
            if plan is not None:
                engine.after_update(plan)
            return out
        finally:
            engine.exit_update()

    p.set(BaseOptimizer, "apply", apply)

    orig_make = keras.Model.make_train_function

    @functools.wraps(orig_make)
    def make_train_function(model, force=False):
        out = orig_make(model, force)
        fn = model.train_function
        if id(model) in claimed and fn is not None and not getattr(fn, "_tfhist", False):

            def ticking(*args, **kwargs):
                got = fn(*args, **kwargs)
                engine.tick()  # a live view gets new rows on the training thread
                return got

            ticking._tfhist = True
            model.train_function = ticking
        return out

    p.set(keras.Model, "make_train_function", make_train_function)

    def claim(model):
        if id(model) in claimed or (engine.targets is not None and not any(model is t for t in engine.targets)):
            return
        claimed[id(model)] = (model, model.train_function)
        model.train_function = None  # traced again, with the recording
        if getattr(model, "optimizer", None) is not None:
            engine.opt_state(model.optimizer, model)  # the timeline's base, while the variables hold values

    def wrap_train(name):
        orig = getattr(keras.Model, name)
        sig = inspect.signature(orig)

        @functools.wraps(orig)
        def method(model, *args, **kwargs):
            claim(model)
            if name == "fit":
                ba = sig.bind(model, *args, **kwargs)
                ba.arguments["callbacks"] = [_EpochMarker(engine, model), *list(ba.arguments.get("callbacks") or [])]
                args, kwargs = ba.args[1:], ba.kwargs
            try:
                return orig(model, *args, **kwargs)
            finally:
                engine.flush()

        p.set(keras.Model, name, method)

    wrap_train("fit")
    wrap_train("train_on_batch")

    orig_compile = keras.Model.compile

    @functools.wraps(orig_compile)
    def compile(model, *args, **kwargs):
        recompiled.add(id(model))
        return orig_compile(model, *args, **kwargs)

    p.set(keras.Model, "compile", compile)

    def restore():
        for mid, (model, fn) in claimed.items():
            model.train_function = None if mid in recompiled else fn
        claimed.clear()

    engine.on_close.append(restore)


def snapshot(model, rec: Recording, *, kinds, x=None, y=None) -> Recording:
    """A fresh snapshot of ``model`` at step 0: weights now; activations and gradients
    of one inference-mode pass on ``x`` (and ``y`` for the loss). Changes nothing."""
    variables = FLAVOR.model_vars(model)
    vnames = [getattr(v, "path", None) or v.name for v in variables]
    names = list(vnames)
    if "weights" in kinds and variables:
        record_now(rec, "weights", vnames, [v.value for v in variables], 0)
    if x is None or not ({"activations", "grads"} & set(kinds)):
        rec.add_model(model.name, names)
        return rec
    engine = JaxEngine(rec, every=1, kinds=("activations",))
    orig_call = keras.Layer.__call__

    def __call__(layer, *args, **kwargs):
        return engine.layer_call(layer, functools.partial(orig_call, layer), args, kwargs)

    engine.patches.set(keras.Layer, "__call__", __call__)
    orig_stateless = keras.Layer.stateless_call
    engine.patches.set(keras.Layer, "stateless_call", lambda layer, *a, **k: engine.layer_call(layer, functools.partial(orig_stateless, layer), a, k))
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
    if "activations" in kinds:
        acts = engine._activations(engine._pending[-1:])
        record_now(rec, "activations", [n for n, _, _ in acts], [t for _, t, _ in acts], 0)
        names += [n for n, _, _ in acts]
    if grads is not None:
        pairs = [(n, g) for n, g in zip(vnames, grads) if g is not None]
        record_now(rec, "grads", [n for n, _ in pairs], [g for _, g in pairs], 0)
    rec.add_model(model.name, names)
    return rec


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
