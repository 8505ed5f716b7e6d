"""The JAX backend: its rows against the NumPy oracle (here: JAX alone, no Keras), and
the Keras-on-JAX tests (tests/test_jax_keras.py), run in a process of their own with
KERAS_BACKEND=jax (Keras picks its backend at import; this suite runs on TensorFlow).
Skipped only when JAX is not importable."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

jax = pytest.importorskip("jax")
import jax.numpy as jnp  # noqa: E402

from test_ops import B, _cases, _check, _edge_stress  # noqa: E402
from tfhist_magic import histogram as H  # noqa: E402
from tfhist_magic.capture import _jnp as J  # noqa: E402
from tfhist_magic.capture._jax_engine import _distance  # noqa: E402

HERE = Path(__file__).parent


def _rows(values, bins=B, jit=True):
    def f(*xs):
        return J.rows(list(xs), bins)

    with J.x64():  # float64 values stay float64 (JAX's default would make them float32)
        return np.asarray((jax.jit(f) if jit else f)(*[jnp.asarray(v) for v in values]))


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
def test_rows_match_numpy_bit_for_bit_on_the_adversarial_cases(jit):
    """Every case tests/test_ops.py gives the TensorFlow paths, one fused computation:
    counts, non-finite counts, min, max and width equal to the oracle's, bit for bit."""
    cases = _cases()
    names = sorted(n for n in cases if n != "bfloat16" or jit)
    rows = _rows([cases[n] for n in names], jit=jit)
    for name, row in zip(names, rows):
        v = cases[name]
        _check(row, v)
        ref = H.reference_row(v, B)
        np.testing.assert_array_equal(row[: B + 3], ref[: B + 3], err_msg=name)
        assert row[B + H.WIDTH] == ref[B + H.WIDTH], name
        if np.isfinite(v.astype(np.float64)).any() and name not in ("subnormals", "only_subnormals", "subnormals64"):
            assert (row[B + H.MIN], row[B + H.MAX]) == (ref[B + H.MIN], ref[B + H.MAX]), name


def test_values_at_every_edge_over_every_magnitude():
    for bins in (1, 7, B, 1024):
        cases = [v for v, b in _edge_stress() if b == bins]
        for dt in (np.float32, np.float64):
            group = [v for v in cases if v.dtype == dt]
            for row, values in zip(_rows(group, bins), group):
                edges = H.bin_edges(row[bins + H.MIN], row[bins + H.MAX], bins, H.compute_dtype(values.dtype))
                np.testing.assert_array_equal(row[:bins], np.histogram(values.astype(np.float64), bins=edges)[0])


def test_rows_of_tensors_around_the_block_size_ignore_the_padding():
    """Tensors of 0, 1, BLOCK - 1, BLOCK, BLOCK + 1 and a few BLOCKs of values, all
    negative (a padding zero would be the maximum and a zero), with NaN/Inf at the last
    positions of a row: every row equals the oracle's, bit for bit where it is exact,
    and the moments and update scalars agree with NumPy's on the same values."""
    rng = np.random.default_rng(3)
    k = J.BLOCK
    sizes = [0, 1, k - 1, k, k + 1, 3 * k + 7, 5]
    values = []
    for n in sizes:
        v = -np.abs(rng.normal(size=n)).astype(np.float32) - 1.0
        if n >= k:
            v[k - 1], v[-1] = np.nan, -np.inf
        values.append(v)
    for row, v in zip(_rows(values), values):
        ref = H.reference_row(v, B)
        np.testing.assert_array_equal(row[: B + 3], ref[: B + 3], err_msg=str(v.size))
        assert row[B + H.ZEROS] == 0 and row[B + H.WIDTH] == ref[B + H.WIDTH]
        if v.size:
            _check(row, v)
            fin = v[np.isfinite(v)].astype(np.float64)
            assert (row[B + H.MIN], row[B + H.MAX]) == (fin.min(), fin.max())
            np.testing.assert_allclose(row[B + H.STD], np.std(fin), rtol=1e-12)
    befores = [np.nan_to_num(v, nan=-3.0, neginf=-4.0) for v in values]  # finite
    afters = [v * np.float32(0.75) + np.float32(0.5) for v in befores]
    origins = [v[::-1].copy() for v in befores]
    with J.x64():
        got = np.asarray(jax.jit(lambda *t: J.update_scalars(*t, [True] * len(values)))(afters, befores))
    for (r, du, dist), a, b, o in zip(got, afters, befores, origins):
        a, b, o = (v.astype(np.float64) for v in (a, b, o))
        np.testing.assert_allclose(du, np.linalg.norm(a - b), rtol=1e-12, err_msg=str(b.size))
        assert np.isnan(dist)  # measured on the host, against the w0 kept there
        np.testing.assert_allclose(_distance(b.astype(np.float32), o.astype(np.float32), chunk=1000), np.linalg.norm(b - o), rtol=1e-12)
        if b.size > 1:
            np.testing.assert_allclose(r, np.std(a - b) / np.std(b), rtol=1e-9, err_msg=str(b.size))
        else:  # std(before) is 0: no ratio
            assert np.isnan(r)


