"""The histogram pass alone, against the memory floor, on the same values.

    python bench/histpass.py                  # 1.2 million float32 values (the MLP's sampled tensors)
    python bench/histpass.py --size 5000000 --repeat 50

Each row times one call of a tf.function on one flat float32 tensor (median of
``--repeat`` calls after a warm-up, process CPU seconds and wall time), and says how many
"passes" of memory it costs: its time over the floor's, where the floor is one
``reduce_sum`` (one read of the values). Rows:

* floor: ``reduce_sum`` (one read);
* range pass: min, max, sum (what every binning needs first);
* HistogramFixedWidth: TensorFlow's fused CPU kernel (the old rule, whose arithmetic
  the host could not reproduce exactly);
* tfhist row: ``snapshot_rows`` (range, exact binning, statistics), plain graph;
* tfhist row, XLA: the same inside ``jit_compile=True`` (what Keras' GPU default runs).

With ``--ops``, the building blocks one at a time on the same values (what the README's
"where the time goes" cites): one element-wise op, a cast, a comparison, a gather from a
65-entry table by bin index, a bincount, ``tf.searchsorted`` and
``unsorted_segment_sum``.

Then the one-time cost XLA pays per trace of a watched step: the first call (trace +
compile) of ``snapshot_rows`` under ``jit_compile=True`` on ``--tensors`` tensors shaped
like the benchmark MLP's weights, gradients and activations (15 by default).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


def _time(fn, x, repeat: int) -> tuple[float, float]:
    fn(x).numpy()  # trace / compile
    cpu, wall = [], []
    for _ in range(repeat):
        c0, w0 = time.process_time(), time.perf_counter()
        fn(x).numpy()
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
    return statistics.median(cpu), statistics.median(wall)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=1_200_000)
    ap.add_argument("--bins", type=int, default=64)
    ap.add_argument("--repeat", type=int, default=30)
    ap.add_argument("--tensors", type=int, default=15)
    ap.add_argument("--ops", action="store_true", help="also time the building blocks one by one")
    args = ap.parse_args(argv)

    import tensorflow as tf

    from tfhist_magic.capture._ops import snapshot_rows

    x = tf.constant(np.random.default_rng(0).normal(size=args.size).astype(np.float32))
    B = args.bins
    arms = {
        "floor: reduce_sum (one read)": tf.function(lambda v: tf.reduce_sum(v)),
        "range pass: min, max, sum": tf.function(lambda v: tf.stack([tf.reduce_min(v), tf.reduce_max(v), tf.reduce_sum(v)])),
        "HistogramFixedWidth (old CPU rule, not exact)": tf.function(lambda v: tf.histogram_fixed_width(v, [-5.0, 5.0], nbins=B)),
        "tfhist row (exact), graph": tf.function(lambda v: snapshot_rows([v], B)),
        "tfhist row (exact), XLA": tf.function(lambda v: snapshot_rows([v], B), jit_compile=True),
    }
    print(f"{args.size:,} float32 values, {B} bins, median of {args.repeat} calls; TensorFlow {tf.__version__}")
    print("| pass | CPU ms | wall ms | passes of memory (CPU / floor) |")
    print("|---|---|---|---|")
    floor = None
    for name, fn in arms.items():
        cpu, wall = _time(fn, x, args.repeat)
        floor = floor or cpu
        print(f"| {name} | {cpu * 1e3:.2f} | {wall * 1e3:.2f} | {cpu / floor:.1f} |")

    if args.ops:
        j = tf.constant(np.random.default_rng(2).integers(0, B, args.size).astype(np.int32))
        table = tf.constant(np.linspace(-5, 5, B + 1).astype(np.float32))
        ops = {
            "one element-wise op (multiply)": lambda v: v * 3.0,
            "cast float32 -> int32": lambda v: tf.cast(v, tf.int32),
            "comparison (>=)": lambda v: v >= 0.5,
            "gather from a 65-entry table by bin index": lambda v: tf.gather(table, j),
            "bincount of bin indices": lambda v: tf.math.bincount(j, minlength=B, maxlength=B, dtype=tf.int32),
            "tf.searchsorted on the edges": lambda v: tf.searchsorted(table, v, side="right"),
            "unsorted_segment_sum of ones": lambda v: tf.math.unsorted_segment_sum(tf.ones_like(j), j, B),
        }
        print("\n| building block | CPU ms | passes |\n|---|---|---|")
        for name, op in ops.items():
            cpu, _ = _time(tf.function(op, autograph=False), x, args.repeat)
            print(f"| {name} | {cpu * 1e3:.2f} | {cpu / floor:.1f} |")

    shapes = [(784, 512), (512,), (512, 256), (256,), (256, 10), (10,), (128, 512), (128, 256), (128, 10)]
    shapes = (shapes * (args.tensors // len(shapes) + 1))[: args.tensors]
    rng = np.random.default_rng(1)
    ts = [tf.constant(rng.normal(size=sh).astype(np.float32)) for sh in shapes]
    f = tf.function(lambda *xs: snapshot_rows(list(xs), B), jit_compile=True, autograph=False)
    w0 = time.perf_counter()
    f(*ts).numpy()
    first = time.perf_counter() - w0
    cpu, wall = _time(lambda _: f(*ts), None, args.repeat)
    print(f"\nXLA, {len(ts)} tensors ({sum(int(np.prod(s)) for s in shapes):,} values): first call (trace + compile) {first:.2f} s wall; then {cpu * 1e3:.2f} ms CPU, {wall * 1e3:.2f} ms wall a call")
    return 0


if __name__ == "__main__":
    sys.exit(main())
