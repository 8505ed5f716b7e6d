"""The per-step scalars measured in the graph (issue 20.2): the update's norm ||Δw|| and
the distance from the start ||w - w0|| of every weight, and the global gradient norm of
each update, against the weights fetched before and after each step and against
GradientTape gradients on the same batch, on the graph, XLA and eager paths; kept by
save/load and written to TensorBoard."""

import sys

import numpy as np
import pytest
import keras
import tensorflow as tf

import tfhist_magic
from tfhist_magic.recording import Recording

L = keras.layers
LR = 0.1
BATCH = 32


@pytest.fixture(scope="module")
def xy():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(160, 8)).astype("float32")
    y = (x[:, :2].sum(1, keepdims=True) + 0.1 * rng.normal(size=(160, 1))).astype("float32")
    return x, y


def _model(how, lr=LR):
    keras.utils.set_random_seed(0)
    m = keras.Sequential([keras.Input((8,)), L.Dense(16, activation="relu"), L.Dense(1)])
    # plain SGD, no momentum: the update is exactly -lr * g
    m.compile(optimizer=keras.optimizers.SGD(lr), loss="mse", run_eagerly=how == "eager", jit_compile=how == "xla")
    return m


class KeepWeights(keras.callbacks.Callback):
    """The trainable weights before each batch: float64 copies, or with ``dtype=None``
    the weights' own values (exact counts need the values the step binned)."""

    def __init__(self, m, dtype=np.float64):
        super().__init__()
        self.m, self.dtype, self.snaps = m, dtype, []

    def now(self) -> list:
        return [v.numpy() if self.dtype is None else v.numpy().astype(self.dtype) for v in self.m.trainable_variables]

    def on_train_batch_begin(self, batch, logs=None):
        self.snaps.append(self.now())


def _tape_grads(weights, xb, yb):
    """GradientTape gradients of the model's MSE loss at ``weights`` (float32 values, as
    the step read them) on one batch, computed on constants: not through the watched model."""
    w = [tf.constant(a.astype(np.float32)) for a in weights]
    with tf.GradientTape() as tape:
        tape.watch(w)
        h = tf.nn.relu(xb @ w[0] + w[1])
        loss = tf.reduce_mean(tf.square(yb - (h @ w[2] + w[3])))
    return [g.numpy().astype(np.float64) for g in tape.gradient(loss, w)]


def _fit(m, x, y, every=1, epochs=1):
    keep = KeepWeights(m)
    with tfhist_magic.watch(every=every) as rec:
        m.fit(x, y, batch_size=BATCH, epochs=epochs, verbose=0, shuffle=False, callbacks=[keep])
    keep.snaps.append(keep.now())
    return rec, keep.snaps


@pytest.mark.parametrize("how", ["graph", "xla", "eager"])
def test_update_norm_init_distance_and_grad_norm_with_plain_sgd(xy, how):
    x, y = xy
    m = _model(how)
    rec, snaps = _fit(m, x, y)
    n = len(x) // BATCH
    assert len(snaps) == n + 1
    names = [v.path for v in m.trainable_variables]
    # every weight, biases included (the update ratio stays for the weight matrices only)
    assert rec.scalar_names("update_norm") == names and rec.scalar_names("init_distance") == names
    assert rec.scalar_names("update_ratio") == [v.path for v in m.trainable_variables if len(v.shape) == 2]
    grads = [_tape_grads([s.astype(np.float32) for s in snaps[k]], x[k * BATCH : (k + 1) * BATCH], y[k * BATCH : (k + 1) * BATCH]) for k in range(n)]
    for i, name in enumerate(names):
        steps, un = rec.scalar("update_norm", name)
        np.testing.assert_array_equal(steps, np.arange(n))
        # the update that was applied: the weights fetched after the step minus before it
        np.testing.assert_allclose(un, [np.linalg.norm(snaps[k + 1][i] - snaps[k][i]) for k in range(n)], rtol=2e-6)
        # plain SGD: lr * ||g|| with g the GradientTape gradient on the same batch
        # (w - lr*g rounded to float32: ~1e-7 of |w| per element)
        np.testing.assert_allclose(un, [LR * np.linalg.norm(grads[k][i]) for k in range(n)], rtol=2e-4)
        assert (un > 0).all()
        steps, dist = rec.scalar("init_distance", name)
        np.testing.assert_array_equal(steps, np.arange(n))
        assert dist[0] == 0.0  # w0 is step 0's read
        np.testing.assert_allclose(dist[1], un[0], rtol=1e-6)  # step 1 reads w0 + the first update
        np.testing.assert_allclose(dist, [np.linalg.norm(snaps[k][i] - snaps[0][i]) for k in range(n)], rtol=2e-6, atol=1e-12)
    # the global gradient norm: sqrt of the sum of every gradient's squared norm
    (label,) = rec.scalar_names("grad_norm")
    assert label in rec.models and set(names) <= set(rec.models[label])
    steps, gn = rec.scalar("grad_norm", label)
    np.testing.assert_array_equal(steps, np.arange(n))
    np.testing.assert_allclose(gn, [np.sqrt(sum(np.sum(g**2) for g in grads[k])) for k in range(n)], rtol=1e-5)
    # and it is the recorded gradients' norm (their rows), exactly combined
    rec_norms = np.stack([rec.stat("grads", nm, 8)[1] for nm in names])  # H.NORM
    np.testing.assert_allclose(gn, np.sqrt((rec_norms**2).sum(0)), rtol=1e-12)


