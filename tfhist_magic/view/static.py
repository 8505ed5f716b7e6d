"""The dashboard's static face: one PNG that tells the run's story, drawn with Pillow.

This picture is what shows where no script runs (GitHub, an untrusted notebook) and what
``image/png`` carries beside the saved dashboard; it is drawn once when a watched cell
ends, inside the cell's cost. Matplotlib takes about 0.7 s for a dozen small panels (text
layout and the Agg pipeline); Pillow (already installed by matplotlib) draws the same bars
and labels in a few milliseconds, with matplotlib's own DejaVu Sans so it reads the same.
``figure.py`` keeps the matplotlib figures for users who want to restyle or save them.

From the top: the findings (the first tensor and step that went non-finite first, as
``health`` orders them), then every kind: its tensors' panels, all of them when they fit
(``per_kind``), else the most unusual first (NaN/Inf, named by a finding, changed most
since the first step) with the rest named below. Each panel: the latest snapshot's exact
bins (filled), the first snapshot's as a grey outline (drift), both as shares of their
finite values, framed on the latest snapshot's range, with the step numbers, the range
(labels that never overlap) and the non-finite count with the step it began. Drawn at
twice the size it is shown at (``width`` metadata), so it is sharp on high-density
screens. Nothing is printed: no warning reaches the cell.

A comparison of runs (``compare_png``) has its own picture in the same style: the runs in
their colours, then per kind the most different tensors with their scores and each drawn
in every run, the outlines of their densities at the last compared step.
"""

from __future__ import annotations

import functools
import io
from pathlib import Path

import numpy as np

from ._labels import COLORS, TITLES

__all__ = ["overview_png", "compare_png", "chosen", "range_labels"]

SCALE = 2  # pixels drawn per pixel shown
PANEL_W, PANEL_H = 230, 130  # shown size of one panel
PAD_TOP, PAD_BOTTOM, PAD_SIDE = 30, 18, 8
COLUMNS = 4
#: Findings written at the top of the picture (the rest are counted).
FINDINGS = 6
INK, GREY, RED, AMBER = (20, 20, 20), (110, 110, 110), (200, 0, 0), (217, 130, 0)


@functools.lru_cache(maxsize=1)
def _fonts() -> Path:
    """matplotlib's font folder, found without importing matplotlib (0.2 s at a cell's end)."""
    import importlib.util

    spec = importlib.util.find_spec("matplotlib")
    for where in (spec.submodule_search_locations or []) if spec else []:
        path = Path(where) / "mpl-data" / "fonts" / "ttf"
        if path.is_dir():
            return path
    import matplotlib  # an unusual layout: ask it

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf"


@functools.lru_cache(maxsize=8)
def _font(size: int, bold: bool = False):
    from PIL import ImageFont

    name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
    path = _fonts() / name
    try:
        return ImageFont.truetype(str(path), size * SCALE)
    except OSError:  # pragma: no cover - a matplotlib without its fonts
        return ImageFont.load_default(size * SCALE)


def _fmt(v: float) -> str:
    if not np.isfinite(v):
        return "—" if np.isnan(v) else str(v)
    if v == 0:
        return "0"
    a = abs(v)
    return f"{v:.2e}" if a >= 1e5 or a < 1e-3 else f"{v:.4g}"


def _rgb(hex_color: str):
    return tuple(int(hex_color[i : i + 2], 16) for i in (1, 3, 5))


def _frame(lo: float, hi: float) -> tuple[float, float]:
    """A range with a width to draw on (the page's ``frame``): one value, or bins of no
    width (a constant imported from TensorBoard), is widened around it."""
    if not (np.isfinite(lo) or np.isfinite(hi)):
        return -1.0, 1.0
    lo, hi = (lo, hi) if np.isfinite(lo) and np.isfinite(hi) else ((hi, hi) if np.isfinite(hi) else (lo, lo))
    if hi > lo and np.isfinite(hi - lo):
        return lo, hi
    if hi > lo:  # wider than a double holds: half of each side
        return lo / 2, hi / 2
    pad = 0.5 if lo == 0 else abs(lo) * 0.1
    return lo - pad, hi + pad


