"""The kept store behind a Recording: one lock for every read and write, blocks as the one
way in (a load included), epoch marks per model. Pure NumPy."""

import json
import threading

import numpy as np
import pytest

from tfhist_magic import histogram as H
from tfhist_magic.block import Block, deliver
from tfhist_magic.recording import Recording


def _rows(steps, tensors=1, bins=8):
    rng = np.random.default_rng(len(steps))
    return np.stack([[H.reference_row(rng.normal(s, 1, size=30).astype(np.float32), bins) for _ in range(tensors)] for s in steps])


def _fit(rec, model, steps, epochs):
    """One fit of ``model`` (steps from 0: one step axis per model) with its epoch marks."""
    steps = np.asarray(steps)
    name = f"{model}/kernel"
    rows = _rows(steps)
    deliver(rec, Block(model=model, steps=steps, walls=steps * 1.0, names={"weights": [name], "grads": [name]}, rows={"weights": rows, "grads": rows}, epochs=epochs))
    return name


def _two_models():
    rec = Recording(bins=8)
    a = _fit(rec, "a", range(10), {0: 0, 5: 1})
    b = _fit(rec, "b", range(10), {0: 0, 2: 1, 4: 2, 6: 3})  # fit after ``a``, in the same watch
    return rec, a, b


def test_two_models_fit_one_after_the_other_keep_their_own_epochs(tmp_path):
    rec, a, b = _two_models()
    want_a, want_b = [0] * 5 + [1] * 5, [0, 0, 1, 1, 2, 2, 3, 3, 3, 3]
    for r in (rec, Recording.load(_saved(rec, tmp_path)), rec.subset(kinds=["grads"])):
        np.testing.assert_array_equal(r.series("grads", a).epochs, want_a)
        np.testing.assert_array_equal(r.series("grads", b).epochs, want_b)
        np.testing.assert_array_equal(r.epochs_of([4, 5], a), [0, 1])
    assert rec.epoch_marks() == {"a": [(0, 0), (5, 1)], "b": [(0, 0), (2, 1), (4, 2), (6, 3)]}
    # the marks of no model (a producer that names none) are what a tensor of no marked model takes
    rec.mark_epoch(0, 7)
    deliver(rec, Block(steps=[0], names={"weights": ["loose"]}, rows={"weights": _rows([0])}))
    np.testing.assert_array_equal(rec.series("weights", "loose").epochs, [7])
    np.testing.assert_array_equal(rec.series("weights", a).epochs, want_a)


def _saved(rec, tmp_path, name="r.npz"):
    rec.save(tmp_path / name)
    return tmp_path / name


def _rewrite_meta(path, edit):
    """The file at ``path`` with its metadata changed by ``edit`` (what another version wrote)."""
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(bytes(arrays["meta"]).decode())
    edit(meta)
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    np.savez_compressed(path, **arrays)


def test_files_keep_per_model_marks_and_stay_readable_both_ways(tmp_path):
    rec, a, b = _two_models()
    path = _saved(rec, tmp_path)
    with np.load(path) as z:
        meta = json.loads(bytes(z["meta"]).decode())
    assert meta["version"] == 2  # a reader of version 2 reads it: ``epochs`` holds every mark, as it did
    assert sorted(map(tuple, meta["epochs"])) == [(0, 0), (2, 1), (4, 2), (5, 1), (6, 3)]
    # a file from before marks were per model: its marks are of no model, every tensor takes them
    _rewrite_meta(path, lambda m: (m.pop("epoch_marks"), m.update(epochs=[[0, 0], [5, 1]])))
    old = Recording.load(path)
    for name in (a, b):
        np.testing.assert_array_equal(old.series("grads", name).epochs, [0] * 5 + [1] * 5)


def test_a_load_arrives_as_blocks_through_deliver(tmp_path):
    """``Recording.load`` writes nothing itself: what it reads reaches the store as blocks
    (the subscribers see them), and the rows come back exactly as kept, thinning state too."""
    rec = Recording(bins=8, max_snapshots=4)
    for step in range(11):
        rec.add("grads", "g", step, _rows([step])[0, 0])
        rec.add_scalars("update_ratio", "g", [step], [1e-3])
    seen = []

    class Watched(Recording):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.arrivals.append(seen.append)

    back = Watched.load(_saved(rec, tmp_path))
    assert any("grads" in b.rows for b in seen) and any(("update_ratio", "g") in b.scalars for b in seen)
    assert all(b.findings is not None for b in seen)  # a file's findings, taken as they were saved
    assert back.latest("grads", "g").mark == rec.latest("grads", "g").mark
    for r in (rec, back):  # and both go on thinning alike
        r.add("grads", "g", 11, _rows([11])[0, 0])
    np.testing.assert_array_equal(back.series("grads", "g").rows, rec.series("grads", "g").rows)


