"""The vectorised rows of many tensors (capture/_many.py) and the update scalars against
the NumPy oracle, on the adversarial cases of test_ops: tensors binned a size class at
a time, large ones on their own, sizes known or not when traced, probes and update
scalars measured together."""

import ml_dtypes
import numpy as np
import pytest
import tensorflow as tf

from test_ops import B, _cases, _check, _edge_stress, _exact_moments, _few_ulps
from tfhist_magic import histogram as H
from tfhist_magic.capture import _many, _ops
from tfhist_magic.capture._ops import rows_and_probes, snapshot_rows
from tfhist_magic.capture._scalars import update_scalars


def _graph(values, bins=B, unknown=False, kinds=None):
    """Rows of ``values`` in one traced call (shapes unknown when ``unknown``)."""
    sig = [tf.TensorSpec([None] * v.ndim if unknown else v.shape, tf.as_dtype(v.dtype)) for v in values]
    if kinds is None:
        f = tf.function(lambda *xs: snapshot_rows(list(xs), bins), input_signature=sig, autograph=False)
    else:
        f = tf.function(lambda *xs: rows_and_probes(list(xs), bins, kinds), input_signature=sig, autograph=False)
    return f(*[tf.constant(v) for v in values]).numpy()


def _one(values, bins=B):
    """The row of one tensor on its own (eager: ``_rule.row_either`` or one size class of one)."""
    return snapshot_rows([tf.constant(values)], bins).numpy()[0]


@pytest.mark.parametrize("unknown", [False, True], ids=["static", "unknown"])
def test_every_case_together_in_one_call(unknown):
    """All the adversarial cases (every dtype) in one call: binned a size class at a time,
    each row the oracle's and bit-identical to the tensor's own (counts, non-finite and
    zero counts, min, max, width)."""
    cases = _cases()
    names = sorted(cases)
    rows = _graph([cases[n] for n in names], unknown=unknown)
    for name, row in zip(names, rows):
        _check(row, cases[name])
        alone = _one(cases[name])
        np.testing.assert_array_equal(row[: B + H.MEAN], alone[: B + H.MEAN], err_msg=name)
        assert row[B + H.WIDTH] == alone[B + H.WIDTH], name


def _large(values, n=_many.SMALL_MAX + 1234):
    """``values`` repeated (and shuffled) to more than ``SMALL_MAX`` values: binned on their own."""
    flat = np.asarray(values).ravel()
    if flat.size == 0:
        return np.zeros(n, values.dtype)
    return np.random.default_rng(flat.size).permutation(np.resize(flat, n))


@pytest.mark.parametrize("unknown", [False, True], ids=["static", "unknown"])
def test_large_tensors_binned_on_their_own(unknown):
    """Tensors above ``SMALL_MAX`` values (each case repeated) beside small ones: the
    large ones are binned where they lie (known size) or on their own in the loop
    (size unknown until the step runs); every row is the oracle's."""
    cases = _cases()
    names = ["on_edges", "nonfinite", "huge_range32", "subnormals", "float64", "float16", "bfloat16", "constant", "allnan", "ulp_spaced", "grid"]
    values = [_large(cases[n]) for n in names] + [cases["normal32"], cases["empty"], cases["int32"]]
    rows = _graph(values, unknown=unknown)
    for name, row, v in zip(names + ["normal32", "empty", "int32"], rows, values):
        _check(row, v)
        np.testing.assert_array_equal(row[: B + H.MEAN], _one(v)[: B + H.MEAN], err_msg=name)


@pytest.mark.parametrize("bins", [1, 7, B, 1024])
def test_values_at_every_edge_in_size_classes(bins):
    """The edge stress of test_ops (values on, just below and just above every edge, at
    every magnitude and the narrowest widths), all in one call, with sizes unknown."""
    cases = [v for v, b in _edge_stress() if b == bins]
    rows = _graph(cases, bins, unknown=True)
    for row, values in zip(rows, cases):
        edges = H.bin_edges(row[bins + H.MIN], row[bins + H.MAX], bins, H.compute_dtype(values.dtype))
        np.testing.assert_array_equal(row[:bins], np.histogram(values.astype(np.float64), bins=edges)[0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16, ml_dtypes.bfloat16], ids=["float32", "float64", "float16", "bfloat16"])
