"""Recording: everything one watch captured, in bounded memory.

Knows nothing about TensorFlow or widgets. A Recording holds one :class:`Series` per
``(kind, name)``; a Series is one tensor's snapshots over steps. Each snapshot is one
row of ``bins + 10`` numbers (see :mod:`tfhist_magic.histogram`).

Bounded storage: each Series keeps at most ``max_snapshots`` snapshots. When it is
full, every other kept snapshot is dropped and the sampling stride doubles, so what is
kept stays evenly spaced over the whole run; the first snapshot and the latest one are
always kept. The rows kept are never altered.
"""

from __future__ import annotations

import functools
import importlib
import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np

from . import histogram as H

__all__ = ["FACES", "KINDS", "SCALARS", "MODEL_SCALARS", "Changes", "Latest", "Recording", "RecordingFileError", "Series"]

#: The kinds, in display order.
KINDS = ("activations", "weights", "grads")
#: The scalar series a watch measures beside the histograms, one number per sampled step:
#: of a weight, its update ratio (weight matrices), the update's norm ``||Δw||`` and its
#: distance from the watch's first step ``||w - w0||``; of an activation, its dead-unit
#: and saturated shares; of a model, the global gradient norm of its update.
SCALARS = ("update_ratio", "update_norm", "init_distance", "dead_units", "saturation", "grad_norm")
#: Those named by a model (its label in ``Recording.models``), not by a tensor.
MODEL_SCALARS = ("grad_norm",)
#: The most notes a Recording keeps (more are counted in ``Recording.notes_dropped``).
MAX_NOTES = 20
#: What :meth:`Recording.save` writes in its metadata, and the newest version it reads.
FILE_FORMAT = "tfhist-recording"
FILE_VERSION = 2


#: The faces of a Recording, ``name -> "module:function"``: its views (``summary``,
#: ``show``, ``figure``, ``png``) and exporters (``to_tensorboard``, ``from_tensorboard``).
#: The package (``tfhist_magic/__init__.py``) fills it, so this module imports none of
#: them: the data knows no screen. Each is imported on first use.
FACES: dict[str, str] = {}


def _face(name: str):
    """The function registered in :data:`FACES` under ``name``, imported."""
    try:
        module, _, attr = FACES[name].partition(":")
    except KeyError:
        raise LookupError(f"Received: face {name!r}, which tfhist_magic.recording.FACES does not register (registered: {', '.join(sorted(FACES)) or 'none'})") from None
    return getattr(importlib.import_module(module), attr)


class RecordingFileError(ValueError):
    """A file :meth:`Recording.load` cannot read: one line naming the file and why."""


class _Store:
    """One tensor's kept rows: evenly thinned, first and latest always kept, and so are
    the rows of pinned steps (where a finding starts)."""

    __slots__ = ("capacity", "rows", "steps", "walls", "n", "stride", "seen", "latest", "thins", "top")

    def __init__(self, width: int, capacity: int):
        # Storage grows with what is kept (doubling), up to ``capacity`` rows.
        self.capacity = capacity
        self.rows = np.empty((0, width), dtype=np.float64)
        self.steps = np.empty(0, dtype=np.int64)
        self.walls = np.empty(0, dtype=np.float64)
        self.n = 0
        self.stride = 1
        self.seen = 0
        self.latest = None  # (step, wall, row) of the newest snapshot if not kept
        self.thins = 0  # how many times the kept rows were thinned (views resend then)
        self.top = None  # the newest step added

    def fresh(self, steps: np.ndarray) -> int:
        """How many of ``steps`` (a block about to be added) to skip: the first one when
        it repeats the newest step (the same state recorded twice, e.g. a phase's final
        weights and the next phase's first step). A step that goes back is refused."""
        if steps.size > 1 and np.any(np.diff(steps) <= 0):
            raise ValueError(f"Received steps {steps.tolist()} (expected increasing steps within a block)")
        top = self.top
        if top is None and (self.n or self.latest is not None):  # a loaded store
            top = self.latest[0] if self.latest is not None else int(self.steps[self.n - 1])
        if top is None or steps.size == 0 or steps[0] > top:
            return 0
        if steps[0] == top:
            return 1
        raise ValueError(f"Received step {int(steps[0])} after step {top} (a Series' steps only increase)")

    def _reserve(self, need: int) -> None:
        size = self.rows.shape[0]
        if need <= size:
            return
        new = min(self.capacity, max(need, 2 * size, 4))
        rows = np.empty((new, self.rows.shape[1]), dtype=np.float64)
        steps = np.empty(new, dtype=np.int64)
        walls = np.empty(new, dtype=np.float64)
        rows[: self.n], steps[: self.n], walls[: self.n] = self.rows[: self.n], self.steps[: self.n], self.walls[: self.n]
        self.rows, self.steps, self.walls = rows, steps, walls

    def add_block(self, steps: np.ndarray, walls: np.ndarray, rows: np.ndarray, pins=frozenset()) -> None:
        """Add ``S`` snapshots at once. The ``g``-th snapshot ever added is kept while
        ``g % stride == 0``; when ``capacity`` rows are kept, every other one is dropped
        and the stride doubles. The newest snapshot is always available (``latest``).
        Rows whose step is in ``pins`` are kept whatever the stride, and survive thinning."""
        if len(steps):
            self.top = int(steps[-1])
        forced = [i for i, st in enumerate(steps) if int(st) in pins] if pins else []
        start = 0
        for i in forced:  # the block in pieces around the pinned rows
            self._add_regular(steps[start:i], walls[start:i], rows[start:i], pins)
            if self.n == self.capacity:
                self._thin(pins)
            self._reserve(self.n + 1)
            self.rows[self.n], self.steps[self.n], self.walls[self.n] = rows[i], steps[i], walls[i]
            self.n += 1
            self.seen += 1
            self.latest = None
            start = i + 1
        self._add_regular(steps[start:], walls[start:], rows[start:], pins)

    def _thin(self, pins) -> None:
        """Drop every other kept row (pinned ones stay, while they are few) and double the stride."""
        keep = np.arange(0, self.n, 2)
        if pins:
            pinned = np.flatnonzero(np.isin(self.steps[: self.n], np.fromiter(pins, np.int64)))
            both = np.union1d(keep, pinned)
            if both.size <= (3 * self.n) // 4:  # pins must not stop thinning from freeing room
                keep = both
        k = keep.size
        self.rows[:k] = self.rows[keep]
        self.steps[:k] = self.steps[keep]
        self.walls[:k] = self.walls[keep]
        self.n = k
        self.stride *= 2
        self.thins += 1

    def _add_regular(self, steps: np.ndarray, walls: np.ndarray, rows: np.ndarray, pins) -> None:
        S = len(steps)
        if S == 0:
            return
        g0, i, last = self.seen, 0, -1
        cap = self.capacity
        while True:
            g = g0 + i
            j = g + (-g) % self.stride - g0  # next row kept at the current stride
            if j >= S:
                break
            if self.n == cap:
                self._thin(pins)
                continue
            take = np.arange(j, S, self.stride)[: cap - self.n]
            m = take.size
            self._reserve(self.n + m)
            self.rows[self.n : self.n + m] = rows[take]
            self.steps[self.n : self.n + m] = steps[take]
            self.walls[self.n : self.n + m] = walls[take]
            self.n += m
            last = int(take[-1])
            i = last + 1
        self.seen = g0 + S
        self.latest = None if last == S - 1 else (int(steps[-1]), float(walls[-1]), np.array(rows[-1], dtype=np.float64))

    def arrays(self):
        rows, steps, walls = self.rows[: self.n], self.steps[: self.n], self.walls[: self.n]
        if self.latest is not None:
            step, wall, row = self.latest
            rows = np.concatenate([rows, row[None]])
            steps = np.concatenate([steps, [step]])
            walls = np.concatenate([walls, [wall]])
        return rows, steps, walls

    @property
    def nbytes(self) -> int:
        return self.rows.nbytes + self.steps.nbytes + self.walls.nbytes + (0 if self.latest is None else self.latest[2].nbytes)


