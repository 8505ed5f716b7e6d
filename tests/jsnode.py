"""Run the dashboard's JavaScript functions outside a browser, with Node.

Node comes from the system or from the Playwright wheel (which ships one to drive
browsers), so the test suite needs nothing installed by hand.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

import tfhist_magic.view as view

JS = Path(view.__file__).parent / "dashboard.js"


def node() -> str | None:
    found = shutil.which("node")
    if found:
        return found
    try:
        from playwright._impl._driver import compute_driver_executable
    except ImportError:
        return None
    exe = compute_driver_executable()
    path = Path(exe[0] if isinstance(exe, tuple) else exe)
    return str(path) if path.exists() else None


def run(script: str, data) -> object:
    """Run ``script`` (an ES module body that can use ``DATA`` and the dashboard's exports
    as ``D``, and sets ``OUT``) and return ``OUT`` parsed from JSON."""
    exe = node()
    if exe is None:
        import pytest

        pytest.skip("no Node.js (system or Playwright's) to run the dashboard's JavaScript")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "dashboard.mjs").write_text(JS.read_text())
        (tmp / "data.json").write_text(json.dumps(data))
        (tmp / "main.mjs").write_text(
            'import * as D from "./dashboard.mjs";\nimport { readFileSync } from "node:fs";\n'
            'const DATA = JSON.parse(readFileSync(new URL("./data.json", import.meta.url)));\nlet OUT = null;\n'
            + script
            + '\nprocess.stdout.write(JSON.stringify(OUT, (k, v) => (ArrayBuffer.isView(v) ? Array.from(v) : (typeof v === "number" && !Number.isFinite(v) ? String(v) : v))));\n'
        )
        got = subprocess.run([exe, str(tmp / "main.mjs")], capture_output=True, text=True, timeout=60)
        if got.returncode:
            raise RuntimeError(got.stderr)
        return json.loads(got.stdout)
