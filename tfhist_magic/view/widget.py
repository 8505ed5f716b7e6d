"""The dashboard: an anywidget whose drawing and interaction run in the browser.

The kernel sends data, not pictures: each Series' kept rows (exact counts, non-finite
counts, statistics), the exact bin edges, steps, epochs and wall times, packed as one
binary buffer (:func:`encode`). A live update sends only what is new since the last one
(:meth:`Recording.delta`), at most every ``live_interval`` seconds, so nothing is drawn
on the training thread. Tabs, the tensor picker, the step slider and every view are
JavaScript (``dashboard.js``, shipped in the package, no CDN), so they respond while the
kernel is busy training.

Like ipympl, the displayed bundle also carries ``image/png`` (drawn once, when asked for)
and ``text/plain``, so nbconvert HTML, GitHub and terminals show the run where no widget
can.
"""

from __future__ import annotations

import base64
import json
import struct
import time
import uuid
from pathlib import Path

import anywidget
import numpy as np
import traitlets

from .. import histogram as H
from ..recording import KINDS

__all__ = ["Dashboard", "encode", "decode"]

_HERE = Path(__file__).parent
MAGIC = b"TFH1"
VERSION = 1


#: Each Series' arrays in a packet, in order: steps, Keras epochs (0-based, -1 unknown),
#: wall times, the exact bin counts (uint32, or float64 if any count needs more), the
#: row's other numbers (``histogram.EXTRA``: NaN/±Inf/zero counts, min, max, mean, std,
#: norm, width), and ``lo, w, hi`` from which the page computes the exact edges with the
#: binning rule's own arithmetic (``dashboard.js: binEdges``, tested against
#: ``histogram.bin_edges``). About 380 bytes a snapshot at 64 bins. A Series with
#: explicit edges (imported from TensorBoard) sends its edges instead of ``lo, w, hi``.
ARRAYS = ("steps", "epochs", "wall", "counts", "extra", "lwh")
#: The Recording's scalar series the page draws under a tensor's histogram (as JSON
#: lists in the header, only what is new: they are one number a snapshot).
SCALARS = ("update_ratio", "dead_units", "saturation")


def _json_safe(obj):
    """``obj`` with every float that is not finite (NaN, +-Inf) made ``null``, at any
    depth: JSON has no such numbers, and the page reads null as "not a number"."""
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, (float, np.floating)):
        return float(obj) if np.isfinite(obj) else None
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


def encode(header: dict, arrays) -> bytes:
    """``MAGIC``, the header's length (uint32 LE), the header as JSON (with the dtype and
    size of each array added as ``layout``), spaces up to a multiple of 8 bytes, then each
    array (little-endian ``f8`` or ``u4``), each padded to a multiple of 8 bytes."""
    arrays = [np.ascontiguousarray(a) for a in arrays]
    header = dict(header, layout=[[a.dtype.str[1:], int(a.size)] for a in arrays])
    head = json.dumps(_json_safe(header), separators=(",", ":"), allow_nan=False).encode()
    head += b" " * (-(len(MAGIC) + 4 + len(head)) % 8)
    body = b"".join(a.tobytes() + b"\0" * (-a.nbytes % 8) for a in arrays)
    return MAGIC + struct.pack("<I", len(head)) + head + body