@dataclass
class Series:
    """One tensor's snapshots over steps (``S`` snapshots, ``B`` bins).

    Attributes:
        kind, name: which tensor.
        dtype: the compute dtype the device binned in (``"float32"`` or ``"float64"``);
            for a Series imported from TensorBoard, the dtype its file names (files
            ``to_tensorboard`` wrote) or ``"unknown"``.
        steps: int64[S], the step of each snapshot.
        epochs: int64[S], the Keras epoch of each step (-1 where unknown).
        wall: float64[S], host time (seconds since the epoch) the snapshot reached it.
        counts: int64[S, B], exact bin counts of the finite values.
        nan, posinf, neginf, zeros, size: int64[S].
        min, max, mean, std, norm: float64[S], over the finite values (NaN if none).
        width: float64[S], the bin width the device used (see ``histogram``).
        explicit_edges: float64[S, B+1] for a Series whose bins are not this package's
            rule (imported from TensorBoard); None otherwise, and ``edges`` derives them.
    """

    kind: str
    name: str
    dtype: str
    steps: np.ndarray
    epochs: np.ndarray
    wall: np.ndarray
    rows: np.ndarray = field(repr=False)
    explicit_edges: np.ndarray | None = field(default=None, repr=False)

    @property
    def bins(self) -> int:
        return self.rows.shape[1] - H.EXTRA

    def _x(self, k: int) -> np.ndarray:
        return self.rows[:, self.bins + k]

    @property
    def counts(self) -> np.ndarray:
        return self.rows[:, : self.bins].astype(np.int64)

    nan = property(lambda self: self._x(H.NAN).astype(np.int64))
    posinf = property(lambda self: self._x(H.POSINF).astype(np.int64))
    neginf = property(lambda self: self._x(H.NEGINF).astype(np.int64))
    zeros = property(lambda self: self._x(H.ZEROS).astype(np.int64))
    width = property(lambda self: self._x(H.WIDTH))

    @property
    def finite(self) -> np.ndarray:
        """int64[S]: how many finite values each snapshot had."""
        return self.counts.sum(axis=1)

    @property
    def size(self) -> np.ndarray:
        return self.finite + self.nan + self.posinf + self.neginf

    def _stat(self, k: int) -> np.ndarray:
        return np.where(self.finite > 0, self._x(k), np.nan)

    min = property(lambda self: self._stat(H.MIN))
    max = property(lambda self: self._stat(H.MAX))
    mean = property(lambda self: self._stat(H.MEAN))
    std = property(lambda self: self._stat(H.STD))
    norm = property(lambda self: self._stat(H.NORM))

    @functools.cached_property
    def edges(self) -> np.ndarray:
        """float64[S, B+1]: the exact edges of each snapshot's bins (computed once)."""
        if self.explicit_edges is not None:
            return self.explicit_edges
        return H.bin_edges(self._x(H.MIN), self._x(H.MAX), self.bins, np.dtype(self.dtype))

    def __len__(self) -> int:
        return self.steps.size

    def snapshot(self, i: int) -> dict:
        """Snapshot ``i`` (negative counts from the end) as a dict of plain values."""
        i = range(len(self))[i]
        return {
            "step": int(self.steps[i]),
            "epoch": int(self.epochs[i]),
            "edges": self.edges[i],
            "counts": self.counts[i],
            **{k: int(getattr(self, k)[i]) for k in ("nan", "posinf", "neginf", "zeros", "size")},
            **{k: float(getattr(self, k)[i]) for k in ("min", "max", "mean", "std", "norm")},
        }


