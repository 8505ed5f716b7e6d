"""The dashboard a notebook keeps: a self-contained ``text/html`` output (the page code and
the data inlined) with the picture and the text beside it, bounded in size; what the
static picture and the text say. No TensorFlow: Recordings from NumPy rows."""

import base64
import html
import json
import re
import warnings
import zlib

import numpy as np
import pytest

from tfhist_magic import histogram as H
from tfhist_magic.recording import Recording
from tfhist_magic.view import LiveView, show
from tfhist_magic.view.packet import decode
from tfhist_magic.view.saved import BUDGET, SavedView
from tfhist_magic.view.static import chosen, overview_png

WIDGET = "application/vnd.jupyter.widget-view+json"


def _recording(nan_at=None):
    rng = np.random.default_rng(0)
    rec = Recording(bins=16)
    for step in range(0, 50, 10):
        for kind in ("weights", "grads"):
            for name in ("d/kernel", "d/bias"):
                values = rng.normal(step, 1, size=100).astype(np.float32)
                if kind == "grads" and name == "d/kernel" and nan_at is not None and step >= nan_at:
                    values[:] = np.nan
                rec.add(kind, name, step, H.reference_row(values, 16))
    if nan_at is not None:
        rec.mark_nonfinite(nan_at)
    rec.add_scalars("update_ratio", "d/kernel", [0, 10, 20, 30, 40], [1e-3] * 5)
    rec.add_model("mlp", ["d/kernel", "d/bias"])
    return rec


def _packet_of(page: str) -> dict:
    """The packet a saved output carries, decoded as the page decodes it."""
    data = re.search(r'data-packet="([^"]+)"', page).group(1)
    assert re.search(r'data-encoding="deflate"', page)
    return decode(zlib.decompress(base64.b64decode(data)))


def test_the_saved_bundle_draws_without_a_kernel():
    """No widget reference (a reopened notebook has no model: "model not found"): the
    page code and the data inlined as text/html, the PNG and the text beside it, and
    inside the HTML what shows where no script runs: findings, picture, summary."""
    rec = _recording(nan_at=30)
    data, meta = SavedView(rec)._repr_mimebundle_()
    assert set(data) == {"text/html", "image/png", "text/plain"} and WIDGET not in data
    assert base64.b64decode(data["image/png"])[:4] == b"\x89PNG" and meta["image/png"]["width"] > 0
    page = data["text/html"]
    assert page.startswith('<div class="tfh-saved"') and "<script>" in page and "mountSaved(root)" in page
    module = html.unescape(re.search(r'data-module="([^"]+)"', page).group(1))
    assert "async function mountSaved" in module and "  mountSaved," in module and "</script" not in module.lower()
    fallback = page[page.index('<div class="tfh-fallback"') : page.index('<div class="tfh-host">')]
    assert "<script" not in fallback
    assert "non-finite values from step 30" in fallback and "error:" in fallback  # the findings, first
    assert f'src="data:image/png;base64,{data["image/png"]}"' in fallback  # the picture
    assert html.escape(data["text/plain"]) in fallback  # the text summary
    # the data: every kept row of every Series, exactly (a small recording is saved whole)
    h = _packet_of(page)
    assert h["full"] and not h["live"] and h["saved"]["thinned"] is False
    assert [(s["kind"], s["name"]) for s in h["series"]] == [(k, n) for k in ("weights", "grads") for n in ("d/kernel", "d/bias")]
    for s in h["series"]:
        want = rec.series(s["kind"], s["name"])
        assert s["kept"] == s["recorded"] == len(want)
        np.testing.assert_array_equal(s["rows"], want.rows)
        np.testing.assert_array_equal(s["edges"], want.edges)
    (c,) = h["scalars"]
    assert c["values"].tolist() == [1e-3] * 5
    assert h["findings"][0]["rule"] == "non-finite" and h["first_nonfinite"] == 30


