"""tf.compat.v1 Session graphs: recorded values equal sess.run of the same tensors."""

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.python.client import session as _session

import tfhist_magic

v1 = tf.compat.v1


def _hist(values, series, i):
    v = np.asarray(values, dtype=np.float64).ravel()
    return np.histogram(v[np.isfinite(v)], bins=series.edges[i])[0]


def _mlp_graph(opt_name="sgd", seed=0):
    """A 10-16-1 MLP with a relu hidden layer, built with raw v1 ops (no Keras)."""
    g = tf.Graph()
    with g.as_default():
        v1.set_random_seed(seed)
        x = v1.placeholder(tf.float32, [None, 10], name="x")
        y = v1.placeholder(tf.float32, [None, 1], name="y")
        with v1.variable_scope("hidden"):
            w1 = v1.get_variable("kernel", [10, 16], initializer=v1.glorot_uniform_initializer())
            b1 = v1.get_variable("bias", [16], initializer=v1.zeros_initializer())
            h = tf.nn.relu(tf.nn.bias_add(tf.matmul(x, w1), b1))
        with v1.variable_scope("out"):
            w2 = v1.get_variable("kernel", [16, 1], initializer=v1.glorot_uniform_initializer())
            b2 = v1.get_variable("bias", [1], initializer=v1.zeros_initializer())
            out = tf.nn.bias_add(tf.matmul(h, w2), b2)
        loss = tf.reduce_mean(tf.square(out - y))
        opt = {
            "sgd": lambda: v1.train.GradientDescentOptimizer(0.1),
            "momentum": lambda: v1.train.MomentumOptimizer(0.1, 0.9),
            "adam": lambda: v1.train.AdamOptimizer(0.01),
            "rmsprop": lambda: v1.train.RMSPropOptimizer(0.01),
            "adagrad": lambda: v1.train.AdagradOptimizer(0.1),
        }[opt_name]()
        gv = opt.compute_gradients(loss)
        train = opt.apply_gradients(gv)
        init = v1.global_variables_initializer()
    return dict(graph=g, x=x, y=y, h=h, out=out, loss=loss, train=train, init=init, grads=[g_ for g_, _ in gv], vars=[w1, b1, w2, b2])


@pytest.fixture
def batch():
    rng = np.random.default_rng(0)
    return rng.normal(size=(32, 10)).astype(np.float32), rng.normal(size=(32, 1)).astype(np.float32)


@pytest.mark.parametrize("opt_name", ["sgd", "momentum", "adam", "rmsprop", "adagrad"])
def test_training_runs_record_grads_weights_activations(opt_name, batch):
    xb, yb = batch
    m = _mlp_graph(opt_name)
    feed = {m["x"]: xb, m["y"]: yb}
    with v1.Session(graph=m["graph"]) as sess:
        sess.run(m["init"])
        with tfhist_magic.watch(every=2) as rec:
            fetched = []
            for _ in range(5):
                w_before = sess.run(m["vars"])
                # What this step's gradients and activations are, from the graph itself:
                expect_grads, expect_h = sess.run([m["grads"], m["h"]], feed)
                _, got = sess.run([m["train"], m["grads"]], feed)
                fetched.append((w_before, expect_grads, expect_h, got))
    s = rec.series("grads", "hidden/kernel")
    assert s.steps.tolist() == [0, 2, 4]
    for i, k in enumerate([0, 2, 4]):
        w_before, expect_grads, expect_h, got = fetched[k]
        np.testing.assert_array_equal(got[0], expect_grads[0])  # the user's fetch is unchanged
        np.testing.assert_array_equal(s.counts[i], _hist(expect_grads[0], s, i))
        sw = rec.series("weights", "hidden/kernel")
        np.testing.assert_array_equal(sw.counts[i], _hist(w_before[0], sw, i))
        sa = rec.series("activations", m["h"].op.name)
        np.testing.assert_array_equal(sa.counts[i], _hist(expect_h, sa, i))
    # Final weights when the session closed, after 5 updates.
    sw = rec.series("weights", "out/bias")
    assert sw.steps[-1] == 5


