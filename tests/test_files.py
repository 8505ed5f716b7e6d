"""Recordings on disk: save/load exactly, and clear errors for files that are not one."""

import json
import pickle

import numpy as np
import pytest

from tfhist_magic import histogram as H
from tfhist_magic.recording import Recording, RecordingFileError


def _long_run(steps=512, max_snapshots=256):
    rng = np.random.default_rng(0)
    rec = Recording(bins=16, max_snapshots=max_snapshots)
    for step in range(steps):
        v = rng.normal(step * 1e-3, 1, size=40).astype(np.float32)
        if step == 301:
            v[3] = np.nan  # a finding starts here: pinned through thinning
        rec.add("grads", "dense/kernel", step, H.reference_row(v, 16))
        rec.add("weights", "dense/kernel", step, H.reference_row(v * 2, 16))
        rec.add_scalars("update_ratio", "dense/kernel", [step], [1e-3 + step * 1e-6])
    rec.mark_epoch(0, 0)
    rec.mark_epoch(256, 1)
    rec.add_model("mlp", ["dense/kernel"])
    rec.note("a note")
    return rec


def _same(a: Recording, b: Recording):
    assert (a.bins, a.max_snapshots, a.kinds, a.models, a.notes, a.first_nonfinite) == (b.bins, b.max_snapshots, b.kinds, b.models, b.notes, b.first_nonfinite)
    for kind in a.kinds:
        assert a.names(kind) == b.names(kind)
        for name in a.names(kind):
            x, y = a.series(kind, name), b.series(kind, name)
            assert x.dtype == y.dtype
            for f in ("steps", "epochs", "wall", "rows"):
                np.testing.assert_array_equal(getattr(x, f), getattr(y, f))
    for metric in ("update_ratio", "dead_units"):
        assert a.scalar_names(metric) == b.scalar_names(metric)
        for name in a.scalar_names(metric):
            for u, v in zip(a.scalar(metric, name), b.scalar(metric, name)):
                np.testing.assert_array_equal(u, v)
    assert [f.as_dict() for f in a.findings()] == [f.as_dict() for f in b.findings()]


def test_thinned_long_run_round_trips_exactly(tmp_path):
    rec = _long_run()
    s = rec.series("grads", "dense/kernel")
    assert len(s) > 129 and 301 in s.steps  # thinned once, the finding's step kept
    rec.save(tmp_path / "r.npz")
    back = Recording.load(tmp_path / "r.npz")
    _same(rec, back)
    # and it goes on as the original would
    for r in (rec, back):
        r.add("grads", "dense/kernel", 512, H.reference_row(np.ones(4, np.float32), 16), wall=1.0)
    _same(rec, back)


def test_float64_and_empty_recordings_round_trip(tmp_path):
    rec = Recording(bins=4)
    rec.save(tmp_path / "empty.npz")
    _same(rec, Recording.load(tmp_path / "empty.npz"))
    rec.add("weights", "w64", 3, H.reference_row(np.array([1e300, -1e300, 0.0]), 4), dtype="float64")
    rec.save(tmp_path / "f64.npz")
    _same(rec, Recording.load(tmp_path / "f64.npz"))


