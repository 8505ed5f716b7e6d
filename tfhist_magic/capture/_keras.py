"""What Keras 3 and tf_keras (Keras 2) share: the patches that feed the TF2 engine.

A :class:`Flavor` names the classes and conventions of one Keras; :func:`attach`
installs, on an entered :class:`~._tf2.Engine` (all undone by ``engine.close()``), the
patches every Keras gets (:mod:`._install`: ``Layer.__call__``, the optimizer update
method(s), ``fit`` / ``train_on_batch`` with the epoch marker, ``compile``) and those only
TensorFlow has:

* the cross-replica update a ``tf.distribute`` strategy merges into (the reduced
  gradients);
* ``Model.compute_loss``: the loss a training step computed, checked for NaN/Inf with
  its gradients.

:func:`snapshot` records one model now (``%tfhist model``), as one Block.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Callable

import tensorflow as tf

from ..recording import Recording
from . import _install
from ._base import deliver_snapshot
from ._eager import rows_now
from ._tf2 import Engine

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
    per_weight: Callable = None  # fn(optimizer) -> spec or None; see _tf2.Engine

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
        per_weight=flavor.per_weight,
    )


#: A model's compiled training functions, set aside for a watch and put back after it
#: (tf_keras also keeps the tf.function it wraps, for TensorBoard's graph).
_COMPILED = ("train_function", "train_tf_function")


def _no_autograph(fn):
    return tf.autograph.experimental.do_not_convert(fn)


def attach(engine: Engine, flavor: Flavor) -> None:
    """Install ``flavor``'s patches on an entered engine (undone by ``engine.close()``)."""
    _install.layer_calls(engine, flavor.Layer, "__call__", _no_autograph)
    for cls, meth, unpack in flavor.updates:
        _install.updates(engine, cls, meth, unpack, _no_autograph)
    for cls, meth, unpack in flavor.distributed:
        _distributed_updates(engine, cls, meth, unpack)
    _install.training(engine, flavor.Model, flavor.Callback, _install.Claims(engine, _COMPILED))
    orig_loss = flavor.Model.compute_loss

    @functools.wraps(orig_loss)
    def compute_loss(model, *args, **kwargs):
        loss = orig_loss(model, *args, **kwargs)
        engine.note_loss(loss)  # checked for NaN/Inf with the step's gradients
        return loss

    engine.patches.set(flavor.Model, "compute_loss", compute_loss)


def _distributed_updates(engine: Engine, cls, meth: str, unpack) -> None:
    """Observe the cross-replica update ``cls.meth`` a ``tf.distribute`` strategy merges
    into: ``unpack`` returns ``(distribution, grads, variables, args, kwargs)``."""
    orig = cls.__dict__.get(meth) or getattr(cls, meth)

    @functools.wraps(orig)
    @_no_autograph
    def update(opt, *args, **kwargs):
        distribution, grads, variables, args, kwargs = unpack(opt, *args, **kwargs)
        plan = engine.record_distributed(distribution, grads, variables)
        out = orig(opt, *args, **kwargs)
        engine.after_update(plan)  # update ratios, from one copy after the cross-replica update
        return out

    engine.patches.set(cls, meth, update)


def snapshot(flavor: Flavor, model, recording: Recording, *, kinds, x=None, y=None, loss=None) -> Recording:
    """A fresh snapshot of ``model`` at step 0: weights now; activations and gradients
    of one inference-mode forward pass on ``x`` (and ``y`` for the loss).

    Nothing about the model changes: no update, no state (``training=False``).
    ``loss(x, y, y_pred)`` computes the loss (the flavor's compiled loss by default).
    """
    variables = flavor.model_vars(model)
    vnames = [flavor.var_name(v) for v in variables]
    parts = [("weights", vnames, [tf.convert_to_tensor(v) for v in variables])] if "weights" in kinds else []
    if x is not None and {"activations", "grads"} & set(kinds):
        parts += _forward(flavor, model, recording, kinds, x, y, loss, variables, vnames)
    deliver_snapshot(recording, model.name, vnames, parts, rows_now)
    return recording


def _forward(flavor: Flavor, model, recording: Recording, kinds, x, y, loss, variables, vnames) -> list:
    """``[(kind, names, tensors)]`` of one inference-mode pass: its activations, and the
    gradients of its loss."""
    engine = make_engine(flavor, recording, every=1, kinds=("activations",))
    with engine:
        _install.layer_calls(engine, flavor.Layer, "__call__")
        with tf.GradientTape() as tape:
            y_pred = model(x, training=False)
            value = loss(x, y, y_pred) if ("grads" in kinds and y is not None) else None
        roots = engine.take_forwards()
    parts = []
    if "activations" in kinds:
        acts = [(engine.activation_name(layer, i, model), t) for fw in roots[-1:] for layer, i, t in fw.acts]
        parts.append(("activations", [n for n, _ in acts], [t for _, t in acts]))
    if value is not None:
        grads = tape.gradient(value, variables)
        pairs = [(n, tf.convert_to_tensor(g)) for n, g in zip(vnames, grads) if g is not None]
        parts.append(("grads", [n for n, _ in pairs], [g for _, g in pairs]))
    return parts
