"""``bench/callsite.py``'s "held" column: what a process keeps resident, freed heap handed
back first, so that a new call site's instantiation is read as memory in use."""

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import callsite  # noqa: E402


def test_held_counts_what_is_in_use_and_not_the_holes_freed_in_the_heap():
    before = callsite.held_mib()
    blocks = [np.ones(1 << 14, np.float32) for _ in range(2048)]  # 128 MiB in 64 KiB heap blocks, every page touched
    del blocks[::2]  # every other one freed: 64 MiB of holes between blocks still in use
    half = callsite.held_mib()
    del blocks
    after = callsite.held_mib()
    assert 56 < half - before < 76  # the kept half, not the holes the heap would keep resident
    assert abs(after - before) < 8
