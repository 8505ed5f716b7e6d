"""tf.distribute: one histogram over every replica's values, exact; what is refused.

Logical CPU devices must be set before TensorFlow starts, so the cases run in their own
Python processes (one process for the MirroredStrategy cases, which print JSON the tests
read; two worker processes for MultiWorkerMirroredStrategy)."""

import json
import os
import socket
import subprocess
import sys
import textwrap

import pytest

SETUP = """
import os, json
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import numpy as np, tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import keras, tfhist_magic
from tfhist_magic import histogram as H
keras.utils.set_random_seed(0)
x = np.random.rand(64, 8).astype("float32"); y = np.random.rand(64, 1).astype("float32")
halves = [(x[:32], y[:32]), (x[32:], y[32:])]  # what each of two replicas gets of a 64-batch

def model(lib=keras):
    m = lib.Sequential([lib.Input((8,)), lib.layers.Dense(4, activation="relu", name="hidden"), lib.layers.Dense(1, name="out")])
    m.compile(lib.optimizers.SGD(0.1), "mse")
    return m

def check(rec, acts, grads, weights, names, act_name, steps):
    '''Compare a Recording with the values each replica held: activations concatenated,
    the gradient the optimizer applied, the weights step 0 used.'''
    out = {"kinds": list(rec.kinds), "notes": list(rec.notes)}
    s = rec.series("activations", act_name)
    cat = np.concatenate([a.ravel() for a in acts]).astype(np.float64)
    out["act_steps"] = s.steps.tolist()
    out["act_edges"] = bool(np.array_equal(s.edges[0], H.bin_edges(cat.min(), cat.max(), rec.bins)))
    out["act_counts"] = bool(np.array_equal(s.counts[0], np.histogram(cat, s.edges[0])[0]))
    out["act_size"] = [int(s.size[0]), int(cat.size)]
    out["act_zeros"] = [int(s.zeros[0]), int(np.count_nonzero(cat == 0))]
    out["act_mean"] = [float(s.mean[0]), float(cat.mean()), float(s.std[0]), float(cat.std())]
    out["grads"], out["weights"] = [], []
    for n, g, w in zip(names, grads, weights):
        sg, sw = rec.series("grads", n), rec.series("weights", n)
        g = np.asarray(g, np.float64).ravel()
        out["grads"].append([sg.steps.tolist() == steps, bool(np.array_equal(sg.counts[0], np.histogram(g, sg.edges[0])[0])),
                             bool(sg.min[0] == g.min()), bool(sg.max[0] == g.max())])
        w = np.asarray(w, np.float64).ravel()
        out["weights"].append(bool(np.array_equal(sw.counts[0], np.histogram(w, sw.edges[0])[0])))
    return out

def probes(rec, acts, name, kernels, before, after):
    '''Step 0's dead-unit share of activation ``name`` against NumPy on every replica's
    values together (``acts``), and the update ratio of each kernel against the weights
    the test fetched before and after the step.'''
    cat = np.concatenate(acts)
    got = [[float(rec.scalar("dead_units", name)[1][0]), float(np.mean(np.all(cat == 0, axis=0)))]]
    for v, b, a in zip(kernels, before, after):
        b, a = np.asarray(b, np.float64), np.asarray(a, np.float64)
        got.append([float(rec.scalar("update_ratio", v)[1][0]), float(np.std(a - b) / np.std(b))])
    return got

def replica_grads(m, loss_fn, divide):
    '''Each replica's gradient of its share of the loss (its mean over its half, divided
    by the number of replicas as Keras does), summed as the all-reduce does.'''
    per = []
    for xs, ys in halves:
        with tf.GradientTape() as tape:
            loss = loss_fn(ys, m(xs, training=True)) / divide
        per.append([g.numpy() for g in tape.gradient(loss, m.trainable_variables)])
    return [a + b for a, b in zip(*per)], per
"""