def test_gradients_equal_tf_gradients_on_the_same_feed(batch):
    xb, yb = batch
    m = _mlp_graph("sgd")
    feed = {m["x"]: xb, m["y"]: yb}
    with m["graph"].as_default():
        tape_grads = v1.gradients(m["loss"], m["vars"])
    with v1.Session(graph=m["graph"]) as sess:
        sess.run(m["init"])
        expect = sess.run(tape_grads, feed)
        with tfhist_magic.watch(every=1, kinds="grads") as rec:
            sess.run(m["train"], feed)
    for v, g in zip(m["vars"], expect):
        s = rec.series("grads", v.op.name)
        np.testing.assert_array_equal(s.counts[0], _hist(g, s, 0))
        assert s.min[0] == g.min() and s.max[0] == g.max()


def test_user_fetches_are_unchanged_by_watching(batch):
    xb, yb = batch

    def train(watched):
        m = _mlp_graph("adam", seed=3)
        feed = {m["x"]: xb, m["y"]: yb}
        outs = []
        with v1.Session(graph=m["graph"]) as sess:
            sess.run(m["init"])
            ctx = tfhist_magic.watch(every=1) if watched else _Null()
            with ctx:
                for _ in range(3):
                    # (A variable fetched in the same run as its update is a race in
                    # TF1 with or without watching, so weights are fetched apart.)
                    outs.append(sess.run({"loss": m["loss"], "step": m["train"], "grads": m["grads"]}, feed_dict=feed))
                    outs.append(sess.run([m["out"], m["vars"][0]], feed))
            final = sess.run(m["vars"])
        return outs, final

    plain, plain_final = train(False)
    watched, watched_final = train(True)
    for a, b in zip(plain, watched):
        if isinstance(a, dict):
            assert set(a) == set(b) and a["step"] is None and b["step"] is None
            np.testing.assert_array_equal(a["loss"], b["loss"])
            for ga, gb in zip(a["grads"], b["grads"]):
                np.testing.assert_array_equal(ga, gb)
        else:
            for xa, xb_ in zip(a, b):
                np.testing.assert_array_equal(xa, xb_)
    for a, b in zip(plain_final, watched_final):
        np.testing.assert_array_equal(a, b)


class _Null:
    def __enter__(self):
        return None

    def __exit__(self, *a):
        return False


def test_inference_only_run_records_activations_and_close_records_weights(batch):
    """The seed's first and second examples: a graph with no optimizer."""
    xb, _ = batch
    g = tf.Graph()
    with g.as_default():
        x = v1.placeholder(tf.float32, [None, 10])
        with v1.variable_scope("hidden"):
            kernel = v1.get_variable("kernel", [10, 16])
            hidden = tf.nn.relu(tf.matmul(x, kernel))
        init = v1.global_variables_initializer()
    with tfhist_magic.watch(every=1) as rec:
        with v1.Session(graph=g) as sess:  # created inside the watch
            sess.run(init)
            h = sess.run(hidden, {x: xb})
            w = sess.run(kernel)
    assert rec.names("activations") == ["hidden/MatMul", "hidden/Relu"]
    sa = rec.series("activations", hidden.op.name)
    np.testing.assert_array_equal(sa.counts[0], _hist(h, sa, 0))
    assert "grads" not in rec.kinds
    sw = rec.series("weights", "hidden/kernel")
    assert sw.steps.tolist() == [0]
    np.testing.assert_array_equal(sw.counts[0], _hist(w, sw, 0))


def test_exception_keeps_recording_and_undoes_patches(batch):
    xb, yb = batch
    m = _mlp_graph()
    run, close = _session.BaseSession.__dict__["run"], _session.BaseSession.__dict__["close"]
    sess = v1.Session(graph=m["graph"])
    sess.run(m["init"])
    with pytest.raises(RuntimeError, match="boom"):
        with tfhist_magic.watch(every=1) as rec:
            sess.run(m["train"], {m["x"]: xb, m["y"]: yb})
            raise RuntimeError("boom")
    assert _session.BaseSession.__dict__["run"] is run and _session.BaseSession.__dict__["close"] is close
    assert rec.series("grads", "hidden/kernel").steps.tolist() == [0]
    assert rec.series("weights", "hidden/kernel").steps.tolist() == [0, 1]  # the watch's end took the final weights
    sess.close()


