"""What Keras 3 and tf_keras (Keras 2) share: the patches that feed the TF2 engine.

A :class:`Flavor` names the classes and conventions of one Keras; :func:`attach`
installs, on an entered :class:`~._tf2.Engine` (all undone by ``engine.close()``):

* ``Layer.__call__``: forward passes and nested layer outputs (activations);
* the optimizer update method(s): every update, from ``fit``, ``train_on_batch`` or a
  custom loop, in or out of ``tf.function``;
* ``Model.fit`` / ``Model.train_on_batch``: the first time a model trains in the
  watch, its compiled train function is set aside so the next call traces one with the
  recording ops; the original is put back on exit, so the model is as fast afterwards
  as before. ``fit`` also gets an epoch-marker callback (epoch hooks only, so Keras
  keeps its async dispatch);
* ``Model.compile``: a model recompiled inside the watch keeps its new state.
"""

from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass, field
from typing import Callable

import tensorflow as tf

from ..recording import Recording
from ._tf2 import Engine, record_now

__all__ = ["Flavor", "attach", "make_engine", "snapshot"]


@dataclass
class Flavor:
    """One Keras: its classes and naming conventions.

    ``updates`` lists ``(class, method name, unpack)``; ``unpack(opt, *args, **kwargs)``
    returns ``(grads, variables, loss_scale, args, kwargs)`` of the update about to run,
    or None. ``distributed`` lists the same for the cross-replica update a
    ``tf.distribute`` strategy merges into (``unpack`` returns ``(distribution, grads,
    variables, args, kwargs)``); ``tf_var(v)`` is the variable that update names.
    """

    Layer: type
    Model: type
    Callback: type
    updates: list = field(default_factory=list)
    distributed: list = field(default_factory=list)
    tf_var: Callable = None
    var_name: Callable = None
    layer_name: Callable = None
    loss: Callable = None  # loss(model) -> fn(x, y, y_pred), for snapshots

    def model_vars(self, model):
        try:
            return list(model.trainable_variables)
        except Exception:  # a model that is not built yet
            return []

    def is_model(self, obj) -> bool:
        return isinstance(obj, self.Model)

    def make_engine(self, recording: Recording, *, every: int, kinds, targets=None, init_distance: bool = True) -> Engine:
        return make_engine(self, recording, every=every, kinds=kinds, targets=targets, init_distance=init_distance)

    def attach(self, engine: Engine) -> None:
        attach(engine, self)

    def snapshot(self, model, recording: Recording, *, kinds, x=None, y=None) -> Recording:
        return snapshot(self, model, recording, kinds=kinds, x=x, y=y, loss=self.loss(model))


def make_engine(flavor: Flavor, recording: Recording, *, every: int, kinds, targets=None, init_distance: bool = True) -> Engine:
    return Engine(
        recording,
        every=every,
        kinds=kinds,
        targets=targets,
        iterations=lambda opt: opt.iterations,
        var_name=flavor.var_name,
        layer_name=flavor.layer_name,
        model_vars=flavor.model_vars,
        tf_var=flavor.tf_var,
        init_distance=init_distance,
    )


#: The epoch-marker callback class of each Keras (its ``Callback`` class -> the marker's).
_MARKERS: dict = {}


def _epoch_marker(flavor: Flavor, engine: Engine, model, restores: bool):
    """Marks each epoch's first step. Put first in the list, so that when a later
    callback restores weights at the end (``restores``: EarlyStopping with
    ``restore_best_weights``), the last update's weights are recorded before it does.

    One class per Keras, closing over nothing: TensorFlow's ``nest`` keeps every type it
    sees for the life of the process (tf_keras passes the callbacks through it), so a
    class made per ``fit`` kept the engine it closed over, and its Recording, forever."""
    cls = _MARKERS.get(flavor.Callback)
    if cls is None:

        class _EpochMarker(flavor.Callback):
            def __init__(self, engine, model, restores):
                super().__init__()
                self._tfhist = (engine, model, restores)

            def on_epoch_begin(self, epoch, logs=None):
                engine, model, _ = self._tfhist
                opt = getattr(model, "optimizer", None)
                if opt is not None:
                    engine.rec.mark_epoch(engine.step_of(opt, model), epoch)

            def on_train_end(self, logs=None):
                engine, model, restores = self._tfhist
                if restores:
                    engine.end_fit(model)

        cls = _MARKERS[flavor.Callback] = _EpochMarker
    return cls(engine, model, restores)


#: A model's compiled training functions, set aside for a watch and put back after it.
_COMPILED = ("train_function", "train_tf_function")


def _no_autograph(fn):
    return tf.autograph.experimental.do_not_convert(fn)


