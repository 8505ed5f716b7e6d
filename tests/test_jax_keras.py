"""Keras 3 on the JAX backend, against oracles (jax.grad, the layer's own output, NumPy's
histogram on the same values). Keras picks its backend at import, so these run in their
own process with KERAS_BACKEND=jax: tests/test_jax.py starts it (in the suite's own
process, with the TensorFlow backend, this module is skipped)."""

import os
import sys

import numpy as np
import pytest

if os.environ.get("KERAS_BACKEND") != "jax":
    pytest.skip("runs in its own process with KERAS_BACKEND=jax (tests/test_jax.py starts it)", allow_module_level=True)

jax = pytest.importorskip("jax")
import jax.numpy as jnp  # noqa: E402
import keras  # noqa: E402
from IPython.core.error import UsageError  # noqa: E402

import tfhist_magic  # noqa: E402
from tfhist_magic import histogram as H  # noqa: E402
from tfhist_magic.recording import Recording  # noqa: E402

B = 64
# a handed-out step that fails to record only warns (fit must go on): here it fails the test
pytestmark = pytest.mark.filterwarnings("error:.*sampled step was not recorded:RuntimeWarning")


def make(seed=0, activation="relu", name=None, opt=None, cls=None):
    """A small MLP with seeded initializers (``keras.utils.set_random_seed`` would import
    TensorFlow); same layer names as the suite's ``make_mlp``."""
    layers = [
        keras.Input((8,)),
        keras.layers.Dense(16, activation=activation, name="hidden", kernel_initializer=keras.initializers.GlorotUniform(seed=seed)),
        keras.layers.Dense(1, name="out", kernel_initializer=keras.initializers.GlorotUniform(seed=seed + 1)),
    ]
    m = (cls or keras.Sequential)(layers, name=name)
    m.compile(optimizer=opt or keras.optimizers.SGD(0.1), loss="mse")
    return m


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(64, 8)).astype("float32"), rng.normal(size=(64, 1)).astype("float32")


def values(m):
    return [np.array(v.value) for v in m.trainable_variables]