def test_std_of_values_a_few_ulps_apart_in_size_classes(dtype):
    """Values a few ulps apart, with and without a NaN, many in one class: the std and
    mean as the exact ones (the mean rounded to the compute dtype is then off by as much
    as the spread; the corrected two-pass spread takes that out, row by row)."""
    mags = (1e-4, 1.0, 3e4, 6e4) if np.dtype(dtype) == np.float16 else (1e-30, 1.0, 3e4, 1e30)
    cases = [_few_ulps(dtype, m, s, seed, nan) for seed, (m, s, nan) in enumerate((m, s, n) for m in mags for s in (1, 2, 8) for n in (False, True))]
    rows = _graph(cases)
    for row, values in zip(rows, cases):
        _check(row, values)
        mean, std = _exact_moments(values)
        np.testing.assert_allclose(row[B + H.STD], std, rtol=1e-6)
        assert abs(row[B + H.MEAN] - mean) <= 1e-6 * std + np.spacing(abs(mean))


def _dead_and_saturated(x, bounds=None):
    x = np.asarray(x, np.float64).reshape(-1, x.shape[-1])
    dead = float(np.mean(~np.any(x != 0, axis=0)))
    if bounds is None or x.size == 0:
        return dead, np.nan
    return dead, float(np.mean((x < bounds[0] + 0.03) | (x > bounds[1] - 0.03)))


@pytest.mark.parametrize("unknown", [False, True], ids=["static", "unknown"])
def test_probes_of_many_activations_at_once(unknown):
    """Dead units and saturated shares of activations of many sizes (one class, several
    classes, a large one, an empty batch, a NaN) against NumPy on the same values."""
    rng = np.random.default_rng(3)

    def relu(*shape, dead=()):
        x = np.maximum(rng.normal(size=shape), 0).astype(np.float32)
        x[..., list(dead)] = 0
        return x

    tanh = np.tanh(rng.normal(size=(6, 9)) * 3).astype(np.float32)
    sig = (1 / (1 + np.exp(-rng.normal(size=(5, 3, 4)) * 4))).astype(np.float32)
    with_nan = relu(4, 8, dead=(1, 2))
    with_nan[0, 1] = np.nan  # NaN counts as active
    acts = [relu(7, 5, dead=(2,)), relu(3, 16, dead=(0, 15)), tanh, sig, relu(0, 6), with_nan, relu(300, 300, dead=range(0, 300, 7)), relu(2, 3)]
    kinds = ["units", "units", "tanh", "sigmoid", "units", "units", "units", None]
    bounds = {"tanh": (-1.0, 1.0), "sigmoid": (0.0, 1.0)}
    rows = _graph(acts, kinds=kinds, unknown=unknown)
    for a, k, row in zip(acts, kinds, rows):
        _check(row[: B + H.EXTRA], a)
        got = row[B + H.EXTRA :]
        if k is None:
            assert np.isnan(got).all()
            continue
        want = _dead_and_saturated(a, bounds.get(k))
        np.testing.assert_allclose(got, want, rtol=1e-12, equal_nan=True)


def _scalars_np(a, b, o):
    a, b, o = (np.asarray(v, np.float64).ravel() for v in (a, b, o))
    s = max(float(np.max(np.abs(v))) for v in (a, b, o))  # scaled: float64 squares of 1e200 overflow
    s = s if np.isfinite(s) and s > 0 else 1.0
    a, b, o = a / s, b / s, o / s
    d = a - b
    ratio = np.std(d) / np.std(b) if np.std(b) > 0 else np.nan
    return ratio, np.linalg.norm(d) * s, np.linalg.norm(b - o) * s


