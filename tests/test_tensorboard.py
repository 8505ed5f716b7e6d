"""TensorBoard event files out (read back by TensorBoard's own readers) and in (written by
the three real writers), and damaged files."""

import numpy as np
import pytest
import tensorflow as tf
import keras
from IPython.core.error import UsageError

import tfhist_magic
from tfhist_magic.recording import Recording
from conftest import make_mlp

pea = pytest.importorskip("tensorboard.backend.event_processing.plugin_event_accumulator")
from tensorboard.backend.event_processing import event_accumulator as v1_accumulator  # noqa: E402


def _tb_tensors(logdir):
    """TensorBoard's own reader (the data provider's accumulator): tag -> [(step, array)]."""
    acc = pea.EventAccumulator(str(logdir), size_guidance={"tensors": 0})
    acc.Reload()
    return acc, {t: [(e.step, tf.make_ndarray(e.tensor_proto)) for e in acc.Tensors(t)] for t in acc.Tags()["tensors"]}


@pytest.fixture(scope="module")
def recorded():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 8)).astype("float32")
    y = rng.normal(size=(64, 1)).astype("float32")
    y[3, 0] = np.nan  # non-finite counts to carry across
    m = make_mlp()
    with tfhist_magic.watch(every=1, max_snapshots=4) as rec:  # thinned: 8 steps, 4 kept
        m.fit(x, y, batch_size=16, epochs=2, verbose=0)
    return rec


def test_to_tensorboard_is_read_by_tensorboard_with_exact_edges_and_counts(recorded, tmp_path):
    rec = recorded
    recorded.to_tensorboard(tmp_path)
    acc, tensors = _tb_tensors(tmp_path)
    n = 0
    for kind in rec.kinds:
        for name in rec.names(kind):
            s = rec.series(kind, name)
            got = tensors[f"{kind}/{name}"]
            assert acc.SummaryMetadata(f"{kind}/{name}").plugin_data.plugin_name == "histograms"
            assert [st for st, _ in got] == s.steps.tolist()
            for i, (_, t) in enumerate(got):
                np.testing.assert_array_equal(t[:, 0], s.edges[i, :-1])
                np.testing.assert_array_equal(t[:, 1], s.edges[i, 1:])
                np.testing.assert_array_equal(t[:, 2], s.counts[i])
            bad = [float(t) for _, t in tensors[f"{kind}/{name}/non_finite"]]
            assert bad == (s.nan + s.posinf + s.neginf).tolist()
            assert acc.SummaryMetadata(f"{kind}/{name}/non_finite").plugin_data.plugin_name == "scalars"
            n += 1
    assert n == 10 and any(any(v) for k, v in tensors.items() if k.endswith("non_finite"))


def test_tensorboard_round_trip_through_from_tensorboard(recorded, tmp_path):
    rec = recorded
    rec.to_tensorboard(tmp_path)
    back = Recording.from_tensorboard(tmp_path)
    assert back.notes == [] and back.kinds == rec.kinds
    for kind in rec.kinds:
        assert back.names(kind) == rec.names(kind)
        for name in rec.names(kind):
            a, b = rec.series(kind, name), back.series(kind, name)
            np.testing.assert_array_equal(a.steps, b.steps)
            np.testing.assert_array_equal(a.counts, b.counts)
            np.testing.assert_array_equal(a.edges, b.edges)
    for name in rec.scalar_names("update_ratio"):
        np.testing.assert_allclose(back.scalar("update_ratio", name)[1], rec.scalar("update_ratio", name)[1], rtol=1e-6)
    # the dtype comes back (to_tensorboard names it): the page titles a float32 tensor as one
    assert {back.dtype(k, n) for k in back.kinds for n in back.names(k)} == {"float32"}
    # imported Series keep explicit edges through save/load and reach the page as edges
    back.save(tmp_path / "r.npz")
    again = Recording.load(tmp_path / "r.npz")
    s = again.series("grads", rec.names("grads")[0])
    np.testing.assert_array_equal(s.edges, rec.series("grads", rec.names("grads")[0]).edges)


def _tf2_writer(d, data):
    w = tf.summary.create_file_writer(str(d))
    with w.as_default():
        for step, v in enumerate(data):
            tf.summary.histogram("layer1/activations", v, step=step, buckets=17)
            tf.summary.histogram("dense/kernel", v * 3, step=step)
    w.close()


def _tf1_writer(d, data):
    with tf.Graph().as_default():
        ph = tf.compat.v1.placeholder(tf.float32, [None])
        summ = tf.compat.v1.summary.histogram("grads/dense/kernel", ph)
        with tf.compat.v1.Session() as sess:
            fw = tf.compat.v1.summary.FileWriter(str(d))
            for step, v in enumerate(data):
                fw.add_summary(sess.run(summ, {ph: v}), step)
            fw.close()


