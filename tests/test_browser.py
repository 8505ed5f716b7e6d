"""End to end in a real browser: a watched ``fit`` in JupyterLab and in Notebook 7, driven
by headless Chromium. What the page drew is read back from the DOM and compared with
the Recording the kernel saved; screenshots of every view go to ``out/browser/``."""

import json
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("playwright")
pytest.importorskip("jupyterlab")

from browser import browser_page, jupyter_server, write_notebook  # noqa: E402
from tfhist_magic import histogram as H  # noqa: E402
from tfhist_magic.recording import Recording  # noqa: E402

OUT = Path(__file__).resolve().parents[1] / "out" / "browser"

SETUP = """\
%load_ext tfhist_magic
import time
import numpy as np, keras
keras.utils.set_random_seed(0)
x = np.random.rand(512, 8).astype("float32"); y = np.random.rand(512, 1).astype("float32")
inp = keras.Input((8,))
hidden = keras.layers.Dense(32, activation="tanh", name="hidden")(inp)
dead = keras.layers.Dense(8, activation="relu", bias_initializer=keras.initializers.Constant(-50.0), name="dead")(inp)
out = keras.layers.Dense(1, name="out")(keras.layers.Concatenate(name="concat")([hidden, dead]))
model = keras.Model(inp, out, name="probe")
model.compile("sgd", "mse")
class Slow(keras.callbacks.Callback):  # a fit of several seconds, so the test can act while it runs
    def on_train_batch_end(self, batch, logs=None):
        time.sleep(0.05)
"""
WATCH = "%%tfhist_watch --every 1\nmodel.fit(x, y, batch_size=32, epochs=8, verbose=0, callbacks=[Slow()])"


def _notebook(root: Path, name: str) -> None:
    write_notebook(root / f"{name}.ipynb", [SETUP, WATCH, f'_tfhist.save("{name}.npz")'])


# A Recording of 600 Series (200 layers of a Transformer-like model, each kind) x 100
# snapshots, built in the kernel from NumPy rows (no TensorFlow): gradients that shrink
# with depth, one weight whose update ratio is far too high, one gradient with NaN at the
# latest step, a dead activation.
BIG = """\
import time, json
import numpy as np
from tfhist_magic import histogram as H
from tfhist_magic.recording import Recording
from tfhist_magic.view.widget import Dashboard
rng = np.random.default_rng(0)
B, S = 64, 100
layers = [f"encoder/block_{b}/{part}" for b in range(20) for part in ("attention/query", "attention/key", "attention/value",
          "attention/output", "norm_1", "ffn/dense_1", "ffn/act", "ffn/dense_2", "norm_2", "residual")]
rec = Recording(bins=B)
steps = np.arange(S) * 5
base = np.stack([H.reference_row(rng.normal(size=512).astype(np.float32), B) for _ in layers])
for kind in ("activations", "weights", "grads"):
    names = layers if kind == "activations" else [n + "/kernel" for n in layers]
    scale = np.ones((S, len(layers)))
    if kind == "grads":  # vanishing with depth, shrinking over the steps
        scale = np.exp(-np.arange(len(layers)) / 60.0)[None, :] * np.linspace(1, 0.3, S)[:, None]
    rows = np.repeat(base[None], S, axis=0)
    for k in (H.MIN, H.MAX, H.MEAN, H.STD, H.NORM, H.WIDTH):
        rows[:, :, B + k] *= scale
    if kind == "grads":
        rows[-1, 37, B + H.NAN] = 7
    rec.add_rows(kind, names, steps, rows)
for i, n in enumerate(layers):
    rec.add_scalars("update_ratio", n + "/kernel", steps, np.full(S, 0.5 if i == 11 else 1e-3 * (1 + i % 3)))
    rec.add_scalars("dead_units", n, steps, np.full(S, 0.97 if i == 23 else 0.01))
rec.add_model("encoder", layers + [n + "/kernel" for n in layers])
dash = Dashboard(rec)
t = time.perf_counter(); packet = dash._state_packet(); built = time.perf_counter() - t
print("KERNEL", json.dumps({"bytes": len(packet), "build_ms": 1000 * built, "series": len(rec)}))
dash
"""


def _open_and_run(page, url: str) -> None:
    page.goto(url)
    page.add_style_tag(content=".jp-toast-container, .Toastify { display: none !important; }")  # JupyterLab's news prompt
    page.wait_for_function("() => window.jupyterapp && document.querySelector('.jp-Notebook .jp-Cell')", timeout=90_000)
    page.wait_for_function(
        "() => { const k = window.jupyterapp.shell.currentWidget?.context?.sessionContext;"
        " return k && k.session && k.session.kernel && k.session.kernel.status === 'idle'; }",
        timeout=90_000,
    )
    page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")  # not awaited