def test_sampled_steps_only_and_w0_kept_across_a_recompile(xy):
    """every=3: the scalars at the sampled steps only, each the update of that step; a
    recompile (new optimizer, new recording group) mid-watch keeps w0 the watch's first
    read, so the distance goes on growing from it."""
    x, y = xy
    m = _model("graph")
    keep = KeepWeights(m)
    with tfhist_magic.watch(every=3) as rec:
        m.fit(x, y, batch_size=BATCH, epochs=2, verbose=0, shuffle=False, callbacks=[keep])  # steps 0..9
        m.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")
        m.fit(x, y, batch_size=BATCH, epochs=1, verbose=0, shuffle=False, callbacks=[keep])  # steps 10..14
    keep.snaps.append(keep.now())
    snaps = keep.snaps
    assert len(snaps) == 16
    for i, v in enumerate(m.trainable_variables):
        steps, un = rec.scalar("update_norm", v.path)
        np.testing.assert_array_equal(steps, [0, 3, 6, 9, 12])
        np.testing.assert_allclose(un, [np.linalg.norm(snaps[k + 1][i] - snaps[k][i]) for k in steps], rtol=2e-6)
        steps, dist = rec.scalar("init_distance", v.path)
        np.testing.assert_array_equal(steps, [0, 3, 6, 9, 12])
        want = [np.linalg.norm(snaps[k][i] - snaps[0][i]) for k in steps]
        np.testing.assert_allclose(dist, want, rtol=2e-6, atol=1e-12)
        assert dist[-1] > 0 and dist[0] == 0.0
    (label,) = rec.scalar_names("grad_norm")
    np.testing.assert_array_equal(rec.scalar("grad_norm", label)[0], [0, 3, 6, 9, 12])


def test_custom_loop_and_non_finite_gradient_norm_is_left_out():
    """A custom loop (a GradientTape and apply_gradients in a tf.function): the scalars
    equal NumPy on the values the test holds; the step whose gradient is NaN has no
    global gradient norm (a row's norm is of its finite values only)."""
    keras.utils.set_random_seed(1)
    m = keras.Sequential([keras.Input((4,)), L.Dense(3)], name="loop")
    opt = keras.optimizers.SGD(0.5)
    xb = tf.constant(np.random.default_rng(0).normal(size=(8, 4)).astype("float32"))

    @tf.function
    def step(poison):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(m(xb) - 1.0)) * poison
        grads = tape.gradient(loss, m.trainable_variables)
        opt.apply_gradients(zip(grads, m.trainable_variables))
        return grads

    got = []
    with tfhist_magic.watch(every=1) as rec:
        for k in range(3):
            got.append([g.numpy().astype(np.float64) for g in step(tf.constant(np.nan if k == 2 else 1.0))])
    (label,) = rec.scalar_names("grad_norm")
    assert label == "loop"
    steps, gn = rec.scalar("grad_norm", label)
    np.testing.assert_array_equal(steps, [0, 1])
    np.testing.assert_allclose(gn, [np.sqrt(sum(np.sum(g**2) for g in got[k])) for k in range(2)], rtol=1e-5)
    for i, v in enumerate(m.trainable_variables):
        steps, un = rec.scalar("update_norm", v.path)
        np.testing.assert_array_equal(steps, [0, 1])  # step 2's update is NaN: not a value
        np.testing.assert_allclose(un, [0.5 * np.linalg.norm(got[k][i]) for k in range(2)], rtol=1e-4)


