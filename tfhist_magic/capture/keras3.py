"""Keras 3 (TensorFlow backend): the flavor for the shared Keras patches.

Updates are observed at ``BaseOptimizer.apply``, which ``apply_gradients`` and
``fit``/``train_on_batch`` go through (a LossScaleOptimizer reaches it through its
inner optimizer, with unscaled gradients). Under ``tf.distribute``, the cross-replica
update ``TFOptimizer._distributed_tf_update_step`` gets the reduced gradients.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from . import _compat, _keras

__all__ = ["FLAVOR"]


def _unpack_apply(opt, grads, trainable_variables=None):
    grads = list(grads)
    if not grads:
        return None
    if trainable_variables is not None:
        trainable_variables = list(trainable_variables)
    variables = _compat.keras3_trainable_variables(opt) if trainable_variables is None else trainable_variables
    return grads, list(variables), opt.loss_scale_factor, (grads, trainable_variables), {}


def _unpack_distributed(opt, distribution, grads_and_vars, *args, **kwargs):
    pairs = list(grads_and_vars)
    return distribution, [g for g, _ in pairs], [v for _, v in pairs], (distribution, pairs) + args, kwargs


#: Keras' optimizers whose ``update_step`` writes each weight once, through
#: ``self.assign`` / ``assign_add`` / ``assign_sub`` (their sources, Keras 3.x).
_WRITE_ONCE = ("Adadelta", "Adafactor", "Adagrad", "Adam", "AdamW", "Adamax", "Ftrl", "Lamb", "Lion", "RMSprop", "SGD")  # not Nadam: it updates its own way


def _written_once(opt, variable) -> bool:
    """Whether ``opt``'s update writes ``variable`` once, and only in its ``update_step``
    (no weight decay, no accumulation, one of :data:`_WRITE_ONCE` itself, not a
    subclass): then its update scalars can be measured as it is written."""
    if type(opt) not in {getattr(keras.optimizers, n, None) for n in _WRITE_ONCE} or getattr(opt, "gradient_accumulation_steps", None):
        return False
    try:
        return opt.weight_decay is None or not opt._use_weight_decay(variable)
    except Exception:  # a Keras whose private helper moved: measured after the update
        return False


def _per_weight(opt):
    """How ``opt``'s update reaches each weight, where it is Keras' own: TFOptimizer's
    ``_distributed_tf_update_step`` calls ``update_step(gradient, variable,
    learning_rate)`` per weight, after ``_apply_weight_decay(variables)`` of them all; and
    which weights it writes once (:func:`_written_once`). None under a strategy (the
    update runs in its merge, on its own variables), for an optimizer that updates its
    own way, and where the EMA overwrites the weights after the update."""
    if tf.distribute.has_strategy() or getattr(opt, "use_ema", False) or not _compat.keras3_updates_each_weight(opt):
        return None
    return ("update_step", 1, "_apply_weight_decay", _written_once)


FLAVOR = _keras.Flavor(
    Layer=keras.Layer,
    Model=keras.Model,
    Callback=keras.callbacks.Callback,
    updates=[(_compat.keras3_optimizer_base(), "apply", _unpack_apply)],
    distributed=[(_compat.keras3_tf_optimizer(), _compat.KERAS3_DISTRIBUTED_UPDATE, _unpack_distributed)],
    tf_var=lambda v: v.value if isinstance(v, keras.Variable) else v,
    var_name=lambda v: getattr(v, "path", None) or v.name,
    layer_name=lambda layer: getattr(layer, "path", None) or layer.name,
    per_weight=_per_weight,
    loss=lambda model: lambda x, y, y_pred: model.compute_loss(x=x, y=y, y_pred=y_pred, training=False),
)
