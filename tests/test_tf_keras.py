"""tf_keras (Keras 2) models are watched like Keras 3 ones; and with
TF_USE_LEGACY_KERAS=1, tf.keras and tf.compat.v1.layers graphs are too."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

tf_keras = pytest.importorskip("tf_keras")

import tfhist_magic  # noqa: E402


def _hist(values, series, i):
    v = np.asarray(values, dtype=np.float64).ravel()
    return np.histogram(v[np.isfinite(v)], bins=series.edges[i])[0]


def _model(seed=0):
    tf_keras.utils.set_random_seed(seed)
    m = tf_keras.Sequential([tf_keras.layers.Dense(16, activation="relu", input_shape=(8,), name="hidden"), tf_keras.layers.Dense(1, name="out")])
    m.compile(tf_keras.optimizers.SGD(0.1), "mse")
    return m


def test_fit_grads_equal_gradient_tape_and_final_weights(data):
    x, y = data
    m = _model()
    with tf.GradientTape() as tape:
        loss = tf_keras.losses.MeanSquaredError()(y, m(x, training=True))
    expect = tape.gradient(loss, m.trainable_variables)
    hidden_out = m.get_layer("hidden")(x).numpy()
    m.make_train_function()  # as if it had trained before the watch
    fn = m.train_function
    with tfhist_magic.watch(every=1) as rec:
        m.fit(x, y, batch_size=len(x), epochs=2, shuffle=False, verbose=0)
    assert m.train_function is fn
    s = rec.series("grads", "hidden/kernel")
    assert s.steps.tolist() == [0, 1] and s.epochs.tolist() == [0, 1]
    np.testing.assert_array_equal(s.counts[0], _hist(expect[0].numpy(), s, 0))
    sa = rec.series("activations", "hidden")
    np.testing.assert_array_equal(sa.counts[0], _hist(hidden_out, sa, 0))
    sw = rec.series("weights", "out/kernel")
    assert sw.steps.tolist() == [0, 1, 2]
    np.testing.assert_array_equal(sw.counts[-1], _hist(m.get_layer("out").kernel.numpy(), sw, -1))


def test_custom_loop_legacy_optimizer_and_train_on_batch(data):
    x, y = data
    m = _model(1)
    opt = tf_keras.optimizers.legacy.Adam(1e-3)

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean((m(x, training=True) - y) ** 2)
        g = tape.gradient(loss, m.trainable_variables)
        opt.apply_gradients(zip(g, m.trainable_variables))
        return g

    with tfhist_magic.watch(every=2) as rec:
        got = [step() for _ in range(3)]
        m.train_on_batch(x, y)
    s = rec.series("grads", "hidden/kernel")
    assert s.steps.tolist()[:2] == [0, 2]
    np.testing.assert_array_equal(s.counts[1], _hist(got[2][0].numpy(), s, 1))


def test_magic_targets_a_tf_keras_model(ip, data):
    ip.user_ns.update(tfk_model=_model(2), x=data[0], y=data[1])
    res = ip.run_cell("%%tfhist_watch tfk_model --every 1\ntfk_model.fit(x, y, epochs=1, verbose=0)")
    assert res.success
    assert "hidden/kernel" in ip.user_ns["_tfhist"].names("grads")


LEGACY_SCRIPT = textwrap.dedent(
    """
    import numpy as np, tensorflow as tf
    import tfhist_magic
    assert tf.keras.__name__.startswith("tf_keras"), tf.keras.__name__
    x = np.random.default_rng(0).normal(size=(32, 8)).astype("float32")
    m = tf.keras.Sequential([tf.keras.layers.Dense(4, activation="tanh", input_shape=(8,)), tf.keras.layers.Dense(1)])
    m.compile("sgd", "mse")
    with tfhist_magic.watch(every=1) as rec:
        m.fit(x, x[:, :1], batch_size=32, epochs=2, verbose=0)
    assert rec.series("grads", "dense/kernel").steps.tolist() == [0, 1], rec.summary()
    # tf.compat.v1.layers.dense graphs (the seed article's code) in a Session:
    g = tf.Graph()
    with g.as_default():
        inp = tf.compat.v1.placeholder(tf.float32, [None, 8])
        hid = tf.compat.v1.layers.dense(inp, units=16, activation=tf.nn.relu)
        init = tf.compat.v1.global_variables_initializer()
    with tfhist_magic.watch(every=1) as rec2:
        with tf.compat.v1.Session(graph=g) as sess:
            sess.run(init)
            h = sess.run(hid, {inp: x})
    s = rec2.series("activations", hid.op.name)
    assert (s.counts[0] == np.histogram(h.ravel(), bins=s.edges[0])[0]).all()
    assert "dense/kernel" in rec2.names("weights")
    print("OK")
    """
)


def test_tf_use_legacy_keras_world():
    env = dict(os.environ, TF_USE_LEGACY_KERAS="1", TF_CPP_MIN_LOG_LEVEL="3")
    out = subprocess.run([sys.executable, "-c", LEGACY_SCRIPT], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0 and out.stdout.strip().endswith("OK"), out.stderr[-3000:]
