"""The dashboard's kernel side: what it sends (binary rows equal to the Recording's),
only what is new, and the static faces (PNG, text) beside the widget."""

import base64
import io

import ipywidgets as W
import numpy as np
import pytest

from tfhist_magic import histogram as H
from tfhist_magic.recording import Recording
from tfhist_magic.view import in_kernel, show
from tfhist_magic.view.text import sparkline
from tfhist_magic.view.widget import Dashboard, decode


def _recording(max_snapshots=256):
    rng = np.random.default_rng(0)
    rec = Recording(bins=16, max_snapshots=max_snapshots)
    for step in range(0, 50, 10):
        for kind in ("weights", "grads"):
            for name in ("d/kernel", "d/bias"):
                rec.add(kind, name, step, H.reference_row(rng.normal(step, 1, size=100).astype(np.float32), 16))
    rec.mark_epoch(0, 0)
    rec.mark_epoch(30, 1)
    rec.add_model("mlp", ["d/kernel", "d/bias"])
    return rec


def _sent(d):
    out = []
    d.send = lambda content, buffers=None: out.append((content, [bytes(b) for b in buffers or []]))
    return out


def test_full_state_is_the_recordings_rows_exactly():
    rec = _recording()
    d = Dashboard(rec)
    h = decode(d.get_state()["_data"])
    assert h["kinds"] == ["weights", "grads"] and h["bins"] == 16 and h["full"]
    assert h["models"] == {"d/kernel": "mlp", "d/bias": "mlp"}
    assert [(s["kind"], s["name"]) for s in h["series"]] == [(k, n) for k in ("weights", "grads") for n in ("d/kernel", "d/bias")]
    for s in h["series"]:
        want = rec.series(s["kind"], s["name"])
        np.testing.assert_array_equal(s["rows"], want.rows)
        np.testing.assert_array_equal(s["steps"], want.steps)
        np.testing.assert_array_equal(s["epochs"], [0, 0, 0, 1, 1])
        np.testing.assert_array_equal(s["wall"], want.wall)
        np.testing.assert_array_equal(s["edges"], want.edges)
        assert s["after"] is None and s["kept"] == 5 and s["keep"] is None and s["dtype"] == "float32"


def _apply(page: dict, s: dict) -> list:
    """What a page holding ``page[name]`` (steps) holds after a Series' delta ``s``."""
    held = [] if s["after"] is None else [st for st in page.get(s["name"], []) if s["keep"] is None or st in s["keep"]]
    return [st for st in held if s["after"] is not None and st <= s["after"]] + s["steps"].tolist()


def test_updates_send_only_what_is_new():
    rec = _recording(max_snapshots=8)
    d = Dashboard(rec)
    d.get_state()  # the front end got everything so far
    sent = _sent(d)
    assert d.refresh() is False and sent == []  # nothing new: nothing sent
    rec.add("grads", "d/bias", 60, H.reference_row(np.arange(5, dtype=np.float32), 16))
    assert d.refresh() is True
    (content, (packet,)), = sent
    h = decode(packet)
    assert content == {"tfhist": "delta"} and h["seq"] == 1 and not h["full"]
    (s,) = h["series"]
    assert (s["kind"], s["name"], s["after"], s["n"], s["kept"], s["keep"]) == ("grads", "d/bias", 40, 1, 6, None)
    np.testing.assert_array_equal(s["rows"][0], rec.series("grads", "d/bias").rows[-1])
    # filling past capacity thins the kept rows: the delta says which steps are kept and
    # carries only the new rows, whatever the page holds
    for step in range(70, 120, 10):
        rec.add("grads", "d/bias", step, H.reference_row(np.arange(5, dtype=np.float32) + step, 16))
    d.refresh()
    s = decode(sent[-1][1][0])["series"][0]
    want = rec.series("grads", "d/bias")
    assert s["after"] == 60 and s["keep"].tolist() == want.steps.tolist() and s["steps"].tolist() == [st for st in want.steps if st > 60]
    assert _apply({"d/bias": [0, 10, 20, 30, 40, 60]}, s) == want.steps.tolist()  # a page that had all
    assert _apply({"d/bias": [60]}, s) == [st for st in want.steps if st >= 60]  # one that had the latest only
    np.testing.assert_array_equal(s["rows"], want.rows[-s["n"] :])


