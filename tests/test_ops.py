"""The in-graph ops against the NumPy oracle, on the same values, on every path
(eager, tf.function, XLA), on adversarial values."""

import ml_dtypes
import numpy as np
import pytest
import tensorflow as tf

from tfhist_magic import histogram as H
from tfhist_magic.capture import _eager
from tfhist_magic.capture._ops import snapshot_rows

B = 64


def _cases():
    """Fresh values for every test (each case has its own seed: no test-order effects)."""

    def rng(i):
        return np.random.default_rng(i)

    f32 = np.finfo(np.float32)
    f64 = np.finfo(np.float64)
    grid = np.arange(-64, 65, dtype=np.float32) / 8  # k/8: values on many edges
    base = rng(9).normal(size=300).astype(np.float32)
    on_edges = H.bin_edges(base.min(), base.max(), B, np.float32).astype(np.float32)
    return {
        "normal32": rng(0).normal(size=(50, 40)).astype(np.float32),
        "wide32": (rng(1).standard_cauchy(4000) * 1e3).astype(np.float32),
        "grid": grid,
        "grid_k_over_3": (np.arange(-90, 91) / 3).astype(np.float32),
        "on_edges": np.concatenate([base, on_edges, np.nextafter(on_edges, -np.inf), np.nextafter(on_edges, np.inf)]).astype(np.float32),
        "zeros": np.zeros(17, np.float32),
        "signed_zeros": np.array([0.0, -0.0, 0.0], np.float32),
        "constant": np.full((3, 3), 2.5, np.float32),
        "bias_constant": np.full(1, 0.0003455841797403991, np.float32),
        "tiny_constant": np.full(4, 3e-38, np.float32),
        "max_constant": np.full(4, f32.max, np.float32),
        "subnormals": np.array([1e-40, -1e-40, 0.0, -0.0, 1e-45, 1.0, -1.0], np.float32),
        "only_subnormals": np.array([1e-40, 2e-40, -3e-42], np.float32),
        "subnormals64": np.array([5e-324, -1e-310, 0.0, 1.0], np.float64),
        "huge_range32": np.array([-f32.max, f32.max, 0.0, 1.0, 1e38], np.float32),
        "huge_range64": np.array([-f64.max, f64.max, 0.0, 1.0], np.float64),
        "huge_values": np.array([3e38, 2e38, 1e38, 2.5e38], np.float32),
        "nonfinite": np.array([np.nan, np.inf, -np.inf, 1, 2, 3, 0], np.float32),
        "nonfinite_huge": np.array([np.nan, 3e38, 3e38, -1.0], np.float32),
        "allnan": np.array([np.nan, np.nan], np.float32),
        "empty": np.zeros((0, 4), np.float32),
        "float64": rng(2).normal(size=777),
        "float16": (rng(3).normal(size=300) * 0.01 + 3).astype(np.float16),
        "bfloat16": (rng(4).normal(size=300)).astype(ml_dtypes.bfloat16),
        "int32": rng(5).integers(-5, 5, 200).astype(np.int32),
        "ulp_spaced": np.array([16777216, 16777218, 16777220], np.float32),
    }


CASE_NAMES = sorted(_cases())