def test_finalized_graph_is_binned_on_the_host(batch):
    xb, yb = batch
    m = _mlp_graph()
    with v1.Session(graph=m["graph"]) as sess:
        sess.run(m["init"])
        m["graph"].finalize()
        with tfhist_magic.watch(every=1) as rec:
            _, g, h = sess.run([m["train"], m["grads"], m["h"]], {m["x"]: xb, m["y"]: yb})
    s = rec.series("grads", "hidden/kernel")
    np.testing.assert_array_equal(s.counts[0], _hist(g[0], s, 0))
    assert any("finalized" in n for n in rec.notes)
    # dead units on the host too (no update ratio: the graph cannot take the reads after the update)
    assert rec.scalar("dead_units", m["h"].op.name)[1].tolist() == [np.mean(np.all(h == 0, axis=0))]
    assert rec.scalar_names("update_ratio") == []


def test_session_target_and_snapshot(batch):
    xb, yb = batch
    m = _mlp_graph()
    with v1.Session(graph=m["graph"]) as sess:
        sess.run(m["init"])
        rec = tfhist_magic.snapshot(sess, feed={m["x"]: xb, m["y"]: yb})
        w, h, g = sess.run([m["vars"][0], m["h"], m["grads"][0]], {m["x"]: xb, m["y"]: yb})
        s = rec.series("weights", "hidden/kernel")
        np.testing.assert_array_equal(s.counts[0], _hist(w, s, 0))
        s = rec.series("activations", m["h"].op.name)
        np.testing.assert_array_equal(s.counts[0], _hist(h, s, 0))
        s = rec.series("grads", "hidden/kernel")
        np.testing.assert_array_equal(s.counts[0], _hist(g, s, 0))
        np.testing.assert_array_equal(sess.run(m["vars"][0]), w)  # the snapshot trained nothing
        assert rec.scalar_names("grad_norm") == [] and set(rec.models[f"graph@{id(m['graph']):x}"]) >= {"hidden/kernel", m["h"].op.name}  # as on Keras
        with pytest.raises(ValueError, match="feed"):
            tfhist_magic.snapshot(sess, kinds="activations", feed={})


def test_magics_with_sessions(ip, batch, capsys):
    from IPython.core.error import UsageError

    xb, yb = batch
    m = _mlp_graph()
    sess = v1.Session(graph=m["graph"])
    sess.run(m["init"])
    ip.user_ns.update(sess=sess, m=m, xb=xb, yb=yb, notafeed=[1, 2])
    res = ip.run_cell("%%tfhist_watch sess --every 1\nfor _ in range(3):\n    sess.run(m['train'], {m['x']: xb, m['y']: yb})")
    assert res.success, res.error_in_exec
    rec = ip.user_ns["_tfhist"]
    assert rec.series("grads", "hidden/kernel").steps.tolist() == [0, 1, 2]
    assert rec.series("weights", "hidden/kernel").steps.tolist() == [0, 1, 2, 3]  # open session: taken at cell end
    capsys.readouterr()
    assert ip.run_cell("%tfhist sess --kind grads").success
    assert "Gradients (4)" in capsys.readouterr().out
    # A fresh snapshot with an explicit feed, on another session of the same graph.
    other = v1.Session(graph=m["graph"])
    other.run(m["init"])
    ip.user_ns["other"] = other
    assert ip.run_cell("%tfhist other --kind activations --feed {m['x']: xb}").success
    assert "Activations" in capsys.readouterr().out
    res = ip.run_cell("%tfhist other --kind activations --feed notafeed")
    assert type(res.error_in_exec) is UsageError and "notafeed" in str(res.error_in_exec)
    fresh = v1.Session(graph=m["graph"])
    fresh.run(m["init"])
    ip.user_ns["fresh"] = fresh
    res = ip.run_cell("%tfhist fresh --kind grads")
    assert type(res.error_in_exec) is UsageError and "--feed" in str(res.error_in_exec)
    res = ip.run_cell("%tfhist fresh --data xb")
    assert type(res.error_in_exec) is UsageError and "--feed" in str(res.error_in_exec)
    # A feed that misses a placeholder: TensorFlow's own sentence, with its name.
    res = ip.run_cell("%tfhist fresh --kind grads --feed {m['x']: xb}")
    msg = str(res.error_in_exec)
    assert type(res.error_in_exec) is UsageError and "You must feed a value for placeholder tensor 'y'" in msg, msg
    assert "\n" not in msg
    for s_ in (sess, other, fresh):
        s_.close()
    for k in ("sess", "other", "fresh", "m"):
        ip.user_ns.pop(k)


