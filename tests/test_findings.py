"""Findings on real training: each rule on a small model made to show the problem, and a
healthy model that must produce none. Update ratios against the weights themselves."""

import numpy as np
import pytest
import keras
import tensorflow as tf

import tfhist_magic
from tfhist_magic import health

L = keras.layers


@pytest.fixture(scope="module")
def xy():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(256, 8)).astype("float32")
    y = (x[:, :2].sum(1, keepdims=True) + 0.1 * rng.normal(size=(256, 1))).astype("float32")
    return x, y


def _mlp(layers, opt, seed=0):
    keras.utils.set_random_seed(seed)
    m = keras.Sequential([keras.Input((8,)), *layers])
    m.compile(optimizer=opt, loss="mse")
    return m


def _watch(m, x, y, every=1, epochs=3, batch=32, **kw):
    with tfhist_magic.watch(every=every, **kw) as rec:
        m.fit(x, y, batch_size=batch, epochs=epochs, verbose=0, shuffle=False)
    return rec


def _rules(rec):
    return sorted({(f.rule, f.tensor) for f in rec.findings()}, key=str)


def test_healthy_model_has_no_findings(xy):
    x, y = xy
    m = _mlp([L.Dense(32, activation="relu"), L.Dense(32, activation="tanh"), L.Dense(16, activation="relu"), L.Dense(1)], keras.optimizers.Adam(1e-3))
    rec = _watch(m, x, y, epochs=4)
    assert rec.findings() == [], [f.message for f in rec.findings()]
    # the measurements the rules read were taken (not silently missing)
    kernels = [v.path for v in m.trainable_variables if len(v.shape) == 2]
    assert rec.scalar_names("update_ratio") == kernels
    assert len(rec.scalar_names("dead_units")) == 4 and rec.scalar_names("saturation") == [m.layers[1].path]


def test_update_ratios_equal_the_weights_before_and_after_each_step(xy):
    x, y = xy
    m = _mlp([L.Dense(16, activation="relu"), L.Dense(1)], keras.optimizers.Adam(1e-2))
    kernels = [v for v in m.trainable_variables if len(v.shape) == 2]
    want = {v.path: [] for v in kernels}
    with tfhist_magic.watch(every=1) as rec:
        for i in range(5):
            before = [v.numpy().astype(np.float64) for v in kernels]
            m.train_on_batch(x[i * 32 : (i + 1) * 32], y[i * 32 : (i + 1) * 32])
            for v, b in zip(kernels, before):
                want[v.path].append(np.std(v.numpy().astype(np.float64) - b) / np.std(b))
    for v in kernels:
        steps, got = rec.scalar("update_ratio", v.path)
        np.testing.assert_array_equal(steps, np.arange(5))
        np.testing.assert_allclose(got, want[v.path], rtol=1e-5)  # float32 reductions