def test_saved_loaded_and_tensorboard_keep_the_scalars(xy, tmp_path):
    x, y = xy
    m = _model("graph")
    rec, _ = _fit(m, x, y)
    metrics = ("update_norm", "init_distance", "grad_norm")
    want = {(mt, n): rec.scalar(mt, n) for mt in metrics for n in rec.scalar_names(mt)}
    assert len(want) == 4 + 4 + 1
    rec.save(tmp_path / "run.npz")
    back = Recording.load(tmp_path / "run.npz")
    for (mt, n), (steps, values) in want.items():
        s2, v2 = back.scalar(mt, n)
        np.testing.assert_array_equal(s2, steps)
        np.testing.assert_array_equal(v2, values)
    rec.to_tensorboard(tmp_path / "tb")
    tb = Recording.from_tensorboard(tmp_path / "tb")
    for (mt, n), (steps, values) in want.items():
        s2, v2 = tb.scalar(mt, n)
        np.testing.assert_array_equal(s2, steps)
        np.testing.assert_allclose(v2, values, rtol=1e-7)  # TensorBoard's scalars are float32
    # the raw event file holds them as TensorBoard scalars, under "<metric>/<name>"
    tags = set()
    for f in (tmp_path / "tb").iterdir():
        for raw in tf.data.TFRecordDataset(str(f)):
            ev = tf.compat.v1.Event.FromString(raw.numpy())
            for v in ev.summary.value:
                if v.metadata.plugin_data.plugin_name == "scalars" and v.tag.split("/")[0] in metrics:
                    tags.add(v.tag)
    assert tags == {f"{mt}/{n}" for mt, n in want}


def test_the_dashboard_draws_them_under_the_histogram(xy, tmp_path):
    """The saved dashboard (its page code, in headless Chromium): a weight's update norm and
    distance from init, and a gradient's model's global gradient norm, drawn as recorded."""
    pytest.importorskip("playwright")
    import json

    from browser import browser_page
    from tfhist_magic.view.saved import SavedView

    x, y = xy
    m = _model("graph")
    rec, _ = _fit(m, x, y)
    data, _ = SavedView(rec)._repr_mimebundle_()
    path = tmp_path / "scalars.html"
    path.write_text("<!doctype html><meta charset='utf-8'><body>" + data["text/html"], encoding="utf-8")
    (label,) = rec.scalar_names("grad_norm")
    bias = m.trainable_variables[1].path  # a bias: no update ratio, but both sizes
    with browser_page() as page:
        page.goto(path.as_uri())
        page.wait_for_selector(".tfh[data-saved='1'][data-step]", timeout=30_000)
        for kind, name, want in (
            ("weights", bias, {"update_norm": bias, "init_distance": bias}),
            ("grads", bias, {"grad_norm": label}),
        ):
            page.click(f".tfh-tab[data-kind='{kind}']")
            page.click(f".tfh-item[data-name='{name}']")
            page.wait_for_function(
                "([k, n]) => { const e = document.querySelector('.tfh-norms'); if (!e || !e.dataset.drawn) return false;"
                " const d = JSON.parse(e.dataset.drawn); return d.kind === k && d.name === n; }",
                arg=[kind, name],
                timeout=15_000,
            )
            drawn = json.loads(page.get_attribute(".tfh-norms", "data-drawn"))
            assert sorted(drawn["metrics"]) == sorted(want)
            for metric, of in want.items():
                steps, values = rec.scalar(metric, of)
                got = drawn["metrics"][metric]
                assert got["of"] == of and got["steps"] == steps.tolist() and got["values"] == values.tolist()
        assert page.our_errors() == [], page.errors


