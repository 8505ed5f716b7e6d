"""What a new call site of the watch's cached row functions costs the runtime.

    python bench/callsite.py                       # the bench MLP's weight shapes, 5 rounds
    python bench/callsite.py --workload transformer --rounds 3
    python bench/callsite.py --workload resnet50 --jit   # under XLA: trace and compile of the rows

A sampled step's rows come from a few cached ``tf.function``s (``_many.grouped_fn``,
``_many.large_fn``) called through ``_ops.rows_and_probes``, marked ``_noinline`` so a
training trace holds one call op for each. This measures what every NEW training
function still pays for them on its first call: each round traces a fresh parent
``tf.function`` that calls ``rows_and_probes`` on tensors shaped like the workload's
weights, then times (process CPU) its first call and its second. The first call minus the
second is instantiation: the parent's, and the cached functions' again inside it
(TensorFlow keys a nested function's instantiation on the calling function's library, so
it is not shared between training functions). Arms:

* ``parent grappler on``: as in training (Keras' step runs with Grappler);
* ``parent grappler off``: the parent called with Grappler off (``disable_meta_optimizer``
  in its call's config), which shows what the parent's Grappler spends optimizing the
  reachable cached functions' bodies;
* ``no rows``: the same parent without the rows (its own instantiation, the baseline).

With ``--jit`` the parent is compiled with XLA (``jit_compile=True``, Keras' default on a
GPU), where the rows are traced inline and compiled with the parent: the arms are the
parent with the rows and without, and "first call" is XLA's compile (plus one run).

"held" is what the process keeps for each new parent once it ran (its resident set after
garbage collection and ``malloc_trim``, the parent kept alive, minus the same before it
was traced): the memory a new training function's instantiation of the rows holds for as
long as that function lives, which a watch pays once per call site per training function.

Also prints the node count of each cached function's body, library included: the
instantiation cost, in time and in memory, grows with it.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import _timeline  # noqa: E402


def held_mib() -> float:
    """The resident set now, in MiB, after garbage collection and ``malloc_trim`` (freed
    heap handed back, so what is left is in use)."""
    _timeline.trim()
    return _timeline.rss_bytes() / 2**20


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workload", default="mlp", choices=("mlp", "cnn", "transformer", "resnet50"))
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--bins", type=int, default=30)
    ap.add_argument("--jit", action="store_true", help="the parent compiled with XLA: the rows' trace and compile")
    args = ap.parse_args(argv)

    import tensorflow as tf

    from bench import _model
    from tfhist_magic.capture import _compat, _many, _ops

    shapes = [tuple(v.shape) for v in _model(args.workload if args.workload != "mlp" else "mlp").trainable_weights]
    ts = [tf.random.normal(s) for s in shapes]
    print(f"## {args.workload}: {len(ts)} weight-shaped tensors, {sum(int(tf.size(t)) for t in ts):,} values, "
          f"{args.rounds} rounds, median CPU ms")

    def parent(rows: bool):
        @tf.function(autograph=False, jit_compile=args.jit or None)
        def f(*xs):
            if not rows:
                return tf.add_n([tf.reduce_sum(x) for x in xs])
            return tf.reduce_sum(_ops.rows_and_probes(list(xs), args.bins, [None] * len(xs)))

        return f

    arms = {"parent grappler on": (True, None), "parent grappler off": (True, _compat.NO_GRAPPLER), "no rows": (False, None)}
    if args.jit:
        arms = {"rows, XLA": (True, None), "no rows, XLA": (False, None)}
    parent(True)(*ts)  # traces the cached functions once, as a watch's warm-up does
    got = {a: [] for a in arms}
    keep = []  # every parent stays alive, so what its instantiation holds stays held
    for r in range(args.rounds):
        order = list(arms.items())
        for name, (rows, config) in order[r % len(order) :] + order[: r % len(order)]:
            m0 = held_mib()
            f = parent(rows)
            t0 = time.process_time()
            f.get_concrete_function(*ts)
            with _compat.function_call_config(config) if config is not None else contextlib.nullcontext():
                t1 = time.process_time()
                f(*ts)
                t2 = time.process_time()
                f(*ts)  # the same config: the instantiation is cached
                t3 = time.process_time()
            keep.append(f)
            got[name].append(((t1 - t0) * 1e3, (t2 - t1) * 1e3, (t3 - t2) * 1e3, held_mib() - m0))
    if args.jit:
        print("(XLA: first call = compile + one run)")
    print("| arm | trace | first call | second call | instantiation (first - second) | held (MiB) |")
    print("|---|---|---|---|---|---|")
    for name in arms:
        tr, first, second, held = (statistics.median(v) for v in zip(*got[name]))
        print(f"| {name} | {tr:.0f} | {first:.0f} | {second:.1f} | {first - second:.0f} | {held:.1f} |")

    if args.jit:
        return 0
    print("\n| cached function | nodes (with its library) | of them Const |")
    print("|---|---|---|")
    for label, fn in (("grouped_fn", _many.grouped_fn(tf.float32, args.bins)), ("large_fn", _many.large_fn(tf.float32, args.bins))):
        cf = fn.get_concrete_function()
        nodes = list(cf.function_def.node_def) + [n for lf in cf.graph.as_graph_def().library.function for n in lf.node_def]
        print(f"| {label} | {len(nodes)} | {sum(n.op == 'Const' for n in nodes)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
