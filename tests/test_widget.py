"""The dashboard without a browser: set control values, assert on state and on what was drawn."""

import base64

import numpy as np

from tfhist_magic import histogram as H
from tfhist_magic.recording import Recording
from tfhist_magic.view.widget import Dashboard


def _recording():
    rng = np.random.default_rng(0)
    rec = Recording(bins=16)
    for step in range(0, 50, 10):
        for kind in ("weights", "grads"):
            for name in ("d/kernel", "d/bias"):
                rec.add(kind, name, step, H.reference_row(rng.normal(step, 1, size=100).astype(np.float32), 16))
    rec.mark_epoch(0, 0)
    rec.mark_epoch(30, 1)
    return rec


def test_tabs_controls_and_drawing():
    rec = _recording()
    d = Dashboard(rec)
    assert [d.tabs.get_title(i) for i in range(3)] == ["Activations", "Weights", "Gradients"]
    assert d.tabs.selected_index == 1  # the first kind that has data
    p = d.panels["grads"]
    assert list(p.tensor.options) == ["d/kernel", "d/bias"]
    assert p.step.max == 4 and p.step.value == 4  # follows the latest
    p.tensor.value = "d/bias"
    p.step.value = 1
    s = rec.series("grads", "d/bias")
    assert p.drawn["name"] == "d/bias" and p.drawn["step"] == 10
    np.testing.assert_array_equal(p.drawn["counts"], s.counts[1])
    np.testing.assert_array_equal(p.drawn["edges"], s.edges[1])
    assert p.image.value[:8] == b"\x89PNG\r\n\x1a\n"
    assert "step 10" in p.info.value and "epoch 0" in p.info.value
    before = p.image.value
    p.mode.value = "time"
    assert p.drawn["mode"] == "time" and p.image.value != before
    assert "No activations recorded" in d.panels["activations"].info.value


def test_live_refresh_follows_new_snapshots():
    rec = _recording()
    d = Dashboard(rec, min_interval=0.0)
    rec.subscribe(d.on_recording_changed)
    rec.add("grads", "d/kernel", 60, H.reference_row(np.arange(5, dtype=np.float32), 16))
    rec.changed()
    p = d.panels["grads"]
    assert p.step.max == 5 and p.drawn["step"] == 60


def test_mimebundle_has_widget_png_and_text():
    rec = _recording()
    data = Dashboard(rec)._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in data
    assert base64.b64decode(data["image/png"])[:4] == b"\x89PNG"
    assert data["text/plain"].startswith("tfhist Recording: 4 series")
    assert "non-finite" not in data["text/plain"].lower()


def test_nonfinite_is_flagged_in_text_and_info():
    rec = Recording(bins=8)
    rec.add("grads", "g", 0, H.reference_row(np.array([1, np.nan, np.inf], np.float32), 8))
    assert "NON-FINITE 2" in rec.summary()
    d = Dashboard(rec)
    assert "NON-FINITE: nan 1, posinf 1" in d.panels["grads"].info.value