def _corrupt_copies(tmp_path, good):
    data = good.read_bytes()
    yield "truncated", data[: len(data) // 2]
    yield "random bytes", np.random.default_rng(0).bytes(4000)
    yield "empty", b""
    yield "a pickle", pickle.dumps({"meta": 1})
    for step in (97, 331, 1009):  # damage in several patterns (zip headers, deflate streams, CRCs)
        flipped = bytearray(data)
        for i in range(200, len(flipped) - 200, step):
            flipped[i] ^= 0xFF
        yield f"bytes flipped every {step}", bytes(flipped)
    for at in range(0, 64, 3):  # one byte of the first local header (versions, flags, sizes)
        flipped = bytearray(data)
        flipped[at] ^= 0x5A
        yield f"header byte {at} flipped", bytes(flipped)
    tail = bytearray(data)  # the central directory at the end
    for i in range(len(tail) - 120, len(tail), 5):
        tail[i] ^= 0x5A
    yield "central directory damaged", bytes(tail)


def test_corrupt_files_are_one_line_errors_naming_the_file(tmp_path):
    good = tmp_path / "good.npz"
    _long_run(64).save(good)
    original = Recording.load(good)
    errors = 0
    for what, data in _corrupt_copies(tmp_path, good):
        p = tmp_path / f"{what.replace(' ', '_')}.npz"
        p.write_bytes(data)
        try:
            back = Recording.load(p)
        except RecordingFileError as e:
            msg = str(e)
            assert msg.startswith(str(p) + ": ") and "\n" not in msg, (what, msg)
            errors += 1
        else:  # a byte the reader never uses (a timestamp in a zip header): the same Recording
            _same(original, back)
    assert errors >= 10


def test_not_a_recording_and_newer_versions(tmp_path):
    np.save(tmp_path / "a.npy", np.zeros(3))
    with pytest.raises(RecordingFileError, match="a single array"):
        Recording.load(tmp_path / "a.npy")
    np.savez(tmp_path / "other.npz", x=np.zeros(3))
    with pytest.raises(RecordingFileError, match="not a tfhist Recording"):
        Recording.load(tmp_path / "other.npz")
    good = tmp_path / "good.npz"
    _long_run(8).save(good)
    with np.load(good) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(bytes(arrays["meta"]).decode())
    meta["version"] = 99
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    np.savez(tmp_path / "newer.npz", **arrays)
    with pytest.raises(RecordingFileError, match="newer tfhist_magic .file format 99"):
        Recording.load(tmp_path / "newer.npz")
    # an index that promises more rows than the file holds
    meta["version"] = 2
    meta["series"][0]["kept"] += 5
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    np.savez(tmp_path / "short.npz", **arrays)
    with pytest.raises(RecordingFileError, match="truncated or corrupt"):
        Recording.load(tmp_path / "short.npz")
    with pytest.raises(FileNotFoundError):
        Recording.load(tmp_path / "missing.npz")


def test_old_unversioned_files_still_load(tmp_path):
    rec = Recording(bins=8)
    rows = np.stack([H.reference_row(np.arange(5, dtype=np.float32) + i, 8) for i in range(3)])
    arrays = {
        "meta/bins": np.array(8), "meta/max": np.array(256),
        "meta/index": np.array([["grads", "g", "float32", "grads/0"]]),
        "grads/0/rows": rows, "grads/0/steps": np.arange(3), "grads/0/wall": np.zeros(3),
        "meta/epochs": np.zeros((0, 2), np.int64), "meta/models": np.zeros((0, 2), str),
        "meta/notes": np.array([], str), "meta/first_nonfinite": np.array(-1),
    }
    np.savez(tmp_path / "v1.npz", **arrays)
    back = Recording.load(tmp_path / "v1.npz")
    np.testing.assert_array_equal(back.series("grads", "g").rows, rows)
    del rec


def test_files_that_are_not_archives_say_so_in_one_line_with_no_pickle_advice(tmp_path):
    """np.load tries anything that is not an archive as a pickle, and its error tells the
    user to pass allow_pickle: a Recording file never needs that, so no message says it."""
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    np.savez(tmp_path / "objects.npz", meta=np.array([{"format": "tfhist-recording"}], dtype=object))
    files = {
        "notes.txt": (b"step,loss\n0,1.5\n", "not a tfhist Recording (not a .npz archive)"),
        "run.pkl": (pickle.dumps({"meta": 1}), "not a tfhist Recording (not a .npz archive)"),
        "noise.npz": (np.random.default_rng(3).bytes(500), "not a tfhist Recording (not a .npz archive)"),
        "zero.npz": (b"", "not a tfhist Recording (an empty file)"),
        "objects.npy": (None, "not a tfhist Recording (a single array, not a .npz archive)"),
        "objects.npz": (None, "corrupt metadata (it holds Python objects, which a Recording never does)"),
    }
    for name, (data, why) in files.items():
        p = tmp_path / name
        if data is not None:
            p.write_bytes(data)
        with pytest.raises(RecordingFileError) as got:
            Recording.load(p)
        assert str(got.value) == f"{p}: {why}", name
        assert "pickle" not in str(got.value).lower()
    with pytest.raises(RecordingFileError, match="cannot be read .Is a directory"):
        Recording.load(tmp_path)


def test_load_finds_the_npz_that_save_added(tmp_path):
    rec = _long_run(40)
    rec.save(tmp_path / "run")  # NumPy writes run.npz
    assert [p.name for p in tmp_path.iterdir()] == ["run.npz"]
    for path in (tmp_path / "run", str(tmp_path / "run"), tmp_path / "run.npz"):
        _same(rec, Recording.load(path))
    rec.save(str(tmp_path / "run.v2"))  # a dot in the name: still run.v2.npz
    _same(rec, Recording.load(tmp_path / "run.v2"))
    # a file of the name itself comes first, and its error names it
    (tmp_path / "run").write_text("not a recording")
    with pytest.raises(RecordingFileError, match=f"^{tmp_path / 'run'}: not a tfhist Recording"):
        Recording.load(tmp_path / "run")
    with pytest.raises(FileNotFoundError) as got:
        Recording.load(tmp_path / "gone")
    assert str(got.value) == f"{tmp_path / 'gone'}: no such file (nor {tmp_path / 'gone.npz'})"
    with pytest.raises(FileNotFoundError, match="gone.npz: no such file$"):
        Recording.load(tmp_path / "gone.npz")
