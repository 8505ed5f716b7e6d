"""The record around the histograms: one step axis per model, the wall time of the step
itself, the first non-finite step caught and kept, and views that never stop training."""

import time

import keras
import numpy as np
import pytest
import tensorflow as tf

import tfhist_magic
from tfhist_magic import histogram as H
from tfhist_magic.recording import MAX_NOTES, Recording
from tfhist_magic.view.widget import Dashboard, decode

L = keras.layers


@pytest.fixture(scope="module")
def xy():
    rng = np.random.default_rng(0)
    return rng.normal(size=(128, 8)).astype("float32"), rng.normal(size=(128, 1)).astype("float32")


def _row(values, bins=64):
    return H.reference_row(np.asarray(values, np.float32), bins)


# -- one timeline per model ---------------------------------------------------------------


@pytest.mark.parametrize("every", [1, 3])
def test_transfer_learning_in_one_cell_is_one_timeline(xy, every):
    """Fit with the base frozen, unfreeze, recompile with a new optimizer, fit again: the
    second optimizer continues the model's steps, epoch marks of both fits are kept, and
    the first phase's final weights are recorded at its last step + 1."""
    x, y = xy
    keras.utils.set_random_seed(0)
    base = keras.Sequential([keras.Input((8,)), L.Dense(8, activation="relu", name="b")], name="base")
    m = keras.Sequential([base, L.Dense(1, name="head")], name="tl")
    base.trainable = False
    m.compile(keras.optimizers.Adam(1e-3), "mse")
    after = {}

    class Keep(keras.callbacks.Callback):
        def on_train_end(self, logs=None):
            after[len(after)] = {v.path: v.numpy().copy() for v in m.trainable_variables}

    with tfhist_magic.watch(every=every) as rec:
        m.fit(x, y, batch_size=16, epochs=2, verbose=0, shuffle=False, callbacks=[Keep()])  # steps 0..15
        base.trainable = True
        m.compile(keras.optimizers.SGD(1e-2), "mse")
        m.fit(x, y, batch_size=16, epochs=1, verbose=0, shuffle=False, callbacks=[Keep()])  # steps 16..23
    head_k, base_k = "tl/head/kernel", "base/b/kernel"
    g = rec.series("grads", head_k)
    np.testing.assert_array_equal(g.steps, np.arange(0, 24, every))
    np.testing.assert_array_equal(g.epochs, [0 if s < 8 or s >= 16 else 1 for s in g.steps])
    np.testing.assert_array_equal(rec.series("grads", base_k).steps, [s for s in range(16, 24) if s % every == 0])
    w = rec.series("weights", head_k)
    assert 16 in w.steps and w.steps[-1] == 24 and np.all(np.diff(w.steps) > 0)
    # step 16's weights are what phase 1 left (its final snapshot), step 24's what phase 2 left
    np.testing.assert_array_equal(w.counts[list(w.steps).index(16)], _row(after[0][head_k])[:64])
    np.testing.assert_array_equal(w.counts[-1], _row(after[1][head_k])[:64])
    assert rec.series("weights", base_k).steps[-1] == 24


def test_a_series_refuses_a_step_that_goes_back():
    rec = Recording(bins=8)
    rows = np.stack([_row([1.0, 2.0], 8)] * 2)[None]  # [1, 2, B+10]
    rec.add_rows("weights", ["a", "b"], [5], rows)
    with pytest.raises(ValueError, match=r"step 3 after step 5 \(a Series' steps only increase\)"):
        rec.add_rows("weights", ["b", "c"], [3], rows)
    assert rec.names("weights") == ["a", "b"]  # nothing of the refused block was stored
    rec.add_rows("weights", ["a", "b"], [5], rows * 0)  # the same step again: the first is kept
    assert rec.series("weights", "a").steps.tolist() == [5] and rec.series("weights", "a").counts.sum() == 2
    with pytest.raises(ValueError, match="increasing steps within a block"):
        rec.add_rows("weights", ["a"], [7, 7], np.concatenate([rows[:, :1]] * 2))
    with pytest.raises(ValueError, match="only increase"):
        rec.add_scalars("update_ratio", "a", [4, 6], [0.1, 0.2]) or rec.add_scalars("update_ratio", "a", [5], [0.1])


