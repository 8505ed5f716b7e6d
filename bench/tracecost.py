"""What a watch adds to each new trace of a training step, taken apart.

    python bench/tracecost.py                 # MLP, 7 rounds
    python bench/tracecost.py --workload cnn --rounds 9
    python bench/tracecost.py --workload mirrored   # the MLP under MirroredStrategy, 2 logical CPUs
    python bench/tracecost.py --workload resnet50 --rounds 3   # also transformer (bench/scale.py's models)

Each arm trains a fresh, identically seeded model for ONE batch (so the run is mostly
tracing and instantiating the training function, plus step 0, which is sampled), after a
warm-up that traces the histogram functions once. Reported: median process CPU ms per
arm and its difference from plain. The arms separate the parts: all kinds; gradients
only; gradients with the histogram rows replaced by a constant (what the branch, the
ring buffer, the probe and the extra tracing cost without the histogram function's call
sites); and all kinds without the findings' update ratios, then without their probes.
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


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workload", default="mlp", choices=("mlp", "cnn", "mirrored", "transformer", "resnet50"))
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args(argv)

    import tensorflow as tf

    if args.workload == "mirrored":  # two logical CPU devices, before TensorFlow starts
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

    import tfhist_magic
    from bench import WORKLOADS, _data, _model
    from tfhist_magic.capture import _tf2

    wl = WORKLOADS[args.workload]
    x, y = _data(wl["kind"], 512)
    kw = dict(batch_size=wl["batch"], epochs=1, verbose=0, shuffle=False)
    one = (x[: wl["batch"]], y[: wl["batch"]])
    _model(wl["kind"]).fit(*one, **kw)
    with tfhist_magic.watch():
        _model(wl["kind"]).fit(*one, **kw)

    real = _tf2.snapshot_rows

    def constant_rows(tensors, bins):
        total = tf.add_n([tf.reduce_sum(tf.cast(t, tf.float32)) for t in tensors])
        return tf.zeros([len(tensors), bins + 10], tf.float64) + tf.cast(total, tf.float64)

    # The findings' measurements, switched off one at a time (issue 11): the probes of the
    # activations (dead units, saturation) and the update ratios of the weights.
    real_kind, real_write = _tf2.probe_kind, _tf2.Engine._write

    def no_ratios(self, *a, **k):
        a = list(a)
        if len(a) > 7:
            a[7] = ()  # ratio_of
        k.pop("ratio_of", None)
        return real_write(self, *a, **k)

    arms = {
        "plain": None,
        "all kinds": dict(kinds="all"),
        "all kinds, no update ratios": dict(kinds="all"),
        "all kinds, no update ratios, no probes": dict(kinds="all"),
        "grads only": dict(kinds="grads"),
        "activations only": dict(kinds="activations"),
        "grads only, rows replaced by a constant": dict(kinds="grads"),
    }
    got = {a: [] for a in arms}
    for _ in range(args.rounds):
        for arm, watch_args in arms.items():
            _tf2.snapshot_rows = constant_rows if "constant" in arm else real
            _tf2.Engine._write = no_ratios if "no update ratios" in arm else real_write
            _tf2.probe_kind = (lambda t, b: None) if "no probes" in arm else real_kind
            m = _model(wl["kind"])
            c = time.process_time()
            if watch_args is None:
                m.fit(*one, **kw)
            else:
                with tfhist_magic.watch(**watch_args):
                    m.fit(*one, **kw)
            got[arm].append((time.process_time() - c) * 1000)
    _tf2.snapshot_rows, _tf2.Engine._write, _tf2.probe_kind = real, real_write, real_kind
    plain = statistics.median(got["plain"])
    print(f"## {args.workload}: one-batch fit of a fresh model, {args.rounds} rounds, median CPU ms")
    print("| arm | CPU ms | added |\n|---|---|---|")
    for arm in arms:
        med = statistics.median(got[arm])
        print(f"| {arm} | {med:.0f} | {med - plain:+.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
