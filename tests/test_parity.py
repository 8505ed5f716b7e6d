"""One model, five ways to train it: Keras ``fit``, a custom ``tf.function`` loop, an eager
loop, a ``tf.compat.v1`` Session and ``fit`` under MirroredStrategy. Every path must
record the same kinds, the same scalar metrics and the same step axes (and ``fit`` the
same epoch axis), because every path hands its rows to the one sink (``block.deliver``).

MirroredStrategy needs two logical devices set before TensorFlow starts, so the paths
run in one child process that prints what each recorded as JSON."""

import json
import os
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import os, json
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    import numpy as np, tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras, tfhist_magic
    v1 = tf.compat.v1
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 8)).astype("float32"); y = rng.normal(size=(64, 1)).astype("float32")
    EVERY, BATCH, EPOCHS = 2, 16, 2  # 4 steps an epoch, 8 in all

    def model():
        keras.utils.set_random_seed(0)
        m = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(8, activation="tanh"), keras.layers.Dense(1)])
        m.compile(keras.optimizers.Adam(0.01), "mse")
        return m

    def batches():
        for _ in range(EPOCHS):
            for i in range(0, len(x), BATCH):
                yield x[i : i + BATCH], y[i : i + BATCH]

    def fit():
        m = model()
        with tfhist_magic.watch(every=EVERY) as rec:
            m.fit(x, y, batch_size=BATCH, epochs=EPOCHS, shuffle=False, verbose=0)
        return rec

    def loop(jit):
        m = model()
        opt = keras.optimizers.Adam(0.01)

        def step(xb, yb):
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(tf.square(m(xb, training=True) - yb))
            opt.apply_gradients(zip(tape.gradient(loss, m.trainable_variables), m.trainable_variables))

        step = tf.function(step) if jit else step
        with tfhist_magic.watch(every=EVERY) as rec:
            for xb, yb in batches():
                step(tf.constant(xb), tf.constant(yb))
        return rec

    def session():
        g = tf.Graph()
        with g.as_default():
            v1.set_random_seed(0)
            xp, yp = v1.placeholder(tf.float32, [None, 8]), v1.placeholder(tf.float32, [None, 1])
            h = xp
            for i, (n, act) in enumerate(((16, tf.nn.relu), (8, tf.tanh), (1, None))):
                w = v1.get_variable(f"d{i}/kernel", [h.shape[-1], n], initializer=v1.glorot_uniform_initializer())
                b = v1.get_variable(f"d{i}/bias", [n], initializer=v1.zeros_initializer())
                h = tf.nn.bias_add(tf.matmul(h, w), b)
                h = act(h) if act else h
            train = v1.train.AdamOptimizer(0.01).minimize(tf.reduce_mean(tf.square(h - yp)))
            init = v1.global_variables_initializer()
        with v1.Session(graph=g) as sess:
            sess.run(init)
            with tfhist_magic.watch(every=EVERY) as rec:
                for xb, yb in batches():
                    sess.run(train, {xp: xb, yp: yb})
        return rec

    def mirrored():
        with tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]).scope():
            m = model()
        with tfhist_magic.watch(every=EVERY) as rec:
            m.fit(x, y, batch_size=BATCH, epochs=EPOCHS, shuffle=False, verbose=0)
        return rec

    def axes(rec):
        first = {k: rec.names(k)[0] for k in rec.kinds}
        out = {"kinds": list(rec.kinds), "notes": list(rec.notes), "findings": [str(f) for f in rec.findings()]}
        out["metrics"] = sorted(m for m in ("update_ratio", "update_norm", "init_distance", "dead_units", "saturation", "grad_norm") if rec.scalar_names(m))
        out["steps"] = {k: rec.series(k, n).steps.tolist() for k, n in first.items()}
        out["epochs"] = {k: rec.series(k, n).epochs.tolist() for k, n in first.items()}
        out["scalar_steps"] = {m: rec.scalar(m, rec.scalar_names(m)[0])[0].tolist() for m in out["metrics"]}
        out["weights"] = len(rec.names("weights"))
        out["models"] = len(rec.models)
        out["first_weights"] = rec.series("weights", first["weights"]).rows[0].tolist()  # step 0, as read before any update
        return out

    paths = {"fit": fit, "function": lambda: loop(True), "eager": lambda: loop(False), "session": session, "mirrored": mirrored}
    print("PARITY " + json.dumps({k: axes(f()) for k, f in paths.items()}))
    """
)


def test_every_path_records_the_same_kinds_metrics_and_axes():
    env = dict(os.environ, KERAS_BACKEND="tensorflow")
    proc = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=600)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("PARITY ")]
    assert proc.returncode == 0 and lines, proc.stderr[-4000:]
    got = json.loads(lines[0][len("PARITY ") :])
    kinds = ["activations", "weights", "grads"]
    metrics = sorted(["update_ratio", "update_norm", "init_distance", "dead_units", "saturation", "grad_norm"])
    sampled, with_final = [0, 2, 4, 6], [0, 2, 4, 6, 8]
    for path, r in got.items():
        assert r["kinds"] == kinds, (path, r)
        assert r["metrics"] == metrics, (path, r["metrics"], r["notes"])
        assert r["steps"] == {"activations": sampled, "weights": with_final, "grads": sampled}, (path, r["steps"])
        assert r["scalar_steps"] == {m: sampled for m in metrics}, (path, r["scalar_steps"])
        assert r["weights"] == 6 and r["models"] == 1, (path, r)
        assert r["findings"] == [], (path, r["findings"])
    for path in ("fit", "mirrored"):  # Keras' epochs: 4 steps each; the final weights at step 8 are after epoch 1
        assert got[path]["epochs"]["grads"] == [0, 0, 1, 1], (path, got[path]["epochs"])
        assert got[path]["epochs"]["weights"] == [0, 0, 1, 1, 1], (path, got[path]["epochs"])
    # the Keras paths start from the same seeded weights: step 0's row of the first kernel is the same, bit for bit
    assert got["fit"]["first_weights"] == got["function"]["first_weights"] == got["eager"]["first_weights"] == got["mirrored"]["first_weights"]
    for path in ("function", "eager", "session"):  # no epochs in a loop of the user's: unknown (-1)
        assert set(got[path]["epochs"]["grads"]) == {-1}, (path, got[path]["epochs"])
