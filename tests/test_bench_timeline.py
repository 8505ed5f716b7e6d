"""``bench/memory.py --by-batch``: where in a fit the resident set peaks (``bench/_timeline.py``)."""

import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import _timeline  # noqa: E402


def test_each_phase_keeps_its_highest_reading_and_begins_with_what_is_resident():
    readings = iter([100, 120, 300, 150, 130, 90, 400, 80, 70])
    tl = _timeline.RssTimeline(read=lambda: next(readings))
    tl.sample()  # before any mark: belongs to no phase (100)
    tl.mark("batch 0")  # closing reading for no phase (120), then it opens at 300
    tl.sample()  # 150
    tl.mark("batch 1")  # closes batch 0 with 130, opens at 90
    tl.sample()  # 400
    tl.mark("exit")  # closes batch 1 with 80, opens at 70
    assert tl.phases() == [("batch 0", 300), ("batch 1", 400), ("exit", 70)]


def test_the_timeline_sees_an_allocation_in_the_phase_that_held_it():
    with _timeline.RssTimeline() as tl:
        tl.mark("before")
        time.sleep(0.05)
        tl.mark("holding")
        big = np.ones(64 << 18, np.float32)  # 64 MiB, every page touched
        time.sleep(0.05)
        del big
        tl.mark("after")
        time.sleep(0.05)
    (_, before), (_, holding), (_, after) = tl.phases()
    assert holding - before > 60 << 20
    assert holding - after > 60 << 20