MIRRORED = """
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
results = {}

# Keras 3 fit
with strategy.scope():
    m = model()
w0 = [v.numpy().copy() for v in m.trainable_variables]
acts = [m.get_layer("hidden")(xs).numpy() for xs, _ in halves]
grads, per = replica_grads(m, keras.losses.MeanSquaredError(), 2)
with tfhist_magic.watch(every=1) as rec:
    m.fit(x, y, batch_size=64, epochs=2, verbose=0, shuffle=False)
r = check(rec, acts, grads, w0, [v.path for v in m.trainable_variables], m.get_layer("hidden").path, [0, 1])
r["one_replica_differs"] = bool(not np.array_equal(per[0][0], grads[0]))
r["final_weights"] = rec.series("weights", m.trainable_variables[0].path).steps.tolist()
results["keras3_fit"] = r

# every=2: steps 1, 3 are not sampled
with strategy.scope():
    m = model()
with tfhist_magic.watch(every=2, kinds="activations") as rec:
    m.fit(x, y, batch_size=64, epochs=4, verbose=0, shuffle=False)
results["every2"] = rec.series("activations", rec.names("activations")[0]).steps.tolist()

# Keras 3 eager fit (run_eagerly=True): the same merge, computed eagerly
with strategy.scope():
    m = model()
    m.compile(keras.optimizers.SGD(0.1), "mse", run_eagerly=True)
w0 = [v.numpy().copy() for v in m.trainable_variables]
acts = [m.get_layer(m.layers[0].name)(xs).numpy() for xs, _ in halves]
grads, _ = replica_grads(m, keras.losses.MeanSquaredError(), 2)
with tfhist_magic.watch(every=1) as rec:
    m.fit(x, y, batch_size=64, epochs=1, verbose=0, shuffle=False)
r = check(rec, acts, grads, w0, [v.path for v in m.trainable_variables], rec.names("activations")[0], [0])
# the applied gradient is the sum: SGD moved the weights by lr times it (not by one replica's)
r["applied"] = bool(all(np.allclose(w - 0.1 * g, v.numpy(), atol=1e-6) for w, g, v in zip(w0, grads, m.trainable_variables)))
r["probes"] = probes(rec, acts, rec.names("activations")[0], [m.trainable_variables[0].path], [w0[0]], [m.trainable_variables[0].numpy()])
results["keras3_eager"] = r

# Keras 3 custom loop: strategy.run + apply_gradients; the user's own per-replica results
with strategy.scope():
    m = model()
    opt = keras.optimizers.SGD(0.1)
w0 = [v.numpy().copy() for v in m.trainable_variables]
hidden = m.get_layer("hidden")
@tf.function
def train_step(dist_x, dist_y):
    def one(xb, yb):
        with tf.GradientTape() as tape:
            out = m(xb, training=True)
            loss = tf.reduce_mean(tf.square(out - yb)) / strategy.num_replicas_in_sync
        g = tape.gradient(loss, m.trainable_variables)
        opt.apply_gradients(zip(g, m.trainable_variables))
        return g, hidden.kernel.value + 0.0
    return strategy.run(one, (dist_x, dist_y))
acts = [hidden(xs).numpy() for xs, _ in halves]
dist_x = strategy.experimental_distribute_values_from_function(lambda ctx: tf.constant(halves[ctx.replica_id_in_sync_group][0]))
dist_y = strategy.experimental_distribute_values_from_function(lambda ctx: tf.constant(halves[ctx.replica_id_in_sync_group][1]))
with tfhist_magic.watch(every=1) as rec:
    g_per, _ = train_step(dist_x, dist_y)
fetched = [sum(t.numpy() for t in strategy.experimental_local_results(g)) for g in g_per]  # what apply_gradients summed
r = check(rec, acts, fetched, w0, [v.path for v in m.trainable_variables], hidden.path, [0])
r["applied"] = bool(all(np.allclose(w - 0.1 * g, v.numpy(), atol=1e-6) for w, g, v in zip(w0, fetched, m.trainable_variables)))
r["probes"] = probes(rec, acts, hidden.path, [hidden.kernel.path], [w0[0]], [hidden.kernel.numpy()])
results["keras3_loop"] = r

# tf_keras fit
import tf_keras
with strategy.scope():
    m = model(tf_keras)
w0 = [v.numpy().copy() for v in m.trainable_variables]
acts = [m.get_layer("hidden")(xs).numpy() for xs, _ in halves]
grads, _ = replica_grads(m, tf_keras.losses.MeanSquaredError(), 2)
with tfhist_magic.watch(every=1) as rec:
    m.fit(x, y, batch_size=64, epochs=1, verbose=0, shuffle=False)
r = check(rec, acts, grads, w0, [v.name.split(":")[0] for v in m.trainable_variables], "hidden", [0])
r["applied"] = bool(all(np.allclose(w - 0.1 * g, v.numpy(), atol=1e-6) for w, g, v in zip(w0, grads, m.trainable_variables)))
r["probes"] = probes(rec, acts, "hidden", ["hidden/kernel"], [w0[0]], [m.get_layer("hidden").kernel.numpy()])
results["tf_keras_fit"] = r

# probes: a relu layer whose unit 0 is dead on replica 0's half only (alive on replica
# 1's: not dead), units 1 and 2 dead on both; a saturated tanh; Keras 3 fit, 2 steps
xp = np.random.default_rng(0).normal(size=(64, 8)).astype("float32")
xp[:32, 0], xp[32:, 0], xp[:, 1] = -np.abs(xp[:32, 0]), np.abs(xp[32:, 0]) + 0.1, np.abs(xp[:, 1]) + 0.1
kp = np.zeros((8, 4), "float32"); kp[0, 0] = kp[3, 3] = 1.0; kp[1, 1] = kp[1, 2] = -1.0
with strategy.scope():
    m = keras.Sequential([keras.Input((8,)), keras.layers.Dense(4, activation="relu", name="relu", kernel_initializer=keras.initializers.Constant(kp)),
                          keras.layers.Dense(8, activation="tanh", name="sat", kernel_initializer=keras.initializers.RandomNormal(stddev=8.0)),
                          keras.layers.Dense(1, name="out")])
    m.compile(keras.optimizers.SGD(0.01), "mse")
kernels = [v for v in m.trainable_variables if len(v.shape) == 2]
snaps = []
class Keep(keras.callbacks.Callback):
    def on_train_batch_begin(self, batch, logs=None):
        snaps.append([v.numpy().astype(np.float64) for v in kernels])
part = {n: [keras.Model(m.inputs, m.get_layer(n).output)(xs).numpy() for xs in (xp[:32], xp[32:])] for n in ("relu", "sat")}
with tfhist_magic.watch(every=1) as rec:
    m.fit(xp, y, batch_size=64, epochs=2, verbose=0, shuffle=False, callbacks=[Keep()])
snaps.append([v.numpy().astype(np.float64) for v in kernels])
sat = np.concatenate(part["sat"])
r = {"dead": [rec.scalar("dead_units", m.get_layer(n).path)[1].tolist()[0] for n in ("relu", "sat")],
     "dead_want": [float(np.mean(np.all(np.concatenate(part[n]) == 0, axis=0))) for n in ("relu", "sat")],
     "dead_replica0": float(np.mean(np.all(part["relu"][0] == 0, axis=0))),
     "sat": [rec.scalar("saturation", m.get_layer("sat").path)[1].tolist()[0], float(np.mean(np.abs(sat) > 0.97))],
     "ratio_steps": [rec.scalar("update_ratio", v.path)[0].tolist() for v in kernels],
     "ratios": [[rec.scalar("update_ratio", v.path)[1].tolist(), [float(np.std(snaps[k + 1][j] - snaps[k][j]) / np.std(snaps[k][j])) for k in (0, 1)]] for j, v in enumerate(kernels)],
     "findings": [[f.rule, f.tensors, f.value] for f in rec.findings()],
     "paths": {n: m.get_layer(n).path for n in ("relu", "sat", "out")}, "outputs": sorted(rec.outputs)}
results["probes"] = r

# a strategy not handled yet is refused with its name; the model then trains unwatched
cs = tf.distribute.experimental.CentralStorageStrategy(["/cpu:0", "/cpu:1"])
with cs.scope():
    m = model()
try:
    with tfhist_magic.watch() as rec:
        m.fit(x, y, batch_size=16, epochs=1, verbose=0)
    results["central"] = "recorded"
except ValueError as e:
    results["central"] = str(e)
results["central_plain"] = bool(np.isfinite(m.fit(x, y, batch_size=16, epochs=1, verbose=0).history["loss"][0]))
print("RESULTS " + json.dumps(results))
"""