def _keras_writer(d):
    keras.utils.set_random_seed(0)
    m = keras.Sequential([keras.Input((8,)), keras.layers.Dense(4, name="d1"), keras.layers.Dense(1, name="d2")])
    m.compile("sgd", "mse")
    rng = np.random.default_rng(0)
    m.fit(rng.normal(size=(64, 8)), rng.normal(size=(64, 1)), epochs=3, verbose=0, callbacks=[keras.callbacks.TensorBoard(log_dir=str(d), histogram_freq=1)])
    return m


def _data():
    rng = np.random.default_rng(5)
    return [rng.normal(size=500).astype(np.float32), np.full(10, 2.5, np.float32), rng.exponential(size=300).astype(np.float32)]


def test_from_tensorboard_reads_tf2_histograms_as_logged(tmp_path):
    data = _data()
    _tf2_writer(tmp_path / "tf2", data)
    rec = Recording.from_tensorboard(tmp_path / "tf2")
    _, tensors = _tb_tensors(tmp_path / "tf2")
    assert rec.notes == []
    for tag, kind, name in (("layer1/activations", "activations", "layer1/activations"), ("dense/kernel", "weights", "dense/kernel")):
        s = rec.series(kind, name)
        assert s.steps.tolist() == [0, 1, 2]
        for i, (step, t) in enumerate(tensors[tag]):
            k = len(t)
            np.testing.assert_array_equal(s.counts[i, :k], t[:, 2])
            np.testing.assert_array_equal(s.edges[i, :k], t[:, 0])
            assert s.edges[i, k] == t[-1, 1]
            assert s.counts[i].sum() == data[i].size
        # TensorBoard's own summaries keep float64 buckets whatever the tensor was: the
        # dtype is unknown (it was titled "(float64)" for float32 data); its statistics too
        assert rec.dtype(kind, name) == "unknown" and np.isnan(s.mean).all()
    assert rec.series("activations", "layer1/activations").bins == 17
    assert "mean          —" in rec.summary() and "nan" not in rec.summary()


def test_from_tensorboard_reads_tf1_histograms_as_tensorboard_does(tmp_path):
    data = _data()
    _tf1_writer(tmp_path / "tf1", data)
    rec = Recording.from_tensorboard(tmp_path / "tf1")
    acc = v1_accumulator.EventAccumulator(str(tmp_path / "tf1"), size_guidance={"histograms": 0})
    acc.Reload()
    s = rec.series("grads", "dense/kernel")
    for i, ev in enumerate(acc.Histograms("grads/dense/kernel")):
        h = ev.histogram_value
        k = len(h.bucket)
        np.testing.assert_array_equal(s.counts[i, :k], h.bucket)
        np.testing.assert_array_equal(s.edges[i, : k + 1], [h.min] + list(h.bucket_limit[:-1]) + [h.max])
        assert s.counts[i].sum() == h.num == data[i].size
        assert s.min[i] == h.min and s.max[i] == h.max
        np.testing.assert_allclose(s.mean[i], np.mean(data[i].astype(np.float64)), rtol=1e-5)
        np.testing.assert_allclose(s.std[i], np.std(data[i].astype(np.float64)), rtol=1e-3, atol=1e-6)


def test_from_tensorboard_reads_the_keras_callbacks_histograms(tmp_path):
    m = _keras_writer(tmp_path / "keras")
    rec = Recording.from_tensorboard(tmp_path / "keras", run="train")
    _, tensors = _tb_tensors(tmp_path / "keras" / "train")
    hist = {t: v for t, v in tensors.items() if v and v[0][1].ndim == 2 and v[0][1].shape[1] == 3}
    assert len(hist) == 4 and rec.names("weights") == list(hist)
    sizes = sorted(int(np.prod(v.shape)) for v in m.trainable_variables)
    for tag, got in hist.items():
        s = rec.series("weights", tag)
        assert s.steps.tolist() == [st for st, _ in got] == [0, 1, 2]
        for i, (_, t) in enumerate(got):
            np.testing.assert_array_equal(s.counts[i, : len(t)], t[:, 2])
        assert int(s.counts[-1].sum()) in sizes