def _delta(st: _Store, mark):
    now = (st.thins, st.n, None if st.latest is None else st.latest[0])
    if now == mark:
        return None
    start = 0 if mark is None or mark[0] != st.thins else min(mark[1], st.n)
    rows, steps, walls = st.arrays()
    return now, start, rows[start:], steps[start:], walls[start:]



class Changes(NamedTuple):
    """What changed in one Series (or scalar series) since a mark, addressed by step, for
    views that keep a copy which may hold only some of the kept snapshots: drop every
    snapshot whose step is not in ``keep`` (when given: the kept rows were thinned), drop
    every snapshot after step ``after`` (None: all of them), then append ``rows``.

    Attributes:
        mark: the state now, to pass back next time.
        after: the newest step the view keeps, or None.
        keep: int64[K], every step kept now (only after a thinning), else None.
        kept: how many snapshots are kept now (the newest included).
        steps, walls, rows: the snapshots to append (rows ``[S, width]``).
        edges: ``[S, B+1]`` explicit edges of those rows, for a Series that has them.
    """

    mark: tuple
    after: int | None
    keep: np.ndarray | None
    kept: int
    steps: np.ndarray
    walls: np.ndarray
    rows: np.ndarray
    edges: np.ndarray | None


def _top(st: _Store):
    """The newest step in ``st``, or None."""
    if st.latest is not None:
        return st.latest[0]
    return int(st.steps[st.n - 1]) if st.n else None


def _mark(st: _Store) -> tuple:
    return (st.thins, st.n, None if st.latest is None else st.latest[0], _top(st))


def _tail(st: _Store, start: int):
    """Kept rows from index ``start`` on, the newest (not kept) one appended: copies of
    only that part."""
    rows, steps, walls = st.rows[start : st.n], st.steps[start : st.n], st.walls[start : st.n]
    if st.latest is None:
        return rows.copy(), steps.copy(), walls.copy()
    step, wall, row = st.latest
    return np.concatenate([rows, row[None]]), np.append(steps, step), np.append(walls, wall)


def _changes(st: _Store, mark, ex: _Store | None = None) -> Changes | None:
    now = _mark(st)
    if mark is not None and tuple(mark) == now:
        return None
    kept = st.steps[: st.n]
    keep = None
    if mark is None:
        start, after = 0, None
    elif mark[0] != st.thins:  # thinned: say what is kept; send what is newer than the mark
        after = mark[3]
        keep = kept.copy() if st.latest is None else np.append(kept, st.latest[0])
        start = 0 if after is None else int(np.searchsorted(kept, after, side="right"))
    else:  # rows from the mark's kept count on (the newest row then may not be kept)
        start = min(mark[1], st.n)
        after = int(kept[start - 1]) if start else None
    rows, steps, walls = _tail(st, start)
    return Changes(now, after, keep, st.n + (st.latest is not None), steps, walls, rows, None if ex is None else _tail(ex, start)[0])


class Latest(NamedTuple):
    """The newest snapshot of a Series (or value of a scalar series), for an index.

    Attributes:
        mark: the state now (what :meth:`Recording.changes` continues from).
        kept: how many snapshots are kept (the newest included).
        step, wall: of the newest snapshot.
        row: float64[width], its row.
        edges: float64[B+1], its explicit edges, for a Series that has them, else None.
        first: float64[width], the first snapshot's row (always kept).
    """

    mark: tuple
    kept: int
    step: int
    wall: float
    row: np.ndarray
    edges: np.ndarray | None
    first: np.ndarray


def _latest(st: _Store, ex: _Store | None = None) -> Latest | None:
    if st.n == 0 and st.latest is None:
        return None
    if st.latest is not None:
        step, wall, row = st.latest
    else:
        step, wall, row = int(st.steps[st.n - 1]), float(st.walls[st.n - 1]), st.rows[st.n - 1]
    edges = None
    if ex is not None:
        edges = (ex.latest[2] if ex.latest is not None else ex.rows[ex.n - 1]).copy()
    first = st.rows[0] if st.n else row
    return Latest(_mark(st), st.n + (st.latest is not None), int(step), float(wall), np.array(row, dtype=np.float64), edges, np.array(first, dtype=np.float64))

def _saved_path(path):
    """Where :meth:`Recording.save` put ``path``: NumPy adds ``.npz`` to a name without
    it, so ``"run"`` is read as ``"run.npz"`` when there is no file ``"run"``."""
    if hasattr(path, "read"):  # an open file
        return path
    p = Path(path)
    if p.exists():
        return p
    if p.suffix != ".npz":
        alt = p.with_name(p.name + ".npz")
        if alt.exists():
            return alt
        raise FileNotFoundError(f"{p}: no such file (nor {alt})")
    raise FileNotFoundError(f"{p}: no such file")


def _file_kind(path) -> str:
    """``"zip"`` (a ``.npz`` archive), ``"npy"`` (one array), ``"empty"`` or ``"other"``,
    from the file's first bytes."""
    if hasattr(path, "read"):
        at = path.tell()
        head = path.read(6)
        path.seek(at)
    else:
        with open(path, "rb") as f:
            head = f.read(6)
    if not head:
        return "empty"
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):  # what np.load takes for a .npz
        return "zip"
    if head.startswith(b"\x93NUMPY"):
        return "npy"
    return "other"


def _reason(e: BaseException) -> str:
    """What went wrong, on one line, without NumPy's advice to load pickles."""
    text = " ".join(str(e).split())
    if "pickle" in text:  # an object array in the archive: never loaded
        return "it holds Python objects, which a Recording never does"
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def _locked(method):
    """Run a reading method under the Recording's lock (a writer may be adding rows)."""

    @functools.wraps(method)
    def inner(self, *args, **kwargs):
        with self._lock:
            return method(self, *args, **kwargs)

    return inner


