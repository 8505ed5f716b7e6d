"""Keras 3 (TensorFlow backend): the flavor for the shared Keras patches.

Updates are observed at ``BaseOptimizer.apply``, which ``apply_gradients`` and
``fit``/``train_on_batch`` go through (a LossScaleOptimizer reaches it through its
inner optimizer, with unscaled gradients).
"""

from __future__ import annotations

import keras
from keras.src.optimizers.base_optimizer import BaseOptimizer

from ..recording import Recording
from . import _keras

__all__ = ["FLAVOR", "is_model", "attach", "make_engine", "snapshot", "model_vars"]


def _unpack_apply(opt, grads, trainable_variables=None):
    grads = list(grads)
    if not grads:
        return None
    if trainable_variables is not None:
        trainable_variables = list(trainable_variables)
    variables = opt._trainable_variables if trainable_variables is None else trainable_variables
    return grads, list(variables), opt.loss_scale_factor, (grads, trainable_variables), {}


FLAVOR = _keras.Flavor(
    name="keras3",
    Layer=keras.Layer,
    Model=keras.Model,
    Callback=keras.callbacks.Callback,
    updates=[(BaseOptimizer, "apply", _unpack_apply)],
    var_name=lambda v: getattr(v, "path", None) or v.name,
    layer_name=lambda layer: getattr(layer, "path", None) or layer.name,
)


def is_model(obj) -> bool:
    return isinstance(obj, keras.Model)


def model_vars(model):
    return FLAVOR.model_vars(model)


def make_engine(recording: Recording, *, every: int, kinds, targets=None):
    return _keras.make_engine(FLAVOR, recording, every=every, kinds=kinds, targets=targets)


def attach(engine) -> None:
    _keras.attach(engine, FLAVOR)


def _loss(model):
    def loss(x, y, y_pred):
        return model.compute_loss(x=x, y=y, y_pred=y_pred, training=False)

    return loss


def snapshot(model, recording: Recording, *, kinds, x=None, y=None) -> Recording:
    return _keras.snapshot(FLAVOR, model, recording, kinds=kinds, x=x, y=y, loss=_loss(model))
