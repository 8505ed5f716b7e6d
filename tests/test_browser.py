"""End to end in a real browser: a watched ``fit`` in JupyterLab and in Notebook 7, driven
by headless Chromium. What the page drew is read back from the DOM and compared with
the Recording the kernel saved; screenshots of every view go to ``out/browser/``.

When the watched cell ends, its output becomes the dashboard the notebook keeps (the page
code and the data inlined as text/html): tested drawn in the live session, in the saved
notebook reopened in JupyterLab and in Notebook 7 after its kernel was shut down, in
nbconvert HTML, and with the scripts stripped (as GitHub shows it). The drawing fixes are
checked on a saved dashboard loaded on its own (no Jupyter), which is quick."""

import json
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("playwright")
pytest.importorskip("jupyterlab")

from browser import browser_page, jupyter_server, low_contrast, write_notebook  # noqa: E402
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
        _open_and_run(page, url + "/lab/tree/lab.ipynb?reset")  # only this notebook: no tabs restored from an earlier run
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
        # -- after the cell: the output is the dashboard the notebook keeps ----------------
        page.wait_for_selector(".tfh[data-saved='1'][data-step]", timeout=180_000)
        rec = _wait_saved(root, "lab")
        assert not page.is_visible(".jp-OutputArea-output img")  # the dashboard, not the PNG beside it
        assert _state(page)["kind"] == "weights"  # it opens where the live view was (the last tab clicked)
        assert page.query_selector(".tfh[data-saved='0']") is None  # the live widget is gone
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
        page.wait_for_selector(".tfh[data-saved='1'][data-step]", timeout=180_000)
        rec = _wait_saved(root, "nb7")
        assert _tabs(page) == list(rec.kinds)
        page.click(".tfh-tab[data-kind='weights']")
        page.wait_for_selector(".tfh[data-kind='weights']")
        _assert_drawn(page, rec.series("weights", _state(page)["tensor"]), -1)
        page.locator(".tfh").screenshot(path=str(OUT / "notebook7-step.png"))
        assert page.our_errors() == [], page.errors


# -- the end of a watched cell: the swap, the state it keeps, the theme ------------------------

# Samples the watched cell's output every frame: its height, whether a dashboard shows
# (not one being built), whether the no-script picture shows, the status line.
SAMPLER = """() => {
  const area = document.querySelectorAll('.jp-Notebook .jp-Cell')[1].querySelector('.jp-OutputArea');
  const shown = (e) => e.getClientRects().length > 0 && getComputedStyle(e).visibility !== 'hidden' && !e.closest('.tfh-building');
  window.__samples = [];
  const take = () => {
    const dash = [...area.querySelectorAll('.tfh')].filter(shown);
    const fallback = [...area.querySelectorAll('.tfh-fallback')].filter((e) => shown(e) && getComputedStyle(e).display !== 'none');
    const st = dash.length ? dash[0].querySelector('.tfh-status') : null;
    // the output that holds the dashboard (the cell's other outputs, fit's History, are the user's)
    const mine = [...area.children].find((c) => c.querySelector('.tfh, .tfh-saved'));
    window.__samples.push({ t: performance.now(), h: mine ? mine.getBoundingClientRect().height : 0, dash: dash.length, fallback: fallback.length,
      saved: dash.length ? dash[0].dataset.saved : null, status: st ? st.textContent : '',
      parts: dash.length ? ['.tfh-body', '.tfh-side', '.tfh-main', '.tfh-findings', '.tfh-below', '.tfh-probe', '.tfh-norms', '.tfh-top'].map((q) => Math.round(dash[0].querySelector(q).getBoundingClientRect().height)).concat([Math.round(dash[0].getBoundingClientRect().height)]) : [],
      outputs: [...area.children].map((c) => Math.round(c.getBoundingClientRect().height)) });
    if (!window.__stopSampling) requestAnimationFrame(take);
  };
  take();
}"""


def _saved_info(path: Path) -> dict:
    """The data-info of the saved dashboard in notebook ``path``: what its data holds and
    the state it opens on."""
    import html as _html
    import re

    nb = json.loads(path.read_text())
    for c in nb["cells"]:
        for o in c.get("outputs", []):
            page = "".join(o.get("data", {}).get("text/html", ""))
            m = re.search(r'data-info="([^"]*)"', page)
            if 'class="tfh-saved"' in page and m:
                return json.loads(_html.unescape(m.group(1)))
    raise AssertionError(f"no saved dashboard in {path}")


def _theme(page, name: str, dark: bool, dashboard: bool = True) -> None:
    page.evaluate(f"() => window.jupyterapp.commands.execute('apputils:change-theme', {{ theme: '{name}' }})")
    page.wait_for_selector(f"body[data-jp-theme-light='{'false' if dark else 'true'}']", state="attached", timeout=30_000)
    if dashboard:
        page.wait_for_selector(f".tfh[data-theme='{'dark' if dark else 'light'}']", timeout=10_000)
    page.wait_for_timeout(800)  # the theme's styles, then the dashboard's second look


