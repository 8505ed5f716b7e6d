"""tf.distribute: what is recorded exactly, and what is refused (never silently wrong).

Logical CPU devices must be set before TensorFlow starts, so each case runs in its own
Python process."""

import subprocess
import sys
import textwrap

SETUP = """
import os
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import numpy as np, tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import keras, tfhist_magic
from tfhist_magic import histogram as H
keras.utils.set_random_seed(0)
x = np.random.rand(64, 8).astype("float32"); y = np.random.rand(64, 1).astype("float32")
def model():
    m = keras.Sequential([keras.Input((8,)), keras.layers.Dense(4, activation="relu"), keras.layers.Dense(1)])
    m.compile(keras.optimizers.SGD(0.1), "mse")
    return m
"""


def _run(body: str) -> str:
    code = textwrap.dedent(SETUP) + textwrap.dedent(body)
    got = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert got.returncode == 0, got.stderr[-3000:]
    return got.stdout


def test_mirrored_strategy_is_refused_with_its_name_and_leaves_nothing_patched():
    out = _run(
        """
        strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
        with strategy.scope():
            m = model()
        try:
            with tfhist_magic.watch() as rec:
                m.fit(x, y, batch_size=16, epochs=1, verbose=0)
        except ValueError as e:
            print("REFUSED:", e)
        h = m.fit(x, y, batch_size=16, epochs=1, verbose=0)  # unwatched training still works
        print("PLAIN", np.isfinite(h.history["loss"][0]))
        # a custom loop with strategy.run is refused the same way
        with strategy.scope():
            m2 = model()
            opt = keras.optimizers.SGD(0.1)
        @tf.function
        def step(xb, yb):
            def one(xb, yb):
                with tf.GradientTape() as tape:
                    loss = tf.reduce_mean((m2(xb) - yb) ** 2)
                g = tape.gradient(loss, m2.trainable_variables)
                opt.apply_gradients(zip(g, m2.trainable_variables))
            strategy.run(one, (xb, yb))
        try:
            with tfhist_magic.watch():
                step(tf.constant(x[:16]), tf.constant(y[:16]))
        except ValueError as e:
            print("LOOP REFUSED:", type(e).__name__)
        import tf_keras
        with strategy.scope():
            m3 = tf_keras.Sequential([tf_keras.Input((8,)), tf_keras.layers.Dense(4), tf_keras.layers.Dense(1)])
            m3.compile("sgd", "mse")
        try:
            with tfhist_magic.watch():
                m3.fit(x, y, batch_size=16, epochs=1, verbose=0)
        except ValueError as e:
            print("TF_KERAS REFUSED:", "MirroredStrategy" in str(e))
        """
    )
    refused = [l for l in out.splitlines() if l.startswith("REFUSED:")]
    assert len(refused) == 1 and "MirroredStrategy (2 replicas)" in refused[0], out
    assert "PLAIN True" in out and "LOOP REFUSED: ValueError" in out and "TF_KERAS REFUSED: True" in out, out


def test_one_device_strategy_records_exactly():
    out = _run(
        """
        strategy = tf.distribute.OneDeviceStrategy("/cpu:1")
        with strategy.scope():
            m = model()
        before = [v.numpy().copy() for v in m.trainable_variables]
        with tfhist_magic.watch(every=1) as rec:
            m.fit(x, y, batch_size=64, epochs=1, verbose=0, shuffle=False)
        s = rec.series("weights", rec.names("weights")[0])
        print("STEPS", s.steps.tolist())
        after = m.trainable_variables[0].numpy()
        print("FINAL", bool(np.array_equal(s.counts[-1], np.histogram(after.ravel().astype(np.float64), bins=s.edges[-1])[0])))
        want = np.histogram(before[0].ravel().astype(np.float64), bins=H.bin_edges(before[0].min(), before[0].max(), rec.bins))[0]
        print("EXACT", bool(np.array_equal(s.counts[0], want)))
        print("KINDS", rec.kinds)
        """
    )
    assert "STEPS [0, 1]" in out and "EXACT True" in out and "FINAL True" in out and "KINDS ('activations', 'weights', 'grads')" in out, out