@pytest.mark.parametrize("how", ["eager", "xla", "every3"])
def test_update_ratios_on_every_path(xy, how):
    x, y = xy
    keras.utils.set_random_seed(0)
    m = keras.Sequential([keras.Input((8,)), L.Dense(16, activation="relu"), L.Dense(1)])
    m.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse", run_eagerly=how == "eager", jit_compile=how == "xla")
    k = m.trainable_variables[0]
    snaps = []

    class Keep(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            snaps.append(k.numpy().astype(np.float64))

    every = 3 if how == "every3" else 1
    with tfhist_magic.watch(every=every) as rec:
        m.fit(x, y, batch_size=32, epochs=1, verbose=0, shuffle=False, callbacks=[Keep()])
    snaps.append(k.numpy().astype(np.float64))
    steps, got = rec.scalar("update_ratio", k.path)
    np.testing.assert_array_equal(steps, np.arange(0, 8, every))
    want = [np.std(snaps[s + 1] - snaps[s]) / np.std(snaps[s]) for s in steps]
    np.testing.assert_allclose(got, want, rtol=1e-5)


def _median_windows(values):
    """The medians the update-ratio rule judges: of the last RATIO_WINDOW values, from two on."""
    return [float(np.median(values[max(0, i + 1 - health.RATIO_WINDOW) : i + 1])) for i in range(1, len(values))]


def test_learning_rate_too_high_and_too_low(xy):
    x, y = xy
    m = _mlp([L.Dense(16, activation="relu"), L.Dense(1)], keras.optimizers.SGD(0.5))
    kernels = [v.path for v in m.trainable_variables if len(v.shape) == 2]
    hi = _watch(m, x, y, epochs=1)
    (f,) = [f for f in hi.findings() if f.rule == "update-ratio"]  # both kernels: one finding
    assert f.tensors == kernels and f.tensor == kernels[0] and f.threshold == health.UPDATE_RATIO_HIGH, hi.findings()
    assert f.message.startswith("weights, 2 weight matrices: update/weight ratio above 0.1") and "too high" in f.message
    assert f"first: {kernels[0]} at step {f.first_step}" in f.message and f.first_step == 1
    # the value is the highest of the kernels' latest judged medians, recomputed from the series
    latest = [_median_windows(hi.scalar("update_ratio", k)[1])[-1] for k in kernels]
    assert f.value == pytest.approx(max(latest)) and f.value > health.UPDATE_RATIO_HIGH
    m = _mlp([L.Dense(16, activation="relu"), L.Dense(1)], keras.optimizers.SGD(1e-6))
    kernels = [v.path for v in m.trainable_variables if len(v.shape) == 2]
    lo = _watch(m, x, y, epochs=1)
    (f,) = [f for f in lo.findings() if f.rule == "update-ratio"]
    assert f.tensors == kernels and f.value < health.UPDATE_RATIO_LOW and "too low" in f.message, lo.findings()
    assert f.first_step == 1 and f.last_step == 7  # judged on the median of the first two sampled steps, on
    assert max(max(_median_windows(lo.scalar("update_ratio", k)[1])) for k in kernels) < health.UPDATE_RATIO_LOW
    assert not [g for g in lo.findings() if g.rule != "update-ratio"]


def test_update_ratio_falling_as_a_run_converges_is_not_too_low(xy):
    """Healthy ratios at first, then far below UPDATE_RATIO_LOW (a decayed learning rate):
    the weights moved at a healthy rate once, so the learning rate is not too low."""
    x, y = xy
    sched = keras.optimizers.schedules.PiecewiseConstantDecay([3], [0.05, 1e-9])
    m = _mlp([L.Dense(16, activation="relu"), L.Dense(1)], keras.optimizers.SGD(sched))
    rec = _watch(m, x, y, epochs=1)
    k = m.trainable_variables[0].path
    med = _median_windows(rec.scalar("update_ratio", k)[1])
    assert max(med) > 10 * health.UPDATE_RATIO_LOW and med[-1] < health.UPDATE_RATIO_LOW / 10, med
    assert not [f for f in rec.findings() if f.rule == "update-ratio"], rec.findings()


def test_biases_and_normalization_are_not_judged_by_the_weight_rules():
    """A MultiHeadAttention's biases are rank 2 (heads, head_dim) and get an update ratio;
    with Adam they start at zero and move by ~lr, a ratio far above the threshold: not judged.
    Nor are LayerNormalization's gamma/beta."""
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4, 8)).astype("float32")
    y = rng.normal(size=(64, 1)).astype("float32")
    inp = keras.Input((4, 8))
    h = L.LayerNormalization()(inp + L.MultiHeadAttention(num_heads=2, key_dim=4, name="mha")(inp, inp))
    m = keras.Model(inp, L.Dense(1)(L.GlobalAveragePooling1D()(h)))
    m.compile(keras.optimizers.Adam(1e-3), "mse")
    rec = _watch(m, x, y, epochs=1, batch=8)
    biases = [v.path for v in m.trainable_variables if v.path.endswith("/bias") and len(v.shape) == 2]
    assert len(biases) == 3  # query, key, value
    for b in biases:
        assert not health.is_weight_matrix(b)
        if b in rec.scalar_names("update_ratio"):  # measured (rank 2): zero at init, then moved by ~lr
            assert max(_median_windows(rec.scalar("update_ratio", b)[1])) > health.UPDATE_RATIO_HIGH
    assert [health.is_weight_matrix(n) for n in ("mha/query/kernel", "embedding/embeddings", "ln/gamma", "ln/beta", "bn/moving_mean", "dense/bias")] == [True, True, False, False, False, False]
    assert not [f for f in rec.findings() if f.rule in ("update-ratio", "vanishing-gradients")], rec.findings()


