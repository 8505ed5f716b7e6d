"""The paths users train on: XLA, eager loops with extra model calls, functions traced
inside a watch, sparse gradients, sampled NaN findings, models that share a name."""

import numpy as np
import tensorflow as tf
import keras

import tfhist_magic
from tfhist_magic import health
from tfhist_magic.recording import Recording
from tfhist_magic.histogram import reference_row
from conftest import make_mlp
from test_watch_keras import _hist


def _sgd_step(m):
    """A custom training step in a tf.function, as users write one."""
    opt = keras.optimizers.SGD(0.01)

    @tf.function
    def step(xb, yb):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean((m(xb, training=True) - yb) ** 2)
        opt.apply_gradients(zip(tape.gradient(loss, m.trainable_variables), m.trainable_variables))
        return loss

    return step


def test_jit_compile_fit_is_watched_exactly(data):
    """Keras 3 compiles fit with XLA on every GPU machine: the watch must hold there."""
    x, y = data
    m = make_mlp()
    m.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse", jit_compile=True)
    w0 = [v.numpy().copy() for v in m.trainable_variables]
    with tf.GradientTape() as tape:
        loss = keras.losses.MeanSquaredError()(y, m(x, training=True))
    expect = tape.gradient(loss, m.trainable_variables)
    hidden = keras.Model(m.inputs, m.get_layer("hidden").output)(x).numpy()
    with tfhist_magic.watch(every=1) as rec:
        m.fit(x, y, batch_size=len(x), epochs=2, shuffle=False, verbose=0)
    for v, g, w in zip(m.trainable_variables, expect, w0):
        s = rec.series("grads", v.path)
        np.testing.assert_array_equal(s.steps, [0, 1])
        # XLA's gradient is not bit-identical to the eager tape's (fused arithmetic):
        # a value may sit one ulp across an edge. (The exact contract on the XLA path
        # is tested on the same values in test_ops.)
        g = g.numpy()
        np.testing.assert_allclose([s.min[0], s.max[0]], [g.min(), g.max()], rtol=1e-5, atol=1e-7)
        assert s.counts[0].sum() == g.size
        assert np.abs(s.counts[0] - np.histogram(np.clip(g, s.edges[0][0], s.edges[0][-1]), bins=s.edges[0])[0]).sum() <= 4
        sw = rec.series("weights", v.path)
        np.testing.assert_array_equal(sw.counts[0], _hist(w, sw, 0))
        np.testing.assert_array_equal(sw.counts[-1], _hist(v.numpy(), sw, -1))
    sa = rec.series("activations", [n for n in rec.names("activations") if n.endswith("hidden")][0])
    np.testing.assert_allclose(sa.max[0], hidden.max(), rtol=1e-5)
    assert np.abs(sa.counts[0] - np.histogram(np.clip(hidden, sa.edges[0][0], sa.edges[0][-1]), bins=sa.edges[0])[0]).sum() <= 4


def test_xla_step_with_more_than_a_million_values():
    keras.utils.set_random_seed(1)
    m = keras.Sequential([keras.Input((1000,)), keras.layers.Dense(1100, name="wide")])
    opt = keras.optimizers.SGD(0.01)
    x = np.random.default_rng(1).normal(size=(4, 1000)).astype("float32")

    @tf.function(jit_compile=True)
    def step(xb):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(m(xb, training=True) ** 2)
        opt.apply_gradients(zip(tape.gradient(loss, m.trainable_variables), m.trainable_variables))

    kernel0 = m.trainable_variables[0].numpy().copy()
    with tfhist_magic.watch(every=1, kinds="weights") as rec:
        step(x)
    s = rec.series("weights", m.trainable_variables[0].path)
    assert kernel0.size > 1_000_000
    np.testing.assert_array_equal(s.counts[0], _hist(kernel0, s, 0))


def _all_op_types(concrete) -> list[str]:
    gd = concrete.graph.as_graph_def()
    return [n.op for n in gd.node] + [n.op for f in gd.library.function for n in f.node_def]


def test_xla_step_is_compiled_once_not_every_call(data):
    """A sliced assign at a moving ring slot is a compile-time constant to XLA: the step
    was recompiled on every call (0.6 s a step). The ring is written with a scatter."""
    x, y = data
    step = _sgd_step(make_mlp())
    step = tf.function(step.python_function, jit_compile=True)
    with tfhist_magic.watch(every=2) as rec:
        for _ in range(3):
            step(x, y)
        (cf,) = step._list_all_concrete_functions()
        ops = _all_op_types(cf)
    assert "ResourceScatterUpdate" in ops
    assert not any(op.startswith(("ResourceStridedSliceAssign", "StridedSliceAssign")) for op in ops)
    np.testing.assert_array_equal(rec.series("grads", rec.names("grads")[0]).steps, [0, 2])