def _check(row, values):
    values = np.asarray(values)
    dt = H.compute_dtype(values.dtype)
    v = values.astype(np.float64).ravel()
    fin = v[np.isfinite(v)]
    # The contract: the counts are numpy.histogram of the values on the reported edges.
    edges = H.bin_edges(row[B + H.MIN], row[B + H.MAX], B, dt)
    np.testing.assert_array_equal(row[:B], np.histogram(fin, bins=edges)[0])
    assert row[:B].sum() == fin.size
    # The width the device used is the one the host derives.
    lo, hi = H.binning_range(row[B + H.MIN], row[B + H.MAX], dt)
    assert row[B + H.WIDTH] == H.bin_width(lo, hi, B, dt)
    np.testing.assert_array_equal(row[B : B + 3], [np.isnan(v).sum(), (v == np.inf).sum(), (v == -np.inf).sum()])
    if fin.size == 0:
        return
    # TensorFlow sees subnormals as zero: min/max/zeros agree up to that.
    tiny = np.finfo(dt).tiny
    flushed = np.where(np.abs(fin) < tiny, 0.0, fin)
    assert row[B + H.MIN] in (fin.min(), flushed.min()) and row[B + H.MAX] in (fin.max(), flushed.max())
    assert row[B + H.ZEROS] in ((fin == 0).sum(), (flushed == 0).sum())
    m = max(1.0, np.abs(fin).max())
    rtol = 1e-2 if values.dtype in (np.float16, ml_dtypes.bfloat16) else 1e-5
    sub = tiny * fin.size  # what flushed subnormals can move a statistic by
    np.testing.assert_allclose(row[B + H.MEAN], np.mean(fin / m) * m, rtol=rtol, atol=1e-6 * m)
    np.testing.assert_allclose(row[B + H.STD], np.std(fin / m) * m, rtol=1e-4, atol=1e-6 * m)
    with np.errstate(over="ignore"):
        np.testing.assert_allclose(row[B + H.NORM], np.sqrt(np.sum((fin / m) ** 2)) * m, rtol=1e-5, atol=sub)


def _run(path, values):
    t = tf.constant(values)
    if path == "eager":
        return snapshot_rows([t], B).numpy()[0]
    f = tf.function(lambda x: snapshot_rows([x], B), jit_compile=(path == "xla"), autograph=False)
    return f(t).numpy()[0]


@pytest.mark.parametrize("path", ["eager", "graph", "xla"])
@pytest.mark.parametrize("name", CASE_NAMES)
def test_row_matches_numpy_on_every_path(name, path):
    values = _cases()[name]
    _check(_run(path, values), values)


@pytest.mark.parametrize("name", CASE_NAMES)
def test_rows_computed_now_from_numpy_are_the_devices(name, monkeypatch):
    """A watch's exit and ``%tfhist`` take small sets of rows from NumPy: they must be the
    rows a step computes on the device, subnormals flushed as the step flushes them."""
    values = _cases()[name]
    host, dtypes = _eager.rows_now([tf.constant(values)], B)
    monkeypatch.setattr(_eager, "HOST_ROWS_MAX", -1)
    device, dtypes_device = _eager.rows_now([tf.constant(values)], B)
    _check(host[0], values)
    assert dtypes == dtypes_device == [H.compute_dtype(np.asarray(values).dtype).name]  # as a step names them
    exact = list(range(B + H.MAX + 1)) + [B + H.WIDTH]  # counts, non-finite counts, zeros, min, max, width
    np.testing.assert_array_equal(host[0, exact], device[0, exact])  # the statistics: _check's tolerance


def test_rows_inside_tf_function_with_unknown_shape_match_numpy():
    @tf.function(input_signature=[tf.TensorSpec([None, 40], tf.float32)])
    def f(x):
        return snapshot_rows([x, tf.nn.relu(x)], B)

    x = _cases()["normal32"]
    rows = f(x).numpy()
    _check(rows[0], x)
    _check(rows[1], np.maximum(x, 0))


def test_one_rule_on_every_path():
    """Eager, graph and XLA give bit-identical rows (counts, edges, statistics aside
    from summation order)."""
    for name in ("on_edges", "grid", "wide32", "subnormals"):
        values = _cases()[name]
        rows = [_run(p, values) for p in ("eager", "graph", "xla")]
        for r in rows[1:]:
            np.testing.assert_array_equal(r[: B + H.MEAN], rows[0][: B + H.MEAN])
            assert r[B + H.WIDTH] == rows[0][B + H.WIDTH]


def test_xla_over_a_million_values():
    x = np.random.default_rng(6).normal(size=1_500_000).astype(np.float32)
    _check(_run("xla", x), x)