class Recording:
    """All that one watch captured: kinds -> tensor names -> :class:`Series`.

    Args:
        bins: bins per histogram.
        max_snapshots: the most snapshots kept per Series (the first and the latest
            are always kept; the rest are thinned evenly).
    """

    def __init__(self, bins: int = 64, max_snapshots: int = 256):
        if not 1 <= bins <= H.MAX_BINS:
            raise ValueError(f"Received: bins={bins} (expected from 1 to {H.MAX_BINS})")
        if max_snapshots < 2:
            raise ValueError(f"Received: max_snapshots={max_snapshots} (expected >= 2)")
        self.bins = int(bins)
        self.max_snapshots = int(max_snapshots)
        self._stores: dict[str, dict[str, _Store]] = {k: {} for k in KINDS}
        self._dtypes: dict[tuple[str, str], str] = {}
        # (kind, name) -> store of explicit edges, kept in step with the rows' store, for
        # Series whose bins follow another rule (TensorBoard's); they may have other bin counts.
        self._edges: dict[tuple[str, str], _Store] = {}
        self._epochs: list[tuple[int, int]] = []  # (first step, epoch), sorted by step
        #: The first step whose gradients held NaN or Inf, checked in the graph at every
        #: step (not only sampled ones); None when none did or nothing checked.
        self.first_nonfinite: int | None = None
        self.models: dict[str, list[str]] = {}  # model name -> tensor names, in model order
        #: Activation names that are a model's output (the rules for hidden layers skip them:
        #: an output layer's sigmoid/softmax is meant to saturate).
        self.outputs: set[str] = set()
        self.notes: list[str] = []  # things the user should know (lost snapshots, ...)
        #: What the recording is doing before its first snapshot, for the views: a dict
        #: ``{"text": "preparing the recording for 612 tensors", "since": <unix seconds>}``
        #: while a watched training function is traced, else None.
        self.status: dict | None = None
        self._note_at: dict = {}  # a note's key -> its index in notes (a keyed note is replaced)
        self.notes_dropped = 0  # notes past MAX_NOTES, counted, not kept
        self._listeners: list = []
        # One lock for the stores: the training thread adds, views read (reentrant: a
        # writer may hold it over several adds, see ``batch``).
        self._lock = threading.RLock()
        # Scalar series measured beside the histograms (SCALARS): metric -> tensor name (a
        # model's label for MODEL_SCALARS) -> store of one-number rows. Thinned like the
        # snapshots.
        self._scalars: dict[str, dict[str, _Store]] = {}
        #: Steps thinning keeps in every Series: where a finding starts.
        self.pins: set[int] = set()
        from .health import Tracker

        self._health = Tracker(self)

    # -- writing ---------------------------------------------------------------------
    def add(self, kind: str, name: str, step: int, row, *, wall: float | None = None, dtype: str = "float32") -> None:
        """Add one snapshot (steps must not decrease within a Series)."""
        self.add_rows(kind, [name], [step], np.asarray(row, dtype=np.float64)[None, None, :], walls=None if wall is None else [wall], dtypes=[dtype])

    def batch(self):
        """The Recording's lock, for a writer adding several blocks that belong together
        (a view then sees all of them or none)."""
        return self._lock

    def add_rows(self, kind: str, names, steps, rows, *, walls=None, dtypes=None, edges=None) -> None:
        """Add ``S`` steps of ``T`` tensors at once: ``rows`` has shape ``[S, T, B+10]``.

        ``edges`` (``[S, T, B+1]``) gives explicit bin edges, for bins that do not follow
        this package's rule (imported histograms); ``B`` may then differ from ``bins``,
        but stays the same for each tensor. ``walls``: the time each step ran (seconds
        since the epoch; now if not given).

        Raises:
            ValueError: for rows of the wrong shape, or a step before a Series' newest
                one (steps only increase; the newest step again is skipped).
        """
        with self._lock:
            self._add_rows(kind, names, steps, rows, walls, dtypes, edges)

    def _add_rows(self, kind, names, steps, rows, walls, dtypes, edges) -> None:
        if kind not in self._stores:
            raise ValueError(f"Received: kind={kind!r} (expected one of {', '.join(KINDS)})")
        rows = np.asarray(rows, dtype=np.float64)
        width = self.bins + H.EXTRA if edges is None else np.shape(edges)[2] - 1 + H.EXTRA
        if rows.ndim != 3 or rows.shape[2] != width or rows.shape[1] != len(names):
            raise ValueError(f"Received rows of shape {rows.shape} (expected [S, {len(names)}, {width}])")
        if edges is not None:
            edges = np.asarray(edges, dtype=np.float64)
            if edges.shape[:2] != rows.shape[:2]:
                raise ValueError(f"Received edges of shape {edges.shape} for rows of shape {rows.shape}")
        now = time.time()
        walls = np.full(len(steps), now) if walls is None else np.asarray(walls, dtype=np.float64)
        steps = np.asarray(steps, dtype=np.int64)
        stores = self._stores[kind]
        skip = [stores[n].fresh(steps) if n in stores else 0 for n in names]  # refuses before storing anything
        for t, name in enumerate(names):
            if name not in stores:
                stores[name] = _Store(width, self.max_snapshots)
                self._dtypes[(kind, name)] = (dtypes[t] if dtypes is not None else "float32")
                if edges is not None:
                    self._edges[(kind, name)] = _Store(width - H.EXTRA + 1, self.max_snapshots)
            elif stores[name].rows.shape[1] != width or ((kind, name) in self._edges) != (edges is not None):
                raise ValueError(f"Received rows for {kind} {name!r} with {width - H.EXTRA} bins{' and explicit edges' if edges is not None else ''}, unlike its earlier ones")
        self._health.rows(kind, list(names), steps, rows)  # before storing: it may pin steps
        for t, name in enumerate(names):
            k = skip[t]
            stores[name].add_block(steps[k:], walls[k:], rows[k:, t], self.pins)
            if edges is not None:  # the same steps and pins: the same rows kept
                self._edges[(kind, name)].add_block(steps[k:], walls[k:], edges[k:, t], self.pins)

    def add_scalars(self, metric: str, name: str, steps, values, *, walls=None) -> None:
        """Add a scalar series' values at ``steps`` (e.g. ``update_ratio`` of a weight)."""
        steps = np.asarray(steps, dtype=np.int64)
        values = np.asarray(values, dtype=np.float64).reshape(-1, 1)
        walls = np.full(len(steps), time.time()) if walls is None else np.asarray(walls, dtype=np.float64)
        with self._lock:
            st = self._scalars.setdefault(metric, {}).get(name)
            if st is None:
                st = self._scalars[metric][name] = _Store(1, self.max_snapshots)
            k = st.fresh(steps)
            self._health.scalars(metric, name, steps[k:], values[k:, 0])
            st.add_block(steps[k:], walls[k:], values[k:], self.pins)

    def pin(self, step: int) -> None:
        """Keep ``step``'s snapshots through every thinning (a finding starts there)."""
        self.pins.add(int(step))

    def mark_epoch(self, step: int, epoch: int) -> None:
        """Say that ``epoch`` (Keras' 0-based epoch) starts at ``step``. Marks of every
        ``fit`` are kept (a mark at the same step replaces the earlier one)."""
        with self._lock:
            kept = [e for e in self._epochs if e[0] != step] + [(int(step), int(epoch))]
            self._epochs = sorted(kept)

    def mark_nonfinite(self, step: int) -> None:
        """Say that the gradients of ``step`` held NaN or Inf (the earliest step is kept)."""
        if self.first_nonfinite is None or step < self.first_nonfinite:
            self.first_nonfinite = int(step)
            self.pin(step)

    def note(self, text: str, key=None) -> None:
        """Tell the user ``text`` (once). A note with a ``key`` replaces the earlier note
        with that key (a count that grows stays one note). At most :data:`MAX_NOTES` are
        kept; later ones are counted in ``notes_dropped``."""
        with self._lock:
            if key is not None and key in self._note_at:
                self.notes[self._note_at[key]] = text
            elif text not in self.notes:
                if len(self.notes) >= MAX_NOTES:
                    self.notes_dropped += 1
                    return
                if key is not None:
                    self._note_at[key] = len(self.notes)
                self.notes.append(text)

    def add_model(self, model: str, names, outputs=()) -> None:
        """Say that ``names`` belong to ``model`` (in model order); ``outputs`` are those
        of its activations that are the model's own output."""
        lst = self.models.setdefault(model, [])
        lst.extend(n for n in names if n not in lst)
        self.outputs.update(outputs)

    # -- reading ---------------------------------------------------------------------
    @property
    def kinds(self) -> tuple[str, ...]:
        """The kinds that hold at least one Series, in display order."""
        return tuple(k for k in KINDS if self._stores[k])

    @_locked
    def names(self, kind: str) -> list[str]:
        """Tensor names of ``kind``, in the order they were first recorded (model order)."""
        if kind not in self._stores:
            raise KeyError(f"Received: kind={kind!r} (expected one of {', '.join(KINDS)})")
        return list(self._stores[kind])

    @_locked
    def series(self, kind: str, name: str) -> Series:
        """One tensor's snapshots over steps."""
        try:
            st = self._stores[kind][name]
        except KeyError:
            known = ", ".join(self.names(kind)) if kind in self._stores else ""
            raise KeyError(f"Received: ({kind!r}, {name!r}); this Recording has {kind}: {known or 'none'}") from None
        rows, steps, walls = st.arrays()
        ex = self._edges.get((kind, name))
        return Series(kind, name, self._dtypes[(kind, name)], steps.copy(), self.epochs_of(steps), walls.copy(), rows.copy(), None if ex is None else ex.arrays()[0].copy())

    def dtype(self, kind: str, name: str) -> str:
        """The dtype ``(kind, name)`` was binned in (``"float32"``, ``"float64"``)."""
        return self._dtypes[(kind, name)]

    def explicit_edges(self, kind: str, name: str) -> np.ndarray | None:
        """The kept snapshots' explicit edges ``[S, B+1]`` of a Series that has them, else None."""
        ex = self._edges.get((kind, name))
        return None if ex is None else ex.arrays()[0]

    @_locked
    def scalar_names(self, metric: str) -> list[str]:
        """Tensor names (model labels for ``grad_norm``) that have a ``metric`` series, in
        the order first recorded."""
        return list(self._scalars.get(metric, {}))

    @_locked
    def scalar(self, metric: str, name: str) -> tuple[np.ndarray, np.ndarray]:
        """``(steps, values)`` of one scalar series (:data:`SCALARS`): ``update_ratio``,
        ``update_norm``, ``init_distance`` of a weight, ``dead_units``, ``saturation`` of an
        activation, ``grad_norm`` of a model (``name``: its label in :attr:`models`)."""
        try:
            st = self._scalars[metric][name]
        except KeyError:
            raise KeyError(f"Received: ({metric!r}, {name!r}); this Recording has {metric}: {', '.join(self.scalar_names(metric)) or 'none'}") from None
        rows, steps, _ = st.arrays()
        return steps.copy(), rows[:, 0].copy()

    @_locked
    def findings(self) -> list:
        """What the rules in :mod:`tfhist_magic.health` found, as
        :class:`~tfhist_magic.health.Finding` records (non-finite values first)."""
        return self._health.findings()

    @_locked
    def last_step(self, kind: str, name: str) -> int:
        """The step of the newest snapshot of ``(kind, name)``, or -1 if there is none."""
        st = self._stores[kind].get(name)
        if st is None or (st.n == 0 and st.latest is None):
            return -1
        return st.latest[0] if st.latest is not None else int(st.steps[st.n - 1])

    @_locked
    def kept_steps(self, kind: str, name: str) -> np.ndarray:
        """The steps of the kept snapshots of ``(kind, name)`` (the newest included), in
        order, without copying any rows; empty if there are none."""
        st = self._stores[kind].get(name)
        if st is None:
            return np.zeros(0, dtype=np.int64)
        steps = st.steps[: st.n].copy()
        return steps if st.latest is None else np.append(steps, st.latest[0])

    @_locked
    def delta(self, kind: str, name: str, mark=None):
        """What changed in ``(kind, name)`` since ``mark`` (None: everything), for views
        that keep a copy: ``(mark, start, rows, steps, walls)`` means "drop your snapshots
        from index ``start`` on, then append these"; None when nothing changed. Thinning
        makes ``start`` 0 (rare: the kept rows halve each time)."""
        return _delta(self._stores[kind][name], mark)

    @_locked
    def scalar_delta(self, metric: str, name: str, mark=None):
        """:meth:`delta` for a scalar series: ``(mark, start, values, steps, walls)``."""
        got = _delta(self._scalars[metric][name], mark)
        return None if got is None else (got[0], got[1], got[2][:, 0], got[3], got[4])

    @_locked
    def changes(self, kind: str, name: str, mark=None) -> Changes | None:
        """What changed in ``(kind, name)`` since ``mark`` (None: everything), addressed by
        step (see :class:`Changes`), for views that may hold only some snapshots; None
        when nothing changed. Copies only the rows it returns."""
        return _changes(self._stores[kind][name], mark, self._edges.get((kind, name)))

    @_locked
    def scalar_changes(self, metric: str, name: str, mark=None) -> Changes | None:
        """:meth:`changes` for a scalar series (its rows are ``[S, 1]``)."""
        return _changes(self._scalars[metric][name], mark)

    @_locked
    def latest(self, kind: str, name: str) -> Latest | None:
        """The newest snapshot of ``(kind, name)`` and how many are kept (see
        :class:`Latest`), without copying the others; None if it has none."""
        return _latest(self._stores[kind][name], self._edges.get((kind, name)))

    @_locked
    def scalar_latest(self, metric: str, name: str) -> Latest | None:
        """:meth:`latest` for a scalar series (``row`` holds the one value)."""
        return _latest(self._scalars[metric][name])

    @_locked
    def stat(self, kind: str, name: str, column: int) -> tuple[np.ndarray, np.ndarray]:
        """``(steps, values)`` of one statistic of ``(kind, name)`` over its kept snapshots,
        ``column`` one of ``histogram.MIN, MAX, MEAN, STD, NORM`` (NaN where a snapshot had
        no finite values) or a count (``NAN``, ``POSINF``, ``NEGINF``, ``ZEROS``), without
        copying the rows."""
        st = self._stores[kind][name]
        B = st.rows.shape[1] - H.EXTRA
        rows, steps = st.rows[: st.n], st.steps[: st.n]
        if st.latest is not None:
            rows, steps = np.concatenate([rows, st.latest[2][None]]), np.append(steps, st.latest[0])
        values = rows[:, B + column].copy()
        if column in (H.MIN, H.MAX, H.MEAN, H.STD, H.NORM):
            values[rows[:, :B].sum(axis=1) <= 0] = np.nan
        return steps.copy(), values

    def epochs_of(self, steps) -> np.ndarray:
        """The Keras epoch (0-based, -1 where unknown) of each of ``steps``."""
        steps = np.asarray(steps, dtype=np.int64)
        if not self._epochs:
            return np.full(steps.shape, -1, dtype=np.int64)
        starts = np.array([s for s, _ in self._epochs])
        eps = np.array([e for _, e in self._epochs])
        i = np.searchsorted(starts, steps, side="right") - 1
        return np.where(i >= 0, eps[np.clip(i, 0, None)], -1).astype(np.int64)

    @property
    @_locked
    def steps(self) -> np.ndarray:
        """All steps that have a snapshot of any tensor, sorted."""
        parts = [st.arrays()[1] for k in KINDS for st in self._stores[k].values()]
        return np.unique(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.int64)

    @property
    def nbytes(self) -> int:
        """Bytes held by the stored snapshots."""
        return sum(st.nbytes for k in KINDS for st in self._stores[k].values())

    def __len__(self) -> int:
        return sum(len(v) for v in self._stores.values())

    def __bool__(self) -> bool:
        return True

    @_locked
    def subset(self, kinds=None, names=None) -> "Recording":
        """A Recording that shares this one's snapshots, limited to ``kinds``/``names``."""
        out = Recording(bins=self.bins, max_snapshots=self.max_snapshots)
        keep = None if names is None else set(names)
        for kind in kinds or KINDS:
            for name, st in self._stores[kind].items():
                if keep is None or name in keep:
                    out._stores[kind][name] = st
                    out._dtypes[(kind, name)] = self._dtypes[(kind, name)]
                    if (kind, name) in self._edges:
                        out._edges[(kind, name)] = self._edges[(kind, name)]
        out._epochs = list(self._epochs)
        kept_models = None if keep is None else {m for m, ns in self.models.items() if keep.intersection(ns)}
        for metric, stores in self._scalars.items():
            mine = kept_models if metric in MODEL_SCALARS else keep
            out._scalars[metric] = {n: st for n, st in stores.items() if mine is None or n in mine}
        out.pins = self.pins
        out._lock = self._lock  # the same stores: the same lock
        out._health = self._health.subset(kinds or KINDS, keep)
        out.first_nonfinite = self.first_nonfinite
        out.notes = list(self.notes)
        out.models = {m: [n for n in ns if keep is None or n in keep] for m, ns in self.models.items()}
        out.outputs = {n for n in self.outputs if keep is None or n in keep}
        return out

    # -- live updates ----------------------------------------------------------------
    def subscribe(self, fn) -> None:
        self._listeners.append(fn)

    def unsubscribe(self, fn) -> None:
        if fn in self._listeners:
            self._listeners.remove(fn)

    def changed(self) -> None:
        """Tell the views that new snapshots arrived. A view never stops training: a
        listener that raises is dropped, with one note saying so."""
        for fn in list(self._listeners):
            try:
                fn(self)
            except Exception as e:  # noqa: BLE001 - whatever a view does wrong
                self.unsubscribe(fn)
                self.note(f"A view stopped following this recording ({type(e).__name__}: {e}); the recording goes on.", key=("listener", id(fn)))

    # -- save / load -----------------------------------------------------------------
    @_locked
    def save(self, path) -> None:
        """Save to a ``.npz`` file: exactly what is kept (every snapshot, step, epoch, wall
        time, dtype, scalar series, finding, note, model list), with a format version.
        Nothing is pickled."""
        meta = {
            "format": FILE_FORMAT,
            "version": FILE_VERSION,
            "bins": self.bins,
            "max_snapshots": self.max_snapshots,
            "epochs": [list(e) for e in self._epochs],
            "first_nonfinite": self.first_nonfinite,
            "models": self.models,
            "outputs": sorted(self.outputs),
            "notes": self.notes,
            "pins": sorted(self.pins),
            "findings": [f.as_dict() for f in self.findings()],
            "series": [],
            "scalars": [],
        }
        arrays = {}

        def put(entry: dict, st: _Store, key: str) -> None:
            n = st.n
            entry.update(key=key, stride=st.stride, seen=st.seen, thins=st.thins, latest=st.latest is not None, columns=st.rows.shape[1])
            rows, steps, walls = st.arrays()
            arrays[key + "/rows"], arrays[key + "/steps"], arrays[key + "/walls"] = rows, steps, walls
            entry["kept"] = n

        for kind in KINDS:
            for i, (name, st) in enumerate(self._stores[kind].items()):
                entry = {"kind": kind, "name": name, "dtype": self._dtypes[(kind, name)]}
                put(entry, st, f"s/{kind}/{i}")
                if (kind, name) in self._edges:
                    entry["edges"] = {}
                    put(entry["edges"], self._edges[(kind, name)], f"e/{kind}/{i}")
                meta["series"].append(entry)
        for metric, stores in self._scalars.items():
            for i, (name, st) in enumerate(stores.items()):
                entry = {"metric": metric, "name": name}
                put(entry, st, f"c/{metric}/{i}")
                meta["scalars"].append(entry)
        arrays["meta"] = np.frombuffer(json.dumps(meta, allow_nan=True).encode(), dtype=np.uint8)
        np.savez_compressed(path, **arrays)

    @classmethod
    def load(cls, path) -> "Recording":
        """Load what :meth:`save` wrote, exactly. ``path`` may omit the ``.npz`` that
        :meth:`save` (NumPy) adds: ``load("run")`` reads ``run.npz`` when there is no
        file ``run``. A file that is not a Recording, is truncated or corrupt, or comes
        from a newer version raises :class:`RecordingFileError` (a ``ValueError``) naming
        the file. Nothing is unpickled.

        Raises:
            FileNotFoundError: when neither ``path`` nor ``path.npz`` exists.
        """
        path = _saved_path(path)

        def bad(why: str) -> RecordingFileError:
            return RecordingFileError(f"{path}: {why}")

        try:
            kind = _file_kind(path)
        except OSError as e:  # a directory, no permission, ...
            raise bad(f"cannot be read ({e.strerror or _reason(e)})") from None
        if kind == "empty":
            raise bad("not a tfhist Recording (an empty file)")
        if kind == "npy":
            raise bad("not a tfhist Recording (a single array, not a .npz archive)")
        if kind != "zip":  # np.load would try it as a pickle, and say so
            raise bad("not a tfhist Recording (not a .npz archive)")
        try:
            z = np.load(path, allow_pickle=False)
        except FileNotFoundError:
            raise
        except Exception as e:  # noqa: BLE001 - BadZipFile, NotImplementedError (a damaged header), ...
            raise bad(f"not a tfhist Recording (not a readable .npz file: {_reason(e)})") from None
        try:
            with z:
                if "meta" not in z.files:
                    if "meta/index" in getattr(z, "files", ()):
                        return cls._load_v1(z)
                    raise bad("not a tfhist Recording (no tfhist metadata in it)")
                try:
                    meta = json.loads(bytes(z["meta"]).decode())
                except ValueError as e:
                    raise bad(f"corrupt metadata ({_reason(e)})") from None
                if not isinstance(meta, dict) or meta.get("format") != FILE_FORMAT:
                    raise bad("not a tfhist Recording (no tfhist metadata in it)")
                if int(meta.get("version", 0)) > FILE_VERSION:
                    raise bad(f"written by a newer tfhist_magic (file format {meta['version']}, this version reads up to {FILE_VERSION}); upgrade tfhist_magic to read it")
                return cls._from_meta(meta, z, bad)
        except RecordingFileError:
            raise
        except Exception as e:  # noqa: BLE001 - whatever a damaged archive raises (zlib.error, ...)
            raise bad(f"truncated or corrupt ({_reason(e)})") from None

    @classmethod
    def _from_meta(cls, meta: dict, z, bad) -> "Recording":
        rec = cls(bins=int(meta["bins"]), max_snapshots=int(meta["max_snapshots"]))
        width = rec.bins + H.EXTRA

        def restore(entry: dict, columns: int) -> _Store:
            key = entry["key"]
            rows = np.asarray(z[key + "/rows"], dtype=np.float64)
            steps = np.asarray(z[key + "/steps"], dtype=np.int64)
            walls = np.asarray(z[key + "/walls"], dtype=np.float64)
            if rows.ndim != 2 or rows.shape[1] != columns or not (len(rows) == len(steps) == len(walls)):
                raise bad(f"truncated or corrupt (arrays of {key} have shapes {rows.shape}, {steps.shape}, {walls.shape})")
            kept = int(entry["kept"])
            if kept + bool(entry["latest"]) != len(rows):
                raise bad(f"truncated or corrupt ({key} holds {len(rows)} rows, the index says {kept})")
            st = _Store(columns, rec.max_snapshots)
            st._reserve(kept)
            st.rows[:kept], st.steps[:kept], st.walls[:kept] = rows[:kept], steps[:kept], walls[:kept]
            st.n, st.stride, st.seen, st.thins = kept, int(entry["stride"]), int(entry["seen"]), int(entry["thins"])
            if entry["latest"]:
                st.latest = (int(steps[-1]), float(walls[-1]), rows[-1].copy())
            return st

        for e in meta["series"]:
            if e["kind"] not in KINDS:
                raise bad(f"truncated or corrupt (unknown kind {e['kind']!r})")
            if "edges" in e:
                ex = rec._edges[(e["kind"], e["name"])] = restore(e["edges"], int(e["edges"]["columns"]))
                rec._stores[e["kind"]][e["name"]] = restore(e, ex.rows.shape[1] - 1 + H.EXTRA)
            else:
                rec._stores[e["kind"]][e["name"]] = restore(e, width)
            rec._dtypes[(e["kind"], e["name"])] = str(e["dtype"])
        for e in meta["scalars"]:
            rec._scalars.setdefault(e["metric"], {})[e["name"]] = restore(e, 1)
        rec._epochs = [(int(a), int(b)) for a, b in meta["epochs"]]
        rec.first_nonfinite = None if meta["first_nonfinite"] is None else int(meta["first_nonfinite"])
        rec.models = {str(m): [str(n) for n in ns] for m, ns in meta["models"].items()}
        rec.outputs = {str(n) for n in meta.get("outputs", ())}
        rec.notes = [str(n) for n in meta["notes"]]
        rec.pins = {int(p) for p in meta["pins"]}
        rec._health.restore(meta["findings"])
        return rec

    @classmethod
    def _load_v1(cls, z) -> "Recording":
        """Files from before the format had a version (0.1): fixed keys, rows replayed."""
        rec = cls(bins=int(z["meta/bins"]), max_snapshots=max(int(z["meta/max"]), 2))
        for kind, name, dtype, key in z["meta/index"]:
            rows = z[key + "/rows"]
            rec._stores[kind][name] = st = _Store(rec.bins + H.EXTRA, max(rec.max_snapshots, len(rows)))
            st.add_block(z[key + "/steps"], z[key + "/wall"], rows)  # the capacity holds them all: no thinning
            st.capacity = rec.max_snapshots
            rec._dtypes[(kind, name)] = str(dtype)
            rec._health.rows(kind, [name], z[key + "/steps"], rows[:, None, :])
        rec._epochs = [(int(a), int(b)) for a, b in z["meta/epochs"]]
        for m, n in z["meta/models"]:
            rec.add_model(str(m), [str(n)])
        rec.notes = [str(n) for n in z["meta/notes"]]
        if "meta/first_nonfinite" in z and int(z["meta/first_nonfinite"]) >= 0:
            rec.mark_nonfinite(int(z["meta/first_nonfinite"]))
        return rec

    # -- TensorBoard (the exporter is found through FACES) ------------------------------
    def to_tensorboard(self, logdir) -> str:
        """Write every Series as TensorBoard histogram summaries (exact edges and counts,
        at the recorded steps; non-finite counts and scalar series as scalars) to a new
        event file in ``logdir``; returns its path. See :mod:`tfhist_magic.tensorboard`."""
        return _face("to_tensorboard")(self, logdir)

    @classmethod
    def from_tensorboard(cls, logdir, run: str | None = None, tag: str | None = None, **kwargs) -> "Recording":
        """A Recording of the histogram summaries in the event files under ``logdir``
        (``run``: a glob on run directories; ``tag``: a regular expression). Files
        :meth:`to_tensorboard` wrote come back as the rows and steps recorded, exact bins
        and statistics. Damaged files are skipped with a note naming them. See
        :mod:`tfhist_magic.tensorboard`."""
        return _face("from_tensorboard")(logdir, run=run, tag=tag, **kwargs)

    # -- display (the views are found through FACES) ---------------------------------
    def summary(self) -> str:
        """A plain-text summary (what a terminal shows)."""
        return _face("summary")(self)

    def show(self, **kwargs):
        """Display the dashboard: in Jupyter the one a saved notebook keeps (drawn from data
        inlined in the output, with a picture and text beside it); ``mode="widget"`` the
        live widget (returned); ``"text"`` the summary. See ``tfhist_magic.view.show``."""
        return _face("show")(self, **kwargs)

    def figure(self, **kwargs):
        """A matplotlib Figure of the latest snapshots (Agg canvas, no pyplot)."""
        return _face("figure")(self, **kwargs)

    def __repr__(self) -> str:
        return self.summary()

    def _repr_png_(self):
        if not len(self):
            return None
        png, width = _face("png")(self)
        return png, {"width": width}