# -- wall time of the step itself ---------------------------------------------------------


@pytest.mark.parametrize("how", ["graph", "xla", "eager"])
def test_wall_times_are_when_the_steps_ran(xy, how):
    x, _ = xy
    keras.utils.set_random_seed(0)
    m = keras.Sequential([keras.Input((8,)), L.Dense(4)])
    opt = keras.optimizers.SGD(0.01)

    def step(xb):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(m(xb) ** 2)
        opt.apply(tape.gradient(loss, m.trainable_variables), m.trainable_variables)

    if how != "eager":
        step = tf.function(step, jit_compile=how == "xla")
    ran = []
    with tfhist_magic.watch(every=1) as rec:
        for _ in range(5):
            ran.append(time.time())
            step(x[:16])
            time.sleep(0.3)
    wall = rec.series("grads", rec.names("grads")[0]).wall
    assert len(wall) == 5
    # each snapshot's time lies within its own step's call (not the host's later read) ...
    assert np.all(wall >= np.array(ran)) and np.all(wall[:-1] < np.array(ran[1:])), (wall - ran[0], np.array(ran) - ran[0])
    assert np.all(np.diff(wall) >= 0.29)  # ... so the sleeps between steps show
    back = Recording.from_tensorboard(rec.to_tensorboard(str(__import__("tempfile").mkdtemp())).rsplit("/", 1)[0])
    name = [n for n in back.names("grads") if n.endswith(rec.names("grads")[0])][0]
    np.testing.assert_allclose(back.series("grads", name).wall, wall)


# -- the first bad step ------------------------------------------------------------------


class _PoisonGrad(L.Layer):
    """Identity forward; its backward multiplies by NaN at optimizer step ``at``."""

    def __init__(self, at, **kw):
        super().__init__(**kw)
        self.at = at
        self.opt = None

    def call(self, x):
        if self.opt is None:
            return x
        opt, at = self.opt, self.at

        @tf.custom_gradient
        def f(x):
            def grad(dy):
                bad = tf.equal(tf.cast(tf.convert_to_tensor(opt.iterations), tf.int64), at)
                return dy * tf.where(bad, tf.constant(np.nan, dy.dtype), tf.constant(1.0, dy.dtype))

            return tf.identity(x), grad

        return f(x)


@pytest.mark.parametrize("how", ["graph", "xla", "eager"])
def test_nan_born_in_one_layers_backward_pass_is_caught_at_its_step_and_kept(xy, how):
    """The loss stays finite at step 13; only the gradients below the poisoned layer hold
    NaN. At the default every=50 step 13 is recorded in full anyway, and the finding names
    the first tensor that went bad in computation order at that step."""
    x, y = xy
    keras.utils.set_random_seed(0)
    p = _PoisonGrad(13, name="poison")
    m = keras.Sequential([keras.Input((8,)), L.Dense(8, activation="relu", name="d1"), p, L.Dense(1, name="d2")], name="pg")
    m.compile(keras.optimizers.SGD(0.01), "mse", jit_compile=how == "xla", run_eagerly=how == "eager")
    p.opt = m.optimizer
    with tfhist_magic.watch() as rec:
        m.fit(x, y, batch_size=16, epochs=3, verbose=0, shuffle=False)
    assert rec.first_nonfinite == 13
    for name in ("pg/d1/kernel", "pg/d1/bias"):
        s = rec.series("grads", name)
        assert s.steps.tolist() == [0, 13], s.steps
        assert s.nan[1] == s.size[1] == np.prod(m.get_layer("d1").weights[0 if name.endswith("kernel") else 1].shape)
    d2 = rec.series("grads", "pg/d2/kernel")
    assert d2.steps.tolist() == [0, 13] and d2.nan.tolist() == [0, 0]  # above the poison: finite
    assert rec.series("weights", "pg/d1/kernel").nan[1] == 0  # step 13 read finite weights
    (f,) = [f for f in rec.findings() if f.rule == "non-finite"]
    assert f.first_step == 13 and f.kind == "grads" and f.tensor.startswith("pg/d1/"), f


