"""The dashboard's JavaScript against the NumPy reference: decoding the kernel's packets,
rebinning for the time views (mass conserved) and the distribution percentiles."""

import base64

import numpy as np
import pytest

from jsnode import run
from tfhist_magic import histogram as H
from tfhist_magic.recording import Recording
from tfhist_magic.view.widget import Dashboard, decode


def _f(x):
    return np.array([float(v) for v in x], dtype=np.float64)  # "NaN" strings from JSON


def _cases():
    rng = np.random.default_rng(3)
    out = []
    for values in (
        rng.normal(size=1000),
        np.full(50, 3.0),
        np.array([0.0, -0.0, 1e-40, -1e-40]),
        np.concatenate([np.zeros(900), rng.normal(size=100) * 1e6]),
        np.array([1e-30, 1e30]),
        np.linspace(-1, 1, 17),
        rng.exponential(size=300) * 1e-5,
    ):
        for bins in (1, 7, 64):
            row = H.reference_row(values.astype(np.float32), bins)
            edges = H.bin_edges(row[bins + H.MIN], row[bins + H.MAX], bins, np.float32)
            out.append((edges, row[:bins], row[bins + H.MIN], row[bins + H.MAX]))
    return out


def test_rebin_and_percentiles_match_numpy():
    cases = _cases()
    grids = [np.linspace(e[0] - 0.3 * (e[-1] - e[0]) - 1e-3, e[-1] + 0.1 * (e[-1] - e[0]) + 1e-3, 13) for e, *_ in cases]
    data = [{"edges": e.tolist(), "counts": c.tolist(), "mn": mn, "mx": mx, "grid": g.tolist()} for (e, c, mn, mx), g in zip(cases, grids)]
    got = run("OUT = DATA.map((c) => [D.rebin(c.edges, c.counts, c.grid), D.percentiles(c.edges, c.counts, c.mn, c.mx)]);", data)
    for (e, c, mn, mx), g, (rb, pc) in zip(cases, grids, got):
        want_rb = H.rebin(e, c, g)
        np.testing.assert_allclose(_f(rb), want_rb, rtol=1e-12, atol=1e-9 * c.sum())
        assert abs(sum(_f(rb)) - c.sum()) <= 1e-9 * c.sum()  # mass conserved
        np.testing.assert_allclose(_f(pc), H.percentiles(e, c, mn, mx)[0], rtol=1e-12, atol=0)
        assert _f(pc)[0] == mn and _f(pc)[-1] == mx


def test_percentiles_of_a_known_distribution():
    # uniform counts on [0, 10): percentile q sits at q/10, exactly
    edges, counts = np.arange(11.0), np.full(10, 100.0)
    p = H.percentiles(edges, counts, 0.0, 10.0)[0]
    np.testing.assert_allclose(p, np.array(H.PERCENTILES) / 10)
    assert np.isnan(H.percentiles(edges, np.zeros(10), np.nan, np.nan)).all()


def _recording():
    rng = np.random.default_rng(1)
    rec = Recording(bins=8, max_snapshots=4)
    for step in range(0, 30, 10):
        for name in ("a", "b"):
            rec.add("grads", name, step, H.reference_row(rng.normal(size=50).astype(np.float32), 8))
    return rec, rng