MIRRORED = r"""
import os, json, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import numpy as np, tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import keras, tfhist_magic
keras.utils.set_random_seed(0)
rng = np.random.default_rng(0)
x = rng.normal(size=(128, 8)).astype("float32"); y = x[:, :1] * 2.0
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
with strategy.scope():
    m = keras.Sequential([keras.Input((8,)), keras.layers.Dense(4, activation="relu"), keras.layers.Dense(1)])
    m.compile(keras.optimizers.SGD(0.1), "mse")
snaps = []
class Keep(keras.callbacks.Callback):
    def on_train_batch_begin(self, batch, logs=None):
        snaps.append([v.numpy().astype(np.float64) for v in m.trainable_variables])
with tfhist_magic.watch(every=1) as rec:
    m.fit(x, y, batch_size=32, epochs=1, verbose=0, shuffle=False, callbacks=[Keep()])
snaps.append([v.numpy().astype(np.float64) for v in m.trainable_variables])
out = {"notes": list(rec.notes), "names": [v.path for v in m.trainable_variables], "grad_norm": rec.scalar_names("grad_norm")}
for mt in ("update_norm", "init_distance"):
    out[mt] = {n: [rec.scalar(mt, n)[0].tolist(), rec.scalar(mt, n)[1].tolist()] for n in rec.scalar_names(mt)}
out["want_update"] = {v.path: [float(np.linalg.norm(snaps[k + 1][i] - snaps[k][i])) for k in range(4)] for i, v in enumerate(m.trainable_variables)}
out["want_dist"] = {v.path: [float(np.linalg.norm(snaps[k][i] - snaps[0][i])) for k in range(4)] for i, v in enumerate(m.trainable_variables)}
gs, gv = rec.scalar("grad_norm", out["grad_norm"][0])
rows = np.stack([rec.stat("grads", n, 8)[1] for n in out["names"]])
out["gn"] = [gs.tolist(), gv.tolist(), np.sqrt((rows ** 2).sum(0)).tolist()]
# the gradient SGD applied, from the weights: (before - after) / lr, all of them together
out["gn_want"] = [float(np.sqrt(sum(np.sum(((snaps[k][i] - snaps[k + 1][i]) / 0.1) ** 2) for i in range(4)))) for k in range(4)]
print("RESULTS " + json.dumps(out))
"""


def test_mirrored_update_norm_init_distance_and_grad_norm():
    """MirroredStrategy on two logical CPUs (its own process: logical devices are set
    before TensorFlow starts): the scalars come from one copy of the weights around the
    cross-replica update and the reduced gradients, equal to the weights fetched."""
    import json
    import subprocess
    import sys

    got = subprocess.run([sys.executable, "-c", MIRRORED], capture_output=True, text=True, timeout=400)
    assert got.returncode == 0, got.stderr[-4000:]
    r = json.loads(next(ln for ln in got.stdout.splitlines() if ln.startswith("RESULTS "))[len("RESULTS ") :])
    assert r["notes"] == [] and sorted(r["update_norm"]) == sorted(r["names"]) == sorted(r["init_distance"]), r
    for n in r["names"]:
        steps, un = r["update_norm"][n]
        assert steps == [0, 1, 2, 3]
        np.testing.assert_allclose(un, r["want_update"][n], rtol=2e-6)
        steps, dist = r["init_distance"][n]
        assert steps == [0, 1, 2, 3] and dist[0] == 0.0
        np.testing.assert_allclose(dist, r["want_dist"][n], rtol=2e-6)
        np.testing.assert_allclose(dist[1], un[0], rtol=1e-6)
    steps, gn, from_rows = r["gn"]
    assert steps == [0, 1, 2, 3]
    np.testing.assert_allclose(gn, from_rows, rtol=1e-12)
    np.testing.assert_allclose(gn, r["gn_want"], rtol=1e-3)  # from float32 weight differences


