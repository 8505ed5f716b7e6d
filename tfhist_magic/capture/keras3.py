"""Keras 3 (TensorFlow backend) capture: the patches that feed the TF2 engine.

Class-level patches, all undone on exit:

* ``keras.Layer.__call__``: forward passes and nested layer outputs (activations);
* ``BaseOptimizer.apply``: every update, from ``fit``, ``train_on_batch`` or a custom
  loop calling ``apply_gradients`` / ``apply``, in or out of ``tf.function``;
* ``Model.fit`` / ``Model.train_on_batch``: the first time a model trains in the
  watch, its compiled train function is set aside so that the next call traces one
  with the recording ops in it; the original is put back on exit, so the model is as
  fast afterwards as before. ``fit`` also gets an epoch marker callback (epoch-level
  only, so Keras keeps its async dispatch);
* ``Model.compile``: a model recompiled inside the watch keeps its new state.
"""

from __future__ import annotations

import functools
import inspect

import keras
import tensorflow as tf
from keras.src.optimizers.base_optimizer import BaseOptimizer

from ..recording import Recording
from ._ops import snapshot_rows, compute_dtype
from ._tf2 import Engine

__all__ = ["is_model", "attach", "snapshot"]


def is_model(obj) -> bool:
    return isinstance(obj, keras.Model)


def _var_name(v) -> str:
    return getattr(v, "path", None) or v.name


def _layer_name(layer) -> str:
    return getattr(layer, "path", None) or layer.name


def _model_vars(model):
    try:
        return model.trainable_variables
    except Exception:  # a layer that is not built yet
        return []


def _iterations(opt):
    return opt.iterations


class _EpochMarker(keras.callbacks.Callback):
    def __init__(self, engine: Engine, model):
        super().__init__()
        self._engine = engine
        self._m = model

    def on_epoch_begin(self, epoch, logs=None):
        opt = self._m.optimizer
        if opt is not None:
            self._engine.rec.mark_epoch(self._engine.step_of(opt), epoch)


def attach(engine: Engine) -> None:
    """Install the Keras 3 patches on an entered engine (undone by ``engine.close()``)."""
    p = engine.patches
    claimed: dict[int, tuple] = {}
    recompiled: set[int] = set()

    orig_call = keras.Layer.__call__

    @functools.wraps(orig_call)
    def __call__(layer, *args, **kwargs):
        return engine.layer_call(layer, functools.partial(orig_call, layer), args, kwargs)

    p.set(keras.Layer, "__call__", __call__)

    orig_apply = BaseOptimizer.apply

    @functools.wraps(orig_apply)
    def apply(opt, grads, trainable_variables=None):
        local = engine._local
        if getattr(local, "in_apply", False) or len(grads) == 0:
            return orig_apply(opt, grads, trainable_variables)
        local.in_apply = True
        try:
            variables = opt._trainable_variables if trainable_variables is None else list(trainable_variables)
            if not isinstance(grads, (list, tuple)):
                grads = list(grads)
            if len(variables) == len(grads):
                engine.record_update(opt, grads, variables, scale=opt.loss_scale_factor)
            return orig_apply(opt, grads, trainable_variables)
        finally:
            local.in_apply = False

    p.set(BaseOptimizer, "apply", apply)

    def claim(model):
        if id(model) in claimed:
            return
        if engine.targets is not None and not any(model is t for t in engine.targets):
            return
        claimed[id(model)] = (model, model.train_function)
        model.train_function = None

    def _wrap_train(name):
        orig = getattr(keras.Model, name)
        sig = inspect.signature(orig)

        @functools.wraps(orig)
        def method(model, *args, **kwargs):
            claim(model)
            if name == "fit":
                ba = sig.bind(model, *args, **kwargs)
                cbs = ba.arguments.get("callbacks")
                ba.arguments["callbacks"] = list(cbs or []) + [_EpochMarker(engine, model)]
                args, kwargs = ba.args[1:], ba.kwargs
            try:
                return orig(model, *args, **kwargs)
            finally:
                if engine._groups:
                    engine.flush()

        p.set(keras.Model, name, method)

    _wrap_train("fit")
    _wrap_train("train_on_batch")

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


def make_engine(recording: Recording, *, every: int, kinds, targets=None) -> Engine:
    return Engine(
        recording,
        every=every,
        kinds=kinds,
        targets=targets,
        iterations=_iterations,
        var_name=_var_name,
        layer_name=_layer_name,
        is_model=is_model,
        model_vars=_model_vars,
    )


def snapshot(model, recording: Recording, *, kinds, x=None, y=None) -> Recording:
    """A fresh snapshot of ``model`` at step 0: weights now; activations and gradients
    of one inference-mode forward pass on ``x`` (and ``y`` for the loss).

    Nothing about the model changes: no update, no state (``training=False``).
    """
    bins = recording.bins
    variables = list(model.trainable_variables)
    names = [_var_name(v) for v in variables]
    if "weights" in kinds and variables:
        rows = snapshot_rows([tf.convert_to_tensor(v) for v in variables], bins).numpy()
        recording.add_rows("weights", names, [0], rows[None], dtypes=[compute_dtype(v.dtype).name for v in variables])
    if x is None or not ({"activations", "grads"} & set(kinds)):
        recording.add_model(model.name, names)
        return recording
    engine = make_engine(recording, every=1, kinds=("activations",), targets=None)
    orig_call = keras.Layer.__call__
    with engine:

        def __call__(layer, *args, **kwargs):
            return engine.layer_call(layer, functools.partial(orig_call, layer), args, kwargs)

        engine.patches.set(keras.Layer, "__call__", __call__)
        with tf.GradientTape() as tape:
            y_pred = model(x, training=False)
            loss = model.compute_loss(x=x, y=y, y_pred=y_pred, training=False) if "grads" in kinds else None
        roots = engine._pending.pop(None, [])
    if "activations" in kinds:
        acts = [(engine._unique(hash((id(layer), i)), _layer_name(layer) + ("" if i < 0 else f":{i}"), model.name), t) for fw in roots[-1:] for layer, i, t in fw.acts]
        if acts:
            rows = snapshot_rows([t for _, t in acts], bins).numpy()
            recording.add_rows("activations", [n for n, _ in acts], [0], rows[None], dtypes=[compute_dtype(t.dtype).name for _, t in acts])
            names += [n for n, _ in acts]
    if "grads" in kinds and loss is not None:
        grads = tape.gradient(loss, variables)
        pairs = [(n, g) for n, g in zip([_var_name(v) for v in variables], grads) if g is not None]
        if pairs:
            rows = snapshot_rows([tf.convert_to_tensor(g) for _, g in pairs], bins).numpy()
            recording.add_rows("grads", [n for n, _ in pairs], [0], rows[None], dtypes=[compute_dtype(g.dtype).name for _, g in pairs])
    recording.add_model(model.name, names)
    return recording
