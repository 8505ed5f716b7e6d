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