def _swap(page, url, root) -> dict:
    """The live phase of test_the_end_of_a_watched_cell: clicks while the cell trains, the
    swap sampled every frame, the notebook saved. Returns the state the clicks left."""
    _open_run_all = "() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }"
    page.add_style_tag(content=".jp-toast-container, .Toastify { display: none !important; }")
    page.wait_for_function(
        "() => { const k = window.jupyterapp.shell.currentWidget?.context?.sessionContext;"
        " return k && k.session && k.session.kernel && k.session.kernel.status === 'idle'; }",
        timeout=90_000,
    )
    page.evaluate(_open_run_all)
    page.wait_for_selector(".tfh[data-live='1'][data-step]", timeout=120_000)
    assert page.get_attribute(".tfh", "data-theme") == "dark"
    page.click(".tfh-tab[data-kind='weights']")
    page.wait_for_selector(".tfh[data-kind='weights'] .tfh-item")
    name = page.eval_on_selector_all(".tfh-item", "es => es.map((e) => e.dataset.name)")[1]
    page.click(f".tfh-item[data-name='{name}']")
    page.click(".tfh-view[data-view='heatmap']")
    page.wait_for_function("() => +document.querySelector('.tfh').dataset.snaps >= 3", timeout=30_000)
    page.eval_on_selector(".tfh-slider", "e => { e.value = 0; e.dispatchEvent(new Event('input')); }")  # the first it holds: not the latest
    page.select_option("select[data-opt='x']", "epoch")
    assert not page.is_checked(".tfh-follow input")
    want = {k: _state(page)[k] for k in ("kind", "tensor", "view", "step")}
    assert want["kind"] == "weights" and want["tensor"] == name and want["view"] == "heatmap", want
    assert _state(page)["live"] == "1", "the clicks were made after training ended"
    bad = low_contrast(page)  # the live dashboard, in JupyterLab Dark
    assert not bad, bad
    page.locator(".tfh").screenshot(path=str(OUT / "lab-live-dark.png"))
    assert _state(page)["live"] == "1"
    page.evaluate(SAMPLER)
    page.wait_for_selector(".tfh[data-saved='1'][data-step]", timeout=180_000)
    page.wait_for_timeout(1500)
    samples = page.evaluate("() => { window.__stopSampling = true; return window.__samples; }")
    assert len(samples) > 10, samples
    assert all(s["dash"] >= 1 for s in samples), [s for s in samples if not s["dash"]][:3]  # never empty
    assert not any(s["fallback"] for s in samples), [s for s in samples if s["fallback"]][:3]  # never the picture
    assert any("saving" in s["status"] for s in samples if s["saved"] == "0"), {s["status"] for s in samples}
    heights = [round(s["h"]) for s in samples]
    changes = [(i, a, b) for i, (a, b) in enumerate(zip(heights, heights[1:])) if abs(a - b) > 2]
    Path("/tmp/tfhist-swap-samples.json").write_text(json.dumps(samples))
    assert len(changes) <= 1, [(c, [(x["saved"], round(x["h"]), x["status"][:30]) for x in samples[c[0] - 1 : c[0] + 3]]) for c in changes]
    print("\nSWAP heights", sorted(set(heights)), "changes", changes, "samples", len(samples))
    assert {k: _state(page)[k] for k in want} == want, page.eval_on_selector(".tfh-saved", "e => [e.dataset.opened, e.dataset.info]")  # where the live view was
    assert page.eval_on_selector("select[data-opt='x']", "e => e.value") == "epoch"
    page.wait_for_function("() => window.jupyterapp.shell.currentWidget.context.sessionContext.session.kernel.status === 'idle'", timeout=60_000)
    page.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")
    page.wait_for_function("() => !window.jupyterapp.shell.currentWidget.context.model.dirty", timeout=30_000)
    return want


def test_the_end_of_a_watched_cell(server, tmp_path):
    """In JupyterLab Dark, clicks made while the cell trains (a tab, a tensor, the heatmap,
    a step, the time axis), the live dashboard's contrast measured; when the cell ends, the output is sampled every frame across the swap to the
    saved copy: a dashboard shows at every sample, the no-script picture at none, the
    status says "saving…" before the swap, and the height changes at most once. The
    notebook file holds the state; reopened in a fresh browser it opens there, in JupyterLab
    and in Notebook 7. Then every
    text is measured against its background in JupyterLab's light and dark themes, and in
    nbconvert's light and dark exports of the saved notebook."""
    from nbconvert import HTMLExporter

    url, root = server
    OUT.mkdir(parents=True, exist_ok=True)
    write_notebook(root / "swap.ipynb", [SETUP, WATCH])
    with browser_page(width=1300, height=1000, failure_shot=OUT / "swap-failure.png") as page:
        page.goto(url + "/lab/tree/swap.ipynb?reset")
        page.wait_for_function("() => window.jupyterapp && document.querySelector('.jp-Notebook .jp-Cell')", timeout=90_000)
        _theme(page, "JupyterLab Dark", True, dashboard=False)  # the live phase in the dark theme
        try:
            want = _swap(page, url, root)
        finally:
            _theme(page, "JupyterLab Light", False, dashboard=False)
    info = _saved_info(root / "swap.ipynb")
    st = info["state"]
    assert {"kind": st["kind"], "tensor": st["tensor"], "view": st["view"], "step": str(st["step"])} == want, st
    assert st["opts"]["x"] == "epoch" and st["height"] > 300, st
    # reopened in a fresh browser (nothing remembered there): where it was left; the theme
    with browser_page(width=1300, height=1000, failure_shot=OUT / "reopened-state-failure.png") as page:
        page.goto(url + "/lab/tree/swap.ipynb?reset")
        page.add_style_tag(content=".jp-toast-container, .Toastify { display: none !important; }")
        page.wait_for_selector(".tfh[data-saved='1'][data-step]", timeout=90_000)
        assert {k: _state(page)[k] for k in want} == want
        assert page.eval_on_selector("select[data-opt='x']", "e => e.value") == "epoch"
        try:
            for theme, dark in (("JupyterLab Light", False), ("JupyterLab Dark", True)):
                _theme(page, theme, dark)
                for view in ("heatmap", "depth", "step"):
                    page.click(f".tfh-view[data-view='{view}']")
                    page.wait_for_selector(f".tfh[data-view='{view}']")
                    bad = low_contrast(page)
                    assert not bad, (theme, view, bad)
                page.click(".tfh-view[data-view='heatmap']")
                page.locator(".tfh").screenshot(path=str(OUT / f"lab-{'dark' if dark else 'light'}.png"))
        finally:
            _theme(page, "JupyterLab Light", False)  # the server's setting, for the other tests
    with browser_page(width=1300, height=1000, failure_shot=OUT / "reopened-nb7-state-failure.png") as page:  # Notebook 7 too
        page.goto(url + "/notebooks/swap.ipynb")
        page.wait_for_selector(".tfh[data-saved='1'][data-step]", timeout=90_000)
        assert {k: _state(page)[k] for k in want} == want
    for theme in ("light", "dark"):
        body, _ = HTMLExporter(theme=theme).from_filename(str(root / "swap.ipynb"))
        out = tmp_path / f"swap-{theme}.html"
        out.write_text(body, encoding="utf-8")
        with browser_page(width=1300, height=1000, failure_shot=OUT / f"nbconvert-{theme}-failure.png") as page:
            page.goto(out.as_uri())
            page.wait_for_selector(f".tfh[data-saved='1'][data-step][data-theme='{theme}']", timeout=60_000)
            for view in ("heatmap", "grid", "step"):
                page.click(f".tfh-view[data-view='{view}']")
                page.wait_for_selector(f".tfh[data-view='{view}']")
                bad = low_contrast(page)
                assert not bad, (theme, view, bad)
            page.locator(".tfh").screenshot(path=str(OUT / f"nbconvert-{theme}.png"))
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
        (left, top, _, _), row_h = d["box"], d["rowH"]
        # 200 rows: too many to name each; the names drawn never overlap, the selected row's among them
        ys = [y for _, y in d["labelled"]]
        assert 5 < len(ys) < 200 and all(b - a >= 12 for a, b in zip(ys, ys[1:])), ys
        assert d["names"].index(_state(page)["tensor"]) in [d["names"].index(n) for n, _ in d["labelled"]]
        # every cell answers the pointer: a frame on it, its row named, even where nothing was measured
        page.mouse.move(box["x"] + left + 1.5, box["y"] + top + 50.5 * row_h)
        page.wait_for_selector(".tfh-marks[data-on='hover']")
        assert "encoder/block_5/attention/query/kernel · step 0" in page.inner_text(".tfh-tip")
        # every name, a line each: the picture scrolls inside the plot, the dashboard keeps its height
        height = page.eval_on_selector(".tfh", "e => e.getBoundingClientRect().height")
        page.check("input[data-opt='depthAll']")
        d2 = _wait_drawn(page, view="depth")
        assert d2["scroll"] and len(d2["labelled"]) == 200 and d2["rowH"] >= 12
        assert page.eval_on_selector(".tfh-plot", "e => e.scrollHeight > e.clientHeight + 1000")
        assert page.eval_on_selector(".tfh", "e => e.getBoundingClientRect().height") == height
        page.uncheck("input[data-opt='depthAll']")
        _wait_drawn(page, view="depth")
        page.mouse.click(box["x"] + left + 1.5, box["y"] + top + 50.5 * row_h)  # row 50, the first step
        page.wait_for_selector(".tfh[data-view='step'][data-tensor='encoder/block_5/attention/query/kernel'][data-step='0']", timeout=10_000)
        assert page.our_errors() == [], page.errors
    TIMES.write_text(json.dumps(times, indent=1))
    print("\nBROWSER TIMES", json.dumps(times, indent=1))