def test_a_nonfinite_loss_with_finite_gradients_is_caught(xy):
    """A loss term that is +Inf at step 3 but constant (zero gradient): only the loss shows it."""
    x, y = xy
    keras.utils.set_random_seed(0)
    m = keras.Sequential([keras.Input((8,)), L.Dense(1)])
    it = []

    def loss(yt, yp):
        bad = tf.equal(tf.cast(tf.convert_to_tensor(it[0].iterations), tf.int64), 3)
        return tf.reduce_mean((yt - yp) ** 2) + tf.stop_gradient(tf.where(bad, tf.constant(np.inf), 0.0))

    m.compile(keras.optimizers.SGD(0.01), loss)
    it.append(m.optimizer)
    with tfhist_magic.watch(every=50) as rec:
        m.fit(x, y, batch_size=16, epochs=1, verbose=0)
    assert rec.first_nonfinite == 3
    assert all(rec.series("grads", n).nan.sum() == 0 for n in rec.names("grads"))


def test_a_run_that_goes_nan_at_step_5_opens_a_histogram_that_shows_it(xy):
    """Default every (50): the forward pass goes NaN at step 5 (a poisoned input batch);
    the snapshot of step 5 exists and holds the NaN, and the finding points at it."""
    x, y = xy
    x = x.copy()
    x[5 * 16 + 3, 2] = np.nan  # batch 5
    keras.utils.set_random_seed(0)
    m = keras.Sequential([keras.Input((8,)), L.Dense(8, activation="tanh", name="h"), L.Dense(1, name="o")], name="n5")
    m.compile(keras.optimizers.SGD(0.01), "mse")
    with tfhist_magic.watch() as rec:
        m.fit(x, y, batch_size=16, epochs=2, verbose=0, shuffle=False)
    assert rec.first_nonfinite == 5
    (f,) = [f for f in rec.findings() if f.rule == "non-finite"]
    assert f.first_step == 5 and f.kind == "activations" and f.tensor == "n5/h", f
    s = rec.series(f.kind, f.tensor)
    i = list(s.steps).index(5)
    assert s.nan[i] == 8  # one example's row of the hidden layer: all 8 units NaN
    assert s.nan[: i].sum() == 0


def test_sessions_catch_the_first_nonfinite_run_and_time_each_run():
    g = tf.Graph()
    with g.as_default():
        xp = tf.compat.v1.placeholder(tf.float32, [None, 4])
        w = tf.compat.v1.get_variable("w", [4, 1], initializer=tf.compat.v1.ones_initializer())
        loss = tf.reduce_mean(tf.matmul(xp, w) ** 2)
        train = tf.compat.v1.train.GradientDescentOptimizer(0.01).minimize(loss)
        init = tf.compat.v1.global_variables_initializer()
    data = np.ones((8, 4), np.float32)
    with tf.compat.v1.Session(graph=g) as sess:
        sess.run(init)
        with tfhist_magic.watch(sess, every=50) as rec:
            for i in range(10):
                bad = data.copy()
                if i == 7:
                    bad[0, 0] = np.inf
                sess.run(train, {xp: bad})
                time.sleep(0.3 if i < 2 else 0)
    assert rec.first_nonfinite == 7
    s = rec.series("grads", "w")
    assert s.steps.tolist() == [0, 7] and s.nan[1] + s.posinf[1] + s.neginf[1] > 0
    wall = rec.series("weights", "w").wall
    assert wall[1] - wall[0] >= 0.59  # step 7 ran after two 0.3 s sleeps


# -- views never stop training -----------------------------------------------------------


def test_a_view_that_raises_is_dropped_and_training_goes_on(xy):
    x, y = xy
    keras.utils.set_random_seed(0)
    m = keras.Sequential([keras.Input((8,)), L.Dense(1)])
    m.compile("sgd", "mse")
    calls = []

    def broken(rec):
        calls.append(1)
        raise RuntimeError("the page is gone")

    with tfhist_magic.watch(every=1) as rec:
        rec.subscribe(broken)
        m.fit(x, y, batch_size=16, epochs=2, verbose=0)
    assert rec.series("grads", rec.names("grads")[0]).steps.tolist() == list(range(16))
    assert len(calls) == 1
    assert sum("RuntimeError: the page is gone" in n for n in rec.notes) == 1


