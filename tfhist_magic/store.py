"""The kept store: every row one watch recorded, thinned to bounded memory, under one lock.

Owns the storage (:class:`Kept`: one tensor's rows, or one scalar series' values), the
thinning, the tensor names, dtypes, models, epoch marks (per model), pins, notes and the
first non-finite step, and the one lock (:attr:`Store.lock`, reentrant) that every
mutation and every read here takes. Knows nothing about TensorFlow, widgets or files.

Bounded storage: each :class:`Kept` keeps at most ``max_snapshots`` rows. When it is
full, every other kept row is dropped and the sampling stride doubles, so what is kept
stays evenly spaced over the whole run; the first row and the latest one are always
kept, and so are the rows of pinned steps (where a finding starts). Rows kept are never
altered.

Who may touch what: :func:`tfhist_magic.block.deliver` is the only writer of rows,
scalar series, models, epoch marks and the non-finite step (the methods under
"writers", called with the lock held); :meth:`Store.pin` (the findings) and
:meth:`Store.note` may be called by anyone. The read API users call is
:class:`~tfhist_magic.recording.Recording`, a Store; the file formats read what
:meth:`Store.series_stores` and :meth:`Store.scalar_stores` list.
"""

from __future__ import annotations

import functools
import threading
from typing import NamedTuple

import numpy as np

from . import histogram as H
from .constants import KINDS, MODEL_SCALARS

__all__ = ["MAX_NOTES", "Changes", "Kept", "Latest", "Store", "changes_of", "latest_of", "locked"]

#: The most notes a Recording keeps (more are counted in ``notes_dropped``).
MAX_NOTES = 20


class Kept:
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

    def state(self) -> dict:
        """How the rows were kept, for a file: ``kept`` rows, the ``stride``, the snapshots
        ``seen``, the ``thins`` so far, whether the newest (``latest``) is held beside them."""
        return {"kept": self.n, "stride": self.stride, "seen": self.seen, "thins": self.thins, "latest": self.latest is not None}

    def restore(self, steps: np.ndarray, walls: np.ndarray, rows: np.ndarray, state: dict) -> None:
        """Hold exactly the rows a file kept (``arrays()`` as saved) with their
        :meth:`state`: nothing is thinned again."""
        kept = int(state["kept"])
        self.rows = np.array(rows[:kept], dtype=np.float64)
        self.steps, self.walls = np.array(steps[:kept], dtype=np.int64), np.array(walls[:kept], dtype=np.float64)
        self.n, self.stride, self.seen, self.thins = kept, int(state["stride"]), int(state["seen"]), int(state["thins"])
        self.latest = (int(steps[-1]), float(walls[-1]), np.array(rows[-1], dtype=np.float64)) if state["latest"] else None
        self.top = None

    @property
    def nbytes(self) -> int:
        return self.rows.nbytes + self.steps.nbytes + self.walls.nbytes + (0 if self.latest is None else self.latest[2].nbytes)


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


def _top(st: Kept):
    """The newest step in ``st``, or None."""
    if st.latest is not None:
        return st.latest[0]
    return int(st.steps[st.n - 1]) if st.n else None


def _mark(st: Kept) -> tuple:
    return (st.thins, st.n, None if st.latest is None else st.latest[0], _top(st))


def _tail(st: Kept, start: int):
    """Kept rows from index ``start`` on, the newest (not kept) one appended: copies of
    only that part."""
    rows, steps, walls = st.rows[start : st.n], st.steps[start : st.n], st.walls[start : st.n]
    if st.latest is None:
        return rows.copy(), steps.copy(), walls.copy()
    step, wall, row = st.latest
    return np.concatenate([rows, row[None]]), np.append(steps, step), np.append(walls, wall)


def changes_of(st: Kept, mark, ex: Kept | None = None) -> Changes | None:
    """What changed in ``st`` (with its explicit edges ``ex``) since ``mark``, or None."""
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


def latest_of(st: Kept, ex: Kept | None = None) -> Latest | None:
    """The newest row of ``st`` (with its explicit edges ``ex``), or None when it has none."""
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



def locked(method):
    """Run a method under the store's lock (a writer may be adding rows)."""

    @functools.wraps(method)
    def inner(self, *args, **kwargs):
        with self.lock:
            return method(self, *args, **kwargs)

    return inner


