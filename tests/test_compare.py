"""Compare runs: the distance against independent NumPy computations, matching of names
and steps, real Keras runs that differ in one layer's initialisation, runs saved, read
from TensorBoard and live, the dashboard's packet, and %tfhist --compare."""

import base64
import re
import zlib

import numpy as np
import pytest
from IPython.core.error import UsageError

import tfhist_magic
from tfhist_magic import histogram as H
from tfhist_magic.compare import Comparison, spread, wasserstein1
from tfhist_magic.recording import Recording
from tfhist_magic.view.packet import decode

# -- the distance, against independent computations ----------------------------------------


def _quantile_w1(ea, ca, eb, cb, n=2_000_000):
    """W1 as the integral of |Q_a(t) - Q_b(t)| over t in (0, 1), the quantile functions of
    the piecewise-uniform densities, by the midpoint rule on n points: another formula than
    the CDF one the package integrates exactly."""
    t = (np.arange(n) + 0.5) / n
    return float(np.mean(np.abs(_quantile(ea, ca, t) - _quantile(eb, cb, t))))


T = (np.arange(200_000) + 0.5) / 200_000  # quantile levels for a mixture's std


def _quantile(e, c, t):
    cdf = np.concatenate([[0.0], np.cumsum(c)]) / np.sum(c)
    return np.interp(t, cdf, e)


def test_w1_is_exact_on_known_cases():
    e = np.linspace(-1.0, 2.0, 9)
    c = np.array([0, 3, 1, 4, 1, 5, 9, 2])
    assert wasserstein1(e, c, e, c) == 0.0
    assert wasserstein1(e, c, e + 0.37, c) == pytest.approx(0.37, rel=1e-12)  # a shift moves every value by it
    assert wasserstein1(e, c, e * 3, c) == pytest.approx(2 * wasserstein1(e, c, e * 0, c), rel=1e-12)  # scale about 0
    # U[0, 1] against U[0, 2]: ∫0^1 x/2 dx + ∫1^2 (1 - x/2) dx = 1/2; on other bins alike
    assert wasserstein1([0, 1], [5], [0, 2], [7]) == pytest.approx(0.5, rel=1e-14)
    assert wasserstein1(np.linspace(0, 1, 11), np.ones(10), [0, 1, 2], [1, 1]) == pytest.approx(0.5, rel=1e-14)
    # point masses (bins of no width, as TensorBoard writes a constant): the distance between them
    assert wasserstein1([0.0, 0.0], [4], [3.0, 3.0], [1]) == 3.0
    assert wasserstein1([0.0, 0.0], [1], [-1.0, 1.0], [1]) == pytest.approx(0.5)  # E|U[-1, 1]|
    assert np.isnan(wasserstein1(e, np.zeros(8), e, c))  # no finite values: no distance


def test_w1_equals_the_quantile_integral_on_other_bins():
    rng = np.random.default_rng(3)
    for _ in range(5):
        ea = np.sort(rng.normal(size=rng.integers(2, 40)))
        eb = np.sort(rng.normal(loc=rng.normal(), scale=rng.uniform(0.2, 3), size=rng.integers(2, 70)))
        ca = rng.integers(0, 9, ea.size - 1).astype(float)
        cb = rng.integers(0, 9, eb.size - 1).astype(float)
        ca[0] += 1
        cb[-1] += 1
        got, want = wasserstein1(ea, ca, eb, cb), _quantile_w1(ea, ca, eb, cb)
        assert got == pytest.approx(want, rel=2e-5, abs=1e-9)
        assert got == pytest.approx(wasserstein1(eb, cb, ea, ca), rel=1e-12)  # symmetric


def test_spread_is_the_std_of_the_mixture():
    rng = np.random.default_rng(4)
    ea, eb = np.linspace(-1, 1, 17), np.linspace(0.5, 4, 33)
    ca, cb = rng.integers(0, 20, 16), rng.integers(0, 20, 32)
    t = (np.arange(1_000_000) + 0.5) / 1_000_000
    pooled = np.concatenate([_quantile(ea, ca, t), _quantile(eb, cb, t)])  # equal mixture
    assert spread(ea, ca, eb, cb) == pytest.approx(pooled.std(), rel=1e-5)


# -- synthetic runs: matching of names and steps, what is listed --------------------------


