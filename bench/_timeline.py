"""Where in a ``fit`` the resident set peaks: the process's ``VmRSS`` sampled by a thread
every half millisecond, with marks at the start of every batch, the end of ``fit`` and
the watch's exit (``bench/memory.py --by-batch``).

``VmHWM`` says how high the resident set went, not when. The timeline splits it by what
ran: the sampled step 0, the unsampled steps after it, the exit. Pure reading: nothing
is allocated on the measured path but the samples themselves (a few MiB at most).
"""

from __future__ import annotations

import re
import threading
import time

__all__ = ["RssTimeline", "phase_maxima", "rss_bytes"]

_RSS = re.compile(r"^VmRSS:\s+(\d+) kB", re.M)


def rss_bytes() -> int:
    """The resident set now (``VmRSS``), in bytes."""
    with open("/proc/self/status") as f:
        return int(_RSS.search(f.read()).group(1)) * 1024


def phase_maxima(samples: list, marks: list) -> list:
    """``[(label, max)]``: for each mark ``(t, label)`` in time order, the largest sample
    ``(t, rss)`` taken from it up to the next mark (the last one to the end); a phase with
    no sample takes the sample just before it (what was resident when it began)."""
    marks = sorted(marks)
    samples = sorted(samples)
    out = []
    for i, (t0, label) in enumerate(marks):
        t1 = marks[i + 1][0] if i + 1 < len(marks) else float("inf")
        inside = [r for t, r in samples if t0 <= t < t1]
        if not inside:
            before = [r for t, r in samples if t < t0]
            inside = before[-1:] or [0]
        out.append((label, max(inside)))
    return out


class RssTimeline:
    """``with RssTimeline() as tl: ... tl.mark("step 1") ...``; then ``tl.phases()``."""

    def __init__(self, period: float = 0.0005):
        self.period = period
        self.samples: list = []
        self.marks: list = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.perf_counter(), rss_bytes()))
            time.sleep(self.period)

    def mark(self, label: str) -> None:
        self.samples.append((time.perf_counter(), rss_bytes()))  # what is resident as it begins
        self.marks.append((time.perf_counter(), label))

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.samples.append((time.perf_counter(), rss_bytes()))

    def phases(self) -> list:
        """``[(label, max RSS in bytes)]`` per mark, in order."""
        return phase_maxima(self.samples, self.marks)