def decode(packet: bytes) -> dict:
    """Read a packet back (what ``dashboard.js`` does): the header, with each Series'
    arrays (``ARRAYS``), plus ``rows`` (the Recording's rows) and ``edges``."""
    packet = bytes(packet)
    if packet[:4] != MAGIC:
        raise ValueError("not a tfhist dashboard packet")
    (n,) = struct.unpack("<I", packet[4:8])
    header = json.loads(packet[8 : 8 + n])
    at, flat = 8 + n, []
    for dt, size in header["layout"]:
        a = np.frombuffer(packet, dtype="<" + dt, count=size, offset=at)
        flat.append(a)
        at += a.nbytes + (-a.nbytes % 8)
    B = header["bins"]
    for j, s in enumerate(header["series"]):
        parts = dict(zip(ARRAYS, flat[j * len(ARRAYS) : (j + 1) * len(ARRAYS)]))
        k = s["n"]
        s.update(steps=parts["steps"], epochs=parts["epochs"], wall=parts["wall"])
        s["counts"] = parts["counts"].reshape(k, B)
        s["rows"] = np.concatenate([s["counts"].astype(np.float64), parts["extra"].reshape(k, H.EXTRA)], axis=1)
        lwh = parts["lwh"].reshape(k, 3)
        dt = np.dtype(s["dtype"])
        s["edges"] = H._edges(lwh[:, 0], lwh[:, 1], lwh[:, 2], B, H.compute_dtype(dt)).astype(np.float64).reshape(k, B + 1)
    return header