def _fit(text: str, font, width: float) -> str:
    """``text`` cut (from the left, with "…") to fit ``width`` pixels: a path's end says most."""
    if font.getlength(text) <= width:
        return text
    while text and font.getlength("…" + text) > width:
        text = text[1:]
    return "…" + text


def _wrap(text: str, font, width: float, lines: int) -> list[str]:
    """``text`` in at most ``lines`` lines of ``width`` pixels (the last ends in "…" when cut)."""
    out, line = [], ""
    for word in text.split(" "):
        trial = f"{line} {word}" if line else word
        if font.getlength(trial) <= width:
            line = trial
            continue
        out.append(line)
        line = word
        if len(out) == lines:
            break
    else:
        out.append(line)
        return [s for s in out if s]
    last = out[-1]
    while last and font.getlength(last + " …") > width:
        last = last[:-1]
    return out[:-1] + [last + " …"]


def _mark(draw, x: float, y: float, severity: str) -> None:
    """A severity mark (red octagon: error, amber triangle: warning) with a "!"."""
    S, r = SCALE, 5.5 * SCALE
    cx, cy = x + r, y + r
    if severity == "error":
        k = r * 0.41
        pts = [(cx - k, cy - r), (cx + k, cy - r), (cx + r, cy - k), (cx + r, cy + k), (cx + k, cy + r), (cx - k, cy + r), (cx - r, cy + k), (cx - r, cy - k)]
        draw.polygon(pts, fill=RED)
    else:
        draw.polygon([(cx, cy - r), (cx + r, cy + r), (cx - r, cy + r)], fill=AMBER)
        cy += 1.5 * S
    draw.text((cx, cy), "!", fill=(255, 255, 255), font=_font(8, bold=True), anchor="mm")


def _bad(series) -> np.ndarray:
    return (series.nan + series.posinf + series.neginf) > 0


def chosen(rec, kind: str, per_kind: int, covered: set) -> tuple[list[str], list[str]]:
    """``(drawn, not drawn)``: every tensor of ``kind`` when they fit in ``per_kind``
    (model order), else the ``per_kind`` most unusual, most unusual first: non-finite
    values (the earliest first), then named by a finding, then the largest change of norm
    since the first step."""
    names = rec.names(kind)
    if len(names) <= per_kind:
        return names, []
    scored = []
    for i, name in enumerate(names):
        s = rec.series(kind, name)
        bad = _bad(s)
        first_bad = int(s.steps[np.argmax(bad)]) if bad.any() else None
        norm = s.norm
        with np.errstate(all="ignore"):
            drift = abs(float(np.log10(norm[-1] / norm[0]))) if len(s) > 1 and norm[0] > 0 and norm[-1] > 0 else 0.0
        tier = 2 if first_bad is not None else 1 if name in covered else 0
        scored.append((-tier, first_bad if first_bad is not None else 0, -drift, i, name))
    scored.sort()
    drawn = [t[-1] for t in scored[:per_kind]]
    return drawn, [n for n in names if n not in set(drawn)]


def range_labels(e0: float, e1: float, X, left: float, right: float, width, gap: float) -> list:
    """The labels under a panel's axis, ``[(x, text, anchor)]``: the range's ends (at the
    panel's corners when they would crowd each other; one label for one value) and "0"
    where it fits between them without touching either ("-1.18e-38" was drawn over "0").
    ``X`` maps a value to x, ``width`` a text to its width in pixels."""
    a, b = _fmt(e0), _fmt(e1)
    xa, xb = float(X(e0)), float(X(e1))
    wa, wb = width(a), width(b)
    if a == b:  # one value: one label, under it
        return [(min(max(xa, left + wa / 2), right - wa / 2), a, "ma")]
    xa = max(left, xa - wa / 2)
    xb = min(right, xb + wb / 2)
    if xa + wa + 1.5 * gap > xb - wb:  # too close: at the panel's corners
        xa, xb = left, right
    out = [(xa, a, "la"), (xb, b, "ra")]
    if e0 < 0 < e1:
        z, half = float(X(0.0)), width("0") / 2
        if z - half > xa + wa + gap and z + half < xb - wb - gap:
            out.append((z, "0", "ma"))
    return out


