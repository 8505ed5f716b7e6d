#!/usr/bin/env python3
"""Set-up and run, with nothing but Python and pip:

    python3 dev.py demo    # installs into .venv, runs notebooks/quickstart.ipynb headless -> out/
    python3 dev.py test    # installs into .venv, runs ruff check, then the whole test suite with pytest
    python3 dev.py bench   # installs into .venv (+ tensorboard), runs bench/bench.py
    python3 dev.py bench scale   # the same set-up, runs bench/scale.py (cost across model sizes)
    python3 dev.py bench memory  # the same set-up, runs bench/memory.py (peak memory, plain vs watched)

Extra arguments go to the command run (pytest, bench/bench.py, bench/scale.py, bench/memory.py).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
PY = VENV / "bin" / "python"


def _install(extras: str) -> None:
    if not PY.exists():
        venv.create(VENV, with_pip=True)
        subprocess.run([PY, "-m", "pip", "install", "-q", "--upgrade", "pip"], check=True)
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()[:12]
    stamp = VENV / f".tfhist-installed-{extras.replace(',', '-')}-{digest}"
    if not stamp.exists():
        subprocess.run([PY, "-m", "pip", "install", "-q", "-e", f".[{extras}]"], cwd=ROOT, check=True)
        stamp.touch()


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("demo", "test", "bench"):
        print(__doc__, file=sys.stderr)
        return 2
    cmd, rest = argv[0], argv[1:]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    if cmd == "demo":
        _install("demo")
        run = [PY, "tools/run_notebook.py", "notebooks/quickstart.ipynb", "--out", "out", *rest]
    elif cmd == "test":
        _install("test,demo")
        lint = subprocess.run([PY, "-m", "ruff", "check", "."], cwd=ROOT, env=env).returncode
        if lint != 0:
            print("dev.py test: ruff check failed (see above); pytest not run.", file=sys.stderr)
            return lint
        run = [PY, "-m", "pytest", "-q", *rest]
    else:
        _install("test,demo,bench")
        if rest[:1] == ["scale"]:
            run = [PY, "bench/scale.py", *rest[1:]]
        elif rest[:1] == ["memory"]:
            run = [PY, "bench/memory.py", *rest[1:]]
        else:
            run = [PY, "bench/bench.py", *rest]
    return subprocess.run(run, cwd=ROOT, env=env).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
