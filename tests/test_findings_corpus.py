"""Healthy runs with default settings give no findings.

A small corpus of models that train well (an MLP binary classifier, a softmax CNN, a
Transformer encoder, a ResNet-style net with BatchNormalization), each watched with
``tfhist_magic.watch()`` as a user would (default ``every``) for a few hundred steps, so
every rule sees enough samples to judge. Each test also checks that the measurements
the rules read were taken, so "no findings" cannot pass by measuring nothing.
"""

import numpy as np
import pytest
import keras

import tfhist_magic
from tfhist_magic import health

L = keras.layers


def _binary_mlp(opt="adam"):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(512, 8)).astype("float32")
    y = (x[:, 0] + x[:, 1] - 0.5 * x[:, 2] > 0).astype("float32")[:, None]
    keras.utils.set_random_seed(0)
    m = keras.Sequential([keras.Input((8,)), L.Dense(32, activation="relu"), L.Dense(16, activation="relu"), L.Dense(1, activation="sigmoid")], name="mlp")
    m.compile(optimizer=opt, loss="binary_crossentropy")
    return m, x, y, dict(batch_size=16, epochs=8)  # 256 steps


def _images(n, channels, rng):
    """8x8 images of noise with a bright 3x3 blob in one of four quadrants (the label)."""
    x = 0.3 * rng.normal(size=(n, 8, 8, channels)).astype("float32")
    label = rng.integers(0, 4, size=n)
    for i, q in enumerate(label):
        r, c = 1 + 4 * (q // 2), 1 + 4 * (q % 2)
        x[i, r : r + 2, c : c + 2] += 1.5
    return x, keras.utils.to_categorical(label, 4).astype("float32")


def _softmax_cnn(opt="sgd"):
    rng = np.random.default_rng(1)
    x, y = _images(512, 1, rng)
    keras.utils.set_random_seed(0)
    m = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            L.Conv2D(8, 3, padding="same", activation="relu"),
            L.MaxPooling2D(),
            L.Conv2D(16, 3, padding="same", activation="relu"),
            L.GlobalAveragePooling2D(),
            L.Dense(4, activation="softmax"),
        ],
        name="cnn",
    )
    if opt == "sgd":
        opt = keras.optimizers.SGD(0.05, momentum=0.9)
    m.compile(optimizer=opt, loss="categorical_crossentropy")
    return m, x, y, dict(batch_size=16, epochs=8)  # 256 steps


def _transformer(opt="adam", blocks=2):
    """Embedding + ``blocks`` post-norm encoder blocks; is token 1 in the first half of the sequence?"""
    rng = np.random.default_rng(2)
    x = rng.integers(2, 50, size=(512, 8))
    y = rng.integers(0, 2, size=512)
    x[y == 1, rng.integers(0, 4, size=int(y.sum()))] = 1
    keras.utils.set_random_seed(0)
    inp = keras.Input((8,), dtype="int32")
    h = L.Embedding(50, 32)(inp)
    h = h + L.Embedding(8, 32)(keras.ops.arange(8))  # learned positions
    for _ in range(blocks):
        a = L.MultiHeadAttention(num_heads=4, key_dim=8)(h, h)
        h = L.LayerNormalization()(h + a)
        f = L.Dense(32)(L.Dense(64, activation="relu")(h))
        h = L.LayerNormalization()(h + f)
    out = L.Dense(1, activation="sigmoid")(L.GlobalAveragePooling1D()(h))
    m = keras.Model(inp, out, name="encoder")
    m.compile(optimizer=opt, loss="binary_crossentropy")
    return m, x.astype("int32"), y.astype("float32")[:, None], dict(batch_size=16, epochs=8)  # 256 steps


def _resnet(opt="sgd"):
    rng = np.random.default_rng(3)
    x, y = _images(512, 3, rng)
    keras.utils.set_random_seed(0)
    inp = keras.Input((8, 8, 3))
    h = L.ReLU()(L.BatchNormalization()(L.Conv2D(16, 3, padding="same", use_bias=False)(inp)))
    for _ in range(2):
        r = L.ReLU()(L.BatchNormalization()(L.Conv2D(16, 3, padding="same", use_bias=False)(h)))
        r = L.BatchNormalization()(L.Conv2D(16, 3, padding="same", use_bias=False)(r))
        h = L.ReLU()(L.Add()([h, r]))
    out = L.Dense(4, activation="softmax")(L.GlobalAveragePooling2D()(h))
    m = keras.Model(inp, out, name="resnet")
    if opt == "sgd":
        opt = keras.optimizers.SGD(0.05, momentum=0.9)
    m.compile(optimizer=opt, loss="categorical_crossentropy")
    return m, x, y, dict(batch_size=16, epochs=8)  # 256 steps


CORPUS = {"binary_mlp": _binary_mlp, "softmax_cnn": _softmax_cnn, "transformer": _transformer, "resnet": _resnet}


def _fit(build, **kw):
    m, x, y, fit = build(**kw)
    with tfhist_magic.watch() as rec:  # default settings: every=50
        hist = m.fit(x, y, verbose=0, **fit)
    return m, rec, hist.history["loss"]


@pytest.mark.parametrize("name", list(CORPUS))
def test_healthy_run_with_default_settings_has_no_findings(name):
    build = CORPUS[name]
    m, rec, loss = _fit(build, **({"blocks": 4} if name == "transformer" else {}))  # the 4-block encoder
    assert loss[-1] < 0.6 * loss[0], loss  # it learned: a healthy run
    assert rec.findings() == [], [f.message for f in rec.findings()]
    # what the rules read was measured, at enough sampled steps for them to judge
    matrices = [v.path for v in m.trainable_variables if len(v.shape) >= 2 and health.is_weight_matrix(v.path)]
    assert matrices and set(matrices) <= set(rec.scalar_names("update_ratio"))
    for k in matrices:
        steps, ratios = rec.scalar("update_ratio", k)
        assert len(steps) >= health.RATIO_WINDOW + 2 and steps[1] == 50 and (ratios > 0).all(), (k, steps, ratios)
    hidden = [layer.path for layer in m.layers if isinstance(layer, (L.Dense, L.Conv2D)) and layer.path not in rec.outputs]
    assert hidden and set(hidden) <= set(rec.scalar_names("dead_units"))
    assert all(len(rec.scalar("dead_units", h)[0]) >= 3 for h in hidden)
    assert len(rec.names("grads")) == len(m.trainable_variables)
    (out,) = rec.outputs
    assert out == m.layers[-1].path
    if name in ("binary_mlp", "transformer"):  # a sigmoid output: its saturation is measured, and not a finding
        assert out in rec.scalar_names("saturation")
    if name == "transformer":  # what used to be flagged: the output saturates as it learns
        assert rec.scalar("saturation", out)[1][-1] >= health.SATURATION_SHARE
