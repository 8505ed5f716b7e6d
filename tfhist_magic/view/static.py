"""The widget's static face: one PNG of the latest snapshots, drawn with Pillow.

This picture is what nbconvert HTML, GitHub and any viewer without widgets show, and it
is drawn once when a watched cell ends, inside the cell's cost. Matplotlib takes about
0.7 s for a dozen small panels (text layout and the Agg pipeline); Pillow (already
installed by matplotlib) draws the same bars and labels in a few milliseconds, with
matplotlib's own DejaVu Sans so it reads the same. ``figure.py`` keeps the matplotlib
figures for users who want to restyle or save them.

Each panel: the latest snapshot's exact bins (filled), the first snapshot's as a grey
outline (drift), both as shares of their finite values, framed on the latest snapshot's range, with the step numbers, the range
and the non-finite count. Drawn at twice the size it is shown at (``width`` metadata),
so it is sharp on high-density screens.
"""

from __future__ import annotations

import functools
import io
from pathlib import Path

import numpy as np

from ._labels import COLORS, TITLES

__all__ = ["overview_png"]

SCALE = 2  # pixels drawn per pixel shown
PANEL_W, PANEL_H = 230, 130  # shown size of one panel
PAD_TOP, PAD_BOTTOM, PAD_SIDE = 30, 18, 8


@functools.lru_cache(maxsize=4)
def _font(size: int, bold: bool = False):
    from PIL import ImageFont

    import matplotlib

    name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
    path = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / name
    try:
        return ImageFont.truetype(str(path), size * SCALE)
    except OSError:  # pragma: no cover - a matplotlib without its fonts
        return ImageFont.load_default(size * SCALE)


def _fmt(v: float) -> str:
    if not np.isfinite(v):
        return str(v)
    if v == 0:
        return "0"
    a = abs(v)
    return f"{v:.2e}" if a >= 1e5 or a < 1e-3 else f"{v:.4g}"


def _rgb(hex_color: str):
    return tuple(int(hex_color[i : i + 2], 16) for i in (1, 3, 5))


def _panel(draw, x0: int, y0: int, series, kind: str, title: str) -> None:
    S = SCALE
    w, h = PANEL_W * S, PANEL_H * S
    left, right = x0 + PAD_SIDE * S, x0 + w - PAD_SIDE * S
    top, bottom = y0 + PAD_TOP * S, y0 + h - PAD_BOTTOM * S
    draw.text((left, y0 + 3 * S), title, fill=(20, 20, 20), font=_font(9, bold=True))
    # shares of each snapshot's finite values, so a snapshot with few values (or many)
    # still compares with the first one
    counts, edges = series.counts, series.edges
    counts = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    last, e = counts[-1], edges[-1]
    lo, hi = float(e[0]), float(e[-1])
    pad = 0.05 * (hi - lo)
    lo, hi = lo - pad, hi + pad
    ymax = max(last.max(), counts[0].max() if len(series) > 1 else 0, 1e-12) * 1.1

    def X(v):
        return left + (np.asarray(v, dtype=np.float64) - lo) / (hi - lo) * (right - left)

    def Y(c):
        return bottom - np.asarray(c, dtype=np.float64) / ymax * (bottom - top)

    draw.line([(left, bottom), (right, bottom)], fill=(150, 150, 150), width=S)
    xs, ys = X(e), Y(last)
    color = _rgb(COLORS[kind])
    for i in np.flatnonzero(last):  # every non-empty bin at least one pixel tall and wide
        draw.rectangle([xs[i], min(ys[i], bottom - S), max(xs[i + 1] - 1, xs[i]), bottom - 1], fill=color)
    if len(series) > 1:  # the first snapshot's outline, clipped to the frame
        fx, fy = np.clip(X(edges[0]), left, right), Y(counts[0])
        pts = [(fx[0], bottom)]
        for i in range(len(fy)):
            pts += [(fx[i], fy[i]), (fx[i + 1], fy[i])]
        pts.append((fx[-1], bottom))
        draw.line(pts, fill=(110, 110, 110), width=S)
    small = _font(7)
    draw.text((left, bottom + 2 * S), _fmt(float(e[0])), fill=(60, 60, 60), font=small)
    draw.text((right, bottom + 2 * S), _fmt(float(e[-1])), fill=(60, 60, 60), font=small, anchor="ra")
    if lo < 0 < hi:
        draw.line([(X(0.0), bottom), (X(0.0), bottom + 3 * S)], fill=(60, 60, 60), width=S)
        draw.text((X(0.0), bottom + 2 * S), "0", fill=(60, 60, 60), font=small, anchor="ma")
    first = f"grey: step {series.steps[0]} · " if len(series) > 1 else ""
    draw.text((right, y0 + 16 * S), f"{first}step {series.steps[-1]}", fill=(80, 80, 80), font=small, anchor="ra")
    bad = int(series.nan[-1] + series.posinf[-1] + series.neginf[-1])
    if bad:
        draw.text((left, y0 + 16 * S), f"{bad} NaN/Inf", fill=(200, 0, 0), font=_font(8, bold=True))


def overview_png(rec, *, per_kind: int = 4) -> tuple[bytes, int]:
    """The PNG (bytes) and the width to show it at, in CSS pixels."""
    from PIL import Image, ImageDraw

    kinds = rec.kinds
    ncols = max(1, min(per_kind, max(len(rec.names(k)) for k in kinds)))
    S = SCALE
    head = 22
    W, H = ncols * PANEL_W * S, (head + PANEL_H * len(kinds)) * S
    img = Image.new("RGB", (W, H), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    steps = rec.steps
    span = f"{steps[0]}–{steps[-1]}" if steps.size else "none"
    draw.text((PAD_SIDE * S, 4 * S), f"tfhist: {len(rec)} series, steps {span}", fill=(0, 0, 0), font=_font(10, bold=True))
    for r, kind in enumerate(kinds):
        names = rec.names(kind)
        for c, name in enumerate(names[:ncols]):
            more = f"  (+{len(names) - ncols} more)" if c == ncols - 1 and len(names) > ncols else ""
            _panel(draw, c * PANEL_W * S, (head + r * PANEL_H) * S, rec.series(kind, name), kind, f"{TITLES[kind]}: {name}{more}")
    # A few flat colours and anti-aliased text: a 64-colour palette keeps them and halves
    # both the encoding time and the bytes stored in the notebook.
    img = img.quantize(64, method=Image.Quantize.FASTOCTREE)
    buf = io.BytesIO()
    img.save(buf, format="PNG", compress_level=3)
    return buf.getvalue(), W // S