@pytest.mark.parametrize("missed", [False, True])
def test_the_page_store_ends_equal_to_the_recording(missed):
    """Full state, then deltas (with thinning and not-kept latest rows) applied by the
    page's own Store: the page holds exactly the Recording's rows. A missed delta is
    detected (the page asks for everything) instead of showing wrong data."""
    rec, rng = _recording()
    d = Dashboard(rec)
    packets = [d.get_state()["_data"]]
    sent = []
    d.send = lambda content, buffers=None: sent.append(buffers[0])
    for step in range(30, 130, 10):
        rec.add("grads", "a", step, H.reference_row(rng.normal(step, 1, size=50).astype(np.float32), 8))
        if step % 20 == 0:
            rec.add("grads", "b", step, H.reference_row(rng.normal(size=50).astype(np.float32), 8))
        rec.add_scalars("update_ratio", "a", [step], [1e-3 * step])  # thinned like the rows
        d.refresh()
    packets += sent
    if missed:
        del packets[3]
    script = """
    const store = new D.Store();
    for (const b64 of DATA) store.apply(D.decode(Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)).buffer));
    OUT = {stale: store.stale, series: [...store.series.values()].map((s) => ({name: s.name,
      steps: s.snaps.map((p) => p.step), counts: s.snaps.map((p) => Array.from(p.counts)),
      edges: s.snaps.map((p) => Array.from(p.edges)), mean: s.snaps.map((p) => p.mean)})),
      ratio: store.scalar("update_ratio", "a")};
    """
    got = run(script, [base64.b64encode(bytes(p)).decode() for p in packets])
    assert got["stale"] is missed
    if missed:
        return
    for s in got["series"]:
        want = rec.series("grads", s["name"])
        np.testing.assert_array_equal(s["steps"], want.steps)
        np.testing.assert_array_equal(s["counts"], want.counts)
        np.testing.assert_array_equal(_f(np.ravel(s["edges"])), want.edges.ravel())
        np.testing.assert_array_equal(_f(s["mean"]), want.mean)
    steps, values = rec.scalar("update_ratio", "a")
    assert got["ratio"]["steps"] == steps.tolist() and got["ratio"]["values"] == values.tolist()


def test_a_page_that_missed_updates_asks_for_everything_once():
    """Deltas after a gap leave the Store stale: it asks the kernel for a full packet once
    (not on each later delta), and again after a full packet answered and a new gap."""
    rec, rng = _recording()
    d = Dashboard(rec)
    packets = [d.get_state()["_data"]]
    sent = []
    d.send = lambda content, buffers=None: sent.append(buffers[0])
    for step in range(30, 80, 10):
        rec.add("grads", "a", step, H.reference_row(rng.normal(size=50).astype(np.float32), 8))
        d.refresh()
    full = _b64(d.get_state()["_data"])
    for step in range(80, 100, 10):
        rec.add("grads", "a", step, H.reference_row(rng.normal(size=50).astype(np.float32), 8))
        d.refresh()
    deltas = [_b64(b) for b in sent]
    script = """
    const asked = [];
    const store = new D.Store((msg) => asked.push(msg));
    const feed = (b64, full) => { store.receive(Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)).buffer); store.catchUp(full); return asked.length; };
    const n = [feed(DATA.first, true), feed(DATA.deltas[1], false), feed(DATA.deltas[2], false), feed(DATA.full, true), feed(DATA.deltas[6], false)];
    OUT = { n, asked, stale: store.stale };
    """
    got = run(script, {"first": _b64(packets[0]), "deltas": deltas, "full": full})
    assert got["n"] == [0, 1, 1, 1, 2] and got["asked"] == [{"want": "full"}] * 2
    assert got["stale"] is True


def test_js_decodes_what_python_encodes():
    rec, _ = _recording()
    packet = bytes(Dashboard(rec).get_state()["_data"])
    got = run("const h = D.decode(Uint8Array.from(atob(DATA), (c) => c.charCodeAt(0)).buffer); OUT = h.series.map((s) => [s.name, s.counts, s.extra, s.steps]);", base64.b64encode(packet).decode())
    want = decode(packet)["series"]
    assert [g[0] for g in got] == [w["name"] for w in want] == ["a", "b"]
    for (name, counts, extra, steps), w in zip(got, want):
        series = rec.series("grads", name)
        np.testing.assert_array_equal(np.reshape(counts, series.counts.shape), series.counts)
        np.testing.assert_array_equal(_f(extra).reshape(len(series), H.EXTRA), series.rows[:, series.bins :])
        np.testing.assert_array_equal(steps, series.steps)


def _edge_cases():
    """Rows whose edges take every branch of the rule: constants at every magnitude,
    zero bands, subnormals, ranges past the dtype's max, float64."""
    rng = np.random.default_rng(7)
    out = []
    for dt in (np.float32, np.float64):
        fi = np.finfo(dt)
        for values in (
            [0.0], [-0.0, 0.0], [1e-40 if dt == np.float32 else 1e-310], [0.00034558], [3.0], [-7.5e20], [fi.max], [-fi.max],
            [-fi.max, fi.max], [fi.tiny, 2 * fi.tiny], [-1.0, 1e-30], [1.0, 1.0 + fi.eps], [-3e38, 1.0] if dt == np.float32 else [-1e308, 1e308],
            rng.normal(size=100) * 1e-20, rng.normal(size=100) * 1e20, rng.exponential(size=50),
        ):
            for bins in (1, 3, 64, 1024):
                out.append((np.asarray(values, dtype=dt), bins, np.dtype(dt).name))
    return out