class Dashboard(anywidget.AnyWidget):
    """The tabbed widget for a Recording: tabs for the recorded kinds, a tensor picker,
    a step slider, views (step, overlay, offset, heatmap, distribution, grid) and the
    findings. A widget in its own right: put it in a ``VBox``, display it twice.

    ``kind``, ``tensor``, ``view`` and ``step`` (-1 follows the latest) are what the
    browser shows; set them from Python or click in the page.
    """

    _esm = _HERE / "dashboard.js"
    _css = _HERE / "dashboard.css"

    kind = traitlets.Unicode("").tag(sync=True)
    tensor = traitlets.Unicode("").tag(sync=True)
    view = traitlets.Unicode("step").tag(sync=True)
    step = traitlets.Int(-1).tag(sync=True)
    # Names this widget's data in the page, shared by all its views.
    _uid = traitlets.Unicode().tag(sync=True)
    # The full data, packed when the front end asks for the state (display, reload):
    # the trait's value is only a counter; the serializer reads the Recording.
    _data = traitlets.Int(0).tag(sync=True, to_json=lambda _, self: self._state_packet())

    #: Seconds between the full packets sent while live (see :meth:`refresh`).
    keyframe_interval = 10.0

    def __init__(self, recording, *, live_interval: float = 0.5, live: bool = False, **kwargs):
        self.recording = recording
        self.live_interval = float(live_interval)
        self.live = live  # still recording: the page says so, the static faces wait
        self._ids: dict[tuple[str, str], int] = {}
        self._marks: dict[tuple[str, str], tuple] = {}
        self._seq = 0
        self._last = float("-inf")  # never: the first change is sent at once
        self._said = None
        self._keyframe = time.monotonic()  # when the last full packet went out while live
        self._png = (None, (b"", 0))
        super().__init__(_uid=uuid.uuid4().hex, **kwargs)
        self.on_msg(self._on_front_end)

    # -- packets -----------------------------------------------------------------------
    def _header(self, full: bool, marks: dict) -> dict:
        from .. import health

        rec = self.recording
        model_of = {n: m for m, ns in rec.models.items() for n in ns}
        found = health.locate(rec) if len(rec) else []
        scalars = []
        for metric in SCALARS:
            for name in rec.scalar_names(metric):
                key = ("scalar", metric, name)
                got = rec.scalar_delta(metric, name, None if full else marks.get(key))
                if got is None:
                    continue
                mark, start, values, steps, _ = got
                marks[key] = mark
                scalars.append({"metric": metric, "name": name, "start": int(start), "steps": steps.tolist(), "values": [float(v) for v in values]})
        return {
            "v": VERSION,
            "seq": self._seq if full else self._seq + 1,  # a delta carries its own number
            "full": full,
            "live": self.live,
            "bins": rec.bins,
            "kinds": list(rec.kinds),
            "models": model_of,
            "findings": found,
            "notes": list(rec.notes),
            "first_nonfinite": rec.first_nonfinite,
            "scalars": scalars,
            "thresholds": {
                "update_ratio": [health.UPDATE_RATIO_LOW, health.UPDATE_RATIO_HIGH],
                "dead_units": health.DEAD_UNITS_SHARE,
                "saturation": health.SATURATION_SHARE,
            },
            "series": [],
        }

    def _packet(self, full: bool, marks: dict):
        """``(packet, said)``: everything kept (``full``), or what is new since ``marks``
        (None when nothing is), and the header's findings/notes/state; ``marks`` is
        updated to what the packet carries. Nothing else changes: the caller commits."""
        rec = self.recording
        header = self._header(full, marks)
        arrays = []
        for kind in KINDS:
            if kind not in rec.kinds:
                continue
            for name in rec.names(kind):
                key = (kind, name)
                got = rec.delta(kind, name, None if full else marks.get(key))
                if got is None:
                    continue
                mark, start, rows, steps, walls = got
                marks[key] = mark
                sid = self._ids.setdefault(key, len(self._ids))
                dtype = rec.dtype(kind, name)
                B, dt = rows.shape[1] - H.EXTRA, H.compute_dtype(dtype)
                explicit = rec.explicit_edges(kind, name)
                header["series"].append(
                    {"id": sid, "kind": kind, "name": name, "dtype": dtype, "start": int(start), "n": int(len(steps)),
                     "bins": int(B), "explicit": explicit is not None}
                )
                if explicit is None:  # the page derives the exact edges from lo, w, hi
                    lo, hi = H.binning_range(rows[:, B + H.MIN], rows[:, B + H.MAX], dt)
                    w = H.bin_width(lo, hi, B, dt)
                    edges = np.stack([lo, w, hi], axis=-1)
                else:  # bins of another rule (imported): the edges themselves
                    edges = explicit[start:]
                counts = rows[:, :B]
                counts = counts.astype("<u4") if counts.size == 0 or counts.max() < 2**32 else counts.astype("<f8")
                arrays += [
                    steps.astype("<f8"), rec.epochs_of(steps).astype("<f8"), walls.astype("<f8"), counts,
                    rows[:, B:].astype("<f8"), edges.astype("<f8"),
                ]
        said = (json.dumps(_json_safe(header["findings"])), tuple(header["notes"]), header["live"], header["first_nonfinite"])
        if not full and not header["series"] and not header["scalars"] and said == self._said:
            return None, said
        return encode(header, arrays), said

    def _state_packet(self) -> bytes:
        """The widget state's data (display, reload): everything kept so far. It is sent,
        so the next delta continues from it (a page that was behind sees where a delta
        starts, and asks for everything)."""
        marks: dict = {}
        packet, self._said = self._packet(True, marks)
        self._marks = marks
        return packet

    def _send_full(self) -> None:
        """Send everything to every view; the next delta continues from it."""
        self.send({"tfhist": "full"}, buffers=[self._state_packet()])

    def _on_front_end(self, _widget, content, _buffers) -> None:
        if isinstance(content, dict) and content.get("want") == "full":
            self._send_full()

    # -- updates -----------------------------------------------------------------------
    def refresh(self) -> bool:
        """Send what is new since the last update; True when something was sent.

        While live, a full packet goes out instead every :attr:`keyframe_interval`
        seconds: a page that missed a delta (reloaded, reconnected) asks for everything,
        but the kernel only hears it once the cell ends, so this is how such a page is
        brought up to date while ``fit`` still runs."""
        now = time.monotonic()
        self._last = now
        if self.live and now - self._keyframe >= self.keyframe_interval:
            self._keyframe = now
            self._send_full()
            return True
        marks = dict(self._marks)
        packet, said = self._packet(False, marks)
        if packet is None:
            return False
        self._seq += 1
        self.send({"tfhist": "delta"}, buffers=[packet])
        self._marks, self._said = marks, said
        return True

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

    def finish(self) -> None:
        """The cell ended: send the last rows and say the recording is complete."""
        self.recording.unsubscribe(self.on_recording_changed)
        self.live = False
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
