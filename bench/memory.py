"""What a watch holds in memory: the peak of one ``fit``, plain and watched, each arm in a
fresh process (issue 27).

    python bench/memory.py                                   # mlp, mlp50m, transformer, resnet50 (~5 min on 2 cores)
    python bench/memory.py --workloads mlp50m                # the 50M-parameter MLP only (~1.5 min)
    python bench/memory.py --workloads mlp50m --arms plain,default,every1,weights,grads,activations
    python bench/memory.py --workloads mlp50m --repeats 3     # medians [min, max] of 3 processes an arm
    python bench/memory.py --backend jax                     # Keras 3 on JAX (its jitted fit)
    python bench/memory.py --jit                             # the fit compiled with XLA (Keras' default on a GPU)
    python bench/memory.py --workloads mlp50m --arms plain,default --at-peak 12   # what is alive at TF's peak
    python bench/memory.py --workloads mlp50m --arms plain,default --by-batch    # where in the fit RSS peaks
    python3 dev.py bench memory ...                          # the same, via dev.py

Workloads: ``mlp``, ``transformer`` and ``resnet50`` are bench/bench.py's (the models
bench/scale.py measures, built by ``bench._model``, with their batch sizes); ``mlp50m`` is
a 50M-parameter MLP (4096 inputs, 3 x Dense 4096 ReLU, Dense 10; 192 MiB of float32
weights; batch 32), defined here. Keras 3 ``fit`` with Adam, ``--steps`` (4) steps, one
epoch. Arms: ``plain`` (no watch), ``default`` (``tfhist_magic.watch()``, the default
``every``: only step 0 is sampled in a short fit), ``every1`` (every step sampled),
``noinit`` and ``noinit1`` (the same with ``init_distance=False``: no w0 copy);
``weights``, ``grads``, ``activations`` (one kind each, default ``every``) show which
kind's work the extra comes from.

Method. Every (workload, arm) runs in its own Python process, one after the other. The
process warms up first (a one-batch plain fit of the bench MLP, and for a watched arm a
watched one: TensorFlow's runtime and the package's own histogram functions are set up
once a process, whatever the model), then builds the seeded model and its data,
collects garbage, hands freed heap back (``malloc_trim``) and takes its baseline: the
resident set (``VmRSS``). It then resets the kernel's high-water mark
(``echo 5 > /proc/self/clear_refs``) and the TensorFlow allocator's peak
(``tf.config.experimental.reset_memory_stats``), opens the watch, runs one ``fit``,
closes the watch, and reads:

- peak RSS over baseline: ``VmHWM`` minus the baseline. ``VmHWM`` is the kernel's own
  high-water mark of the resident set, exact to the page (no sampling: a peak that lasts
  a microsecond counts). It is what the machine must hold, allocator caches included.
- TF peak over baseline: the peak of the bytes TensorFlow's allocator holds for tensors
  (``get_memory_info('CPU:0')``, or ``'GPU:0'`` where a GPU is visible: then it is the
  peak device memory), minus what it held at the baseline. Tensors only: no graphs, no
  Python objects, no allocator slack.
- held after fit: RSS and TF bytes still held once ``fit`` returned, the watch still
  open (the optimizer's slots, the watch's buffers); and the watch's own buffers (its
  ``tf.Variable``\\ s, named ``tfhist_*``), by name.

With ``--backend jax`` the children run Keras 3 on JAX (``KERAS_BACKEND=jax``): the same
method, the "TF peak" columns being JAX's device allocator's
peak (``Device.memory_stats()``, where the device keeps statistics: a GPU; NaN on the CPU)
and the watch's buffers its w0, kept on the host (``JaxEngine._origins``).

A peak depends on which ops the executor happens to run at once (2 inter-op threads
here), so one process can differ from the next by about half the weights' bytes on the
50M MLP: ``--repeats`` runs each arm that many times (the arms alternating) and reports
the medians with their range.

``--at-peak N`` also lists, per arm, the N largest tensors alive at the TF peak (those
allocated during the fit), from TensorFlow's profiler (``bench/_atpeak.py``): what the
extra is made of, read rather than guessed. It implies ``--tf-stats``, and the profiler's
own buffers inflate the RSS columns of such a run; the TF columns are unchanged.

``--by-batch`` also prints, per arm, the highest RSS over the baseline in each batch of
the fit, after it and in the watch's exit, from ``VmRSS`` sampled every 0.5 ms
(``bench/_timeline.py``): which step the peak is in (step 0 is sampled; the later ones,
at the default ``every``, are not).

The plain arm's peak includes what training itself allocates in its first fit (Adam's two
slots per weight, gradients, activations, the traced step); "extra over plain" is the
watched arm's peak minus the plain arm's, in multiples of the trainable weights' bytes
(the issue's target: at most 1.5x).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import itertools
import json
import os
import shlex
import statistics
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, ".."))

import _atpeak  # noqa: E402
import _timeline  # noqa: E402

WORKLOADS = ("mlp", "mlp50m", "transformer", "resnet50")
TITLES = {
    "mlp": "bench MLP 784-512-256-10, batch 128",
    "mlp50m": "MLP 4096-4096x3-10 (50M), batch 32",
    "transformer": "Transformer encoder, 6 blocks, batch 16",
    "resnet50": "ResNet-50, 32x32x3, batch 4",
}
WATCHED = {"default": {}, "every1": {"every": 1}, "noinit": {"init_distance": False}, "noinit1": {"every": 1, "init_distance": False}, "weights": {"kinds": "weights"}, "grads": {"kinds": "grads"}, "activations": {"kinds": "activations"}}
ARMS = ("plain", *WATCHED)
MIB = 2**20


# -- the child: one (workload, arm) in this process -----------------------------------
def _mlp50m():
    import keras

    keras.utils.set_random_seed(0)
    L = keras.layers
    m = keras.Sequential([keras.Input((4096,)), *[L.Dense(4096, activation="relu") for _ in range(3)], L.Dense(10)], name="mlp50m")
    m.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return m


def _workload(name: str, steps: int):
    """(model, x, y, batch) for ``name``: bench/bench.py's models, or the 50M MLP."""
    import numpy as np

    from bench import WORKLOADS as BENCH, _data, _model

    if name == "mlp50m":
        batch = 32
        rng = np.random.default_rng(0)
        x = rng.random((steps * batch, 4096), dtype=np.float32)
        return _mlp50m(), x, rng.integers(0, 10, steps * batch), batch
    wl = BENCH[name]
    x, y = _data(wl["kind"], steps * wl["batch"])
    return _model(wl["kind"]), x, y, wl["batch"]