def _plot_box(draw, x0: int, y0: int, title: str):
    """A panel's plot box ``(left, right, top, bottom)`` at ``(x0, y0)``, its title drawn."""
    S = SCALE
    w, h = PANEL_W * S, PANEL_H * S
    left, right = x0 + PAD_SIDE * S, x0 + w - PAD_SIDE * S
    top, bottom = y0 + PAD_TOP * S, y0 + h - PAD_BOTTOM * S
    bold = _font(9, bold=True)
    draw.text((left, y0 + 3 * S), _fit(title, bold, right - left), fill=INK, font=bold)
    return left, right, top, bottom


def _panel(draw, x0: int, y0: int, series, kind: str, title: str) -> None:
    S = SCALE
    left, right, top, bottom = _plot_box(draw, x0, y0, title)
    # shares of each snapshot's finite values, so a snapshot with few values (or many)
    # still compares with the first one
    counts, edges = series.counts.astype(np.float64), series.edges
    counts = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    last, e = counts[-1], edges[-1]
    finite = series.finite[-1] > 0
    held = np.flatnonzero(series.finite > 0)
    # framed on the latest snapshot's range; one of NaN/Inf only, on the last that had values
    f = e if finite or not held.size else edges[held[-1]]
    lo, hi = _frame(float(f[0]), float(f[-1]))
    pad = 0.05 * (hi - lo) if np.isfinite(hi - lo) else 0.0
    lo, hi = lo - pad, hi + pad
    ymax = max(last.max(), counts[0].max() if len(series) > 1 else 0, 1e-12) * 1.1

    def X(v):
        with np.errstate(all="ignore"):  # nothing printed into the cell, whatever the values
            x = left + (np.asarray(v, dtype=np.float64) - lo) / (hi - lo) * (right - left)
        return np.nan_to_num(np.clip(x, left - 4 * S, right + 4 * S), nan=left)

    def Y(c):
        return bottom - np.asarray(c, dtype=np.float64) / ymax * (bottom - top)

    draw.line([(left, bottom), (right, bottom)], fill=(150, 150, 150), width=S)
    xs, ys = X(e), Y(last)
    color = _rgb(COLORS[kind])
    for i in np.flatnonzero(last):  # every non-empty bin at least one pixel tall and two wide
        xa, xb = float(xs[i]), max(float(xs[i + 1]) - 1, float(xs[i]) + 2 * S - 1)
        draw.rectangle([min(xa, right - 2 * S), min(ys[i], bottom - S), min(xb, right), bottom - 1], fill=color)
    if len(series) > 1 and series.finite[0] > 0:  # the first snapshot's outline, clipped to the frame
        fx, fy = np.clip(X(edges[0]), left, right), Y(counts[0])
        pts = [(fx[0], bottom)]
        for i in range(len(fy)):
            pts += [(fx[i], fy[i]), (fx[i + 1], fy[i])]
        pts.append((fx[-1], bottom))
        draw.line(pts, fill=(110, 110, 110), width=S)
    small = _font(7)
    ty = bottom + 2 * S
    if finite:  # the range's ends, and 0 where it fits between them
        for x, text, anchor in range_labels(float(e[0]), float(e[-1]), X, left, right, small.getlength, gap=4 * S):
            draw.text((x, ty), text, fill=(60, 60, 60), font=small, anchor=anchor)
        if lo < 0 < hi and e[0] != e[-1]:
            z = float(X(0.0))
            draw.line([(z, bottom), (z, bottom + 3 * S)], fill=(60, 60, 60), width=S)
    first = f"grey: step {series.steps[0]} · " if len(series) > 1 else ""
    draw.text((right, y0 + 16 * S), f"{first}step {series.steps[-1]}", fill=(80, 80, 80), font=small, anchor="ra")
    bad = _bad(series)
    n_bad = int(series.nan[-1] + series.posinf[-1] + series.neginf[-1])
    if bad.any():
        since = int(series.steps[np.argmax(bad)])
        what = f"{n_bad:,} NaN/Inf" if n_bad else "NaN/Inf earlier"
        draw.text((left, y0 + 16 * S), f"{what} (from step {since})", fill=RED, font=_font(8, bold=True))
    if not finite:
        at, font = ((left + right) / 2, (top + bottom) / 2), _font(9, bold=True)
        box = draw.textbbox(at, "no finite values", font=font, anchor="mm")
        draw.rectangle([box[0] - 3 * S, box[1] - 2 * S, box[2] + 3 * S, box[3] + 2 * S], fill=(255, 255, 255))
        draw.text(at, "no finite values", fill=RED, font=font, anchor="mm")