def _big(series: int, snaps: int = 100, bins: int = 64) -> Recording:
    rng = np.random.default_rng(0)
    rec = Recording(bins=bins)
    names = [f"m/block_{i // 8}/layer_{i}/kernel" for i in range(series // 3)]
    steps = np.arange(snaps) * 10
    for kind in ("activations", "weights", "grads"):
        base = np.stack([H.reference_row(rng.normal(0, 1 + i % 5, size=300).astype(np.float32), bins) for i in range(len(names))])
        rows = np.repeat(base[None], snaps, axis=0)
        rows[:, :, :bins] = rng.poisson(rows[:, :, :bins] + 0.3)  # counts that change, as in real runs
        rows[:, :, bins + H.MEAN] += rng.normal(0, 1e-3, size=rows.shape[:2])
        if kind == "grads":
            rows[snaps // 2 :, 7, bins + H.NAN] = 3  # a tensor that went bad half-way
        rec.add_rows(kind, names, steps, rows)
    rec.mark_nonfinite(int(steps[snaps // 2]))
    for n in names:
        rec.add_scalars("update_ratio", n, steps, rng.uniform(1e-4, 1e-2, snaps))
    rec.add_model("m", names)
    return rec


@pytest.mark.parametrize("series", [501, 600])
def test_the_saved_output_is_bounded(series):
    """500 and 600 Series x 100 snapshots: the output as stored in the notebook (the
    .ipynb's JSON) stays under 2 MB; every Series is kept, thinned evenly with its first
    and latest snapshots and the findings' steps, and the output says so."""
    nbformat = pytest.importorskip("nbformat")
    rec = _big(series)
    view = SavedView(rec)
    data, meta = view._repr_mimebundle_()
    out = nbformat.v4.new_output("display_data", data=data, metadata=meta)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x", outputs=[out])])
    empty = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x")])
    stored = len(nbformat.writes(nb).encode()) - len(nbformat.writes(empty).encode())
    assert stored < BUDGET < 2_000_000, stored
    info = view.info
    assert info["thinned"] and info["recorded"] == 100 * series and 5 <= info["per_series"] < 100, info
    assert f"of the {100 * series:,} recorded snapshots" in data["text/html"]  # said where no script runs, too
    h = _packet_of(data["text/html"])
    assert len(h["series"]) == series and h["saved"]["note"] == info["note"]
    bad = rec.first_nonfinite
    for s in h["series"]:
        steps = s["steps"].tolist()
        assert steps[0] == 0 and steps[-1] == 990 and s["recorded"] == 100 and s["kept"] == len(steps)
        assert bad in steps  # the step a finding opens is there to open
        want = rec.series(s["kind"], s["name"])
        np.testing.assert_array_equal(s["rows"], want.rows[np.searchsorted(want.steps, steps)])
    print(f"\nsaved output for {series} series x 100 snapshots: {stored:,} bytes in the notebook, {info['snapshots']:,} snapshots ({info['per_series']} a Series)")


def test_a_finished_watch_leaves_the_saved_dashboard(monkeypatch):
    """While the cell runs, the live widget; when it ends, the same output (its
    display_id) becomes the saved dashboard and the widget is closed. mode="widget"
    keeps the widget; show() gives the saved dashboard, or the widget when asked."""
    import IPython.display

    import tfhist_magic.view as view

    shown = []

    class Handle:
        def update(self, obj):
            shown.append(("update", obj))

    def display(obj, display_id=None, **kwargs):
        shown.append(("display", obj))
        return Handle() if display_id else None

    monkeypatch.setattr(IPython.display, "display", display)
    monkeypatch.setattr(view, "in_kernel", lambda: True)
    rec = _recording()
    live = LiveView(rec)
    live.start()
    dash = live.dashboard
    assert shown == [("display", dash)] and dash.live
    assert live.finish() is dash
    assert [k for k, _ in shown] == ["display", "update"] and isinstance(shown[1][1], SavedView)
    assert shown[1][1].recording is rec and dash.comm is None  # closed: the page frees its data
    page = shown[1][1]._repr_mimebundle_()[0]
    saved = _packet_of(page["text/html"])["saved"]
    assert WIDGET not in page and saved["from"] == dash._uid  # the live view it replaces: the page takes its place
    assert saved["state"] == {"view": "step", "step": -1, "opts": {}}  # what the page showed, as the kernel heard it
    assert f'data-from="{dash._uid}"' in page["text/html"] and " data-height=" not in page["text/html"]
    shown.clear()
    kept = LiveView(rec, mode="widget")
    kept.start()
    kept.finish()
    assert [k for k, _ in shown] == ["display", "update"] and shown[1][1] is kept.dashboard and kept.dashboard.comm is not None
    kept.dashboard.close()
    shown.clear()
    assert isinstance(show(rec), SavedView) and isinstance(shown[-1][1], SavedView)
    assert show(rec, mode="widget").recording is rec
    with pytest.raises(ValueError, match="mode='png'"):
        show(rec, mode="png")


def test_the_picture_tells_the_story_and_prints_nothing():
    """Findings on top (the first bad tensor and step first), every kind, all tensors when
    they fit, else the most unusual first (NaN/Inf, then those a finding names); drawing
    awkward snapshots prints nothing (the divide-by-zero warning reached the cell)."""
    rec = _big(600)
    from tfhist_magic import health

    found = health.locate(rec)
    covered = {n for f in found if f["kind"] == "grads" for n in f["tensors"]}
    drawn, rest = chosen(rec, "grads", 8, covered)
    assert drawn[0] == rec.names("grads")[7] and len(drawn) == 8 and len(rest) == 192  # the NaN one first
    assert chosen(rec, "weights", 1000, set()) == (rec.names("weights"), [])
    # constants imported from TensorBoard (bins of no width), NaN only, one value, huge ranges
    odd = Recording(bins=8)
    edges = np.zeros((1, 1, 5))
    rows = np.zeros((1, 1, 4 + H.EXTRA))
    rows[0, 0, :4] = [0, 0, 0, 10]
    rows[0, 0, 4 + H.MEAN : 4 + H.NORM + 1] = np.nan
    odd.add_rows("weights", ["tb/zero_bias"], [0], rows, dtypes=["unknown"], edges=edges)
    odd.add("grads", "nan", 0, H.reference_row(np.array([1.0, 2.0], np.float32), 8))
    odd.add("grads", "nan", 1, H.reference_row(np.array([np.nan, np.inf], np.float32), 8))
    odd.add("grads", "one", 0, H.reference_row(np.array([3.0], np.float32), 8))
    odd.add("grads", "tiny", 0, H.reference_row(np.r_[np.zeros(1000), 1e-38].astype(np.float32), 8))
    odd.add("grads", "f64", 0, H.reference_row(np.array([-1.7e308, 1.7e308]), 8), dtype="float64")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning fails the test
        png, width = overview_png(odd)
        data, _ = SavedView(odd)._repr_mimebundle_()
    assert png[:4] == b"\x89PNG" and width >= 690
    text = data["text/plain"]
    lines = text.splitlines()
    assert lines[1].startswith("finding: grads nan: non-finite values")  # the findings right under the header
    zero = next(line for line in lines if "tb/zero_bias" in line)
    assert "mean          —  std          —" in zero and "nan" not in zero.lower().replace("zero_bias", "")


def test_imported_series_say_what_they_do_not_know():
    """A Series imported from TensorBoard's own files: unknown statistics are null (the
    page writes "—"), its dtype is "unknown" (not the float64 of the buckets)."""
    rec = Recording(bins=8)
    edges = np.array([[[-1.0, 0.0, 1.0, 2.0, 2.0]]])
    rows = np.zeros((1, 1, 4 + H.EXTRA))
    rows[0, 0, :4] = [1, 2, 3, 0]
    rows[0, 0, 4 + H.MIN], rows[0, 0, 4 + H.MAX] = -1.0, 2.0
    rows[0, 0, 4 + H.MEAN : 4 + H.NORM + 1] = np.nan
    rec.add_rows("weights", ["tb/w"], [0], rows, dtypes=["unknown"], edges=edges)
    h = _packet_of(SavedView(rec)._repr_mimebundle_()[0]["text/html"])
    (s,) = h["series"]
    assert s["dtype"] == "unknown" and s["explicit"] and np.isnan(s["rows"][0, 4 + H.MEAN])
    assert json.loads(json.dumps(h["findings"])) == []


def test_a_dead_layer_between_prints_nothing():
    """The drift rule's logarithm of a hidden layer's std of 0 (a dead ReLU layer between
    live ones) printed "RuntimeWarning: divide by zero" into the watched cell."""
    rec = Recording(bins=8)
    rec.add_model("m", ["a", "b", "c", "d", "out"], outputs=["out"])
    rng = np.random.default_rng(0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for step in range(3):
            rows = np.stack([H.reference_row((rng.normal(size=64) * (0 if n == "b" else 1)).astype(np.float32), 8) for n in "abcd"] + [H.reference_row(rng.normal(size=4).astype(np.float32), 8)])
            rec.add_rows("activations", ["a", "b", "c", "d", "out"], [step], rows[None])
        rec.findings()


def test_the_pictures_range_labels_never_overlap():
    """Under each panel: the range's ends and "0" where it fits ("-1.18e-38" was drawn over
    "0" for a range that starts a denormal below zero)."""
    from tfhist_magic.view.static import range_labels

    def boxes(e0, e1):
        lo, hi = (e0 - 0.05 * (e1 - e0), e1 + 0.05 * (e1 - e0)) if e1 > e0 else (e0 - 0.5, e1 + 0.5)  # framed, as the panel is
        X = lambda v: 16 + (v - lo) / (hi - lo) * 428  # noqa: E731 - a panel 460 px wide
        got = range_labels(e0, e1, X, 16.0, 444.0, lambda t: 12.0 * len(t), gap=8.0)
        out = []
        for x, text, anchor in got:
            w = 12.0 * len(text)
            start = {"la": x, "ra": x - w, "ma": x - w / 2}[anchor]
            out.append((start, start + w, text))
        return sorted(out)

    for e0, e1 in ((-1.17549435e-38, 0.5), (-1.0, 1.0), (-0.02, 3.0), (-3.0, 1e-3), (2.5, 3.5), (0.0, 0.0), (-1e-30, 1e30)):
        got = boxes(e0, e1)
        assert all(a[1] + 8 <= b[0] for a, b in zip(got, got[1:])), (e0, e1, got)
        assert 16.0 <= got[0][0] and got[-1][1] <= 444.0, got
    assert [t for *_, t in boxes(-1.17549435e-38, 0.5)] == ["-1.18e-38", "0.5"]  # no "0" on top of it
    assert [t for *_, t in boxes(-1.0, 1.0)] == ["-1", "0", "1"]
    assert [t for *_, t in boxes(0.0, 0.0)] == ["0"]


def test_the_saved_copy_opens_where_the_page_was_and_keeps_its_height():
    """The state the page showed when the cell ended goes into the saved header (a
    reopened notebook opens there), its height onto the root (kept while the dashboard
    starts, so the output does not collapse and grow again)."""
    rec = _recording()
    state = {"kind": "grads", "tensor": "d/bias", "view": "heatmap", "step": 30, "opts": {"x": "epoch"}, "height": 690}
    page = SavedView(rec, handoff="abc", state=state)._repr_mimebundle_()[0]["text/html"]
    assert _packet_of(page)["saved"]["state"] == state
    assert 'data-height="690"' in page and 'data-from="abc"' in page and 'data-key="' in page
    assert " data-height=" not in SavedView(rec, state={"height": 10**6})._repr_mimebundle_()[0]["text/html"]  # nonsense is left out