def _nbytes(variables) -> int:
    import numpy as np

    def itemsize(v) -> int:
        d = v.dtype
        return d.size if hasattr(d, "as_numpy_dtype") else np.dtype(d).itemsize  # a tf.DType, or Keras' dtype name

    return int(sum(int(np.prod(v.shape, dtype=np.int64)) * itemsize(v) for v in variables))


def _watch_buffers() -> dict:
    """The bytes of the watch's own buffers alive now, by name: its ``tf.Variable``\\ s
    (``tfhist_w0``, ...), or on JAX the w0 it keeps on the host."""
    if _jax():
        from tfhist_magic.capture._jax_engine import JaxEngine

        held = [o for o in gc.get_objects() if isinstance(o, JaxEngine)]
        w0 = sum(int(a.nbytes) for e in held for a in e._origins.values())
        return {"w0 (host)": w0} if w0 else {}
    from tensorflow.python.ops.resource_variable_ops import BaseResourceVariable

    out: dict = {}
    for o in gc.get_objects():
        if isinstance(o, BaseResourceVariable) and o.name.startswith("tfhist_"):
            name = o.name.split(":")[0].split("_", 1)[1]
            out[name] = out.get(name, 0) + _nbytes([o])
    return out


def _jax() -> bool:
    return os.environ.get("KERAS_BACKEND") == "jax"