class Store:
    """The kept rows of one watch: kinds -> tensor names -> :class:`Kept`, scalar series,
    and what they belong to.

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
        #: The one lock: the training thread writes, views read (reentrant: a writer may
        #: hold it over several blocks that belong together).
        self.lock = threading.RLock()
        self._rows: dict[str, dict[str, Kept]] = {k: {} for k in KINDS}
        self._dtypes: dict[tuple[str, str], str] = {}
        # (kind, name) -> explicit edges, kept in step with the rows, for Series whose bins
        # follow another rule (TensorBoard's); they may have other bin counts.
        self._edges: dict[tuple[str, str], Kept] = {}
        # Scalar series (constants.SCALARS): metric -> tensor name (a model's label for
        # MODEL_SCALARS) -> one-number rows, thinned like the snapshots.
        self._scalars: dict[str, dict[str, Kept]] = {}
        # model label (None: marks of no model) -> [(first step, epoch)], sorted by step
        self._epochs: dict[str | None, list[tuple[int, int]]] = {}
        self._owner: dict | None = None  # tensor name -> the model whose marks it takes (cached)
        self._members: dict[str, set] = {}  # model label -> the names in models[label], to add new ones fast
        #: The first step whose gradients or loss held NaN or Inf, checked at every step
        #: (not only sampled ones); None when none did or nothing checked.
        self.first_nonfinite: int | None = None
        self.models: dict[str, list[str]] = {}  # model label -> tensor names, in model order
        #: Activation names that are a model's output (the rules for hidden layers skip them:
        #: an output layer's sigmoid/softmax is meant to saturate).
        self.outputs: set[str] = set()
        self.notes: list[str] = []  # things the user should know (lost snapshots, ...)
        self.notes_dropped = 0  # notes past MAX_NOTES, counted, not kept
        self._note_at: dict = {}  # a note's key -> its index in notes (a keyed note is replaced)
        #: What the recording is doing before its first snapshot, for the views: a dict
        #: ``{"text": "preparing the recording for 612 tensors", "since": <unix seconds>}``
        #: while a watched training function is traced, else None.
        self.status: dict | None = None
        #: Steps thinning keeps in every Series: where a finding starts.
        self.pins: set[int] = set()
        #: Called with each block :func:`~tfhist_magic.block.deliver` resolved, under the
        #: lock, before its rows are kept (the findings: a finding pins its step).
        self.arrivals: list = []

    # -- writers: only block.deliver calls these, with the lock held ---------------------
    def check_rows(self, kind: str, names, steps: np.ndarray, rows: np.ndarray, edges) -> list[int]:
        """Refuse rows ``[S, T, width]`` that do not fit, before anything is kept; returns
        how many of ``steps`` each tensor skips (its newest step again, see :meth:`Kept.fresh`)."""
        if kind not in self._rows:
            raise ValueError(f"Received: kind={kind!r} (expected one of {', '.join(KINDS)})")
        width = self.bins + H.EXTRA if edges is None else np.shape(edges)[2] - 1 + H.EXTRA
        if rows.ndim != 3 or rows.shape[2] != width or rows.shape[1] != len(names):
            raise ValueError(f"Received rows of shape {rows.shape} (expected [S, {len(names)}, {width}])")
        if edges is not None and np.shape(edges)[:2] != rows.shape[:2]:
            raise ValueError(f"Received edges of shape {np.shape(edges)} for rows of shape {rows.shape}")
        stores = self._rows[kind]
        skip = [stores[n].fresh(steps) if n in stores else 0 for n in names]
        for name in names:
            st = stores.get(name)
            if st is not None and (st.rows.shape[1] != width or ((kind, name) in self._edges) != (edges is not None)):
                raise ValueError(f"Received rows for {kind} {name!r} with {width - H.EXTRA} bins{' and explicit edges' if edges is not None else ''}, unlike its earlier ones")
        return skip

    def keep_rows(self, kind: str, names, steps, walls, rows, *, dtypes=None, edges=None, skip=None, kept=None) -> None:
        """Keep rows :meth:`check_rows` accepted (``skip`` from it). ``kept``: ``(kind,
        name) -> Kept.state()`` of rows a file kept, restored as they were."""
        stores = self._rows[kind]
        for t, name in enumerate(names):
            st = stores.get(name)
            if st is None:
                st = stores[name] = Kept(rows.shape[2], self.max_snapshots)
                self._dtypes[(kind, name)] = dtypes[t] if dtypes is not None else "float32"
                if edges is not None:
                    self._edges[(kind, name)] = Kept(edges.shape[2], self.max_snapshots)
            ex = None if edges is None else self._edges[(kind, name)]
            state = None if kept is None else kept.get((kind, name))
            if state is not None:
                st.restore(steps, walls, rows[:, t], state)
                if ex is not None:
                    ex.restore(steps, walls, edges[:, t], state)
                continue
            k = 0 if skip is None else skip[t]
            st.add_block(steps[k:], walls[k:], rows[k:, t], self.pins)
            if ex is not None:  # the same steps and pins: the same rows kept
                ex.add_block(steps[k:], walls[k:], edges[k:, t], self.pins)

    def fresh_scalars(self, metric: str, name: str, steps: np.ndarray) -> int:
        """How many of ``steps`` a scalar series skips (its newest step again); raises for
        a step that goes back."""
        st = self._scalars.get(metric, {}).get(name)
        return 0 if st is None else st.fresh(steps)

    def keep_scalars(self, metric: str, name: str, steps, walls, values, state: dict | None = None) -> None:
        """Keep a scalar series' values at ``steps`` (:meth:`fresh_scalars` applied);
        ``state``: as a file kept them."""
        st = self._scalars.setdefault(metric, {}).get(name)
        if st is None:
            st = self._scalars[metric][name] = Kept(1, self.max_snapshots)
        values = np.asarray(values, dtype=np.float64).reshape(-1, 1)
        if state is not None:
            st.restore(steps, walls, values, state)
        else:
            st.add_block(steps, walls, values, self.pins)

    def register(self, model: str, names, outputs=()) -> None:
        """``names`` belong to ``model`` (in model order); ``outputs`` are those of its
        activations that are the model's own output."""
        lst = self.models.setdefault(model, [])
        seen = self._members.get(model)
        if seen is None or len(seen) != len(lst):  # every block names its tensors: O(names), not O(names^2)
            seen = self._members[model] = set(lst)
        new = [n for n in dict.fromkeys(names) if n not in seen]
        if new:
            lst.extend(new)
            seen.update(new)
            self._owner = None
        self.outputs.update(outputs)

    def mark_epochs(self, model: str | None, marks: dict) -> None:
        """``{step: epoch}``: Keras' 0-based ``epoch`` of ``model`` starts at ``step``
        (None: of no model). Marks of every fit are kept; a mark at the same step replaces
        the earlier one."""
        if not marks:
            return
        now = dict(self._epochs.get(model, ()))
        now.update((int(s), int(e)) for s, e in marks.items())
        self._epochs[model] = sorted(now.items())
        self._owner = None

    def keep_nonfinite(self, step: int) -> None:
        """The gradients or loss of ``step`` held NaN or Inf (the earliest step is kept, pinned)."""
        if self.first_nonfinite is None or step < self.first_nonfinite:
            self.first_nonfinite = int(step)
            self.pin(step)

    # -- anyone ------------------------------------------------------------------------
    @locked
    def pin(self, step: int) -> None:
        """Keep ``step``'s snapshots through every thinning (a finding starts there)."""
        self.pins.add(int(step))

    @locked
    def note(self, text: str, key=None) -> None:
        """Tell the user ``text`` (once). A note with a ``key`` replaces the earlier note
        with that key (a count that grows stays one note). At most :data:`MAX_NOTES` are
        kept; later ones are counted in ``notes_dropped``."""
        if key is not None and key in self._note_at:
            self.notes[self._note_at[key]] = text
        elif text not in self.notes:
            if len(self.notes) >= MAX_NOTES:
                self.notes_dropped += 1
                return
            if key is not None:
                self._note_at[key] = len(self.notes)
            self.notes.append(text)

    # -- reading -----------------------------------------------------------------------
    @property
    @locked
    def kinds(self) -> tuple[str, ...]:
        """The kinds that hold at least one Series, in display order."""
        return tuple(k for k in KINDS if self._rows[k])

    @locked
    def names(self, kind: str) -> list[str]:
        """Tensor names of ``kind``, in the order they were first recorded (model order)."""
        if kind not in self._rows:
            raise KeyError(f"Received: kind={kind!r} (expected one of {', '.join(KINDS)})")
        return list(self._rows[kind])

    @locked
    def dtype(self, kind: str, name: str) -> str:
        """The dtype ``(kind, name)`` was binned in (``"float32"``, ``"float64"``)."""
        return self._dtypes[(kind, name)]

    @locked
    def scalar_names(self, metric: str) -> list[str]:
        """Tensor names (model labels for ``grad_norm``) that have a ``metric`` series, in
        the order first recorded."""
        return list(self._scalars.get(metric, {}))

    @locked
    def kept(self, kind: str, name: str) -> Kept:
        """The kept rows of ``(kind, name)`` (read them under :attr:`lock`)."""
        try:
            return self._rows[kind][name]
        except KeyError:
            known = ", ".join(self._rows[kind]) if kind in self._rows else ""
            raise KeyError(f"Received: ({kind!r}, {name!r}); this Recording has {kind}: {known or 'none'}") from None

    @locked
    def has(self, kind: str, name: str) -> bool:
        """Whether ``(kind, name)`` has kept rows."""
        return name in self._rows.get(kind, {})

    @locked
    def kept_edges(self, kind: str, name: str) -> Kept | None:
        """The kept explicit edges of ``(kind, name)``, for a Series that has them."""
        return self._edges.get((kind, name))

    @locked
    def kept_scalar(self, metric: str, name: str) -> Kept:
        """The kept values of one scalar series (read them under :attr:`lock`)."""
        try:
            return self._scalars[metric][name]
        except KeyError:
            raise KeyError(f"Received: ({metric!r}, {name!r}); this Recording has {metric}: {', '.join(self._scalars.get(metric, {})) or 'none'}") from None

    @locked
    def series_stores(self) -> list[tuple[str, str, str, Kept, Kept | None]]:
        """``(kind, name, dtype, rows, edges or None)`` of every Series, kinds in order."""
        return [(k, n, self._dtypes[(k, n)], st, self._edges.get((k, n))) for k in KINDS for n, st in self._rows[k].items()]

    @locked
    def scalar_stores(self) -> list[tuple[str, str, Kept]]:
        """``(metric, name, values)`` of every scalar series."""
        return [(m, n, st) for m, stores in self._scalars.items() for n, st in stores.items()]

    @locked
    def model_of(self) -> dict[str, str]:
        """``{tensor name: model label}`` of every tensor a model names (a tensor two
        models name: the later one's), read under the lock: a writer may be adding a model."""
        return {n: m for m, ns in self.models.items() for n in ns}

    @locked
    def epoch_marks(self) -> dict:
        """``model (None: of no model) -> [(first step, epoch)]``, sorted by step."""
        return {m: list(marks) for m, marks in self._epochs.items()}

    @locked
    def epochs_of(self, steps, name: str | None = None) -> np.ndarray:
        """The Keras epoch (0-based, -1 where unknown) of each of ``steps`` of tensor
        ``name``: by the marks of its model; else the marks of no model; else, when one
        model alone has marks, those."""
        steps = np.asarray(steps, dtype=np.int64)
        marks = self._marks_of(name)
        if not marks:
            return np.full(steps.shape, -1, dtype=np.int64)
        starts = np.array([s for s, _ in marks])
        eps = np.array([e for _, e in marks])
        i = np.searchsorted(starts, steps, side="right") - 1
        return np.where(i >= 0, eps[np.clip(i, 0, None)], -1).astype(np.int64)

    def _marks_of(self, name):
        if self._owner is None:
            self._owner = {}
            for m in self._epochs:
                for n in self.models.get(m, ()) if m is not None else ():
                    self._owner.setdefault(n, m)
        model = self._owner.get(name)
        if model is not None:
            return self._epochs[model]
        if None in self._epochs:
            return self._epochs[None]
        return next(iter(self._epochs.values())) if len(self._epochs) == 1 else None

    @property
    @locked
    def nbytes(self) -> int:
        """Bytes held by the stored snapshots."""
        return sum(st.nbytes for k in KINDS for st in self._rows[k].values())

    @locked
    def __len__(self) -> int:
        return sum(len(v) for v in self._rows.values())

    def __bool__(self) -> bool:
        return True

    @locked
    def share(self, out: Store, kinds, names) -> None:
        """Give ``out`` this store's kept rows of ``kinds`` (and ``names``, a set or None),
        the same objects, under the same lock, with what they belong to."""
        for kind in kinds:
            for name, st in self._rows[kind].items():
                if names is None or name in names:
                    out._rows[kind][name] = st
                    out._dtypes[(kind, name)] = self._dtypes[(kind, name)]
                    if (kind, name) in self._edges:
                        out._edges[(kind, name)] = self._edges[(kind, name)]
        out._epochs = {m: list(v) for m, v in self._epochs.items()}
        models = None if names is None else {m for m, ns in self.models.items() if names.intersection(ns)}
        for metric, stores in self._scalars.items():
            mine = models if metric in MODEL_SCALARS else names
            out._scalars[metric] = {n: st for n, st in stores.items() if mine is None or n in mine}
        out.pins = self.pins
        out.lock = self.lock  # the same stores: the same lock
        out.first_nonfinite = self.first_nonfinite
        out.notes = list(self.notes)
        out.models = {m: [n for n in ns if names is None or n in names] for m, ns in self.models.items()}
        out.outputs = {n for n in self.outputs if names is None or n in names}