def test_many_tensors_in_one_xla_computation_match_one_by_one():
    """Under XLA every sampled tensor of a dtype is binned in one fused computation."""
    cases = _cases()
    names = ["normal32", "float64", "empty", "nonfinite", "constant", "int32", "on_edges", "huge_range32", "subnormals", "allnan", "float16"]
    values = [cases[n] for n in names]
    f = tf.function(lambda *xs: snapshot_rows(list(xs), B), jit_compile=True, autograph=False)
    rows = f(*[tf.constant(v) for v in values]).numpy()
    for name, v, row in zip(names, values, rows):
        _check(row, v)
        eager = snapshot_rows([tf.constant(v)], B).numpy()[0]
        np.testing.assert_array_equal(row[: B + H.MEAN], eager[: B + H.MEAN], err_msg=name)
        assert row[B + H.WIDTH] == eager[B + H.WIDTH]


@pytest.mark.parametrize("chunk", [4096, 1 << 20])
def test_large_tensors_under_xla_binned_a_chunk_at_a_time_exactly(monkeypatch, chunk):
    """Under XLA the tensors above SMALL_MAX values are binned a chunk at a time, in one
    loop over the chunks of all of them (the last chunk of each padded), never copied
    into the fused concatenation: their rows are the graph path's bit for bit
    (statistics aside from summation order) and the oracle's, on adversarial values,
    beside small tensors."""
    from tfhist_magic.capture import _many

    from tfhist_magic.capture import _ops

    monkeypatch.setattr(_many, "CHUNK", chunk)
    chunked = []
    from tfhist_magic.capture import _xlarows

    monkeypatch.setattr(_ops, "large_rows", lambda xs, bins: chunked.extend(x.shape.num_elements() for x in xs) or _xlarows.large_rows(xs, bins))
    cases = _cases()
    n = _many.SMALL_MAX + 4099  # a tail after whole chunks of 4096
    big = {name: np.resize(cases[name], n) for name in ("on_edges", "nonfinite", "constant", "huge_range32", "subnormals", "float64", "float16", "allnan", "signed_zeros")}
    big["exactly_chunks"] = np.resize(cases["wide32"], 4096 * 17)
    names = [*big, "normal32", "grid"]
    values = [*big.values(), cases["normal32"], cases["grid"]]
    xla = tf.function(lambda *xs: snapshot_rows(list(xs), B), jit_compile=True, autograph=False)
    rows = xla(*[tf.constant(v) for v in values]).numpy()
    assert sorted(chunked) == sorted(np.size(v) for v in big.values())  # the large ones, none of the small
    graph = tf.function(lambda *xs: snapshot_rows(list(xs), B), autograph=False)(*[tf.constant(v) for v in values]).numpy()
    for name, v, row, g in zip(names, values, rows, graph):
        _check(row, v)
        np.testing.assert_array_equal(row[: B + H.MEAN], g[: B + H.MEAN], err_msg=name)
        assert row[B + H.WIDTH] == g[B + H.WIDTH], name
        fin = np.asarray(v, np.float64)[np.isfinite(np.asarray(v, np.float64))]
        scale = max(1.0, np.abs(fin).max()) if fin.size else 1.0  # float32 sums in another order
        np.testing.assert_allclose(row[B + H.MEAN :], g[B + H.MEAN :], rtol=1e-6, atol=1e-6 * scale, err_msg=name)


def test_xla_rows_of_tensors_whose_size_is_known_only_when_the_step_runs():
    """A tensor whose batch dimension is unknown when the step is traced is binned in the
    fused computation under XLA, beside one known to be large (chunked)."""
    f = tf.function(
        lambda a, b: snapshot_rows([a, b], B), jit_compile=True, autograph=False, input_signature=[tf.TensorSpec([None, 700], tf.float32), tf.TensorSpec([70_001], tf.float32)]
    )
    a = np.random.default_rng(3).normal(size=(100, 700)).astype(np.float32)
    b = np.resize(_cases()["nonfinite"], 70_001)
    rows = f(a, b).numpy()
    _check(rows[0], a)
    _check(rows[1], b)


