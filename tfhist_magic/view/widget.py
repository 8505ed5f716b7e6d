"""The dashboard: an anywidget whose drawing and interaction run in the browser.

The kernel sends data, not pictures, packed as one binary buffer (:func:`encode`):

- on display and reload, a *full* packet: an index of every Series (kind, name, dtype,
  how many snapshots are kept) with its latest snapshot (exact counts, non-finite counts,
  statistics, the exact bin edges) and each scalar series' latest value; its size grows
  with the number of Series, never with the number of steps. A small Recording (all of
  it under :attr:`Dashboard.history_budget`) is sent whole instead;
- a Series' kept snapshots when the page opens it (``{"want": "series"}``), and one
  statistic of every Series of a kind over its kept steps for the depth view
  (``{"want": "depth"}``): the kernel answers these when it is idle;
- while a watched cell fills the Recording, only what is new (:meth:`Recording.changes`,
  addressed by step, so a page holding only some snapshots stays right), at most every
  ``live_interval`` seconds, so nothing is drawn on the training thread.

Tabs, the tensor picker, the step slider and every view are JavaScript
(``dashboard.js``, shipped in the package, no CDN), so they respond while the kernel is
busy training.

Like ipympl, the displayed bundle also carries ``image/png`` (drawn once, when asked for)
and ``text/plain``, so nbconvert HTML, GitHub and terminals show the run where no widget
can.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from pathlib import Path

import anywidget
import traitlets

from .. import histogram as H
from ..recording import KINDS, MODEL_SCALARS
from .packet import SCALARS, STATS, VERSION, Packet, decode, encode, header, json_safe, row_bytes

__all__ = ["Dashboard", "encode", "decode"]

_HERE = Path(__file__).parent


class Dashboard(anywidget.AnyWidget):
    """The tabbed widget for a Recording: tabs for the recorded kinds, a tensor picker,
    a step slider, views (step, overlay, offset, heatmap, distribution, all tensors,
    depth × step) and the findings. A widget in its own right: put it in a ``VBox``,
    display it twice.

    ``kind``, ``tensor``, ``view`` and ``step`` (-1 follows the latest) are what the
    browser shows; set them from Python or click in the page.
    """

    _esm = _HERE / "dashboard.js"
    _css = _HERE / "dashboard.css"

    kind = traitlets.Unicode("").tag(sync=True)
    tensor = traitlets.Unicode("").tag(sync=True)
    view = traitlets.Unicode("step").tag(sync=True)
    step = traitlets.Int(-1).tag(sync=True)
    #: The page's options (log counts, value range, time axis, the grid's sort, the depth
    #: view's statistic), as the page last said.
    opts = traitlets.Dict().tag(sync=True)
    # Names this widget's data in the page, shared by all its views.
    _uid = traitlets.Unicode().tag(sync=True)
    # The full packet, built when the front end asks for the state (display, reload):
    # the trait's value is only a counter; the serializer reads the Recording.
    _data = traitlets.Int(0).tag(sync=True, to_json=lambda _, self: self._state_packet())

    #: The page state :meth:`page_state` reports.
    STATE = ("kind", "tensor", "view", "step", "opts")

    @property
    def uid(self) -> str:
        """What names this widget's data in the page: a saved copy that replaces it says
        so (``SavedView(handoff=...)``), and the page opens that copy where this one was."""
        return self._uid

    #: Seconds between the full packets sent while live (see :meth:`refresh`).
    keyframe_interval = 10.0
    #: A full packet carries every kept snapshot when all of them fit in this many bytes;
    #: otherwise the latest of each Series, and the page fetches a Series' history when
    #: it opens it. Either way it does not grow with the number of steps.
    history_budget = 256 * 1024

    def __init__(self, recording, *, live_interval: float = 0.5, live: bool = False, **kwargs):
        self.recording = recording
        self.live_interval = float(live_interval)
        self.live = live  # still recording: the page says so, the static faces wait
        self.saving = False  # the cell ended: the saved copy is being built
        self._heard: dict = {}  # the page's state as its messages arrived (see _listen)
        self._heard_lock = threading.Lock()
        self._ids: dict[tuple[str, str], int] = {}
        # What the last delta left each Series at (None until the first full packet:
        # deltas continue from there; a full packet sent later does not move them).
        self._marks: dict | None = None
        self._seq = 0
        self._last = float("-inf")  # never: the first change is sent at once
        self._said = None
        self._keyframe = time.monotonic()  # when the last full packet went out while live
        self._png = (None, (b"", 0))
        super().__init__(_uid=uuid.uuid4().hex, **kwargs)
        self.on_msg(self._on_front_end)
        self._listen()

    # -- the page's state while the kernel is busy --------------------------------------
    def _listen(self) -> None:
        """Hear the page's clicks while a watched cell still runs. The kernel handles a
        widget's messages only between cells, so the traits learn a click made during
        training after the cell has ended, too late for the saved copy written at its end
        (and ipywidgets holds a model's updates back while the kernel is busy). So the
        page also tells its state as a message of its own (``{"page": {...}}``, widget.js)
        on each change, and ipykernel 7 reads each message on its shell-channel thread
        first, asking the comm where to route it (``_reply_subshell_for``): there the
        state is noted, at once, and the message goes on as before. Elsewhere nothing is
        noted and :meth:`page_state` gives the traits."""
        comm = getattr(self, "comm", None)
        route = getattr(comm, "_reply_subshell_for", None)
        if comm is None or route is None:
            return

        def heard(data, default):
            try:
                content = data.get("content") if isinstance(data, dict) and data.get("method") == "custom" else None
                page = content.get("page") if isinstance(content, dict) else None
                if isinstance(page, dict):
                    got = {k: v for k, v in page.items() if k in self.STATE or k == "height"}
                    if got:
                        with self._heard_lock:
                            self._heard.update(got)
            except Exception:  # noqa: BLE001 - routing must go on whatever a message holds
                pass
            return route(data, default)

        comm._reply_subshell_for = heard

    def page_state(self) -> dict:
        """What the page shows (kind, tensor, view, step, opts, height), as last heard:
        the traits, updated by what :meth:`_listen` noted since they last changed."""
        state = {k: getattr(self, k) for k in self.STATE}
        with self._heard_lock:
            state.update(self._heard)
        out = {k: state[k] for k in self.STATE if state.get(k) not in (None, "")}
        if isinstance(state.get("height"), (int, float)) and state["height"] > 0:
            out["height"] = int(state["height"])
        return out

    @traitlets.observe(*STATE)
    def _forget_heard(self, change) -> None:
        with self._heard_lock:  # the trait has caught up with what was heard
            if change["name"] in self._heard and self._heard[change["name"]] == change["new"]:
                del self._heard[change["name"]]

    # -- packets -----------------------------------------------------------------------
    def _header(self, full: bool) -> dict:
        hd = header(self.recording, full=full, live=self.live, seq=self._seq if full else self._seq + 1)  # a delta carries its own number
        hd["saving"] = self.saving
        return hd

    def _said_of(self, header: dict):
        return (json.dumps(json_safe([header["findings"], header["status"]])), tuple(header["notes"]), header["live"], header["first_nonfinite"], header.get("saving"))

    def _each(self):
        rec = self.recording
        for kind in KINDS:
            if kind in rec.kinds:
                for name in rec.names(kind):
                    yield kind, name

    def _scalars(self):
        for metric in SCALARS:
            for name in self.recording.scalar_names(metric):
                yield metric, name

    def _full_packet(self):
        """``(packet, marks)``: the full packet (every Series' latest snapshot and how many
        are kept; every kept snapshot when all fit in :attr:`history_budget`), and the
        Recording's state it shows."""
        rec = self.recording
        pk = Packet(rec, self._header(True))
        marks = {}
        # each read takes the lock on its own: the training thread never waits for a page
        latest = {key: rec.latest(*key) for key in self._each()}
        scalars = {key: rec.scalar_latest(*key) for key in self._scalars()}
        whole = sum(lt.kept * row_bytes(lt.row.size - H.EXTRA) for lt in latest.values() if lt) <= self.history_budget
        for (kind, name), lt in latest.items():
            if lt is None:
                continue
            entry = {"id": self._ids.setdefault((kind, name), len(self._ids)), "after": None, "kept": lt.kept}
            B = lt.row.size - H.EXTRA
            entry["norm0"] = lt.first[B + H.NORM] if lt.first[:B].sum() > 0 else None  # for "norm change since the first step"
            if whole:
                ch = rec.changes(kind, name)
                entry["kept"] = ch.kept  # rows may have come since: these are all of them
                pk.series(entry, kind, name, ch.steps, ch.walls, ch.rows, ch.edges)
            else:
                pk.series(entry, kind, name, [lt.step], [lt.wall], lt.row[None], None if lt.edges is None else lt.edges[None])
            marks[(kind, name)] = lt.mark
        for (metric, name), lt in scalars.items():
            if lt is None:
                continue
            entry = {"metric": metric, "name": name, "after": None, "kept": lt.kept}
            if whole:
                ch = rec.scalar_changes(metric, name)
                entry["kept"] = ch.kept
                pk.track(entry, ch.steps, ch.rows[:, 0])
            else:
                pk.track(entry, [lt.step], lt.row[:1])
            marks[("scalar", metric, name)] = lt.mark
        return pk, marks

    def _delta_packet(self, marks: dict):
        """``(packet, said)``: what is new since ``marks`` (None when nothing is), and the
        header's findings/notes/state; ``marks`` is updated to what the packet carries.
        Nothing else changes: the caller commits."""
        rec = self.recording
        pk = Packet(rec, self._header(False))
        for kind, name in list(self._each()):
            ch = rec.changes(kind, name, marks.get((kind, name)))
            if ch is None:
                continue
            marks[(kind, name)] = ch.mark
            entry = {"id": self._ids.setdefault((kind, name), len(self._ids)), "after": ch.after, "kept": ch.kept}
            pk.series(entry, kind, name, ch.steps, ch.walls, ch.rows, ch.edges, ch.keep)
        for metric, name in list(self._scalars()):
            ch = rec.scalar_changes(metric, name, marks.get(("scalar", metric, name)))
            if ch is None:
                continue
            marks[("scalar", metric, name)] = ch.mark
            pk.track({"metric": metric, "name": name, "after": ch.after, "kept": ch.kept}, ch.steps, ch.rows[:, 0], ch.keep)
        said = self._said_of(pk.header)
        if not pk.header["series"] and not pk.header["scalars"] and said == self._said:
            return None, said
        return pk.encode(), said

    def _answer_header(self, want: str, kind: str) -> dict:
        return {"v": VERSION, "seq": self._seq, "history": True, "want": want, "kind": kind, "bins": self.recording.bins, "series": [], "scalars": []}

    def _history_packet(self, kind: str, names) -> bytes:
        """Every kept snapshot of each of ``names`` of ``kind`` (unknown names are left
        out), with their scalar series: what the page asks for when it opens a Series."""
        rec = self.recording
        pk = Packet(rec, self._answer_header("series", kind))
        known = set(rec.names(kind)) if kind in rec.kinds else set()
        model_of = rec.model_of()
        sent = set()
        for name in dict.fromkeys(n for n in names if n in known):
            ch = rec.changes(kind, name)
            entry = {"id": self._ids.setdefault((kind, name), len(self._ids)), "after": None, "kept": ch.kept}
            pk.series(entry, kind, name, ch.steps, ch.walls, ch.rows, ch.edges)
            for metric in SCALARS:
                of = model_of.get(name) if metric in MODEL_SCALARS else name  # grad_norm: the tensor's model's
                if of is not None and (metric, of) not in sent and of in rec.scalar_names(metric):
                    sent.add((metric, of))
                    c = rec.scalar_changes(metric, of)
                    pk.track({"metric": metric, "name": of, "after": None, "kept": c.kept}, c.steps, c.rows[:, 0])
        return pk.encode()

    def _depth_packet(self, kind: str, metrics) -> bytes:
        """One number per kept step of every Series of ``kind``, for each of ``metrics``
        (a scalar series such as ``update_ratio``, or a statistic of the rows in
        :data:`STATS`, sent as ``"<kind>.<stat>"``): the depth × step view's data."""
        rec = self.recording
        pk = Packet(rec, self._answer_header("depth", kind))
        pk.header["metrics"] = [m for m in metrics if m in SCALARS or m in STATS]
        names = rec.names(kind) if kind in rec.kinds else []
        for metric in pk.header["metrics"]:
            if metric in STATS:
                for name in names:
                    steps, values = rec.stat(kind, name, STATS[metric])
                    pk.track({"metric": f"{kind}.{metric}", "name": name, "after": None, "kept": int(steps.size)}, steps, values)
            else:
                have = set(rec.scalar_names(metric))
                for name in names:
                    if name in have:
                        c = rec.scalar_changes(metric, name)
                        pk.track({"metric": metric, "name": name, "after": None, "kept": c.kept}, c.steps, c.rows[:, 0])
        return pk.encode()

    def _state_packet(self) -> bytes:
        """The widget state's data (display, reload): the full packet. The first one also
        sets where deltas continue from; later ones leave that alone, so a page that
        followed every delta misses nothing (it keeps what it has), while a page that was
        behind starts over from this one."""
        pk, marks = self._full_packet()
        if self._marks is None:
            self._marks = marks
        self._said = self._said_of(pk.header)
        return pk.encode()

    def _send_full(self) -> None:
        """Send the full packet to every view."""
        self.send({"tfhist": "full"}, buffers=[self._state_packet()])

    def _on_front_end(self, _widget, content, _buffers) -> None:
        if not isinstance(content, dict):
            return
        want = content.get("want")
        if want == "full":
            self._send_full()
        elif want == "series" and isinstance(content.get("names"), list):
            self.send({"tfhist": "series"}, buffers=[self._history_packet(str(content.get("kind")), [str(n) for n in content["names"]])])
        elif want == "depth" and isinstance(content.get("metrics"), list):
            self.send({"tfhist": "depth"}, buffers=[self._depth_packet(str(content.get("kind")), [str(m) for m in content["metrics"]])])

    # -- updates -----------------------------------------------------------------------
    def refresh(self) -> bool:
        """Send what is new since the last update; True when something was sent.

        While live, a full packet also goes out every :attr:`keyframe_interval` seconds,
        after the delta and with its number: a page that missed a delta (reloaded,
        reconnected) asks for everything, but the kernel only hears it once the cell
        ends, so this is how such a page is brought up to date while ``fit`` still runs.
        Pages that missed nothing keep what they hold; deltas go on from the last one."""
        now = time.monotonic()
        self._last = now
        if self._marks is None:  # no page has any state yet: it will get all of it
            self._state_packet()
            return False
        marks = dict(self._marks)
        packet, said = self._delta_packet(marks)
        if packet is not None:
            self._seq += 1
            self.send({"tfhist": "delta"}, buffers=[packet])
            self._marks, self._said = marks, said
        if self.live and now - self._keyframe >= self.keyframe_interval:
            self._keyframe = now
            self._send_full()  # after the delta, with its number: pages that have it keep what they hold
            return True
        return packet is not None

    def on_recording_changed(self, rec) -> None:
        """Recording listener: send new rows at most every ``live_interval`` seconds."""
        if time.monotonic() - self._last >= self.live_interval:
            self.refresh()

    def start_live(self) -> None:
        """Follow the Recording while a watched cell fills it."""
        if not self.live:
            self.live = True
            self.refresh()
        self.recording.subscribe(self.on_recording_changed)

    def finish(self, saving: bool = False) -> None:
        """The cell ended: send the last rows and say the recording is complete
        (``saving``: and that its saved copy is being built, to take this one's place)."""
        self.recording.unsubscribe(self.on_recording_changed)
        self.live = False
        self.saving = saving
        self.refresh()

    # -- static faces ------------------------------------------------------------------
    def png(self) -> tuple[bytes, int]:
        """The overview picture and its display width (drawn once per state of the
        Recording, with Pillow: see ``static.py``)."""
        from .static import overview_png

        key = (len(self.recording), self.recording.steps.size, tuple(self.recording.notes))
        if self._png[0] != key:
            self._png = (key, overview_png(self.recording))
        return self._png[1]

    def _repr_mimebundle_(self, **kwargs):
        data = super()._repr_mimebundle_(**kwargs) or {}
        if isinstance(data, tuple):
            data = data[0]
        data, meta = dict(data), {}
        text = self.recording.summary()
        if len(self.recording) and not self.live:
            try:
                png, width = self.png()
            except Exception as e:  # noqa: BLE001 - the widget and text must still show
                text += f"\n(the static picture could not be drawn: {type(e).__name__}: {e})"
            else:
                data["image/png"] = base64.b64encode(png).decode("ascii")
                meta["image/png"] = {"width": width}
        data["text/plain"] = text
        return data, meta