def test_js_edges_are_the_binning_rules_edges():
    """The page computes the edges from (lo, w, hi) with the rule's own arithmetic:
    bit-identical to histogram.bin_edges (what the counts were binned on)."""
    cases = []
    for values, bins, dtype in _edge_cases():
        row = H.reference_row(values, bins)
        dt = H.compute_dtype(dtype)
        lo, hi = H.binning_range(row[bins + H.MIN], row[bins + H.MAX], dt)
        w = H.bin_width(lo, hi, bins, dt)
        want = H.bin_edges(row[bins + H.MIN], row[bins + H.MAX], bins, dt)
        cases.append(({"lwh": [float(lo), float(w), float(hi)], "bins": bins, "dtype": dtype}, want))
    got = run("OUT = DATA.map((c) => D.binEdges(c.lwh[0], c.lwh[1], c.lwh[2], c.bins, c.dtype));", [c for c, _ in cases])
    for (case, want), edges in zip(cases, got):
        np.testing.assert_array_equal(_f(edges), want, err_msg=str(case))


def test_the_page_uses_explicit_edges_of_imported_series():
    """A Series with explicit edges (imported from TensorBoard, another bin count): the page
    draws from exactly those edges."""
    rec = Recording(bins=8)
    edges = np.array([[[-1.0, 0.0, 0.5, 3.0, 3.0]], [[0.0, 1.0, 2.0, 4.0, 4.0]]])  # 4 bins, the last zero-width (padding)
    rows = np.zeros((2, 1, 4 + H.EXTRA))
    rows[:, 0, :4] = [[1, 2, 3, 0], [5, 0, 1, 0]]
    rows[:, 0, 4 + H.MIN], rows[:, 0, 4 + H.MAX] = edges[:, 0, 0], edges[:, 0, -1]
    rec.add_rows("weights", ["tb/w"], [0, 10], rows, dtypes=["float64"], edges=edges)
    packet = bytes(Dashboard(rec).get_state()["_data"])
    got = run(
        "const st = new D.Store(); st.apply(D.decode(Uint8Array.from(atob(DATA), (c) => c.charCodeAt(0)).buffer));"
        "const s = st.find('weights', 'tb/w'); OUT = {bins: s.bins, edges: s.snaps.map((p) => Array.from(p.edges)), counts: s.snaps.map((p) => Array.from(p.counts)),"
        "shares: Array.from(D.rebin(s.snaps[0].edges, s.snaps[0].counts, [-1, 1, 3]))};",
        base64.b64encode(packet).decode(),
    )
    assert got["bins"] == 4
    np.testing.assert_array_equal(got["edges"], edges[:, 0])
    np.testing.assert_array_equal(got["counts"], rows[:, 0, :4])
    np.testing.assert_allclose(got["shares"], H.rebin(edges[0, 0], rows[0, 0, :4], np.array([-1.0, 1.0, 3.0])))


# -- a page that holds only some snapshots: deltas addressed by step, fetched histories ------

_PAGE = """
const store = new D.Store((msg) => asked.push(msg));
const asked = [];
const out = [];
for (const b64 of DATA.packets) {
  if (b64 === "SNAPSHOT") {  // what the page holds at this point
    out.push([...store.series.values()].map((s) => ({kind: s.kind, name: s.name, kept: s.kept, complete: store.complete(s),
      steps: s.snaps.map((p) => p.step), counts: s.snaps.map((p) => Array.from(p.counts)), mean: s.snaps.map((p) => p.mean),
      edges: s.snaps.map((p) => Array.from(p.edges)),
      norm: store.depthTrack(s, "norm"), ratio: store.scalar("update_ratio", s.name)})));
    continue;
  }
  store.apply(D.decode(Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)).buffer));
}
OUT = {out, stale: store.stale, asked};
"""


