"""The in-graph ops against the NumPy oracle, on the same values."""

import numpy as np
import pytest
import tensorflow as tf

from tfhist_magic import histogram as H
from tfhist_magic.capture._ops import snapshot_rows

B = 64
rng = np.random.default_rng(0)
CASES = {
    "normal32": rng.normal(size=(50, 40)).astype(np.float32),
    "wide32": (rng.standard_cauchy(4000) * 1e3).astype(np.float32),
    "grid": np.linspace(-1, 1, 129).astype(np.float32),
    "zeros": np.zeros(17, np.float32),
    "constant": np.full((3, 3), 2.5, np.float32),
    "nonfinite": np.array([np.nan, np.inf, -np.inf, 1, 2, 3, 0], np.float32),
    "allnan": np.array([np.nan, np.nan], np.float32),
    "empty": np.zeros((0, 4), np.float32),
    "float64": rng.normal(size=777),
    "float16": (rng.normal(size=300) * 0.01 + 3).astype(np.float16),
    "int32": rng.integers(-5, 5, 200).astype(np.int32),
    "huge": np.full(7, 1e30, np.float32),
}


def _check(row, values, rule=None):
    got_rule = "step" if row[B + H.SCALE] < 0 else "scale"
    if rule is not None:
        assert got_rule == rule
    ref = H.reference_row(values, B, rule=got_rule)
    np.testing.assert_array_equal(row[:B], ref[:B])  # exact counts
    np.testing.assert_array_equal(row[B : B + 4], ref[B : B + 4])  # nan, +inf, -inf, zeros
    np.testing.assert_array_equal(row[B + H.MIN], ref[B + H.MIN])
    np.testing.assert_array_equal(row[B + H.MAX], ref[B + H.MAX])
    np.testing.assert_array_equal(row[B + H.SCALE], ref[B + H.SCALE])
    scale = max(1.0, abs(ref[B + H.MIN]), abs(ref[B + H.MAX])) if np.isfinite(ref[B + H.MIN]) else 1.0
    np.testing.assert_allclose(row[B + H.MEAN], ref[B + H.MEAN], rtol=1e-5, atol=1e-6 * scale)
    np.testing.assert_allclose(row[B + H.STD], ref[B + H.STD], rtol=1e-4, atol=1e-6 * scale)
    np.testing.assert_allclose(row[B + H.NORM], ref[B + H.NORM], rtol=1e-5)
    # And the counts are numpy.histogram of the values on the edges of the row.
    edges = H.bin_edges(row[B + H.MIN], row[B + H.MAX], row[B + H.SCALE], B, H.compute_dtype(values.dtype))
    v = values.astype(np.float64).ravel()
    np.testing.assert_array_equal(row[:B], np.histogram(v[np.isfinite(v)], bins=edges)[0])


@pytest.mark.parametrize("name", sorted(CASES))
def test_eager_row_matches_numpy(name):
    values = CASES[name]
    row = snapshot_rows([tf.constant(values)], B).numpy()[0]
    _check(row, values)


def test_rows_inside_tf_function_with_unknown_shape_match_numpy():
    @tf.function(input_signature=[tf.TensorSpec([None, 40], tf.float32)])
    def f(x):
        return snapshot_rows([x, tf.nn.relu(x)], B)

    x = CASES["normal32"]
    rows = f(x).numpy()
    _check(rows[0], x)
    _check(rows[1], np.maximum(x, 0))


def test_bfloat16():
    x = rng.normal(size=100).astype(np.float32)
    t = tf.cast(tf.constant(x), tf.bfloat16)
    row = snapshot_rows([t], B).numpy()[0]
    _check(row, tf.cast(t, tf.float32).numpy())


def test_cpu_uses_histogram_fixed_width_rule():
    row = snapshot_rows([tf.constant(CASES["normal32"])], B).numpy()[0]
    _check(row, CASES["normal32"], rule="step")


@pytest.mark.parametrize("name", ["normal32", "wide32", "grid", "constant", "nonfinite", "float64", "empty"])
def test_portable_rule_under_xla_matches_numpy(name):
    """Inside jit_compile (as Keras does on GPU) the XLA-compatible rule is used."""
    values = CASES[name]

    @tf.function(jit_compile=True)
    def f(x):
        return snapshot_rows([x], B)

    row = f(tf.constant(values)).numpy()[0]
    _check(row, values, rule="scale")