def exact(row, v):
    """The row's counts, min, max and width are the oracle's, bit for bit."""
    ref = H.reference_row(np.asarray(v), B)
    np.testing.assert_array_equal(row[:B], ref[:B])
    for k in (H.NAN, H.POSINF, H.NEGINF, H.MIN, H.MAX, H.WIDTH):
        assert row[B + k] == ref[B + k], k
    np.testing.assert_allclose(row[B + H.MEAN], ref[B + H.MEAN], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(row[B + H.STD], ref[B + H.STD], rtol=1e-5, atol=1e-7)


def near(row, v, ulps: int = 4):
    """:func:`exact` for values the training step computed in a program of its own: a
    separate ``jax.grad`` of the same loss may differ from them in the last bits (XLA fuses
    the two programs differently, and uses FMA where the CPU has it), so the extremes and
    width are the oracle's within ``ulps`` float32 ulps and at most one value a bin moved."""
    ref = H.reference_row(np.asarray(v), B)
    assert row[:B].sum() == ref[:B].sum() and np.abs(row[:B] - ref[:B]).sum() <= 2
    for k in (H.NAN, H.POSINF, H.NEGINF):
        assert row[B + k] == ref[B + k], k
    for k in (H.MIN, H.MAX, H.WIDTH):
        assert abs(row[B + k] - ref[B + k]) <= ulps * np.spacing(np.float32(abs(ref[B + k]))), k
    np.testing.assert_allclose(row[B + H.MEAN], ref[B + H.MEAN], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(row[B + H.STD], ref[B + H.STD], rtol=1e-5, atol=1e-7)


def test_importing_and_watching_does_not_import_tensorflow(data):
    assert "tensorflow" not in sys.modules
    m = make()
    with tfhist_magic.watch(m, every=1) as rec:
        m.fit(*data, batch_size=32, epochs=1, verbose=0)
    assert len(rec) and "tensorflow" not in sys.modules


def test_fit_step0_and_final_against_the_oracles(data):
    x, y = data
    m = make(name="net")
    w0 = values(m)
    tv = [v.value for v in m.trainable_variables]
    ntv = [v.value for v in m.non_trainable_variables]

    def loss(t, xb, yb):
        pred, _ = m.stateless_call(t, ntv, xb, training=True)
        return jnp.mean(jnp.square(pred - yb))

    g0 = jax.grad(loss)(tv, x[:32], y[:32])
    hidden0 = np.asarray(m.get_layer("hidden")(x[:32]))  # the layer's output on the first batch
    out0 = np.asarray(m.get_layer("out")(hidden0))
    with tfhist_magic.watch(m, every=1) as rec:
        m.fit(x, y, batch_size=32, epochs=2, verbose=0, shuffle=False)
    names = [v.path for v in m.trainable_variables]
    assert rec.names("weights") == names and rec.names("grads") == names
    assert names == ["net/hidden/kernel", "net/hidden/bias", "net/out/kernel", "net/out/bias"]
    assert rec.names("activations") == ["net/hidden", "net/out"]
    wk = rec.series("weights", names[0])
    np.testing.assert_array_equal(wk.steps, [0, 1, 2, 3, 4])
    np.testing.assert_array_equal(wk.epochs, [0, 0, 1, 1, 1])
    for i, n in enumerate(names):
        s = rec.series("weights", n)
        exact(s.rows[0], w0[i])  # step 0: the initial weights
        exact(s.rows[-1], values(m)[i])  # the last snapshot: the trained weights
        np.testing.assert_array_equal(s.edges[0], H.bin_edges(w0[i].min(), w0[i].max(), B))
        near(rec.series("grads", n).rows[0], np.asarray(g0[i]))  # step 0: jax.grad on batch 0
    acts = rec.names("activations")
    exact(rec.series("activations", acts[0]).rows[0], hidden0)
    np.testing.assert_allclose(rec.series("activations", acts[1]).rows[0][B + H.MEAN], out0.mean(), rtol=1e-5)
    # the per-step scalars
    for metric, name in (("update_ratio", names[0]), ("update_norm", names[0]), ("init_distance", names[0]), ("grad_norm", "net"), ("dead_units", acts[0])):
        steps, vals = rec.scalar(metric, name)
        assert steps[0] == 0 and np.isfinite(vals).all(), metric
    steps, dist = rec.scalar("init_distance", names[0])
    assert dist[0] == 0 and steps[-1] == 3
    twin = make(name="twin")  # the weights step 3 read: after three updates
    twin.fit(x, y, batch_size=32, epochs=1, verbose=0, shuffle=False)
    twin.train_on_batch(x[:32], y[:32])
    np.testing.assert_allclose(dist[-1], np.linalg.norm(values(twin)[0].astype(np.float64) - w0[0]), rtol=1e-6)
    _, norm = rec.scalar("update_norm", names[0])
    # SGD: the first update is -lr * g0
    np.testing.assert_allclose(norm[0], 0.1 * np.linalg.norm(np.asarray(g0[0])), rtol=1e-5)
    _, gn = rec.scalar("grad_norm", "net")
    np.testing.assert_allclose(gn[0], np.sqrt(sum(float(np.sum(np.square(g))) for g in g0)), rtol=1e-5)
    assert rec.findings() == []  # a healthy run: no findings


@pytest.mark.parametrize("where", ["host", "device"])
def test_the_exits_rows_of_the_trained_weights_on_the_host_and_on_the_device(data, monkeypatch, where):
    """The final weights' rows at the exit: NumPy's below ``HOST_ROWS_MAX`` values, else
    one compiled computation, kept across watches (each clears JAX's caches)."""
    from tfhist_magic.capture import _jax_rows as E
    from tfhist_magic.capture._lru import Lru

    if where == "device":
        monkeypatch.setattr(E, "HOST_ROWS_MAX", 0)
        monkeypatch.setattr(E, "_COMPILED", Lru(8))
    x, y = data
    kept = []
    for seed in (0, 1):
        m = make(seed=seed, name="net")
        with tfhist_magic.watch(m, every=1000) as rec:
            m.fit(x, y, batch_size=32, epochs=1, verbose=0)
        for v, n in zip(values(m), rec.names("weights")):
            s = rec.series("weights", n)
            np.testing.assert_array_equal(s.steps, [0, 2])  # step 0 sampled, the exit after 2 updates
            exact(s.rows[-1], v)
        kept.append([run for key, run in E._COMPILED.items() if key[0] != "recording"])
    if where == "device":
        assert len(kept[0]) == 1 and kept[1][0] is kept[0][0]  # compiled once for both watches


def test_every_samples_and_unsampled_steps_record_nothing(data):
    m = make()
    with tfhist_magic.watch(m, every=3) as rec:
        m.fit(*data, batch_size=8, epochs=1, verbose=0)  # 8 steps: 0..7
    np.testing.assert_array_equal(rec.series("grads", rec.names("grads")[0]).steps, [0, 3, 6])
    np.testing.assert_array_equal(rec.series("weights", rec.names("weights")[0]).steps, [0, 3, 6, 8])  # + the final weights
    assert rec.first_nonfinite is None


def test_steps_per_execution_samples_each_step(data):
    """Keras' JAX trainer runs ``steps_per_execution`` steps as host calls of the jitted
    step: the sampled ones still run the recording step, the others the lean one."""
    m = make()
    m.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse", steps_per_execution=3)
    with tfhist_magic.watch(m, every=2) as rec:
        m.fit(*data, batch_size=8, epochs=1, verbose=0)  # 8 steps: 0..7
    np.testing.assert_array_equal(rec.series("grads", rec.names("grads")[0]).steps, [0, 2, 4, 6])


def test_no_init_distance_keeps_no_w0(data):
    """``init_distance=False``: no distance from the start (no w0 kept), the update's norm
    still measured."""
    m = make()
    with tfhist_magic.watch(m, every=2, init_distance=False) as rec:
        m.fit(*data, batch_size=8, epochs=1, verbose=0)
    names = rec.names("weights")
    assert rec.scalar_names("init_distance") == [] and rec.scalar_names("update_norm") == names
    steps, norm = rec.scalar("update_norm", names[0])
    assert steps.tolist() == [0, 2, 4, 6] and (norm > 0).all()


@pytest.mark.parametrize("every", [1, 2])
def test_fit_under_a_keras_distribution(data, every):
    """Under ``keras.distribution`` Keras jits its step with ``out_shardings`` for its
    ``(logs, state)``: the recording step, which returns more, and the lean step, whose
    sampled tensors the host bins, still record exactly, and training is a plain fit's
    under the same distribution, bit for bit. tests/test_jax.py runs this on two devices
    too (``TFHIST_JAX_DEVICES``)."""
    assert len(jax.devices()) == int(os.environ.get("TFHIST_JAX_DEVICES", len(jax.devices())))
    x, y = data
    keras.distribution.set_distribution(keras.distribution.DataParallel(devices=jax.devices()))
    try:
        m, twin = make(name="m"), make(name="twin")  # their variables laid out by the distribution
        w0 = values(m)
        with tfhist_magic.watch(m, every=every) as rec:
            m.fit(x, y, batch_size=16, epochs=1, verbose=0, shuffle=False)
        twin.fit(x, y, batch_size=16, epochs=1, verbose=0, shuffle=False)
    finally:
        keras.distribution.set_distribution(None)
    for n, v, trained, plain in zip(rec.names("weights"), w0, values(m), values(twin)):
        s = rec.series("weights", n)
        np.testing.assert_array_equal(s.steps, [0, 1, 2, 3, 4] if every == 1 else [0, 2, 4])
        exact(s.rows[0], v)
        exact(s.rows[-1], trained)  # the exit: the trained weights
        np.testing.assert_array_equal(trained, plain)
    g = rec.series("grads", rec.names("grads")[0])
    assert g.steps.tolist() == ([0, 1, 2, 3] if every == 1 else [0, 2]) and (g.finite == w0[0].size).all()
    assert len(rec.names("activations")) == 2


def _spy_handed(monkeypatch) -> list:
    """The steps ``JaxEngine.handed`` records (the recording step's handed-out path)."""
    from tfhist_magic.capture._jax_engine import JaxEngine

    steps, orig = [], JaxEngine.handed
    monkeypatch.setattr(JaxEngine, "handed", lambda self, meta, values, *rest: steps.append(int(values[0])) or orig(self, meta, values, *rest))
    return steps


def test_the_recording_step_hands_out_its_tensors_on_every_shape(data, monkeypatch):
    """``fit``'s recording step hands its tensors out (no callback), also once traced
    again for the last, shorter batch: step 4 (8 examples) holds the weights a plain
    ``fit`` of the first four batches ends with, and the activations of 8 examples."""
    x, y = data
    x, y = np.concatenate([x, x[:8]]), np.concatenate([y, y[:8]])
    handed = _spy_handed(monkeypatch)
    m, plain = make(name="watched"), make(name="plain")
    with tfhist_magic.watch(m, every=1) as rec:
        m.fit(x, y, batch_size=16, epochs=1, verbose=0, shuffle=False)
    plain.fit(x[:64], y[:64], batch_size=16, epochs=1, verbose=0, shuffle=False)
    assert handed == [0, 1, 2, 3, 4]
    for n, v in zip(rec.names("weights"), values(plain)):
        s = rec.series("weights", n)
        exact(s.rows[list(s.steps).index(4)], v)
    a = rec.series("activations", rec.names("activations")[0])
    assert a.steps[-1] == 4 and a.rows[-1, :B].sum() == 8 * 16


def test_a_sampled_step_records_the_same_through_the_lean_step(data, monkeypatch):
    """With ``every > 1`` ``fit`` runs one compiled step, the lean one: a sampled step
    sends its tensors to the host by callback (none handed out), where ``every=1`` runs
    the recording step, which hands them out. Both record the steps they share bit for
    bit: every row, probe and per-step scalar, on an Adam step over the last, shorter batch
    too."""
    x, y = data
    x, y = np.concatenate([x, x[:8]]), np.concatenate([y, y[:8]])  # steps 0-3, and 4 of 8 examples
    handed = _spy_handed(monkeypatch)
    recs = {}
    for every in (1, 2):
        m = make(name="net", opt=keras.optimizers.Adam(0.01))
        with tfhist_magic.watch(m, every=every) as recs[every]:
            m.fit(x, y, batch_size=16, epochs=1, verbose=0, shuffle=False)
        assert handed == ([0, 1, 2, 3, 4] if every == 1 else [])
        handed.clear()
    one, two = recs[1], recs[2]
    for kind in ("weights", "grads", "activations"):
        assert two.names(kind) == one.names(kind) != []
        for n in one.names(kind):
            a, b = one.series(kind, n), two.series(kind, n)
            np.testing.assert_array_equal(b.steps, [0, 2, 4, 5] if kind == "weights" else [0, 2, 4])  # weights: + the exit
            at = [list(a.steps).index(k) for k in b.steps]
            np.testing.assert_array_equal(b.rows, a.rows[at])
    for metric in ("update_ratio", "update_norm", "init_distance", "dead_units", "grad_norm"):
        names = one.scalar_names(metric)
        assert two.scalar_names(metric) == names != []
        for n in names:
            (sa, va), (sb, vb) = one.scalar(metric, n), two.scalar(metric, n)
            np.testing.assert_array_equal(sb, [0, 2, 4])
            np.testing.assert_array_equal(vb, va[[list(sa).index(k) for k in sb]])
    _, dist = two.scalar("init_distance", two.names("weights")[0])
    assert dist[0] == 0 and (dist[1:] > 0).all()  # w0 set at step 0, and not the weights at hand


def test_a_callbacks_operands_are_the_hosts_own_copy():
    """The lean step keeps a callback's operands as they arrive (``JaxEngine._keep``), not
    copied again: that holds only while they are the host's own copy, not a view of the
    step's buffer, which the step writes again once the callback returns (here in place:
    the argument is donated)."""
    import functools

    kept = []

    @functools.partial(jax.jit, donate_argnums=0)
    def f(a):
        b = a * 2.0
        ok = jax.pure_callback(lambda v: kept.append(v) or np.asarray(True), jax.ShapeDtypeStruct((), jnp.bool_), b)
        return b + ok.astype(b.dtype)

    for n in (64, 1 << 20):
        for k in range(4):  # the same shape again: XLA reuses its buffers
            out = np.asarray(f(jnp.arange(n, dtype=jnp.float32) + k))
            np.testing.assert_array_equal(out, (np.arange(n, dtype=np.float32) + k) * 2 + 1)
        for k, v in enumerate(kept[-4:]):
            np.testing.assert_array_equal(np.asarray(v), (np.arange(n, dtype=np.float32) + k) * 2)


def _second_recording_fails(monkeypatch, error: Exception) -> None:
    """The host's second binning of a step's tensors (``_jax_rows.recording``) raises ``error``."""
    from tfhist_magic.capture import _jax_engine as E

    calls, orig = [], E.recording

    def failing(*args):
        calls.append(1)
        if len(calls) == 2:
            raise error
        return orig(*args)

    monkeypatch.setattr(E, "recording", failing)


@pytest.mark.parametrize("every", [1, 2])
def test_a_handed_step_that_fails_to_record_warns_and_training_goes_on(data, monkeypatch, every):
    """The step replaced Keras' (donated) state before the host records what it handed
    out (``every=1``) or sent by callback (the lean step): a failure there loses that
    step's rows with a warning, never the training, which stays bit-identical to a plain
    ``fit``; the steps after it are recorded."""
    _second_recording_fails(monkeypatch, RuntimeError("out of memory"))
    a, b = make(name="a"), make(name="b")
    with pytest.warns(RuntimeWarning, match="sampled step was not recorded .*out of memory"):
        with tfhist_magic.watch(a, every=every) as rec:
            a.fit(*data, batch_size=8, epochs=1, verbose=0, shuffle=False)  # steps 0-7
    b.fit(*data, batch_size=8, epochs=1, verbose=0, shuffle=False)
    for va, vb in zip(values(a), values(b)):
        np.testing.assert_array_equal(va, vb)
    np.testing.assert_array_equal(rec.series("grads", rec.names("grads")[0]).steps, [0, 2, 3, 4, 5, 6, 7] if every == 1 else [0, 4, 6])


def test_two_models_training_in_two_threads_each_record_their_own_steps(data, monkeypatch):
    """One watch, two models, each ``fit`` in a thread of its own: a sampled step's host
    work takes only its own model's kept tensors (the other may be mid-step, its state
    about to be donated), and each model gets every sampled step once, bit for bit what
    it gets alone (the binning slowed down, so the threads overlap in it)."""
    import threading
    import time

    from tfhist_magic.capture._jax_engine import JaxEngine

    orig = JaxEngine._complete
    monkeypatch.setattr(JaxEngine, "_complete", lambda self, g, raw: time.sleep(0.01) or orig(self, g, raw))
    x, y = data
    alone = {}
    for name in ("a", "b"):
        m = make(name=name, seed=len(alone))
        with tfhist_magic.watch(m, every=2) as rec:
            m.fit(x, y, batch_size=4, epochs=1, verbose=0, shuffle=False)
        alone[name] = rec
    models = {name: make(name=name, seed=i) for i, name in enumerate(("a", "b"))}
    errors = []

    def train(m):
        try:
            m.fit(x, y, batch_size=4, epochs=1, verbose=0, shuffle=False)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    with tfhist_magic.watch(*models.values(), every=2) as rec:
        threads = [threading.Thread(target=train, args=(m,)) for m in models.values()]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert errors == []
    for name, one in alone.items():
        for n in one.names("grads"):
            a, b = one.series("grads", n), rec.series("grads", n)
            np.testing.assert_array_equal(b.steps, np.arange(0, 16, 2))
            np.testing.assert_array_equal(b.rows, a.rows)


def test_rows_waiting_for_the_recording_stay_bounded(data, monkeypatch):
    """A lean step's sampled rows are delivered once ``_MAX_PENDING`` wait, not held until
    the epoch ends."""
    from tfhist_magic.capture import _jax_engine as E

    sizes, orig = [], E._Group.block
    monkeypatch.setattr(E, "_MAX_PENDING", 2)
    monkeypatch.setattr(E._Group, "block", lambda self, items: sizes.append(len(items)) or orig(self, items))
    m = make()
    with tfhist_magic.watch(m, every=2) as rec:
        m.fit(*data, batch_size=4, epochs=1, verbose=0)  # 16 steps, 8 sampled
    np.testing.assert_array_equal(rec.series("grads", rec.names("grads")[0]).steps, np.arange(0, 16, 2))
    assert max(sizes) <= 2 and sum(sizes) >= 8


class Halving(keras.Sequential):
    """A custom step that changes the weights after the optimizer's update."""

    def train_step(self, state, data):
        logs, (tv, ntv, ov, mv) = super().train_step(state, data)
        return logs, ([v * 0.5 for v in tv], ntv, ov, mv)


@pytest.mark.parametrize("every", [1, 2])
@pytest.mark.parametrize("cls", [None, Halving], ids=["keras_step", "custom_step"])
def test_update_norms_are_the_optimizers_own_update(data, cls, every, monkeypatch):
    """SGD's update is ``-lr * g``: every weight's update norm at every sampled step is
    ``lr`` times the norm of the gradients recorded at that step, whether the weights after
    the update come from the state Keras' step returns or, for a step that changes them
    after the update, are handed out (``every=1``) or sent by callback (the lean step) as
    the update left them. The lean step learns which when it is traced, before its
    first call."""
    from tfhist_magic.capture._jax_engine import JaxEngine

    from_state, orig = [], JaxEngine.complete
    monkeypatch.setattr(JaxEngine, "complete", lambda self, trainable=None, at=None, groups=None: from_state.append(at is not None) or orig(self, trainable, at, groups))
    m = make(cls=cls)
    with tfhist_magic.watch(m, every=every) as rec:
        m.fit(*data, batch_size=16, epochs=1, verbose=0, shuffle=False)
    if every == 2:  # the host's completions after steps 0 and 2 (and flushes, which take none)
        assert [f for f in from_state if f] == ([True, True] if cls is None else []) and len(rec.scalar("update_norm", rec.names("weights")[0])[0]) == 2
    for n in rec.names("weights"):
        steps, norm = rec.scalar("update_norm", n)
        g = rec.series("grads", n)
        np.testing.assert_array_equal(steps, g.steps)
        np.testing.assert_allclose(norm, 0.1 * g.rows[:, B + H.NORM], rtol=1e-5)


def test_activations_under_mixed_precision(data, monkeypatch):
    """With ``mixed_float16`` Keras wraps the optimizer in a LossScaleOptimizer, whose
    update runs inside a ``lax.cond``: the step's activations, which that branch closes
    over, are still recorded, and equal the layer's own output on the batch (sampled in
    the step's graph: nothing can leave the branch as an output). The wrapper and its
    inner optimizer share one counter, so a model trained before the watch still gets
    steps from 0."""
    from tfhist_magic.capture.jax_keras import Split

    x, y = data
    handed, full = _spy_handed(monkeypatch), []
    orig = Split._run_full
    monkeypatch.setattr(Split, "_run_full", lambda self, *a: full.append(1) or orig(self, *a))
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        m = make(activation="tanh")
        m.fit(x, y, batch_size=16, epochs=1, verbose=0)  # trained before: the watch's steps still start at 0
        want = np.asarray(m.get_layer("hidden")(x[:16]), np.float32)  # step 0's batch, its weights
        with tfhist_magic.watch(m, every=2) as rec:
            m.fit(x, y, batch_size=16, epochs=1, verbose=0, shuffle=False)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert type(m.optimizer).__name__ == "LossScaleOptimizer"
    assert [n.rsplit("/", 1)[-1] for n in rec.names("activations")] == ["hidden", "out"]
    s = rec.series("activations", rec.names("activations")[0])
    np.testing.assert_array_equal(s.steps, [0, 2])
    assert s.dtype == "float32" and s.rows[0, :B].sum() == want.size
    for k, f in ((H.MIN, np.min), (H.MAX, np.max)):
        assert abs(s.rows[0, B + k] - f(want)) <= 2 * np.spacing(np.float16(abs(f(want))))
    assert s.rows[0, B + H.NAN] == 0 and len(rec.names("grads")) == 4
    assert handed == [] and len(full) == 4  # the recording step, sampling in its graph: one compiled step


def test_a_loss_scale_optimizer_that_skips_a_step_keeps_the_steps(data):
    """A batch that overflows in float16 makes the LossScaleOptimizer skip its inner
    update, and its counter with it: the steps recorded are still the counter's, sampled
    where it is a multiple of ``every`` (the host could not count them)."""
    x, y = data
    x = x.copy()
    x[16] = 1e30  # batch 2 of 8 overflows
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        m = make(activation="tanh")
        with tfhist_magic.watch(m, every=2) as rec:
            m.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert int(np.asarray(m.optimizer.iterations.value)) == 7  # one of eight updates skipped
    for kind in ("grads", "activations"):
        np.testing.assert_array_equal(rec.series(kind, rec.names(kind)[0]).steps, [0, 2, 4, 6])


def test_train_on_batch_and_one_timeline_across_fits(data):
    x, y = data
    m = make()
    with tfhist_magic.watch(m, every=2) as rec:
        for _ in range(3):
            m.train_on_batch(x[:16], y[:16])
        m.fit(x, y, batch_size=16, epochs=1, verbose=0)  # steps 3..6
    np.testing.assert_array_equal(rec.series("grads", rec.names("grads")[0]).steps, [0, 2, 4, 6])
    exact(rec.series("weights", rec.names("weights")[0]).rows[-1], values(m)[0])


def _custom_loop(m, x, y):
    """Four steps of a user's own ``jax.jit`` loop over ``stateless_call`` /
    ``stateless_apply`` (traced once before the watch), watched with ``every=1``:
    ``(recording, the gradients of each step from jax.grad)``, then one step after it."""
    opt = m.optimizer
    opt.build(m.trainable_variables)
    ntv = [v.value for v in m.non_trainable_variables]

    def loss(t, xb, yb):
        pred, _ = m.stateless_call(t, ntv, xb, training=True)
        return jnp.mean(jnp.square(pred - yb))

    @jax.jit
    def step(t, ov, xb, yb):
        g = jax.grad(loss)(t, xb, yb)
        return opt.stateless_apply(ov, g, t)

    tv = [v.value for v in m.trainable_variables]
    ov = [v.value for v in opt.variables]
    step(tv, ov, x[:16], y[:16])  # traced before the watch: traced again inside it
    grads = []
    with tfhist_magic.watch(m, every=1) as rec:
        for i in range(4):
            grads.append(jax.grad(loss)(tv, x[16 * i : 16 * i + 16], y[16 * i : 16 * i + 16]))
            tv, ov = step(tv, ov, x[16 * i : 16 * i + 16], y[16 * i : 16 * i + 16])
    n = len(rec)
    step(tv, ov, x[:16], y[:16])  # after the watch the same jitted step runs plainly
    assert len(rec) == n  # nothing recorded, nothing patched
    return rec, grads


def test_custom_loop_over_stateless_call_inside_jit(data):
    x, y = data
    rec, grads = _custom_loop(make(opt=keras.optimizers.Adam(0.01)), x, y)
    names = rec.names("grads")
    for i in range(4):
        exact(rec.series("grads", names[0]).rows[i], np.asarray(grads[i][0]))
    np.testing.assert_array_equal(rec.series("weights", names[0]).steps, [0, 1, 2, 3])
    assert rec.names("activations") == [names[0].rsplit("/", 1)[0], names[2].rsplit("/", 1)[0]]


def test_nan_in_a_batch_is_recorded_in_full_and_named(data):
    x, y = data
    x = x.copy()
    x[40, 2] = np.nan  # batch 5 of 8
    m = make()
    with tfhist_magic.watch(m, every=50) as rec:
        m.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False)
    assert rec.first_nonfinite == 5
    g = rec.series("grads", rec.names("grads")[0])
    np.testing.assert_array_equal(g.steps, [0, 5])  # the first non-finite step, unsampled, in full
    assert g.nan[1] > 0
    a = rec.series("activations", rec.names("activations")[0])
    assert a.nan[1] == 16  # one example's row of the hidden layer: 16 units
    (f,) = [f for f in rec.findings() if f.rule == "non-finite"]
    assert f.first_step == 5 and f.tensor == rec.names("activations")[0]
    # in full from the lean step function: the weights as step 5 read them, its update's scalars
    b = make()
    b.fit(x[:40], y[:40], batch_size=8, epochs=1, verbose=0, shuffle=False)  # steps 0..4
    for i, n in enumerate(rec.names("weights")):
        w = rec.series("weights", n)
        exact(w.rows[list(w.steps).index(5)], values(b)[i])
    steps, dist = rec.scalar("init_distance", rec.names("weights")[0])  # the update itself is NaN
    assert steps.tolist() == [0, 5] and dist[1] > 0


def test_the_distance_from_the_start_is_the_same_a_weight_a_callback(data, monkeypatch):
    """``fit``'s recording step hands the weights it read out, and the host measures each
    ``||w - w0||``: a plain ``fit``'s weights (bit-identical) give the same. A jitted loop
    of the user's sends them to the host in packs (at most ``_PACK`` values a callback,
    else one weight): one pack, or one callback a weight, gives the same distances."""
    from tfhist_magic.capture import _jax_engine as E

    x, y = data
    m = make(name="fit")
    with tfhist_magic.watch(m, every=1) as rec:
        m.fit(x, y, batch_size=16, epochs=1, verbose=0, shuffle=False)
    read = [values(make(name="plain0"))]  # the weights each step read: a plain fit's over the batches before it
    for k in (1, 2, 3):
        plain = make(name=f"plain{k}")
        plain.fit(x[: 16 * k], y[: 16 * k], batch_size=16, epochs=1, verbose=0, shuffle=False)
        read.append(values(plain))
    for i, n in enumerate(rec.names("weights")):
        steps, dist = rec.scalar("init_distance", n)
        want = [np.linalg.norm(r[i].astype(np.float64) - read[0][i]) for r in read[:4]]
        np.testing.assert_array_equal(steps, [0, 1, 2, 3])
        np.testing.assert_allclose(dist, want, rtol=1e-12)
        assert dist[0] == 0 and (dist[1:] > 0).all()
    got = []
    for pack in (E._PACK, 1):
        monkeypatch.setattr(E, "_PACK", pack)
        m = make(name=f"pack{pack}", opt=keras.optimizers.Adam(0.01))
        rec, _ = _custom_loop(m, x, y)
        got.append({n: rec.scalar("init_distance", n) for n in rec.names("weights")})
    assert [len(g) for g in got] == [4, 4]
    for (steps, a), (steps1, b) in zip(got[0].values(), got[1].values()):
        np.testing.assert_array_equal(steps, [0, 1, 2, 3])
        np.testing.assert_array_equal(a, b)
        assert a[0] == 0 and (a[1:] > 0).all()


def test_a_first_nonfinite_step_that_fails_to_record_warns_and_training_goes_on(data, monkeypatch):
    """The first non-finite step of an unsampled lean step is binned at the next flush (an
    epoch's start, the end of ``fit``): a failure there loses that step's rows with a
    warning, and training goes on, bit-identical to a plain ``fit``."""
    x, y = data
    x = x.copy()
    x[40, 2] = np.inf  # batch 5 of 8
    _second_recording_fails(monkeypatch, MemoryError("out of host memory"))
    a, b = make(name="a"), make(name="b")
    with pytest.warns(RuntimeWarning, match="sampled step was not recorded .*out of host memory"):
        with tfhist_magic.watch(a, every=50) as rec:
            a.fit(x, y, batch_size=8, epochs=2, verbose=0, shuffle=False)
    b.fit(x, y, batch_size=8, epochs=2, verbose=0, shuffle=False)
    for va, vb in zip(values(a), values(b)):
        np.testing.assert_array_equal(va, vb)
    assert int(np.asarray(a.optimizer.iterations.value)) == 16
    np.testing.assert_array_equal(rec.series("grads", rec.names("grads")[0]).steps, [0])
    assert rec.first_nonfinite == 5  # marked, though its rows were lost


def test_what_follows_a_nan_batch_is_named_by_the_nan_alone(data):
    # After the NaN batch the hidden layer's weights hold NaN (its bias, and the kernel's
    # row the NaN input feeds), so ReLU passes back exactly 0: the hidden kernel's
    # gradients are all finite and 0. That is the NaN's consequence, not vanishing.
    x, y = data
    x = x.copy()
    x[40, 2] = np.nan  # batch 5 of 8
    m = make()
    with tfhist_magic.watch(m, every=1) as rec:
        m.fit(x, y, batch_size=8, epochs=3, verbose=0, shuffle=False)
    kernel = rec.names("grads")[0]
    g, w = rec.series("grads", kernel), rec.series("weights", kernel)
    later = list(g.steps).index(12)
    assert g.rows[later, :B].sum() == 8 * 16 and g.rows[later, B + H.NORM] == 0  # 0, and finite
    assert w.nan[list(w.steps).index(12)] == 16
    assert [f.rule for f in rec.findings() if f.first_step >= 5] == ["non-finite"], [f.message for f in rec.findings()]


@pytest.mark.parametrize("every", [1, 2])
def test_watched_training_equals_plain_training_and_nothing_stays_patched(data, every):
    before = {c: dict(vars(c)) for c in (keras.Layer, keras.Model, keras.src.optimizers.base_optimizer.BaseOptimizer)}
    a, b = make(), make()
    b.fit(*data, batch_size=16, epochs=1, verbose=0, shuffle=False)  # traced before the watch: its function is set aside
    a.fit(*data, batch_size=16, epochs=1, verbose=0, shuffle=False)
    fn = b.train_function
    with tfhist_magic.watch(every=every) as rec:
        a.fit(*data, batch_size=16, epochs=2, verbose=0, shuffle=False)
    b.fit(*data, batch_size=16, epochs=2, verbose=0, shuffle=False)
    assert len(rec)
    for va, vb in zip(values(a), values(b)):
        np.testing.assert_array_equal(va, vb)  # bit-identical
    for c, d in before.items():
        assert dict(vars(c)) == d, c
    assert b.train_function is fn
    n = len(rec)
    a.fit(*data, batch_size=16, epochs=1, verbose=0)  # trains plainly after the watch
    assert len(rec) == n


@pytest.mark.skipif(not hasattr(jax, "make_user_context"), reason="this JAX clears every cache on entry and exit")
def test_what_was_compiled_before_a_watch_is_not_compiled_again_after_it(data):
    """A watch traces in a context of its own: a user's jitted function and a model's
    train function compiled before it are traced again inside it (and record), and
    found compiled again after it: not one XLA compile after the watch."""
    from jax import monitoring

    x, y = data
    m = make()
    m.fit(x, y, batch_size=16, epochs=1, verbose=0)
    double = jax.jit(lambda a: a * 2.0)
    double(jnp.ones(3))
    compiles = []

    def count(event, duration, **kw):
        if event == "/jax/core/compile/backend_compile_duration":
            compiles.append(event)

    monitoring.register_event_duration_secs_listener(count)
    try:
        with tfhist_magic.watch(m, every=1) as rec:
            m.fit(x, y, batch_size=16, epochs=1, verbose=0)
            double(jnp.ones(3))
        assert len(rec.series("grads", rec.names("grads")[0]).steps) == 4
        inside = len(compiles)
        assert inside > 0  # the train step (and ``double``) compiled anew in the watch
        n = len(rec)
        m.fit(x, y, batch_size=16, epochs=1, verbose=0)
        np.testing.assert_array_equal(double(jnp.ones(3)), 2.0)
        assert len(compiles) == inside and len(rec) == n  # nothing compiled, nothing recorded
    finally:
        monitoring.unregister_event_duration_listener(count)


def test_magics_watch_and_show_a_model(ip, data):
    x, y = data
    ip.user_ns.update(x=x, y=y, jmodel=make())
    ip.run_cell_magic("tfhist_watch", "jmodel --every 2 -o jrec", "jmodel.fit(x, y, batch_size=16, epochs=1, verbose=0)")
    rec = ip.user_ns["jrec"]
    assert set(rec.kinds) == {"activations", "weights", "grads"}
    ip.run_line_magic("tfhist", "jmodel")
    fresh = tfhist_magic.snapshot(ip.user_ns["jmodel"], x=x[:16], y=y[:16])
    m = ip.user_ns["jmodel"]
    exact(fresh.series("weights", m.trainable_variables[0].path).rows[0], values(m)[0])
    hidden = np.asarray(m.get_layer("hidden")(x[:16]))
    exact(fresh.series("activations", fresh.names("activations")[0]).rows[0], hidden)
    assert fresh.names("grads") == [v.path for v in m.trainable_variables]


def test_a_model_built_under_another_backend_is_one_line_usage_error(ip):
    """A model whose class says it was built under the TensorFlow backend (its Keras
    trainer's module names the backend), watched while Keras runs on JAX."""
    trainer = type("TensorFlowTrainer", (), {"__module__": "keras.src.backend.tensorflow.trainer"})
    ip.user_ns["tf_model"] = type("Sequential", (trainer,), {})()
    for magic, line in (("tfhist", "tf_model"), ("tfhist_watch", "tf_model")):
        with pytest.raises(UsageError) as e:
            if magic == "tfhist":
                ip.run_line_magic(magic, line)
            else:
                ip.run_cell_magic(magic, line, "pass")
        msg = str(e.value)
        assert "\n" not in msg and "built under the tensorflow backend" in msg and "runs on the jax backend" in msg, msg
    with pytest.raises(ValueError, match="built under the tensorflow backend"):
        tfhist_magic.watch(ip.user_ns["tf_model"])


def test_pytorch_backend_is_refused_in_one_line(monkeypatch):
    monkeypatch.setattr(keras.backend, "backend", lambda: "torch")
    with pytest.raises(ValueError, match=r"^Received: KERAS_BACKEND=torch, which tfhist_magic does not support yet \(expected tensorflow or jax\)\.$"):
        tfhist_magic.watch().__enter__()


def test_downstream_save_load_views_and_findings(data, tmp_path):
    m = make()
    with tfhist_magic.watch(m, every=1) as rec:
        m.fit(*data, batch_size=16, epochs=1, verbose=0)
    rec.save(tmp_path / "run")
    back = Recording.load(tmp_path / "run")
    for kind in rec.kinds:
        for n in rec.names(kind):
            np.testing.assert_array_equal(back.series(kind, n).rows, rec.series(kind, n).rows)
    assert "Weights" in rec.summary()
    png, meta = rec._repr_png_()
    assert png[:4] == b"\x89PNG" and meta["width"] > 0
    from tfhist_magic.view.saved import SavedView

    assert SavedView(rec)._repr_mimebundle_()  # the saved notebook's dashboard
    out = os.environ.get("TFHIST_JAX_OUT")
    if out:  # for tests/test_jax.py: a JAX run to compare with a TensorFlow run of the same model
        a = make(seed=5)
        np.savez(os.path.join(out, "init.npz"), *values(a))
        with tfhist_magic.watch(a, every=1) as run:
            a.fit(*data, batch_size=16, epochs=1, verbose=0, shuffle=False)
        run.save(os.path.join(out, "jax_run"))
    assert "tensorflow" not in sys.modules
