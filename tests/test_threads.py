"""Watched steps as some users run them: several optimizers' updates in one step (a GAN),
and a runtime with a single inter-op thread (the usual recipe for reproducible runs).

Both would hang a recording that waits, inside a step, on work the runtime has to schedule
on its inter-op threads (the step's thread already holding one): a design tried once and
not kept for that reason (docs/performance.md). The values are checked too.
"""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _hist(values, series, i):
    v = np.asarray(values, dtype=np.float64).ravel()
    return np.histogram(v[np.isfinite(v)], bins=series.edges[i])[0]


def _near_hist(counts, values, series, i, ulps: int = 4):
    """``counts`` against NumPy's histogram of ``values`` computed by another program (an
    eager tape beside the watched ``tf.function``, whose kernels may round the last bits
    otherwise): a value within ``ulps`` float32 ulps outside the recorded range counts at
    its end, and at most two values move a bin."""
    v = np.asarray(values, dtype=np.float64).ravel()
    lo, hi = series.edges[i][0], series.edges[i][-1]
    v = np.where((v < lo) & (v >= lo - ulps * np.spacing(np.float32(abs(lo)))), lo, v)
    v = np.where((v > hi) & (v <= hi + ulps * np.spacing(np.float32(abs(hi)))), hi, v)
    ref = np.histogram(v[np.isfinite(v)], bins=series.edges[i])[0]
    assert counts.sum() == ref.sum() and np.abs(counts - ref).sum() <= 2, (counts, ref)


def _gan():
    import keras

    keras.utils.set_random_seed(3)
    g = keras.Sequential([keras.Input((4,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(6)], name="gen")
    d = keras.Sequential([keras.Input((6,)), keras.layers.Dense(16, activation="tanh"), keras.layers.Dense(1)], name="disc")
    return g, d


def _losses(g, d, z, real):
    import tensorflow as tf

    fake = g(z, training=True)
    lf, lr = d(fake, training=True), d(real, training=True)
    d_loss = tf.reduce_mean(tf.nn.softplus(lf)) + tf.reduce_mean(tf.nn.softplus(-lr))
    g_loss = tf.reduce_mean(tf.nn.softplus(-lf))
    return d_loss, g_loss


def check_two_optimizers():
    """The GAN's step, watched: run in a child process (a hang fails the test, not the suite)."""
    import keras
    import tensorflow as tf

    import tfhist_magic

    g, d = _gan()
    rng = np.random.default_rng(1)
    z = tf.constant(rng.normal(size=(32, 4)).astype("float32"))
    real = tf.constant(rng.normal(size=(32, 6)).astype("float32"))
    with tf.GradientTape(persistent=True) as tape:
        d_loss, g_loss = _losses(g, d, z, real)
    expect = {v.path: t.numpy() for v, t in zip(d.trainable_variables, tape.gradient(d_loss, d.trainable_variables))}
    expect.update({v.path: t.numpy() for v, t in zip(g.trainable_variables, tape.gradient(g_loss, g.trainable_variables))})
    w0 = {v.path: v.numpy().copy() for v in g.trainable_variables + d.trainable_variables}
    opt_g, opt_d = keras.optimizers.SGD(0.05), keras.optimizers.SGD(0.05)

    @tf.function
    def step(z, real):
        with tf.GradientTape() as tg, tf.GradientTape() as td:
            d_loss, g_loss = _losses(g, d, z, real)
        opt_d.apply_gradients(zip(td.gradient(d_loss, d.trainable_variables), d.trainable_variables))
        opt_g.apply_gradients(zip(tg.gradient(g_loss, g.trainable_variables), g.trainable_variables))

    with tfhist_magic.watch(g, d, every=1) as rec:
        for _ in range(3):
            step(z, real)
    assert len(expect) == 8
    for path, grad in expect.items():
        s = rec.series("grads", path)
        np.testing.assert_array_equal(s.steps, [0, 1, 2])
        np.testing.assert_allclose([s.min[0], s.max[0]], [grad.min(), grad.max()], rtol=1e-5, atol=1e-7)
        _near_hist(s.counts[0], grad, s, 0)  # the tape's gradients: another program's rounding
        sw = rec.series("weights", path)
        np.testing.assert_array_equal(sw.counts[0], _hist(w0[path], sw, 0))  # step 0 read before either update


def _child(code: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT, os.path.join(ROOT, "tests"), os.environ.get("PYTHONPATH", "")]), TF_CPP_MIN_LOG_LEVEL="3")
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=300, env=env, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    return out


def test_two_optimizers_in_one_step_each_recorded_exactly():
    _child("import test_threads; test_threads.check_two_optimizers()")


_ONE_THREAD = """
import json
import numpy as np
import tensorflow as tf
tf.config.threading.set_inter_op_parallelism_threads(1)
tf.config.threading.set_intra_op_parallelism_threads(1)
import keras
import tfhist_magic

keras.utils.set_random_seed(0)
m = keras.Sequential([keras.Input((8,)), keras.layers.Dense(32, activation="relu"), keras.layers.Dense(1)])
m.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
rng = np.random.default_rng(0)
x = rng.normal(size=(96, 8)).astype("float32")
y = rng.normal(size=(96, 1)).astype("float32")
w0 = m.layers[0].kernel.numpy().copy()
with tfhist_magic.watch(every=1) as rec:
    m.fit(x, y, batch_size=32, epochs=2, verbose=0)
s = rec.series("weights", m.layers[0].kernel.path)
w = m.layers[0].kernel.numpy()
print(json.dumps({
    "steps": [int(t) for t in s.steps],
    "first": [int(c) for c in s.counts[0]], "first_expect": [int(c) for c in np.histogram(w0, bins=s.edges[0])[0]],
    "last": [int(c) for c in s.counts[-1]], "last_expect": [int(c) for c in np.histogram(w, bins=s.edges[-1])[0]],
}))
"""


def test_a_watched_fit_runs_with_one_inter_op_thread():
    got = json.loads(_child(_ONE_THREAD).stdout.strip().splitlines()[-1])
    assert got["steps"] == list(range(7))  # six updates sampled, and the final weights at the exit
    assert got["first"] == got["first_expect"] and sum(got["first"]) == 8 * 32
    assert got["last"] == got["last_expect"]