def _b64(packet):
    return base64.b64encode(bytes(packet)).decode()


def _live_run(rec, rng, d, order):
    """Packets a page gets: the full packet (the latest of each Series), deltas of steps
    30..120 (with thinning: max_snapshots=4), and answers to ``want: series`` / ``depth``
    placed by ``order``: "before" the deltas, "between" them or "after"."""
    packets = [_b64(d.get_state()["_data"])]
    sent = []
    d.send = lambda content, buffers=None: sent.append(buffers[0])

    def answer():
        d._on_front_end(d, {"want": "series", "kind": "grads", "names": ["a", "b"]}, [])
        d._on_front_end(d, {"want": "depth", "kind": "grads", "metrics": ["norm"]}, [])
        packets.extend(_b64(b) for b in sent[-2:])

    if order == "before":
        answer()
    for step in range(30, 130, 10):
        rec.add("grads", "a", step, H.reference_row(rng.normal(step, 1, size=50).astype(np.float32), 8))
        if step % 20 == 0:
            rec.add("grads", "b", step, H.reference_row(rng.normal(size=50).astype(np.float32), 8))
        rec.add_scalars("update_ratio", "a", [step], [1e-3 * step])
        d.refresh()
        packets.append(_b64(sent[-1]))
        if order == "between" and step == 70:
            answer()
    packets.append("SNAPSHOT")
    if order == "after":
        answer()
        packets.append("SNAPSHOT")
    return packets


@pytest.mark.parametrize("order", ["before", "between", "after"])
def test_a_page_with_the_latest_snapshots_stays_right_and_fetches_the_rest(order):
    """The full packet gives each Series' latest snapshot only; deltas (thinning, newest
    rows not kept) keep the page a subset of what the Recording keeps, with exactly its
    rows; the fetched history (and the depth view's statistic), whether it comes before,
    between or after the deltas, completes it: the page ends equal to the Recording."""
    rec, rng = _recording()
    rec.add_scalars("update_ratio", "a", [0, 10, 20], [1e-3, 2e-3, 3e-3])
    d = Dashboard(rec)
    d.history_budget = 0
    packets = _live_run(rec, rng, d, order)
    got = run(_PAGE, {"packets": packets})
    assert got["stale"] is False
    first = got["out"][0]
    for s in first:  # a subset of the kept snapshots, each exactly the Recording's row
        want = rec.series("grads", s["name"])
        assert set(s["steps"]) <= set(want.steps.tolist()) and s["steps"] == sorted(s["steps"])
        assert s["kept"] == len(want)
        for step, counts, mean in zip(s["steps"], s["counts"], s["mean"]):
            i = want.steps.tolist().index(step)
            np.testing.assert_array_equal(counts, want.counts[i])
            assert float(mean) == want.mean[i]
        assert s["complete"] is (order != "after" or len(s["steps"]) == len(want))
    for s in got["out"][-1]:
        want = rec.series("grads", s["name"])
        assert s["complete"] and s["steps"] == want.steps.tolist()
        np.testing.assert_array_equal(s["counts"], want.counts)
        np.testing.assert_array_equal(_f(np.ravel(s["edges"])), want.edges.ravel())
        steps, norm = rec.stat("grads", s["name"], H.NORM)
        assert s["norm"]["steps"] == steps.tolist() and s["norm"]["complete"]
        np.testing.assert_array_equal(_f(s["norm"]["values"]), norm)
    ratio = next(s for s in got["out"][-1] if s["name"] == "a")["ratio"]
    steps, values = rec.scalar("update_ratio", "a")
    assert ratio["steps"] == steps.tolist() and _f(ratio["values"]).tolist() == values.tolist()