# -- the dashboard a notebook keeps --------------------------------------------------------------


def _odd_recording() -> Recording:
    """A run with what used to draw wrong: a gradient whose snapshots hold NaN only from
    step 60, series imported from TensorBoard (no mean, std or norm; dtype unknown; a
    zero bias whose bins have no width), update ratios, activations of 100 snapshots.
    No TensorFlow: NumPy rows."""
    rng = np.random.default_rng(0)
    rec = Recording(bins=32)
    layers = ["dense", "dense_1", "out"]
    for step in range(0, 100, 10):
        for i, layer in enumerate(layers):
            for part in ("kernel", "bias"):
                name = f"{layer}/{part}"
                w = rng.normal(0, 1 + i, size=400).astype(np.float32)
                rec.add("weights", name, step, H.reference_row(w, 32))
                g = rng.normal(0, 0.1, size=400).astype(np.float32)
                if name == "out/kernel" and step >= 60:
                    g[:] = np.nan
                rec.add("grads", name, step, H.reference_row(g, 32))
    for step in range(100):  # activations at every step: 100 snapshots, enough to crowd the offset view's labels
        for layer in layers:
            rec.add("activations", layer, step, H.reference_row(np.tanh(rng.normal(0, 1 + step / 50, size=800)).astype(np.float32), 32))
    rec.mark_nonfinite(60)
    for layer in layers:
        rec.add_scalars("update_ratio", f"{layer}/kernel", list(range(0, 100, 10)), rng.uniform(5e-4, 2e-3, 10))
    rec.add_model("net", [f"{n}/{p}" for n in layers for p in ("kernel", "bias")] + layers)
    # imported from TensorBoard's own files: explicit edges, no mean/std/norm, dtype unknown
    edges = np.stack([np.linspace(-1, 1, 9), np.zeros(9)])[:, None, :].repeat(3, axis=1).transpose(1, 0, 2)  # [3 steps, 2 tags, 9]
    rows = np.zeros((3, 2, 8 + H.EXTRA))
    rows[:, 0, :8] = [1, 3, 7, 12, 12, 7, 3, 1]
    rows[:, 1, 7] = 64  # a zero bias: 64 values, bins of no width
    rows[:, 0, 8 + H.MIN], rows[:, 0, 8 + H.MAX] = -1, 1
    rows[:, :, 8 + H.MEAN : 8 + H.NORM + 1] = np.nan
    rec.add_rows("weights", ["tb/kernel", "tb/bias"], [0, 50, 90], rows, dtypes=["unknown", "unknown"], edges=edges)
    rec.add_model("tb", ["tb/kernel", "tb/bias"])
    return rec


def _saved_page(tmp_path: Path, rec: Recording, name: str = "saved.html") -> Path:
    from tfhist_magic.view.saved import SavedView

    data, _ = SavedView(rec)._repr_mimebundle_()
    path = tmp_path / name
    path.write_text('<!doctype html><html><head><meta charset="utf-8"><title>tfhist</title></head><body style="margin: 8px">'
                    + data["text/html"] + "</body></html>", encoding="utf-8")
    return path


def _wait_drawn(page, **want) -> dict:
    cond = " && ".join(f"d.{k} === {json.dumps(str(v))}" for k, v in want.items()) or "true"
    page.wait_for_function(f"() => {{ const e = document.querySelector('.tfh'); const d = e && e.dataset; return d && d.step !== undefined && {cond}; }}", timeout=15_000)
    return _drawn(page) if page.is_visible(".tfh-canvas") else {}