def _run(code: str, env=None, timeout=420) -> str:
    got = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout, env=env)
    assert got.returncode == 0, got.stderr[-4000:]
    return got.stdout


@pytest.fixture(scope="module")
def mirrored():
    out = _run(textwrap.dedent(SETUP) + textwrap.dedent(MIRRORED))
    line = next(ln for ln in out.splitlines() if ln.startswith("RESULTS "))
    return json.loads(line[len("RESULTS ") :])


def _exact(r, n_vars=4, steps_ok=True):
    assert r["kinds"] == ["activations", "weights", "grads"] and r["notes"] == [], r
    assert r["act_edges"] and r["act_counts"], r
    assert r["act_size"][0] == r["act_size"][1] == 64 * 4, r  # both replicas' halves
    assert r["act_zeros"][0] == r["act_zeros"][1], r
    assert abs(r["act_mean"][0] - r["act_mean"][1]) < 1e-6 and abs(r["act_mean"][2] - r["act_mean"][3]) < 1e-6, r
    assert len(r["grads"]) == n_vars and all(all(g) for g in r["grads"]), r["grads"]
    assert all(r["weights"]), r


def test_mirrored_keras3_fit_merges_replicas_exactly(mirrored):
    r = mirrored["keras3_fit"]
    _exact(r)
    assert r["act_steps"] == [0, 1] and r["final_weights"] == [0, 1, 2]
    assert r["one_replica_differs"]  # the old bug (one replica's local gradient) would fail the grads check