def test_a_keyframe_keeps_what_a_page_in_step_holds():
    """While live, a full packet goes out now and then for pages that fell behind; a page
    that missed nothing keeps the histories it fetched (it cannot fetch them again while
    the kernel trains), and takes the next delta."""
    rec, rng = _recording()
    d = Dashboard(rec, live=True)
    d.history_budget = 0
    d.keyframe_interval = 0.0  # a full packet after every delta
    packets = [_b64(d.get_state()["_data"])]
    sent = []
    d.send = lambda content, buffers=None: sent.append((content["tfhist"], buffers[0]))
    d._on_front_end(d, {"want": "series", "kind": "grads", "names": ["a"]}, [])
    for step in (30, 40):
        rec.add("grads", "a", step, H.reference_row(rng.normal(size=50).astype(np.float32), 8))
        d.refresh()
    assert [k for k, _ in sent] == ["series", "delta", "full", "delta", "full"]
    packets += [_b64(b) for _, b in sent] + ["SNAPSHOT"]
    got = run(_PAGE, {"packets": packets})
    a = next(s for s in got["out"][0] if s["name"] == "a")
    assert a["complete"] and a["steps"] == rec.series("grads", "a").steps.tolist()
    # a page that missed a delta starts over from the next full packet (the latest of each)
    del packets[2]
    got = run(_PAGE, {"packets": packets})
    a = next(s for s in got["out"][0] if s["name"] == "a")
    assert not got["stale"] and a["steps"][-1] == 40 and not a["complete"]
    assert set(a["steps"]) < set(rec.series("grads", "a").steps.tolist())


def test_the_page_asks_for_what_it_lacks():
    rec, _ = _recording()
    d = Dashboard(rec)
    d.history_budget = 0
    script = """
    const asked = [];
    const store = new D.Store((msg) => asked.push(msg));
    store.apply(D.decode(Uint8Array.from(atob(DATA), (c) => c.charCodeAt(0)).buffer));
    const [a, b] = store.ofKind("grads");
    store.wantHistory([a]); store.wantHistory([a, b]);  // asked once each
    store.wantDepth("grads", "norm", store.ofKind("grads")); store.wantDepth("grads", "norm", store.ofKind("grads"));
    OUT = asked;
    """
    got = run(script, _b64(d.get_state()["_data"]))
    assert got == [{"want": "series", "kind": "grads", "names": ["a"]}, {"want": "series", "kind": "grads", "names": ["b"]},
                   {"want": "depth", "kind": "grads", "metrics": ["norm"]}]


def test_picker_groups_and_status_text():
    """The picker's tree: by model, by path, and a crowded level by name prefix (Keras'
    conv2_block1_1_conv under conv2 > conv2_block1); a group of one is its item."""
    names = [f"resnet/conv{c}_block{b}_{k}_conv/{w}" for c in (2, 3) for b in range(1, 7) for k in (1, 2, 3) for w in ("kernel", "bias")]
    names += ["resnet/predictions/kernel", "other/d/kernel"]
    models = {n: n.split("/")[0] for n in names}
    script = """
    const show = (g) => g.entries.map((e) => e.entries ? [e.label, e.names.size, show(e)] : e.label);
    OUT = {tree: show(D.groupTree(DATA.names, DATA.models)), status: [D.statusText({text: "preparing the recording for 612 tensors"}, 12.7),
           D.statusText({text: "x"}, 125)]};
    """
    got = run(script, {"names": names, "models": models})
    resnet, other = got["tree"]
    assert resnet[0] == "resnet" and resnet[1] == 73 and other == ["other", 1, ["d/kernel"]]
    conv2, conv3, pred = resnet[2]
    assert (conv2[0], conv2[1], conv3[0]) == ("conv2", 36, "conv3")
    assert [g[0] for g in conv2[2]] == [f"conv2_block{b}" for b in range(1, 7)]
    assert conv2[2][0][2] == [[f"conv2_block1_{k}_conv", 2, ["kernel", "bias"]] for k in (1, 2, 3)]
    assert pred == "predictions/kernel"  # a group of one is its item
    assert got["status"] == ["preparing the recording for 612 tensors… 12 s", "x… 2 min 05 s"]
    # the model's name once: a label made unique in the watch ("net#2") leads paths that
    # start with "net/" (it showed "net#2 › net › d")
    twice = run(
        "const show = (g) => g.entries.map((e) => e.entries ? [e.label, show(e)] : e.label); OUT = show(D.groupTree(DATA.names, DATA.models));",
        {"names": ["net/d/kernel", "net/d/bias", "net/out"], "models": dict.fromkeys(["net/d/kernel", "net/d/bias", "net/out"], "net#2")},
    )
    assert twice == [["net#2", [["d", ["kernel", "bias"]], "out"]]]