def test_the_saved_dashboard_draws_right_on_its_own(tmp_path):
    """The saved copy, loaded as a page of its own (as nbconvert HTML is, from a file): the
    dashboard draws from the inlined data and every listed drawing bug stays fixed."""
    OUT.mkdir(parents=True, exist_ok=True)
    rec = _odd_recording()
    path = _saved_page(tmp_path, rec)
    with browser_page(width=1300, height=1000, failure_shot=OUT / "saved-failure.png") as page:
        page.goto(path.as_uri())
        page.wait_for_selector(".tfh[data-saved='1'][data-step]", timeout=30_000)
        assert not page.is_visible(".tfh-fallback")  # the picture and text give way to the dashboard
        assert _tabs(page) == ["activations", "weights", "grads"]
        # severity marks drawn by CSS: no emoji font needed (⛔ was an empty box without one)
        text = page.inner_text(".tfh-findings")
        assert "⛔" not in text and "⚠" not in text and page.query_selector(".tfh-finding .tfh-mark-error .tfh-mark-sign")
        # the model's name once in the picker (it showed twice)
        page.click(".tfh-tab[data-kind='grads']")
        labels = page.eval_on_selector_all(".tfh-list .tfh-name", "es => es.map((e) => e.textContent)")
        assert labels.count("net") == 1, labels
        # -- a gradient that went NaN-only: marked, not blank, no mean carried on at 0 ------
        page.click(".tfh-item[data-name='out/kernel']")
        page.click(".tfh-view[data-view='heatmap']")
        d = _wait_drawn(page, view="heatmap", tensor="out/kernel")
        assert d["nonfinite"] == [60, 70, 80, 90] and d["outside"] == 0
        assert d["colorbar"][0].endswith("%") and "e" not in d["colorbar"][0], d["colorbar"]  # was "1.0e+2%"
        page.locator(".tfh").screenshot(path=str(OUT / "saved-heatmap-nan.png"))
        page.click(".tfh-finding[data-rule='non-finite']")  # selects the first bad step: 60
        page.click(".tfh-view[data-view='heatmap']")
        d = _wait_drawn(page, view="heatmap", step=60)
        assert d["selected"][1] >= 3 and d["outside"] == 0  # a framed column, not a black one; no "40% outside"
        assert "outside this range" not in page.inner_text(".tfh-legend")
        page.click(".tfh-view[data-view='distribution']")
        d = _wait_drawn(page, view="distribution")
        assert d["nonfinite"] == [60, 70, 80, 90] and d["mean"][6:] == [None] * 4 and all(m is not None for m in d["mean"][:6])
        page.locator(".tfh").screenshot(path=str(OUT / "saved-distribution-nan.png"))
        # -- offset labels never overlap (41 rows 7 px apart; step 50 selected between two labelled)
        page.click(".tfh-tab[data-kind='activations']")
        page.click(".tfh-item[data-name='dense']")
        page.click(".tfh-view[data-view='offset']")
        page.eval_on_selector(".tfh-slider", "e => { e.value = 50; e.dispatchEvent(new Event('input')); }")
        d = _wait_drawn(page, view="offset", tensor="dense", step=50)
        ys = sorted(y for _, y in d["labels"])
        assert len(ys) >= 10 and min(np.diff(ys)) >= 13 and "step 50" in [t for t, _ in d["labels"]], d["labels"]
        page.locator(".tfh").screenshot(path=str(OUT / "saved-offset.png"))
        # -- "all tensors" shows its own legend, not the previous view's ---------------------
        page.click(".tfh-view[data-view='grid']")
        page.wait_for_selector(".tfh[data-view='grid'] .tfh-tile[data-drawn]")
        legend = page.inner_text(".tfh-legend")
        assert legend.startswith("3 tensors") and "Snapshots stacked" not in legend, legend
        assert json.loads(page.get_attribute(".tfh-canvas", "data-drawn"))["view"] == "grid"  # not the offset's, left over
        # -- imported series: "—" for what is unknown, no made-up dtype; a constant's tile has bars
        page.click(".tfh-tab[data-kind='weights']")
        page.wait_for_selector(".tfh[data-kind='weights'] .tfh-tile[data-name='tb/bias'][data-drawn]")
        bars = json.loads(page.get_attribute(".tfh-tile[data-name='tb/bias']", "data-bars"))
        assert len(bars) == 1 and bars[0][1] >= 2 and bars[0][2] > 10, bars  # was empty: x1 - x0 = 0
        page.click(".tfh-tile[data-name='tb/kernel']")
        _wait_drawn(page, view="step", tensor="tb/kernel")
        stats, title = page.inner_text(".tfh-stats"), page.inner_text(".tfh-title")
        assert "mean — · std —" in stats and "norm —" in stats and "NaN" not in stats, stats
        assert "float64" not in title and "unknown" not in title, title
        # -- keys: the slider and the plot step through the snapshots ------------------------
        page.click(".tfh-tab[data-kind='grads']")
        page.click(".tfh-item[data-name='dense/kernel']")
        page.click(".tfh-view[data-view='step']")
        page.focus(".tfh-slider")
        page.keyboard.press("Home")
        _wait_drawn(page, step=0)
        page.keyboard.press("ArrowRight")
        _wait_drawn(page, step=10)
        page.focus(".tfh-plot")
        page.keyboard.press("ArrowRight")
        _wait_drawn(page, step=20)
        page.keyboard.press("End")
        _wait_drawn(page, step=90)
        assert page.is_checked(".tfh-follow input")
        # -- the findings stay beside (or above) the plot, inside the page, from 800 px -------
        for width in (800, 900, 1100, 1400):
            page.set_viewport_size({"width": width, "height": 800})
            page.wait_for_timeout(150)
            box = page.evaluate("""() => { const r = (s) => document.querySelector(s).getBoundingClientRect();
                const f = r('.tfh-findings'), p = r('.tfh-plot'); return {f: [f.left, f.top, f.right, f.bottom], p: [p.left, p.top, p.right, p.bottom], w: innerWidth}; }""")
            f, p = box["f"], box["p"]
            assert f[1] < p[1] + 0.5 * (p[3] - p[1]) and f[2] <= box["w"] and f[2] - f[0] >= 160, (width, box)  # not under the plot
            page.screenshot(path=str(OUT / f"saved-{width}px.png"))
        assert page.our_errors() == [] and page.errors == [], page.errors


