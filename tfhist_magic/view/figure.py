"""The matplotlib face of a Recording (``rec.figure()``): object API, never pyplot.

The dashboard draws in the browser and its static PNG is drawn with Pillow
(``static.py``); this figure is for users who want to restyle, save or print it."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from ._labels import COLORS, TITLES

__all__ = ["overview_figure", "COLORS", "TITLES"]


def overview_figure(rec, *, per_kind: int = 4, width: float = 3.0, height: float = 1.9) -> Figure:
    """A grid: one row per kind, the latest snapshot of up to ``per_kind`` tensors each,
    the first snapshot drawn as a grey outline behind it to show drift.

    Drawn once, when a watched cell ends (the static face of the widget), so it is kept
    cheap: no layout engine, no legends, one ``stairs`` per snapshot."""
    kinds = rec.kinds or ("weights",)
    ncols = max(1, min(per_kind, max((len(rec.names(k)) for k in kinds), default=1)))
    fig = Figure(figsize=(width * ncols, height * len(kinds) + 0.45))
    axes = np.atleast_2d(fig.subplots(len(kinds), ncols, squeeze=False))
    top = 1 - 0.45 / (height * len(kinds) + 0.45)
    fig.subplots_adjust(left=0.35 / ncols, right=0.99, bottom=0.2 / len(kinds), top=top, wspace=0.25, hspace=0.55)
    for r, kind in enumerate(kinds):
        names = rec.names(kind) if kind in rec.kinds else []
        for c in range(ncols):
            ax = axes[r, c]
            if c >= len(names):
                ax.set_axis_off()
                continue
            s = rec.series(kind, names[c])
            counts, edges = s.counts, s.edges
            ymax = counts[-1].max()
            if len(s) > 1:  # the first snapshot as an outline, for drift
                ax.stairs(counts[0], edges[0], color="0.45", lw=0.8)
                ymax = max(ymax, counts[0].max())
            ax.stairs(counts[-1], edges[-1], fill=True, color=COLORS[kind], alpha=0.8)
            # Frame the latest snapshot: a zero-initialised bias or a large first
            # gradient would otherwise squash it into one pixel; the outline may run
            # past the sides, never off the top.
            e = edges[-1]
            pad = 0.05 * (e[-1] - e[0])
            ax.set_xlim(e[0] - pad, e[-1] + pad)
            ax.set_ylim(0, max(1, ymax) * 1.15)
            more = f"  (+{len(names) - ncols} more)" if c == ncols - 1 and len(names) > ncols else ""
            ax.set_title(f"{TITLES[kind]}: {names[c]}{more}", fontsize=8)
            ax.tick_params(labelsize=7)
            first = f"grey: step {s.steps[0]} · " if len(s) > 1 else ""
            ax.text(0.98, 0.96, f"{first}step {s.steps[-1]}", transform=ax.transAxes, ha="right", va="top", fontsize=6)
            bad = int(s.nan[-1] + s.posinf[-1] + s.neginf[-1])
            if bad:
                ax.text(0.02, 0.8, f"{bad} non-finite", transform=ax.transAxes, color="red", fontsize=7)
    fig.suptitle(f"tfhist: {len(rec)} series, steps {_span(rec)}", fontsize=9)
    return fig


def _span(rec) -> str:
    steps = rec.steps
    return f"{steps[0]}–{steps[-1]}" if steps.size else "none"
