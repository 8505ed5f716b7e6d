"""Findings read off a Recording (pure NumPy)."""

import numpy as np

from tfhist_magic import health
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
    got = health.findings(rec)
    assert [f.split(":")[0] for f in got] == ["grads a", "grads b"]


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