VIEWS = ("step", "overlay", "offset", "heatmap", "distribution", "grid", "depth")

_ROWS = """() => { const r = (s) => document.querySelector(s).getBoundingClientRect();
    const st = document.querySelector('.tfh-status');
    return { root: r('.tfh').height, top: r('.tfh-top').height, bar: r('.tfh-bar').height, opts: r('.tfh-optrow').height,
             plotTop: r('.tfh-plot').top - r('.tfh').top, findTop: r('.tfh-findings').top - r('.tfh').top,
             statusLines: Math.round(st.scrollHeight / parseFloat(getComputedStyle(st).lineHeight)),
             statusCut: st.scrollWidth > st.clientWidth, statusTitle: st.title }; }"""


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_saved_dashboard_contrast_and_layout(tmp_path, scheme):
    """The saved copy on a page of its own (no JupyterLab variables: the system's light or
    dark, prefers-color-scheme): every text of the dashboard, the canvases' too, is at
    least 4.5:1 against what it sits on, in every view. At 800 and 1,300 px the tab row,
    the view buttons and the options keep their height in every view, the status stays one
    line (all of it in its tooltip), and the dashboard keeps its height."""
    OUT.mkdir(parents=True, exist_ok=True)
    rec = _odd_recording()
    path = _saved_page(tmp_path, rec)
    with browser_page(width=1300, height=1000, failure_shot=OUT / f"saved-{scheme}-failure.png") as page:
        page.emulate_media(color_scheme=scheme)
        page.goto(path.as_uri())
        page.wait_for_selector(".tfh[data-saved='1'][data-step]", timeout=30_000)
        assert page.get_attribute(".tfh", "data-theme") == scheme
        for width in (1300, 800):
            page.set_viewport_size({"width": width, "height": 1000})
            page.click(".tfh-tab[data-kind='grads']")
            page.click(".tfh-item[data-name='out/kernel']")
            rows = {}
            for view in VIEWS:
                page.click(f".tfh-view[data-view='{view}']")
                page.wait_for_selector(f".tfh[data-view='{view}']")
                page.wait_for_timeout(100)
                bad = low_contrast(page)
                assert not bad, (width, view, bad)
                rows[view] = page.evaluate(_ROWS)
                if view in ("heatmap", "depth") and width == 1300:
                    page.locator(".tfh").screenshot(path=str(OUT / f"saved-{scheme}-{view}.png"))
            first = rows["step"]
            for view, r in rows.items():
                for k in ("root", "top", "bar", "opts", "plotTop", "findTop"):
                    assert abs(r[k] - first[k]) <= 1, (width, view, k, r[k], first[k])
                assert r["statusLines"] == 1 and "saved in the notebook" in r["statusTitle"], (width, view, r)
            assert first["top"] < 40 and first["opts"] < 30, (width, first)  # the tab row and the options: one line each
        assert page.errors == [], page.errors


def test_the_heatmap_frames_the_bulk_of_the_steps(tmp_path):
    """A gradient whose first step is 100 times wider than the rest: range auto frames the
    bulk of the steps (their robust percentiles), not that one column, and marks every
    snapshot with values outside it; "range: all steps" shows them all. A click on a
    column selects its step, with a frame where it landed."""
    rng = np.random.default_rng(1)
    rec = Recording(bins=32)
    for step in range(40):
        rec.add("grads", "w", step, H.reference_row(rng.normal(0, 100.0 if step == 0 else 1.0, size=2000).astype(np.float32), 32))
    path = _saved_page(tmp_path, rec)
    with browser_page(width=1300, height=900, failure_shot=OUT / "heatmap-range-failure.png") as page:
        page.goto(path.as_uri())
        page.wait_for_selector(".tfh[data-saved='1'][data-step]", timeout=30_000)
        page.click(".tfh-view[data-view='heatmap']")
        d = _wait_drawn(page, view="heatmap")
        lo, hi = d["range"]
        assert d["robust"] and hi - lo < 0.2 * (d["full"][1] - d["full"][0]), d["range"]
        assert 2 < hi < 10 and -10 < lo < -2, d["range"]  # about the bulk's 1st-99th percentiles
        assert d["marked"] >= 1 and d["outside"] > 0 and "outside it" in page.inner_text(".tfh-legend")
        grid = np.array(d["grid"])
        np.testing.assert_allclose(d["shares"][5], H.rebin(rec.series("grads", "w").edges[5], rec.series("grads", "w").counts[5], grid) / 2000, atol=1e-12)
        page.locator(".tfh").screenshot(path=str(OUT / "heatmap-robust-range.png"))
        box = page.locator(".tfh-canvas").bounding_box()
        page.mouse.click(box["x"] + 70 + (box["width"] - 70 - 96) * (20.5 / 40), box["y"] + 100)
        _wait_drawn(page, view="heatmap", step=20)
        assert page.get_attribute(".tfh-marks", "data-on") == "click"
        page.select_option("select[data-opt='range']", "all")
        d = _wait_drawn(page, view="heatmap")
        assert not d["robust"] and d["range"] == d["full"] and d["marked"] == 0
        assert page.errors == [], page.errors