def _drawn(page) -> dict:
    return json.loads(page.get_attribute(".tfh-canvas", "data-drawn"))


def _tabs(page) -> list:
    return page.eval_on_selector_all(".tfh-tab", "es => es.map((e) => e.dataset.kind)")


def _assert_drawn(page, series, i: int) -> dict:
    """The step view drew snapshot ``i`` of ``series``: its exact counts on its edges."""
    d = _drawn(page)
    assert (d["kind"], d["name"], d["step"]) == (series.kind, series.name, int(series.steps[i]))
    np.testing.assert_array_equal(d["counts"], series.counts[i])
    np.testing.assert_array_equal(d["edges"], series.edges[i])
    return d


def _state(page) -> dict:
    return page.eval_on_selector(".tfh", "e => ({...e.dataset})")


def _opened(page, name: str) -> None:
    """Wait until the page shows tensor ``name`` with every kept snapshot: the full packet
    has only the latest of each, the page asks for the rest when it opens one."""
    page.wait_for_function(
        "(n) => { const d = document.querySelector('.tfh').dataset; return d.tensor === n && d.snaps === d.kept; }", arg=name, timeout=30_000
    )


def _wait_saved(root: Path, name: str) -> Recording:
    path = root / f"{name}.npz"
    for _ in range(600):
        if path.exists():
            time.sleep(0.3)
            return Recording.load(path)
        time.sleep(0.2)
    raise AssertionError(f"{path} never written:\n" + (root / "server.log").read_text()[-3000:])


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("jupyter")
    _notebook(root, "lab")
    _notebook(root, "nb7")
    write_notebook(root / "big.ipynb", [BIG])
    with jupyter_server(root) as url:
        yield url, root


