"""Findings read off a Recording (pure NumPy)."""

import numpy as np
import pytest

from tfhist_magic import health
from tfhist_magic import histogram as H
from tfhist_magic.histogram import reference_row
from tfhist_magic.recording import Recording

rng = np.random.default_rng(0)


def _rec():
    return Recording(bins=16)


def test_healthy_recording_has_no_findings():
    rec = _rec()
    for step in range(3):
        rec.add("activations", "relu", step, reference_row(np.maximum(rng.normal(size=1000), 0).astype(np.float32), 16))
        rec.add("activations", "tanh", step, reference_row(np.tanh(rng.normal(size=1000) * 0.5).astype(np.float32), 16))
        rec.add("weights", "k", step, reference_row(rng.normal(size=100).astype(np.float32), 16))
        rec.add("grads", "k", step, reference_row(rng.normal(size=100).astype(np.float32) * 1e-2, 16))
    assert health.findings(rec) == []


def test_first_non_finite_step_is_named():
    rec = _rec()
    for step in range(5):
        g = rng.normal(size=50).astype(np.float32)
        if step >= 3:
            g[:2] = np.nan
            g[2] = np.inf
        rec.add("grads", "dense/kernel", step, reference_row(g, 16))
    (f,) = health.findings(rec)
    assert "grads dense/kernel" in f and "step 3" in f and "2 NaN" in f and "1 +Inf" in f


def test_dead_units_and_saturation_come_from_the_probes_not_the_zero_share():
    rec = _rec()
    # ~99% exact zeros, but the probe says every unit fired on some example: sparse, not dead
    sparse = np.maximum(rng.normal(size=1000) - 2.5, 0).astype(np.float32)
    rec.add("activations", "dense/sparse", 7, reference_row(sparse, 16))
    rec.add_scalars("dead_units", "dense/sparse", [7], [0.0])
    rec.add("activations", "dense/relu", 7, reference_row(np.zeros(100, np.float32), 16))
    rec.add_scalars("dead_units", "dense/relu", [5, 7], [0.25, 0.75])
    rec.add_scalars("saturation", "dense/tanh", [3, 7], [0.5, 0.9])
    rec.add_scalars("saturation", "dense/sigmoid", [7], [0.1])
    got = {(f.rule, f.tensor): f for f in rec.findings()}
    assert set(got) == {("dead-units", "dense/relu"), ("saturation", "dense/tanh")}, got
    d = got[("dead-units", "dense/relu")]
    assert (d.first_step, d.last_step, d.value, d.threshold) == (7, 7, 0.75, health.DEAD_UNITS_SHARE)
    assert "75% of units output zero for every example" in d.message and "step 7" in d.message
    t = got[("saturation", "dense/tanh")]
    assert (t.first_step, t.last_step, t.value) == (3, 7, 0.9) and "from step 3 to 7" in t.message
    assert {3, 7} <= rec.pins


def test_thresholds_are_configurable(monkeypatch):
    monkeypatch.setattr(health, "DEAD_UNITS_SHARE", 0.2)
    rec = _rec()
    rec.add_scalars("dead_units", "a", [0], [0.25])
    (f,) = rec.findings()
    assert f.threshold == 0.2


def test_vanishing_gradients():
    rec = _rec()
    rec.add("weights", "a", 0, reference_row(rng.normal(size=100).astype(np.float32), 16))
    rec.add("grads", "a", 0, reference_row((rng.normal(size=100) * 1e-12).astype(np.float32), 16))
    rec.add("grads", "b", 0, reference_row(np.zeros(10, np.float32), 16))
    rec.add("grads", "dense/bias", 0, reference_row(np.zeros(10, np.float32), 16))  # not a weight matrix
    (f,) = rec.findings()  # one problem, two tensors: one finding
    assert (f.rule, f.tensor, f.tensors, f.first_step) == ("vanishing-gradients", "a", ["a", "b"], 0)
    assert f.value == 0.0 and f.message.startswith("grads, 2 weight matrices: vanishing at step 0") and "first: a at step 0" in f.message


def test_gradients_that_shrink_as_a_run_converges_are_not_vanishing():
    rec = _rec()
    w = reference_row(rng.normal(size=100).astype(np.float32), 16)
    for step, scale in enumerate([1e-2, 1e-3, 1e-12, 1e-12]):  # healthy, then tiny relative to the weights
        rec.add("weights", "k", step, w)
        rec.add("grads", "k", step, reference_row((rng.normal(size=100) * scale).astype(np.float32), 16))
    assert rec.findings() == []
    rec.add("grads", "k", 4, reference_row(np.zeros(100, np.float32), 16))  # exactly 0: nothing reaches it
    (f,) = rec.findings()
    assert (f.rule, f.tensor, f.first_step, f.value) == ("vanishing-gradients", "k", 4, 0.0)