def test_interactive_session_and_session_created_in_the_watch(batch):
    xb, yb = batch
    m = _mlp_graph("momentum")
    with m["graph"].as_default():
        with tfhist_magic.watch(every=1) as rec:
            sess = v1.InteractiveSession(graph=m["graph"])
            sess.run(m["init"])
            _, g = sess.run([m["train"], m["grads"]], {m["x"]: xb, m["y"]: yb})
            sess.close()
    s = rec.series("grads", "out/kernel")
    np.testing.assert_array_equal(s.counts[0], _hist(g[2], s, 0))
    assert rec.series("weights", "out/kernel").steps.tolist() == [0, 1]


def _probe_graph(sat_std=1.5, dead_bias=None, out_sigmoid=False, lr=0.01):
    """10 -> tanh(16) -> relu(8) -> 1, raw v1 ops; ``dead_bias`` the relu layer's bias
    (-50 kills a unit on every example), ``sat_std`` the tanh kernel's init std."""
    g = tf.Graph()
    with g.as_default():
        v1.set_random_seed(0)
        x = v1.placeholder(tf.float32, [None, 10], name="x")
        y = v1.placeholder(tf.float32, [None, 1], name="y")
        with v1.variable_scope("t"):
            w0 = v1.get_variable("kernel", [10, 16], initializer=v1.random_normal_initializer(stddev=sat_std))
            b0 = v1.get_variable("bias", [16], initializer=v1.zeros_initializer())
            t = tf.tanh(tf.nn.bias_add(tf.matmul(x, w0), b0))
        with v1.variable_scope("r"):
            w1 = v1.get_variable("kernel", [16, 8])
            b1 = v1.get_variable("bias", [8], initializer=v1.constant_initializer(dead_bias if dead_bias is not None else 0.0))
            h = tf.nn.relu(tf.nn.bias_add(tf.matmul(t, w1), b1))
        with v1.variable_scope("out"):
            w2 = v1.get_variable("kernel", [8, 1])
            b2 = v1.get_variable("bias", [1], initializer=v1.constant_initializer(10.0 if out_sigmoid else 0.0))
            out = tf.nn.bias_add(tf.matmul(h, w2), b2)
            if out_sigmoid:  # saturated by its bias
                out = tf.sigmoid(out)
        loss = tf.reduce_mean(tf.square(out - y))
        train = v1.train.AdamOptimizer(lr).minimize(loss)
        init = v1.global_variables_initializer()
    return dict(graph=g, x=x, y=y, t=t, h=h, out=out, train=train, init=init, kernels=[w0, w1, w2], biases=[b0, b1, b2])


def test_session_probes_equal_numpy_on_the_fetched_values(batch):
    """Dead units and saturation of each activation the run computes, and the update ratio
    of each weight matrix (this run's update, from the weights the test fetches before and
    after it), on the sampled runs only."""
    xb, yb = batch
    m = _probe_graph(dead_bias=[-50.0, 0.0] * 4)  # half of the relu units dead on every example
    feed = {m["x"]: xb, m["y"]: yb}
    acts = [m["t"], m["h"], m["out"]]
    with v1.Session(graph=m["graph"]) as sess:
        sess.run(m["init"])
        with tfhist_magic.watch(every=2) as rec:
            weights, values = [], []
            for _ in range(5):
                weights.append([w.astype(np.float64) for w in sess.run(m["kernels"])])
                values.append(sess.run(acts, feed))  # this run's activations: same weights, same feed
                sess.run(m["train"], feed)
            weights.append([w.astype(np.float64) for w in sess.run(m["kernels"])])
    sampled = [0, 2, 4]
    for v_i, v in enumerate(m["kernels"]):
        steps, got = rec.scalar("update_ratio", v.op.name)
        assert steps.tolist() == sampled
        want = [np.std(weights[k + 1][v_i] - weights[k][v_i]) / np.std(weights[k][v_i]) for k in sampled]
        assert min(want) > 1e-4  # the weights moved: the test can tell a ratio from nothing
        np.testing.assert_allclose(got, want, rtol=1e-5)  # float32 reductions
    for a_i, a in enumerate(acts):
        steps, dead = rec.scalar("dead_units", a.op.name)
        assert steps.tolist() == sampled
        np.testing.assert_array_equal(dead, [np.mean(np.all(values[k][a_i] == 0, axis=0)) for k in sampled])
    assert rec.scalar("dead_units", m["h"].op.name)[1][0] == 0.5
    steps, sat = rec.scalar("saturation", m["t"].op.name)
    want = [np.mean(np.abs(values[k][0]) > 0.97) for k in sampled]
    assert 0 < want[0] < 1 and steps.tolist() == sampled
    np.testing.assert_array_equal(sat, want)
    # biases are not weight matrices; a layer's pre-activation (BiasAdd into its Relu/Tanh)
    # is not a layer's output; only Tanh/Sigmoid outputs have a saturated share
    assert rec.scalar_names("update_ratio") == [v.op.name for v in m["kernels"]]
    assert rec.scalar_names("dead_units") == [a.op.name for a in acts]
    assert rec.scalar_names("saturation") == [m["t"].op.name]
    assert rec.outputs == {m["out"].op.name}