def test_saturated_sigmoid(xy):
    x, y = xy
    big = keras.initializers.RandomNormal(stddev=8.0)
    m = _mlp([L.Dense(32, activation="sigmoid", kernel_initializer=big, name="sat"), L.Dense(1)], keras.optimizers.Adam(1e-3))
    rec = _watch(m, x, y, epochs=1)
    (f,) = [f for f in rec.findings() if f.rule == "saturation"]
    assert f.tensor == m.get_layer("sat").path and f.first_step == 0 and f.last_step == 7
    # the probe against NumPy on the layer's output for step 0's batch (weights of step 0 are the initial ones)
    steps, share = rec.scalar("saturation", f.tensor)
    assert f.value == share[-1] and f.value >= health.SATURATION_SHARE


def test_a_saturated_output_layer_is_not_a_finding(xy):
    """A binary classifier's sigmoid output is meant to saturate: measured, not flagged."""
    x, y = xy
    big = keras.initializers.RandomNormal(stddev=8.0)
    keras.utils.set_random_seed(0)
    m = keras.Sequential([keras.Input((8,)), L.Dense(16, activation="relu"), L.Dense(1, activation="sigmoid", kernel_initializer=big, name="p")])
    m.compile(keras.optimizers.Adam(1e-3), "binary_crossentropy")
    rec = _watch(m, x, (y > 0).astype("float32"), epochs=1)
    out = m.get_layer("p").path
    assert rec.outputs == {out}
    assert min(rec.scalar("saturation", out)[1]) >= health.SATURATION_SHARE  # saturated indeed
    assert not [f for f in rec.findings() if f.rule in ("saturation", "dead-units")], rec.findings()


def test_saturation_probe_is_exact(xy):
    x, y = xy
    m = _mlp([L.Dense(32, activation="tanh", kernel_initializer=keras.initializers.RandomNormal(stddev=2.0), name="t"), L.Dense(1)], keras.optimizers.SGD(0.0))
    out = m.get_layer("t")(x[:32]).numpy()
    rec = _watch(m, x[:32], y[:32], epochs=1)
    _, share = rec.scalar("saturation", m.get_layer("t").path)
    assert share[0] == np.mean(np.abs(out) > 0.97)
    _, dead = rec.scalar("dead_units", m.get_layer("t").path)
    assert dead[0] == np.mean(np.all(out == 0, axis=0))


def test_layer_initialised_dead(xy):
    x, y = xy
    m = _mlp(
        [L.Dense(16, activation="relu"), L.Dense(16, activation="relu", bias_initializer=keras.initializers.Constant(-50.0), name="dead"), L.Dense(1)],
        keras.optimizers.SGD(0.01),
    )
    rec = _watch(m, x, y, epochs=1)
    (f,) = [f for f in rec.findings() if f.rule == "dead-units"]
    assert f.tensors == [m.get_layer("dead").path] and f.value == 1.0 and f.first_step == 0 and f.last_step == 7
    assert "100% of units output zero for every example" in f.message
    # at step 0 the output layer (Dense(1) fed only zeros, zero bias) outputs 0 for every
    # example too: measured, but it is the model's output, not a hidden layer
    out = m.layers[-1].path
    assert out in rec.outputs and rec.scalar("dead_units", out)[1][0] == 1.0