def _ratios(rec, name, values):
    rec.add_scalars("update_ratio", name, np.arange(len(values)) * 50, values)


def test_update_ratio_rules_and_grouping():
    rec = _rec()
    _ratios(rec, "emb/embeddings", [0.035, 0.02, 0.01])  # Adam(1e-3) on an embedding: healthy
    _ratios(rec, "d1/kernel", [0.5, 0.3, 0.2, 0.05])
    _ratios(rec, "d2/kernel", [0.05, 0.3, 0.25])
    _ratios(rec, "mha/query/bias", [0.9, 0.7, 0.5])  # rank 2 but a bias: not judged
    _ratios(rec, "slow/kernel", [2e-6, 3e-6, 1e-6])
    _ratios(rec, "done/kernel", [3e-3, 1e-3, 1e-7, 1e-8, 1e-8])  # converged: was healthy once
    _ratios(rec, "warm/kernel", [0, 2e-6, 1e-3, 1e-3])  # a warm-up: low at first (a run from step 50), then healthy
    hi, lo = rec.findings()
    assert (hi.rule, hi.tensor, hi.tensors, hi.threshold) == ("update-ratio", "d1/kernel", ["d1/kernel", "d2/kernel"], health.UPDATE_RATIO_HIGH)
    # d1 holds from step 50 (median of two: 0.4) to 150 (0.2); d2 from step 50 (0.175) to 100 (0.25): the highest
    assert (hi.first_step, hi.last_step) == (50, 150) and hi.value == 0.25
    assert hi.message == (
        "weights, 2 weight matrices: update/weight ratio above 0.1 from step 50 to 150 (median of the last 3 sampled steps; "
        "up to 0.25; first: d1/kernel at step 50): the learning rate may be too high."
    )
    assert (lo.tensor, lo.tensors, lo.first_step, lo.last_step, lo.value) == ("slow/kernel", ["slow/kernel"], 50, 100, 2e-6)
    assert "never above 1e-05" in lo.message and "too low" in lo.message
    assert 50 in rec.pins and not {0, 100, 150} & rec.pins  # where each run starts
    assert rec.scalar("update_ratio", "warm/kernel")[1].tolist() == [0, 2e-6, 1e-3, 1e-3]


def test_rules_on_activations_leave_outputs_out():
    rec = _rec()
    rec.add_model("m", ["m/h1", "m/h2", "m/out"], outputs=["m/out"])
    for name in ("m/h1", "m/h2", "m/out"):
        rec.add_scalars("saturation", name, [0, 50], [0.9, 0.95])
        rec.add_scalars("dead_units", name, [0, 50], [0.75, 1.0])
    sat, dead = sorted(rec.findings(), key=lambda f: f.rule, reverse=True)
    assert (sat.rule, sat.tensors, sat.value) == ("saturation", ["m/h1", "m/h2"], 0.95)
    assert (dead.rule, dead.tensors, dead.value) == ("dead-units", ["m/h1", "m/h2"], 1.0)
    assert dead.message.startswith("activations, 2 layers: 50% or more of units output zero for every example of the batch from step 0 to 50 (up to 100%; first: m/h1 at step 0;")
    assert [f.tensor for f in rec.subset(names=["m/h2", "m/out"]).findings()] == ["m/h2", "m/h2"]  # regrouped on the subset's tensors


def _acts(rec, names, stds, step):
    rows = np.stack([reference_row((rng.normal(size=400) * s).astype(np.float32), 16) for s in stds])
    rec.add_rows("activations", names, [step], rows[None])


def test_scale_drift_leaves_the_outputs_out():
    names = ["m/a", "m/b", "m/c", "m/out"]
    # the hidden layers shrink 100x; the output (std 1) would break the monotone run
    rec = _rec()
    rec.add_model("m", names, outputs=["m/out"])
    _acts(rec, names, [1.0, 0.1, 0.01, 1.0], 0)
    (f,) = rec.findings()
    assert (f.rule, f.tensor, f.first_step) == ("scale-drift", "m/a", 0) and f.value == pytest.approx(0.01, rel=0.2)
    assert "from m/a to m/c" in f.message
    # an output in the middle of the list (a multi-output model) is left out too
    rec = _rec()
    rec.add_model("m", ["m/a", "m/out", "m/b", "m/c"], outputs=["m/out"])
    _acts(rec, ["m/a", "m/out", "m/b", "m/c"], [1.0, 5.0, 0.1, 0.01], 0)
    assert [f.rule for f in rec.findings()] == ["scale-drift"]
    # no outputs said (Session graphs, older files): the last activation is taken as the output
    rec = _rec()
    rec.add_model("m", names)
    _acts(rec, names, [1.0, 0.1, 0.01, 1.0], 0)
    assert [f.tensor for f in rec.findings()] == ["m/a"]


