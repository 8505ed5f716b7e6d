"""The rings' own functions are traced once per structure and shared by later watches
(``capture._shared``): a second model of the same layers reuses the trace, and records
its own values, not the first model's: weights and gradients against NumPy and
GradientTape on that model, update scalars against its own weights before and after each
step, the first non-finite step its own. Nothing of a watch stays alive with the trace."""

import gc
import weakref

import keras
import numpy as np
import pytest
import tensorflow as tf

import tfhist_magic
from test_scalars import KeepWeights
from tfhist_magic import histogram as H
from tfhist_magic.capture import _shared

L = keras.layers
BATCH = 16
LR = 0.05


def _model(seed, hidden=12, kernel_init="glorot_uniform"):
    keras.utils.set_random_seed(seed)
    m = keras.Sequential([keras.Input((6,)), L.Dense(hidden, activation="tanh", kernel_initializer=kernel_init), L.Dense(1)])
    m.compile(optimizer=keras.optimizers.SGD(LR), loss="mse")
    return m


def _data(seed, n=64):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 6)).astype("float32")
    y = rng.normal(size=(n, 1)).astype("float32")
    return x, y


def _watch(m, x, y, **kw):
    keep = KeepWeights(m, dtype=None)  # the weights' own float32 values: exact counts
    with tfhist_magic.watch(every=1, **kw) as rec:
        m.fit(x, y, batch_size=BATCH, epochs=1, verbose=0, shuffle=False, callbacks=[keep])
    keep.snaps.append(keep.now())
    return rec, keep.snaps


def _tape_grads(weights, xb, yb):
    w = [tf.constant(a) for a in weights]
    with tf.GradientTape() as tape:
        tape.watch(w)
        h = tf.tanh(xb @ w[0] + w[1])
        loss = tf.reduce_mean(tf.square(yb - (h @ w[2] + w[3])))
    return [g.numpy() for g in tape.gradient(loss, w)]


def _traces() -> dict:
    """kind of shared function ("record", "after") -> traces made, over the cache."""
    out: dict = {}
    for key, fn in _shared.SHARED.items():
        out[key[0]] = out.get(key[0], 0) + fn.fn.experimental_get_tracing_count()
        assert not fn.leaked, key
    return out


def _check_own_values(m, rec, snaps, x, y, init_distance=True):
    """Everything ``rec`` holds of ``m`` is ``m``'s: its weights' rows (NumPy), its
    gradients' rows (GradientTape on its weights), its update scalars."""
    n = len(x) // BATCH
    names = [v.path for v in m.trainable_variables]
    bins = rec.bins
    for k in range(n + 1):  # the last: the final weights, at the watch's exit
        for i, name in enumerate(names):
            w = rec.series("weights", name)
            np.testing.assert_array_equal(w.steps, np.arange(n + 1))
            want = H.reference_row(snaps[k][i], bins)
            np.testing.assert_array_equal(w.counts[k], want[:bins].astype(np.int64))
            assert w.min[k] == want[bins + H.MIN] and w.max[k] == want[bins + H.MAX]
    for k in range(n):
        grads = _tape_grads(snaps[k], x[k * BATCH : (k + 1) * BATCH], y[k * BATCH : (k + 1) * BATCH])
        for i, name in enumerate(names):
            g = rec.series("grads", name)
            np.testing.assert_allclose(g.mean[k], grads[i].astype(np.float64).mean(), rtol=1e-4, atol=1e-7)
            np.testing.assert_allclose(g.max[k], grads[i].max(), rtol=1e-4, atol=1e-7)
    for i, name in enumerate(names):
        _, un = rec.scalar("update_norm", name)
        np.testing.assert_allclose(un, [np.linalg.norm(snaps[k + 1][i].astype(np.float64) - snaps[k][i]) for k in range(n)], rtol=1e-5)
        if not init_distance:
            assert name not in rec.scalar_names("init_distance")
            continue
        _, dist = rec.scalar("init_distance", name)  # from this model's own start, in this watch's origins
        np.testing.assert_allclose(dist, [np.linalg.norm(snaps[k][i].astype(np.float64) - snaps[0][i]) for k in range(n)], rtol=1e-5, atol=1e-12)


def test_a_second_model_of_the_same_layers_reuses_the_trace_and_records_its_own_values():
    x, y = _data(0)
    first, second = _model(0), _model(1, kernel_init="random_normal")  # other values, same structure
    rec1, snaps1 = _watch(first, x, y)
    assert _traces() == {"record": 1, "after": 1}
    rec2, snaps2 = _watch(second, x[::-1].copy(), y[::-1].copy())
    assert _traces() == {"record": 1, "after": 1}  # no new trace of the shared functions
    assert not np.allclose(snaps1[0][0], snaps2[0][0])
    _check_own_values(first, rec1, snaps1, x, y)
    _check_own_values(second, rec2, snaps2, x[::-1].copy(), y[::-1].copy())
    # each watch's first non-finite step is its own (the check's variable is an argument)
    third = _model(2)
    bad_y = y.copy()
    bad_y[BATCH * 2] = np.nan  # the third batch's loss and gradients are NaN
    rec3, _ = _watch(third, x, bad_y)
    assert _traces() == {"record": 1, "after": 1}
    assert rec3.first_nonfinite == 2
    assert rec1.first_nonfinite is None and rec2.first_nonfinite is None