def test_damaged_event_files_are_skipped_with_a_note_and_the_rest_loads(tmp_path):
    data = _data()
    _tf2_writer(tmp_path / "src" / "tf2", data)
    _tf1_writer(tmp_path / "src" / "tf1", data)
    _keras_writer(tmp_path / "src" / "keras")
    good = tmp_path / "logs" / "good"
    _tf2_writer(good, data)
    bad = []
    for f in sorted((tmp_path / "src").rglob("*tfevents*")):
        raw = f.read_bytes()
        for what, blob in (("truncated", raw[: len(raw) * 2 // 3]), ("garbage", np.random.default_rng(1).bytes(300)), ("empty", b"")):
            p = tmp_path / "logs" / f"{f.parent.name}_{what}" / f.name
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(blob)
            bad.append((what, p))
    rec = Recording.from_tensorboard(tmp_path / "logs")
    assert all("\n" not in n for n in rec.notes)
    want = {"truncated": "truncated or malformed after", "garbage": "truncated or malformed after 0 records (corrupted record at 0)", "empty": "empty event file"}
    for what, p in bad:
        assert sum(n.startswith(f"{p}: {want[what]}") for n in rec.notes) == 1, (what, rec.notes)
    # a cut inside a record is noticed; what came before it still loads
    assert "tf2_truncated/layer1/activations" in rec.names("activations")
    s = rec.series("activations", "good/layer1/activations")
    assert s.steps.tolist() == [0, 1, 2] and s.counts[0].sum() == data[0].size


def test_event_files_cut_inside_a_record_header_say_truncated(tmp_path):
    """TensorFlow's reader ends without an error at a cut inside a record's 12-byte
    header: such a file is truncated, not a file without histograms."""
    _tf2_writer(tmp_path / "src", _data())
    (src,) = (tmp_path / "src").rglob("*tfevents*")
    raw = src.read_bytes()
    ends = [0]  # where each record ends: 8-byte length, 4-byte CRC, data, 4-byte CRC
    while ends[-1] < len(raw):
        ends.append(ends[-1] + 16 + int.from_bytes(raw[ends[-1] : ends[-1] + 8], "little"))
    assert ends[-1] == len(raw) and len(ends) > 4
    cuts = {"at1": (1, 0), "at5": (5, 0), "at11": (11, 0), "second": (ends[1] + 5, 1), "third": (ends[2] + 11, 2)}
    for what, (n, _) in cuts.items():
        p = tmp_path / "logs" / what / src.name
        p.parent.mkdir(parents=True)
        p.write_bytes(raw[:n])
    rec = Recording.from_tensorboard(tmp_path / "logs")
    for what, (n, records) in cuts.items():
        rest = "the rest of the file was skipped." if records > 1 else "nothing in it was read."
        want = f"{tmp_path / 'logs' / what / src.name}: truncated or malformed after {records} records (truncated record at {ends[records]}); {rest}"
        assert rec.notes.count(want) == 1, (what, rec.notes)
    # what came before the cut still loads: the first histogram, at step 0
    assert rec.names("activations") == ["layer1/activations"] and list(rec.models) == ["third"]
    assert rec.series("activations", "layer1/activations").steps.tolist() == [0]
    only = Recording.from_tensorboard(tmp_path / "logs", run="at5")
    assert only.notes[0].startswith(f"{tmp_path / 'logs' / 'at5' / src.name}: truncated or malformed after 0 records")
    assert len(only) == 0


def test_run_and_tag_filters(tmp_path):
    data = _data()
    _tf2_writer(tmp_path / "a", data)
    _tf2_writer(tmp_path / "b", data)
    both = Recording.from_tensorboard(tmp_path)
    assert sorted(both.models) == ["a", "b"] and both.names("activations") == ["a/layer1/activations", "b/layer1/activations"]
    one = Recording.from_tensorboard(tmp_path, run="b", tag="kernel$")
    assert one.kinds == ("weights",) and one.names("weights") == ["dense/kernel"]
    none = Recording.from_tensorboard(tmp_path, tag="nothing")
    assert len(none) == 0 and "no histogram summaries" in none.notes[0]
    with pytest.raises(FileNotFoundError):
        Recording.from_tensorboard(tmp_path / "missing")


def test_magics_logdir_in_and_out(ip, tmp_path, capsys):
    rng = np.random.default_rng(0)
    ip.push({"x": rng.normal(size=(32, 8)).astype("float32"), "y": rng.normal(size=(32, 1)).astype("float32"), "m": make_mlp()})
    out = tmp_path / "out"
    assert ip.run_cell(f"%%tfhist_watch --every 1 --logdir {out}\nm.fit(x, y, batch_size=16, epochs=1, verbose=0)").success
    watched = ip.user_ns["_tfhist"]
    assert len(list(out.glob("*tfevents*"))) == 1
    capsys.readouterr()
    ip.run_line_magic("tfhist", f"--logdir {out} --tag ^grads/")
    shown = capsys.readouterr().out
    back = ip.user_ns["_tfhist"]
    assert back.kinds == ("grads",) and back.names("grads") == watched.names("grads")
    assert watched.names("grads")[0] in shown
    for line, msg in (
        (f"--logdir {tmp_path / 'missing'}", "no such directory"),
        (f"--logdir {out} --tag (", "not a regular expression"),
        ("--run a", "without --logdir"),
        (f"m --logdir {out}", "name no model"),
    ):
        with pytest.raises(UsageError, match=msg):
            ip.run_line_magic("tfhist", line)