def test_rows_do_not_depend_on_the_chunk_of_rows(monkeypatch):
    """The row loop's chunk (64 rows on a CPU, 4096 on an accelerator, here 1, 4 and 4096
    rows) changes how the values are walked (a vector of a chunk or more is read where it
    lies, chunk by chunk), never the counts, min, max or width, and the moments and the
    update scalars only within float64 rounding."""
    rng = np.random.default_rng(4)
    values = [rng.normal(size=n).astype(np.float32) for n in (5 * J.BLOCK + 3, 7, 2 * J.BLOCK)]
    values[0][::97] = np.nan
    got = {}
    for rows in (1, 4, 4096):  # 4: nine rows of values, three of padding
        monkeypatch.setattr(J, "CHUNK_ROWS", rows)
        got[rows] = _rows(values)
    for rows, out in got.items():
        np.testing.assert_array_equal(out[:, : B + 6], got[4096][:, : B + 6], err_msg=str(rows))
        assert (out[:, B + H.WIDTH] == got[4096][:, B + H.WIDTH]).all()
        np.testing.assert_allclose(out[:, B + H.STD], got[4096][:, B + H.STD], rtol=1e-14)
    for row, v in zip(got[1], values):
        np.testing.assert_array_equal(row[: B + 3], H.reference_row(v, B)[: B + 3])
    # the update scalars walk the same chunks: a large weight read where it lies, its last
    # chunk reading values again (masked out) when its size is not a whole number of chunks
    befores = [np.nan_to_num(v, nan=0.25) for v in values]
    afters = [v * np.float32(0.5) - np.float32(1.0) for v in befores]
    for rows in (1, 4, 4096):
        monkeypatch.setattr(J, "CHUNK_ROWS", rows)
        with J.x64():
            out = np.asarray(jax.jit(lambda *t: J.update_scalars(*t, [True] * 3))(afters, befores))
        for (r, du, _), a, b in zip(out, afters, befores):
            a, b = (v.astype(np.float64) for v in (a, b))
            np.testing.assert_allclose([r, du], [np.std(a - b) / np.std(b), np.linalg.norm(a - b)], rtol=1e-9, err_msg=str(rows))


def test_update_scalars_and_probes_against_numpy():
    rng = np.random.default_rng(1)
    a, b, o = (rng.normal(size=(6, 5)).astype(np.float32) for _ in range(3))
    c = np.zeros(4, np.float32)
    with J.x64():
        got = np.asarray(J.update_scalars([a, c], [b, c], [True, True]))
        act = np.maximum(rng.normal(size=(10, 4)), 0).astype(np.float32)
        act[:, 1] = 0
        p = np.asarray(J.probes([act, np.tanh(act * 9)], ["units", "tanh"]))
    np.testing.assert_allclose(got[0, :2], [np.std(a - b) / np.std(b), np.linalg.norm(a - b)], rtol=1e-6)
    assert np.isnan(got[1, 0]) and got[1, 1] == 0  # std(before) 0: no ratio
    np.testing.assert_allclose(_distance(b.ravel(), o.ravel()), np.linalg.norm(b.astype(np.float64) - o), rtol=1e-12)
    assert _distance(c, c) == 0 and np.isnan(_distance(np.array([np.nan, 1], np.float32), np.zeros(2, np.float32)))
    assert p[0, 0] == 0.25 and np.isnan(p[0, 1])
    np.testing.assert_allclose(p[1, 1], np.mean(np.abs(np.tanh(act * 9)) > 0.97))


@pytest.fixture(scope="module")
def jax_run(tmp_path_factory):
    """tests/test_jax_keras.py in a process with KERAS_BACKEND=jax; it leaves a JAX run of a
    small model (and its initial weights) in the returned folder."""
    out = tmp_path_factory.mktemp("jax_run")
    env = dict(os.environ, KERAS_BACKEND="jax", TFHIST_JAX_OUT=str(out), TF_CPP_MIN_LOG_LEVEL="3")
    got = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(HERE / "test_jax_keras.py")],
        capture_output=True, text=True, timeout=1500, env=env, cwd=HERE.parent,
    )
    return got, out


def test_keras_on_jax_fit_over_two_devices():
    """``fit`` under ``keras.distribution.DataParallel`` over two (host) devices, in a
    process of its own (the device count is fixed when JAX starts): the recording step
    and the lean step (tests/test_jax_keras.py::test_fit_under_a_keras_distribution)."""
    env = dict(os.environ, KERAS_BACKEND="jax", TF_CPP_MIN_LOG_LEVEL="3", TFHIST_JAX_DEVICES="2")
    env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=2").strip()
    got = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-k", "keras_distribution", str(HERE / "test_jax_keras.py")],
        capture_output=True, text=True, timeout=600, env=env, cwd=HERE.parent,
    )
    assert got.returncode == 0 and "2 passed" in got.stdout, got.stdout[-3000:] + got.stderr[-3000:]


