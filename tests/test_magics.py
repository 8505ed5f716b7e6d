"""The magics through a real InteractiveShell."""

import numpy as np
import pytest
from IPython.core.error import UsageError

from test_watch_keras import _patched_state


def _setup(ip):
    ip.run_cell(
        """
import numpy as np, keras
keras.utils.set_random_seed(0)
x = np.random.default_rng(0).normal(size=(64, 8)).astype("float32")
y = np.random.default_rng(1).normal(size=(64, 1)).astype("float32")
model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu", name="hidden"), keras.layers.Dense(1, name="out")])
model.compile(keras.optimizers.SGD(0.1), "mse")
"""
    )


def _usage(ip, cell):
    res = ip.run_cell(cell)
    assert type(res.error_in_exec) is UsageError or type(res.error_before_exec) is UsageError, res
    return str(res.error_in_exec or res.error_before_exec)


def test_load_ext_is_quick_and_does_not_import_tensorflow():
    import os
    import subprocess
    import sys

    code = (
        "import time, sys; from IPython.core.interactiveshell import InteractiveShell;"
        "ip = InteractiveShell.instance(); t = time.perf_counter();"
        "ip.run_line_magic('load_ext', 'tfhist_magic');"
        "print(time.perf_counter() - t, 'tensorflow' in sys.modules, 'tfhist_watch' in ip.magics_manager.magics['cell'])"
    )
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env).stdout.split()
    assert out[1:] == ["False", "True"]
    # Asked for quiet, %load_ext imports TensorFlow without its import-time log lines,
    # which TensorFlow prints whatever TF_CPP_MIN_LOG_LEVEL says.
    got = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=dict(env, TF_CPP_MIN_LOG_LEVEL="2"))
    assert got.stdout.split()[1:] == ["True", "True"]
    assert "I0000" not in got.stderr and "oneDNN" not in got.stderr, got.stderr


def test_watch_cell_records_and_keeps_output_and_last_expression(ip, capsys):
    _setup(ip)
    res = ip.run_cell("%%tfhist_watch --every 2 -o rec2\nprint('training!')\nh = model.fit(x, y, batch_size=16, epochs=2, verbose=0)\nlen(h.history['loss'])")
    assert res.success and res.result == 2
    out = capsys.readouterr().out
    assert "training!" in out and "tfhist Recording" in out
    rec = ip.user_ns["_tfhist"]
    assert ip.user_ns["rec2"] is rec
    w = ip.user_ns["model"].trainable_variables[0]
    s = rec.series("weights", w.path)
    assert s.steps.tolist() == [0, 2, 4, 6, 8]
    v = w.numpy().ravel()
    np.testing.assert_array_equal(s.counts[-1], np.histogram(v, bins=s.edges[-1])[0])


def test_kinds_and_targets(ip):
    _setup(ip)
    ip.run_cell("other = keras.models.clone_model(model); other.compile('sgd', 'mse')")
    res = ip.run_cell("%%tfhist_watch model --kind grads --kind weights --bins 16\nmodel.fit(x, y, epochs=1, verbose=0)\nother.fit(x, y, epochs=1, verbose=0)")
    assert res.success
    rec = ip.user_ns["_tfhist"]
    assert rec.kinds == ("weights", "grads") and rec.bins == 16
    assert list(rec.models) == [ip.user_ns["model"].name]


@pytest.mark.parametrize(
    "cell, words",
    [
        ("%%tfhist_watch --every 0\npass", ["--every 0", ">= 1"]),
        ("%%tfhist_watch --bins 0\npass", ["--bins 0", "from 1 to 1024"]),
        ("%%tfhist_watch --kind nope\npass", ["'nope'", "activations, weights, grads"]),
        ("%%tfhist_watch nosuchname\npass", ["'nosuchname'"]),
        ("%%tfhist_watch x\npass", ["'x'", "not a model or Session"]),
        ("%%tfhist_watch -o 1bad\npass", ["'1bad'"]),
        ("%%tfhist_watch -o class\npass", ["'class'", "variable name"]),
        ("%%tfhist_watch --bins 100000\npass", ["--bins 100000", "from 1 to 1024"]),
        ("%tfhist model --bins 2000 --data x", ["--bins 2000", "1024"]),
        ("%tfhist model --data x[:, :3] y", ["--data x[:, :3] y", "failed", "8"]),
        ("%tfhist model --data x y[:3]", ["--data x y[:3]", "failed"]),
        ("%tfhist model --data x y )", ["--data", "expected one or two Python expressions"]),
        ("%%tfhist_watch model\nprint('no training')", ["'model'", "never trained"]),
        ("%tfhist model --kind grads", ["--data", "%%tfhist_watch"]),
        ("%tfhist x", ["'x'", "not a model or Session"]),
        ("%tfhist model --kind nope", ["'nope'"]),
        ("%tfhist model --data x y x", ["--data"]),
        ("%tfhist model --data x[:0] y[:0]", ["--data x[:0] y[:0]", "x[:0] has shape (0, 8)", "empty batch", ">= 1"]),
        ("%tfhist model --data x y[:0]", ["--data x y[:0]", "y[:0] has shape (0, 1)", "empty batch"]),
        ("%tfhist model --kind activations --data x[:0]", ["--data x[:0]", "x[:0] has shape (0, 8)"]),
    ],
)
def test_bad_input_is_a_plain_usage_error(ip, cell, words):
    _setup(ip)
    ip.run_line_magic("reset_selective", "-f _tfhist")
    ip.user_ns.pop("_tfhist", None)
    for mag in ip.magics_manager.registry.values():
        if type(mag).__name__ == "TfHistMagics":
            mag.last_recording = None
    msg = _usage(ip, cell)
    for w in words:
        assert w in msg, msg
    assert msg.count(". ") <= 2 and "\n" not in msg and "\x1b" not in msg