def test_feeding_is_proportional_to_the_new_rows(monkeypatch):
    """No per-block work that grows with the Recording: the list of update-ratio names is
    never asked for, and the models are looked up once per layout, not once per block."""
    from tfhist_magic.recording import Recording as R

    class Counting(dict):
        calls = 0

        def items(self):
            Counting.calls += 1
            return super().items()

    def boom(*a, **k):
        raise AssertionError("scalar_names called while feeding")

    rec = _rec()
    rec.models = Counting()
    names = [f"m/d{i}" for i in range(4)]
    weights = [n + "/kernel" for n in names]
    rec.add_model("m", names + weights, outputs=["m/d3"])
    monkeypatch.setattr(R, "scalar_names", boom)
    w = np.stack([reference_row(rng.normal(size=50).astype(np.float32), 16) for _ in weights])
    for step in range(0, 500, 50):
        for n in weights:
            rec.add_scalars("update_ratio", n, [step], [1e-3])
        rec.add_rows("weights", weights, [step], w[None])
        rec.add_rows("grads", weights, [step], w[None] * 1e-2)
        _acts(rec, names, [1, 1, 1, 1], step)
    assert Counting.calls == 1
    assert rec.findings() == []


def _poisoned(rec, steps, nan_at):
    """The rows of a 4-layer model (first, poison, after, out) whose ``poison`` layer outputs
    NaN at step ``nan_at``: later outputs and every gradient go NaN there, every weight after."""
    layers = ["m/first", "m/poison", "m/after", "m/out"]
    weights = ["m/first/kernel", "m/first/bias", "m/after/kernel", "m/after/bias", "m/out/kernel", "m/out/bias"]
    rec.add_model("m", layers + weights, outputs=["m/out"])

    def rows(n, bad):
        return np.stack([reference_row(np.where(np.arange(20) < 3, np.nan, 1.0).astype(np.float32) if b else rng.normal(size=20).astype(np.float32), 16) for b in bad[:n]])[None]

    for step in steps:
        rec.add_rows("activations", layers, [step], rows(4, [False] + [step >= nan_at] * 3))
        rec.add_rows("weights", weights, [step], rows(6, [step > nan_at] * 6))
        rec.add_rows("grads", weights, [step], rows(6, [step >= nan_at] * 6))


def test_non_finite_names_the_first_tensor_in_computation_order_at_the_first_bad_step():
    # the capture checks every step and keeps the first bad one (5) in full, between samples
    rec = _rec()
    rec.mark_nonfinite(5)
    _poisoned(rec, [0, 2, 4, 5, 6, 8], 5)
    f = rec.findings()[0]
    assert (f.rule, f.kind, f.tensor, f.tensors, f.first_step, f.last_step) == ("non-finite", "activations", "m/poison", ["m/poison"], 5, 8)
    assert f.message == (
        "activations m/poison: non-finite values from step 5 (3 NaN; the first step whose gradients or loss went non-finite); "
        "the first tensor in computation order to go bad, 14 more followed."
    )
    assert 5 in rec.kept_steps("activations", "m/poison").tolist()
    # no snapshot of step 5 (a file saved before it was kept): the first bad tensor at step 6,
    # in forward order, is the first layer's kernel; the finding still opens at step 5
    rec = _rec()
    rec.mark_nonfinite(5)
    _poisoned(rec, [0, 2, 4, 6, 8], 5)
    f = rec.findings()[0]
    assert (f.kind, f.tensor, f.first_step) == ("weights", "m/first/kernel", 5)
    assert "from step 5 (the first step whose gradients held NaN/Inf; 3 NaN at step 6)" in f.message
    # and with no every-step check, the interval it began in
    rec = _rec()
    _poisoned(rec, [0, 2, 4, 6, 8], 5)
    f = rec.findings()[0]
    assert (f.tensor, f.first_step) == ("m/first/kernel", 6) and "they began between step 4 and 6" in f.message


def test_kept_steps():
    rec = Recording(bins=4, max_snapshots=4)
    for step in range(10):
        rec.add("weights", "w", step, reference_row(np.ones(3, np.float32), 4))
    assert rec.kept_steps("weights", "w").tolist() == rec.series("weights", "w").steps.tolist()
    assert rec.kept_steps("weights", "w")[-1] == 9 and rec.kept_steps("weights", "nope").size == 0


