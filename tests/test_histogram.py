"""The histogram contract and the Recording, in pure NumPy (fast, no TensorFlow)."""

import numpy as np
import pytest

from tfhist_magic import histogram as H
from tfhist_magic.recording import Recording

B = 64


def _check_contract(values, bins=B, rule="scale"):
    row = H.reference_row(values, bins, rule=rule)
    dt = H.compute_dtype(np.asarray(values).dtype)
    edges = H.bin_edges(row[bins + H.MIN], row[bins + H.MAX], row[bins + H.SCALE], bins, dt)
    v = np.asarray(values, dtype=np.float64).ravel()
    fin = v[np.isfinite(v)]
    expect, _ = np.histogram(fin, bins=edges)
    np.testing.assert_array_equal(row[:bins], expect)
    assert np.all(np.diff(edges) >= 0)
    # Every finite value is inside [edges[0], edges[-1]]; nothing is dropped.
    assert row[:bins].sum() == fin.size
    return row, edges


@pytest.mark.parametrize("seed", range(5))
def test_edges_reproduce_histogram_fixed_width_rule(seed):
    rng = np.random.default_rng(seed)
    x = (rng.standard_cauchy(5000) * 10 ** rng.uniform(-6, 6)).astype(np.float32)
    row, edges = _check_contract(x, rule="step")
    lo = edges[0].astype(np.float32)
    step = -row[B + H.SCALE]
    idx = np.minimum(np.trunc((x - lo).astype(np.float64) / step), B - 1).astype(int)
    np.testing.assert_array_equal(np.bincount(idx, minlength=B), row[:B])


@pytest.mark.parametrize("seed", range(5))
def test_edges_reproduce_device_binning_rule(seed):
    rng = np.random.default_rng(seed)
    x = (rng.standard_cauchy(5000) * 10 ** rng.uniform(-6, 6)).astype(np.float32)
    row, edges = _check_contract(x)
    # The device rule, applied element by element, agrees with the edges.
    lo = edges[0].astype(np.float32)
    scale = np.float32(row[B + H.SCALE])
    idx = np.minimum(np.floor((x - lo) * scale), B - 1).astype(int)
    np.testing.assert_array_equal(np.bincount(idx, minlength=B), row[:B])
    # Equal width up to rounding.
    w = np.diff(edges)
    assert np.allclose(w, w.mean(), rtol=1e-3, atol=abs(edges).max() * 1e-6)


def test_values_exactly_on_edges_go_right_and_last_bin_is_closed():
    x = np.linspace(0, 1, 65).astype(np.float32)  # 0, 1/64, ... 1: many exactly on edges
    row, edges = _check_contract(x)
    assert row[B - 1] >= 1  # the max is counted in the last bin


def test_float64_and_ints_and_halfs():
    rng = np.random.default_rng(1)
    _check_contract(rng.normal(size=999))
    _check_contract(rng.integers(-3, 4, size=500).astype(np.int32))
    _check_contract((rng.normal(size=300) * 0.01 + 3).astype(np.float16))


def test_constant_tensor_has_sensible_edges_and_one_bin():
    for value in (0.0, 1.0, -7.5, 1e30):
        row, edges = _check_contract(np.full(10, value, dtype=np.float32))
        assert edges[0] < value < edges[-1]
        assert np.count_nonzero(row[:B]) == 1


def test_non_finite_counted_beside_bins():
    x = np.array([np.nan, np.inf, -np.inf, -np.inf, 0.0, 1.0, 2.0], dtype=np.float32)
    row, _ = _check_contract(x)
    assert row[B + H.NAN] == 1 and row[B + H.POSINF] == 1 and row[B + H.NEGINF] == 2
    assert row[B + H.ZEROS] == 1
    assert row[B + H.MIN] == 0 and row[B + H.MAX] == 2


def test_empty_and_all_nonfinite():
    row, edges = _check_contract(np.zeros(0, np.float32))
    assert row[:B].sum() == 0 and edges[0] == 0 and edges[-1] == 1
    row, _ = _check_contract(np.array([np.nan, np.inf], np.float32))
    assert row[B + H.NAN] == 1 and row[B + H.POSINF] == 1


