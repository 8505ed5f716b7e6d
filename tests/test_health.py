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


def test_dead_relu_and_saturated_tanh_and_sigmoid():
    rec = _rec()
    dead = np.maximum(rng.normal(size=1000) - 2.5, 0).astype(np.float32)  # ~99% zeros
    rec.add("activations", "dense/relu", 7, reference_row(dead, 16))
    rec.add("activations", "dense/tanh", 7, reference_row(np.tanh(rng.normal(size=1000) * 20).astype(np.float32), 16))
    sig = 1 / (1 + np.exp(-rng.normal(size=1000) * 30))
    rec.add("activations", "dense/sigmoid", 7, reference_row(sig.astype(np.float32), 16))
    got = health.findings(rec)
    assert any("dense/relu" in f and "dying ReLU" in f and "step 7" in f for f in got), got
    assert any("dense/tanh" in f and "saturated" in f for f in got), got
    assert any("dense/sigmoid" in f and "saturated" in f for f in got), got
    assert not any("dense/relu" in f and "saturated" in f for f in got)


def test_vanishing_gradients():
    rec = _rec()
    rec.add("weights", "a", 0, reference_row(rng.normal(size=100).astype(np.float32), 16))
    rec.add("grads", "a", 0, reference_row((rng.normal(size=100) * 1e-12).astype(np.float32), 16))
    rec.add("grads", "b", 0, reference_row(np.zeros(10, np.float32), 16))
    got = health.findings(rec)
    assert [f.split(":")[0] for f in got] == ["grads a", "grads b"]


def test_findings_show_in_text_and_widget():
    from tfhist_magic.view.widget import Dashboard

    rec = _rec()
    rec.add("activations", "r", 0, reference_row(np.zeros(100, np.float32), 16))
    assert "finding: activations r: 100% of outputs are exactly zero" in rec.summary()
    from tfhist_magic.view.widget import decode

    (f,) = decode(Dashboard(rec).get_state()["_data"])["findings"]
    assert "dying ReLU" in f["message"] and (f["kind"], f["name"], f["step"]) == ("activations", "r", 0)