def test_mirrored_keras3_custom_loop_equals_the_users_fetched_gradients(mirrored):
    r = mirrored["keras3_loop"]
    _exact(r)
    assert r["applied"]  # what the test compared with is what SGD applied


def test_mirrored_keras3_eager_fit(mirrored):
    _exact(mirrored["keras3_eager"])
    assert mirrored["keras3_eager"]["applied"]


def test_mirrored_tf_keras_fit(mirrored):
    _exact(mirrored["tf_keras_fit"])
    assert mirrored["tf_keras_fit"]["applied"]


def test_mirrored_unsampled_steps_are_not_recorded(mirrored):
    assert mirrored["every2"] == [0, 2]


def _probes_exact(r):
    (dead, want), *ratios = r["probes"]
    assert dead == want, r["probes"]
    for got, want in ratios:
        assert want > 1e-4 and abs(got - want) <= 1e-5 * want, r["probes"]  # float32 reductions


@pytest.mark.parametrize("case", ["keras3_loop", "keras3_eager", "tf_keras_fit"])
def test_mirrored_probes_equal_numpy_on_every_path(mirrored, case):
    _probes_exact(mirrored[case])


def test_mirrored_probes_merge_replicas_exactly_and_rules_fire(mirrored):
    r = mirrored["probes"]
    # dead on every replica's share: unit 0 is dead on replica 0's half only, so 2 of 4 (not 3)
    assert r["dead"] == r["dead_want"] and r["dead"][0] == 0.5 and r["dead_replica0"] == 0.75, r
    assert r["sat"][0] == r["sat"][1] and 0.3 < r["sat"][0] < 1, r
    assert r["ratio_steps"] == [[0, 1]] * 3, r
    for got, want in r["ratios"]:
        assert min(want) > 1e-6 and all(abs(g - w) <= 1e-5 * w for g, w in zip(got, want)), r["ratios"]
    rules = {rule: (tensors, value) for rule, tensors, value in r["findings"]}
    assert rules["dead-units"] == ([r["paths"]["relu"]], 0.5), r["findings"]
    assert rules["saturation"][0] == [r["paths"]["sat"]], r["findings"]
    assert r["outputs"] == [r["paths"]["out"]]


def test_unhandled_strategy_is_refused_with_its_name(mirrored):
    assert mirrored["central"].startswith("tfhist_magic cannot watch training under CentralStorageStrategy (2 replicas)"), mirrored["central"]
    assert mirrored["central_plain"]


ADVERSARIAL = """
import sys
sys.path.insert(0, TESTS)
from test_ops import B, _cases, _check, _edge_stress
from tfhist_magic.capture._ops import merged_rows, snapshot_rows
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])

def split(values):
    flat = np.asarray(values).ravel()
    cut = len(flat) // 3  # unequal shares; an empty share for the smallest tensors
    with tf.device("/cpu:0"):
        a = tf.constant(flat[:cut])
    with tf.device("/cpu:1"):
        b = tf.constant(flat[cut:])
    return a, b

failed = []
merged_fn = tf.function(lambda a, b, bins: merged_rows(strategy, [a, b], bins), autograph=False)
for name, values in _cases().items():
    a, b = split(values)
    row = merged_fn([a], [b], B).numpy()[0]  # in a graph, as in a training step
    try:
        _check(row, values)
        one = snapshot_rows([tf.constant(np.asarray(values).ravel())], B).numpy()[0]
        assert np.array_equal(row[: B + 6], one[: B + 6]), (row[: B + 6], one[: B + 6])  # counts, min, max: as on one device
    except AssertionError as e:
        failed.append((name, str(e)[:300]))
for bins in (7, B, 1024):
    cases = [v for v, k in _edge_stress() if k == bins]
    for dt in (np.float32, np.float64):
        group = [v for v in cases if v.dtype == dt]
        halves = [split(v) for v in group]
        rows = merged_fn([h[0] for h in halves], [h[1] for h in halves], bins).numpy()
        for row, values in zip(rows, group):
            edges = H.bin_edges(row[bins + H.MIN], row[bins + H.MAX], bins, H.compute_dtype(values.dtype))
            if not np.array_equal(row[:bins], np.histogram(values.astype(np.float64), bins=edges)[0]):
                failed.append(("edges", bins, str(dt)))
print("FAILED", json.dumps(failed))
"""