def _run(steps, names, seed=0, shift=None, prefix="net", bins=32):
    """A Recording of ``names`` (weights and grads) under model ``prefix`` at ``steps``:
    normal values, ``shift[name]`` added to a tensor's."""
    rng = np.random.default_rng(seed)
    rec = Recording(bins=bins)
    full = [f"{prefix}/{n}" for n in names]
    for kind in ("weights", "grads"):
        rows = np.stack([np.stack([H.reference_row(rng.normal(size=400).astype(np.float32) * (1 + i) + (shift or {}).get(n, 0.0), bins)
                                   for i, n in enumerate(names)]) for _ in steps])
        rec.add_rows(kind, full, np.asarray(steps), rows)
    rec.add_model(prefix, full)
    return rec


def test_steps_are_matched_to_the_nearest_and_the_comparison_says_so():
    a = _run([0, 10, 20, 30], ["d/kernel"])
    b = _run(list(range(0, 33, 4)), ["d/kernel"], seed=1)
    cmp = tfhist_magic.compare(a, b, labels=["a", "b"])
    m = cmp.matched("weights", "net/d/kernel")  # one model name in both: names as they are
    # a has the fewer snapshots within 0..30: its steps, and b's nearest (the earlier on a tie)
    assert m.reference == 0
    assert m.steps.tolist() == [[0, 0], [10, 8], [20, 20], [30, 28]]
    assert not cmp.exact_steps and "nearest step" in cmp.steps_note and "at most 2 steps apart" in cmp.steps_note
    assert cmp.steps_note in cmp.summary()
    # each step's score is W1 / spread of the snapshots matched (the divisor at least the
    # kind's median spread: here the one tensor's mean spread), computed independently
    sa, sb = a.series("weights", "net/d/kernel"), b.series("weights", "net/d/kernel")
    w = [_quantile_w1(sa.edges[ia], sa.counts[ia], sb.edges[ib], sb.counts[ib], n=400_000) for ia, ib in m.index]
    sig = [float(np.std(np.concatenate([_quantile(sa.edges[ia], sa.counts[ia], T), _quantile(sb.edges[ib], sb.counts[ib], T)]))) for ia, ib in m.index]
    assert cmp.kind_spread["weights"] == pytest.approx(np.mean(sig), rel=1e-4)
    np.testing.assert_allclose(m.w1[:, 0], w, rtol=1e-4)
    np.testing.assert_allclose(m.scores, np.array(w) / np.maximum(sig, np.mean(sig)), rtol=2e-4)
    assert m.score == pytest.approx(m.scores.mean())
    # the same grid: no note
    same = tfhist_magic.compare(a, _run([0, 10, 20, 30], ["d/kernel"], seed=2))
    assert same.exact_steps and same.steps_note is None


def test_tensors_in_one_run_only_are_listed_and_model_names_are_left_out():
    a = _run([0, 1, 2], ["d/kernel", "d/bias", "gone/kernel"], prefix="sequential")
    b = _run([0, 1, 2], ["d/kernel", "d/bias", "new/kernel"], seed=1, shift={"d/bias": 3.0}, prefix="sequential_1")
    cmp = tfhist_magic.compare(a, b, labels=["old", "new"])
    assert "'sequential', 'sequential_1'" in cmp.names_note
    assert [n for n, _ in cmp.ranking("weights")] == ["d/bias", "d/kernel"]  # the shifted one first
    assert cmp.only == {("weights", "gone/kernel"): ("old",), ("grads", "gone/kernel"): ("old",),
                        ("weights", "new/kernel"): ("new",), ("grads", "new/kernel"): ("new",)}
    assert "gone/kernel: only in old" in cmp.summary() and "new/kernel: only in new" in cmp.summary()
    assert cmp.matched("weights", "d/bias").names == ("sequential/d/bias", "sequential_1/d/bias")
    # without a shared model name to leave out, names match as they are
    exact = tfhist_magic.compare(a, _run([0, 1, 2], ["d/kernel"], prefix="sequential"))
    assert exact.names_note is None and [n for n, _ in exact.ranking("weights")] == ["sequential/d/kernel"]