def test_packets_carry_nan_and_inf_anywhere():
    rec = Recording(bins=8)
    rec.add("weights", "w", 0, _row([1.0, np.nan, np.inf], 8))
    rec.add_scalars("update_ratio", "w", [0, 1], [np.nan, 0.5])
    rec.add_scalars("dead_units", "w", [0], [np.inf])
    d = Dashboard(rec)
    head = decode(d._state_packet())
    got = {(s["metric"], tuple(s["steps"].tolist())): s["values"].tolist() for s in head["scalars"]}
    assert got.keys() == {("update_ratio", (0, 1)), ("dead_units", (0,))}
    assert np.isnan(got["update_ratio", (0, 1)][0]) and got["update_ratio", (0, 1)][1] == 0.5 and got["dead_units", (0,)] == [np.inf]
    s = head["series"][0]
    assert s["rows"][0, 8 + H.NAN] == 1 and s["rows"][0, 8 + H.POSINF] == 1


def test_notes_are_bounded_and_a_keyed_note_is_replaced():
    rec = Recording()
    for n in range(5):
        rec.note(f"{n} sampled steps were lost", key="lost")
    assert rec.notes == ["4 sampled steps were lost"]
    for n in range(3 * MAX_NOTES):
        rec.note(f"note {n}")
    assert len(rec.notes) == MAX_NOTES and rec.notes_dropped == 3 * MAX_NOTES - (MAX_NOTES - 1)


def test_live_pages_get_a_full_packet_now_and_then(monkeypatch):
    """A page that missed a delta asks for everything, but the kernel only hears that once
    the cell ends: while live, a full packet goes out every keyframe_interval seconds."""
    import types

    from tfhist_magic.view import widget

    clock = [100.0]
    monkeypatch.setattr(widget, "time", types.SimpleNamespace(monotonic=lambda: clock[0]))
    rec = Recording(bins=8)
    rec.add("grads", "g", 0, _row([1.0], 8))
    d = Dashboard(rec, live_interval=0.5, live=True)
    d.get_state()
    sent = []
    d.send = lambda content, buffers=None: sent.append((content["tfhist"], decode(buffers[0])))
    for step in range(1, 30):
        clock[0] += 1.0
        rec.add("grads", "g", step, _row([1.0, step], 8))
        d.refresh()
    kinds = [k for k, _ in sent]
    assert kinds.count("full") == 2 and kinds[10] == "full" and kinds[21] == "full", kinds  # each after that step's delta
    full = sent[10][1]
    assert full["full"] and full["series"][0]["steps"].tolist() == list(range(11)) and full["seq"] == sent[9][1]["seq"]
    after = sent[11][1]  # the delta after a full carries only what is newer, and the next number
    assert not after["full"] and after["series"][0]["steps"].tolist() == [11] and after["seq"] == full["seq"] + 1


# -- EarlyStopping(restore_best_weights) ---------------------------------------------------


def test_restored_best_weights_are_never_labelled_with_the_last_step(xy):
    x, y = xy
    keras.utils.set_random_seed(0)
    m = keras.Sequential([keras.Input((8,)), L.Dense(1, name="d")], name="es")
    m.compile(keras.optimizers.SGD(0.05), "mse")
    last = {}

    class Keep(keras.callbacks.Callback):  # runs before EarlyStopping restores
        def on_train_end(self, logs=None):
            last["w"] = m.get_layer("d").kernel.numpy().copy()

    stop = keras.callbacks.EarlyStopping(monitor="loss", mode="max", patience=10, restore_best_weights=True)
    with tfhist_magic.watch(every=50) as rec:
        m.fit(x, y, batch_size=16, epochs=3, verbose=0, callbacks=[Keep(), stop])
    restored = m.get_layer("d").kernel.numpy()
    assert not np.array_equal(restored, last["w"])  # the best epoch (highest loss) was the first
    s = rec.series("weights", "es/d/kernel")
    assert s.steps[-1] == 24
    np.testing.assert_array_equal(s.counts[-1], _row(last["w"])[:64])
    assert any("EarlyStopping restored" in n and "step 24" in n for n in rec.notes), rec.notes