def test_grid_order_puts_the_unusual_first():
    """"all tensors" sorted by a statistic from what every page holds (the latest
    snapshot, the scalar series' latest value): NaN/Inf first, the update ratio farthest
    from 1e-3 first, the biggest norm change, the deadest layer; "unusual only" keeps
    those past the findings' thresholds."""
    rec = Recording(bins=8)
    rng = np.random.default_rng(0)
    for i, name in enumerate("abcd"):
        for step in (0, 10):
            values = rng.normal(0, 1 + (9 * step if name == "c" else 0), size=50).astype(np.float32)
            if name == "b" and step == 10:
                values[:3] = np.nan
            rec.add("weights", name, step, H.reference_row(values, 8))
        rec.add_scalars("update_ratio", name, [0, 10], [1e-3, [1e-3, 2e-3, 0.5, 1e-6][i]])
    d = Dashboard(rec)
    d.history_budget = 0
    script = """
    const store = new D.Store();
    store.apply(D.decode(Uint8Array.from(atob(DATA), (c) => c.charCodeAt(0)).buffer));
    const list = store.ofKind("weights");
    OUT = Object.fromEntries(["nonfinite", "update_ratio", "norm_change"].map((k) => [k,
      [D.sortTiles(store, list, k).map(([s]) => s.name), D.sortTiles(store, list, k, true).map(([s]) => s.name)]]));
    """
    got = run(script, _b64(d.get_state()["_data"]))
    assert got["nonfinite"] == [["b", "a", "c", "d"], ["b"]]
    assert got["update_ratio"] == [["d", "c", "b", "a"], ["d", "c"]]  # 1e-6 is 3 decades off, 0.5 2.7
    assert got["norm_change"][0][0] == "c" and got["norm_change"][1] == ["c"]


# -- drawing helpers: labels that read, ranges that draw, statistics that say "—" ---------


def test_labels_and_ranges_that_draw():
    """The heatmap's colour bar reads "100%", not "1.0e+2%"; a range of one value (bins of
    no width: a constant imported from TensorBoard) is widened so that it maps onto pixels
    (the tile was empty); the offset view's labels are never closer than a line, the
    selected step's always drawn; a snapshot of NaN/Inf only has no place on a value axis."""
    script = """
    const snap = (lo, hi, finite) => ({ edges: [lo, (lo + hi) / 2, hi], finite });
    OUT = {
      pct: [1, 0.5, 0.123, 0.0151, 0.000123, 0, NaN].map(D.pct),
      frame: [D.frame(0, 0), D.frame(3, 3), D.frame(-2, 5), D.frame(NaN, NaN), D.frame(Infinity, -Infinity), D.frame(NaN, 4)],
      spaced: [D.spaced([10, 15, 20, 25, 30, 35, 40], 13, [2]), D.spaced([10, 15, 20, 25, 30, 35, 40], 13), D.spaced([0, 100], 13, [1])],
      range: [D.valueRange([snap(-1, 1, 10), snap(-0.5, 0.5, 0), snap(2, 3, 5)]), D.valueRange([snap(-0.5, 0.5, 0)]), D.valueRange([snap(0, 0, 4)])],
    };
    """
    got = run(script, None)
    assert got["pct"] == ["100%", "50%", "12%", "1.5%", "0.012%", "0%", "—"]
    assert got["frame"] == [[-0.5, 0.5], [2.7, 3.3], [-2, 5], [-1, 1], [-1, 1], [3.6, 4.4]]
    assert got["spaced"] == [[2, 5], [0, 3, 6], [0, 1]]  # 5 px apart: every third, the selected one first
    assert got["range"] == [[-1, 3], [-1, 1], [-0.5, 0.5]]


