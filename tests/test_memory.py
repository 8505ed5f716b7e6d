"""Memory stays flat once a watch has ended: a notebook runs many watched cells.

Each case runs in its own Python process (other tests' memory would blur the numbers):
ten consecutive watches of one ~1.9M-parameter MLP, each a short ``fit``, with the
resident set size (``VmRSS``, after ``gc.collect()`` and ``malloc_trim``) taken after
each. What used to stay behind per watch, and is checked here beside the RSS:

* the watched training step's graph, kept by the ``tf.custom_gradient`` that Keras'
  step registers (``ReplicaContext.all_reduce``) in TensorFlow's process-wide gradient
  registry, and with it every function it called and the device copies of the weights
  taken for the update ratios (~4 bytes a parameter, +15 MB a watch here);
* with tf_keras, the whole engine and its Recording, kept by the epoch-marker callback
  class made per ``fit`` (``tf.nest`` keeps every type it sees);
* with tf_keras, ``model.train_tf_function``: the watched step, not the model's own.
"""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent

CODE = """
import ctypes, gc, json, os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import numpy as np, tensorflow as tf
lib = __import__(sys.argv[1])
import tfhist_magic
from tensorflow.python.framework.func_graph import FuncGraph
from tfhist_magic.capture._tf2 import Engine
from tfhist_magic.recording import Recording

try:
    trim = ctypes.CDLL("libc.so.6").malloc_trim  # hand freed heap pages back: less noise
except (OSError, AttributeError):
    trim = lambda pad: None

def rss_mb():
    gc.collect()
    trim(0)
    with open("/proc/self/status") as f:
        return next(int(ln.split()[1]) for ln in f if ln.startswith("VmRSS:")) / 1024

def live(cls):
    return sum(isinstance(o, cls) for o in gc.get_objects())

lib.utils.set_random_seed(0)
m = lib.Sequential([lib.Input((784,)), lib.layers.Dense(1024, activation="relu"), lib.layers.Dense(1024, activation="relu"), lib.layers.Dense(10)])
m.compile(lib.optimizers.SGD(0.01), "mse")
x = np.random.rand(256, 784).astype("float32")
y = np.random.rand(256, 10).astype("float32")
m.fit(x, y, batch_size=64, epochs=1, verbose=0)  # the model's own step, traced before any watch
own = {a: getattr(m, a) for a in ("train_function", "train_tf_function") if getattr(m, a, None) is not None}
out = {"params": int(m.count_params()), "rss": [], "graphs": [], "steps": []}
for i in range(10):
    with tfhist_magic.watch(every=1) as rec:
        m.fit(x, y, batch_size=64, epochs=1, verbose=0)
    out["steps"].append(rec.series("grads", rec.names("grads")[0]).steps.tolist())
    del rec
    out["rss"].append(rss_mb())
    out["graphs"].append(live(FuncGraph))
out["engines"], out["recordings"] = live(Engine), live(Recording)
out["own_functions_back"] = all(getattr(m, a) is f for a, f in own.items())
print("RESULT " + json.dumps(out))
"""


def _run(flavor: str) -> dict:
    got = subprocess.run([sys.executable, "-c", textwrap.dedent(CODE), flavor], capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert got.returncode == 0, got.stderr[-4000:]
    line = next(ln for ln in got.stdout.splitlines() if ln.startswith("RESULT "))
    return json.loads(line[len("RESULT ") :])


@pytest.mark.parametrize("flavor", ["keras", "tf_keras"])
def test_memory_stays_flat_over_ten_watches_of_one_model(flavor):
    pytest.importorskip(flavor)
    r = _run(flavor)
    assert r["params"] > 1_500_000
    assert r["steps"] == [[0, 1, 2, 3]] * 10  # every watch recorded its fit
    rss = np.array(r["rss"])
    # After the third watch (allocator pools and caches warmed up): the least-squares
    # slope of the RSS, in MB a watch. A watch that left its step behind grew it by ~15.
    slope = np.polyfit(np.arange(3, 10), rss[3:], 1)[0]
    assert slope < 5.0, f"RSS grows by {slope:.1f} MB a watch: {np.round(rss, 1).tolist()}"
    # What grew before, counted exactly: no graph, engine or Recording stays behind, and
    # the model's own compiled functions are back.
    assert r["graphs"][2:] == [r["graphs"][2]] * 8, r["graphs"]
    assert r["engines"] == 0 and r["recordings"] == 0, r
    assert r["own_functions_back"], r