@pytest.mark.parametrize(
    "call",
    [
        lambda r: r.kinds,
        lambda r: r.nbytes,
        lambda r: len(r),
        lambda r: r.dtype("grads", "g"),
        lambda r: r.epochs_of([0], "g"),
        lambda r: r.add_model("m", ["g"]),
        lambda r: r.mark_nonfinite(3),
        lambda r: r.pin(4),
        lambda r: r.note("n"),
        lambda r: r.model_of(),
    ],
)
def test_every_read_and_write_waits_for_the_lock(call):
    """One lock: a reader or writer waits while another thread holds it (a writer adding
    a block that belongs together)."""
    rec = Recording(bins=8)
    rec.add("grads", "g", 0, _rows([0])[0, 0])
    done = threading.Event()
    with rec.lock:
        t = threading.Thread(target=lambda: (call(rec), done.set()))
        t.start()
        assert not done.wait(0.2)
    assert done.wait(5)
    t.join()


def test_the_page_reads_models_and_notes_as_of_one_moment():
    """The page's header reads what the training thread writes (models, notes) under the
    lock: not a dict a writer is growing, nor half of a block."""
    from tfhist_magic.view.packet import header

    rec = Recording(bins=8)
    deliver(rec, Block(model="a", steps=[0], names={"grads": ["a/k"]}, rows={"grads": _rows([0])}))
    got = {}
    with rec.lock:  # a writer in the middle of a block
        t = threading.Thread(target=lambda: got.update(header(rec, full=True, live=True, seq=0)))
        t.start()
        t.join(0.2)
        assert t.is_alive()
        deliver(rec, Block(model="b", names={"": ["b/k"]}), notify=False)
        rec.note("n")
    t.join(5)
    assert got["models"] == {"a/k": "a", "b/k": "b"} and got["notes"] == ["n"]


def test_a_refused_block_keeps_nothing_of_itself():
    """A block is checked whole before anything is kept: a step that goes back in one
    kind leaves the other kinds, its scalars and the findings untouched."""
    rec = Recording(bins=8)
    deliver(rec, Block(steps=[5], names={"weights": ["w"]}, rows={"weights": _rows([5])}))
    bad = Block(steps=[3], names={"grads": ["w"], "weights": ["w"]}, rows={"grads": _rows([3]), "weights": _rows([3])}, scalars={("dead_units", "w"): ([3], [1.0])})
    with pytest.raises(ValueError, match="after step 5"):
        deliver(rec, bad)
    assert rec.kinds == ("weights",) and rec.scalar_names("dead_units") == [] and rec.findings() == []


def test_a_save_writes_the_store_as_of_one_moment(tmp_path, monkeypatch):
    """What a save writes is read under the lock; the training thread may go on while the
    file is compressed (thinning moves kept rows in place, a model may be added), and the
    file still holds the rows, steps and models as they were when the save began."""
    from tfhist_magic import npzfile

    rec = Recording(bins=8, max_snapshots=4)
    deliver(rec, Block(model="a", steps=[0, 1, 2, 3], names={"grads": ["g"]}, rows={"grads": _rows([0, 1, 2, 3])}))
    before = rec.series("grads", "g")
    write = np.savez_compressed

    def savez(path, **arrays):  # another thread writes while the file is written
        t = threading.Thread(target=lambda: (deliver(rec, Block(model="b", steps=[4], names={"grads": ["g"]}, rows={"grads": _rows([4])})), rec.note("later")))
        t.start()
        t.join(1.0)
        write(path, **arrays)

    monkeypatch.setattr(npzfile.np, "savez_compressed", savez)
    rec.save(tmp_path / "r.npz")
    monkeypatch.undo()
    back = Recording.load(tmp_path / "r.npz")
    got = back.series("grads", "g")
    assert got.steps.tolist() == [0, 1, 2, 3]
    np.testing.assert_array_equal(got.rows, before.rows)
    assert back.models == {"a": ["g"]} and back.notes == []