def child(name: str, arm: str, steps: int) -> dict:
    import keras

    import tfhist_magic
    from bench import _data, _model

    if _jax():
        import jax

        dev, version = str(jax.devices()[0].platform).upper() + ":0", f"JAX {jax.__version__}"
    else:
        import tensorflow as tf

        tf.get_logger().setLevel("ERROR")
        dev = "GPU:0" if tf.config.list_physical_devices("GPU") else "CPU:0"
        version = f"TF {tf.__version__}"
    # warm-up: the runtime and (watched) the package's own functions, once a process
    x, y = _data("mlp", 128)

    def warm():
        w = _model("mlp")
        w.jit_compile = bool(os.environ.get("TFHIST_BENCH_JIT"))  # XLA's own set-up too, under --jit
        w.fit(x, y, batch_size=128, epochs=1, verbose=0)

    warm()
    if arm != "plain":
        with tfhist_magic.watch(**WATCHED[arm]):
            warm()
    keras.backend.clear_session()

    m, x, y, batch = _workload(name, steps)
    if os.environ.get("TFHIST_BENCH_JIT"):
        m.jit_compile = True  # XLA, as Keras turns on by default on a GPU
    weights = _nbytes(m.trainable_weights)
    _timeline.trim()
    base = _timeline.status_bytes("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # VmHWM := VmRSS
    tf_base = _tf_memory(dev, "current", reset=True)
    top = int(os.environ.get("TFHIST_BENCH_AT_PEAK", "0"))
    timeline = _timeline.RssTimeline() if os.environ.get("TFHIST_BENCH_BY_BATCH") else None
    callbacks = [_batch_marks(timeline)] if timeline is not None else []
    t0 = time.perf_counter()
    with _atpeak.profiled() if top else contextlib.nullcontext() as prof, timeline or contextlib.nullcontext():
        watch = tfhist_magic.watch(**WATCHED[arm]) if arm != "plain" else None
        rec = watch.__enter__() if watch is not None else None
        try:
            m.fit(x, y, batch_size=batch, epochs=1, verbose=0, shuffle=False, callbacks=callbacks)
            if timeline is not None:
                timeline.mark("after fit")
            held_rss = _timeline.status_bytes("VmRSS") - base
            held_tf = _tf_memory(dev, "current") - tf_base
            buffers = _watch_buffers()
        finally:
            if timeline is not None and watch is not None:
                timeline.mark("exit")
            if watch is not None:
                watch.__exit__(*sys.exc_info())
    secs = time.perf_counter() - t0
    peak = _timeline.status_bytes("VmHWM") - base
    tf_peak = _tf_memory(dev, "peak") - tf_base
    return {
        "workload": name,
        "arm": arm,
        "device": dev,
        "tf_version": version,
        "params": int(m.count_params()),
        "weights_bytes": weights,
        "optimizer_bytes": _nbytes(m.optimizer.variables),
        "baseline_rss": base,
        "peak_rss": peak,
        "tf_peak": tf_peak,
        "held_rss": held_rss,
        "held_tf": held_tf,
        "buffers": buffers,
        "series": len(rec) if rec is not None else 0,
        "fit_s": secs,
        "at_peak": _atpeak.live_at_peak(prof["logdir"], top) if top else None,
        "by_batch": [(label, r - base) for label, r in timeline.phases()] if timeline is not None else None,
    }


def _batch_marks(timeline):
    """A Keras callback that marks the start of every batch on ``timeline``."""
    import keras

    class Marks(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            timeline.mark(f"batch {batch}")

    return Marks()


def _tf_memory(dev: str, key: str, reset: bool = False) -> float:
    """TensorFlow's allocator's ``key`` bytes on ``dev``; NaN where the allocator keeps no
    statistics (TensorFlow's default CPU allocator: run with ``--tf-stats``, which makes
    it the BFC allocator, whose pool changes the RSS figures a little). On JAX, its
    device's (``peak`` since the process began: JAX has no reset; NaN on a CPU)."""
    if _jax():
        import jax

        stats = jax.devices()[0].memory_stats() or {}
        return float(stats.get("peak_bytes_in_use" if key == "peak" else "bytes_in_use", float("nan")))
    import tensorflow as tf

    try:
        if reset:
            tf.config.experimental.reset_memory_stats(dev)
        return tf.config.experimental.get_memory_info(dev)[key]
    except ValueError:
        return float("nan")


# -- the parent: one fresh process per (workload, arm), then the table -------------------
def _run_child(name: str, arm: str, steps: int) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--child", name, arm, "--steps", str(steps)]
    got = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    lines = [ln for ln in got.stdout.splitlines() if ln.startswith("{")]
    if got.returncode != 0 or not lines:
        raise RuntimeError(f"{name}/{arm} failed (exit {got.returncode}):\n{got.stderr[-3000:]}")
    return json.loads(lines[-1])


def _mib(b: float) -> str:
    return f"{b / MIB:+,.0f} MiB" if abs(b) >= 10 * MIB else f"{b / MIB:+,.1f} MiB"


def _merge(runs: list) -> dict:
    """One arm's repeats as one: the medians of the peaks and of what was held, the rest
    from the first run; the peaks' range kept beside them."""
    out = dict(runs[0])
    for key in ("peak_rss", "tf_peak", "held_rss", "held_tf"):
        vals = sorted(r[key] for r in runs)
        out[key] = statistics.median(vals)
        out[key + "_range"] = (vals[0], vals[-1])
    return out


def table(results: dict, arms: list) -> str:
    out = [
        "| model | trainable weights | arm | peak RSS over baseline | extra over plain (× weights) | TF peak over baseline | extra over plain (× weights) | held after fit: RSS / TF | watch's buffers (× weights) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, by_arm in results.items():
        plain = _merge(by_arm["plain"])
        w = plain["weights_bytes"]
        for i, arm in enumerate(arms):
            r = _merge(by_arm[arm])
            label = f"{TITLES[name]}, {r['params'] / 1e6:.2f} M params" if i == 0 else ""
            wcol = f"{w / MIB:,.1f} MiB" if i == 0 else ""

            def peak(key):
                lo, hi = r[key + "_range"]
                return _mib(r[key]) + (f" [{_mib(lo)}, {_mib(hi)}]" if len(by_arm[arm]) > 1 else "")

            if arm == "plain":
                rss_x = tf_x = "–"
            else:
                rss_x = f"{_mib(r['peak_rss'] - plain['peak_rss'])} ({(r['peak_rss'] - plain['peak_rss']) / w:.2f}×)"
                tf_x = f"{_mib(r['tf_peak'] - plain['tf_peak'])} ({(r['tf_peak'] - plain['tf_peak']) / w:.2f}×)"
            buf = sum(r["buffers"].values())
            bcol = f"{buf / MIB:,.1f} MiB ({buf / w:.2f}×)" if arm != "plain" else "–"
            out.append(
                f"| {label} | {wcol} | {arm} | {peak('peak_rss')} | {rss_x} | {peak('tf_peak')} | {tf_x} | "
                f"{_mib(r['held_rss'])} / {_mib(r['held_tf'])} | {bcol} |"
            )
    return "\n".join(out)


def at_peak_table(results: dict, arms: list) -> str:
    """The ``--at-peak`` lists: per workload and arm (its first process), the largest
    tensors alive at TF's peak that the fit allocated."""
    out = ["\n### Alive at TF's peak (the fit's own allocations, largest first)\n"]
    for name, by_arm in results.items():
        for arm in arms:
            got = by_arm[arm][0].get("at_peak")
            if not got:
                continue
            out.append(f"- **{name}/{arm}**: {got['in_use'] / MIB:,.0f} MiB in use at the peak, {_mib(got['live'])} of it allocated during the fit:")
            for mib, op, shape, region in got["tensors"]:
                out.append(f"  - {mib:,.1f} MiB `{op}` {shape} {region}".rstrip())
    return "\n".join(out)


def by_batch_lines(results: dict, arms: list) -> str:
    """The ``--by-batch`` lines: per workload and arm (its first process), the highest RSS
    over the baseline in each phase of the fit."""
    out = ["\n### Highest RSS over the baseline, by phase (VmRSS every 0.5 ms)\n"]
    for name, by_arm in results.items():
        for arm in arms:
            got = by_arm[arm][0].get("by_batch")
            if got:
                out.append(f"- **{name}/{arm}**: " + ", ".join(f"{label} {_mib(b)}" for label, b in got))
    return "\n".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workloads", default=",".join(WORKLOADS), help=f"comma-separated, of {','.join(WORKLOADS)}")
    ap.add_argument("--arms", default="plain,default,every1", help=f"comma-separated, of {','.join(ARMS)} (plain is always run)")
    ap.add_argument("--steps", type=int, default=4, help="steps of the measured fit")
    ap.add_argument("--repeats", type=int, default=1, help="fresh processes per arm (the arms alternate); the table shows medians [min, max]")
    ap.add_argument("--tf-stats", action="store_true", help="TensorFlow's BFC allocator on the CPU, so the TF peak columns are measured (NaN without it)")
    ap.add_argument("--json", metavar="FILE", help="also write every measurement to FILE")
    ap.add_argument("--jit", action="store_true", help="the measured fit compiled with XLA (jit_compile=True, Keras' default on a GPU)")
    ap.add_argument("--backend", choices=("tensorflow", "jax"), default="tensorflow", help="Keras 3's backend in the children")
    ap.add_argument("--at-peak", type=int, default=0, metavar="N", help="also list the N largest tensors alive at TF's peak, per arm (TensorFlow's profiler; implies --tf-stats)")
    ap.add_argument("--by-batch", action="store_true", help="also print, per arm, the highest RSS over the baseline in each batch, after fit and in the exit (VmRSS sampled every 0.5 ms)")
    ap.add_argument("--child", nargs=2, metavar=("WORKLOAD", "ARM"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(child(*args.child, args.steps)), flush=True)
        return 0
    workloads = [w for w in args.workloads.split(",") if w]
    arms = [a for a in args.arms.split(",") if a]
    if "plain" not in arms:
        arms = ["plain", *arms]
    bad = [w for w in workloads if w not in WORKLOADS] + [a for a in arms if a not in ARMS]
    if bad or not workloads:
        ap.error(f"unknown {', '.join(bad) or 'workload (none given)'}; workloads: {','.join(WORKLOADS)}; arms: {','.join(ARMS)}")
    if args.at_peak < 0:
        ap.error("--at-peak must be >= 0")
    if args.at_peak and args.backend == "jax":
        ap.error("--at-peak reads TensorFlow's profiler: it needs --backend tensorflow")
    if args.tf_stats or args.at_peak:
        os.environ["TF_CPU_ALLOCATOR_USE_BFC"] = "true"  # the children inherit it
    if args.at_peak:
        os.environ["TFHIST_BENCH_AT_PEAK"] = str(args.at_peak)
    if args.by_batch:
        os.environ["TFHIST_BENCH_BY_BATCH"] = "1"
    os.environ["KERAS_BACKEND"] = args.backend  # the children inherit it
    if args.jit:
        os.environ["TFHIST_BENCH_JIT"] = "1"
    if args.steps < 1 or args.repeats < 1:
        ap.error("--steps and --repeats must be >= 1")
    command = shlex.join(["bench/memory.py", *(sys.argv[1:] if argv is None else argv)])
    t0 = time.perf_counter()
    results: dict = {}
    for name in workloads:
        results[name] = {arm: [] for arm in arms}
        for _, arm in itertools.product(range(args.repeats), arms):
            r = _run_child(name, arm, args.steps)
            results[name][arm].append(r)
            print(
                f"  {name}/{arm}: peak RSS {_mib(r['peak_rss'])}, TF peak {_mib(r['tf_peak'])} over a baseline of "
                f"{r['baseline_rss'] / MIB:,.0f} MiB; buffers {', '.join(f'{k} {v / MIB:.1f} MiB' for k, v in r['buffers'].items()) or 'none'}; "
                f"fit {r['fit_s']:.1f} s",
                file=sys.stderr,
                flush=True,
            )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    from tfhist_magic.watcher import DEFAULT_EVERY

    first = next(iter(next(iter(results.values())).values()))[0]
    dev = first["device"]
    where = "GPU: TF peak is device memory" if dev.startswith("GPU") else f"CPU only ({os.cpu_count()} cores)"
    reps = f", medians of {args.repeats} [min, max]" if args.repeats > 1 else ""
    print(f"## What a watch holds in memory: {first['tf_version']}, {where}, Keras 3 `fit` (Adam{', jit_compile=True' if args.jit else ''}), {args.steps} steps, default every={DEFAULT_EVERY}, each arm in a fresh process{reps}\n")
    print(f"`python {command}`\n")
    print(table(results, arms))
    print(
        "\nPeak RSS: the kernel's high-water mark (VmHWM, reset before the fit) minus the RSS just before it. "
        "TF peak: the peak bytes of TensorFlow's allocator for tensors over its bytes before the fit. "
        "Extra over plain: the arm's peak minus plain's, in multiples of the trainable weights' bytes (target: <= 1.5×). "
        f"Took {time.perf_counter() - t0:.0f} s."
    )
    if args.at_peak:
        print(at_peak_table(results, arms))
    if args.by_batch:
        print(by_batch_lines(results, arms))
    return 0


if __name__ == "__main__":
    sys.exit(main())