def test_three_runs_score_the_largest_pair_and_rank_all_kinds():
    a = _run([0, 1], ["x", "y"], prefix="m")
    b = _run([0, 1], ["x", "y"], seed=1, prefix="m_1")
    c = _run([0, 1], ["x", "y"], seed=2, shift={"y": 5.0}, prefix="m_2")
    cmp = tfhist_magic.compare(a, b, c)
    assert cmp.labels == ["run 1", "run 2", "run 3"] and len(set(cmp.colors)) == 3
    m = cmp.matched("grads", "y")
    pairs = []
    for r, s in ((0, 1), (0, 2), (1, 2)):
        A, B = cmp.series("grads", "y")[r], cmp.series("grads", "y")[s]
        d = max(spread(A.edges[0], A.counts[0], B.edges[0], B.counts[0]), cmp.kind_spread["grads"])
        pairs.append(wasserstein1(A.edges[0], A.counts[0], B.edges[0], B.counts[0]) / d)
    assert m.scores[0] == pytest.approx(max(pairs), rel=1e-12) and m.w1.shape == (2, 3)
    # the kind's spread: the median over its tensors of their mean spread
    assert cmp.kind_spread["grads"] == pytest.approx(np.median([np.mean(cmp.matched("grads", n).spreads) for n in ("x", "y")]))
    ranked = cmp.ranking()  # every kind's, as (kind, name): the shifted tensor of both kinds first
    assert {t for t, _ in ranked[:2]} == {("weights", "y"), ("grads", "y")} and ranked[1][1] > 3 * ranked[2][1]
    assert [s for _, s in ranked] == sorted((s for _, s in ranked), reverse=True)
    assert {t for t, _ in cmp.ranking()} == {(k, n) for k in ("weights", "grads") for n in ("x", "y")}


def test_bad_arguments():
    a = _run([0], ["x"])
    with pytest.raises(ValueError, match="at least 2"):
        tfhist_magic.compare(a)
    with pytest.raises(TypeError, match="run 2 is a dict"):
        tfhist_magic.compare(a, {})
    with pytest.raises(ValueError, match="3 labels for 2 runs"):
        tfhist_magic.compare(a, a, labels=["x", "y", "z"])
    with pytest.raises(ValueError, match="label 'x' twice"):
        tfhist_magic.compare(a, a, labels=["x", "x"])


def test_the_saved_dashboard_holds_every_run_aligned():
    from tfhist_magic.view.comparing import SavedComparison

    a = _run([0, 10, 20, 30], ["d/kernel", "d/bias", "only_a"])
    b = _run(list(range(0, 33, 4)), ["d/kernel", "d/bias"], seed=1, shift={"d/kernel": 2.0}, prefix="net_1")
    cmp = tfhist_magic.compare(a, b, labels=["a", "b"])
    data, meta = SavedComparison(cmp)._repr_mimebundle_()
    assert 'class="tfh-saved"' in data["text/html"] and base64.b64decode(data["image/png"])[:4] == b"\x89PNG"
    assert data["text/plain"] == cmp.summary() and meta["image/png"]["width"] > 300
    packet = re.search(r'data-packet="([^"]+)"', data["text/html"]).group(1)
    h = decode(zlib.decompress(base64.b64decode(packet)))
    c = h["compare"]
    assert [r["label"] for r in c["runs"]] == ["a", "b"] and [r["color"] for r in c["runs"]] == cmp.colors
    assert c["steps_note"] == cmp.steps_note and c["only"] == [["weights", "only_a", ["a"]], ["grads", "only_a", ["a"]]]
    assert [row[0] for row in c["ranking"]["weights"]] == [n for n, _ in cmp.ranking("weights")] == ["d/kernel", "d/bias"]
    for s in h["series"]:  # row j of each run is the j-th compared step of that run
        m = cmp.matched(s["kind"], s["name"])
        own = cmp.series(s["kind"], s["name"])[s["run"]]
        np.testing.assert_array_equal(s["steps"], m.steps[:, s["run"]])
        np.testing.assert_array_equal(s["counts"], own.counts[m.index[:, s["run"]]])
        np.testing.assert_array_equal(s["edges"], own.edges[m.index[:, s["run"]]])
    assert len(h["series"]) == 2 * 2 * 2
    scores = {t["name"]: t for t in h["scalars"] if t["metric"] == "score.weights"}
    np.testing.assert_array_equal(scores["d/kernel"]["values"], cmp.matched("weights", "d/kernel").scores)


def _with_scalars(rec, prefix, names, steps, scale):
    """``rec`` with each weight's update ratio, update norm and distance from init, and its
    model's global gradient norm, at ``steps`` (values ``scale`` times the step's index)."""
    k = np.arange(1, len(steps) + 1, dtype=np.float64)
    for n in names:
        for metric, unit in (("update_ratio", 1e-3), ("update_norm", 0.1), ("init_distance", 1.0)):
            rec.add_scalars(metric, f"{prefix}/{n}", steps, unit * scale * k)
    rec.add_scalars("grad_norm", prefix, steps, 2.0 * scale * k)
    return rec