def attach(engine: Engine, flavor: Flavor) -> None:
    """Install ``flavor``'s patches on an entered engine (undone by ``engine.close()``)."""
    p = engine.patches
    claimed: dict[int, tuple] = {}
    recompiled: set[int] = set()

    orig_call = flavor.Layer.__call__

    @functools.wraps(orig_call)
    @_no_autograph
    def __call__(layer, *args, **kwargs):
        return engine.layer_call(layer, functools.partial(orig_call, layer), args, kwargs)

    p.set(flavor.Layer, "__call__", __call__)

    for cls, meth, unpack in flavor.updates:
        orig = cls.__dict__.get(meth) or getattr(cls, meth)

        def make(orig=orig, unpack=unpack):
            @functools.wraps(orig)
            @_no_autograph
            def update(opt, *args, **kwargs):
                if not engine.enter_update():  # an update inside an update (a wrapped optimizer)
                    return orig(opt, *args, **kwargs)
                try:
                    got = unpack(opt, *args, **kwargs)
                    if got is not None:
                        grads, variables, scale, args, kwargs = got
                        if grads and len(grads) == len(variables):
                            engine.record_update(opt, grads, variables, scale=scale)
                    out = orig(opt, *args, **kwargs)
                    engine.after_update()  # update ratios, from what the update did
                    return out
                finally:
                    engine.exit_update()

            return update

        p.set(cls, meth, make())

    for cls, meth, unpack in flavor.distributed:
        orig = cls.__dict__.get(meth) or getattr(cls, meth)

        def make_distributed(orig=orig, unpack=unpack):
            @functools.wraps(orig)
            @_no_autograph
            def update(opt, *args, **kwargs):
                distribution, grads, variables, args, kwargs = unpack(opt, *args, **kwargs)
                engine.record_distributed(distribution, grads, variables)
                out = orig(opt, *args, **kwargs)
                engine.after_update()  # update ratios, from one copy after the cross-replica update
                return out

            return update

        p.set(cls, meth, make_distributed())

    def claim(model):
        if id(model) in claimed:
            return
        if engine.targets is not None and not any(model is t for t in engine.targets):
            return
        # tf_keras also keeps the tf.function it wraps (for TensorBoard's graph): put back too
        claimed[id(model)] = (model, {a: getattr(model, a) for a in _COMPILED if hasattr(model, a)})
        model.train_function = None

    def wrap_train(name):
        orig = getattr(flavor.Model, name)
        sig = inspect.signature(orig)

        @functools.wraps(orig)
        def method(model, *args, **kwargs):
            claim(model)
            if name == "fit":
                ba = sig.bind(model, *args, **kwargs)
                cbs = list(ba.arguments.get("callbacks") or [])
                restores = any(getattr(cb, "restore_best_weights", False) is True for cb in cbs)
                ba.arguments["callbacks"] = [_epoch_marker(flavor, engine, model, restores), *cbs]
                args, kwargs = ba.args[1:], ba.kwargs
            try:
                return orig(model, *args, **kwargs)
            finally:
                engine.flush()

        p.set(flavor.Model, name, method)

    wrap_train("fit")
    wrap_train("train_on_batch")

    orig_compile = flavor.Model.compile

    @functools.wraps(orig_compile)
    def compile(model, *args, **kwargs):
        recompiled.add(id(model))
        return orig_compile(model, *args, **kwargs)

    p.set(flavor.Model, "compile", compile)

    orig_loss = flavor.Model.compute_loss

    @functools.wraps(orig_loss)
    def compute_loss(model, *args, **kwargs):
        loss = orig_loss(model, *args, **kwargs)
        engine.note_loss(loss)  # checked for NaN/Inf with the step's gradients
        return loss

    p.set(flavor.Model, "compute_loss", compute_loss)

    def restore():
        for mid, (model, saved) in claimed.items():
            for attr, fn in saved.items():
                setattr(model, attr, None if mid in recompiled else fn)
        claimed.clear()

    engine.on_close.append(restore)


def snapshot(flavor: Flavor, model, recording: Recording, *, kinds, x=None, y=None, loss=None) -> Recording:
    """A fresh snapshot of ``model`` at step 0: weights now; activations and gradients
    of one inference-mode forward pass on ``x`` (and ``y`` for the loss).

    Nothing about the model changes: no update, no state (``training=False``).
    ``loss(x, y, y_pred)`` computes the loss (the flavor's compiled loss by default).
    """
    variables = flavor.model_vars(model)
    vnames = [flavor.var_name(v) for v in variables]
    names = list(vnames)
    if "weights" in kinds:
        record_now(recording, "weights", vnames, [tf.convert_to_tensor(v) for v in variables], 0)
    if x is None or not ({"activations", "grads"} & set(kinds)):
        recording.add_model(model.name, names)
        return recording
    engine = make_engine(flavor, recording, every=1, kinds=("activations",))
    orig_call = flavor.Layer.__call__
    with engine:

        def __call__(layer, *args, **kwargs):
            return engine.layer_call(layer, functools.partial(orig_call, layer), args, kwargs)

        engine.patches.set(flavor.Layer, "__call__", __call__)
        with tf.GradientTape() as tape:
            y_pred = model(x, training=False)
            value = loss(x, y, y_pred) if ("grads" in kinds and y is not None) else None
        roots = engine.take_forwards()
    if "activations" in kinds:
        acts = [(engine.activation_name(layer, i, model), t) for fw in roots[-1:] for layer, i, t in fw.acts]
        record_now(recording, "activations", [n for n, _ in acts], [t for _, t in acts], 0)
        names += [n for n, _ in acts]
    if value is not None:
        grads = tape.gradient(value, variables)
        pairs = [(n, tf.convert_to_tensor(g)) for n, g in zip(vnames, grads) if g is not None]
        record_now(recording, "grads", [n for n, _ in pairs], [g for _, g in pairs], 0)
    recording.add_model(model.name, names)
    return recording
