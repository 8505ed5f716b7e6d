"""Matplotlib faces of a Recording: object API on an Agg canvas, never pyplot."""

from __future__ import annotations

import io

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .. import histogram as H

__all__ = ["snapshot_figure", "over_time_figure", "overview_figure", "overview_png", "to_png", "describe"]

COLORS = {"activations": "#2a9d8f", "weights": "#e76f51", "grads": "#457b9d"}
TITLES = {"activations": "Activations", "weights": "Weights", "grads": "Gradients"}


def to_png(fig: Figure, dpi: int = 80) -> bytes:
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def describe(series, i: int) -> str:
    """One line of statistics for snapshot ``i`` of ``series``."""
    s = series.snapshot(i)
    parts = [f"step {s['step']}"]
    if s["epoch"] >= 0:
        parts.append(f"epoch {s['epoch']}")
    parts += [f"mean {s['mean']:.4g}", f"std {s['std']:.4g}", f"min {s['min']:.4g}", f"max {s['max']:.4g}", f"norm {s['norm']:.4g}"]
    if s["size"]:
        parts.append(f"zeros {100.0 * s['zeros'] / s['size']:.1f}%")
    bad = [f"{k} {s[k]}" for k in ("nan", "posinf", "neginf") if s[k]]
    if bad:
        parts.append("NON-FINITE: " + ", ".join(bad))
    return " · ".join(parts)


def _draw_snapshot(ax, series, i: int, color: str, *, alpha: float = 0.85, label=None) -> None:
    edges = series.edges[i]
    counts = series.counts[i]
    ax.stairs(counts, edges, fill=True, color=color, alpha=alpha, label=label)


def snapshot_figure(series, i: int = -1, *, figsize=(6.4, 3.2)) -> Figure:
    """The exact bins of one snapshot, with its statistics underneath."""
    fig = Figure(figsize=figsize, layout="constrained")
    ax = fig.add_subplot()
    color = COLORS.get(series.kind, "C0")
    if len(series):
        _draw_snapshot(ax, series, i, color)
        ax.set_xlabel(describe(series, i), fontsize=8)
    ax.set_title(f"{TITLES.get(series.kind, series.kind)} · {series.name}", fontsize=10)
    ax.set_ylabel("count")
    ax.grid(True, alpha=0.3)
    return fig


def over_time_figure(series, *, bins: int | None = None, figsize=(6.4, 3.2)) -> Figure:
    """Every kept snapshot re-binned onto one grid (mass conserved), steps across;
    colour is the log of each step's share of the mass."""
    fig = Figure(figsize=figsize, layout="constrained")
    ax = fig.add_subplot()
    ax.set_title(f"{TITLES.get(series.kind, series.kind)} · {series.name} over steps", fontsize=10)
    if len(series):
        edges = series.edges
        # Frame most snapshots, not the widest one: an early burst of large gradients
        # would squash every later step into one row. Mass outside lands in the end bins.
        lo, hi = np.quantile(edges[:, 0], 0.1), np.quantile(edges[:, -1], 0.9)
        grid = np.linspace(lo, hi, (bins or series.bins) + 1) if hi > lo else H.common_grid(edges, bins or series.bins)
        dens = H.rebin(edges, series.counts, grid)
        dens = np.log1p(dens / np.maximum(dens.sum(axis=1, keepdims=True), 1) * 1000)
        steps = series.steps
        x = np.concatenate([steps, [steps[-1] + max(1, steps[-1] - steps[-2]) if len(steps) > 1 else steps[-1] + 1]])
        ax.pcolormesh(x, grid, dens.T, cmap="magma", shading="flat")
        ax.plot(steps + 0.5 * np.diff(x), series.mean, color="w", lw=1, label="mean")
        ax.legend(loc="upper right", fontsize=7)
    ax.set_xlabel("step")
    ax.set_ylabel("value")
    return fig


def overview_figure(rec, *, per_kind: int = 4, width: float = 3.0, height: float = 2.0) -> Figure:
    """A grid: one row per kind, the latest snapshot of up to ``per_kind`` tensors each,
    the first snapshot drawn faintly behind it to show drift."""
    kinds = rec.kinds or ("weights",)
    ncols = max(1, min(per_kind, max((len(rec.names(k)) for k in kinds), default=1)))
    fig = Figure(figsize=(width * ncols, height * len(kinds) + 0.4), layout="constrained")
    axes = np.atleast_2d(fig.subplots(len(kinds), ncols, squeeze=False))
    for r, kind in enumerate(kinds):
        names = rec.names(kind) if kind in rec.kinds else []
        for c in range(ncols):
            ax = axes[r, c]
            if c >= len(names):
                ax.set_axis_off()
                continue
            s = rec.series(kind, names[c])
            if len(s) > 1:  # the first snapshot as an outline, for drift
                ax.stairs(s.counts[0], s.edges[0], color="0.45", lw=0.8, label=f"step {s.steps[0]}")
            _draw_snapshot(ax, s, -1, COLORS[kind], alpha=0.8, label=f"step {s.steps[-1]}")
            # Frame the latest snapshot: a zero-initialised bias or a large first
            # gradient would otherwise squash it into one pixel.
            e = s.edges[-1]
            pad = 0.05 * (e[-1] - e[0])
            ax.set_xlim(e[0] - pad, e[-1] + pad)
            ax.set_ylim(0, max(1, s.counts[-1].max()) * 1.25)
            more = f"  (+{len(names) - ncols} more)" if c == ncols - 1 and len(names) > ncols else ""
            ax.set_title(f"{TITLES[kind]}: {names[c]}{more}", fontsize=8)
            ax.tick_params(labelsize=7)
            ax.legend(fontsize=6, loc="upper right")
            bad = int(s.nan[-1] + s.posinf[-1] + s.neginf[-1])
            if bad:
                ax.text(0.02, 0.9, f"{bad} non-finite", transform=ax.transAxes, color="red", fontsize=7)
    fig.suptitle(f"tfhist: {len(rec)} series, steps {_span(rec)}", fontsize=9)
    return fig


def _span(rec) -> str:
    steps = rec.steps
    return f"{steps[0]}–{steps[-1]}" if steps.size else "none"


def overview_png(rec, **kwargs) -> bytes:
    return to_png(overview_figure(rec, **kwargs))