# -- names across models ---------------------------------------------------------------------


def test_names_of_several_models_follow_one_rule(xy):
    """A tensor is named by its Keras path; when another model in the watch already has
    that name, by its model's label in rec.models instead of the model's own name."""
    x, y = xy
    keras.utils.set_random_seed(0)
    nets = [keras.Sequential([keras.Input((8,)), L.Dense(1, name="d")], name="net") for _ in range(2)]
    inp = keras.Input((8,))
    funcs = [keras.Model(inp, L.Dense(1, name="act")(inp), name=n) for n in ("A", "B")]
    for m in nets + funcs:
        m.compile("sgd", "mse")
    with tfhist_magic.watch(every=1) as rec:
        for m in nets + funcs:
            m.train_on_batch(x[:16], y[:16])
    assert rec.models == {
        "net": ["net/d", "net/d/kernel", "net/d/bias"],
        "net#2": ["net#2/d", "net#2/d/kernel", "net#2/d/bias"],
        "A": ["act", "act/kernel", "act/bias"],
        "B": ["B/act", "B/act/kernel", "B/act/bias"],
    }, rec.models
    assert set(rec.names("grads")) == {n for ns in rec.models.values() for n in ns if n.endswith(("kernel", "bias"))}


def test_the_page_hears_that_the_recording_is_being_prepared(xy):
    """While a watched step is traced, rec.status says so (a live page shows it with the
    elapsed time); the first rows clear it."""
    x, y = xy
    keras.utils.set_random_seed(0)
    m = keras.Sequential([keras.Input((8,)), L.Dense(4, activation="relu"), L.Dense(1)])
    m.compile("sgd", "mse")
    seen = []
    with tfhist_magic.watch(every=1) as rec:
        rec.subscribe(lambda r: seen.append(r.status))
        m.fit(x, y, batch_size=16, epochs=1, verbose=0)
    prepared = [s for s in seen if s]
    total = sum(len(rec.names(k)) for k in rec.kinds)  # 2 activations, 4 weights, 4 grads
    assert total == 10 and prepared and prepared[0]["text"] == f"preparing the recording for {total} tensors", seen
    assert seen[-1] is None and rec.status is None


@pytest.mark.parametrize("tensors,bins", [(15, 64), (600, 64), (2000, 1024)])
def test_the_ring_buffer_keeps_to_its_device_memory_budget(tensors, bins):
    from tfhist_magic.capture import _ring

    g = _ring.Ring({"weights": [f"w{i}" for i in range(tensors)]}, bins, every=50)
    nbytes = g.buf.shape.num_elements() * 8 + g.steps.shape[0] * 16
    assert g.buf.shape[0] == g.ring + 1 and nbytes <= _ring.RING_BYTES + 2**20, (g.ring, nbytes)
    assert g.ring == min(256, _ring.RING_BYTES // (tensors * g.width * 8) - 1) and g.width == bins + 10 + 3  # each row, its probe columns


def test_one_lock_guards_the_recording_while_a_thread_writes():
    """A view reading on another thread while the training thread adds Series and rows:
    every read sees whole blocks (no 'dictionary changed size', no half-added Series)."""
    import threading

    rec = Recording(bins=8, max_snapshots=8)
    row = _row([1.0, 2.0], 8)
    errors, done = [], threading.Event()

    def write():
        try:
            for step in range(60):
                names = [f"t{i}" for i in range(step + 1)]  # a new Series each step, all at this step
                rec.add_rows("grads", names[-1:], range(step), np.stack([[row]] * step)) if step else None
                rec.add_rows("weights", names, [step], np.stack([row] * len(names))[None])
        except Exception as e:  # noqa: BLE001
            errors.append(e)
        finally:
            done.set()

    def read():
        try:
            while not done.is_set():
                with rec.batch():  # several reads that must agree: under the lock
                    steps = rec.steps
                    for name in rec.names("weights"):
                        s = rec.series("weights", name)
                        assert len(s.steps) == s.rows.shape[0] and s.steps[-1] == steps[-1]
                rec.names("grads"), rec.steps  # single reads need no help
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=write), threading.Thread(target=read)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert len(rec.names("weights")) == 60
