import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("MPLBACKEND", "Agg")

import numpy as np
import pytest


@pytest.fixture(autouse=True)
def _fresh_shared_functions():
    """Each test traces the rings' own functions afresh (``capture._shared`` keeps them
    for the process): what a test spies on runs, and no test depends on which ran before
    it. The tests of that sharing watch twice within one test."""
    shared = sys.modules.get("tfhist_magic.capture._shared")
    if shared is not None:
        shared.clear()
    yield


@pytest.fixture(scope="session")
def ip():
    """A real InteractiveShell with the extension loaded (text display)."""
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    shell.run_line_magic("colors", "nocolor")
    shell.run_line_magic("load_ext", "tfhist_magic")
    shell.run_line_magic("config", "TfHistMagics.display = 'text'")
    yield shell


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 8)).astype("float32")
    y = rng.normal(size=(64, 1)).astype("float32")
    return x, y


def make_mlp(seed=0, hidden=16, name=None):
    import keras

    keras.utils.set_random_seed(seed)
    m = keras.Sequential(
        [keras.Input((8,)), keras.layers.Dense(hidden, activation="relu", name="hidden"), keras.layers.Dense(1, name="out")],
        name=name,
    )
    m.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    return m


def row_edges(series, i):
    return series.edges[i]
