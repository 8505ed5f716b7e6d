"""Blocks in, one sink: how anything recorded reaches a Recording.

Every producer (the Keras ring flush, an eager step, a Session run, the tf.distribute
merge, ``snapshot``, the TensorBoard import, ``Recording.load``, the JAX backend)
describes what it recorded as one :class:`Block` and hands it to :func:`deliver`.
:func:`deliver` is the only code that writes a Recording's store: it adds the rows, turns
the probe columns into scalar series, derives each model's global gradient norm from
its gradients' rows, keeps the epoch marks and the first non-finite step, then tells the
subscribers (the findings, the views) once, with the whole block applied.

NumPy only: the JAX backend uses it without TensorFlow.
"""

from __future__ import annotations

from dataclasses import dataclass, field

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
        names: kind -> tensor names, in row order. A block whose ``steps`` is empty
            only registers them (with ``outputs``) under ``model``.
        dtypes: kind -> compute dtype names, one per tensor.
        rows: kind -> float64[S, T, bins + 10] (see :mod:`tfhist_magic.histogram`).
        probes: kind -> float64[S, T, C], the first ``C`` metrics of
            ``constants.PROBES[kind]``; NaN where a step has no value.
        scalars: ``(metric, name) -> (steps, values)``: scalar series given as such
            (imports, a saved file); ``name`` is the model's label for model scalars.
        edges: kind -> float64[S, T, B' + 1], explicit bin edges: rows imported with
            bins of their own (TensorBoard's), not the binning rule's.
        epochs: ``{step: epoch}``: Keras' 0-based ``epoch`` of ``model`` starts at
            ``step``.
        outputs: names of the model's output activations.
        nonfinite: the step whose gradients or loss first went NaN/Inf, or None.
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
    """``(metric, name, steps, values)`` of each probe column's finite values."""
    for kind, probes in b.probes.items():
        if probes is None:
            continue
        probes = np.asarray(probes, dtype=np.float64)
        for col, metric in enumerate(PROBES.get(kind, ())[: probes.shape[-1]]):
            for t, name in enumerate(b.names.get(kind, ())):
                ok = np.isfinite(probes[:, t, col])
                if ok.any():
                    yield metric, name, b.steps[ok], probes[ok, t, col], b.walls[ok]


def deliver(rec, b: Block) -> None:
    """Write ``b`` into ``rec`` under its lock (a view sees all of it or none), then tell
    the subscribers once."""
    with rec.batch():
        if b.model is not None and b.names:
            rec.add_model(b.model, [n for ns in b.names.values() for n in ns], b.outputs)
        for step, epoch in sorted(b.epochs.items()):
            rec.mark_epoch(int(step), int(epoch))
        if b.nonfinite is not None:
            rec.mark_nonfinite(int(b.nonfinite))
        if len(b.steps):
            for kind, rows in b.rows.items():
                names = b.names.get(kind, ())
                if not len(names):
                    continue
                rows = np.asarray(rows, dtype=np.float64)
                rec.add_rows(kind, names, b.steps, rows, walls=b.walls, dtypes=b.dtypes.get(kind), edges=b.edges.get(kind))
                if kind == "grads" and b.model is not None:
                    ok, total = grad_norms(rows)
                    if ok.any():
                        rec.add_scalars("grad_norm", b.model, b.steps[ok], total[ok], walls=b.walls[ok])
            for metric, name, steps, values, walls in _probe_series(b):
                rec.add_scalars(metric, name, steps, values, walls=walls)
        for (metric, name), (steps, values) in b.scalars.items():
            rec.add_scalars(metric, name, steps, values)
    rec.changed()
