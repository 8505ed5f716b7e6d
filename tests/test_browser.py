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
