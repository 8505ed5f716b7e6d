"""Keras 3 watch: what is recorded equals NumPy / GradientTape on the same values."""

import numpy as np
import pytest
import tensorflow as tf
import keras
from keras.src.optimizers.base_optimizer import BaseOptimizer
from tensorflow.python.eager.polymorphic_function import polymorphic_function as pf

import tfhist_magic
from conftest import make_mlp

B = 64


def _hist(values, series, i):
    v = np.asarray(values, dtype=np.float64).ravel()
    return np.histogram(v[np.isfinite(v)], bins=series.edges[i])[0]


def test_final_weights_equal_numpy_histogram_of_final_weights(data):
    x, y = data
    m = make_mlp()
    with tfhist_magic.watch(every=3) as rec:
        m.fit(x, y, batch_size=16, epochs=2, verbose=0)  # 8 steps
    for v in m.trainable_variables:
        s = rec.series("weights", v.path)
        assert s.steps[-1] == 8
        np.testing.assert_array_equal(s.counts[-1], _hist(v.numpy(), s, -1))
        assert s.min[-1] == v.numpy().min() and s.max[-1] == v.numpy().max()
        np.testing.assert_allclose(s.mean[-1], v.numpy().mean(), rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(rec.series("grads", m.trainable_variables[0].path).steps, [0, 3, 6])
    np.testing.assert_array_equal(rec.series("grads", m.trainable_variables[0].path).epochs, [0, 0, 1])


def test_full_batch_sgd_gradients_equal_gradient_tape(data):
    x, y = data
    m = make_mlp()
    w0 = [v.numpy().copy() for v in m.trainable_variables]
    with tf.GradientTape() as tape:
        loss = keras.losses.MeanSquaredError()(y, m(x, training=True))
    expect = tape.gradient(loss, m.trainable_variables)
    with tfhist_magic.watch(every=1) as rec:
        m.fit(x, y, batch_size=len(x), epochs=1, shuffle=False, verbose=0)
    for v, g, w in zip(m.trainable_variables, expect, w0):
        s = rec.series("grads", v.path)
        np.testing.assert_array_equal(s.steps, [0])
        g = g.numpy()
        np.testing.assert_allclose([s.min[0], s.max[0]], [g.min(), g.max()], rtol=1e-5, atol=1e-7)
        np.testing.assert_array_equal(s.counts[0], _hist(g, s, 0))
        # Weights at step 0 are the ones that step used: the initial ones.
        sw = rec.series("weights", v.path)
        np.testing.assert_array_equal(sw.counts[0], _hist(w, sw, 0))
        # SGD: w1 = w0 - lr * g, and the final snapshot is of w1.
        np.testing.assert_allclose(v.numpy(), w - 0.1 * g, rtol=1e-5, atol=1e-6)


def test_dense_relu_activations_equal_layer_output(data):
    x, y = data
    m = make_mlp()
    hidden = m.get_layer("hidden")
    expect = hidden(x).numpy()  # the weights step 0 uses
    with tfhist_magic.watch(every=1, kinds="activations") as rec:
        m.fit(x, y, batch_size=len(x), epochs=1, shuffle=False, verbose=0)
    assert rec.kinds == ("activations",)
    s = rec.series("activations", hidden.path)
    np.testing.assert_array_equal(s.counts[0], _hist(expect, s, 0))
    assert s.zeros[0] == np.count_nonzero(expect == 0) and s.size[0] == expect.size
    assert s.min[0] == 0.0


def _patched_state():
    return (
        keras.Layer.__dict__.get("__call__"),
        BaseOptimizer.__dict__.get("apply"),
        pf.Function.__dict__.get("__call__"),
        "fit" in keras.Model.__dict__,
        "compile" in keras.Model.__dict__,
    )


def test_watching_changes_nothing_the_model_computes(data):
    x, y = data
    before = _patched_state()
    plain = make_mlp(seed=3)
    plain.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    watched = make_mlp(seed=3)
    with tfhist_magic.watch(every=1) as rec:
        h = watched.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    for a, b in zip(plain.trainable_variables, watched.trainable_variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert len(h.history["loss"]) == 2 and len(rec.series("grads", watched.trainable_variables[0].path)) == 16
    assert _patched_state() == before


def test_train_function_is_restored_after_the_watch(data):
    x, y = data
    m = make_mlp()
    m.fit(x, y, epochs=1, verbose=0)
    fn = m.train_function
    with tfhist_magic.watch(every=1):
        m.fit(x, y, epochs=1, verbose=0)
        assert m.train_function is not fn  # an instrumented trace was used
    assert m.train_function is fn


def test_exception_inside_block_keeps_recording_and_undoes_patches(data):
    x, y = data
    before = _patched_state()
    m = make_mlp()

    class Stop(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 2:
                raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        with tfhist_magic.watch(every=1) as rec:
            m.fit(x, y, batch_size=8, epochs=1, callbacks=[Stop()], verbose=0)
    assert _patched_state() == before
    s = rec.series("grads", m.trainable_variables[0].path)
    np.testing.assert_array_equal(s.steps, [0, 1, 2])
    assert rec.series("weights", m.trainable_variables[0].path).steps[-1] == 3


def test_custom_loop_in_tf_function_and_eager(data):
    x, y = data
    m = make_mlp()
    opt = keras.optimizers.Adam(1e-3)

    @tf.function
    def step(xb, yb):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean((m(xb, training=True) - yb) ** 2)
        grads = tape.gradient(loss, m.trainable_variables)
        opt.apply_gradients(zip(grads, m.trainable_variables))
        return grads

    with tfhist_magic.watch(every=2) as rec:
        got = [step(x, y) for _ in range(5)]
    s = rec.series("grads", m.trainable_variables[0].path)
    np.testing.assert_array_equal(s.steps, [0, 2, 4])
    for i, k in enumerate([0, 2, 4]):
        np.testing.assert_array_equal(s.counts[i], _hist(got[k][0].numpy(), s, i))
    assert rec.series("activations", m.get_layer("hidden").path).steps.tolist() == [0, 2, 4]

    with tfhist_magic.watch(every=1, kinds=["grads", "weights"]) as rec2:
        for _ in range(3):
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean((m(x, training=True) - y) ** 2)
            g = tape.gradient(loss, m.trainable_variables)
            opt.apply(g, m.trainable_variables)
    s = rec2.series("grads", m.trainable_variables[2].path)
    np.testing.assert_array_equal(s.steps, [0, 1, 2])
    np.testing.assert_array_equal(s.counts[-1], _hist(g[2].numpy(), s, -1))
    assert rec2.series("weights", m.trainable_variables[2].path).steps.tolist() == [0, 1, 2, 3]


def test_functional_subclassed_nested_and_train_on_batch(data):
    x, y = data
    keras.utils.set_random_seed(1)
    inner = keras.Sequential([keras.layers.Dense(4, activation="tanh", name="t1")], name="inner")
    inp = keras.Input((8,))
    out = keras.layers.Dense(1, name="head")(inner(keras.layers.Dense(6, activation="relu", name="d0")(inp)))
    fm = keras.Model(inp, out, name="fm")
    fm.compile("adam", "mse")

    class Sub(keras.Model):
        def __init__(self):
            super().__init__(name="sub")
            self.a = keras.layers.Dense(5, activation="sigmoid", name="a")
            self.b = keras.layers.Dense(1, name="b")

        def call(self, t):
            return self.b(self.a(t))

    sm = Sub()
    sm.compile("sgd", "mse")
    with tfhist_magic.watch(every=1) as rec:
        fm.train_on_batch(x, y)
        fm.train_on_batch(x, y)
        sm.fit(x, y, epochs=1, batch_size=32, verbose=0)
    acts = rec.names("activations")
    for name in ("d0", "inner", "inner/t1", "head", "a", "b"):
        assert any(n == name or n.endswith("/" + name) for n in acts), (name, acts)
    assert set(rec.models) == {"fm", "sub"}
    t1 = [n for n in acts if n.endswith("t1")][0]
    s = rec.series("activations", t1)
    assert s.steps.tolist() == [0, 1] and s.min[0] >= -1 and s.max[0] <= 1
    expect = inner(fm.get_layer("d0")(x)).numpy()  # after two updates: compare shape only
    assert s.size[0] == expect.size


def test_targets_narrow_the_recording(data):
    x, y = data
    a, b = make_mlp(name="a"), make_mlp(seed=1, name="b")
    with tfhist_magic.watch(b, every=1) as rec:
        a.fit(x, y, epochs=1, verbose=0)
        b.fit(x, y, epochs=1, batch_size=64, verbose=0)
    assert list(rec.models) == ["b"]
    assert all(n.startswith("b/") for n in rec.names("weights"))


def test_nan_gradients_are_counted_not_dropped(data):
    x, y = data
    m = make_mlp()
    bad = y.copy()
    bad[0] = np.nan
    with tfhist_magic.watch(every=1, kinds="grads") as rec:
        m.fit(x, bad, batch_size=len(x), epochs=2, verbose=0)
    s = rec.series("grads", m.trainable_variables[-1].path)
    assert s.nan[0] == 1  # the bias gradient is NaN at step 0
    s = rec.series("grads", m.trainable_variables[0].path)
    assert s.nan[-1] == s.size[-1]  # by step 1 everything is NaN
    from tfhist_magic import health

    # all four went bad at step 0; the backward pass computes the last layer's gradients first
    (f,) = health.findings(rec)
    assert f.startswith(f"grads {m.trainable_variables[-1].path}: non-finite values from step 0") and "3 more followed" in f, f


def test_bad_arguments():
    with pytest.raises(ValueError, match="every=0"):
        tfhist_magic.watch(every=0)
    with pytest.raises(ValueError, match="'bogus'"):
        tfhist_magic.watch(kinds="bogus")
    with pytest.raises(ValueError, match="expected a Keras model or a tf.compat.v1 Session"):
        tfhist_magic.watch(object())


def test_snapshot_on_demand(data):
    x, y = data
    m = make_mlp()
    rec = tfhist_magic.snapshot(m, x=x, y=y)
    hidden = m.get_layer("hidden")
    s = rec.series("activations", hidden.path)
    np.testing.assert_array_equal(s.counts[0], _hist(hidden(x).numpy(), s, 0))
    with tf.GradientTape() as tape:
        loss = m.compute_loss(x=x, y=y, y_pred=m(x, training=False), training=False)
    g = tape.gradient(loss, m.trainable_variables)
    sg = rec.series("grads", m.trainable_variables[0].path)
    np.testing.assert_array_equal(sg.counts[0], _hist(g[0].numpy(), sg, 0))


def test_mixed_precision_loss_scale_optimizer(data):
    """The update runs inside the LossScaleOptimizer's branch: activations still found,
    gradients recorded unscaled (as applied)."""
    x, y = data
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        keras.utils.set_random_seed(0)
        m = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu", name="hidden"), keras.layers.Dense(1, dtype="float32", name="out")])
        m.compile(keras.optimizers.SGD(0.1), "mse")
        assert type(m.optimizer).__name__ == "LossScaleOptimizer"
        kernel = m.get_layer("hidden").kernel
        with tf.GradientTape() as tape:
            loss = keras.losses.MeanSquaredError()(y, m(x, training=True))
        expect = tape.gradient(loss, kernel).numpy()
        with tfhist_magic.watch(every=1) as rec:
            m.fit(x, y, batch_size=len(x), epochs=1, shuffle=False, verbose=0)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert rec.series("activations", m.get_layer("hidden").path).dtype == "float32"  # float16 binned as float32
    s = rec.series("grads", kernel.path)
    np.testing.assert_allclose([s.min[0], s.max[0]], [expect.min(), expect.max()], rtol=1e-2, atol=1e-3)


def test_a_capture_that_fails_to_close_leaves_the_others_closed():
    """Every capture of a watch is closed (its rows delivered, its patches undone) even
    when another one's close raises; the failure still reaches the cell."""
    from tfhist_magic.watcher import _ACTIVE, Watch

    closed = []

    class Capture:
        def __init__(self, name, fails=False):
            self.name, self.fails = name, fails

        def close(self):
            closed.append(self.name)
            if self.fails:
                raise RuntimeError(f"{self.name} failed")

    w = Watch()
    w._engines = [(None, Capture("keras")), (None, Capture("tf_keras", fails=True))]
    w._sessions = Capture("sessions")
    _ACTIVE.append(w)
    with pytest.raises(RuntimeError, match="tf_keras failed"):
        w._close()
    assert closed == ["tf_keras", "keras", "sessions"] and w not in _ACTIVE
