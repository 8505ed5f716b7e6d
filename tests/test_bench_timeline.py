"""``bench/memory.py --by-batch``: where in a fit the resident set peaks (``bench/_timeline.py``)."""

import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import _timeline  # noqa: E402


def test_each_phase_is_the_highest_sample_from_its_mark_to_the_next():
    samples = [(0.5, 100), (1.0, 110), (1.5, 300), (2.2, 150), (2.8, 120), (3.5, 400)]
    marks = [(1.0, "batch 0"), (2.0, "batch 1"), (3.0, "exit")]
    assert _timeline.phase_maxima(samples, marks) == [("batch 0", 300), ("batch 1", 150), ("exit", 400)]


def test_a_phase_without_a_sample_is_what_was_resident_as_it_began():
    samples = [(0.5, 100), (1.2, 250), (5.0, 90)]
    marks = [(1.0, "a"), (2.0, "b"), (2.5, "c")]
    assert _timeline.phase_maxima(samples, marks) == [("a", 250), ("b", 250), ("c", 90)]


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
