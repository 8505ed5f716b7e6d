"""Recording: everything one watch captured, and the API users read it through.

A Recording is a :class:`~tfhist_magic.store.Store` (the kept rows, thinned to bounded
memory, under one lock) with the read API: one :class:`Series` per ``(kind, name)``, a
tensor's snapshots over steps, each one row of ``bins + 10`` numbers (see
:mod:`tfhist_magic.histogram`); scalar series; findings (:mod:`tfhist_magic.health`,
which subscribes to every block delivered); what changed since a mark, for views;
subsets; its faces (views, exporters, found through :data:`FACES`) and its file
(:mod:`tfhist_magic.npzfile`). Knows nothing about TensorFlow or widgets.

Everything recorded reaches it as a :class:`~tfhist_magic.block.Block` handed to
:func:`~tfhist_magic.block.deliver`; :meth:`Recording.add_rows`, :meth:`add_scalars` and
the other adders are that, for one block.
"""

from __future__ import annotations

import functools
import importlib
from dataclasses import dataclass, field

import numpy as np

from . import histogram as H
from . import npzfile
from .block import Block, deliver
from .constants import KINDS, MODEL_SCALARS, SCALARS
from .npzfile import FILE_FORMAT, FILE_VERSION, RecordingFileError
from .store import MAX_NOTES, Changes, Latest, Store, changes_of, latest_of, locked

__all__ = ["FACES", "FILE_FORMAT", "FILE_VERSION", "KINDS", "MAX_NOTES", "MODEL_SCALARS", "SCALARS", "Changes", "Latest", "Recording", "RecordingFileError", "Series"]

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