def test_sparse_but_alive_is_not_dead(xy):
    """Most outputs zero, every unit alive on some example: sparse, not dead."""
    x, y = xy
    m = _mlp([L.Dense(16, activation="relu", bias_initializer=keras.initializers.Constant(-1.0), name="sparse"), L.Dense(1)], keras.optimizers.SGD(0.0))
    out = m.get_layer("sparse")(x).numpy()
    assert np.mean(out == 0) > 0.8 and np.all(out.max(0) > 0)
    rec = _watch(m, x, y, epochs=1, batch=256)
    assert not [f for f in rec.findings() if f.rule == "dead-units"]
    assert rec.scalar("dead_units", m.get_layer("sparse").path)[1][0] == 0.0


class _Poison(L.Layer):
    """Multiplies by NaN on one optimizer step."""

    def __init__(self, opt, at, **kw):
        super().__init__(**kw)
        self.opt, self.at = opt, at

    def call(self, x):
        bad = tf.equal(self.opt.iterations, self.at)
        return x + tf.where(bad, tf.constant(np.nan, x.dtype), tf.zeros([], x.dtype))


def _poisoned_at_step_5():
    """first (relu) -> poison (NaN at step 5) -> after (linear: the NaN reaches the loss) -> out."""
    opt = keras.optimizers.SGD(0.01)
    return _mlp([L.Dense(16, activation="relu", name="first"), _Poison(opt, 5, name="poison"), L.Dense(8, name="after"), L.Dense(1)], opt)


def test_nan_injected_at_a_known_step_in_a_known_layer(xy):
    x, y = xy
    m = _poisoned_at_step_5()
    rec = _watch(m, x, y, every=1, epochs=1)
    f = rec.findings()[0]
    # later layers' outputs and every gradient went bad at step 5 too: the poisoned layer is named
    assert (f.rule, f.severity, f.kind, f.tensor) == ("non-finite", "error", "activations", m.get_layer("poison").path), f
    assert f.first_step == 5 and rec.first_nonfinite == 5 and "more followed" in f.message
    assert rec.series("activations", m.get_layer("after").path).nan[5] > 0
    assert 5 in rec.pins


def test_nan_at_an_unsampled_step_is_named_by_step_and_first_bad_tensor(xy):
    x, y = xy
    m = _poisoned_at_step_5()
    rec = _watch(m, x, y, every=2, epochs=1)
    f = rec.findings()[0]
    assert f.rule == "non-finite" and f.first_step == 5 and rec.first_nonfinite == 5 and 5 in rec.pins
    poison = m.get_layer("poison").path
    if 5 in rec.kept_steps("activations", poison):
        # the capture keeps the first non-finite step in full whatever the sampling: the
        # finding names the layer that went bad first, at that step (a click opens it)
        assert (f.kind, f.tensor) == ("activations", poison), f
        assert rec.series("activations", poison).nan[rec.kept_steps("activations", poison).tolist().index(5)] > 0
        assert "from step 5" in f.message and "at step 6" not in f.message
    else:
        # no snapshot of step 5: its NaN gradients reached every weight, so at step 6 the
        # first tensor the forward pass touched that is bad is the first layer's kernel
        assert (f.kind, f.tensor) == ("weights", m.get_layer("first").kernel.path), f
        assert "from step 5" in f.message and "at step 6" in f.message and 6 in rec.pins


def test_thinning_keeps_the_step_a_finding_starts():
    from tfhist_magic.histogram import reference_row
    from tfhist_magic.recording import Recording

    rec = Recording(bins=8, max_snapshots=8)
    for step in range(200):
        v = np.ones(4, np.float32)
        if step >= 37:
            v[0] = np.nan
        rec.add("grads", "g", step, reference_row(v, 8))
    s = rec.series("grads", "g")
    assert 37 in s.steps.tolist() and s.nan[s.steps.tolist().index(37)] == 1
    assert len(s) <= 9 and s.steps[0] == 0 and s.steps[-1] == 199
    (f,) = rec.findings()
    assert f.first_step == 37 and f.last_step == 199