@pytest.mark.parametrize("value", ["-5", "0", "-0.25"])
def test_live_interval_is_refused_by_the_trait_unless_positive(ip, value, caplog):
    from traitlets import TraitError

    mag = next(c for c in ip.configurables if type(c).__name__ == "TfHistMagics")
    before = mag.live_interval
    with pytest.raises(TraitError) as e:
        mag.live_interval = float(value)
    assert type(e.value) is TraitError
    msg = str(e.value)
    assert f"live_interval = {float(value)!r}" in msg and "> 0" in msg and "\n" not in msg, msg
    ip.run_line_magic("config", f"TfHistMagics.live_interval = {value}")  # %config reports it, keeps the old value
    assert mag.live_interval == before
    assert f"live_interval = {float(value)!r}" in caplog.text
    ip.run_line_magic("config", "TfHistMagics.live_interval = 2")
    assert mag.live_interval == 2.0
    mag.live_interval = before


def test_data_expressions_with_spaces_inside(ip, capsys):
    _setup(ip)
    ip.user_ns["wide"] = np.concatenate([ip.user_ns["x"], ip.user_ns["x"]], axis=1)
    capsys.readouterr()
    res = ip.run_cell("%tfhist model --data wide[:, :8] y[:, :1]")
    assert res.success, res.error_in_exec
    out = capsys.readouterr().out
    assert "Activations" in out and "Gradients" in out


def test_several_models_without_target_is_a_usage_error(ip):
    _setup(ip)
    ip.run_cell("other = keras.models.clone_model(model)")
    msg = _usage(ip, "%tfhist --kind weights")
    assert "model" in msg and "other" in msg
    ip.run_cell("del other")


def test_exception_in_cell_fails_the_cell_keeps_recording_and_undoes_patches(ip, capsys):
    _setup(ip)
    before = _patched_state()
    res = ip.run_cell("%%tfhist_watch --every 1\nmodel.fit(x, y, batch_size=16, epochs=1, verbose=0)\nraise ValueError('boom')")
    assert isinstance(res.error_in_exec, ValueError) and str(res.error_in_exec) == "boom"
    err = capsys.readouterr()
    text = err.out + err.err
    assert text.count("ValueError: boom") == 1  # reported once, by IPython
    assert _patched_state() == before
    rec = ip.user_ns["_tfhist"]
    assert rec.series("grads", ip.user_ns["model"].trainable_variables[0].path).steps.tolist() == [0, 1, 2, 3]


def test_keyboard_interrupt_in_cell(ip):
    _setup(ip)
    before = _patched_state()
    cell = """%%tfhist_watch --every 1
class Stop(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        if batch == 1:
            raise KeyboardInterrupt
model.fit(x, y, batch_size=16, epochs=1, verbose=0, callbacks=[Stop()])
"""
    res = ip.run_cell(cell)
    assert isinstance(res.error_in_exec, KeyboardInterrupt)
    assert _patched_state() == before
    assert ip.user_ns["_tfhist"].series("grads", ip.user_ns["model"].trainable_variables[0].path).steps.tolist() == [0, 1]


def test_tfhist_line_magic_shows_last_recording_or_fresh_snapshot(ip, capsys):
    _setup(ip)
    ip.run_cell("%%tfhist_watch --every 1\nmodel.fit(x, y, batch_size=64, epochs=1, verbose=0)")
    capsys.readouterr()
    res = ip.run_cell("%tfhist model --kind grads")
    assert res.success
    out = capsys.readouterr().out
    assert "Gradients (4)" in out and "Weights" not in out
    ip.run_cell("fresh = keras.models.clone_model(model)")
    res = ip.run_cell("%tfhist fresh --kind activations --data x[:8]")
    assert res.success
    out = capsys.readouterr().out
    assert "Activations (2)" in out
    res = ip.run_cell("%tfhist fresh")  # weights now; a note says the rest need data
    out = capsys.readouterr().out
    assert res.success and "Weights (4)" in out and "need a batch" in out
    ip.run_cell("del fresh")


def test_unload_and_reload_leave_one_of_each(ip):
    def count():
        n = sum(1 for c in ip.configurables if type(c).__name__ == "TfHistMagics")
        return n, "tfhist_watch" in ip.magics_manager.magics["cell"], "tfhist" in ip.magics_manager.magics["line"]

    ip.run_line_magic("reload_ext", "tfhist_magic")
    ip.run_line_magic("load_ext", "tfhist_magic")
    assert count() == (1, True, True)
    ip.run_line_magic("unload_ext", "tfhist_magic")
    assert count() == (0, False, False)
    ip.run_line_magic("load_ext", "tfhist_magic")
    ip.run_line_magic("config", "TfHistMagics.display = 'text'")
    ip.run_line_magic("config", "TfHistMagics.bins = 8")
    _setup(ip)
    ip.run_cell("%%tfhist_watch\nmodel.fit(x, y, epochs=1, verbose=0)")
    assert ip.user_ns["_tfhist"].bins == 8
    ip.run_line_magic("config", "TfHistMagics.bins = 64")


def test_after_a_watched_cell_fit_uses_the_original_train_function(ip):
    _setup(ip)
    ip.run_cell("model.fit(x, y, epochs=1, verbose=0); fn = model.train_function")
    ip.run_cell("%%tfhist_watch\nmodel.fit(x, y, epochs=1, verbose=0)")
    assert ip.user_ns["model"].train_function is ip.user_ns["fn"]


def test_watch_inside_a_watch_is_a_usage_error(ip):
    import tfhist_magic

    with tfhist_magic.watch():
        msg = _usage(ip, "%%tfhist_watch\npass")
    assert "already active" in msg