@pytest.mark.parametrize("init_distance", [True, False])
def test_other_shapes_trace_their_own_and_record_their_own_values(init_distance):
    """A width sweep: the same layers and counts, other weight shapes (baked into the
    trace: the tensors grouped by shape, the update scalars' offsets), so each width has
    its trace, and a later width never reuses an earlier one's; without the origins too,
    whose layout names the sizes."""
    x, y = _data(1)
    for hidden in (12, 7, 20):
        m = _model(hidden, hidden=hidden)
        rec, snaps = _watch(m, x, y, init_distance=init_distance)
        _check_own_values(m, rec, snaps, x, y, init_distance)
    assert _traces() == {"record": 3, "after": 3}
    assert [fn.fn.experimental_get_tracing_count() for _, fn in _shared.SHARED.items()] == [1] * 6  # one key each


def test_a_trace_that_captures_what_it_was_not_handed_is_never_shared(monkeypatch):
    """The sampled branch made to read a tensor from outside it (what a missed variable
    would be): each ring gets functions of its own, the values stay each model's, the
    leaked trace is dropped and keeps no watch alive; the update scalars' functions,
    which read nothing else, are still shared."""
    from tfhist_magic.capture import _traced

    real = _traced._sampled_fn
    outside = tf.constant(0, tf.int64)  # made outside every function: a capture

    def leaky(*args, **kwargs):
        record = real(*args, **kwargs)

        def wrapped(step, checked, live):
            step, held, stds = record(step, checked, live)
            return step + outside, held, stds

        return wrapped

    monkeypatch.setattr(_traced, "_sampled_fn", leaky)
    x, y = _data(5)
    first = _model(0)
    rec, snaps = _watch(first, x, y)
    _check_own_values(first, rec, snaps, x, y)
    refs = [weakref.ref(v.value) for v in first.trainable_variables]
    del first, rec
    gc.collect()
    assert all(r() is None for r in refs)
    second = _model(1, kernel_init="random_normal")
    rec, snaps = _watch(second, x, y)
    _check_own_values(second, rec, snaps, x, y)
    assert [k[0] for k in _shared._LEAKED] == ["record"]
    assert [k[0] for k in _shared.SHARED] == ["after"]
    assert _traces() == {"after": 1}


def test_the_shared_trace_keeps_no_watch_alive():
    x, y = _data(2)
    m = _model(0)
    rec, _ = _watch(m, x, y)
    assert _traces() == {"record": 1, "after": 1}
    refs = [weakref.ref(v.value) for v in m.trainable_variables]  # the tf.Variables the trace read
    del m, rec
    gc.collect()
    assert all(r() is None for r in refs)
    # the traces stay, and serve the next watch, though the variables they were traced
    # with are gone
    m = _model(1)
    rec, snaps = _watch(m, x, y)
    assert _traces() == {"record": 1, "after": 1}
    _check_own_values(m, rec, snaps, x, y)


def test_mixed_precision_shares_too():
    """Keras 3 mixed precision hands its plain float32 variables on (``v.value``), the loss
    scale as an input: shared, and exact."""
    x, y = _data(3)
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        models = [_model(0), _model(1)]
        got = [_watch(m, x, y) for m in models]
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert _traces() == {"record": 1, "after": 1}
    for m, (rec, snaps) in zip(models, got):
        name = m.trainable_variables[0].path
        want = H.reference_row(snaps[0][0], rec.bins)
        np.testing.assert_array_equal(rec.series("weights", name).counts[0], want[: rec.bins].astype(np.int64))


def test_variables_that_cannot_be_handed_on_keep_functions_of_their_watch():
    """tf_keras' mixed precision weights are AutoCast variables: no shared trace, the
    watch's own functions, the same rows."""
    tf_keras = pytest.importorskip("tf_keras")
    x, y = _data(4)
    tf_keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        tf_keras.utils.set_random_seed(0)
        m = tf_keras.Sequential([tf_keras.Input((6,)), tf_keras.layers.Dense(12, activation="tanh"), tf_keras.layers.Dense(1)])
        m.compile(optimizer=tf_keras.optimizers.SGD(LR), loss="mse")
        w0 = m.trainable_variables[0].numpy()
        with tfhist_magic.watch(every=1) as rec:
            m.fit(x, y, batch_size=BATCH, epochs=1, verbose=0, shuffle=False)
    finally:
        tf_keras.mixed_precision.set_global_policy("float32")
    assert not len(_shared.SHARED)
    s = rec.series("weights", rec.names("weights")[0])
    want = H.reference_row(w0, rec.bins)
    np.testing.assert_array_equal(s.counts[0], want[: rec.bins].astype(np.int64))
    np.testing.assert_array_equal(s.steps, np.arange(len(x) // BATCH + 1))  # and the final weights
