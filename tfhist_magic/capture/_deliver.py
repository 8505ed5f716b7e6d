"""The seam between a capture producer and the Recording, without TensorFlow.

A producer describes what it recorded as one :class:`Packet` (model, steps, walls, the
rows and probe columns of each kind, the first non-finite step) and hands it to
:func:`deliver`, the one place that writes it into the Recording through its public
methods: the rows, the probe columns as scalar series, the global gradient norm
derived from the gradients' rows. NumPy only (the JAX backend uses it; the TF engine's
``add_probes``/``add_grad_norm`` compute the same).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .. import histogram as H
from ..recording import Recording

__all__ = ["PROBES", "Packet", "deliver", "grad_norms"]

#: What each probe column holds, per kind: the Recording's scalar metrics.
PROBES = {"activations": ("dead_units", "saturation"), "weights": ("update_ratio", "update_norm", "init_distance")}


@dataclass
class Packet:
    """``S`` recorded steps of one update's tensors.

    Attributes:
        model: the label the gradient norm goes under (a key of ``rec.models``).
        names: kind -> tensor names, in row order.
        dtypes: kind -> compute dtype names, one per tensor.
        steps, walls: int64[S], float64[S] (seconds since the epoch the step ran).
        rows: kind -> float64[S, T, bins + 10].
        probes: kind -> float64[S, T, C] (the first ``C`` metrics of :data:`PROBES`).
        nonfinite: the step whose gradients first went NaN/Inf, or None.
    """

    model: str | None
    names: dict
    dtypes: dict
    steps: np.ndarray
    walls: np.ndarray
    rows: dict = field(default_factory=dict)
    probes: dict = field(default_factory=dict)
    nonfinite: int | None = None


def grad_norms(rows) -> tuple[np.ndarray, np.ndarray]:
    """``(ok, norm)`` per step from the gradients' rows ``[S, T, bins + 10]``: the global
    norm ``sqrt(sum ||g||^2)`` (scaled: no overflow), ``ok`` False where some gradient
    held NaN or Inf (a row's norm is of its finite values only)."""
    ex = rows[..., rows.shape[-1] - H.EXTRA :]
    bad = (ex[..., H.NAN] + ex[..., H.POSINF] + ex[..., H.NEGINF]).sum(axis=1) > 0
    norms = ex[..., H.NORM]
    m = np.max(np.abs(norms), axis=1)
    s = np.where((m > 0) & np.isfinite(m), m, 1.0)
    total = np.sqrt(np.sum(np.square(norms / s[:, None]), axis=1)) * s
    return ~bad & np.isfinite(total), total


def deliver(rec: Recording, p: Packet) -> None:
    """Write ``p`` into ``rec`` (under its lock: a view sees all of it or none), then tell
    the views."""
    steps = np.asarray(p.steps, dtype=np.int64)
    walls = np.asarray(p.walls, dtype=np.float64)
    with rec.batch():
        if p.nonfinite is not None:
            rec.mark_nonfinite(int(p.nonfinite))
        for kind, names in p.names.items():
            if not names or kind not in p.rows:
                continue
            rows = np.asarray(p.rows[kind], dtype=np.float64)
            rec.add_rows(kind, names, steps, rows, walls=walls, dtypes=p.dtypes[kind])
            probes = p.probes.get(kind)
            for col, metric in enumerate(PROBES.get(kind, ())):
                if probes is None or col >= probes.shape[-1]:
                    continue
                for t, name in enumerate(names):
                    ok = np.isfinite(probes[:, t, col])
                    if ok.any():
                        rec.add_scalars(metric, name, steps[ok], probes[ok, t, col], walls=walls[ok])
            if kind == "grads" and p.model is not None and rows.shape[1]:
                ok, total = grad_norms(rows)
                if ok.any():
                    rec.add_scalars("grad_norm", p.model, steps[ok], total[ok], walls=walls[ok])
    rec.changed()