def test_session_rules_fire_on_dead_relu_and_saturated_tanh_not_on_the_output(batch):
    xb, yb = batch
    m = _probe_graph(sat_std=8.0, dead_bias=-50.0, out_sigmoid=True)
    with v1.Session(graph=m["graph"]) as sess:
        sess.run(m["init"])
        with tfhist_magic.watch(every=1) as rec:
            for _ in range(3):
                sess.run(m["train"], {m["x"]: xb, m["y"]: (yb > 0).astype(np.float32)})
            out = sess.run(m["out"], {m["x"]: xb})
    by_rule = {f.rule: f for f in rec.findings()}
    assert by_rule["dead-units"].tensors == [m["h"].op.name] and by_rule["dead-units"].value == 1.0, rec.findings()
    assert by_rule["saturation"].tensors == [m["t"].op.name] and by_rule["saturation"].first_step == 0, rec.findings()
    # the output sigmoid (fed only the dead layer's zeros: sigmoid of its bias) is
    # saturated, measured, and not judged: it is the graph's output
    assert rec.outputs == {m["out"].op.name} and np.all(out > 0.97)
    assert rec.scalar("saturation", m["out"].op.name)[1].tolist() == [1.0, 1.0, 1.0]
    assert "out/BiasAdd" not in rec.scalar_names("dead_units")  # the output's pre-activation


def test_healthy_session_has_no_probe_findings(batch):
    xb, yb = batch
    m = _mlp_graph("adam")
    with v1.Session(graph=m["graph"]) as sess:
        sess.run(m["init"])
        with tfhist_magic.watch(every=1) as rec:
            for _ in range(4):
                sess.run(m["train"], {m["x"]: xb, m["y"]: yb})
    assert rec.findings() == [], [f.message for f in rec.findings()]
    assert rec.scalar_names("update_ratio") == ["hidden/kernel", "out/kernel"]
    assert rec.scalar_names("dead_units") == ["hidden/Relu", "out/BiasAdd"]  # not hidden/BiasAdd: Relu's pre-activation


def test_session_update_ratio_only_where_it_is_exact(batch):
    """A reference variable's read aliases its buffer, and a read that no apply op depends
    on may run after the update: neither gets a ratio (a note says so); the resource
    variable beside them does, equal to the weights before and after."""
    xb, yb = batch
    g = tf.Graph()
    with g.as_default():
        x = v1.placeholder(tf.float32, [None, 10])
        y = v1.placeholder(tf.float32, [None, 1])
        ref = v1.get_variable("ref/kernel", [10, 4], use_resource=False)
        res = v1.get_variable("res/kernel", [4, 1])
        other = v1.get_variable("other/kernel", [10, 1])  # updated by a constant: its read is not upstream
        h = tf.nn.relu(tf.matmul(x, ref))
        loss = tf.reduce_mean(tf.square(tf.matmul(h, res) - y)) + tf.reduce_mean(tf.matmul(x, other))
        opt = v1.train.GradientDescentOptimizer(0.05)
        train = opt.apply_gradients(list(zip(tf.gradients(loss, [ref, res]), [ref, res])) + [(tf.fill([10, 1], 0.01), other)])
        init = v1.global_variables_initializer()
    with v1.Session(graph=g) as sess:
        sess.run(init)
        with tfhist_magic.watch(every=1) as rec:
            before = sess.run(res).astype(np.float64)
            sess.run([train, loss], {x: xb, y: yb})
            after = sess.run(res).astype(np.float64)
    assert rec.scalar_names("update_ratio") == ["res/kernel"]
    np.testing.assert_allclose(rec.scalar("update_ratio", "res/kernel")[1], [np.std(after - before) / np.std(before)], rtol=1e-5)
    (note,) = [n for n in rec.notes if "no update ratio" in n]
    assert "ref/kernel" in note and "other/kernel" in note, note