def test_statistics_line_says_dash_for_what_is_unknown():
    """A Series imported from TensorBoard's own files keeps no mean, std, norm (nor a zero
    count): the line under the plot says "—", not "NaN"."""
    script = """
    const base = { step: 5, epoch: -1, counts: [1, 2, 3], nan: 0, posinf: 0, neginf: 0, zeros: 0, min: -1, max: 2 };
    OUT = [D.describe({ ...base, mean: NaN, std: NaN, norm: NaN }, true), D.describe({ ...base, mean: 0.5, std: 1, norm: 3, zeros: 3 }),
           D.describe({ ...base, counts: [0, 0, 0], nan: 4, mean: 0, std: 0, norm: 0 })];
    """
    imported, own, bad = run(script, None)
    assert imported == "step 5 · mean — · std — · min -1 · max 2 · norm — · zeros —"
    assert own == "step 5 · mean 0.5 · std 1 · min -1 · max 2 · norm 3 · zeros 50.0%"
    assert bad == "step 5 · no finite values · NON-FINITE: 4 NaN"


def test_a_local_model_stands_in_for_the_widgets():
    """The saved copy has no widget model: a local one keeps the controls' state and tells
    its listeners at once, as Backbone does; off() removes a listener."""
    script = """
    const m = D.localModel({ kind: "", step: -1 });
    const seen = [];
    const fn = () => seen.push(m.get("step"));
    m.on("change:step", fn);
    m.set("step", 4); m.set("step", 4); m.set("kind", "grads");
    m.off("change:step", fn); m.set("step", 9); m.save_changes(); m.send({});
    OUT = { seen, kind: m.get("kind"), step: m.get("step") };
    """
    assert run(script, None) == {"seen": [4], "kind": "grads", "step": 9}


def test_the_shipped_bundle_is_built_from_the_sources():
    """tfhist_magic/view/dashboard.js is js/src/*.js bundled by js/build.mjs (committed, so
    pip install needs no npm): its first lines name the sources' digest, computed the
    way build.mjs computes it (with tfhist_magic/constants.json, which it inlines). Rebuild with `cd js && npm install && npm run build`."""
    import hashlib
    import re
    from pathlib import Path

    src = Path(__file__).resolve().parents[1] / "js" / "src"
    h = hashlib.sha256()
    for f in sorted(p.relative_to(src).as_posix() for p in src.rglob("*.js")):
        h.update(f.encode() + b"\0" + (src / f).read_bytes() + b"\0")
    shared = src.parents[1] / "tfhist_magic" / "constants.json"  # inlined: the names Python and the page share
    h.update(b"tfhist_magic/constants.json\0" + shared.read_bytes() + b"\0")
    from jsnode import JS

    said = re.search(r"^// sources: sha256 ([0-9a-f]{64})$", JS.read_text(), re.M)
    assert said and said.group(1) == h.hexdigest(), "dashboard.js is stale: cd js && npm install && npm run build"


def test_the_saved_copy_needs_no_kernel():
    """The packet a saved output carries, in a Store with no kernel: every Series is
    complete (the saved snapshots are all there is), nothing is asked for, and the
    header says how much the copy keeps."""
    import re
    import zlib

    from tfhist_magic.view.saved import SavedView

    rec, _ = _recording()
    page = SavedView(rec)._repr_mimebundle_()[0]["text/html"]
    packet = zlib.decompress(base64.b64decode(re.search(r'data-packet="([^"]+)"', page).group(1)))
    script = """
    const store = new D.Store(null);
    store.receive(Uint8Array.from(atob(DATA), (c) => c.charCodeAt(0)).buffer);
    const list = store.ofKind("grads");
    OUT = { complete: list.map((s) => store.complete(s)), recorded: list.map((s) => s.recorded), asked: [store.wantHistory(list), store.wantDepth("grads", "norm", list)],
            waiting: store.asked.size, saved: store.header.saved };
    """
    got = run(script, _b64(packet))
    assert got["complete"] == [True, True] and got["recorded"] == [3, 3] and got["asked"] == [False, False] and got["waiting"] == 0
    assert got["saved"]["thinned"] is False and got["saved"]["snapshots"] == 6