def test_live_updates_are_throttled_and_the_end_is_marked():
    rec = _recording()
    d = Dashboard(rec, live_interval=3600)
    d.get_state()
    sent = _sent(d)
    d.start_live()
    assert decode(sent.pop()[1][0])["live"] is True  # the page is told at once
    d._last = float("-inf")  # as if nothing was ever sent (whatever the machine's uptime)
    rec.add("grads", "d/kernel", 60, H.reference_row(np.ones(4, np.float32), 16))
    rec.changed()  # first change after a long time: sent
    rec.add("grads", "d/kernel", 70, H.reference_row(np.ones(4, np.float32), 16))
    rec.changed()  # within live_interval: held back
    assert len(sent) == 1 and decode(sent[0][1][0])["live"] is True
    d.finish()
    h = decode(sent[-1][1][0])
    assert h["live"] is False and [(s["steps"].tolist(), s["after"]) for s in h["series"]] == [([70], 60)]


def test_first_live_change_is_sent_at_once_on_a_machine_just_booted(monkeypatch):
    """The throttle compares with time.monotonic(), which starts near 0 at boot: the first
    change must not wait for the machine's uptime to pass live_interval."""
    import types

    from tfhist_magic.view import widget

    clock = [5.0]  # seconds since boot
    monkeypatch.setattr(widget, "time", types.SimpleNamespace(monotonic=lambda: clock[0]))
    rec = _recording()
    d = Dashboard(rec, live_interval=60, live=True)
    d.keyframe_interval = float("inf")  # deltas only (keyframes: test_live_pages_get_a_full_packet_now_and_then)
    d.get_state()
    sent = _sent(d)
    d.start_live()  # already live: nothing sent yet
    assert sent == []
    rec.add("grads", "d/kernel", 60, H.reference_row(np.ones(4, np.float32), 16))
    rec.changed()
    assert [decode(b[0])["series"][0]["steps"].tolist() for _, b in sent] == [[60]]
    clock[0] += 59.0  # within live_interval: held back
    rec.add("grads", "d/kernel", 70, H.reference_row(np.ones(4, np.float32), 16))
    rec.changed()
    assert len(sent) == 1
    clock[0] += 1.0  # live_interval later: what was held back goes
    rec.add("grads", "d/kernel", 80, H.reference_row(np.ones(4, np.float32), 16))
    rec.changed()
    assert [decode(b[0])["series"][0]["steps"].tolist() for _, b in sent] == [[60], [70, 80]]
    d.finish()


def test_front_end_can_ask_for_everything():
    rec = _recording()
    d = Dashboard(rec)
    sent = _sent(d)
    d._on_front_end(d, {"want": "full"}, [])
    (content, (packet,)), = sent
    assert content == {"tfhist": "full"} and decode(packet)["full"] and len(decode(packet)["series"]) == 4


def test_findings_point_at_tensor_and_step():
    rec = Recording(bins=8)
    rec.add("grads", "g", 0, H.reference_row(np.ones(3, np.float32), 8))
    rec.add("grads", "g", 5, H.reference_row(np.array([1, np.nan, np.inf], np.float32), 8))
    h = decode(Dashboard(rec).get_state()["_data"])
    (f,) = h["findings"]
    assert (f["kind"], f["name"], f["step"]) == ("grads", "g", 5) and "non-finite" in f["message"]
    assert h["kinds"] == ["grads"]  # only recorded kinds get a tab


