"""Notebooks in notebooks/ run headless in a real Jupyter kernel, so they never rot; each
watched cell leaves the dashboard a saved notebook keeps (see test_browser.py for it drawn)."""

import base64
import pathlib
import re
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs_and_html_shows_pictures(path, tmp_path):
    from run_notebook import run

    nb, _, html_out = run(path, tmp_path)
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors, errors
    watched = [c for c in nb.cells if c.cell_type == "code" and c.source.startswith("%%tfhist_watch")]
    assert watched
    for c in watched:
        bundles = [o["data"] for o in c.outputs if o.output_type in ("display_data", "update_display_data") and "data" in o]
        # the live widget's output became the saved dashboard: no widget reference left
        # (a reopened notebook has no model for it), the page code and data inlined
        assert any('class="tfh-saved"' in b.get("text/html", "") and "image/png" in b and "text/plain" in b for b in bundles), [list(b) for b in bundles]
        assert not any("application/vnd.jupyter.widget-view+json" in b for b in bundles)
    html = html_out.read_text(encoding="utf-8")
    assert html.count('class="tfh-saved"') >= len(watched) and "mountSaved(root)" in html
    pngs = re.findall(r'src="data:image/png;base64,([^"]+)"', html)
    assert len(pngs) >= len(watched)
    assert all(base64.b64decode(p)[:4] == b"\x89PNG" for p in pngs)