def test_the_heatmaps_range_frames_the_bulk_and_counts_what_it_leaves_out():
    """robustRange: the 10th percentile over steps of the snapshots' lowest values to the
    90th of their highest (NumPy's linear quantile on the same edges), or null when that
    is not under half the whole range. outside: the shares of a snapshot below and above
    a range, its values spread evenly within a bin (checked on exact fractions)."""
    rng = np.random.default_rng(3)
    snaps = []
    for j in range(20):
        v = rng.normal(0, 50.0 if j == 0 else 1.0, size=1000)
        c, e = np.histogram(v, 16)
        snaps.append({"edges": e.tolist(), "counts": c.tolist(), "finite": 1000})
    lows = np.array([s["edges"][0] for s in snaps])
    highs = np.array([s["edges"][-1] for s in snaps])
    full = [lows.min(), highs.max()]
    one = {"edges": [0, 1, 2, 4], "counts": [10, 20, 10], "finite": 40}
    got = run("OUT = { r: D.robustRange(DATA.snaps, DATA.full), none: D.robustRange(DATA.snaps.slice(1), [-5, 5]), "
              "out: [D.outside(DATA.one, 0.5, 3), D.outside(DATA.one, -1, 9), D.outside(DATA.one, 1, 2)] };",
              {"snaps": snaps, "full": full, "one": one})
    np.testing.assert_allclose(got["r"], [np.quantile(lows, 0.1), np.quantile(highs, 0.9)], rtol=1e-12)
    assert got["none"] is None  # the steps alike: the whole range, nothing marked
    np.testing.assert_allclose(got["out"], [[5 / 40, 5 / 40], [0, 0], [10 / 40, 10 / 40]], rtol=1e-12)


def test_contrast_is_wcags():
    """The contrast the page measures (theme.js) is WCAG 2's: black on white 21:1, white on
    white 1:1, and #767676 on white just above 4.5:1 (the usual reference)."""
    got = run("OUT = [D.contrast([0, 0, 0], [255, 255, 255]), D.contrast([255, 255, 255], [255, 255, 255]), D.contrast([118, 118, 118], [255, 255, 255])];", None)
    assert abs(got[0] - 21) < 1e-9 and abs(got[1] - 1) < 1e-12 and 4.5 < got[2] < 4.6


def test_the_page_keeps_each_runs_scalar_series_of_a_comparison():
    """A comparison's packet carries every run's scalar series under one tensor name: the
    page's Store keeps them apart by run (run 0 where a single recording's are), next to
    the scores, and knows each run's model of a tensor (its gradient norm's name)."""
    import zlib

    import tfhist_magic
    from tfhist_magic.view.comparing import compare_packet

    runs = []
    for r, prefix in enumerate(("net", "net_1")):
        rec = Recording(bins=16)
        rng = np.random.default_rng(r)
        names = [f"{prefix}/d/kernel", f"{prefix}/d/bias"]
        for kind in ("weights", "grads"):
            rows = np.stack([np.stack([H.reference_row(rng.normal(size=200).astype(np.float32), 16) for _ in names]) for _ in range(4)])
            rec.add_rows(kind, names, [0, 10, 20, 30], rows)
        rec.add_model(prefix, names)
        rec.add_scalars("update_norm", names[0], [0, 10, 20, 30], (r + 1) * np.array([1.0, 2.0, 3.0, 4.0]))
        rec.add_scalars("grad_norm", prefix, [0, 10, 20, 30], (r + 1) * np.array([4.0, 3.0, 2.0, 1.0]))
        runs.append(rec)
    cmp = tfhist_magic.compare(*runs, labels=["a", "b"])
    packet = zlib.decompress(compare_packet(cmp)[0])
    script = """
    const store = new D.Store(null);
    store.receive(Uint8Array.from(atob(DATA), (c) => c.charCodeAt(0)).buffer);
    const models = store.header.compare.runs.map((r) => r.models["d/kernel"]);
    OUT = { norm: [0, 1].map((r) => store.scalar("update_norm", "d/kernel", r)?.values),
            grad: [0, 1].map((r) => store.scalar("grad_norm", models[r], r)?.values), models,
            score: store.scalar("score.weights", "d/kernel")?.steps };
    """
    got = run(script, _b64(packet))
    assert got["norm"] == [[1, 2, 3, 4], [2, 4, 6, 8]] and got["grad"] == [[4, 3, 2, 1], [8, 6, 4, 2]]
    assert got["models"] == ["net", "net_1"] and got["score"] == [0, 10, 20, 30]
