"""Blocks in, one sink: how anything recorded reaches a Recording.

Every producer (the Keras ring flush, an eager step, a Session run, the tf.distribute
merge, ``snapshot``, the TensorBoard import, ``Recording.load``, the JAX backend)
describes what it recorded as one :class:`Block` and hands it to :func:`deliver`.
:func:`deliver` is the only code that writes a Recording's store: it adds the rows, turns
the probe columns into scalar series, derives each model's global gradient norm from
its gradients' rows, keeps the epoch marks (per model) and the first non-finite step,
hands the resolved block to the store's ``arrivals`` (the findings) before its rows are
kept (a finding pins its step, so thinning keeps it), then tells the views once, with
the whole block applied. It writes through the writers of :class:`~tfhist_magic.store.Store`,
which nothing else calls.

NumPy only: the JAX backend uses it without TensorFlow.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import numpy as np

from . import histogram as H
from .constants import PROBES

__all__ = ["Block", "deliver", "grad_norms"]


@dataclass
class Block:
    """``S`` recorded steps of one model (or one loose group of tensors).

    Attributes:
        model: the model's label (a key of ``Recording.models``); the global gradient
            norm and the epoch marks go under it. None: tensors of no model.
        steps, walls: int64[S], float64[S] (seconds since the epoch the step ran).
        names: kind -> tensor names, in row order; every name is registered under
            ``model`` (with ``outputs``), in this order. Names under a key that has no
            rows (``""``) are only registered: a model's names in model order.
        dtypes: kind -> compute dtype names, one per tensor.
        rows: kind -> float64[S, T, bins + 10] (see :mod:`tfhist_magic.histogram`).
        probes: kind -> float64[S, T, C], the first ``C`` metrics of
            ``constants.PROBES[kind]``; NaN where a step has no value.
        scalars: ``(metric, name) -> (steps, values)`` or ``(steps, values, walls)``:
            scalar series given as such (imports, a saved file; walls: now if not
            given); ``name`` is the model's label for model scalars. In the block
            :func:`deliver` hands its subscribers, every scalar series the block
            brings (probes and the gradient norm included), as 3-tuples.
        edges: kind -> float64[S, T, B' + 1], explicit bin edges: rows imported with
            bins of their own (TensorBoard's), not the binning rule's.
        epochs: ``{step: epoch}``: Keras' 0-based ``epoch`` of ``model`` starts at
            ``step``. Marks are kept per model (None: marks of no model, which the
            tensors of a model without marks take): two models fit one after the other
            keep their own.
        outputs: names of the model's output activations.
        nonfinite: the step whose gradients or loss first went NaN/Inf, or None.
        kept: ``(kind or metric, name) -> Kept.state()``: rows (values) a saved file kept,
            restored as they were kept rather than thinned again (``Recording.load``).
        findings: the findings a saved file holds (dicts of ``Finding`` fields): they are
            taken as they were, and this block's rows are not judged again. None: judge them.
    """

    model: str | None = None
    steps: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    walls: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float64))
    names: dict = field(default_factory=dict)
    dtypes: dict = field(default_factory=dict)
    rows: dict = field(default_factory=dict)
    probes: dict = field(default_factory=dict)
    scalars: dict = field(default_factory=dict)
    edges: dict = field(default_factory=dict)
    epochs: dict = field(default_factory=dict)
    outputs: tuple = ()
    nonfinite: int | None = None
    kept: dict = field(default_factory=dict)
    findings: list | None = None

    def __post_init__(self):
        self.steps = np.asarray(self.steps, dtype=np.int64).reshape(-1)
        self.walls = np.asarray(self.walls, dtype=np.float64).reshape(-1)


def grad_norms(rows) -> tuple[np.ndarray, np.ndarray]:
    """``(ok, norm)`` per step from one update's gradients' rows ``[S, T, bins + 10]``:
    the global norm ``sqrt(sum ||g||^2)`` (scaled: no overflow), ``ok`` False where some
    gradient held NaN or Inf (a row's norm is of its finite values only)."""
    rows = np.asarray(rows, dtype=np.float64)
    ex = rows[..., rows.shape[-1] - H.EXTRA :]
    bad = (ex[..., H.NAN] + ex[..., H.POSINF] + ex[..., H.NEGINF]).sum(axis=1) > 0
    norms = ex[..., H.NORM]
    m = np.max(np.abs(norms), axis=1)
    s = np.where((m > 0) & np.isfinite(m), m, 1.0)
    total = np.sqrt(np.sum(np.square(norms / s[:, None]), axis=1)) * s
    return ~bad & np.isfinite(total), total


def _probe_series(b: Block):
    """``(metric, name, steps, values, walls)`` of each probe column's finite values."""
    for kind, probes in b.probes.items():
        if probes is None:
            continue
        probes = np.asarray(probes, dtype=np.float64)
        for col, metric in enumerate(PROBES.get(kind, ())[: probes.shape[-1]]):
            for t, name in enumerate(b.names.get(kind, ())):
                ok = np.isfinite(probes[:, t, col])
                if ok.any():
                    yield metric, name, b.steps[ok], probes[ok, t, col], b.walls[ok]


def _scalar_series(b: Block, rows: dict):
    """Every scalar series ``b`` brings: the global gradient norm of its model, the probe
    columns, the scalars given as such (walls: now where not given)."""
    grads = rows.get("grads")
    if grads is not None and b.model is not None and not b.kept:
        ok, total = grad_norms(grads)
        if ok.any():
            yield "grad_norm", b.model, b.steps[ok], total[ok], b.walls[ok]
    yield from _probe_series(b)
    for (metric, name), got in b.scalars.items():
        steps = np.asarray(got[0], dtype=np.int64).reshape(-1)
        walls = np.asarray(got[2], dtype=np.float64) if len(got) > 2 else np.full(steps.size, time.time())
        yield metric, name, steps, np.asarray(got[1], dtype=np.float64).reshape(-1), walls


def _resolve(store, b: Block) -> tuple[Block, dict]:
    """``b`` checked against ``store`` (raising before anything is kept), its rows as
    float64, its probes and derived metrics as scalar series, each scalar series without
    a step its store already holds; and per kind how many steps each tensor skips."""
    if len(b.walls) != len(b.steps):  # not given: now
        b = replace(b, walls=np.full(len(b.steps), time.time()))
    rows, edges, skip = {}, {}, {}
    for kind, r in b.rows.items() if len(b.steps) else ():
        names = b.names.get(kind, ())
        if not len(names):
            continue
        rows[kind] = np.asarray(r, dtype=np.float64)
        if b.edges.get(kind) is not None:
            edges[kind] = np.asarray(b.edges[kind], dtype=np.float64)
        skip[kind] = store.check_rows(kind, names, b.steps, rows[kind], edges.get(kind))
    scalars = {}
    for metric, name, steps, values, walls in _scalar_series(b, rows):
        k = 0 if (metric, name) in b.kept else store.fresh_scalars(metric, name, steps)
        scalars[(metric, name)] = (steps[k:], values[k:], walls[k:])
    got = replace(b, rows=rows, edges=edges, probes={}, scalars=scalars)
    return got, skip


def deliver(rec, b: Block, *, notify: bool = True) -> None:
    """Write ``b`` into ``rec`` under its lock (a view sees all of it or none), then tell
    the views once (``notify``: False where the caller does, after several blocks).

    Raises:
        ValueError: for rows of the wrong shape or kind, or a step before a Series' newest
            one (steps only increase; the newest step again is skipped); nothing of ``b``
            is kept then.
    """
    with rec.lock:
        got, skip = _resolve(rec, b)
        if got.model is not None and (got.names or got.outputs):
            rec.register(got.model, [n for ns in got.names.values() for n in ns], got.outputs)
        rec.mark_epochs(got.model, got.epochs)
        if got.nonfinite is not None:
            rec.keep_nonfinite(int(got.nonfinite))
        for fn in rec.arrivals:  # the findings: before the rows are kept (they pin steps)
            fn(got)
        for kind, rows in got.rows.items():
            rec.keep_rows(kind, got.names[kind], got.steps, got.walls, rows, dtypes=got.dtypes.get(kind), edges=got.edges.get(kind), skip=skip[kind], kept=got.kept)
        for (metric, name), (steps, values, walls) in got.scalars.items():
            rec.keep_scalars(metric, name, steps, walls, values, got.kept.get((metric, name)))
    if notify:
        rec.changed()