def _packet(cmp, **kwargs):
    from tfhist_magic.view.comparing import compare_packet

    return decode(zlib.decompress(compare_packet(cmp, **kwargs)[0]))


def test_the_comparisons_packet_carries_every_runs_scalar_series():
    """The per-step scalars drawn under a tensor (update ratio, update norm, distance from
    init; the model's gradient norm under its gradients) travel for every run, named as the
    comparison names the tensor (a model's: by its label in that run), each saying its run;
    the header says which model each shared tensor belongs to in each run."""
    names = ["d/kernel", "d/bias"]
    a = _with_scalars(_run([0, 10, 20, 30], names), "net", names, [0, 10, 20, 30], 1.0)
    b = _with_scalars(_run(list(range(0, 33, 4)), names, seed=1, prefix="net_1"), "net_1", names, list(range(0, 33, 4)), 3.0)
    cmp = tfhist_magic.compare(a, b, labels=["a", "b"])
    h = _packet(cmp)
    assert [r["models"] for r in h["compare"]["runs"]] == [{"d/kernel": "net", "d/bias": "net"}, {"d/kernel": "net_1", "d/bias": "net_1"}]
    tracks = {(t["metric"], t["name"], t["run"]): t for t in h["scalars"] if not t["metric"].startswith("score.")}
    want = {(m, n, r) for m in ("update_ratio", "update_norm", "init_distance") for n in names for r in (0, 1)}
    want |= {("grad_norm", "net", 0), ("grad_norm", "net_1", 1)}
    assert set(tracks) == want
    for (metric, name, r), t in tracks.items():  # every recorded value of each run (nothing thinned here)
        rec, of = (a, b)[r], name if metric == "grad_norm" else ("net", "net_1")[r] + "/" + name
        steps, values = rec.scalar(metric, of)
        np.testing.assert_array_equal(t["steps"], steps)
        np.testing.assert_array_equal(t["values"], values)
    # thinned to fit: each run's scalars keep the steps its kept snapshots have
    h = _packet(cmp, budget=1_500)
    assert h["saved"]["thinned"]
    kept = {(s["kind"], s["name"], s["run"]): set(s["steps"].tolist()) for s in h["series"]}
    for t in h["scalars"]:
        if t["metric"] in ("update_ratio", "update_norm", "init_distance"):
            assert set(t["steps"].tolist()) == kept[("weights", t["name"], t["run"])]
        elif t["metric"] == "grad_norm":
            assert set(t["steps"].tolist()) == set().union(*(v for (k, _, r), v in kept.items() if k == "grads" and r == t["run"]))


# -- real Keras runs -----------------------------------------------------------------------


def _model(init=None):
    """The same model every time (each initialiser seeded), but for ``init`` of the first layer."""
    import keras

    keras.utils.set_random_seed(0)
    G = keras.initializers.GlorotUniform
    m = keras.Sequential([
        keras.Input((8,)),
        keras.layers.Dense(16, activation="relu", name="hidden", kernel_initializer=init or G(seed=1)),
        keras.layers.Dense(8, activation="relu", name="middle", kernel_initializer=G(seed=2)),
        keras.layers.Dense(1, name="out", kernel_initializer=G(seed=3)),
    ])
    m.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    return m


@pytest.fixture(scope="module")
def runs(ip):
    """Two runs of one model differing only in the first layer's initialisation: one
    watched with %%tfhist_watch, one with tfhist_magic.watch."""
    import keras

    rng = np.random.default_rng(0)
    x = rng.normal(size=(128, 8)).astype("float32")
    y = rng.normal(size=(128, 1)).astype("float32")
    ip.user_ns.update(x=x, y=y, base=_model())
    assert ip.run_cell("%%tfhist_watch --every 1 -o rec_base\nbase.fit(x, y, batch_size=32, epochs=2, shuffle=False, verbose=0)").success
    wide = _model(keras.initializers.RandomNormal(stddev=1.0, seed=1))
    with tfhist_magic.watch(every=1) as rec_wide:
        wide.fit(x, y, batch_size=32, epochs=2, shuffle=False, verbose=0)
    ip.user_ns["rec_wide"] = rec_wide
    return ip.user_ns["rec_base"], rec_wide