def test_saved_dashboard_of_600_tensors_mounts(tmp_path):
    """The saved copy of 600 Series x 100 snapshots (thinned to fit its budget) decodes and
    draws in the page; the time is printed, not asserted."""
    OUT.mkdir(parents=True, exist_ok=True)
    from tfhist_magic.view.saved import SavedView

    ns: dict = {}
    exec(BIG.split("dash = Dashboard(rec)")[0], ns)  # the same Recording as test_a_dashboard_for_600_tensors
    rec = ns["rec"]
    data, _ = SavedView(rec)._repr_mimebundle_()
    size = sum(len(v) for v in data.values())
    assert size < 1_900_000, size
    path = tmp_path / "big.html"
    path.write_text("<!doctype html><meta charset='utf-8'><body>" + data["text/html"], encoding="utf-8")
    with browser_page(failure_shot=OUT / "saved-big-failure.png") as page:
        t = time.monotonic()
        page.goto(path.as_uri())
        page.wait_for_selector(".tfh[data-saved='1'][data-first-draw-ms]", timeout=60_000)
        took = time.monotonic() - t
        assert _tabs(page) == ["activations", "weights", "grads"] and int(_state(page)["pickerRows"]) < 60
        assert "saved in the notebook" in page.inner_text(".tfh-status")
        # thinned to fit: the kept steps marked on the step axis under the slider, the gaps plain
        s = rec.series("activations", rec.names("activations")[0])
        kept = json.loads(page.get_attribute(".tfh-kept", "data-steps"))
        assert page.get_attribute(".tfh-kept", "data-thinned") == "1" and 2 < len(kept) < len(s)
        assert set(kept) <= set(s.steps.tolist()) and kept[0] == s.steps[0] and kept[-1] == s.steps[-1]
        assert f"kept of {len(s)}" in page.inner_text(".tfh-at")
        page.click(".tfh-tab[data-kind='grads']")
        page.wait_for_selector(".tfh[data-kind='grads']")
        assert page.our_errors() == [] and page.errors == [], page.errors
    print(f"\nsaved copy of 600 series: {size:,} bytes, drawn {took:.2f} s after the page was asked for")


FAST = "%%tfhist_watch --every 1\nmodel.fit(x, y, batch_size=64, epochs=3, verbose=0)"


def _kernel_down(url: str, path: str) -> None:
    """Shut down the kernel of the session of notebook ``path`` (the server's REST API)."""
    import urllib.request

    sessions = json.loads(urllib.request.urlopen(url + "/api/sessions").read())
    for s in sessions:
        if s["path"].endswith(path):
            urllib.request.urlopen(urllib.request.Request(f"{url}/api/sessions/{s['id']}", method="DELETE"))
    for _ in range(100):
        if not [s for s in json.loads(urllib.request.urlopen(url + "/api/sessions").read()) if s["path"].endswith(path)]:
            return
        time.sleep(0.1)
    raise AssertionError(f"the kernel of {path} did not shut down")


@pytest.fixture(scope="module")
def saved_notebook(server):
    """``kept.ipynb``: executed in JupyterLab (a watched fit), saved, its kernel shut down."""
    url, root = server
    write_notebook(root / "kept.ipynb", [SETUP, FAST])
    with browser_page(failure_shot=OUT / "kept-failure.png") as page:
        _open_and_run(page, url + "/lab/tree/kept.ipynb?reset")
        page.wait_for_selector(".tfh[data-saved='1'][data-step]", timeout=180_000)
        page.wait_for_function("() => window.jupyterapp.shell.currentWidget.context.sessionContext.session.kernel.status === 'idle'", timeout=60_000)
        page.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")
        page.wait_for_function("() => !window.jupyterapp.shell.currentWidget.context.model.dirty", timeout=30_000)
    _kernel_down(url, "kept.ipynb")
    nb = json.loads((root / "kept.ipynb").read_text())
    outs = [o for c in nb["cells"] for o in c.get("outputs", []) if "data" in o]
    assert any('class="tfh-saved"' in "".join(o["data"].get("text/html", "")) for o in outs)
    assert not any("application/vnd.jupyter.widget-view+json" in o["data"] for o in outs)
    printed = [o.get("text") for c in nb["cells"] for o in c.get("outputs", []) if o.get("name") == "stderr"]
    assert not printed, printed  # nothing printed into the cell but the output itself (a RuntimeWarning was)
    return url, root, root / "kept.ipynb"


@pytest.mark.parametrize("app", ["lab", "notebook7"])
def test_a_saved_notebook_reopened_without_its_kernel(saved_notebook, app):
    """Reopened with a new kernel (the old one shut down): the dashboard draws from the
    data saved in the notebook and answers a tab click; never "model not found". Keys in
    it do not move the notebook's cell selection; at 1,100 px with the file browser open
    the findings stay beside the plot."""
    url, root, _ = saved_notebook
    with browser_page(width=1100, height=900, failure_shot=OUT / f"reopened-{app}-failure.png") as page:
        page.goto(url + ("/lab/tree/kept.ipynb?reset" if app == "lab" else "/notebooks/kept.ipynb"))
        page.add_style_tag(content=".jp-toast-container, .Toastify { display: none !important; }")
        page.wait_for_selector(".tfh[data-saved='1'][data-step]", timeout=90_000)
        assert "model not found" not in page.inner_text(".jp-Notebook")
        assert _tabs(page) == ["activations", "weights", "grads"]
        page.click(".tfh-tab[data-kind='grads']")
        page.wait_for_selector(".tfh[data-kind='grads']", timeout=5_000)
        page.click(".tfh-view[data-view='heatmap']")
        page.wait_for_selector(".tfh[data-view='heatmap']", timeout=5_000)
        # the arrows are the dashboard's: the step moves, the notebook's active cell does not
        active = "() => window.jupyterapp.shell.currentWidget.content.activeCellIndex"
        page.click(".tfh-view[data-view='step']")
        page.focus(".tfh-slider")
        page.keyboard.press("End")
        before = (page.evaluate(active), _state(page)["step"])
        for key in ("ArrowUp", "ArrowDown", "ArrowLeft", "ArrowLeft"):
            page.keyboard.press(key)
        page.wait_for_function(f"() => +document.querySelector('.tfh').dataset.step < {before[1]}")
        assert page.evaluate(active) == before[0]
        if app == "lab":  # the file browser open beside the notebook
            page.evaluate("() => window.jupyterapp.commands.execute('filebrowser:activate')")
            page.wait_for_selector(".jp-FileBrowser", state="visible")
            page.eval_on_selector(".tfh", "e => e.scrollIntoView()")
            page.wait_for_timeout(300)
            box = page.evaluate("""() => { const r = (s) => document.querySelector(s).getBoundingClientRect();
                const f = r('.tfh-findings'), p = r('.tfh-plot'); return {f: [f.left, f.top, f.right, f.bottom], p: [p.left, p.top, p.right, p.bottom], h: innerHeight}; }""")
            assert box["f"][1] < box["p"][1] + 0.5 * (box["p"][3] - box["p"][1]) and box["f"][1] < box["h"], box
        page.screenshot(path=str(OUT / f"reopened-{app}.png"))
        assert page.our_errors() == [], page.errors


