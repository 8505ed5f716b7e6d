"""A Recording's file: ``Recording.save`` and ``Recording.load`` (``.npz``, nothing pickled).

Owns the file format: a JSON ``meta`` entry (the format's name and version, the
Recording's settings, models, epoch marks, notes, pins, findings, and an index of the
arrays) and each kept Series' and scalar series' rows, steps and wall times as arrays;
and the reader of files from before the format had a version (0.1). Reads the store
through :meth:`~tfhist_magic.store.Store.series_stores` and
:meth:`~tfhist_magic.store.Store.scalar_stores`; a file is loaded as blocks handed to
:func:`~tfhist_magic.block.deliver`, whose ``kept`` entries restore the rows exactly as
they were kept (thinning state included), and whose ``findings`` are the saved ones.

Format versions: 2 keeps ``epochs`` (every mark, for readers of 2) and, since epoch
marks are per model, ``epoch_marks`` (``[model or null, step, epoch]``), which readers
of 2 ignore: files stay readable both ways.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from . import histogram as H
from .block import Block, deliver
from .constants import KINDS

__all__ = ["FILE_FORMAT", "FILE_VERSION", "RecordingFileError", "load", "save"]

#: What :func:`save` writes in its metadata, and the newest version :func:`load` reads.
FILE_FORMAT = "tfhist-recording"
FILE_VERSION = 2


class RecordingFileError(ValueError):
    """A file :meth:`Recording.load` cannot read: one line naming the file and why."""


def _meta(rec) -> dict:
    marks = rec.epoch_marks()
    merged = {s: e for m in marks for s, e in marks[m]}  # readers of version 2: one list
    return {
        "format": FILE_FORMAT,
        "version": FILE_VERSION,
        "bins": rec.bins,
        "max_snapshots": rec.max_snapshots,
        "epochs": [list(e) for e in sorted(merged.items())],
        "epoch_marks": [[m, s, e] for m, ms in marks.items() for s, e in ms],
        "first_nonfinite": rec.first_nonfinite,
        "models": rec.models,
        "outputs": sorted(rec.outputs),
        "notes": rec.notes,
        "pins": sorted(rec.pins),
        "findings": [f.as_dict() for f in rec.findings()],
        "series": [],
        "scalars": [],
    }


def save(rec, path) -> None:
    """Write ``rec`` to ``path`` (see :meth:`Recording.save`): what it holds is copied
    under its lock (the training thread thins kept rows in place and adds models), then
    compressed and written outside it."""
    with rec.lock:
        meta = _meta(rec)
        arrays = {}

        def put(entry: dict, st, key: str) -> None:
            state = st.state()
            entry.update(key=key, stride=state["stride"], seen=state["seen"], thins=state["thins"], latest=state["latest"], columns=st.rows.shape[1], kept=state["kept"])
            arrays[key + "/rows"], arrays[key + "/steps"], arrays[key + "/walls"] = (np.array(a) for a in st.arrays())

        counts: dict = {}
        for kind, name, dtype, st, ex in rec.series_stores():
            i = counts[kind] = counts.get(kind, -1) + 1
            entry = {"kind": kind, "name": name, "dtype": dtype}
            put(entry, st, f"s/{kind}/{i}")
            if ex is not None:
                entry["edges"] = {}
                put(entry["edges"], ex, f"e/{kind}/{i}")
            meta["series"].append(entry)
        for metric, name, st in rec.scalar_stores():
            i = counts[metric] = counts.get(metric, -1) + 1
            entry = {"metric": metric, "name": name}
            put(entry, st, f"c/{metric}/{i}")
            meta["scalars"].append(entry)
        arrays["meta"] = np.frombuffer(json.dumps(meta, allow_nan=True).encode(), dtype=np.uint8)
    np.savez_compressed(path, **arrays)


def load(cls, path):
    """A ``cls`` (a Recording class) holding what :func:`save` wrote to ``path`` (see
    :meth:`Recording.load`)."""
    path = _saved_path(path)

    def bad(why: str) -> RecordingFileError:
        return RecordingFileError(f"{path}: {why}")

    z = _open(path, bad)
    try:
        with z:
            if "meta" not in z.files:
                if "meta/index" in getattr(z, "files", ()):
                    return _load_v1(cls, z)
                raise bad("not a tfhist Recording (no tfhist metadata in it)")
            try:
                meta = json.loads(bytes(z["meta"]).decode())
            except ValueError as e:
                raise bad(f"corrupt metadata ({_reason(e)})") from None
            if not isinstance(meta, dict) or meta.get("format") != FILE_FORMAT:
                raise bad("not a tfhist Recording (no tfhist metadata in it)")
            if int(meta.get("version", 0)) > FILE_VERSION:
                raise bad(f"written by a newer tfhist_magic (file format {meta['version']}, this version reads up to {FILE_VERSION}); upgrade tfhist_magic to read it")
            return _from_meta(cls, meta, z, bad)
    except RecordingFileError:
        raise
    except Exception as e:  # noqa: BLE001 - whatever a damaged archive raises (zlib.error, ...)
        raise bad(f"truncated or corrupt ({_reason(e)})") from None


def _open(path, bad):
    """The archive at ``path``, opened without pickles, or one line saying why not."""
    try:
        kind = _file_kind(path)
    except OSError as e:  # a directory, no permission, ...
        raise bad(f"cannot be read ({e.strerror or _reason(e)})") from None
    if kind == "empty":
        raise bad("not a tfhist Recording (an empty file)")
    if kind == "npy":
        raise bad("not a tfhist Recording (a single array, not a .npz archive)")
    if kind != "zip":  # np.load would try it as a pickle, and say so
        raise bad("not a tfhist Recording (not a .npz archive)")
    try:
        return np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise
    except Exception as e:  # noqa: BLE001 - BadZipFile, NotImplementedError (a damaged header), ...
        raise bad(f"not a tfhist Recording (not a readable .npz file: {_reason(e)})") from None


def _arrays(z, entry: dict, columns: int, bad):
    """``(steps, walls, rows, state)`` of one saved store, checked."""
    key = entry["key"]
    rows = np.asarray(z[key + "/rows"], dtype=np.float64)
    steps = np.asarray(z[key + "/steps"], dtype=np.int64)
    walls = np.asarray(z[key + "/walls"], dtype=np.float64)
    if rows.ndim != 2 or rows.shape[1] != columns or not (len(rows) == len(steps) == len(walls)):
        raise bad(f"truncated or corrupt (arrays of {key} have shapes {rows.shape}, {steps.shape}, {walls.shape})")
    state = {k: entry[k] for k in ("stride", "seen", "thins", "latest", "kept")}
    if int(state["kept"]) + bool(state["latest"]) != len(rows):
        raise bad(f"truncated or corrupt ({key} holds {len(rows)} rows, the index says {state['kept']})")
    return steps, walls, rows, state


def _from_meta(cls, meta: dict, z, bad):
    rec = cls(bins=int(meta["bins"]), max_snapshots=int(meta["max_snapshots"]))
    saved = list(meta["findings"])
    for e in meta["series"]:
        kind, name = e["kind"], e["name"]
        if kind not in KINDS:
            raise bad(f"truncated or corrupt (unknown kind {kind!r})")
        edges = None
        if "edges" in e:
            _, _, edges, _ = _arrays(z, e["edges"], int(e["edges"]["columns"]), bad)
            width = edges.shape[1] - 1 + H.EXTRA
        else:
            width = rec.bins + H.EXTRA
        steps, walls, rows, state = _arrays(z, e, width, bad)
        b = Block(steps=steps, walls=walls, names={kind: [name]}, dtypes={kind: [str(e["dtype"])]}, rows={kind: rows[:, None]}, kept={(kind, name): state}, findings=saved)
        if edges is not None:
            b.edges[kind] = edges[:, None]
        deliver(rec, b, notify=False)
    scalars, kept = {}, {}
    for e in meta["scalars"]:
        steps, walls, values, kept[(e["metric"], e["name"])] = _arrays(z, e, 1, bad)
        scalars[(e["metric"], e["name"])] = (steps, values[:, 0], walls)
    deliver(rec, Block(scalars=scalars, kept=kept, findings=saved), notify=False)
    if "epoch_marks" in meta:
        marks: dict = {}
        for m, s, ep in meta["epoch_marks"]:
            marks.setdefault(None if m is None else str(m), {})[int(s)] = int(ep)
    else:  # version 2 before marks were per model: marks of no model
        marks = {None: {int(s): int(ep) for s, ep in meta["epochs"]}}
    outputs = [str(n) for n in meta.get("outputs", ())]
    for m, ns in meta["models"].items():
        deliver(rec, Block(model=str(m), names={"": [str(n) for n in ns]}, outputs=outputs, findings=saved), notify=False)
    for m, ms in marks.items():
        deliver(rec, Block(model=m, epochs=ms, findings=saved), notify=False)
    if meta["first_nonfinite"] is not None:
        deliver(rec, Block(nonfinite=int(meta["first_nonfinite"]), findings=saved), notify=False)
    for n in meta["notes"]:
        rec.note(str(n))
    for p in meta["pins"]:
        rec.pin(int(p))
    return rec


def _load_v1(cls, z):
    """Files from before the format had a version (0.1): fixed keys, every row kept."""
    rec = cls(bins=int(z["meta/bins"]), max_snapshots=max(int(z["meta/max"]), 2))
    for kind, name, dtype, key in z["meta/index"]:
        rows = np.asarray(z[key + "/rows"], dtype=np.float64)
        state = {"kept": len(rows), "stride": 1, "seen": len(rows), "thins": 0, "latest": False}
        deliver(rec, Block(steps=z[key + "/steps"], walls=z[key + "/wall"], names={str(kind): [str(name)]}, dtypes={str(kind): [str(dtype)]}, rows={str(kind): rows[:, None]}, kept={(str(kind), str(name)): state}), notify=False)
    deliver(rec, Block(epochs={int(a): int(b) for a, b in z["meta/epochs"]}), notify=False)
    for m, n in z["meta/models"]:
        deliver(rec, Block(model=str(m), names={"": [str(n)]}), notify=False)
    for n in z["meta/notes"]:
        rec.note(str(n))
    if "meta/first_nonfinite" in z and int(z["meta/first_nonfinite"]) >= 0:
        deliver(rec, Block(nonfinite=int(z["meta/first_nonfinite"])), notify=False)
    return rec


def _saved_path(path):
    """Where :meth:`Recording.save` put ``path``: NumPy adds ``.npz`` to a name without
    it, so ``"run"`` is read as ``"run.npz"`` when there is no file ``"run"``."""
    if hasattr(path, "read"):  # an open file
        return path
    p = Path(path)
    if p.exists():
        return p
    if p.suffix != ".npz":
        alt = p.with_name(p.name + ".npz")
        if alt.exists():
            return alt
        raise FileNotFoundError(f"{p}: no such file (nor {alt})")
    raise FileNotFoundError(f"{p}: no such file")


def _file_kind(path) -> str:
    """``"zip"`` (a ``.npz`` archive), ``"npy"`` (one array), ``"empty"`` or ``"other"``,
    from the file's first bytes."""
    if hasattr(path, "read"):
        at = path.tell()
        head = path.read(6)
        path.seek(at)
    else:
        with open(path, "rb") as f:
            head = f.read(6)
    if not head:
        return "empty"
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):  # what np.load takes for a .npz
        return "zip"
    if head.startswith(b"\x93NUMPY"):
        return "npy"
    return "other"


def _reason(e: BaseException) -> str:
    """What went wrong, on one line, without NumPy's advice to load pickles."""
    text = " ".join(str(e).split())
    if "pickle" in text:  # an object array in the archive: never loaded
        return "it holds Python objects, which a Recording never does"
    return f"{type(e).__name__}: {text}" if text else type(e).__name__