@pytest.mark.parametrize("graph", [False, True], ids=["eager", "graph"])
def test_update_scalars_small_and_large_weights(graph):
    """The update ratio, the update's norm and the distance from the start of small
    weights (measured together) and large ones (one by one), with updates of every
    size (a zero update, one of 1e-30 whose squares underflow, an overflowing one), as
    NumPy measures them in float64."""
    rng = np.random.default_rng(5)
    shapes = [(3,), (40, 20), (400, 300), (64,), (512, 200), (7, 7)]
    before = [rng.normal(size=s).astype(np.float32) for s in shapes]
    scale = [1e-3, 1e-30, 0.0, 1e-2, 1e-25, 1e3]
    after = [(b + rng.normal(size=b.shape) * s).astype(np.float32) for b, s in zip(before, scale)]
    origin = [(b + rng.normal(size=b.shape) * 0.1).astype(np.float32) for b in before]
    after[5] = np.full((7, 7), 3e38, np.float32)  # squares overflow in float32 (its ratio is float64 rounding)
    ratio = [True, True, True, False, True, False]

    def run(*args):
        n = len(shapes)
        return update_scalars(list(args[:n]), list(args[n : 2 * n]), list(args[2 * n :]), ratio)

    args = [tf.constant(v) for v in after + before + origin]
    got = (tf.function(run, autograph=False)(*args) if graph else run(*args)).numpy()
    for t, (a, b, o) in enumerate(zip(after, before, origin)):
        r, nd, dist = _scalars_np(a, b, o)
        if not ratio[t]:
            r = np.nan
        np.testing.assert_allclose(got[t], [r, nd, dist], rtol=2e-6, atol=0, equal_nan=True, err_msg=str(shapes[t]))


def test_update_scalars_with_non_finite_weights_and_no_origin():
    """NaN or Inf in an update makes its norm NaN or Inf (never a crash); without an
    origin the distance is NaN (not measured)."""
    b = np.ones((300, 300), np.float32)
    a = b.copy()
    a[0, 0] = np.nan
    c = b.copy()
    c[1, 1] = np.inf
    got = update_scalars([tf.constant(a), tf.constant(c), tf.constant(b[:2])], [tf.constant(b), tf.constant(b), tf.constant(b[:2] * 2)], None, [True, True, True]).numpy()
    assert np.isnan(got[0, 1]) and np.isinf(got[1, 1]) and np.isnan(got[:, 2]).all()
    np.testing.assert_allclose(got[2, 1], np.sqrt(600.0), rtol=1e-7)  # 600 values, each moved by 1


def test_update_scalars_of_weights_above_a_chunk(monkeypatch):
    """Weights of more than ``LONG`` values (here lowered to a chunk) are measured a chunk
    at a time (the update's mean first, then each chunk's norms combined scaled): as NumPy
    measures them in float64, with updates of 1e-30 (squares underflow), float64 values
    whose squares overflow, and NaN/Inf in the update."""
    from tfhist_magic.capture import _compat, _scalars

    monkeypatch.setattr(_scalars, "LONG", _many.CHUNK)
    # traced afresh, so the spy below sees the trace (also when this test runs twice)
    for k, f in _compat.CACHED.items():
        if k[0] == "update":
            _compat.CACHED.drop(k, f)
    calls = []
    orig = _scalars._update_long
    monkeypatch.setattr(_scalars, "_update_long", lambda *a: calls.append(1) or orig(*a))
    rng = np.random.default_rng(7)
    n = 2 * _many.CHUNK + 123
    b32 = rng.normal(size=n).astype(np.float32)
    b64 = rng.normal(size=n) * 1e200
    tiny = (b32 * 1e-29).astype(np.float32)  # an update of ~1e-30 that float32 holds: its squares underflow
    cases = [
        (b32, (b32 + rng.normal(size=n) * 1e-3).astype(np.float32)),
        (tiny, (tiny + rng.normal(size=n) * 1e-30).astype(np.float32)),
        (b64, b64 + rng.normal(size=n) * 1e199),
    ]
    assert (cases[1][0] != cases[1][1]).mean() > 0.5
    for before, after in cases:
        origin = (before * 0.5).astype(before.dtype)
        scale = float(np.max(np.abs(before)))
        sb = np.std(before / scale) * scale  # as the rows measure it (no overflow)
        got = tf.function(lambda a, b, o: update_scalars([a], [b], [o], [True], tf.constant([sb], tf.float64)), autograph=False)(*map(tf.constant, (after, before, origin))).numpy()[0]
        np.testing.assert_allclose(got, _scalars_np(after, before, origin), rtol=2e-6, atol=0, err_msg=str((before.dtype, after[:2])))
    bad = b32.copy()
    bad[n - 5] = np.nan
    inf = b32.copy()
    inf[CHUNK_ONE := _many.CHUNK + 1] = np.inf
    got = update_scalars([tf.constant(bad), tf.constant(inf)], [tf.constant(b32), tf.constant(b32)], None, [True, True]).numpy()
    assert np.isnan(got[0, 1]) and np.isinf(got[1, 1]) and np.isnan(got[:, 2]).all() and CHUNK_ONE < n
    assert calls  # the chunked path measured them