def test_an_untrusted_notebook_shows_the_picture_and_findings(saved_notebook):
    """The same notebook, not trusted (its signature no longer matches: edited elsewhere):
    JupyterLab sanitizes the HTML and runs no script; the output shows the findings, the
    picture and the text summary instead of a blank or an error."""
    url, root, path = saved_notebook
    nb = json.loads(path.read_text())
    nb["metadata"]["edited_elsewhere"] = True
    (root / "untrusted.ipynb").write_text(json.dumps(nb))
    with browser_page(failure_shot=OUT / "untrusted-failure.png") as page:
        page.goto(url + "/lab/tree/untrusted.ipynb?reset")
        page.add_style_tag(content=".jp-toast-container, .Toastify { display: none !important; }")
        page.wait_for_selector(".jp-OutputArea-output img", timeout=90_000)
        assert page.query_selector(".tfh") is None  # no script ran
        text = page.inner_text(".jp-Notebook")
        assert "Findings (" in text and "dead" in text and "model not found" not in text
        assert page.evaluate("() => document.querySelector('.jp-OutputArea-output img').naturalWidth") > 500
        page.screenshot(path=str(OUT / "untrusted.png"))


def test_a_saved_notebook_as_html_and_without_scripts(saved_notebook, tmp_path):
    """nbconvert HTML of the saved notebook: the dashboard draws and answers a tab click.
    The same page with every script stripped (as GitHub shows a notebook): the findings,
    the picture and the text summary."""
    import re

    from nbconvert import HTMLExporter

    _, _, path = saved_notebook
    page_html, _ = HTMLExporter().from_filename(str(path))
    out = tmp_path / "kept.html"
    out.write_text(page_html, encoding="utf-8")
    bare = tmp_path / "kept-no-scripts.html"
    bare.write_text(re.sub(r"<script\b.*?</script>", "", page_html, flags=re.S | re.I), encoding="utf-8")
    with browser_page(failure_shot=OUT / "html-failure.png") as page:
        page.goto(out.as_uri())
        page.wait_for_selector(".tfh[data-saved='1'][data-step]", timeout=60_000)
        page.click(".tfh-tab[data-kind='weights']")
        page.wait_for_selector(".tfh[data-kind='weights']", timeout=5_000)
        page.screenshot(path=str(OUT / "nbconvert-html.png"))
        assert page.our_errors() == [], page.errors
        page.goto(bare.as_uri())
        page.wait_for_selector(".tfh-fallback img")
        assert page.query_selector(".tfh") is None and page.is_visible(".tfh-fallback img")
        assert page.evaluate("() => document.querySelector('.tfh-fallback img').naturalWidth") > 500
        text = page.inner_text(".tfh-fallback")
        assert "Findings (" in text and "dead" in text.lower(), text[:500]  # the dead ReLU layer of SETUP
        page.screenshot(path=str(OUT / "no-scripts.png"), full_page=True)


def _compare_runs():
    """Two runs (NumPy rows, no TensorFlow) of one model under two names, recorded at other
    steps; ``d/kernel`` shifted in the second, ``extra`` only in the first."""
    rng = np.random.default_rng(0)
    names = ["d/kernel", "d/bias", "out/kernel"]
    runs = []
    for r, (prefix, steps) in enumerate((("net", np.arange(0, 40, 4)), ("net_1", np.arange(0, 40, 5)))):
        rec = Recording(bins=32)
        for kind in ("weights", "grads"):
            nm = names + (["extra"] if r == 0 else [])
            rows = np.stack([np.stack([H.reference_row(rng.normal(size=500).astype(np.float32) + (2.0 if (r and n == "d/kernel") else 0.0), 32)
                                       for n in nm]) for _ in steps])
            rec.add_rows(kind, [f"{prefix}/{n}" for n in nm], steps, rows)
        runs.append(rec)
    return runs