def test_mimebundle_has_widget_png_and_text():
    rec = _recording()
    d = Dashboard(rec)
    data, meta = d._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in data
    png = base64.b64decode(data["image/png"])
    assert png[:4] == b"\x89PNG"
    from PIL import Image

    img = Image.open(io.BytesIO(png))
    assert img.size[0] == 2 * meta["image/png"]["width"]  # drawn at twice the shown size
    # the bars are drawn in the kinds' colours (weights and grads rows)
    colors = {c for _, c in img.convert("RGB").getcolors(1 << 16)}
    assert (0xE7, 0x6F, 0x51) in colors and (0x45, 0x7B, 0x9D) in colors
    assert data["text/plain"].startswith("tfhist Recording: 4 series")
    d.start_live()
    assert "image/png" not in d._repr_mimebundle_()[0]  # no picture drawn while training
    d.finish()
    assert "image/png" in d._repr_mimebundle_()[0]


def test_dashboard_is_a_widget_in_its_own_right():
    rec = _recording()
    d = Dashboard(rec)
    box = W.VBox([d, W.HTML("x")])
    assert box.children[0] is d
    assert show(rec, mode="widget").recording is rec


def test_nonfinite_is_flagged_in_text():
    rec = Recording(bins=8)
    rec.add("grads", "g", 0, H.reference_row(np.array([1, np.nan, np.inf], np.float32), 8))
    assert "NON-FINITE 2" in rec.summary()


def test_sparkline_follows_the_counts():
    counts = np.array([0, 1, 2, 4, 8, 16, 8, 4, 2, 1, 0, 0, 0, 0, 0, 50])
    line = sparkline(counts, width=16)
    assert len(line) == 16 and line[0] == " " and line[-1] == "█" and line[5] > line[4] > line[3]
    assert len(sparkline(np.arange(64), width=16)) == 16
    assert "█" in _recording().summary()


def test_any_zmq_shell_subclass_counts_as_a_kernel(monkeypatch):
    from ipykernel.zmqshell import ZMQInteractiveShell

    class ColabShell(ZMQInteractiveShell):  # google.colab._shell.Shell is one of these
        pass

    ColabShell.__module__ = "google.colab._shell"
    fake = ColabShell.__new__(ColabShell)
    import IPython

    monkeypatch.setattr(IPython, "get_ipython", lambda: fake)
    assert in_kernel()
    monkeypatch.setattr(IPython, "get_ipython", lambda: object())
    assert not in_kernel()


def test_static_picture_of_awkward_recordings():
    """Tiny shares, one value, constants, huge ranges, NaN-only and float64 snapshots all
    draw; a failing picture never takes the widget or the text down with it."""
    rec = Recording(bins=64)
    rec.add("activations", "spiky", 0, H.reference_row(np.r_[np.zeros(100000), 1.0].astype(np.float32), 64))
    rec.add("activations", "spiky", 5, H.reference_row(np.r_[np.zeros(100000), 1e30].astype(np.float32), 64))
    rec.add("weights", "one", 0, H.reference_row(np.array([3.0], np.float32), 64))
    rec.add("grads", "nan", 0, H.reference_row(np.array([np.nan, np.inf], np.float32), 64))
    rec.add("grads", "f64", 0, H.reference_row(np.array([1e-300, 1e300]), 64), dtype="float64")
    d = Dashboard(rec)
    data, _ = d._repr_mimebundle_()
    assert base64.b64decode(data["image/png"])[:4] == b"\x89PNG"

    def broken(_rec):
        raise ValueError("boom")

    import tfhist_magic.view.static as static

    orig, static.overview_png = static.overview_png, broken
    try:
        d._png = (None, (b"", 0))
        data, _ = d._repr_mimebundle_()
    finally:
        static.overview_png = orig
    assert "image/png" not in data and "could not be drawn: ValueError: boom" in data["text/plain"]
    assert "application/vnd.jupyter.widget-view+json" in data


