"""What a watch adds to each new trace of a training step, taken apart.

    python bench/tracecost.py                 # MLP, 7 rounds
    python bench/tracecost.py --workload cnn --rounds 9
    python bench/tracecost.py --workload mirrored   # the MLP under MirroredStrategy, 2 logical CPUs
    python bench/tracecost.py --workload resnet50 --rounds 3   # also transformer (bench/scale.py's models)
    python bench/tracecost.py --workload transformer --arms plain,all   # fewer arms

Each arm trains a fresh, identically seeded model for ONE batch (so the run is mostly
tracing and instantiating the training function, plus step 0, which is sampled), after a
warm-up that traces the package's own functions once. Reported per arm, medians over
rounds, process CPU: the whole one-batch fit, the part of it spent tracing in Python
(the outermost ``func_graph_from_py_func`` calls: Keras traces the step twice, and the
watch's own functions once), the rest (the runtime instantiating the traced function,
step 0, the watch's set-up and exit; the exit, where the final weights are binned, also
on its own), the CPU in the calls of the rings' own functions (``capture/_shared.py``:
their trace when new, their call ops), and the graph ops created; each also as the difference from plain. The
arms: all kinds; all kinds as the first watch of this architecture in the process (the
rings' own functions, which every later watch of the same structure shares, traced
afresh: ``capture._shared`` forgotten first); gradients only; activations only; all kinds
without the probes (dead units, saturation); all kinds without the weights' update
scalars (update ratio, update norm, distance from the start).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

ARMS = ("plain", "all", "all-first", "grads", "activations", "all-no-probes", "all-no-update-scalars")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workload", default="mlp", choices=("mlp", "cnn", "mirrored", "transformer", "resnet50"))
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--arms", default=",".join(ARMS), help=f"comma-separated, from {', '.join(ARMS)}")
    ap.add_argument("--op-types", type=int, default=0, metavar="N", help="also print the N op types each arm adds most (last round)")
    args = ap.parse_args(argv)
    arms = [a for a in args.arms.split(",") if a]
    bad = [a for a in arms if a not in ARMS]
    if bad or "plain" not in arms:
        ap.error(f"--arms must include plain and name only {', '.join(ARMS)}; got {args.arms}")

    import tensorflow as tf

    if args.workload == "mirrored":  # two logical CPU devices, before TensorFlow starts
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

    from tensorflow.python.framework import func_graph, ops

    import tfhist_magic
    from bench import WORKLOADS, _data, _model
    from tfhist_magic.capture import _shared, _tf2

    # Python tracing time (outermost traces only) and graph ops created, counted while an arm runs.
    count = {"trace": 0.0, "ops": 0, "depth": 0, "own": 0.0}
    types: dict = {}  # op type -> ops created, this arm
    real_trace, real_op = func_graph.func_graph_from_py_func, ops.Graph._create_op_internal

    def trace(*a, **k):
        count["depth"] += 1
        t0 = time.process_time()
        try:
            return real_trace(*a, **k)
        finally:
            count["depth"] -= 1
            if count["depth"] == 0:
                count["trace"] += time.process_time() - t0

    def create_op(self, op_type, *a, **k):
        count["ops"] += 1
        types[op_type] = types.get(op_type, 0) + 1
        return real_op(self, op_type, *a, **k)

    func_graph.func_graph_from_py_func = trace
    ops.Graph._create_op_internal = create_op

    wl = WORKLOADS[args.workload]
    x, y = _data(wl["kind"], 512)
    kw = dict(batch_size=wl["batch"], epochs=1, verbose=0, shuffle=False)
    one = (x[: wl["batch"]], y[: wl["batch"]])
    _model(wl["kind"]).fit(*one, **kw)
    with tfhist_magic.watch():
        _model(wl["kind"]).fit(*one, **kw)

    # CPU in the calls of the rings' own functions (their trace, when new, and their call ops)
    real_call = _shared.Shared.call

    def shared_call(self, *a):
        t0 = time.process_time()
        try:
            return real_call(self, *a)
        finally:
            count["own"] += time.process_time() - t0

    _shared.Shared.call = shared_call
    real_kind, real_measured = _tf2.probe_kind, _tf2.measured_rows
    watch_args = {"grads": dict(kinds="grads"), "activations": dict(kinds="activations")}
    got = {a: [] for a in arms}
    by_type = {}
    series = {}
    for r in range(args.rounds):
        for arm in arms[r % len(arms) :] + arms[: r % len(arms)]:  # who goes first rotates
            _tf2.probe_kind = (lambda t, b: None) if arm == "all-no-probes" else real_kind
            _tf2.measured_rows = (lambda names, tensors: []) if arm == "all-no-update-scalars" else real_measured
            m = _model(wl["kind"])
            if arm == "all-first":
                _shared.clear()
            count.update(trace=0.0, ops=0, own=0.0)
            types.clear()
            c = time.process_time()
            exit_ms = 0.0
            if arm == "plain":
                m.fit(*one, **kw)
            else:
                with tfhist_magic.watch(**watch_args.get(arm, dict(kinds="all"))) as rec:
                    m.fit(*one, **kw)
                    fitted = time.process_time()
                exit_ms = (time.process_time() - fitted) * 1000
                series[arm] = sum(len(rec.names(k)) for k in rec.kinds)
            total = time.process_time() - c
            got[arm].append((total * 1000, count["trace"] * 1000, count["ops"], exit_ms, count["own"] * 1000))
            by_type[arm] = dict(types)
            del m
    _tf2.probe_kind, _tf2.measured_rows = real_kind, real_measured
    func_graph.func_graph_from_py_func, ops.Graph._create_op_internal = real_trace, real_op
    _shared.Shared.call = real_call
    med = {a: [statistics.median(v) for v in zip(*got[a])] for a in arms}
    p_total, p_trace, p_ops, _, _ = med["plain"]
    print(f"## {args.workload}: one-batch fit of a fresh model, {args.rounds} rounds, median CPU ms")
    print(
        "| arm | series | CPU ms (added) | of it Python tracing (added) | the rest (added) | the watch's exit (CPU ms) "
        "| the recording's own functions' calls (CPU ms) | graph ops (added) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for a in arms:
        total, tr, n, ex, own = med[a]
        rest, p_rest = total - tr, p_total - p_trace
        print(
            f"| {a} | {series.get(a, '')} | {total:.0f} ({total - p_total:+.0f}) | {tr:.0f} ({tr - p_trace:+.0f}) | "
            f"{rest:.0f} ({rest - p_rest:+.0f}) | {ex:.0f} | {own:.0f} | {n:.0f} ({n - p_ops:+.0f}) |"
        )
    for a in arms[1:] if args.op_types else ():
        added = {t: n - by_type["plain"].get(t, 0) for t, n in by_type[a].items()}
        top = sorted(added.items(), key=lambda kv: -kv[1])[: args.op_types]
        print(f"{a}, op types added (last round): " + ", ".join(f"{t} {n:+d}" for t, n in top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
