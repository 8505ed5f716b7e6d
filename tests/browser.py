"""A Jupyter server and headless Chromium for end-to-end tests (Playwright's Python API).

Chromium is the system's (Debian package ``chromium``); Playwright never downloads one.
``.ci/run`` installs it when missing and sets ``TFHIST_REQUIRE_BROWSER=1`` so that the
browser tests fail, rather than skip, where they must run.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def chromium() -> str:
    for name in CHROMIUM:
        found = shutil.which(name)
        if found:
            return found
    why = "no system Chromium (apt-get install chromium)"
    if os.environ.get("TFHIST_REQUIRE_BROWSER") == "1":
        pytest.fail(why)
    pytest.skip(why)


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def jupyter_server(root: Path):
    """``jupyter lab`` (which also serves Notebook 7's pages) on a free port, no token."""
    port = _port()
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", JUPYTER_PLATFORM_DIRS="1")
    log = open(root / "server.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
         "--IdentityProvider.token=", "--ServerApp.password=", "--allow-root", "--ServerApp.disable_check_xsrf=True",
         f"--ServerApp.root_dir={root}", "--LabApp.expose_app_in_browser=True",
         "--JupyterNotebookApp.expose_app_in_browser=True", "--ServerApp.open_browser=False"],
        stdout=log, stderr=subprocess.STDOUT, env=env, cwd=root,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(240):
            try:
                urllib.request.urlopen(url + "/api/status", timeout=1)
                break
            except OSError:
                if proc.poll() is not None:
                    raise RuntimeError((root / "server.log").read_text())
                time.sleep(0.25)
        else:
            raise RuntimeError("jupyter server did not start:\n" + (root / "server.log").read_text())
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def write_notebook(path: Path, cells: list[str]) -> None:
    nb = {
        "cells": [{"cell_type": "code", "metadata": {}, "source": c, "outputs": [], "execution_count": None} for c in cells],
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path.write_text(json.dumps(nb))


@contextlib.contextmanager
def browser_page(width=1400, height=1000, failure_shot=None):
    from playwright.sync_api import sync_playwright

    exe = chromium()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": width, "height": height}, device_scale_factor=2)
            errors = []
            page.on("pageerror", lambda e: errors.append(f"{e}\n{getattr(e, 'stack', '') or ''}"))
            page.errors = errors  # everything the page threw
            # what came from the dashboard (anywidget imports its module from a blob: URL)
            page.our_errors = lambda: [e for e in errors if "blob:" in e or "tfh" in e or "dashboard" in e]
            try:
                yield page
            except BaseException:
                if failure_shot:  # what the page looked like when the test failed
                    Path(failure_shot).parent.mkdir(parents=True, exist_ok=True)
                    page.screenshot(path=str(failure_shot), full_page=True)
                raise
        finally:
            browser.close()


# Every text of the dashboards in the page, with its colour and the background it sits on
# (the backgrounds of its ancestors laid over each other, the page's white under all), as
# the page computed them; and the canvases' text colours against the dashboard's own.
CONTRAST_JS = """(scope) => {
  const rgba = (css) => { const m = (css || '').match(/[\\d.]+/g) || [0, 0, 0, 0]; return [+m[0], +m[1], +m[2], m[3] === undefined ? 1 : +m[3]]; };
  const over = (t, u) => [0, 1, 2].map((k) => t[k] * t[3] + u[k] * (1 - t[3])).concat(1);
  const lum = ([r, g, b]) => { const f = (c) => ((c /= 255) <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4)); return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b); };
  const ratio = (a, b) => { const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p); return (x + 0.05) / (y + 0.05); };
  const bgOf = (el) => {
    const layers = [];
    for (let e = el; e && e.nodeType === 1; e = e.parentElement) layers.push(rgba(getComputedStyle(e).backgroundColor));
    let c = [255, 255, 255, 1];
    for (const l of layers.reverse()) c = over(l, c);
    return c;
  };
  const out = [];
  for (const root of document.querySelectorAll(scope)) {
    for (const el of root.querySelectorAll('*')) {
      const cs = getComputedStyle(el);
      const r = el.getBoundingClientRect();
      if (!r.width || !r.height || cs.visibility === 'hidden' || el.closest('.tfh-fallback') || el.closest('.tfh-building')) continue;
      let hidden = false;
      for (let e = el; e; e = e.parentElement) if (getComputedStyle(e).display === 'none') { hidden = true; break; }
      if (hidden) continue;
      const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim()) || ((el.tagName === 'SELECT' || (el.tagName === 'INPUT' && el.type === 'text')) && (el.value || el.placeholder));
      if (!own) continue;
      const bg = bgOf(el);
      const fg = over(rgba(cs.color), bg);
      out.push({ text: (el.value || el.textContent).trim().slice(0, 40), cls: el.className, fg: fg.map(Math.round), bg: bg.map(Math.round), ratio: ratio(fg, bg) });
    }
    const cc = root.dataset.canvasColors && JSON.parse(root.dataset.canvasColors);
    if (cc) {
      const probe = document.createElement('span');
      root.append(probe);
      const col = (css) => { probe.style.color = css; return rgba(getComputedStyle(probe).color); };
      const bg = over(col(cc.bg), [255, 255, 255, 1]);
      for (const k of ['fg', 'fg2', 'error']) { const fg = over(col(cc[k]), bg); out.push({ text: 'canvas text ' + k, cls: 'canvas', fg: fg.map(Math.round), bg: bg.map(Math.round), ratio: ratio(fg, bg) }); }
      probe.remove();
    }
  }
  return out;
}"""


def contrasts(page, scope: str = ".tfh") -> list:
    """Every text of the dashboards matching ``scope``: its colour, background and WCAG
    contrast ratio, from the page's computed styles."""
    return page.evaluate(CONTRAST_JS, scope)


def low_contrast(page, scope: str = ".tfh", least: float = 4.5) -> list:
    got = contrasts(page, scope)
    assert len(got) > 20, got  # the dashboard's texts were found (tabs, views, options, picker, findings...)
    return [c for c in got if c["ratio"] < least]
