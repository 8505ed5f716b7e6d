"""The histogram contract and the Recording, in pure NumPy (fast, no TensorFlow)."""

import numpy as np
import pytest

from tfhist_magic import histogram as H
from tfhist_magic.recording import Recording

B = 64


def _check_contract(values, bins=B):
    row = H.reference_row(values, bins)
    dt = H.compute_dtype(np.asarray(values).dtype)
    edges = H.bin_edges(row[bins + H.MIN], row[bins + H.MAX], bins, dt)
    v = np.asarray(values, dtype=np.float64).ravel()
    fin = v[np.isfinite(v)]
    expect, _ = np.histogram(fin, bins=edges)
    np.testing.assert_array_equal(row[:bins], expect)
    assert np.all(np.diff(edges) >= 0)
    # Every finite value is inside [edges[0], edges[-1]]; nothing is dropped.
    assert row[:bins].sum() == fin.size
    assert np.all(np.isfinite(edges))
    return row, edges


def _device_bins(values, edges, bins=B):
    """The device's rule, written out: bin i holds e[i] <= x < e[i+1], last bin closed."""
    x = np.asarray(values, dtype=np.float64).ravel()
    x = x[np.isfinite(x)]
    idx = np.sum(x[:, None] >= edges[None, 1:bins], axis=1)
    return np.bincount(idx, minlength=bins)


@pytest.mark.parametrize("seed", range(5))
def test_edges_reproduce_the_comparison_rule(seed):
    rng = np.random.default_rng(seed)
    x = (rng.standard_cauchy(5000) * 10 ** rng.uniform(-6, 6)).astype(np.float32)
    row, edges = _check_contract(x)
    np.testing.assert_array_equal(_device_bins(x, edges), row[:B])
    # Equal width up to rounding, and the width stored is the one the edges use.
    w = np.diff(edges)
    assert np.allclose(w, w.mean(), rtol=1e-3, atol=abs(edges).max() * 1e-6)
    assert row[B + H.WIDTH] == np.float32(row[B + H.WIDTH]) and abs(w.mean() / row[B + H.WIDTH] - 1) < 1e-3


def test_values_exactly_on_edges_go_right_and_last_bin_is_closed():
    x = np.linspace(0, 1, 65).astype(np.float32)  # 0, 1/64, ... 1: many exactly on edges
    row, edges = _check_contract(x)
    assert row[B - 1] >= 1  # the max is counted in the last bin
    # Values that are the edges themselves, and their neighbours on both sides.
    for dt in (np.float32, np.float64):
        base = np.random.default_rng(7).normal(size=300).astype(dt)
        e = H.bin_edges(base.min(), base.max(), B, dt).astype(dt)
        on = np.concatenate([base, e, np.nextafter(e, dt(-np.inf)), np.nextafter(e, dt(np.inf))])
        on = on[(on >= base.min()) & (on <= base.max())]
        row, edges = _check_contract(on)
        np.testing.assert_array_equal(_device_bins(on, edges), row[:B])


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64, "bfloat16", np.int32])
def test_every_dtype(dtype):
    rng = np.random.default_rng(1)
    if dtype == "bfloat16":
        import ml_dtypes

        dtype = ml_dtypes.bfloat16
    x = (rng.normal(size=999) * 0.01 + 3)
    _check_contract(x.astype(dtype) if np.dtype(dtype).kind == "f" else rng.integers(-3, 4, size=500).astype(dtype))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_constants_at_every_magnitude_have_one_bin(dtype):
    rng = np.random.default_rng(2)
    fi = np.finfo(dtype)
    mags = 10.0 ** np.arange(np.floor(np.log10(fi.tiny)), np.log10(fi.max))
    with np.errstate(over="ignore"):
        values = np.minimum(mags * rng.uniform(1, 9.9, mags.size), float(fi.max))
    values = np.concatenate([values, [fi.max, fi.tiny, 0.0, 0.0003455841797403991]])
    for value in np.concatenate([values, -values]).astype(dtype):
        row, edges = _check_contract(np.full(10, value, dtype=dtype))
        assert edges[0] <= value <= edges[-1]
        assert np.count_nonzero(row[:B]) == 1


def test_subnormals_and_signed_zeros_fall_with_zero():
    """TensorFlow's kernels see subnormals as zero: no edge is closer to zero than the
    smallest normal number, so both views of them land in zero's bin."""
    for dt in (np.float32, np.float64):
        tiny = np.finfo(dt).tiny
        sub = np.array([tiny / 3, -tiny / 7, np.finfo(dt).smallest_subnormal, 0.0, -0.0], dt)
        for x in (sub, np.concatenate([sub, [1.0, -1.0]]).astype(dt), np.concatenate([sub, [0.5]]).astype(dt)):
            row, edges = _check_contract(x)
            flushed = np.where(np.abs(x) < tiny, 0.0, x)
            np.testing.assert_array_equal(np.histogram(flushed, bins=edges)[0], row[:B])
            assert not np.any((np.abs(edges) < tiny) & (edges != 0))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_ranges_wider_than_the_dtype(dtype):
    fi = np.finfo(dtype)
    for x in ([-fi.max, fi.max, 0.0, 1.0], [fi.max, fi.max * 0.9, -fi.max * 0.3], [-fi.max, -1.0]):
        x = np.array(x, dtype=dtype)
        row, edges = _check_contract(x)
        np.testing.assert_array_equal(_device_bins(x, edges), row[:B])
        np.testing.assert_allclose(row[B + H.MEAN], np.mean(x.astype(np.float64) / 4) * 4, rtol=1e-12)
        assert np.isfinite(row[B + H.STD])
        m = np.abs(x.astype(np.float64)).max()
        with np.errstate(over="ignore"):
            # the norm over max|x| is sqrt(sum((x / max|x|)^2)); inf only past float64's max
            np.testing.assert_allclose(row[B + H.NORM], np.sqrt(np.sum((x / m) ** 2)) * m, rtol=1e-12)