def test_no_large_tensor_is_copied_into_a_concatenation():
    """Tensors known to be large are binned where they lie: the traced graph has no
    concatenation as large as one of them (what a watch holds stays bounded by the
    largest tensor, not the model)."""
    big = [tf.TensorSpec([600, 500], tf.float32), tf.TensorSpec([400, 400], tf.float32), tf.TensorSpec([10], tf.float32)]
    f = tf.function(lambda *xs: rows_and_probes(list(xs), B, [None] * 3), input_signature=big, autograph=False)
    g = f.get_concrete_function().graph
    for op in g.get_operations():
        if op.type in ("ConcatV2", "Pack"):
            n = op.outputs[0].shape.num_elements()
            assert n is None or n < 160_000, (op.name, op.outputs[0].shape)
    assert _ops.SMALL_MAX == _many.SMALL_MAX


def test_tensors_above_a_chunk_are_binned_a_chunk_at_a_time():
    """Tensors of more than ``CHUNK`` values (adversarial cases repeated, a few ulps
    apart, with NaN and Inf) are counted a chunk at a time on shared edges: counts,
    extremes and width bit-identical to the whole tensor binned at once, the mean and std
    as the exact ones."""
    from tfhist_magic.capture._rule import row_either

    cases = _cases()
    n = 2 * _many.CHUNK + 77
    values = [_large(cases[k], n) for k in ("on_edges", "nonfinite", "huge_range32", "subnormals", "float64", "wide32")]
    values.append(np.resize(_few_ulps(np.float32, 1.0, 3, 0, False), n))
    rows = _graph(values)
    for v, row in zip(values, rows):
        _check(row, v)
        whole = row_either(tf.reshape(tf.constant(v), [-1]), B).numpy()
        np.testing.assert_array_equal(row[: B + H.MEAN], whole[: B + H.MEAN])
        assert row[B + H.WIDTH] == whole[B + H.WIDTH]
    mean, std = _exact_moments(values[-1])
    np.testing.assert_allclose(rows[-1][B + H.STD], std, rtol=1e-6)
    assert abs(rows[-1][B + H.MEAN] - mean) <= 1e-6 * std + np.spacing(abs(mean))


def test_cached_row_functions_keyed_by_the_thresholds_they_read(monkeypatch):
    """A row function traced with one ``CHUNK``/``SMALL_MAX`` is not served after they
    change (its trace baked them in), and the cache keeps at most its size, the most
    recently used."""
    from tfhist_magic.capture import _compat, _lru

    for make in (_many.grouped_fn, _many.large_fn):
        before = make(tf.float32, B)
        assert make(tf.float32, B) is before
        monkeypatch.setattr(_many, "CHUNK", 4096)
        assert make(tf.float32, B) is not before
        monkeypatch.setattr(_many, "CHUNK", 1 << 20)
        monkeypatch.setattr(_many, "SMALL_MAX", 1 << 10)
        assert make(tf.float32, B) is not before
        monkeypatch.undo()
    monkeypatch.setattr(_compat, "CACHED", _lru.Lru(3))  # the suite's cache left as it was
    fns = [_compat.cached(("test", i), lambda x: x, [tf.TensorSpec([], tf.float32)]) for i in range(5)]
    assert _compat.cached(("test", 2), None, None) is fns[2]  # a hit: now the most recently used
    fns.append(_compat.cached(("test", 5), lambda x: x, [tf.TensorSpec([], tf.float32)]))
    assert list(_compat.CACHED) == [("test", 4), ("test", 2), ("test", 5)]
    assert fns[4](tf.constant(2.0)).numpy() == 2.0