def _edge_stress():
    """Tensors whose values sit on, just below and just above every edge, over ranges
    at every magnitude, including the narrowest ranges the rule allows (width at its
    16-ulp floor: the arithmetic estimate is then at its least accurate)."""
    rng = np.random.default_rng(11)
    out = []
    for dt in (np.float32, np.float64):
        for _ in range(40):
            scale = 10.0 ** rng.uniform(-30, 30)
            lo = rng.normal() * scale
            kind = rng.integers(3)
            if kind == 0:  # ordinary range
                hi = lo + abs(rng.normal()) * scale + np.finfo(dt).tiny
            elif kind == 1:  # a few ulps wide: the width floor decides
                hi = np.nextafter(dt(lo), dt(np.inf) if lo >= 0 else dt(-np.inf))
                for _ in range(int(rng.integers(1, 40))):
                    hi = np.nextafter(dt(hi), dt(np.inf))
            else:  # far from zero, narrow relative to its magnitude
                hi = lo + abs(lo) * 10.0 ** rng.uniform(-6, -3)
            lo, hi = dt(min(lo, hi)), dt(max(lo, hi))
            for bins in (1, 7, B, 1024):
                e = H.bin_edges(lo, hi, bins, dt).astype(dt)
                inside = e[(e >= lo) & (e <= hi)]
                vals = np.concatenate([[lo, hi], inside, np.nextafter(inside, dt(-np.inf)), np.nextafter(inside, dt(np.inf))]).astype(dt)
                vals = vals[(vals >= lo) & (vals <= hi)]
                out.append((vals, bins))
    return out


@pytest.mark.parametrize("path", ["graph", "xla"])
def test_values_at_every_edge_over_every_magnitude(path):
    for bins in (1, 7, B, 1024):
        cases = [v for v, b in _edge_stress() if b == bins]
        for dt in (np.float32, np.float64):
            group = [v for v in cases if v.dtype == dt]
            f = tf.function(lambda *xs: snapshot_rows(list(xs), bins), jit_compile=(path == "xla"), autograph=False)
            rows = f(*[tf.constant(v) for v in group]).numpy()
            for row, values in zip(rows, group):
                edges = H.bin_edges(row[bins + H.MIN], row[bins + H.MAX], bins, H.compute_dtype(values.dtype))
                np.testing.assert_array_equal(row[:bins], np.histogram(values.astype(np.float64), bins=edges)[0])


# -- std of values a few ulps apart: the mean's rounding is then as large as the spread ---