@pytest.mark.parametrize("init_distance", [True, False])
def test_session_update_norm_and_init_distance_equal_numpy(batch, init_distance):
    """Like Keras: every updated weight's ``||w_after - w_before||`` and ``||w_before - w0||``
    (w0: its value at the first sampled run), against the weights the user fetched around
    each run; the watch's w0 variables stay out of the user's collections."""
    xb, yb = batch
    m = _mlp_graph("adam")
    feed = {m["x"]: xb, m["y"]: yb}
    names = ["hidden/kernel", "hidden/bias", "out/kernel", "out/bias"]
    with v1.Session(graph=m["graph"]) as sess:
        sess.run(m["init"])
        sess.run(m["train"], feed)  # trained before the watch: w0 is the value at its first sampled run
        n_globals = len(m["graph"].get_collection(v1.GraphKeys.GLOBAL_VARIABLES))
        with tfhist_magic.watch(every=2, init_distance=init_distance) as rec:
            seen = []
            for _ in range(5):
                before = [a.astype(np.float64) for a in sess.run(m["vars"])]
                sess.run(m["train"], feed)
                seen.append((before, [a.astype(np.float64) for a in sess.run(m["vars"])]))
        assert len(m["graph"].get_collection(v1.GraphKeys.GLOBAL_VARIABLES)) == n_globals
        assert set(sess.run(v1.report_uninitialized_variables())) == set()
    assert rec.scalar_names("update_norm") == names
    assert rec.scalar_names("update_ratio") == ["hidden/kernel", "out/kernel"]
    assert rec.scalar_names("init_distance") == (names if init_distance else [])
    for t, name in enumerate(names):
        steps, norm = rec.scalar("update_norm", name)
        assert steps.tolist() == [0, 2, 4]
        np.testing.assert_allclose(norm, [np.linalg.norm(seen[k][1][t] - seen[k][0][t]) for k in (0, 2, 4)], rtol=1e-5)
        if init_distance:
            _, dist = rec.scalar("init_distance", name)
            w0 = seen[0][0][t]
            np.testing.assert_allclose(dist, [np.linalg.norm(seen[k][0][t] - w0) for k in (0, 2, 4)], rtol=1e-5, atol=1e-12)
            assert dist[0] == 0 and dist[-1] > 0


def test_sessions_one_after_the_other_each_fill_their_w0_and_keep_their_final_weights(batch):
    """A session freed and the next one made (CPython often gives it the freed one's id):
    each fills its own w0 before its first sampled run (its distance from init starts at
    0; the watch never reads a w0 the new session does not hold) and records its final
    weights when it closes."""
    xb, yb = batch
    m = _mlp_graph("sgd")
    feed = {m["x"]: xb, m["y"]: yb}
    finals = []
    with tfhist_magic.watch(every=1) as rec:
        for _ in range(4):
            sess = v1.Session(graph=m["graph"])
            sess.run(m["init"])
            for _ in range(2):
                sess.run(m["train"], feed)
            finals.append(sess.run(m["vars"][0]).astype(np.float64))
            sess.close()
            del sess
    steps, dist = rec.scalar("init_distance", "hidden/kernel")
    assert steps.tolist() == list(range(8))
    np.testing.assert_array_equal(dist[::2], 0.0)  # each session's first run measures from its own w0
    assert (dist[1::2] > 0).all()
    s = rec.series("weights", "hidden/kernel")
    assert [k for k in (2, 4, 6, 8) if k in s.steps.tolist()] == [2, 4, 6, 8]  # every session's final weights
    np.testing.assert_array_equal(s.counts[s.steps.tolist().index(8)], _hist(finals[-1], s, s.steps.tolist().index(8)))