def test_merged_rows_keep_the_contract_on_adversarial_values():
    """Values split unequally over two replicas (one share empty for the smallest): the
    merged row is numpy.histogram of all the values on the edges of the global min/max,
    with the same counts, min and max as one device computes, on every adversarial case
    of tests/test_ops.py and on values on, just below and just above every edge."""
    code = f"TESTS = {str(__import__('pathlib').Path(__file__).parent)!r}\n" + textwrap.dedent(SETUP) + textwrap.dedent(ADVERSARIAL)
    out = _run(code)
    line = next(ln for ln in out.splitlines() if ln.startswith("FAILED "))
    assert json.loads(line[len("FAILED ") :]) == [], line


def test_one_device_strategy_records_exactly():
    out = _run(
        textwrap.dedent(SETUP)
        + textwrap.dedent(
            """
        strategy = tf.distribute.OneDeviceStrategy("/cpu:1")
        with strategy.scope():
            m = model()
        before = [v.numpy().copy() for v in m.trainable_variables]
        with tfhist_magic.watch(every=1) as rec:
            m.fit(x, y, batch_size=64, epochs=1, verbose=0, shuffle=False)
        s = rec.series("weights", rec.names("weights")[0])
        print("STEPS", s.steps.tolist())
        after = m.trainable_variables[0].numpy()
        print("FINAL", bool(np.array_equal(s.counts[-1], np.histogram(after.ravel().astype(np.float64), bins=s.edges[-1])[0])))
        want = np.histogram(before[0].ravel().astype(np.float64), bins=H.bin_edges(before[0].min(), before[0].max(), rec.bins))[0]
        print("EXACT", bool(np.array_equal(s.counts[0], want)))
        print("KINDS", rec.kinds)
        """
        )
    )
    assert "STEPS [0, 1]" in out and "EXACT True" in out and "FINAL True" in out and "KINDS ('activations', 'weights', 'grads')" in out, out