def test_eager_extra_model_calls_do_not_replace_the_training_activations(data):
    x, y = data
    m = make_mlp()
    opt = keras.optimizers.SGD(0.01)
    probe = x * 1000.0  # a monitoring batch, far from the training batch
    expected = []
    with tfhist_magic.watch(every=1, kinds="activations") as rec:
        for i in range(3):
            xb, yb = x[16 * i : 16 * (i + 1)], y[16 * i : 16 * (i + 1)]
            m(probe)  # before the step
            with tf.GradientTape() as tape:
                out = m(xb, training=True)
                loss = tf.reduce_mean((out - yb) ** 2)
            expected.append(out.numpy())
            grads = tape.gradient(loss, m.trainable_variables)
            m(probe)  # between the backward pass and the update
            opt.apply_gradients(zip(grads, m.trainable_variables))
    s = rec.series("activations", [n for n in rec.names("activations") if n.endswith("out")][0])
    np.testing.assert_array_equal(s.steps, [0, 1, 2])
    for i, out in enumerate(expected):
        assert s.max[i] == out.max() and s.min[i] == out.min()
        np.testing.assert_array_equal(s.counts[i], _hist(out, s, i))


def test_fit_run_eagerly_with_validation_keeps_the_training_batch(data):
    x, y = data
    m = make_mlp()
    m.compile(optimizer=keras.optimizers.SGD(0.0), loss="mse", run_eagerly=True)  # lr 0: outputs stay put
    with tfhist_magic.watch(every=1, kinds="activations") as rec:
        m.fit(x, y, batch_size=len(x), epochs=2, shuffle=False, verbose=0, validation_data=(x * 1000.0, y))
    out = m(x).numpy()
    s = rec.series("activations", [n for n in rec.names("activations") if n.endswith("out")][0])
    np.testing.assert_array_equal(s.steps, [0, 1])
    np.testing.assert_allclose(s.max, [out.max()] * 2, rtol=1e-6)


def test_function_traced_in_a_watch_runs_plain_after_it_and_is_recorded_again(data):
    x, y = data
    step = _sgd_step(make_mlp())
    with tfhist_magic.watch(every=1) as rec:
        for _ in range(3):
            step(x, y)
    assert len(rec.series("grads", rec.names("grads")[0])) == 3
    step(x, y)  # after the watch: traced anew, without the recording
    (plain,) = step._list_all_concrete_functions()
    ops = [op.type for op in plain.graph.get_operations()]
    assert "If" not in ops and "StatelessIf" not in ops  # no sampled branch left
    assert not any("tfhist" in v.name for v in plain.graph.variables)
    with tfhist_magic.watch(every=1) as rec2:  # a later watch records it
        for _ in range(2):
            step(x, y)
    np.testing.assert_array_equal(rec2.series("grads", rec2.names("grads")[0]).steps, [0, 1])
    step(x, y)
    assert len(step._list_all_concrete_functions()) == 1  # the plain trace is back


def test_sparse_gradients_are_densified_only_on_sampled_steps():
    keras.utils.set_random_seed(0)
    m = keras.Sequential([keras.Input((3,), dtype="int32"), keras.layers.Embedding(1000, 8, name="emb"), keras.layers.Flatten(), keras.layers.Dense(1)])
    opt = keras.optimizers.SGD(0.1)
    ids = np.array([[1, 2, 2], [7, 1, 999]], np.int32)
    yb = np.ones((2, 1), np.float32)

    def make():
        @tf.function
        def step(xb, t):
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean((m(xb, training=True) - t) ** 2)
            grads = tape.gradient(loss, m.trainable_variables)
            assert isinstance(grads[0], tf.IndexedSlices)
            opt.apply_gradients(zip(grads, m.trainable_variables))

        return step

    def outer_ops(step):
        (cf,) = step._list_all_concrete_functions()
        return [op.type for op in cf.graph.get_operations()]

    plain = make()
    plain(ids, yb)
    base = outer_ops(plain)
    watched = make()
    table0 = m.trainable_variables[0].numpy().copy()
    with tfhist_magic.watch(every=2, kinds="grads") as rec:
        watched(ids, yb)
        added = outer_ops(watched)
    heavy = ("UnsortedSegmentSum", "ScatterNd", "TensorScatterAdd", "Gather", "GatherV2")
    for op in heavy:  # nothing sized like the table outside the sampled branch
        assert added.count(op) == base.count(op), op
    # and the sampled step's histogram is of the dense gradient
    s = rec.series("grads", m.trainable_variables[0].path)
    dense = (table0 - m.trainable_variables[0].numpy()) / 0.1
    np.testing.assert_array_equal(s.counts[0], _hist(dense, s, 0))
    assert s.zeros[0] >= dense.size - 5 * 8


