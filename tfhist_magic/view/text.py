"""The plain-text face of a Recording: what a terminal (or ``text/plain``) shows."""

from __future__ import annotations

import numpy as np

from ._labels import TITLES

__all__ = ["summary", "sparkline"]

_BLOCKS = " ▁▂▃▄▅▆▇█"


def sparkline(counts, width: int = 16) -> str:
    """The shape of one histogram in ``width`` characters (bins summed into groups);
    a blank is an empty group, a full block the fullest."""
    counts = np.asarray(counts, dtype=np.float64)
    if counts.size > width:
        starts = (np.arange(width) * counts.size) // width
        counts = np.add.reduceat(counts, starts)
    top = counts.max() if counts.size else 0
    if top <= 0:
        return " " * counts.size
    levels = np.where(counts > 0, np.maximum(1, np.ceil(counts / top * 8)), 0).astype(int)
    return "".join(_BLOCKS[k] for k in levels)


def _stat(v: float) -> str:
    """A statistic in a fixed width; "—" where it is not known (no finite values, or a
    Series imported from TensorBoard, which keeps no mean, std or norm)."""
    return f"{'—':>10}" if np.isnan(v) else f"{v: .3e}"


def summary(rec, *, per_kind: int = 12) -> str:
    """The findings first (the first tensor and step that went non-finite first), then
    one line per tensor: snapshots kept, step span, and the latest statistics."""
    steps = rec.steps
    if not len(rec):
        return "tfhist Recording: empty (no optimizer step was recorded)"
    lines = [f"tfhist Recording: {len(rec)} series, {len(steps)} steps recorded ({steps[0]}–{steps[-1]}), {rec.bins} bins"]
    from ..health import findings

    lines += [f"finding: {f}" for f in findings(rec)]
    ratios = set(rec.scalar_names("update_ratio"))
    for kind in rec.kinds:
        names = rec.names(kind)
        lines.append(f"{TITLES[kind]} ({len(names)}):")
        width = min(40, max(len(n) for n in names))
        for name in names[:per_kind]:
            s = rec.series(kind, name)
            i = -1
            bad = int(s.nan[i] + s.posinf[i] + s.neginf[i])
            flag = f"  NON-FINITE {bad}" if bad else ""
            if kind == "weights" and name in ratios:
                flag += f"  update/w {rec.scalar('update_ratio', name)[1][-1]:.1e}"
            lines.append(
                f"  {name:<{width}}  {sparkline(s.counts[i])}  {len(s):>4} snaps  step {s.steps[i]:>6}  "
                f"mean {_stat(s.mean[i])}  std {_stat(s.std[i])}  min {_stat(s.min[i])}  max {_stat(s.max[i])}{flag}"
            )
        if len(names) > per_kind:
            lines.append(f"  ... and {len(names) - per_kind} more")
    lines += [f"note: {n}" for n in rec.notes]
    return "\n".join(lines)
