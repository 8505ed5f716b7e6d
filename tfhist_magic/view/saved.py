"""The dashboard a notebook keeps: one self-contained ``text/html`` output.

A live widget's output is a reference to a model in the kernel; a notebook reopened with
a new kernel, exported to HTML or shown on GitHub has no such model ("Error displaying
widget: model not found"). So when a watched cell ends, its output is replaced (through
its ``display_id``) by this bundle, as Plotly and Bokeh write theirs:

- ``text/html``: the page's own code (``dashboard.js``, the same module the widget
  loads, inlined) and the Recording as one packet (the widget's format, zlib-compressed,
  base64), started by a few lines of script: the same dashboard, interactive, with no
  kernel, in a reopened notebook (JupyterLab, Notebook 7), in nbconvert HTML and in VS
  Code. Where no script runs (GitHub, an untrusted notebook, a sanitizer), the same HTML
  shows the findings, the picture and the text summary instead (``.tfh-fallback``);
- ``image/png`` and ``text/plain`` beside it, for what shows no HTML (a terminal, PDF).

The saved copy is bounded (:data:`BUDGET` for the whole bundle): every Series keeps its
first and latest snapshots and the steps the findings name; when all kept snapshots do
not fit, each Series keeps the same evenly spaced share of them, and the output says so.

One builder serves a Recording (:class:`SavedView`) and a comparison
(``comparing.SavedComparison``): the budget loop (:func:`fit`), the HTML shown where no
script runs (:func:`fallback_html`), the page (:func:`page_html`), the notebook output
(:func:`mime_bundle`) and the display object (:class:`Saved`).
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import zlib
from pathlib import Path

import numpy as np

from .. import histogram as H
from ..recording import KINDS
from .packet import SCALARS, Packet, header, row_bytes

__all__ = ["BUDGET", "Saved", "SavedView", "fallback_html", "fit", "page_code_bytes", "page_html", "saved_html", "saved_packet"]

_HERE = Path(__file__).parent

#: The most bytes the saved output may take in the notebook (``text/html``, ``image/png``
#: and ``text/plain`` together, as stored): the data is thinned to fit.
BUDGET = 1_900_000

#: What marks a saved dashboard's root in the page (and how tests find one).
ROOT_CLASS = "tfh-saved"


def _module_source() -> str:
    """The page code, as the widget loads it (the bundle ``js/build.mjs`` makes)."""
    return (_HERE / "dashboard.js").read_text(encoding="utf-8")


def page_code_bytes() -> int:
    """How many bytes of page code a saved dashboard inlines."""
    return len(_module_source())


def _b64_size(n: int) -> int:
    return 4 * ((n + 2) // 3)


def _pins(rec) -> set[int]:
    """Steps every Series keeps in a thinned copy: those the findings name (a finding opens
    its step) and the first non-finite one."""
    from .. import health

    steps = set()
    for f in health.locate(rec) if len(rec) else []:
        steps.update(int(s) for s in (f.get("first_step"), f.get("last_step")) if s is not None)
    if rec.first_nonfinite is not None:
        steps.add(int(rec.first_nonfinite))
    return steps


def _pick(steps: np.ndarray, k: int, pins: np.ndarray, bad=None, cache=None) -> np.ndarray:
    """Indices of ``steps`` to keep: all when they are ``k`` or fewer, else ``k`` evenly
    spaced (the first and the latest among them), the pinned steps and the first snapshot
    that held non-finite values (``bad``: a boolean per snapshot). ``cache`` (a dict)
    remembers the choice for Series with the same steps (most of them), and (for
    :func:`_build`) the rows read from the Recording, shared by every try."""
    n = steps.size
    if n <= k:
        return np.arange(n)
    key = (k, n, steps.tobytes()) if cache is not None else None
    idx = cache.get(key) if key is not None else None
    if idx is None:
        idx = set(np.round(np.linspace(0, n - 1, max(k, 2))).astype(np.int64).tolist())
        idx.update(np.flatnonzero(np.isin(steps, pins)).tolist())
        idx = frozenset(idx)
        if key is not None:
            cache[key] = idx
    if bad is not None and bad.any():
        idx = idx | {int(np.argmax(bad))}
    return np.array(sorted(idx), dtype=np.int64)


def _build(rec, k: int | None, pins: np.ndarray, cache: dict, handoff: str | None = None, state: dict | None = None) -> tuple[bytes, dict]:
    """The full packet of ``rec`` with at most about ``k`` snapshots per Series (None: all
    kept), and what it holds."""
    hd = header(rec, full=True, live=False, seq=0)
    pk = Packet(rec, hd)
    kept = saved = 0
    thinned = False
    i = 0
    for kind in KINDS:
        if kind not in rec.kinds:
            continue
        for name in rec.names(kind):
            ch = cache.get(("rows", kind, name))
            if ch is None:  # read once for all the tries (a copy of every kept row)
                ch = cache[("rows", kind, name)] = rec.changes(kind, name)
            B = ch.rows.shape[1] - H.EXTRA
            bad = (ch.rows[:, B + H.NAN] + ch.rows[:, B + H.POSINF] + ch.rows[:, B + H.NEGINF]) > 0
            at = _pick(ch.steps, k, pins, bad, cache) if k is not None else np.arange(ch.steps.size)
            entry = {"id": i, "after": None, "kept": int(at.size), "recorded": int(ch.kept)}
            i += 1
            pk.series(entry, kind, name, ch.steps[at], ch.walls[at], ch.rows[at], None if ch.edges is None else ch.edges[at])
            kept += int(ch.kept)
            saved += int(at.size)
            thinned = thinned or at.size < ch.kept
    for metric in SCALARS:
        for name in rec.scalar_names(metric):
            ch = cache.get(("scalars", metric, name))
            if ch is None:
                ch = cache[("scalars", metric, name)] = rec.scalar_changes(metric, name)
            at = _pick(ch.steps, k, pins, None, cache) if k is not None else np.arange(ch.steps.size)
            pk.track({"metric": metric, "name": name, "after": None, "kept": int(at.size), "recorded": int(ch.kept)}, ch.steps[at], ch.rows[at, 0])
    info = {"snapshots": saved, "recorded": kept, "thinned": thinned, "per_series": k if thinned else None}
    if thinned:
        info["note"] = f"{saved:,} of the {kept:,} recorded snapshots (about {k} per tensor, the findings' steps among them)"
    if handoff:
        info["from"] = handoff  # the live widget it replaces: the page opens where that one was
    if state:
        info["state"] = state  # what the page showed when the cell ended: a reopened notebook opens there
    hd["saved"] = info
    return pk.encode(), info


#: zlib's level: 3 compresses 600 Series' rows 6% less than 6 in a third of the time
#: (56 ms against 172 for 3.7 MB), at the end of the watched cell.
_LEVEL = 3

#: Base64 bytes of compressed packet per raw byte, a first guess on the safe side (0.3-0.4 on
#: real runs' rows); the first try corrects it.
_RATIO = 0.42


def fit(build, sizes, per_snap: int, budget: int) -> tuple[bytes, dict]:
    """The one budget loop of a saved page (a Recording's or a comparison's): the packet
    ``build(k)`` makes with at most about ``k`` snapshots per Series (None: all),
    zlib-compressed, whose base64 takes at most ``budget`` bytes, and what it holds
    (``info`` plus ``bytes``, ``raw``). ``sizes``: the snapshots of each Series;
    ``per_snap``: about what one costs raw. Every snapshot when they fit; otherwise as
    many of each Series as fit, found in at most three tries (then two each)."""
    most = max(sizes, default=1)
    guess = sum(sizes) * per_snap * _RATIO
    k = None if guess <= budget else max(2, int(most * budget / guess))
    best = None
    for _ in range(3):
        packet, info = build(k)
        z = zlib.compress(packet, _LEVEL)
        size = _b64_size(len(z))
        now = k if k is not None else most
        if size <= budget:
            best = (z, info, packet)
            if k is None or size >= 0.8 * budget:
                break
            grow = min(most, int(now * budget / size * 0.95))
            if grow <= now:
                break
            k = None if grow >= most else grow
        elif now <= 2:
            best = best or (z, info, packet)  # the fewest there can be: every Series, two snapshots each
            break
        else:
            k = max(2, min(now - 1, int(now * budget / size * 0.95)))
    if best is None:  # three tries too big: the fewest
        packet, info = build(2)
        best = (zlib.compress(packet, _LEVEL), info, packet)
    z, info, packet = best
    info.update(bytes=len(z), raw=len(packet))
    return z, info


def saved_packet(rec, budget: int = 1_300_000, handoff: str | None = None, state: dict | None = None) -> tuple[bytes, dict]:
    """The Recording as one zlib-compressed full packet whose base64 takes at most
    ``budget`` bytes, and what it holds (``snapshots`` saved of ``recorded``, ``thinned``,
    ``per_series``, ``note``, ``bytes``): :func:`fit`, the first, latest and the findings'
    steps of each Series always among what is kept. A Series is never dropped.
    ``handoff``: the ``uid`` of the live widget this copy replaces (the page opens on what
    that one showed); ``state``: what the page showed (kind, tensor, view, step, opts,
    height), where the saved copy opens."""
    pins = np.array(sorted(_pins(rec)), dtype=np.int64)
    kept = [rec.latest(k, n).kept for k in KINDS if k in rec.kinds for n in rec.names(k)]
    cache: dict = {}
    # a snapshot, and about two scalar values beside it
    return fit(lambda k: _build(rec, k, pins, cache, handoff, state), kept, row_bytes(rec.bins) + 16 * 2, budget)


def _findings_html(rec) -> str:
    from .. import health

    found = health.locate(rec) if len(rec) else []
    if not found:
        return '<p class="tfh-fallback-none">No findings.</p>'
    items = []
    for f in found:
        error = f.get("severity") == "error"
        color = "#b3261e" if error else "#8a4b00"  # 6:1 and more on the card's white
        items.append(f'<li style="color: {color}"><b>{"error" if error else "warning"}:</b> {html.escape(f["message"])}</li>')
    return f'<p><b>Findings ({len(found)})</b></p><ul class="tfh-fallback-findings">{"".join(items)}</ul>'


_BOOT = """(function () {
  var me = document.currentScript, root = me && me.parentNode;
  if (!root || !root.getAttribute("data-packet")) return;
  var key = "__tfhist_dashboard_%(hash)s", w = window;
  // scripts run here: the picture and text for where none runs stay hidden (data-booting),
  // and until the dashboard has drawn, the live view this copy replaces holds its place
  // (or the height the page last had)
  root.setAttribute("data-booting", "1");
  var from = root.getAttribute("data-from"), live = from && w.__tfhistLive && w.__tfhistLive.get(from);
  var host = root.querySelector(".tfh-host");
  if (live && live.root && !live.claimed) {
    live.claimed = true;
    root.tfhLive = live;
    root.tfhHeld = live.root;
    root.style.minHeight = (live.height || 0) + "px";
    root.insertBefore(live.root, host);
  } else if (root.getAttribute("data-height")) {
    root.style.minHeight = root.getAttribute("data-height") + "px";
  }
  var load = w[key];
  if (!load) {
    var src = root.getAttribute("data-module");
    var url = URL.createObjectURL(new Blob([src], { type: "text/javascript" }));
    load = w[key] = import(url).catch(function () {
      return import("data:text/javascript;charset=utf-8," + encodeURIComponent(src));
    });
  }
  root.removeAttribute("data-module");
  load.then(function (m) { return m.mountSaved(root); }).catch(function (e) {
    if (root.tfhHeld && root.tfhHeld.parentNode === root) root.removeChild(root.tfhHeld);
    root.removeAttribute("data-booting");
    root.style.minHeight = "";
    root.setAttribute("data-error", String(e && e.stack || e));
    if (w.console) console.error("tfhist dashboard:", e);
  });
})();"""


def fallback_html(summary: str, *, png: bytes | None, width: int, alt: str, text: str, what: str, info: dict) -> str:
    """What a saved page shows where no script runs: ``summary`` (HTML: the findings, a
    comparison's ranking), the picture, the text summary, and why the interactive
    ``what`` (``"dashboard"``, ``"comparison"``) is not drawn here."""
    picture = ""
    if png:
        picture = f'<img src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}" width="{width}" alt="{html.escape(alt, quote=True)}">'
    thinned = f" This copy keeps {html.escape(info['note'])}." if info.get("note") else ""
    return (
        # a light card of its own (as the picture is): readable in a dark notebook too
        '<div class="tfh-fallback" style="background: #fff; color: #1b1b1b; padding: 4px 6px">'
        + summary
        + picture
        + f"<details><summary>Text summary</summary><pre>{html.escape(text)}</pre></details>"
        + '<p class="tfh-fallback-why" style="color: #555; font-size: 11px">This output holds the interactive '
        f"tfhist {what}; it runs where the notebook's scripts may run (a trusted notebook in JupyterLab or "
        f"Notebook 7, nbconvert HTML, VS Code).{thinned}</p>"
        "</div>"
    )


def saved_html(rec, *, png: bytes | None = None, width: int = 0, text: str = "", budget: int = 1_300_000, handoff: str | None = None, state: dict | None = None) -> tuple[str, dict]:
    """The self-contained HTML of the dashboard of ``rec`` (see the module's docstring)
    and what its data holds (:func:`saved_packet`)."""
    z, info = saved_packet(rec, budget, handoff, state)
    alt = "tfhist: the findings and the latest histogram of each tensor"
    return page_html(z, info, fallback_html(_findings_html(rec), png=png, width=width, alt=alt, text=text, what="dashboard", info=info)), info


def page_html(z: bytes, info: dict, fallback: str) -> str:
    """The self-contained root of a saved dashboard: the zlib-compressed packet ``z``, the
    page code, the styles, ``fallback`` (HTML shown where no script runs) and the script
    that mounts it. Shared by a Recording's dashboard and a comparison's."""
    src = _module_source()
    digest = hashlib.sha1(src.encode()).hexdigest()[:12]
    css = (_HERE / "dashboard.css").read_text(encoding="utf-8")
    extra = f' data-key="{hashlib.sha1(z).hexdigest()[:16]}"'  # this output, for the page's memory of its last state
    if info.get("from"):
        extra += f' data-from="{html.escape(str(info["from"]), quote=True)}"'
    height = (info.get("state") or {}).get("height")
    if isinstance(height, (int, float)) and 0 < height < 5000:
        extra += f' data-height="{int(height)}"'  # the page's last height: kept while the dashboard starts
    return (
        f'<div class="{ROOT_CLASS}" data-packet="{base64.b64encode(z).decode("ascii")}" data-encoding="deflate"{extra} '
        f'data-module="{html.escape(src, quote=True)}" data-info="{html.escape(json.dumps(info), quote=True)}">'
        f"<style>{css}</style>"
        + fallback
        + '<div class="tfh-host"></div>'
        + f"<script>{_BOOT % {'hash': digest}}</script>"
        + "</div>"
    )


def mime_bundle(text: str, picture, page, budget: int):
    """A notebook output: the PNG ``picture()`` gives (``(png, width)``), the text, and
    the self-contained page ``page(png, width, text, budget)`` gives (``(html, info)``)
    within ``budget`` bytes in all; either may be None (not made). A picture or a page
    that fails is said in the text; the others still show. Returns ``(data, metadata,
    the page's info or None)``."""
    data, meta = {}, {}
    png, width = b"", 0
    if picture is not None:
        try:
            png, width = picture()
        except Exception as e:  # noqa: BLE001 - the dashboard and the text must still show
            text += f"\n(the static picture could not be drawn: {type(e).__name__}: {e})"
            png = b""
    if png:
        data["image/png"] = base64.b64encode(png).decode("ascii")
        meta["image/png"] = {"width": width}
    data["text/plain"] = text
    info = None
    if page is not None:
        # what the HTML carries besides the data: the picture and the text again (for
        # where no script runs), the page code, the JSON escapes of a notebook's lines
        rest = 2 * len(data.get("image/png", "")) + 2 * len(text.encode()) + page_code_bytes() * 11 // 10 + 40_000
        try:
            html_page, info = page(png, width, text, max(50_000, budget - rest))
        except Exception as e:  # noqa: BLE001 - the picture and the text must still show
            data["text/plain"] = text + f"\n(the saved dashboard could not be built: {type(e).__name__}: {e})"
        else:
            data["text/html"] = html_page
    return data, meta, info


class Saved:
    """A saved page as a display object: the self-contained HTML, with the PNG and the
    text beside it, all of it kept in the notebook (at most ``budget`` bytes). Subclasses
    say what they show: :meth:`text`, :meth:`picture` and :meth:`page` (None: not made)."""

    def __init__(self, budget: int = BUDGET):
        self.budget = int(budget)
        self.info: dict = {}

    def text(self) -> str:
        raise NotImplementedError

    def picture(self):
        """A function giving ``(png, width)``, or None."""
        raise NotImplementedError

    def page(self):
        """A function ``(png, width, text, budget) -> (html, info)``, or None."""
        raise NotImplementedError

    def _repr_mimebundle_(self, include=None, exclude=None):
        data, meta, info = mime_bundle(self.text(), self.picture(), self.page(), self.budget)
        if info is not None:
            self.info = info
        return data, meta

    def __repr__(self) -> str:
        return self.text()


class SavedView(Saved):
    """The saved dashboard of a Recording as a display object: ``display(SavedView(rec))``
    shows the self-contained HTML dashboard with the PNG and the text beside it, all of it
    kept in the notebook (at most :data:`BUDGET` bytes)."""

    def __init__(self, rec, *, budget: int = BUDGET, handoff: str | None = None, state: dict | None = None):
        super().__init__(budget)
        self.recording = rec
        self.handoff = handoff  # the live widget this replaces (its uid), if any
        self.state = dict(state) if state else None  # what the page showed: the copy opens there

    def text(self) -> str:
        return self.recording.summary()

    def picture(self):
        from .static import overview_png

        rec = self.recording
        return (lambda: overview_png(rec)) if len(rec) else None

    def page(self):
        def page(png, width, text, budget):
            return saved_html(self.recording, png=png, width=width, text=text, budget=budget, handoff=self.handoff, state=self.state)

        return page if len(self.recording) else None