def _exact_moments(values):
    """``(mean, std)`` of the finite values, exactly (rationals), rounded once to float64."""
    from fractions import Fraction

    fin = [Fraction(float(v)) for v in np.asarray(values, np.float64).ravel() if np.isfinite(v)]
    n = len(fin)
    mean = sum(fin) / n
    var = sum((f - mean) ** 2 for f in fin) / n
    if var == 0:
        return float(mean), 0.0
    # sqrt(p / q) to 60 significant bits: isqrt of p * 4**s // q, then scaled back.
    s = max(0, 60 - (var.numerator.bit_length() - var.denominator.bit_length()) // 2)
    return float(mean), float(Fraction(__import__("math").isqrt(var.numerator * 4**s // var.denominator), 2**s))


def _few_ulps(dtype, mag, spread, seed, nan):
    """~300 values ``v + j ulp`` for ``j`` in ``0..spread`` (``v`` = ``mag`` in ``dtype``),
    every ``j`` present, in random order; with a NaN among them when ``nan``."""
    dt = np.dtype(dtype)
    bits = np.array([mag], dt).view(f"u{dt.itemsize}")[0]
    rng = np.random.default_rng(seed)
    j = np.concatenate([np.arange(spread + 1), rng.integers(0, spread + 1, 300 - spread - 1)])
    v = (bits + rng.permutation(j).astype(bits.dtype)).view(dt)
    return np.insert(v, 150, np.array(np.nan, dt)) if nan else v


_ULP_MAGNITUDES = {np.dtype(np.float16): (1e-4, 1.0, 3e4, 6e4)}  # float16 has no 1e-30 or 1e30


@pytest.mark.parametrize("path", ["graph", "xla"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16, ml_dtypes.bfloat16], ids=["float32", "float64", "float16", "bfloat16"])
def test_std_of_values_a_few_ulps_apart(dtype, path):
    """Values within 1..8 ulps of each other at every magnitude, with and without a NaN
    among them: std (and mean) as the exact ones to 1e-6, on the normal and the XLA path
    (the mean rounded to the compute dtype is then off by as much as the spread; the std
    was off by up to 9%, or 0 with a NaN)."""
    mags = _ULP_MAGNITUDES.get(np.dtype(dtype), (1e-30, 1.0, 3e4, 1e30))
    cases = [_few_ulps(dtype, mag, spread, seed, nan) for seed, (mag, spread, nan) in enumerate((m, s, n) for m in mags for s in (1, 2, 3, 8) for n in (False, True))]
    f = tf.function(lambda *xs: snapshot_rows(list(xs), B), jit_compile=(path == "xla"), autograph=False)
    rows = f(*[tf.constant(v) for v in cases]).numpy()
    for row, values in zip(rows, cases):
        _check(row, values)
        mean, std = _exact_moments(values)
        assert std > 0
        where = f"{np.dtype(dtype).name} {values[0]!r}: {np.unique(values[np.isfinite(values)]).size} values"
        np.testing.assert_allclose(row[B + H.STD], std, rtol=1e-6, err_msg=where)
        assert abs(row[B + H.MEAN] - mean) <= 1e-6 * std + np.spacing(abs(mean)), where


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_replicas_merge_the_std_of_values_a_few_ulps_apart(dtype):
    """The distributed combination (each replica's parts, summed, then one row) on the
    same values split unequally over three replicas (one share empty): the std and mean
    as the exact ones; counts, min and max as one device computes."""
    from tfhist_magic.capture import _rule

    def merged(values, cuts):
        x = tf.constant(values)
        shares = [x[a:b] for a, b in zip((0, *cuts), (*cuts, len(values)))]
        mn = tf.reduce_min(tf.stack([_rule.finite_range(s)[0] for s in shares]))
        mx = tf.reduce_max(tf.stack([_rule.finite_range(s)[1] for s in shares]))
        lo, w, large = _rule.shared_range(mn, mx, B, x.dtype)
        p = tf.add_n([_rule.count_part(s, lo, w, large, B) for s in shares])
        return _rule.merged_row(p, mn, mx, lo, w, large, B, x.dtype).numpy()

    cases = [_few_ulps(dtype, mag, spread, seed, nan) for seed, (mag, spread, nan) in enumerate((m, s, n) for m in (1e-30, 1.0, 3e4, 1e30) for s in (1, 3, 8) for n in (False, True))]
    cases += [_cases()[name].astype(dtype).ravel() for name in ("normal32", "huge_range32", "nonfinite_huge", "wide32")]
    for values in cases:
        row = merged(values, (0, 97))  # the first share is empty
        one = snapshot_rows([tf.constant(values)], B).numpy()[0]
        np.testing.assert_array_equal(row[: B + H.MEAN], one[: B + H.MEAN])
        mean, std = _exact_moments(values)
        where = f"{np.dtype(dtype).name} {values[:3]!r}"
        np.testing.assert_allclose(row[B + H.STD], std, rtol=1e-6, err_msg=where)
        np.testing.assert_allclose(row[B + H.STD], one[B + H.STD], rtol=1e-6, err_msg=where)
        assert abs(row[B + H.MEAN] - mean) <= 1e-6 * std + np.spacing(abs(mean)), where


def test_shared_constants_merge_equal_bytes_only_and_keep_control_dependencies():
    """The cached functions' bodies are traced with equal constants merged (fewer nodes for
    every training function to instantiate): only constants of the same bytes, never one
    made under a control dependency, and the values are what they were."""
    from tfhist_magic.capture import _compat

    def body(x):
        a = x * 0.5 + tf.constant(0.5, tf.float32) + 0.5  # three equal constants
        z = (a * 0.0) + (a * -0.0)  # +0 and -0: different bytes, not merged
        with tf.control_dependencies([a]):
            c = tf.constant(0.5)  # keeps its control input
        return a, z, c, tf.constant([1.0, 2.0]) + tf.constant([1.0, 2.0]) + x[:2]

    x = tf.constant([1.0, -2.0, 3.0])
    plain = tf.function(body).get_concrete_function(x).graph
    shared = _compat.cached_function(body, [tf.TensorSpec([3], tf.float32)])
    assert shared._tfhist_own  # a watch never swaps this package's own traces
    graph = shared.get_concrete_function().graph

    def consts(g):
        return [op for op in g.get_operations() if op.type == "Const"]

    assert len(consts(graph)) < len(consts(plain))
    halves = [op for op in consts(graph) if op.get_attr("value").float_val == [0.5] and not op.control_inputs]
    assert len(halves) == 1
    assert any(op.control_inputs for op in consts(graph))  # the one under the control dependency
    zeros = sorted(np.signbit(tf.make_ndarray(op.get_attr("value"))).item() for op in consts(graph) if op.get_attr("value").float_val == [0.0])
    assert zeros == [False, True]
    want = [v.numpy() for v in tf.function(body)(x)]
    got = [v.numpy() for v in shared(x)]
    for w, g in zip(want, got):
        np.testing.assert_array_equal(g, w)
        assert np.array_equal(np.signbit(g), np.signbit(w))
    from tensorflow.python.framework import ops as tf_ops

    assert tf_ops._create_graph_constant is _compat._real_graph_constant  # the patch is gone


def test_shared_constants_leave_other_threads_alone():
    """While one thread traces a shared body, another thread's tf.function keeps every
    constant it makes, and the patch goes when the last thread leaves."""
    import threading

    from tensorflow.python.framework import ops as tf_ops

    from tfhist_magic.capture import _compat

    inside, done = threading.Event(), threading.Event()

    def hold():
        with _compat.shared_constants():
            inside.set()
            done.wait(30)

    t = threading.Thread(target=hold)
    t.start()
    try:
        assert inside.wait(30)
        g = tf.function(lambda x: x + 0.25 + 0.25).get_concrete_function(tf.TensorSpec([], tf.float32)).graph
        assert sum(op.type == "Const" for op in g.get_operations()) == 2
        with _compat.shared_constants():  # nested with the other thread's: one patch
            pass
        assert tf_ops._create_graph_constant is not _compat._real_graph_constant
    finally:
        done.set()
        t.join()
    assert tf_ops._create_graph_constant is _compat._real_graph_constant


def _complex_cases():
    """Complex tensors whose magnitudes are exact (real or imaginary parts only, either
    sign) and, in complex128, a few 1e-12 apart: float32 would merge them."""
    r = 1.0 + np.arange(1000) * 1e-12
    z = np.where(np.arange(1000) % 2 == 0, r * (-1) ** np.arange(1000), 1j * r * (-1) ** (np.arange(1000) // 3))
    return [z.astype(np.complex128), z.astype(np.complex64)]


@pytest.mark.parametrize("where", ["host", "device"])
def test_complex_tensors_are_binned_and_named_as_their_magnitudes(where, monkeypatch):
    """``|z|`` of a complex128 tensor is binned in float64 and named float64 (complex64:
    float32), so the edges a viewer derives from a row and its dtype are the ones it
    was counted on."""
    if where == "device":
        monkeypatch.setattr(_eager, "HOST_ROWS_MAX", -1)
    for z in _complex_cases():
        rows, dtypes = _eager.rows_now([tf.constant(z)], B)
        magnitude = np.abs(z)
        assert dtypes == [magnitude.dtype.name]
        row = rows[0]
        edges = H.bin_edges(row[B + H.MIN], row[B + H.MAX], B, H.compute_dtype(np.dtype(dtypes[0])))
        np.testing.assert_array_equal(row[:B], np.histogram(magnitude.astype(np.float64), bins=edges)[0])
        assert (row[B + H.MIN], row[B + H.MAX]) == (magnitude.min(), magnitude.max())
