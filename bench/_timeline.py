"""Where in a ``fit`` the resident set peaks: the process's ``VmRSS`` read by a thread
every half millisecond, each reading kept only as the highest of its phase, the phases
marked at the start of every batch, the end of ``fit`` and the watch's exit
(``bench/memory.py --by-batch``).

``VmHWM`` says how high the resident set went, not when. The timeline splits it by what
ran: the sampled step 0, the unsampled steps after it, the exit. It holds one number a
phase, so what it measures does not grow with the length of the fit.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import re
import threading

__all__ = ["RssTimeline", "status_bytes", "rss_bytes", "trim"]


def status_bytes(field: str) -> int:
    """``field`` of /proc/self/status (``VmRSS``, ``VmHWM``), in bytes."""
    with open("/proc/self/status") as f:
        return int(re.search(rf"^{field}:\s+(\d+) kB", f.read(), re.M).group(1)) * 1024


def rss_bytes() -> int:
    """The resident set now (``VmRSS``), in bytes."""
    return status_bytes("VmRSS")


def trim() -> None:
    """Collect garbage and hand freed heap back (``malloc_trim``), so that the resident
    set that is left is memory in use."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


class RssTimeline:
    """``with RssTimeline() as tl: ... tl.mark("batch 1") ...``; then ``tl.phases()``:
    ``[(label, the highest reading from that mark to the next)]``, a phase's first
    reading taken as it is marked (what was resident when it began)."""

    def __init__(self, period: float = 0.0005, read=rss_bytes):
        self.period = period
        self.read = read
        self._phases: list = []  # [label, highest reading]
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def sample(self) -> None:
        """One reading, into the phase now open (none before the first mark)."""
        r = self.read()
        with self._lock:
            if self._phases and r > self._phases[-1][1]:
                self._phases[-1][1] = r

    def _run(self) -> None:
        while not self._stop.wait(self.period):
            self.sample()

    def mark(self, label: str) -> None:
        """Close the phase open now (one last reading) and open ``label``."""
        self.sample()
        r = self.read()
        with self._lock:
            self._phases.append([label, r])

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()

    def phases(self) -> list:
        with self._lock:
            return [(label, r) for label, r in self._phases]