def test_matplotlib_figure_draws_the_latest_and_first_bins():
    rec = _recording()
    fig = rec.figure()
    s = rec.series("weights", "d/kernel")
    first, latest = (p.get_data() for p in fig.axes[0].patches)
    np.testing.assert_array_equal(latest.values, s.counts[-1])
    np.testing.assert_array_equal(latest.edges, s.edges[-1])
    np.testing.assert_array_equal(first.values, s.counts[0])
    assert fig.axes[0].get_ylim()[1] >= max(s.counts[0].max(), s.counts[-1].max())  # nothing runs off the top


# -- a dashboard for 600 tensors: a bounded full packet, histories fetched when opened -------


def _big(series: int, snaps: int, bins: int = 64) -> Recording:
    """``series`` Series (a third of each kind) of ``snaps`` snapshots, with an update
    ratio and a dead share for each name: no TensorFlow, rows from NumPy."""
    rng = np.random.default_rng(0)
    rec = Recording(bins=bins)
    names = [f"m/block_{i // 8}/layer_{i}/kernel" for i in range(series // 3)]
    base = np.stack([H.reference_row(rng.normal(0, 1 + i % 5, size=200).astype(np.float32), bins) for i in range(len(names))])
    steps = np.arange(snaps) * 10
    for kind in ("activations", "weights", "grads"):
        rec.add_rows(kind, names, steps, np.repeat(base[None], snaps, axis=0))
    for n in names:
        rec.add_scalars("update_ratio", n, steps, rng.uniform(1e-4, 1e-2, snaps))
        rec.add_scalars("dead_units", n, steps, rng.uniform(0, 0.2, snaps))
    rec.add_model("m", names)
    return rec


def test_the_full_packet_is_bounded_whatever_the_steps():
    """Display and reload send an index (every Series' kind, name, dtype, kept count, its
    latest snapshot, its scalar series' latest values): its size does not grow with the
    steps, and grows with the Series by about one snapshot each."""
    size = {}
    for series in (48, 201, 600):
        for snaps in (10, 100):
            d = Dashboard(_big(series, snaps))
            d.history_budget = 0  # the index, whatever the size
            size[series, snaps] = len(d._state_packet())
    for series in (48, 201, 600):
        assert size[series, 100] <= size[series, 10] * 1.01, size  # the steps do not count (a longer "kept" number at most)
    per = (size[600, 100] - size[48, 100]) / (600 - 48)
    row = 4 * 64 + 8 * 16  # one snapshot's bytes at 64 bins
    assert per < row + 300, per  # the latest snapshot, its index entry, two thirds of a scalar's latest value
    assert size[600, 100] < 400_000, size
    # a recording as big as that is sent as an index with the default budget too; its
    # every Series holds the latest snapshot and says how many are kept
    rec = _big(600, 100)
    h = decode(Dashboard(rec).get_state()["_data"])
    assert len(h["series"]) == 600 and {(s["n"], s["kept"]) for s in h["series"]} == {(1, 100)}
    s = h["series"][7]
    want = rec.series(s["kind"], s["name"])
    np.testing.assert_array_equal(s["rows"][0], want.rows[-1])
    np.testing.assert_array_equal(s["edges"][0], want.edges[-1])
    assert s["norm0"] == want.norm[0]
    assert {(c["n"], c["kept"]) for c in h["scalars"]} == {(1, 100)} and len(h["scalars"]) == 400


def _answer(d, **want):
    sent = _sent(d)
    d._on_front_end(d, want, [])
    (content, (packet,)), = sent
    assert content == {"tfhist": want["want"]}
    return decode(packet)


@pytest.mark.parametrize("max_snapshots", [256, 4])
def test_a_fetched_series_is_the_recordings_rows(max_snapshots):
    """The page asks for a Series' history when it opens it: the answer is its kept
    rows exactly (after thinning too), with its scalar series."""
    rec = _recording(max_snapshots=max_snapshots)
    rec.add_scalars("update_ratio", "d/kernel", [0, 10, 20, 30, 40], [1e-3, np.nan, 3e-3, 4e-3, 5e-3])
    d = Dashboard(rec)
    d.history_budget = 0
    assert {s["n"] for s in decode(d.get_state()["_data"])["series"]} == {1}
    a = _answer(d, want="series", kind="weights", names=["d/kernel", "nope", "d/bias"])
    assert a["history"] and [s["name"] for s in a["series"]] == ["d/kernel", "d/bias"]
    for s in a["series"]:
        want = rec.series("weights", s["name"])
        assert s["after"] is None and s["kept"] == s["n"] == len(want) == (5 if max_snapshots > 5 else 3)  # thinned: 0, 20, 40
        np.testing.assert_array_equal(s["rows"], want.rows)
        np.testing.assert_array_equal(s["steps"], want.steps)
        np.testing.assert_array_equal(s["epochs"], want.epochs)
        np.testing.assert_array_equal(s["wall"], want.wall)
        np.testing.assert_array_equal(s["edges"], want.edges)
    (c,) = a["scalars"]
    steps, values = rec.scalar("update_ratio", "d/kernel")
    assert c["metric"] == "update_ratio" and c["steps"].tolist() == steps.tolist()
    np.testing.assert_array_equal(c["values"], values)  # NaN as NaN
    assert _answer(d, want="series", kind="nope", names=["d/kernel"])["series"] == []


def test_a_fetched_series_keeps_its_explicit_edges():
    """A Series imported with its own edges (TensorBoard's, another bin count), thinned:
    the answer carries exactly those edges."""
    rec = Recording(bins=8, max_snapshots=2)
    S = 5
    edges = np.cumsum(np.random.default_rng(0).uniform(0.1, 1, size=(S, 1, 5)), axis=2) - 3
    rows = np.zeros((S, 1, 4 + H.EXTRA))
    rows[:, 0, :4] = np.arange(S * 4).reshape(S, 4)
    rows[:, 0, 4 + H.MIN], rows[:, 0, 4 + H.MAX] = edges[:, 0, 0], edges[:, 0, -1]
    rec.add_rows("weights", ["tb/w"], np.arange(S) * 10, rows, dtypes=["float64"], edges=edges)
    d = Dashboard(rec)
    d.history_budget = 0
    (s,) = decode(d.get_state()["_data"])["series"]
    want = rec.series("weights", "tb/w")
    assert s["explicit"] and s["bins"] == 4 and s["n"] == 1
    np.testing.assert_array_equal(s["edges"], want.edges[-1:])
    (s,) = _answer(d, want="series", kind="weights", names=["tb/w"])["series"]
    np.testing.assert_array_equal(s["edges"], want.edges)
    np.testing.assert_array_equal(s["rows"], want.rows)
    np.testing.assert_array_equal(s["steps"], want.steps)


def test_the_depth_view_gets_one_statistic_of_every_series():
    rec = _recording()
    rec.add_scalars("update_ratio", "d/kernel", [0, 20, 40], [1e-3, 2e-3, 3e-3])
    d = Dashboard(rec)
    a = _answer(d, want="depth", kind="grads", metrics=["norm", "bogus"])
    assert a["metrics"] == ["norm"] and [c["name"] for c in a["scalars"]] == ["d/kernel", "d/bias"] and a["series"] == []
    for c in a["scalars"]:
        want = rec.series("grads", c["name"])
        assert c["metric"] == "grads.norm" and c["kept"] == len(want)
        np.testing.assert_array_equal(c["steps"], want.steps)
        np.testing.assert_array_equal(c["values"], want.norm)
    (c,) = _answer(d, want="depth", kind="weights", metrics=["update_ratio"])["scalars"]
    assert (c["metric"], c["name"], c["steps"].tolist(), c["values"].tolist()) == ("update_ratio", "d/kernel", [0, 20, 40], [1e-3, 2e-3, 3e-3])


def test_the_status_reaches_the_page():
    """While a watched training function is traced, the engine sets ``rec.status``; the
    header carries it (and the kernel's clock), and a change of it alone is sent."""
    rec = _recording()
    d = Dashboard(rec, live=True)
    assert decode(d.get_state()["_data"])["status"] is None
    sent = _sent(d)
    rec.status = {"text": "preparing the recording for 612 tensors", "since": 1000.0}
    assert d.refresh() is True
    h = decode(sent[-1][1][0])
    assert h["status"] == rec.status and h["now"] > 1000 and h["series"] == []
    assert d.refresh() is False  # said once
    rec.status = None
    assert d.refresh() is True and decode(sent[-1][1][0])["status"] is None


def test_the_kernel_hears_the_pages_state_while_a_cell_runs():
    """The page's clicks reach the traits only once the cell ends (and ipywidgets holds a
    model's updates back while the kernel is busy), so the page also tells its state as a
    message of its own, which ipykernel 7's shell-channel thread hands to the comm's
    routing hook as it arrives: the Dashboard notes it there, routes the message on
    unchanged, and page_state() gives it (the saved copy opens there). An update message
    or anything else is routed and not noted; the traits win once they catch up."""
    d = Dashboard(_recording())
    routed = []
    d.comm._reply_subshell_for = lambda data, default: routed.append((data, default)) or "main"
    d._listen()
    assert d.page_state() == {"view": "step", "step": -1, "opts": {}}
    page = {"kind": "grads", "tensor": "d/bias", "view": "heatmap", "step": 30, "opts": {"x": "epoch", "log": True}, "height": 712}
    msg = {"method": "custom", "content": {"page": page}}
    assert d.comm._reply_subshell_for(msg, None) == "main" and routed == [(msg, None)]  # routed on as it would have been
    assert d.page_state() == page
    d.comm._reply_subshell_for({"method": "update", "state": {"kind": "weights"}}, "sub")  # held back by ipywidgets anyway: not noted
    d.comm._reply_subshell_for({"method": "custom", "content": {"want": "full"}}, None)
    d.comm._reply_subshell_for("not a dict", None)
    assert d.page_state() == page and len(routed) == 4
    d.step = 30  # the trait caught up (the cell ended, the kernel handled the update)
    d.kind = "weights"  # set from Python after the page said grads: the page's word stands until the trait says it
    assert d.page_state()["step"] == 30 and d.page_state()["kind"] == "grads"
    d.kind = "grads"
    d.kind = "activations"
    assert d.page_state()["kind"] == "activations"


def test_the_page_is_told_saving_while_the_copy_is_built():
    rec = _recording()
    d = Dashboard(rec, live_interval=3600)
    d.get_state()
    sent = _sent(d)
    d.start_live()
    d.finish(saving=True)
    h = decode(sent[-1][1][0])
    assert h["live"] is False and h["saving"] is True  # sent though no row is new: the page says "saving…"
    d.saving = False
    d.refresh()
    assert decode(sent[-1][1][0])["saving"] is False


def test_the_page_says_saving_while_the_watch_closes():
    """``LiveView.ending`` (the magic calls it before the watch's exit reads the last rows
    and the final weights): the live page says "saving…" from then on, rows still arrive."""
    from tfhist_magic.view import LiveView

    rec = _recording()
    view = LiveView(rec, mode="widget", interval=3600)
    view.keep_widget = False  # as in auto mode, where the saved copy takes the widget's place
    view.dashboard = d = Dashboard(rec, live_interval=3600, live=True)
    d.get_state()
    sent = _sent(d)
    d.start_live()
    view.ending()
    h = decode(sent[-1][1][0])
    assert h["saving"] is True and h["live"] is True
    LiveView(rec, mode="widget").ending()  # nothing shown yet: nothing to say, no error