def test_first_nonfinite_step_is_exact_between_samples(data):
    x, y = data
    step = _sgd_step(make_mlp())
    bad = y.copy()
    bad[0, 0] = np.nan  # one bad target at step 14: the loss and every gradient go NaN
    with tfhist_magic.watch(every=50) as rec:
        for i in range(60):
            step(x, bad if i == 14 else y)
    assert rec.first_nonfinite == 14
    text = " ".join(health.findings(rec))
    assert "from step 14" in text
    # step 14 was recorded in full (a forced snapshot between the samples 0 and 50)
    assert all(rec.series("grads", n).steps.tolist() == [0, 14, 50] for n in rec.names("grads"))
    assert all(rec.series("grads", n).nan[1] == rec.series("grads", n).size[1] for n in rec.names("grads"))


def test_first_nonfinite_step_in_an_eager_loop(data):
    x, y = data
    m = make_mlp()
    opt = keras.optimizers.SGD(0.01)
    bad = y.copy()
    bad[0, 0] = np.inf
    with tfhist_magic.watch(every=5, kinds="weights") as rec:
        for i in range(8):
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean((m(x, training=True) - (bad if i == 3 else y)) ** 2)
            opt.apply_gradients(zip(tape.gradient(loss, m.trainable_variables), m.trainable_variables))
    assert rec.first_nonfinite == 3


def test_first_nonfinite_without_a_check_names_the_interval():
    rec = Recording(bins=8)
    rec.add("grads", "g", 0, reference_row(np.ones(4, np.float32), 8))
    rec.add("grads", "g", 50, reference_row(np.array([np.nan, 1, 2], np.float32), 8))
    (f,) = health.findings(rec)
    assert "between step 0 and 50" in f


def test_two_models_with_one_name_are_kept_apart(ip, data):
    x, y = data
    ip.push({"x": x, "y": y, "a": make_mlp(0, name="twin"), "b": make_mlp(1, hidden=4, name="twin")})
    assert ip.run_cell("%%tfhist_watch --every 1\na.fit(x, y, epochs=1, verbose=0)\nb.fit(x, y, epochs=1, verbose=0)").success
    rec = ip.user_ns["_tfhist"]
    assert sorted(rec.models) == ["twin", "twin#2"]
    a_names, b_names = rec.models["twin"], rec.models["twin#2"]
    assert not set(a_names) & set(b_names)
    mag = ip.magics_manager.registry["TfHistMagics"]
    assert mag.last_watch.recorded_names(ip.user_ns["b"]) == b_names
    kernel_b = [n for n in b_names if n.endswith("hidden/kernel")]
    assert kernel_b and rec.series("weights", kernel_b[0]).edges.shape[1] == 65


def test_last_watch_keeps_no_buffers_or_variables(ip, data):
    import gc
    import weakref

    x, y = data
    ip.push({"x": x, "y": y, "model": make_mlp()})
    assert ip.run_cell("%%tfhist_watch --every 1\nmodel.fit(x, y, epochs=1, verbose=0)").success
    mag = ip.magics_manager.registry["TfHistMagics"]
    assert type(mag.last_watch).__name__ == "Seen"
    assert mag.last_watch.recorded_names(ip.user_ns["model"])
    # Nothing reachable from it is a TensorFlow variable (ring buffers, trained weights).
    seen, stack = set(), [mag.last_watch]
    while stack:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, (weakref.ref, type)):
            continue
        seen.add(id(obj))
        assert not isinstance(obj, (tf.Variable, keras.Variable)), obj
        if isinstance(obj, (dict, list, tuple, set)) or hasattr(obj, "__dict__"):
            stack.extend(gc.get_referents(obj))