def test_weights_of_one_shape_keep_their_own_scalars(xy):
    """Several weights of one shape (stacked together on their way to the fused pass, the
    copies sorted by shape): each weight's update ratio, update norm and distance from the
    start are its own, against the weights fetched before and after each step; with an
    eager first update (w0 made in another order) then a traced fit."""
    x, y = xy
    keras.utils.set_random_seed(0)
    m = keras.Sequential([keras.Input((8,)), L.Dense(16, activation="tanh"), L.Dense(16, activation="tanh"), L.Dense(16, activation="tanh"), L.Dense(1)])
    m.compile(optimizer=keras.optimizers.SGD(LR), loss="mse")
    names = [v.path for v in m.trainable_variables]
    assert len({tuple(v.shape) for v in m.trainable_variables}) < len(names)  # shapes repeat
    keep = KeepWeights(m)
    with tfhist_magic.watch(every=1) as rec:
        keep.snaps.append(keep.now())
        with tf.GradientTape() as tape:  # one eager update first: w0 is this step's read
            loss = tf.reduce_mean(tf.square(m(x[:BATCH]) - y[:BATCH]))
        m.optimizer.apply_gradients(zip(tape.gradient(loss, m.trainable_variables), m.trainable_variables))
        m.fit(x[BATCH:], y[BATCH:], batch_size=BATCH, epochs=1, verbose=0, shuffle=False, callbacks=[keep])
    keep.snaps.append(keep.now())
    snaps = keep.snaps
    n = len(snaps) - 1
    square = [nm for nm, v in zip(names, m.trainable_variables) if tuple(v.shape) == (16, 16)]
    assert len(square) == 2 and set(square) <= set(rec.scalar_names("update_ratio"))
    for i, name in enumerate(names):
        steps, un = rec.scalar("update_norm", name)
        np.testing.assert_array_equal(steps, np.arange(n))
        np.testing.assert_allclose(un, [np.linalg.norm(snaps[k + 1][i] - snaps[k][i]) for k in range(n)], rtol=2e-6)
        steps, dist = rec.scalar("init_distance", name)
        np.testing.assert_allclose(dist, [np.linalg.norm(snaps[k][i] - snaps[0][i]) for k in range(n)], rtol=2e-6, atol=1e-12)
        if name in rec.scalar_names("update_ratio"):
            steps, ratio = rec.scalar("update_ratio", name)
            want = [np.std(snaps[k + 1][i] - snaps[k][i]) / np.std(snaps[k][i]) for k in range(n)]
            np.testing.assert_allclose(ratio, want, rtol=1e-5)


@pytest.mark.parametrize("how", ["graph", "xla", "eager"])
def test_no_init_distance_keeps_no_copy_of_the_weights(xy, how):
    """``init_distance=False`` (``--no-init-distance``): no distance from the start, and no
    w0 buffer on the device; the update's norm and ratio are measured as before."""
    x, y = xy
    m = _model(how)
    keep = KeepWeights(m)
    made = []
    orig = tf.Variable.__init__  # not patched: the w0 buffers are made through _compat
    from tfhist_magic.capture import _compat

    real = _compat.buffer_variable

    def spy(initial_value, name):
        made.append(name)
        return real(initial_value, name)

    _compat.buffer_variable = spy
    try:
        with tfhist_magic.watch(every=1, init_distance=False) as rec:
            m.fit(x, y, batch_size=BATCH, epochs=1, verbose=0, shuffle=False, callbacks=[keep])
    finally:
        _compat.buffer_variable = real
    assert orig is tf.Variable.__init__
    keep.snaps.append(keep.now())
    assert rec.scalar_names("init_distance") == [] and "tfhist_w0" not in made
    names = [v.path for v in m.trainable_variables]
    assert rec.scalar_names("update_norm") == names
    for i, name in enumerate(names):
        steps, un = rec.scalar("update_norm", name)
        want = [np.linalg.norm(keep.snaps[k + 1][i] - keep.snaps[k][i]) for k in steps]
        np.testing.assert_allclose(un, want, rtol=2e-5)


def _one_weight_a_group(monkeypatch) -> list:
    """Groups of one weight each; the groups measured, in the order they were, with the
    function that measured each."""
    from tfhist_magic.capture import _traced, _update

    monkeypatch.setattr(_update, "GROUP_FLOOR", 0)
    monkeypatch.setattr(_update, "GROUP_SHARE", 1e-9)
    measured = []
    orig = _traced.After.finish_group

    def finish_group(self, g):
        # where from: the patched per-weight update (right after it), or finish() after all
        measured.append((g, sys._getframe(1).f_code.co_name))
        return orig(self, g)

    monkeypatch.setattr(_traced.After, "finish_group", finish_group)
    return measured