def test_keras_on_jax_in_its_own_process(jax_run):
    got, _ = jax_run
    assert got.returncode == 0, got.stdout[-6000:] + got.stderr[-3000:]
    assert " passed" in got.stdout and "skipped" not in got.stdout.splitlines()[-1], got.stdout[-2000:]


def test_a_jax_run_compares_with_a_tensorflow_run_of_the_same_model(jax_run, data):
    """The same model, weights and batches, trained on TensorFlow here: the runs share
    every tensor name, step 0's weights are the same rows, and the gradients nearly so."""
    import keras

    import tfhist_magic
    from tfhist_magic.recording import Recording

    got, out = jax_run
    if not (out / "jax_run.npz").exists():
        pytest.fail("the JAX process left no run: " + got.stdout[-3000:])
    init = np.load(out / "init.npz")
    m = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu", name="hidden"), keras.layers.Dense(1, name="out")])
    m.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    m.set_weights([init[f"arr_{i}"] for i in range(4)])
    with tfhist_magic.watch(m, every=1) as tf_run:
        m.fit(*data, batch_size=16, epochs=1, verbose=0, shuffle=False)
    jax_rec = Recording.load(out / "jax_run.npz")
    cmp = tfhist_magic.compare(jax_rec, tf_run, labels=["jax", "tf"])
    assert not cmp.only  # every tensor in both runs
    for kind in ("weights", "grads", "activations"):
        assert len(cmp.tensors(kind)) == len(tf_run.names(kind)) > 0
    for jn, tn in zip(jax_rec.names("weights"), tf_run.names("weights")):
        a, b = jax_rec.series("weights", jn), tf_run.series("weights", tn)
        np.testing.assert_array_equal(a.rows[0][: B + 6], b.rows[0][: B + 6])  # same values, same row
        np.testing.assert_array_equal(a.steps, b.steps)
    for _, score in cmp.ranking("grads"):
        assert score < 0.05  # the same training, up to float rounding
    assert "jax" in cmp.summary()


def test_bad_backend_is_a_one_line_usage_error(tmp_path):
    """A model built under JAX, then Keras switched to TensorFlow: one UsageError line
    naming both backends (in a process of its own: the switch reloads Keras)."""
    code = """
import os
os.environ["KERAS_BACKEND"] = "jax"
import keras
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
m = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
keras.config.set_backend("tensorflow")
ip = InteractiveShell.instance()
ip.run_line_magic("load_ext", "tfhist_magic")
ip.user_ns["m"] = m
try:
    ip.run_cell_magic("tfhist_watch", "m", "pass")
except UsageError as e:
    print("USAGE:" + str(e))
"""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    got = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600, env=env, cwd=HERE.parent)
    line = [ln for ln in got.stdout.splitlines() if ln.startswith("USAGE:")]
    assert line, got.stdout[-2000:] + got.stderr[-2000:]
    assert "built under the jax backend" in line[0] and "runs on the tensorflow backend" in line[0]


@pytest.mark.parametrize("name", sorted(_cases()))
def test_rows_computed_now_on_the_host_are_the_devices(name, monkeypatch):
    """The exit and ``%tfhist`` take small sets of rows from NumPy: they must be the rows
    the compiled computation gives for the same array, subnormals flushed as a CPU step
    flushes them (the oracle's statistics aside)."""
    from tfhist_magic.capture import _jax_rows as E

    values = _cases()[name]
    with J.x64():  # float64 stays float64
        array = jnp.asarray(values)
    host, dtypes = E.rows_now([array], B)
    monkeypatch.setattr(E, "HOST_ROWS_MAX", -1)
    device, dtypes_device = E.rows_now([array], B)
    _check(host[0], values)
    assert dtypes == dtypes_device == [H.compute_dtype(np.asarray(values).dtype).name]
    exact = list(range(B + H.MAX + 1)) + [B + H.WIDTH]  # counts, non-finite counts, zeros, min, max, width
    np.testing.assert_array_equal(host[0, exact], device[0, exact])


def test_complex_arrays_are_binned_and_named_as_their_magnitudes():
    """As on TensorFlow (tests/test_ops.py): complex128 binned and named float64."""
    from test_ops import _complex_cases

    from tfhist_magic.capture import _jax_rows as E

    for z in _complex_cases():
        with J.x64():
            rows, dtypes = E.rows_now([jnp.asarray(z)], B)
            device = _rows([z])
        magnitude = np.abs(z)
        assert dtypes == [magnitude.dtype.name]
        for row in (rows[0], device[0]):
            edges = H.bin_edges(row[B + H.MIN], row[B + H.MAX], B, H.compute_dtype(np.dtype(dtypes[0])))
            np.testing.assert_array_equal(row[:B], np.histogram(magnitude.astype(np.float64), bins=edges)[0])
            assert (row[B + H.MIN], row[B + H.MAX]) == (magnitude.min(), magnitude.max())