def test_runs_differing_in_one_layers_initialisation_rank_its_weights_first(runs):
    base, wide = runs
    cmp = tfhist_magic.compare(base, wide, labels=["glorot", "normal(1)"])
    assert cmp.names_note is not None and cmp.exact_steps and cmp.only == {}
    ranked = cmp.ranking("weights")
    assert ranked[0][0] == "hidden/kernel", ranked
    assert ranked[0][1] > 0.5 and ranked[0][1] > 3 * ranked[1][1], ranked  # far ahead
    assert all(0 <= s <= 2 for _, s in ranked)
    assert cmp.matched("weights", "hidden/kernel").steps[:, 0].tolist() == base.series("weights", base.names("weights")[0]).steps.tolist()


def test_identical_runs_score_zero_across_saved_tensorboard_and_live(runs, tmp_path):
    live, _ = runs
    live.save(tmp_path / "run.npz")
    saved = Recording.load(tmp_path / "run.npz")
    live.to_tensorboard(tmp_path / "tb")
    imported = Recording.from_tensorboard(tmp_path / "tb")
    # the event files come back as the very rows and steps recorded
    for kind in live.kinds:
        assert imported.names(kind) == live.names(kind)
        for name in live.names(kind):
            a, b = live.series(kind, name), imported.series(kind, name)
            np.testing.assert_array_equal(a.steps, b.steps)
            np.testing.assert_array_equal(a.rows, b.rows)
            np.testing.assert_array_equal(a.edges, b.edges)
    cmp = tfhist_magic.compare(saved, imported, live, labels=["saved", "tensorboard", "live"])
    assert cmp.kinds == live.kinds and cmp.only == {} and cmp.exact_steps and cmp.names_note is None
    for kind in cmp.kinds:
        ranked = cmp.ranking(kind)
        assert [n for n, _ in sorted(ranked)] == sorted(live.names(kind))
        assert all(s == 0.0 for _, s in ranked), ranked
        assert all((m.scores == 0).all() for m in cmp.tensors(kind))


def test_two_runs_of_the_same_seed_score_zero(runs, ip):
    base, _ = runs
    again = _model()
    x, y = ip.user_ns["x"], ip.user_ns["y"]
    with tfhist_magic.watch(every=1) as rec:
        again.fit(x, y, batch_size=32, epochs=2, shuffle=False, verbose=0)
    cmp = tfhist_magic.compare(base, rec)
    assert len(cmp) == len(base) and max(s for _, s in cmp.ranking()) < 1e-3


# -- %tfhist --compare ---------------------------------------------------------------------


def _usage(ip, cell):
    res = ip.run_cell(cell)
    err = res.error_in_exec or res.error_before_exec
    assert type(err) is UsageError, res
    return str(err)


def test_magic_compares_names_in_the_namespace(runs, ip, capsys):
    assert ip.run_cell("%tfhist --compare rec_base rec_wide").success
    cmp = ip.user_ns["_tfhist_compare"]
    assert isinstance(cmp, Comparison) and cmp.labels == ["rec_base", "rec_wide"]
    assert cmp.ranking("weights")[0][0] == "hidden/kernel"
    assert "tfhist compare: rec_base vs rec_wide" in capsys.readouterr().out  # the text display
    assert ip.run_cell("%tfhist --compare rec_base rec_wide rec_base --labels a b c").success
    assert ip.user_ns["_tfhist_compare"].labels == ["a", "b", "c"]


def test_magic_usage_errors(runs, ip):
    ip.user_ns["not_a_rec"] = [1, 2]
    msg = _usage(ip, "%tfhist --compare rec_base no_such_run")
    assert "'no_such_run'" in msg and "Recording" in msg
    msg = _usage(ip, "%tfhist --compare rec_base not_a_rec")
    assert msg.startswith("Received: --compare not_a_rec, a list (expected a Recording")
    assert "at least two" in _usage(ip, "%tfhist --compare rec_base")
    assert "2 labels for 3 Recordings" in _usage(ip, "%tfhist --compare rec_base rec_wide rec_base --labels a b")
    assert "'a' twice" in _usage(ip, "%tfhist --compare rec_base rec_wide --labels a a")
    assert "'rec_base' twice" in _usage(ip, "%tfhist --compare rec_base rec_base")
    assert "without --compare" in _usage(ip, "%tfhist --labels a b")
    assert "--compare with --logdir" in _usage(ip, "%tfhist --compare rec_base rec_wide --logdir .")