def test_exploding_gradients(xy):
    x, y = xy
    m = _mlp([L.Dense(8), L.Dense(8), L.Dense(1)], keras.optimizers.SGD(0.3))
    rec = _watch(m, x, y, epochs=1)
    f = [f for f in rec.findings() if f.rule == "exploding-gradients"]
    assert f, [g.message for g in rec.findings()]
    assert f[0].value > health.EXPLODING_GROWTH * 0 and f[0].value > f[0].threshold


def test_vanishing_gradients_across_depth(xy):
    x, y = xy
    init = keras.initializers.RandomNormal(stddev=0.5)
    layers = [L.Dense(16, activation="sigmoid", kernel_initializer=init) for _ in range(8)] + [L.Dense(1)]
    m = _mlp(layers, keras.optimizers.SGD(0.01))
    rec = _watch(m, x, y, epochs=1)
    f = [f for f in rec.findings() if f.rule == "vanishing-gradients"]
    assert f and f[0].tensor == m.trainable_variables[0].path and f[0].value < health.VANISHING_DEPTH_RATIO, [g.message for g in rec.findings()]
    assert "across depth" in f[0].message


def test_activation_scale_shrinks_across_depth(xy):
    x, y = xy
    tiny = keras.initializers.RandomNormal(stddev=0.05)
    m = _mlp([L.Dense(32, activation="tanh", kernel_initializer=tiny) for _ in range(5)] + [L.Dense(1)], keras.optimizers.SGD(0.01))
    rec = _watch(m, x, y, epochs=1)
    (f,) = [f for f in rec.findings() if f.rule == "scale-drift"]
    assert f.tensor == m.layers[0].path and f.value <= 1 / health.DRIFT_FACTOR and "shrinks" in f.message


def test_findings_do_not_copy_series_and_show_in_views(xy, monkeypatch):
    from tfhist_magic.recording import Recording
    from tfhist_magic.view.widget import Dashboard, decode

    x, y = xy
    m = _mlp([L.Dense(16, activation="relu", bias_initializer=keras.initializers.Constant(-50.0), name="dead"), L.Dense(1)], keras.optimizers.SGD(0.01))
    rec = _watch(m, x, y, epochs=1)

    def no_series(*a, **k):
        raise AssertionError("findings copied a Series")

    monkeypatch.setattr(Recording, "series", no_series)
    found = rec.findings()
    monkeypatch.undo()
    dead = m.get_layer("dead").path
    assert ("dead-units", dead) in [(f.rule, f.tensor) for f in found]
    h = decode(Dashboard(rec).get_state()["_data"])
    d = next(d for d in h["findings"] if d["rule"] == "dead-units" and d["name"] == dead)
    assert d["severity"] == "warning" and d["step"] == 0 and d["value"] == 1.0 and d["threshold"] == health.DEAD_UNITS_SHARE
    assert d["tensors"] == [dead]
    assert all("finding: " + f.message in rec.summary() for f in found)


def test_tf_keras_update_ratios_and_probes(xy):
    tf_keras = pytest.importorskip("tf_keras")
    x, y = xy
    tf_keras.utils.set_random_seed(0)
    m = tf_keras.Sequential([tf_keras.Input((8,)), tf_keras.layers.Dense(16, activation="tanh", name="t"), tf_keras.layers.Dense(1, name="o")])
    m.compile(tf_keras.optimizers.SGD(0.05), "mse")
    k = m.get_layer("t").kernel
    before = k.numpy().astype(np.float64)
    out = m.get_layer("t")(x[:32]).numpy()
    with tfhist_magic.watch(every=1) as rec:
        m.train_on_batch(x[:32], y[:32])
    steps, got = rec.scalar("update_ratio", "t/kernel")
    np.testing.assert_allclose(got, [np.std(k.numpy() - before) / np.std(before)], rtol=1e-5)
    assert rec.scalar("saturation", "t")[1][0] == np.mean(np.abs(out) > 0.97)