def test_non_finite_counted_beside_bins():
    x = np.array([np.nan, np.inf, -np.inf, -np.inf, 0.0, 1.0, 2.0], dtype=np.float32)
    row, _ = _check_contract(x)
    assert row[B + H.NAN] == 1 and row[B + H.POSINF] == 1 and row[B + H.NEGINF] == 2
    assert row[B + H.ZEROS] == 1
    assert row[B + H.MIN] == 0 and row[B + H.MAX] == 2


def test_empty_and_all_nonfinite():
    row, edges = _check_contract(np.zeros(0, np.float32))
    assert row[:B].sum() == 0 and edges[0] == -0.5 and edges[-1] == 0.5
    row, _ = _check_contract(np.array([np.nan, np.inf], np.float32))
    assert row[B + H.NAN] == 1 and row[B + H.POSINF] == 1


def test_rebin_conserves_mass():
    rng = np.random.default_rng(2)
    rows = [H.reference_row(rng.normal(loc=i, size=1000).astype(np.float32), 32) for i in range(4)]
    edges = np.stack([H.bin_edges(r[32 + H.MIN], r[32 + H.MAX], 32) for r in rows])
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


def test_recording_memory_grows_with_what_is_kept_and_is_bounded():
    width = 74 * 8 + 16  # bytes per kept snapshot: row, step, wall
    rec = Recording(bins=64, max_snapshots=256)
    rec.add_rows("grads", ["a"], np.arange(3), np.zeros((3, 1, 74)))
    assert rec.nbytes <= 4 * width  # three snapshots, not 256 preallocated
    for block in range(100):  # 100,000 steps
        rec.add_rows("grads", ["a"], np.arange(block * 1000, (block + 1) * 1000) + 3, np.zeros((1000, 1, 74)))
    assert len(rec.series("grads", "a")) <= 257
    assert rec.nbytes <= 257 * width


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
    rec.mark_nonfinite(7)
    rec.save(tmp_path / "r.npz")
    back = Recording.load(tmp_path / "r.npz")
    a, b = rec.series("grads", "g/kernel"), back.series("grads", "g/kernel")
    np.testing.assert_array_equal(a.steps, b.steps)
    np.testing.assert_array_equal(a.rows, b.rows)
    assert back.models == {"m": ["g/kernel"]} and back.notes == ["hello"]
    assert back.first_nonfinite == 7


def test_unknown_kind_and_name():
    rec = Recording(bins=4)
    with pytest.raises(ValueError, match="kind='bogus'"):
        rec.add("bogus", "x", 0, _row(0))
    with pytest.raises(KeyError, match="none"):
        rec.series("grads", "x")


def _kept_by_policy(n_added: int, capacity: int) -> list[int]:
    """The thinning policy written out plainly: which of snapshots 0..n-1 are kept."""
    kept, stride = [], 1
    for g in range(n_added):
        if g % stride == 0:
            if len(kept) == capacity:
                kept = kept[::2]
                stride *= 2
            if g % stride == 0:
                kept.append(g)
    if kept[-1] != n_added - 1:
        kept.append(n_added - 1)  # the latest is always there
    return kept


def test_blocks_of_any_size_keep_what_the_policy_says():
    rng = np.random.default_rng(3)
    rec = Recording(bins=4, max_snapshots=8)
    rows = np.stack([_row(float(v)) for v in range(300)])
    step = 0
    while step < 300:
        n = int(rng.integers(1, 40))
        stop = min(step + n, 300)
        # weights: no finding pins a step here (pinned steps are kept beyond the policy)
        rec.add_rows("weights", ["g"], np.arange(step, stop) * 10, rows[step:stop, None], walls=np.arange(step, stop, dtype=float))
        step = stop
        s = rec.series("weights", "g")
        kept = _kept_by_policy(step, 8)
        np.testing.assert_array_equal(s.steps, np.array(kept) * 10)
        np.testing.assert_array_equal(s.rows, rows[kept])
        np.testing.assert_array_equal(s.wall, np.array(kept, dtype=float))


@pytest.mark.parametrize("base", [1.0, 3e4, 1e-30, 1e30, -7.5])
def test_reference_std_of_float64_values_a_few_ulps_apart_is_exact(base):
    """The oracle itself: float64 values a few ulps apart (NumPy's plain two-pass std is
    off by up to ~10% there); compared with exact rational arithmetic."""
    from fractions import Fraction

    x = base + np.array([0, 1, 2, 3, 5, 8, 1, 0]) * np.spacing(base)
    F = [Fraction(float(v)) for v in x]
    mu = sum(F) / len(F)
    var = sum((f - mu) ** 2 for f in F) / len(F)
    row = H.reference_row(x, 16)
    assert row[16 + H.STD] == pytest.approx(float(var) ** 0.5, rel=1e-12)
    assert row[16 + H.MEAN] == pytest.approx(float(mu), rel=1e-15)
