"""The dashboard's data format: one binary packet, read by ``dashboard.js`` (``decode``
there) and by :func:`decode` here. Shared by the live widget (``widget.py``) and the
copy saved in the notebook (``saved.py``): the same bytes, the same page code.

A packet is ``MAGIC``, a JSON header (kinds, findings, notes, one entry per Series and
scalar series) and the concatenated arrays of its rows (see :data:`ARRAYS`).
"""

from __future__ import annotations

import json
import struct
from time import time as _unix_time

import numpy as np

from .. import constants as C
from .. import histogram as H

__all__ = ["ARRAYS", "TRACK_ARRAYS", "SCALARS", "STATS", "VERSION", "Packet", "decode", "encode", "header", "json_safe", "row_bytes"]

MAGIC = b"TFH1"
VERSION = 2


#: A packet's arrays, each the concatenation over its Series in header order: steps, Keras
#: epochs (0-based, -1 unknown), wall times, the exact bin counts (uint32, or float64 if
#: any count needs more), the row's other numbers (``histogram.EXTRA``: NaN/±Inf/zero
#: counts, min, max, mean, std, norm, width), ``lo, w, hi`` from which the page computes
#: the exact edges with the binning rule's own arithmetic (``dashboard.js: binEdges``,
#: tested against ``histogram.bin_edges``; a Series with explicit edges, imported from
#: TensorBoard, sends its ``B+1`` edges instead), and the steps still kept after a
#: thinning (``keep``). About 380 bytes a snapshot at 64 bins.
ARRAYS = ("steps", "epochs", "wall", "counts", "extra", "lwh", "keep")
#: Then the scalar series' arrays (one number a step), concatenated the same way.
TRACK_ARRAYS = ("steps", "values", "keep")
#: The Recording's scalar series the page draws under a tensor's histogram (all of them:
#: ``constants.SCALARS``; ``grad_norm`` is named by the model, drawn under its gradients).
SCALARS = C.SCALARS
#: Statistics of the rows the depth view can draw (besides the scalar series), sent as
#: tracks named ``"<kind>.<stat>"``: ``constants.STATS``, each to its column of a row.
STATS = {name: C.EXTRA_COLUMNS.index(name) for name in C.STATS}


def json_safe(obj):
    """``obj`` with every float that is not finite (NaN, +-Inf) made ``null``, at any
    depth: JSON has no such numbers, and the page reads null as "not a number"."""
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
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
    head = json.dumps(json_safe(header), separators=(",", ":"), allow_nan=False).encode()
    head += b" " * (-(len(MAGIC) + 4 + len(head)) % 8)
    body = b"".join(a.tobytes() + b"\0" * (-a.nbytes % 8) for a in arrays)
    return MAGIC + struct.pack("<I", len(head)) + head + body


def decode(packet: bytes) -> dict:
    """Read a packet back (what ``dashboard.js`` does): the header, with each Series'
    arrays (``ARRAYS``, ``keep`` None unless thinned), plus ``rows`` (the Recording's rows)
    and ``edges``; each scalar series with its ``steps``, ``values`` and ``keep``."""
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
    parts = dict(zip(ARRAYS, flat[: len(ARRAYS)]))
    o = dict.fromkeys(ARRAYS, 0)

    def take(key, size):
        a = parts[key][o[key] : o[key] + size]
        o[key] += size
        return a

    for s in header["series"]:
        k, B = s["n"], s.get("bins", header["bins"])
        s.update(steps=take("steps", k), epochs=take("epochs", k), wall=take("wall", k))
        s["counts"] = take("counts", k * B).reshape(k, B)
        s["rows"] = np.concatenate([s["counts"].astype(np.float64), take("extra", k * H.EXTRA).reshape(k, H.EXTRA)], axis=1)
        if s.get("explicit"):
            s["edges"] = take("lwh", k * (B + 1)).reshape(k, B + 1)
        else:
            lwh = take("lwh", 3 * k).reshape(k, 3)
            s["edges"] = H.edges_from(lwh[:, 0], lwh[:, 1], lwh[:, 2], B, H.compute_dtype(np.dtype(s["dtype"]))).astype(np.float64).reshape(k, B + 1)
        s["keep"] = take("keep", s["nkeep"]).astype(np.int64) if s.get("nkeep") else None
    tracks = dict(zip(TRACK_ARRAYS, flat[len(ARRAYS) :]))
    o = dict.fromkeys(TRACK_ARRAYS, 0)
    for c in header["scalars"]:
        for key, size in (("steps", c["n"]), ("values", c["n"]), ("keep", c.get("nkeep", 0))):
            c[key] = tracks[key][o[key] : o[key] + size]
            o[key] += size
        c["steps"] = c["steps"].astype(np.int64)
        c["keep"] = c["keep"].astype(np.int64) if c.get("nkeep") else None
    return header


