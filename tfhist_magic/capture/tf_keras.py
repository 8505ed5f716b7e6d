"""tf_keras (Keras 2, ``pip install tfhist-magic[legacy]``): the flavor for the shared
Keras patches. With ``TF_USE_LEGACY_KERAS=1`` this is what ``tf.keras`` is.

Updates are observed at ``apply_gradients`` of both optimizer families (the current
``tf_keras.optimizers.Optimizer`` and ``tf_keras.optimizers.legacy``), which ``fit``,
``train_on_batch``, ``minimize`` and custom loops go through; under ``tf.distribute``,
their cross-replica updates (``_distributed_apply_gradients_fn``, ``_distributed_apply``)
get the reduced gradients.
"""

from __future__ import annotations

import tf_keras

from . import _compat, _keras

_OPTIMIZER, _OPTIMIZER_V2 = _compat.tf_keras_optimizer_bases()

__all__ = ["FLAVOR"]


def _unpack_apply_gradients(opt, grads_and_vars, *args, **kwargs):
    pairs = list(grads_and_vars)
    if not pairs:
        return None
    grads = [g for g, _ in pairs]
    variables = [v for _, v in pairs]
    return grads, variables, None, (pairs,) + args, kwargs


def _unpack_distributed(opt, distribution, grads_and_vars, *args, **kwargs):
    pairs = list(grads_and_vars)
    return distribution, [g for g, _ in pairs], [v for _, v in pairs], (distribution, pairs) + args, kwargs


FLAVOR = _keras.Flavor(
    Layer=tf_keras.layers.Layer,
    Model=tf_keras.Model,
    Callback=tf_keras.callbacks.Callback,
    updates=[
        (_OPTIMIZER, "apply_gradients", _unpack_apply_gradients),
        (_OPTIMIZER_V2, "apply_gradients", _unpack_apply_gradients),
    ],
    distributed=[
        (_OPTIMIZER, _compat.TF_KERAS_DISTRIBUTED_APPLY, _unpack_distributed),
        (_OPTIMIZER_V2, _compat.TF_KERAS_LEGACY_DISTRIBUTED_APPLY, _unpack_distributed),
    ],
    var_name=lambda v: v.name.split(":")[0],
    layer_name=lambda layer: layer.name,
    loss=lambda model: lambda x, y, y_pred: model.compute_loss(x=x, y=y, y_pred=y_pred),
)