@pytest.mark.parametrize("how", ["graph", "xla", "mixed"])
def test_weights_measured_in_groups_right_after_their_update(xy, how, monkeypatch):
    """Keras 3: with groups of one weight each, every group's scalars are measured right
    after its weight's update (the optimizer's per-weight update observed), AdamW's weight
    decay deferred to each weight's own update; under mixed precision through a
    LossScaleOptimizer. The scalars equal the weights fetched around each step, and the
    trained weights are bit-identical to an unwatched fit."""
    measured = _one_weight_a_group(monkeypatch)
    x, y = xy

    def model():
        keras.utils.set_random_seed(0)
        m = keras.Sequential([keras.Input((8,)), L.Dense(16, activation="relu"), L.Dense(1)])
        m.compile(optimizer=keras.optimizers.AdamW(0.05, weight_decay=0.1), loss="mse", jit_compile=how == "xla")
        return m

    keras.config.set_dtype_policy("mixed_float16" if how == "mixed" else "float32")
    try:
        plain = model()
        plain.fit(x, y, batch_size=BATCH, epochs=1, verbose=0, shuffle=False)
        m = model()
        rec, snaps = _fit(m, x, y)
    finally:
        keras.config.set_dtype_policy("float32")
    for a, b in zip(plain.trainable_variables, m.trainable_variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    n = len(x) // BATCH
    # four groups, each measured on its own right after its update, none left to the end
    assert sorted({g for g, _ in measured}) == [0, 1, 2, 3] and {w for _, w in measured} == {"update_step"}
    _check_against_snapshots(rec, m, snaps, n)
    opt = m.optimizer.inner_optimizer if how == "mixed" else m.optimizer
    assert "update_step" not in vars(opt) and "_apply_weight_decay" not in vars(opt)


def test_groups_under_gradient_accumulation_train_as_plain(xy, monkeypatch):
    """Keras 3's gradient accumulation updates inside a cond every second step: measured
    in groups there, the trained weights are bit-identical to an unwatched fit and the
    scalars are those of the watch without groups (each group measured again after the
    cond, so the steps that only accumulate are measured too)."""
    x, y = xy

    def model():
        keras.utils.set_random_seed(0)
        m = keras.Sequential([keras.Input((8,)), L.Dense(16, activation="relu"), L.Dense(1)])
        m.compile(optimizer=keras.optimizers.AdamW(0.05, weight_decay=0.1, gradient_accumulation_steps=2), loss="mse")
        return m

    plain = model()
    plain.fit(x, y, batch_size=BATCH, epochs=1, verbose=0, shuffle=False)
    base = model()
    one, _ = _fit(base, x, y)
    measured = _one_weight_a_group(monkeypatch)
    m = model()
    rec, snaps = _fit(m, x, y)
    for a, b in zip(plain.trainable_variables, m.trainable_variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    # inside the accumulating cond's branch, and once more after it
    assert {g for g, w in measured if w == "update_step"} == {g for g, w in measured if w == "finish"} == {0, 1, 2, 3}
    updates = {float(np.linalg.norm(snaps[k + 1][0] - snaps[k][0])) for k in range(len(snaps) - 1)}
    for metric in ("update_norm", "init_distance"):
        for u, v in zip(base.trainable_variables, m.trainable_variables):
            want, got = one.scalar(metric, u.path), rec.scalar(metric, v.path)
            np.testing.assert_array_equal(got[0], want[0])
            np.testing.assert_allclose(got[1], want[1], rtol=1e-12)
    # an applied update is among them, measured on the weights fetched around it
    un = rec.scalar("update_norm", m.trainable_variables[0].path)[1]
    assert any(u > 0 and any(abs(u - w) <= 2e-6 * w for w in updates) for u in un)


def test_groups_are_not_made_under_a_strategy_or_with_constraints(xy, monkeypatch):
    """Under a one-device strategy Keras updates in its merge, where the per-weight hook
    does not apply: no groups, and AdamW trains bit-identically; a constrained weight's
    group is measured after the whole update (after Keras applied the constraint), so its
    update norm is what the weights fetched around the step say."""
    measured = _one_weight_a_group(monkeypatch)
    x, y = xy

    def model(constraint=None):
        keras.utils.set_random_seed(0)
        m = keras.Sequential([keras.Input((8,)), L.Dense(16, activation="relu", kernel_constraint=constraint), L.Dense(1)])
        m.compile(optimizer=keras.optimizers.AdamW(0.05, weight_decay=0.1), loss="mse")
        return m

    strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
    with strategy.scope():
        plain = model()
    plain.fit(x, y, batch_size=BATCH, epochs=1, verbose=0, shuffle=False)
    with strategy.scope():
        m = model()
    rec, _ = _fit(m, x, y)
    for a, b in zip(plain.trainable_variables, m.trainable_variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert {w for _, w in measured} <= {"finish"} and rec.scalar_names("update_norm")
    measured.clear()
    m = model(keras.constraints.MaxNorm(0.05))
    rec, snaps = _fit(m, x, y)
    assert {w for g, w in measured if g == 0} == {"finish"} and "update_step" in {w for _, w in measured}
    steps, un = rec.scalar("update_norm", m.trainable_variables[0].path)
    np.testing.assert_allclose(un, [np.linalg.norm(snaps[k + 1][0] - snaps[k][0]) for k in steps], rtol=2e-6)


@pytest.mark.parametrize(
    "opt",
    [
        lambda: keras.optimizers.Adam(0.05),  # assign_sub
        lambda: keras.optimizers.SGD(0.05, momentum=0.9),  # assign_add
        lambda: keras.optimizers.Ftrl(0.05),  # assign
    ],
    ids=["adam", "sgd-momentum", "ftrl"],
)
@pytest.mark.parametrize("how", ["graph", "xla"])
def test_large_weights_measured_as_the_optimizer_writes_them(xy, opt, how, monkeypatch):
    """Issue 27: a weight above ``LONG`` values, written once by Keras' own optimizer, is
    measured as the optimizer writes it (its values read just before the write, what the
    write makes of them computed a chunk at a time), with no copy of it held across the
    update: the trained weights are bit-identical to an unwatched fit, and the scalars equal
    the weights fetched around each step and, to float64 rounding, those measured the
    old way (held before, measured after)."""
    from tfhist_magic.capture import _scalars, _update, keras3

    x, y = xy
    monkeypatch.setattr(_scalars, "LONG", 64)  # the first kernel (128 values) is "large"
    monkeypatch.setattr(_scalars, "CHUNK", 48)  # in three chunks, the last one short
    writes = []
    real = _scalars.update_scalars_of_write
    monkeypatch.setattr(_scalars, "update_scalars_of_write", lambda *a: writes.append(a[2]) or real(*a))
    from tfhist_magic.capture import _traced

    monkeypatch.setattr(_traced, "update_scalars_of_write", _scalars.update_scalars_of_write)
    held = []
    real_hold = _update.Before.hold
    monkeypatch.setattr(_update.Before, "hold", lambda self, values: held.append((self.at_write, len(self.variables))) or real_hold(self, values))

    def model():
        keras.utils.set_random_seed(0)
        m = keras.Sequential([keras.Input((8,)), L.Dense(16, activation="relu"), L.Dense(1)])
        m.compile(optimizer=opt(), loss="mse", jit_compile=how == "xla")
        return m

    plain = model()
    plain.fit(x, y, batch_size=BATCH, epochs=2, verbose=0, shuffle=False)
    m = model()
    rec, snaps = _fit(m, x, y, epochs=2)
    for a, b in zip(plain.trainable_variables, m.trainable_variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    # the large kernel alone was measured at its write, by the write this optimizer makes
    want = {"adam": "assign_sub", "sgd-momentum": "assign_add", "ftrl": "assign"}
    assert writes and set(writes) == {want[_opt_id(m.optimizer)]}
    assert (True, 1) in held
    n = 2 * (len(x) // BATCH)
    _check_against_snapshots(rec, m, snaps, n)
    # the same numbers (to float64 rounding) as the weight held before the update and measured after
    monkeypatch.setattr(keras3, "_WRITE_ONCE", ())
    writes.clear()
    old = model()
    rec_old, _ = _fit(old, x, y, epochs=2)
    assert not writes
    for v, u in zip(m.trainable_variables, old.trainable_variables):
        for metric in ("update_norm", "init_distance", "update_ratio"):
            if v.path in rec.scalar_names(metric):
                np.testing.assert_allclose(rec.scalar(metric, v.path)[1], rec_old.scalar(metric, u.path)[1], rtol=1e-12)


def _check_against_snapshots(rec, m, snaps, n: int) -> None:
    """The update norm and the distance from the start of each of ``m``'s weights over
    ``n`` steps equal those of the weights fetched around each step (``snaps``)."""
    for i, v in enumerate(m.trainable_variables):
        steps, un = rec.scalar("update_norm", v.path)
        np.testing.assert_array_equal(steps, np.arange(n))
        np.testing.assert_allclose(un, [np.linalg.norm(snaps[k + 1][i] - snaps[k][i]) for k in range(n)], rtol=2e-6)
        _, dist = rec.scalar("init_distance", v.path)
        np.testing.assert_allclose(dist, [np.linalg.norm(snaps[k][i] - snaps[0][i]) for k in range(n)], rtol=2e-6, atol=1e-12)


def _opt_id(opt) -> str:
    return {"Adam": "adam", "SGD": "sgd-momentum", "Ftrl": "ftrl"}[type(opt).__name__]


def test_a_weight_written_twice_gets_nan_never_a_wrong_number(xy, monkeypatch):
    """Where the optimizer writes a weight measured at its write more than once (an
    optimizer the watch wrongly took for one that writes once), its update scalars are
    NaN (not measured), not those of the first write, and training is untouched."""
    from tfhist_magic.capture import _scalars, keras3

    x, y = xy
    monkeypatch.setattr(_scalars, "LONG", 64)
    monkeypatch.setattr(keras3, "_written_once", lambda opt, v: True)

    class Twice(keras.optimizers.SGD):
        def update_step(self, gradient, variable, learning_rate):
            half = ops.multiply(gradient, ops.cast(learning_rate, variable.dtype) / 2)
            self.assign_sub(variable, half)
            self.assign_sub(variable, half)

    from keras import ops

    def model(opt):
        keras.utils.set_random_seed(0)
        m = keras.Sequential([keras.Input((8,)), L.Dense(16, activation="relu"), L.Dense(1)])
        m.compile(optimizer=opt, loss="mse")
        return m

    plain = model(Twice(0.05))
    plain.fit(x, y, batch_size=BATCH, epochs=1, verbose=0, shuffle=False)
    m = model(Twice(0.05))
    with pytest.warns(UserWarning, match="Twice wrote kernel 2 times in one update"):
        rec, snaps = _fit(m, x, y)
    for a, b in zip(plain.trainable_variables, m.trainable_variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    kernel, *small = m.trainable_variables
    n = len(x) // BATCH
    # NaN is "not measured": the kernel has no update scalars at all (its first write's were overwritten)
    for metric in ("update_norm", "init_distance", "update_ratio"):
        assert kernel.path not in rec.scalar_names(metric)
    for i, v in enumerate(small, 1):  # the others, measured after the update as before
        _, un = rec.scalar("update_norm", v.path)
        np.testing.assert_allclose(un, [np.linalg.norm(snaps[k + 1][i] - snaps[k][i]) for k in range(n)], rtol=2e-6)


def test_a_large_weight_with_no_gradient_is_measured_after_the_update(xy, monkeypatch):
    """A weight with no gradient (Keras skips its update: no write to measure it at) is
    measured after the update as before: it did not move, its update norm is 0 and its
    distance from the start stays 0, where measuring it at its write would leave NaN."""
    from tfhist_magic.capture import _scalars

    x, y = xy
    monkeypatch.setattr(_scalars, "LONG", 64)

    class WithUnused(L.Layer):
        def build(self, shape):
            self.k = self.add_weight(shape=(shape[-1], 1), name="k")
            self.unused = self.add_weight(shape=(100,), initializer="ones", name="unused")

        def call(self, x):
            return x @ self.k

    keras.utils.set_random_seed(0)
    m = keras.Sequential([keras.Input((8,)), WithUnused()])
    m.compile(optimizer="adam", loss="mse")
    unused = m.layers[0].unused
    with pytest.warns(UserWarning, match="Gradients do not exist"):
        rec, _ = _fit(m, x, y)
    n = len(x) // BATCH
    steps, un = rec.scalar("update_norm", unused.path)
    np.testing.assert_array_equal(steps, np.arange(n))
    np.testing.assert_array_equal(un, np.zeros(n))
    np.testing.assert_array_equal(rec.scalar("init_distance", unused.path)[1], np.zeros(n))
