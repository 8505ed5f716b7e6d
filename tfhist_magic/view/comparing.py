"""A comparison's dashboard: the saved dashboard's page code in its compare mode.

One packet (``packet.py``'s format) holds every run: a Series entry per run and shared
tensor, with ``run`` (its index) and the rows of the snapshots compared, aligned (row ``j``
of each run is the ``j``-th compared step, see :class:`~tfhist_magic.compare.Matched`);
each tensor's score per compared step as a scalar series ``score.<kind>``. The header's
``compare`` entry carries the runs (labels, colours), the ranking per kind, the tensors
not in every run and the notes on matching. The page (``js/src/compare.js``) draws every
tensor for every run: outlines at the same step, heatmaps side by side, distribution bands
per run, the ranking beside them. Saved in the notebook like a Recording's dashboard
(``saved.py``: ``text/html`` with the data inlined, ``image/png`` and ``text/plain``
beside it), bounded the same way: when the compared steps do not fit, each tensor keeps
the same evenly spaced share of them (the first and the last always).
"""

from __future__ import annotations

import html

import numpy as np

from .packet import Packet, header, row_bytes
from .saved import BUDGET, Saved, fallback_html, fit, page_html

__all__ = ["SavedComparison", "compare_packet", "show"]


def _build(cmp, k: int | None) -> tuple[bytes, dict]:
    base = cmp.runs[0]
    hd = header(base, full=True, live=False, seq=0)
    hd.update(findings=[], notes=[], models={}, kinds=list(cmp.kinds))
    hd["bins"] = max(r.bins for r in cmp.runs)
    pk = Packet(base, hd)
    i = saved = total = 0
    thinned = False
    picked = {}  # (kind, tensor) -> the compared steps kept
    for kind in cmp.kinds:
        for m in cmp.tensors(kind):
            S = m.index.shape[0]
            at = np.arange(S) if k is None or S <= k else np.unique(np.round(np.linspace(0, S - 1, max(k, 2))).astype(np.int64))
            thinned = thinned or at.size < S
            picked[(kind, m.name)] = at
            for r, (rec, name) in enumerate(zip(cmp.runs, m.names)):
                ch = rec.changes(kind, name)
                rows = ch.rows[m.index[at, r]]
                edges = None if ch.edges is None else ch.edges[m.index[at, r]]
                entry = {"id": i, "run": r, "after": None, "kept": int(at.size), "recorded": int(S), "tensor": name}
                i += 1
                pk.series(entry, kind, name, ch.steps[m.index[at, r]], ch.walls[m.index[at, r]], rows, edges, rec=rec)
                entry["name"] = m.name
                saved += int(at.size)
                total += int(S)
            pk.track({"metric": f"score.{kind}", "name": m.name, "after": None, "kept": int(at.size), "recorded": int(S)}, m.steps[at, m.reference], m.scores[at])
    for entry, steps, values in cmp.tracks(picked if thinned else None):  # every run's scalar series (update ratio, norms, dead units, grad norm)
        pk.track(entry, steps, values)
    ranking = {kind: [[name, score, cmp.matched(kind, name).reference] for name, score in cmp.ranking(kind)] for kind in cmp.kinds}
    hd["compare"] = {
        "runs": [{"label": lab, "color": col, "series": len(rec), "models": cmp.models(r)} for r, (lab, col, rec) in enumerate(zip(cmp.labels, cmp.colors, cmp.runs))],
        "ranking": ranking,
        "only": [[kind, name, list(held)] for (kind, name), held in cmp.only.items()],
        "steps_note": cmp.steps_note,
        "names_note": cmp.names_note,
        "score": "Wasserstein-1 between the runs' histograms over their pooled std (at least the kind's median spread; 0: identical, at most 2), the mean over the compared steps",
    }
    info = {"snapshots": saved, "recorded": total, "thinned": thinned, "per_series": k if thinned else None}
    if thinned:
        info["note"] = f"{saved:,} of the {total:,} compared snapshots (about {k} steps per tensor and run)"
    hd["saved"] = info
    return pk.encode(), info


def compare_packet(cmp, budget: int = 1_300_000) -> tuple[bytes, dict]:
    """The comparison as one zlib-compressed packet whose base64 takes at most about
    ``budget`` bytes, and what it holds (``saved.fit``, as ``saved.saved_packet``)."""
    per = [m.index.shape[0] for kind in cmp.kinds for m in cmp.tensors(kind)] * len(cmp.runs)
    return fit(lambda k: _build(cmp, k), per, row_bytes(max(r.bins for r in cmp.runs)) + 16, budget)


def _ranking_html(cmp, top: int = 8) -> str:
    parts = []
    runs = " vs ".join(f'<b style="color: {c}">{html.escape(lab)}</b>' for lab, c in zip(cmp.labels, cmp.colors))
    parts.append(f"<p>Compared: {runs}</p>")
    for kind in cmp.kinds:
        items = "".join(
            f"<li>{html.escape(name)}: {score:.4f}</li>" if np.isfinite(score) else f"<li>{html.escape(name)}: —</li>"
            for name, score in cmp.ranking(kind)[:top]
        )
        parts.append(f"<p><b>{kind}, most different first</b></p><ol>{items}</ol>")
    return "".join(parts)


def compare_html(cmp, *, png: bytes = b"", width: int = 0, text: str = "", budget: int = 1_300_000) -> tuple[str, dict]:
    """The self-contained HTML of the comparison's dashboard, and what its data holds."""
    z, info = compare_packet(cmp, budget)
    alt = "tfhist compare: the ranking and the most different tensors in every run"
    return page_html(z, info, fallback_html(_ranking_html(cmp), png=png, width=width, alt=alt, text=text, what="comparison", info=info)), info


class SavedComparison(Saved):
    """A comparison's dashboard as a display object: the self-contained HTML dashboard,
    with the PNG and the text beside it, kept in the notebook (at most :data:`BUDGET` bytes)."""

    def __init__(self, cmp, *, budget: int = BUDGET):
        super().__init__(budget)
        self.comparison = cmp

    def text(self) -> str:
        return self.comparison.summary()

    def picture(self):
        from .static import compare_png

        return lambda: compare_png(self.comparison)

    def page(self):
        def page(png, width, text, budget):
            return compare_html(self.comparison, png=png, width=width, text=text, budget=budget)

        return page if len(self.comparison) else None


def show(cmp, *, mode: str = "auto"):
    """Display ``cmp``: in a kernel (or ``mode="html"``) its dashboard, kept in the notebook;
    ``"text"`` the summary; ``"none"`` nothing. Returns the SavedComparison shown, or None."""
    from IPython.display import display

    from . import resolve_mode

    mode = resolve_mode(mode)
    if mode == "none":
        return None
    if mode in ("html", "widget"):  # a comparison has no live widget: the saved dashboard
        saved = SavedComparison(cmp)
        display(saved)
        return saved
    print(cmp.summary())
    return None