def test_grouped_findings_in_the_widget_and_saved_files(tmp_path):
    from tfhist_magic.view.widget import Dashboard, decode

    rec = _rec()
    rec.add_scalars("dead_units", "a", [0], [1.0])
    rec.add_scalars("dead_units", "b", [5], [0.5])
    rec.add("grads", "g", 3, reference_row(np.array([1, np.nan], np.float32), 16))
    (d, e) = decode(Dashboard(rec).get_state()["_data"])["findings"]
    assert (d["rule"], d["name"], d["step"]) == ("non-finite", "g", 3)
    assert (e["rule"], e["name"], e["tensors"], e["step"], e["value"]) == ("dead-units", "a", ["a", "b"], 0, 1.0)
    rec.save(tmp_path / "r.npz")
    back = Recording.load(tmp_path / "r.npz").findings()
    assert [f.as_dict() for f in back] == [f.as_dict() for f in rec.findings()]
    # a file saved before findings had ``tensors``
    old = {k: v for k, v in e.items() if k not in ("tensors", "name", "step")}
    rec2 = _rec()
    rec2._health.restore([old])
    assert rec2.findings()[0].tensors == ["a"]


def test_findings_show_in_text_and_widget():
    from tfhist_magic.view.widget import Dashboard, decode

    rec = _rec()
    rec.add("activations", "r", 0, reference_row(np.zeros(100, np.float32), 16))
    rec.add_scalars("dead_units", "r", [0], [1.0])
    assert "finding: activations r: 100% of units output zero for every example of the batch at step 0" in rec.summary()
    (f,) = decode(Dashboard(rec).get_state()["_data"])["findings"]
    assert "dying ReLU" in f["message"] and (f["kind"], f["name"], f["step"], f["rule"]) == ("activations", "r", 0, "dead-units")


def test_subset_keeps_its_tensors_findings():
    rec = _rec()
    rec.add_scalars("dead_units", "a", [0], [1.0])
    rec.add_scalars("dead_units", "b", [0], [1.0])
    assert [f.tensor for f in rec.subset(names=["b"]).findings()] == ["b"]
    assert rec.subset(kinds=["grads"]).findings() == []


def test_a_block_judges_its_gradients_with_its_own_weights_and_update_ratios():
    # One ring flush is one block: the gradients' rules need the block's weight norms and
    # which weights are matrices (their update ratios), so vanishing across depth holds at
    # the block's first step, as when each kind arrived on its own.
    from tfhist_magic.block import Block, deliver

    rec = _rec()
    w = np.stack([reference_row(rng.normal(size=100).astype(np.float32), 16) for _ in range(2)])
    g = np.stack([reference_row((rng.normal(size=100) * s).astype(np.float32), 16) for s in (1e-6, 1e-1)])
    names = ["d1/kernel", "d2/kernel"]
    probes = np.array([[[1e-3, np.nan, np.nan], [1e-3, np.nan, np.nan]]])
    deliver(rec, Block(model="m", steps=[0], names={"weights": names, "grads": names}, rows={"weights": w[None], "grads": g[None]}, probes={"weights": probes}))
    (f,) = rec.findings()
    relative = g[:, 16 + H.NORM] / w[:, 16 + H.NORM]  # the gradients' norms over their weights'
    assert (f.rule, f.tensor, f.first_step) == ("vanishing-gradients", "d1/kernel", 0)
    assert np.isclose(f.value, relative[0] / relative[1])


@pytest.mark.parametrize("weights_go_bad", [True, False])
def test_what_follows_non_finite_weights_is_not_a_finding_of_its_own(weights_go_bad):
    # A NaN update leaves a bias NaN: a ReLU layer before it then passes back exactly 0,
    # so its kernel's gradients are 0 while its kernel stays finite. That is the NaN's
    # consequence (the non-finite finding names it), not vanishing gradients; the same
    # zero gradients behind finite weights are (the control).
    from tfhist_magic.block import Block, deliver

    rec = _rec()
    names = ["d1/kernel", "d1/bias"]
    kernel = rng.normal(size=100).astype(np.float32)
    for step in range(6):
        bias = np.full(10, np.nan if weights_go_bad and step >= 3 else 0.5, np.float32)
        grad = (rng.normal(size=100) if step < 3 else np.zeros(100)).astype(np.float32)
        w = np.stack([reference_row(kernel, 16), reference_row(bias, 16)])[None]
        g = np.stack([reference_row(grad, 16), reference_row(np.ones(10, np.float32), 16)])[None]
        deliver(rec, Block(model="m", steps=[step], names={"weights": names, "grads": names}, rows={"weights": w, "grads": g}))
        if step == 3:  # scalars of a step delivered after its rows (the eager path's order)
            deliver(rec, Block(model="m", steps=[step], scalars={("dead_units", "d1"): ([step], [1.0])}))
    rules = {f.rule for f in rec.findings()}
    if weights_go_bad:
        assert rules == {"non-finite"}, [f.message for f in rec.findings()]
        assert rec.findings()[0].first_step == 3
    else:
        assert {"vanishing-gradients", "dead-units"} <= rules and "non-finite" not in rules