class Recording(Store):
    """All that one watch captured: kinds -> tensor names -> :class:`Series`.

    Args:
        bins: bins per histogram.
        max_snapshots: the most snapshots kept per Series (the first and the latest
            are always kept; the rest are thinned evenly).
    """

    def __init__(self, bins: int = 64, max_snapshots: int = 256):
        super().__init__(bins, max_snapshots)
        self._listeners: list = []
        from .health import Tracker

        self._health = Tracker(self)
        self.arrivals.append(self._health.take)

    # -- adding: one block each (producers build their blocks and call block.deliver) --
    def add(self, kind: str, name: str, step: int, row, *, wall: float | None = None, dtype: str = "float32") -> None:
        """Add one snapshot (steps must not decrease within a Series)."""
        self.add_rows(kind, [name], [step], np.asarray(row, dtype=np.float64)[None, None, :], walls=None if wall is None else [wall], dtypes=[dtype])

    def batch(self):
        """The Recording's lock, for a writer adding several blocks that belong together
        (a view then sees all of them or none)."""
        return self.lock

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
        b = Block(steps=steps, walls=() if walls is None else walls, names={kind: list(names)}, rows={kind: rows})
        if dtypes is not None:
            b.dtypes[kind] = list(dtypes)
        if edges is not None:
            b.edges[kind] = edges
        deliver(self, b, notify=False)

    def add_scalars(self, metric: str, name: str, steps, values, *, walls=None) -> None:
        """Add a scalar series' values at ``steps`` (e.g. ``update_ratio`` of a weight)."""
        got = (steps, values) if walls is None else (steps, values, walls)
        deliver(self, Block(scalars={(metric, name): got}), notify=False)

    def mark_epoch(self, step: int, epoch: int, model: str | None = None) -> None:
        """Say that ``epoch`` (Keras' 0-based epoch) of ``model`` starts at ``step`` (None:
        marks of no model, which tensors of a model without marks take). Marks of every
        ``fit`` are kept (a mark at the same step replaces the earlier one)."""
        deliver(self, Block(model=model, epochs={int(step): int(epoch)}), notify=False)

    def mark_nonfinite(self, step: int) -> None:
        """Say that the gradients of ``step`` held NaN or Inf (the earliest step is kept)."""
        deliver(self, Block(nonfinite=int(step)), notify=False)

    def add_model(self, model: str, names, outputs=()) -> None:
        """Say that ``names`` belong to ``model`` (in model order); ``outputs`` are those
        of its activations that are the model's own output."""
        deliver(self, Block(model=model, names={"": list(names)}, outputs=tuple(outputs)), notify=False)

    # -- reading ---------------------------------------------------------------------
    @locked
    def series(self, kind: str, name: str) -> Series:
        """One tensor's snapshots over steps."""
        rows, steps, walls = self.kept(kind, name).arrays()
        ex = self.kept_edges(kind, name)
        return Series(kind, name, self.dtype(kind, name), steps.copy(), self.epochs_of(steps, name), walls.copy(), rows.copy(), None if ex is None else ex.arrays()[0].copy())

    @locked
    def scalar(self, metric: str, name: str) -> tuple[np.ndarray, np.ndarray]:
        """``(steps, values)`` of one scalar series (:data:`SCALARS`): ``update_ratio``,
        ``update_norm``, ``init_distance`` of a weight, ``dead_units``, ``saturation`` of an
        activation, ``grad_norm`` of a model (``name``: its label in :attr:`models`)."""
        rows, steps, _ = self.kept_scalar(metric, name).arrays()
        return steps.copy(), rows[:, 0].copy()

    @locked
    def findings(self) -> list:
        """What the rules in :mod:`tfhist_magic.health` found, as
        :class:`~tfhist_magic.health.Finding` records (non-finite values first)."""
        return self._health.findings()

    @locked
    def last_step(self, kind: str, name: str) -> int:
        """The step of the newest snapshot of ``(kind, name)``, or -1 if there is none."""
        if not self.has(kind, name):
            return -1
        got = latest_of(self.kept(kind, name))
        return -1 if got is None else got.step

    @locked
    def kept_steps(self, kind: str, name: str) -> np.ndarray:
        """The steps of the kept snapshots of ``(kind, name)`` (the newest included), in
        order, without copying any rows; empty if there are none."""
        if not self.has(kind, name):
            return np.zeros(0, dtype=np.int64)
        st = self.kept(kind, name)
        steps = st.steps[: st.n].copy()
        return steps if st.latest is None else np.append(steps, st.latest[0])

    @locked
    def changes(self, kind: str, name: str, mark=None) -> Changes | None:
        """What changed in ``(kind, name)`` since ``mark`` (None: everything), addressed by
        step (see :class:`Changes`), for views that may hold only some snapshots; None
        when nothing changed. Copies only the rows it returns."""
        return changes_of(self.kept(kind, name), mark, self.kept_edges(kind, name))

    @locked
    def scalar_changes(self, metric: str, name: str, mark=None) -> Changes | None:
        """:meth:`changes` for a scalar series (its rows are ``[S, 1]``)."""
        return changes_of(self.kept_scalar(metric, name), mark)

    @locked
    def latest(self, kind: str, name: str) -> Latest | None:
        """The newest snapshot of ``(kind, name)`` and how many are kept (see
        :class:`Latest`), without copying the others; None if it has none."""
        return latest_of(self.kept(kind, name), self.kept_edges(kind, name))

    @locked
    def scalar_latest(self, metric: str, name: str) -> Latest | None:
        """:meth:`latest` for a scalar series (``row`` holds the one value)."""
        return latest_of(self.kept_scalar(metric, name))

    @locked
    def stat(self, kind: str, name: str, column: int) -> tuple[np.ndarray, np.ndarray]:
        """``(steps, values)`` of one statistic of ``(kind, name)`` over its kept snapshots,
        ``column`` one of ``histogram.MIN, MAX, MEAN, STD, NORM`` (NaN where a snapshot had
        no finite values) or a count (``NAN``, ``POSINF``, ``NEGINF``, ``ZEROS``), without
        copying the rows."""
        st = self.kept(kind, name)
        B = st.rows.shape[1] - H.EXTRA
        rows, steps = st.rows[: st.n], st.steps[: st.n]
        if st.latest is not None:
            rows, steps = np.concatenate([rows, st.latest[2][None]]), np.append(steps, st.latest[0])
        values = rows[:, B + column].copy()
        if column in (H.MIN, H.MAX, H.MEAN, H.STD, H.NORM):
            values[rows[:, :B].sum(axis=1) <= 0] = np.nan
        return steps.copy(), values

    @property
    @locked
    def steps(self) -> np.ndarray:
        """All steps that have a snapshot of any tensor, sorted."""
        parts = [st.arrays()[1] for _, _, _, st, _ in self.series_stores()]
        return np.unique(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.int64)

    @locked
    def subset(self, kinds=None, names=None) -> "Recording":
        """A Recording that shares this one's snapshots, limited to ``kinds``/``names``."""
        out = Recording(bins=self.bins, max_snapshots=self.max_snapshots)
        keep = None if names is None else set(names)
        self.share(out, kinds or KINDS, keep)
        out.arrivals = []
        out._health = self._health.subset(kinds or KINDS, keep)
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

    # -- its file (tfhist_magic.npzfile) ------------------------------------------------
    def save(self, path) -> None:
        """Save to a ``.npz`` file: exactly what is kept (every snapshot, step, epoch, wall
        time, dtype, scalar series, finding, note, model list), with a format version.
        Nothing is pickled."""
        npzfile.save(self, path)

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
        return npzfile.load(cls, path)

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