def overview_png(rec, *, per_kind: int = 8) -> tuple[bytes, int]:
    """The PNG (bytes) and the width to show it at, in CSS pixels."""
    from PIL import Image, ImageDraw

    from .. import health

    S = SCALE
    kinds = rec.kinds
    ncols = max(1, min(COLUMNS, max((len(rec.names(k)) for k in kinds), default=1)))
    found = health.locate(rec) if len(rec) else []
    W = (max(ncols, 3) if found else ncols) * PANEL_W * S  # findings need a line's width
    covered = {(f["kind"], n) for f in found for n in (f.get("tensors") or ([f["name"]] if f.get("name") else []))}
    text_w = W - 2 * PAD_SIDE * S - 16 * S
    body, bold, small = _font(9), _font(10, bold=True), _font(8)
    # lay out first (how tall), then draw
    lines = []  # (severity or None, text, font, colour)
    for f in found[:FINDINGS]:
        for j, part in enumerate(_wrap(f["message"], body, text_w, 2)):
            lines.append((f.get("severity") if j == 0 else "", part, body, RED if f.get("severity") == "error" else (140, 80, 0)))
    if len(found) > FINDINGS:
        lines.append(("", f"… and {len(found) - FINDINGS} more findings (the text summary lists them all)", body, GREY))
    if not found:
        lines.append(("", "No findings.", body, GREY))
    sections = []
    for kind in kinds:
        drawn, rest = chosen(rec, kind, per_kind, {n for k, n in covered if k == kind})
        names = rec.names(kind)
        head = f"{TITLES[kind]}: {len(names)} tensor{'s' if len(names) != 1 else ''}"
        if rest:
            head += f", the {len(drawn)} most unusual drawn (NaN/Inf, named by a finding, changed most)"
        note = _wrap(f"Not drawn ({len(rest)}): " + ", ".join(rest), small, text_w + 16 * S, 2) if rest else []
        sections.append((kind, head, drawn, note))
    line_h, head_h = 14, 18
    H = 24 + line_h * len(lines) + 6
    for _, _, drawn, note in sections:
        H += head_h + PANEL_H * -(-len(drawn) // ncols) + 12 * len(note) + 4
    img = Image.new("RGB", (W, H * S), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    steps = rec.steps
    span = f"{steps[0]}–{steps[-1]}" if steps.size else "none"
    draw.text((PAD_SIDE * S, 4 * S), f"tfhist: {len(rec)} series, steps {span}", fill=(0, 0, 0), font=bold)
    y = 24
    for severity, text, font, colour in lines:
        if severity:
            _mark(draw, PAD_SIDE * S, y * S + 1 * S, severity)
        draw.text(((PAD_SIDE + 16) * S, y * S), text, fill=colour, font=font)
        y += line_h
    y += 6
    for kind, head, drawn, note in sections:
        draw.line([(PAD_SIDE * S, y * S), (W - PAD_SIDE * S, y * S)], fill=(220, 220, 220), width=S)
        draw.text((PAD_SIDE * S, (y + 3) * S), head, fill=_rgb(COLORS[kind]), font=_font(9, bold=True))
        y += head_h
        for c, name in enumerate(drawn):
            r, col = divmod(c, ncols)
            _panel(draw, col * PANEL_W * S, (y + r * PANEL_H) * S, rec.series(kind, name), kind, name)
        y += PANEL_H * -(-len(drawn) // ncols)
        for text in note:
            draw.text((PAD_SIDE * S, y * S), text, fill=GREY, font=small)
            y += 12
        y += 4
    # A few flat colours and anti-aliased text: a 64-colour palette keeps them and halves
    # both the encoding time and the bytes stored in the notebook.
    img = img.quantize(64, method=Image.Quantize.FASTOCTREE)
    buf = io.BytesIO()
    img.save(buf, format="PNG", compress_level=3)
    return buf.getvalue(), W // S


def _compare_panel(draw, x0: int, y0: int, series: list, index: list, colors: list, title: str) -> None:
    """One tensor in every run: each run's snapshot (``index[r]`` of ``series[r]``) as the
    outline of its density (count / (total x bin width): runs with other bins compare)."""
    S = SCALE
    left, right, top, bottom = _plot_box(draw, x0, y0, title)
    snaps = []
    for s, i in zip(series, index):
        c = s.counts[i].astype(np.float64)
        e = s.edges[i]
        t = c.sum()
        if t > 0:
            with np.errstate(all="ignore"):
                d = np.where(e[1:] > e[:-1], c / t / (e[1:] - e[:-1]), 0.0)
            snaps.append((e, d, int(s.steps[i])))
        else:
            snaps.append((None, None, int(s.steps[i])))
    held = [x for x in snaps if x[0] is not None]
    lo, hi = _frame(min((float(e[0]) for e, _, _ in held), default=np.nan), max((float(e[-1]) for e, _, _ in held), default=np.nan))
    pad = 0.05 * (hi - lo) if np.isfinite(hi - lo) else 0.0
    lo, hi = lo - pad, hi + pad
    ymax = max((float(np.max(d)) for _, d, _ in held), default=1.0) * 1.1 or 1.0

    def X(v):
        with np.errstate(all="ignore"):
            x = left + (np.asarray(v, dtype=np.float64) - lo) / (hi - lo) * (right - left)
        return np.nan_to_num(np.clip(x, left, right), nan=left)

    def Y(v):
        return bottom - np.asarray(v, dtype=np.float64) / ymax * (bottom - top)

    draw.line([(left, bottom), (right, bottom)], fill=(150, 150, 150), width=S)
    for (e, d, _), color in zip(snaps, colors):
        if e is None:
            continue
        fx, fy = X(e), Y(d)
        pts = [(fx[0], bottom)]
        for i in range(len(fy)):
            pts += [(fx[i], fy[i]), (fx[i + 1], fy[i])]
        pts.append((fx[-1], bottom))
        draw.line(pts, fill=_rgb(color), width=S + 1)
    small = _font(7)
    if held:
        for x, text, anchor in range_labels(lo + pad, hi - pad, X, left, right, small.getlength, gap=4 * S):
            draw.text((x, bottom + 2 * S), text, fill=(60, 60, 60), font=small, anchor=anchor)
    steps = sorted({st for _, _, st in snaps})
    said = f"step {steps[0]}" if len(steps) == 1 else "steps " + " / ".join(str(st) for _, _, st in snaps)
    draw.text((right, y0 + 16 * S), said, fill=(80, 80, 80), font=small, anchor="ra")
    missing = [i for i, x in enumerate(snaps) if x[0] is None]
    if missing:
        draw.text((left, y0 + 16 * S), "no finite values in " + ", ".join(str(i + 1) for i in missing), fill=RED, font=_font(8, bold=True))


def compare_png(cmp, *, per_kind: int = 3, top: int = 5) -> tuple[bytes, int]:
    """The static picture of a :class:`~tfhist_magic.compare.Comparison` (PNG bytes, and
    the width to show it at): the runs in their colours, the notes on matching, then per
    kind the ``top`` most different tensors with their scores and the ``per_kind`` most
    different drawn, every run's latest compared snapshot as an outline of its density."""
    from PIL import Image, ImageDraw

    S = SCALE
    ncols = max(1, min(per_kind, max((len(cmp.tensors(k)) for k in cmp.kinds), default=1)))
    W = max(ncols, 3) * PANEL_W * S
    text_w = W - 2 * PAD_SIDE * S
    body, bold, small = _font(9), _font(10, bold=True), _font(8)
    notes = []
    for note in (cmp.names_note, cmp.steps_note):
        if note:
            notes += _wrap(note, small, text_w, 2)
    only = _wrap(f"Not in every run ({len(cmp.only)}, not ranked): " + ", ".join(f"{n} (only {', '.join(held)})" for (_, n), held in cmp.only.items()), small, text_w, 2) if cmp.only else []
    line_h, head_h = 13, 18
    H = 24 + 12 * len(notes) + 4
    for kind in cmp.kinds:
        n = min(top, len(cmp.tensors(kind)))
        H += head_h + line_h * n + PANEL_H * -(-min(per_kind, len(cmp.tensors(kind))) // ncols) + 6
    H += 12 * len(only) + 6
    img = Image.new("RGB", (W, H * S), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    x = PAD_SIDE * S
    draw.text((x, 4 * S), "tfhist compare:", fill=(0, 0, 0), font=bold)
    x += bold.getlength("tfhist compare: ")
    for label, color in zip(cmp.labels, cmp.colors):
        draw.rectangle([x, 8 * S, x + 14 * S, 11 * S], fill=_rgb(color))
        x += 18 * S
        draw.text((x, 4 * S), label, fill=_rgb(color), font=bold)
        x += bold.getlength(label) + 10 * S
    draw.text((x, 5 * S), f"· {len(cmp)} shared tensors", fill=GREY, font=body)
    y = 24
    for text in notes:
        draw.text((PAD_SIDE * S, y * S), text, fill=(140, 80, 0), font=small)
        y += 12
    y += 4
    for kind in cmp.kinds:
        ranked = cmp.ranking(kind)
        draw.line([(PAD_SIDE * S, y * S), (W - PAD_SIDE * S, y * S)], fill=(220, 220, 220), width=S)
        draw.text((PAD_SIDE * S, (y + 3) * S), f"{TITLES[kind]}: {len(ranked)} shared, the most different first (score: W1 / pooled std, 0 = identical, at most 2)", fill=_rgb(COLORS[kind]), font=_font(9, bold=True))
        y += head_h
        best = max((s for _, s in ranked if np.isfinite(s)), default=0.0) or 1.0
        for name, score in ranked[:top]:
            bar = 0.0 if not np.isfinite(score) else score / best
            draw.rectangle([PAD_SIDE * S, (y + 3) * S, PAD_SIDE * S + bar * 60 * S, (y + 9) * S], fill=_rgb(COLORS[kind]))
            draw.text(((PAD_SIDE + 120) * S, y * S), _fmt(score), fill=INK, font=body, anchor="ra")
            draw.text(((PAD_SIDE + 128) * S, y * S), _fit(name, body, text_w - 140 * S), fill=INK, font=body)
            y += line_h
        drawn = [name for name, _ in ranked[:per_kind]]
        for c, name in enumerate(drawn):
            r, col = divmod(c, ncols)
            m = cmp.matched(kind, name)
            series = cmp.series(kind, name)
            title = f"{name} · {_fmt(m.score)}"
            _compare_panel(draw, col * PANEL_W * S, (y + r * PANEL_H) * S, series, list(m.index[-1]), cmp.colors, title)
        y += PANEL_H * -(-len(drawn) // ncols) + 6
    for text in only:
        draw.text((PAD_SIDE * S, y * S), text, fill=GREY, font=small)
        y += 12
    img = img.quantize(64, method=Image.Quantize.FASTOCTREE)
    buf = io.BytesIO()
    img.save(buf, format="PNG", compress_level=3)
    return buf.getvalue(), W // S