def test_jupyterlab_live_views_and_interaction(server):
    url, root = server
    OUT.mkdir(parents=True, exist_ok=True)
    with browser_page(failure_shot=OUT / "lab-failure.png") as page:
        _open_and_run(page, url + "/lab/tree/lab.ipynb")
        # -- while the watched cell trains ---------------------------------------------------
        page.wait_for_selector(".tfh[data-live='1'][data-step]", timeout=120_000)
        first = int(_state(page)["step"])
        page.wait_for_function(f"() => +document.querySelector('.tfh').dataset.step > {first}", timeout=10_000)
        assert _state(page)["live"] == "1"  # it moved by itself, training still going
        assert _tabs(page) == ["activations", "weights", "grads"]
        assert _state(page)["kind"] == "activations"  # opens on the first recorded kind
        for kind in ("grads", "weights"):
            t = time.monotonic()
            page.click(f".tfh-tab[data-kind='{kind}']")
            page.wait_for_selector(f".tfh[data-kind='{kind}']", timeout=5_000)
            assert time.monotonic() - t < 1.0
            assert _state(page)["live"] == "1", "the click was answered after training ended"
        page.locator(".tfh").screenshot(path=str(OUT / "lab-live.png"))
        # -- after the cell ----------------------------------------------------------------
        page.wait_for_selector(".tfh[data-live='0']", timeout=180_000)
        rec = _wait_saved(root, "lab")
        assert not page.is_visible(".jp-OutputArea-output img")  # the widget, not the PNG
        page.click(".tfh-tab[data-kind='grads']")
        name = rec.names("grads")[1]
        page.click(f".tfh-item[data-name='{name}']")
        page.wait_for_selector(f".tfh[data-tensor='{name}'][data-view='step']")
        _opened(page, name)
        s = rec.series("grads", name)
        _assert_drawn(page, s, -1)
        # slider: snapshot 3
        page.eval_on_selector(".tfh-slider", "e => { e.value = 3; e.dispatchEvent(new Event('input')); }")
        page.wait_for_selector(f".tfh[data-step='{int(s.steps[3])}']")
        _assert_drawn(page, s, 3)
        assert f"step {int(s.steps[3])} · epoch {int(s.epochs[3]) + 1}" in page.inner_text(".tfh-at")
        # hover the fullest bin: the tip names its range and count
        d = _drawn(page)
        b = int(np.argmax(d["counts"]))
        box = page.locator(".tfh-canvas").bounding_box()
        x0, x1 = d["range"]
        mid = (d["edges"][b] + d["edges"][b + 1]) / 2
        px = box["x"] + 58 + (mid - x0) / (x1 - x0) * (box["width"] - 58 - 96)
        page.mouse.move(px, box["y"] + box["height"] - 40)
        page.wait_for_selector(".tfh-tip", state="visible")
        assert f"count {d['counts'][b]} " in page.inner_text(".tfh-tip")
        page.mouse.move(0, 0)
        page.locator(".tfh").screenshot(path=str(OUT / "lab-step.png"))
        page.click(".tfh-tab[data-kind='activations']")
        page.click(".tfh-item[data-name='hidden']")
        page.click(".tfh-view[data-view='heatmap']")
        page.wait_for_selector(".tfh[data-tensor='hidden'][data-view='heatmap']")
        page.locator(".tfh").screenshot(path=str(OUT / "lab-heatmap-activations.png"))
        page.click(".tfh-view[data-view='step']")
        page.click(".tfh-tab[data-kind='grads']")
        page.click(f".tfh-item[data-name='{name}']")
        _opened(page, name)
        # every view redraws from the same exact rows
        for view in ("overlay", "offset", "heatmap", "distribution"):
            page.click(f".tfh-view[data-view='{view}']")
            page.wait_for_selector(f".tfh[data-view='{view}']")
            d = _drawn(page)
            assert d["view"] == view and d["name"] == name
            page.locator(".tfh").screenshot(path=str(OUT / f"lab-{view}.png"))
            if view == "heatmap":
                grid = np.array(d["grid"])
                for j in (0, len(s) // 2, len(s) - 1):
                    want = H.rebin(s.edges[j], s.counts[j], grid) / s.counts[j].sum()
                    np.testing.assert_allclose(d["shares"][j], want, rtol=1e-9, atol=1e-12)
            if view == "distribution":
                want = H.percentiles(s.edges, s.counts, s.min, s.max)
                np.testing.assert_allclose(np.array(d["percentiles"], dtype=float), want, rtol=1e-9)
        # small multiples: every tensor of the kind, a click opens one
        page.click(".tfh-view[data-view='grid']")
        page.wait_for_selector(".tfh[data-view='grid'] .tfh-tile")
        assert int(_state(page)["tiles"]) == len(rec.names("grads"))
        page.locator(".tfh").screenshot(path=str(OUT / "lab-grid.png"))
        other = rec.names("grads")[0]
        page.click(f".tfh-tile[data-name='{other}']")
        page.wait_for_selector(f".tfh[data-tensor='{other}'][data-view='step']")
        # the scalar series under the histogram: update ratios of a weight, dead units and
        # saturation of an activation, as recorded
        for kind, name, metrics in (
            ("weights", rec.scalar_names("update_ratio")[0], ["update_ratio"]),
            ("activations", next(n for n in rec.names("activations") if n.endswith("hidden")), ["dead_units", "saturation"]),
        ):
            page.click(f".tfh-tab[data-kind='{kind}']")
            page.click(f".tfh-item[data-name='{name}']")
            _opened(page, name)
            page.wait_for_selector(f".tfh[data-tensor='{name}'] .tfh-probe[data-drawn]")
            drawn = json.loads(page.get_attribute(".tfh-probe", "data-drawn"))
            assert sorted(drawn["metrics"]) == sorted(metrics) and drawn["name"] == name
            if kind == "weights":  # every other weight matrix's ratio drawn beside it
                assert drawn["others"] == len(rec.scalar_names("update_ratio")) - 1 > 0
            for m in metrics:
                steps, values = rec.scalar(m, name)
                assert drawn["metrics"][m]["steps"] == steps.tolist() and drawn["metrics"][m]["values"] == values.tolist()
            page.locator(".tfh").screenshot(path=str(OUT / f"lab-probes-{kind}.png"))
        # a finding selects its tensor and step
        page.click(".tfh-finding:has-text('dying ReLU')")
        page.wait_for_selector(".tfh[data-kind='activations']")
        st = _state(page)
        assert "dead" in st["tensor"], st
        # the filter keeps only matching tensors
        page.fill(".tfh-filter", "hidden")
        names = page.eval_on_selector_all(".tfh-item", "es => es.map((e) => e.dataset.name)")
        assert names and all("hidden" in n for n in names), names
        assert page.our_errors() == [], page.errors


def test_notebook7_renders_the_recording(server):
    url, root = server
    OUT.mkdir(parents=True, exist_ok=True)
    with browser_page(failure_shot=OUT / "notebook7-failure.png") as page:
        _open_and_run(page, url + "/notebooks/nb7.ipynb")
        page.wait_for_selector(".tfh[data-live='0']", timeout=180_000)
        rec = _wait_saved(root, "nb7")
        assert _tabs(page) == list(rec.kinds)
        page.click(".tfh-tab[data-kind='weights']")
        page.wait_for_selector(".tfh[data-kind='weights']")
        _assert_drawn(page, rec.series("weights", _state(page)["tensor"]), -1)
        page.locator(".tfh").screenshot(path=str(OUT / "notebook7-step.png"))
        assert page.our_errors() == [], page.errors


# -- a dashboard for 600 tensors ---------------------------------------------------------------

TIMES = Path("/tmp/tfhist-browser-times.json")


def _clicked(page, selector: str, *until: str) -> dict:
    """Click ``selector`` in the page and measure: ``sync_ms`` (the click's handlers,
    drawing included) and, for each JS condition in ``until``, the ms until it held."""
    return page.evaluate(
        """([sel, until]) => new Promise((done) => {
            const t0 = performance.now();
            document.querySelector(sel).click();
            const out = { sync_ms: performance.now() - t0 };
            const check = () => {
                until.forEach((c, i) => { if (out["ms_" + i] === undefined && eval(c)) out["ms_" + i] = performance.now() - t0; });
                until.every((c, i) => out["ms_" + i] !== undefined) ? done(out) : requestAnimationFrame(check);
            };
            check();
        })""",
        [selector, list(until)],
    )


def _set(page, selector: str, value: str) -> float:
    return page.evaluate(
        """([sel, v]) => { const t0 = performance.now(); const e = document.querySelector(sel); e.value = v;
            e.dispatchEvent(new Event("change")); return performance.now() - t0; }""",
        [selector, value],
    )


def test_a_dashboard_for_600_tensors(server):
    """600 Series x 100 snapshots: a reload gets an index (the latest snapshot of each),
    a bounded packet; opening a tensor fetches its history; the picker groups by block;
    "all tensors" draws only the tiles on screen, NaN first; the depth x step view draws
    one row per tensor and one column per kept step. The times are printed (and written
    to /tmp/tfhist-browser-times.json), not asserted: the machine is shared."""
    url, root = server
    OUT.mkdir(parents=True, exist_ok=True)
    times = {}
    with browser_page(failure_shot=OUT / "big-failure.png") as page:
        _open_and_run(page, url + "/lab/tree/big.ipynb?reset")  # only this notebook: no tabs restored from the other tests
        page.wait_for_selector(".tfh[data-step]", timeout=180_000)
        kernel = json.loads(page.inner_text(".jp-OutputArea-output:has-text('KERNEL')").split("KERNEL", 1)[1].strip().splitlines()[0])
        times["kernel"] = kernel
        assert kernel["series"] == 600 and kernel["bytes"] < 400_000, kernel
        page.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")
        page.wait_for_function("() => !window.jupyterapp.shell.currentWidget.context.model.dirty", timeout=30_000)
        # -- reload: the widget's state comes from the kernel again --------------------------
        t = time.monotonic()
        page.reload()
        page.add_style_tag(content=".jp-toast-container, .Toastify { display: none !important; }")
        page.wait_for_selector(".tfh[data-step][data-first-draw-ms]", timeout=120_000)
        st = _state(page)
        times["reload"] = {"wall_s": time.monotonic() - t, "first_draw_since_page_start_ms": float(st["firstDrawAt"]),
                           "widget_first_draw_ms": float(st["firstDrawMs"]), "packet_bytes": int(st["packetBytes"]),
                           "decode_ms": float(st["decodeMs"]), "apply_ms": float(st["applyMs"])}
        assert int(st["packetBytes"]) < 400_000 and (st["snaps"], st["kept"]) in (("1", "100"), ("100", "100")), st
        assert _tabs(page) == ["activations", "weights", "grads"]
        # -- the picker: blocks collapse; one opens ----------------------------------------
        rows = int(st["pickerRows"])
        assert rows < 60, rows  # 200 activations under 20 collapsed blocks
        times["expand_block"] = _clicked(page, ".tfh-node[data-key='model:encoder/block_3']", "document.querySelector(\".tfh-item[data-name='encoder/block_3/norm_1']\")")
        # the keyboard: down selects the next tensor, left goes to its group and closes it
        page.click(".tfh-item[data-name='encoder/block_0/attention/query']")
        page.focus(".tfh-list")
        page.keyboard.press("ArrowDown")
        page.wait_for_selector(".tfh[data-tensor='encoder/block_0/attention/key']")
        page.keyboard.press("ArrowLeft")
        page.keyboard.press("ArrowLeft")
        page.wait_for_selector(".tfh-node.tfh-cursor[data-key='model:encoder/block_0/attention'][aria-expanded='false']")
        # -- switching tab, tensor and view ------------------------------------------------
        times["tab_grads"] = _clicked(page, ".tfh-tab[data-kind='grads']", "document.querySelector('.tfh').dataset.kind === 'grads'")
        page.fill(".tfh-filter", "block_7/ffn/dense_2")
        name = "encoder/block_7/ffn/dense_2/kernel"
        # drawn at once from the latest snapshot; the history (100 snapshots) when the kernel answers
        times["tensor"] = _clicked(page, f".tfh-item[data-name='{name}']", f"document.querySelector('.tfh').dataset.tensor === '{name}'",
                                   "document.querySelector('.tfh').dataset.snaps === '100'")
        assert (_drawn(page)["name"], _drawn(page)["step"]) == (name, 495)
        page.fill(".tfh-filter", "")
        for view in ("heatmap", "distribution", "step"):
            times[f"view_{view}"] = _clicked(page, f".tfh-view[data-view='{view}']", f"document.querySelector('.tfh').dataset.view === '{view}'")
            if view == "heatmap":
                assert len(_drawn(page)["steps"]) == 100
                page.locator(".tfh").screenshot(path=str(OUT / "big-heatmap.png"))
        # -- all tensors: only the visible tiles drawn, the NaN one first -------------------
        times["view_grid"] = _clicked(page, ".tfh-view[data-view='grid']", "+document.querySelector('.tfh').dataset.drawnTiles > 0")
        times["grid_sort_ms"] = _set(page, "select[data-opt='gridSort']", "nonfinite")
        page.wait_for_function("() => document.querySelector('.tfh-grid .tfh-tile[data-drawn]')")
        st = _state(page)
        order = page.eval_on_selector_all(".tfh-tile", "es => es.map((e) => e.dataset.name)")
        assert int(st["tiles"]) == len(order) == 200 and order[0] == "encoder/block_3/ffn/dense_2/kernel", order[:3]  # layer 37: NaN
        drawn = page.eval_on_selector_all(".tfh-tile[data-drawn]", "es => es.map((e) => e.dataset.name)")
        assert 0 < len(drawn) < 60 and order[0] in drawn, len(drawn)
        times["grid_tiles_drawn"] = len(drawn)
        page.locator(".tfh").screenshot(path=str(OUT / "big-grid.png"))
        page.eval_on_selector(".tfh-grid", "e => { e.scrollTop = e.scrollHeight; }")
        page.wait_for_function(f"() => document.querySelector(\".tfh-tile[data-name='{order[-1]}'][data-drawn]\")")
        assert not page.query_selector(f".tfh-tile[data-name='{order[0]}'][data-drawn]")  # let go once off screen
        page.click(".tfh-tab[data-kind='weights']")
        _set(page, "select[data-opt='gridSort']", "update_ratio")
        page.wait_for_function("() => document.querySelector('.tfh-tile')?.dataset.name === 'encoder/block_1/attention/key/kernel'")  # layer 11: ratio 0.5
        # -- depth x step: one row per tensor, one column per kept step ---------------------
        page.click(".tfh-tab[data-kind='grads']")
        # drawn at once from what the page holds (the latest step); all steps when the kernel answers
        times["view_depth"] = _clicked(page, ".tfh-view[data-view='depth']", "document.querySelector('.tfh').dataset.view === 'depth'",
                                       "JSON.parse(document.querySelector('.tfh-canvas').dataset.drawn || '{}').complete === true")
        d = _drawn(page)
        assert (d["view"], d["metric"], d["rows"], d["cols"]) == ("depth", "norm", 200, 100), {k: d[k] for k in ("view", "metric", "rows", "cols")}
        assert d["steps"] == list(range(0, 500, 5)) and d["names"][0] == "encoder/block_0/attention/query/kernel"
        times["depth_redraw_ms"] = _set(page, "select[data-opt='depth']", "norm")
        page.locator(".tfh").screenshot(path=str(OUT / "big-depth.png"))
        box = page.locator(".tfh-canvas").bounding_box()
        row_h = max(1, min(14, 560 / 200))
        page.mouse.click(box["x"] + 190 + 1.5, box["y"] + 8 + 50.5 * row_h)  # row 50, the first step
        page.wait_for_selector(".tfh[data-view='step'][data-tensor='encoder/block_5/attention/query/kernel'][data-step='0']", timeout=10_000)
        assert page.our_errors() == [], page.errors
    TIMES.write_text(json.dumps(times, indent=1))
    print("\nBROWSER TIMES", json.dumps(times, indent=1))