def test_rebin_conserves_mass():
    rng = np.random.default_rng(2)
    rows = [H.reference_row(rng.normal(loc=i, size=1000).astype(np.float32), 32) for i in range(4)]
    edges = np.stack([H.bin_edges(r[32 + H.MIN], r[32 + H.MAX], r[32 + H.SCALE], 32) for r in rows])
    counts = np.stack([r[:32] for r in rows])
    grid = H.common_grid(edges, 50)
    out = H.rebin(edges, counts, grid)
    np.testing.assert_allclose(out.sum(axis=1), counts.sum(axis=1))
    # Identity when the grid is the snapshot's own edges.
    np.testing.assert_allclose(H.rebin(edges[0], counts[0], edges[0]), counts[0])


def _row(value, bins=4):
    return H.reference_row(np.array([value, value + 1], dtype=np.float32), bins)


def test_recording_thins_evenly_and_keeps_first_and_latest():
    rec = Recording(bins=4, max_snapshots=8)
    for step in range(100):
        rec.add("weights", "w", step, _row(step))
    s = rec.series("weights", "w")
    assert s.steps[0] == 0 and s.steps[-1] == 99
    kept = s.steps[:-1]
    assert len(s) <= 9
    gaps = np.diff(kept)
    assert np.all(gaps == gaps[0])  # evenly spaced
    # The rows kept are the very rows added.
    for i, step in enumerate(s.steps):
        np.testing.assert_array_equal(s.rows[i], _row(step))


def test_recording_memory_is_bounded():
    rec = Recording(bins=64, max_snapshots=256)
    rows = np.zeros((1000, 3, 74))
    for block in range(3):
        rec.add_rows("grads", ["a", "b", "c"], np.arange(block * 1000, (block + 1) * 1000), rows)
    per = rec.nbytes / 3
    assert per < 200e6 / 1000  # 1,000 tensors stay under 200 MB whatever the step count


def test_series_statistics_and_epochs():
    rec = Recording(bins=8)
    x = np.array([1.0, 2.0, 3.0, np.nan], dtype=np.float32)
    rec.add("activations", "a", 0, H.reference_row(x, 8))
    rec.add("activations", "a", 5, H.reference_row(x * 2, 8))
    rec.mark_epoch(0, 0)
    rec.mark_epoch(5, 1)
    s = rec.series("activations", "a")
    np.testing.assert_array_equal(s.epochs, [0, 1])
    np.testing.assert_allclose(s.mean, [2.0, 4.0])
    np.testing.assert_allclose(s.std, [np.std([1, 2, 3]), 2 * np.std([1, 2, 3])])
    np.testing.assert_array_equal(s.nan, [1, 1])
    np.testing.assert_array_equal(s.size, [4, 4])
    np.testing.assert_allclose(s.norm[0], np.sqrt(14))


def test_save_load_roundtrip(tmp_path):
    rec = Recording(bins=8, max_snapshots=4)
    for step in range(10):
        rec.add("grads", "g/kernel", step, H.reference_row(np.arange(step + 2, dtype=np.float32), 8))
    rec.mark_epoch(0, 0)
    rec.add_model("m", ["g/kernel"])
    rec.note("hello")
    rec.save(tmp_path / "r.npz")
    back = Recording.load(tmp_path / "r.npz")
    a, b = rec.series("grads", "g/kernel"), back.series("grads", "g/kernel")
    np.testing.assert_array_equal(a.steps, b.steps)
    np.testing.assert_array_equal(a.rows, b.rows)
    assert back.models == {"m": ["g/kernel"]} and back.notes == ["hello"]


def test_unknown_kind_and_name():
    rec = Recording(bins=4)
    with pytest.raises(ValueError, match="kind='bogus'"):
        rec.add("bogus", "x", 0, _row(0))
    with pytest.raises(KeyError, match="none"):
        rec.series("grads", "x")


def test_block_adds_equal_single_adds():
    rng = np.random.default_rng(3)
    one, blk = Recording(bins=4, max_snapshots=8), Recording(bins=4, max_snapshots=8)
    rows = np.stack([_row(float(v)) for v in range(300)])
    step = 0
    while step < 300:
        n = int(rng.integers(1, 40))
        for k in range(step, min(step + n, 300)):
            one.add("grads", "g", k, rows[k], wall=float(k))
        blk.add_rows("grads", ["g"], np.arange(step, min(step + n, 300)), rows[step : step + n, None], walls=np.arange(step, min(step + n, 300), dtype=float))
        step += n
        a, b = one.series("grads", "g"), blk.series("grads", "g")
        np.testing.assert_array_equal(a.steps, b.steps)
        np.testing.assert_array_equal(a.rows, b.rows)
        np.testing.assert_array_equal(a.wall, b.wall)