WORKER = """
import os, sys, json, io, contextlib
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import numpy as np, tensorflow as tf, keras
strategy = tf.distribute.MultiWorkerMirroredStrategy()
from IPython.core.interactiveshell import InteractiveShell
import tfhist_magic
from tfhist_magic import histogram as H
keras.utils.set_random_seed(0)
x = np.random.rand(64, 8).astype("float32"); y = np.random.rand(64, 1).astype("float32")
halves = [(x[:32], y[:32]), (x[32:], y[32:])]
with strategy.scope():
    m = keras.Sequential([keras.Input((8,)), keras.layers.Dense(4, activation="relu", name="hidden"), keras.layers.Dense(1, name="out")])
    opt = keras.optimizers.SGD(0.1)
hidden = m.get_layer("hidden")

@tf.function
def train_step(dist_x, dist_y):
    def one(xb, yb):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(m(xb, training=True) - yb)) / strategy.num_replicas_in_sync
        g = tape.gradient(loss, m.trainable_variables)
        opt.apply_gradients(zip(g, m.trainable_variables))
        return g
    return strategy.run(one, (dist_x, dist_y))

def dist(i):
    return strategy.experimental_distribute_values_from_function(lambda ctx: tf.constant(halves[ctx.replica_id_in_sync_group][i]))

# the oracle, from the (broadcast, identical) initial weights: both workers' halves
w0 = [v.numpy().copy() for v in m.trainable_variables]
acts = np.concatenate([hidden(xs).numpy().ravel() for xs, _ in halves]).astype(np.float64)
per = []
for xs, ys in halves:
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(m(xs, training=True) - ys)) / 2
    per.append(tape.gradient(loss, m.trainable_variables))
grads = [(a + b).numpy() for a, b in zip(*per)]

shell = InteractiveShell.instance()
shell.user_ns.update(train_step=train_step, dist=dist)
shell.run_line_magic("load_ext", "tfhist_magic")
shell.run_line_magic("config", "TfHistMagics.display = 'text'")
shown = io.StringIO()
with contextlib.redirect_stdout(shown):
    shell.run_cell_magic("tfhist_watch", "--every 2", "for _ in range(3):\\n    g = train_step(dist(0), dist(1))\\n")
rec = shell.user_ns["_tfhist"]
out = {"task": json.loads(os.environ["TF_CONFIG"])["task"]["index"], "shown": shown.getvalue(), "names": {k: rec.names(k) for k in ("activations", "weights", "grads")}}
if rec.names("activations"):
    s = rec.series("activations", hidden.path)
    out["act_steps"] = s.steps.tolist()
    out["act_edges"] = bool(np.array_equal(s.edges[0], H.bin_edges(acts.min(), acts.max(), rec.bins)))
    out["act_counts"] = bool(np.array_equal(s.counts[0], np.histogram(acts, s.edges[0])[0]))
    out["act_size"] = int(s.size[0])
    out["grads"] = [bool(np.array_equal(rec.series("grads", v.path).counts[0], np.histogram(g.ravel().astype(np.float64), rec.series("grads", v.path).edges[0])[0])) for v, g in zip(m.trainable_variables, grads)]
    out["grad_steps"] = rec.series("grads", m.trainable_variables[0].path).steps.tolist()
    out["weights"] = [bool(np.array_equal(rec.series("weights", v.path).counts[0], np.histogram(w.ravel().astype(np.float64), rec.series("weights", v.path).edges[0])[0])) for v, w in zip(m.trainable_variables, w0)]
    out["dead"] = [rec.scalar("dead_units", hidden.path)[1].tolist(), float(np.mean(np.all(acts.reshape(-1, 4) == 0, axis=0)))]
    w1 = (w0[0] - np.float32(0.1) * grads[0]).astype(np.float64)
    out["ratio"] = [rec.scalar("update_ratio", hidden.kernel.path)[1].tolist(), float(np.std(w1 - w0[0]) / np.std(w0[0].astype(np.float64)))]
# watching adds no collective op outside the sampled branch: the step's own graph holds
# the same collectives watched and unwatched (ours are inside the tf.cond's branch)
def collectives(fn):
    g = fn.get_concrete_function(dist(0), dist(1)).graph
    top = sorted(op.type for op in g.get_operations() if op.type.startswith("Collective"))
    nested = sum(n.op.startswith("Collective") for f in g.as_graph_def().library.function for n in f.node_def)
    return [top, nested]
@tf.function
def plain_step(dist_x, dist_y):
    return train_step.python_function(dist_x, dist_y)
with tfhist_magic.watch(every=2):
    watched = collectives(tf.function(train_step.python_function))
out["collectives"] = [watched, collectives(tf.function(train_step.python_function))]
print("RESULTS " + json.dumps(out), flush=True)
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def test_multi_worker_mirrored_chief_records_the_merged_histograms_others_nothing():
    ports = [_free_port(), _free_port()]
    cluster = {"worker": [f"localhost:{p}" for p in ports]}
    procs = []
    for i in range(2):
        env = dict(os.environ, TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}}))
        procs.append(subprocess.Popen([sys.executable, "-c", WORKER], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env))
    outs = []
    try:
        for p in procs:
            out, err = p.communicate(timeout=420)
            assert p.returncode == 0, err[-4000:]
            outs.append(json.loads(next(ln for ln in out.splitlines() if ln.startswith("RESULTS "))[len("RESULTS ") :]))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    chief, other = outs
    assert [n.split("/")[-1] for n in chief["names"]["activations"]] == ["hidden", "out"], chief
    assert chief["act_steps"] == [0, 2] and chief["grad_steps"] == [0, 2]
    assert chief["act_size"] == 64 * 4  # both workers' halves in one histogram
    assert chief["act_edges"] and chief["act_counts"] and all(chief["grads"]) and all(chief["weights"]), chief
    (dead, want), (ratio, want_ratio) = chief["dead"], chief["ratio"]
    assert len(dead) == 2 and dead[0] == want, chief["dead"]  # steps 0 and 2; step 0 over both workers' halves
    assert len(ratio) == 2 and abs(ratio[0] - want_ratio) <= 1e-4 * want_ratio, chief["ratio"]
    assert chief["names"]["activations"][0] in chief["shown"]  # the chief shows its Recording
    assert other["names"] == {"activations": [], "weights": [], "grads": []} and other["shown"] == "", other
    (watched, ours), (plain, none) = chief["collectives"]
    assert watched == plain and plain and ours > none, chief["collectives"]