class Packet:
    """A packet being built: header entries and their arrays, concatenated at the end."""

    def __init__(self, rec, header: dict):
        self.rec, self.header = rec, header
        self.rows = {k: [] for k in ARRAYS}
        self.tracks = {k: [] for k in TRACK_ARRAYS}
        self.big = False  # some count needs float64
        self.pending = []  # (slot in lwh, compute dtype, bins, mins, maxs) of Series whose lo, w, hi are due

    def series(self, entry: dict, kind: str, name: str, steps, walls, rows, edges=None, keep=None, rec=None) -> None:
        """Add ``rows`` of ``(kind, name)`` (``edges``: its explicit edges, if it has them;
        ``rec``: the Recording they come from, when not the packet's: a comparison's runs)."""
        rec = self.rec if rec is None else rec
        dtype = rec.dtype(kind, name)
        B = rows.shape[1] - H.EXTRA
        entry.update(kind=kind, name=name, dtype=dtype, n=int(len(steps)))
        if B != rec.bins:
            entry["bins"] = B
        if edges is not None:
            entry["explicit"] = True
            self.rows["lwh"].append(np.asarray(edges, dtype="<f8").ravel())
        else:  # the page derives the exact edges from lo, w, hi: computed at the end, for all Series at once
            self.pending.append((len(self.rows["lwh"]), H.compute_dtype(dtype), B, rows[:, B + H.MIN], rows[:, B + H.MAX]))
            self.rows["lwh"].append(None)
        if keep is not None:
            entry["nkeep"] = int(keep.size)
            self.rows["keep"].append(np.asarray(keep, dtype="<f8"))
        counts = rows[:, :B]
        self.big = self.big or bool(counts.size and counts.max() >= 2**32)
        self.rows["steps"].append(np.asarray(steps, dtype="<f8"))
        self.rows["epochs"].append(rec.epochs_of(steps, name).astype("<f8"))
        self.rows["wall"].append(np.asarray(walls, dtype="<f8"))
        self.rows["counts"].append(counts.ravel())
        self.rows["extra"].append(rows[:, B:].astype("<f8").ravel())
        self.header["series"].append(entry)

    def track(self, entry: dict, steps, values, keep=None) -> None:
        """Add a scalar series' ``values`` at ``steps``."""
        entry["n"] = int(len(steps))
        if keep is not None:
            entry["nkeep"] = int(keep.size)
            self.tracks["keep"].append(np.asarray(keep, dtype="<f8"))
        self.tracks["steps"].append(np.asarray(steps, dtype="<f8"))
        self.tracks["values"].append(np.asarray(values, dtype="<f8"))
        self.header["scalars"].append(entry)

    def _lwh(self) -> None:
        """Fill in ``lo, w, hi`` of every Series that needs them, one NumPy call per
        (dtype, bins) rather than per Series (600 Series: 80 ms -> a few)."""
        groups: dict = {}
        for item in self.pending:
            groups.setdefault((item[1], item[2]), []).append(item)
        for (dt, B), items in groups.items():
            lo, hi = H.binning_range(np.concatenate([it[3] for it in items]), np.concatenate([it[4] for it in items]), dt)
            lwh = np.stack([lo, H.bin_width(lo, hi, B, dt), hi], axis=-1).astype("<f8")
            at = 0
            for slot, _, _, mins, _ in items:
                self.rows["lwh"][slot] = lwh[at : at + mins.size].ravel()
                at += mins.size
        self.pending = []

    def encode(self) -> bytes:
        self._lwh()
        arrays = []
        for key in ARRAYS:
            parts = self.rows[key]
            a = np.concatenate(parts) if parts else np.zeros(0)
            arrays.append(a.astype(("<f8" if self.big else "<u4") if key == "counts" else "<f8"))
        for key in TRACK_ARRAYS:
            parts = self.tracks[key]
            arrays.append((np.concatenate(parts) if parts else np.zeros(0)).astype("<f8"))
        return encode(self.header, arrays)


def row_bytes(bins: int) -> int:
    """What one snapshot costs in a packet (counts as uint32, 10 extra numbers, steps,
    epochs, wall times, lo/w/hi)."""
    return 4 * bins + 8 * (H.EXTRA + 6)


def header(rec, *, full: bool, live: bool, seq: int) -> dict:
    """A packet's header for ``rec``: what every packet that is not an answer carries
    (kinds, models, findings, notes, state, the findings' thresholds); its Series and
    scalar series are added by :class:`Packet`."""
    from .. import health

    with rec.lock:  # what the training thread writes, read as of one moment
        model_of, notes, first = rec.model_of(), list(rec.notes), rec.first_nonfinite
    return {
        "v": VERSION,
        "seq": seq,
        "full": full,
        "live": live,
        "status": rec.status,
        "now": _unix_time(),  # the page counts the status' elapsed time from here
        "bins": rec.bins,
        "kinds": list(rec.kinds),
        "models": model_of,
        "findings": health.locate(rec) if len(rec) else [],
        "notes": notes,
        "first_nonfinite": first,
        "thresholds": {
            "update_ratio": [health.UPDATE_RATIO_LOW, health.UPDATE_RATIO_HIGH],
            "dead_units": health.DEAD_UNITS_SHARE,
            "saturation": health.SATURATION_SHARE,
        },
        "series": [],
        "scalars": [],
    }