def test_a_comparison_clicked_through(tmp_path):
    """The saved dashboard of a comparison, on its own: the ranking beside the plot, every
    run drawn (their exact bins at the compared step), a tensor picked from the ranking,
    the heatmaps side by side and the bands of every run, the step-matching note."""
    import tfhist_magic
    from tfhist_magic.view.comparing import SavedComparison

    OUT.mkdir(parents=True, exist_ok=True)
    a, b = _compare_runs()
    cmp = tfhist_magic.compare(a, b, labels=["base", "shifted"])
    data, _ = SavedComparison(cmp)._repr_mimebundle_()
    path = tmp_path / "compare.html"
    path.write_text("<!doctype html><meta charset='utf-8'><body style='margin: 8px'>" + data["text/html"], encoding="utf-8")

    def lines_match(d, name):
        m = cmp.matched(d["kind"], name)
        assert d["name"] == name and len(d["lines"]) == 2
        for r, (line, s) in enumerate(zip(d["lines"], cmp.series(d["kind"], name))):
            i = m.index[d["at"], r]
            assert line["color"] == cmp.colors[r] and d["steps"][r] == s.steps[i]
            np.testing.assert_array_equal(line["counts"], s.counts[i])
            np.testing.assert_array_equal(line["edges"], s.edges[i])

    with browser_page(width=1300, height=900, failure_shot=OUT / "compare-failure.png") as page:
        page.goto(path.as_uri())
        page.wait_for_selector(".tfh-compare[data-step]", timeout=30_000)
        assert not page.is_visible(".tfh-fallback")
        assert _tabs(page) == ["weights", "grads"]
        ranked = page.eval_on_selector_all(".tfh-rank-item", "es => es.map((e) => e.dataset.name)")
        assert ranked == [n for n, _ in cmp.ranking("weights")] and ranked[0] == "d/kernel"
        assert page.inner_text(".tfh-runs").split() == ["base", "shifted"]
        assert "nearest step" in page.inner_text(".tfh-cmp-notes") and "extra: only in base" in page.inner_text(".tfh-only")
        d = _drawn(page)
        assert d["view"] == "overlay" and d["at"] == cmp.matched("weights", "d/kernel").index.shape[0] - 1
        lines_match(d, "d/kernel")
        page.locator(".tfh").screenshot(path=str(OUT / "compare-overlay.png"))
        # another tensor, from the ranking: both runs drawn
        page.click(f".tfh-rank-item[data-name='{ranked[-1]}']")
        _wait_drawn(page, tensor=ranked[-1])
        lines_match(_drawn(page), ranked[-1])
        assert page.get_attribute(".tfh-rank-item.tfh-on", "data-name") == ranked[-1]
        page.eval_on_selector(".tfh-slider", "e => { e.value = 2; e.dispatchEvent(new Event('input')); }")
        d = _wait_drawn(page, step=2)
        lines_match(d, ranked[-1])
        assert d["steps"] == [8, 10]  # the second run's fewer steps: 10, and the first run's nearest (8, the earlier on a tie)
        page.click(".tfh-view[data-view='heatmap']")
        d = _wait_drawn(page, view="heatmap")
        assert [p["run"] for p in d["panels"]] == [0, 1] and d["columns"] == [8, 8]
        page.locator(".tfh").screenshot(path=str(OUT / "compare-heatmaps.png"))
        page.click(".tfh-view[data-view='distribution']")
        d = _wait_drawn(page, view="distribution")
        assert len(d["medians"]) == 2 and all(len(m) == 8 and None not in m for m in d["medians"])
        page.click(".tfh-tab[data-kind='grads']")
        d = _wait_drawn(page, kind="grads")  # the same tensor, in the other kind
        assert d["kind"] == "grads" and d["name"] == ranked[-1] and len(d["medians"]) == 2
        page.locator(".tfh").screenshot(path=str(OUT / "compare-distribution.png"))
        assert page.errors == [], page.errors


def test_a_comparison_draws_every_runs_scalar_series(tmp_path):
    """Under a compared tensor, as under a recording's: the update ratio (with its band),
    the update norm and distance from init of a weight, the global gradient norm of a
    gradient's model, a line per run in the run's colour, each run's own values."""
    import tfhist_magic
    from tfhist_magic.view.comparing import SavedComparison

    a, b = _compare_runs()
    rng = np.random.default_rng(1)
    for rec, prefix, steps, scale in ((a, "net", np.arange(0, 40, 4), 1.0), (b, "net_1", np.arange(0, 40, 5), 3.0)):
        for n in ("d/kernel", "out/kernel"):
            rec.add_scalars("update_ratio", f"{prefix}/{n}", steps, scale * 1e-3 * (1 + rng.uniform(size=steps.size)))
            rec.add_scalars("update_norm", f"{prefix}/{n}", steps, scale * 0.1 * (1 + np.arange(steps.size)))
            rec.add_scalars("init_distance", f"{prefix}/{n}", steps, scale * 0.05 * np.arange(steps.size))
        rec.add_scalars("grad_norm", prefix, steps, scale * np.exp(-0.1 * np.arange(steps.size)))
        rec.add_model(prefix, [f"{prefix}/{n}" for n in ("d/kernel", "d/bias", "out/kernel")])
    cmp = tfhist_magic.compare(a, b, labels=["base", "shifted"])
    data, _ = SavedComparison(cmp)._repr_mimebundle_()
    path = tmp_path / "compare.html"
    path.write_text("<!doctype html><meta charset='utf-8'><body style='margin: 8px'>" + data["text/html"], encoding="utf-8")

    def strip(page, which):
        return json.loads(page.get_attribute(f".tfh-compare .tfh-{which}", "data-drawn"))

    def own(d, metric):
        lines = [x for x in d["lines"] if x["metric"] == metric]
        assert [x["run"] for x in lines] == [0, 1], (metric, d)
        for x in lines:
            rec, prefix = ((a, "net"), (b, "net_1"))[x["run"]]
            steps, values = rec.scalar(metric, prefix if metric == "grad_norm" else f"{prefix}/{d['name']}")
            np.testing.assert_array_equal(x["steps"], steps)
            np.testing.assert_allclose(x["values"], values)
        return lines

    with browser_page(width=1300, height=1200, failure_shot=OUT / "compare-scalars-failure.png") as page:
        page.goto(path.as_uri())
        page.wait_for_selector(".tfh-compare[data-step] .tfh-probe[data-drawn]", timeout=30_000)
        d = strip(page, "probe")
        assert d["name"] == "d/kernel" and d["step"] == 35
        own(d, "update_ratio")
        d = strip(page, "norms")
        own(d, "update_norm"), own(d, "init_distance")
        page.locator(".tfh").screenshot(path=str(OUT / "compare-scalars-weights.png"))
        page.click(".tfh-rank-item[data-name='d/bias']")  # a tensor with none: no strips
        _wait_drawn(page, tensor="d/bias")
        assert not page.is_visible(".tfh-probe") and not page.is_visible(".tfh-norms")
        page.click(".tfh-tab[data-kind='grads']")
        page.click(".tfh-rank-item[data-name='d/kernel']")
        _wait_drawn(page, kind="grads", tensor="d/kernel")
        lines = own(strip(page, "norms"), "grad_norm")
        assert [x["of"] for x in lines] == ["net", "net_1"] and not page.is_visible(".tfh-probe")
        page.locator(".tfh").screenshot(path=str(OUT / "compare-scalars-grads.png"))
        assert page.errors == [], page.errors
