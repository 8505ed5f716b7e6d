"""What watching costs across model sizes, side by side in one process (issue 18).

    python bench/scale.py                                  # all four models, 3 rounds
    python bench/scale.py --rounds 1 --models mlp          # a smoke run (under a minute)
    python bench/scale.py --models transformer,resnet50 --one-batch
    python3 dev.py bench scale ...                         # the same, via dev.py

Models (bench/bench.py's ``_model``/``_data``/``WORKLOADS``, batch sizes from there): the
bench MLP (784-512-256-10, batch 128), the bench CNN (batch 128), a 6-block Transformer
encoder (d_model 128, 4 heads, ff 256, 32 tokens of 1,000, batch 16) and Keras'
ResNet-50 on 32x32x3 (weights=None, batch 4). CPU only, Keras 3 ``fit`` (Adam), the
default ``every``, ``--steps`` (60) steps per fit. The big models' batches are small so
that a run stays short on a few cores; the trace cost does not depend on the batch, the
per-step ratios do (a small batch makes the watch's per-step share larger).

Method (as bench/bench.py): every round builds a fresh, identically seeded model per
arm, so each arm pays its own trace; the arms (plain, watched) alternate, who goes first
rotating from round to round; the figures are medians over rounds, ratios the median of
the per-round ratio watched / plain. Process CPU seconds (``time.process_time()``, user +
sys) are the main figure, wall time is beside it. Per arm and round:

- first fit: the fresh model's first ``fit`` of ``--steps`` steps (it traces the
  training step); the watched one is timed from entering the watch.
- second fit: a second ``fit`` of the same model, ``--steps`` more steps, no new trace
  (the watched one inside the same watch, timed to the watch's exit, final weights
  snapshot included).
- CPU added per new trace: process CPU from the ``fit`` call to the end of the first
  fit's first batch (trace, instantiation and step 0, which is sampled), watched minus
  plain; the same quantity as bench/tracecost.py's one-batch fit, read from the first fit
  itself (a callback marks the batch), so it costs no extra trace. ``--one-batch`` also
  measures it tracecost's way, with separate one-batch fits of fresh models (two more
  traces per model and round). Per series = that / the number of series recorded.

Before any of it, one plain and one watched one-batch fit of the MLP trace the
package's own histogram functions once for the process, and a plain one-batch fit of
each model warms up its kernels (none counted). Between rounds models are deleted and
``keras.backend.clear_session()`` is called (never while a watch is open).

Duration on 2 CPU cores (shared): a full default run takes about 16 minutes of CPU,
ResNet-50 ~12 of them (a trace is ~30 s CPU plain and ~60 s watched, a step ~0.55 s at
batch 4, 4 x 60 steps a round), the Transformer ~3.5 (traces ~11 s and ~20 s, steps
~0.14 s), the MLP and the CNN well under a minute each; wall time is longer when the
cores are busy. ``--one-batch`` adds ~6 minutes, almost all of it ResNet-50's traces.
"""

from __future__ import annotations

import argparse
import gc
import os
import resource
import shlex
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

MODELS = ("mlp", "cnn", "transformer", "resnet50")
TITLES = {
    "mlp": "MLP 784-512-256-10",
    "cnn": "CNN (2 conv, 2 dense)",
    "transformer": "Transformer encoder, 6 blocks",
    "resnet50": "ResNet-50, 32x32x3",
}
ARMS = ("plain", "watched")


class _FirstBatch:
    """A callback that notes process CPU time at the end of the first batch."""

    def __new__(cls, box: dict):
        import keras

        class CB(keras.callbacks.Callback):
            def on_train_batch_end(self, batch, logs=None):
                if "end" not in box:
                    box["end"] = time.process_time()

        return CB()


def _arm(name: str, arm: str, x, y, steps: int) -> dict:
    """One arm of one round: a fresh model, its first and second fit."""
    import tfhist_magic
    from bench import WORKLOADS, _model

    wl = WORKLOADS[name]
    kw = dict(batch_size=wl["batch"], epochs=1, verbose=0, shuffle=False)
    x, y = x[: steps * wl["batch"]], y[: steps * wl["batch"]]
    m = _model(wl["kind"])
    gc.collect()
    box: dict = {}
    got: dict = {}
    c0, t0 = time.process_time(), time.perf_counter()
    watch = tfhist_magic.watch() if arm == "watched" else None
    rec = watch.__enter__() if watch is not None else None
    try:
        box["start"] = time.process_time()
        m.fit(x, y, callbacks=[_FirstBatch(box)], **kw)
        c1, t1 = time.process_time(), time.perf_counter()
        m.fit(x, y, **kw)
    finally:
        if watch is not None:
            watch.__exit__(*sys.exc_info())
    c2, t2 = time.process_time(), time.perf_counter()
    got["first"] = (c1 - c0, t1 - t0)
    got["second"] = (c2 - c1, t2 - t1)
    got["first_batch"] = box["end"] - box["start"]
    got["params"] = m.count_params()
    if rec is not None:
        got["series"] = sum(len(rec.names(k)) for k in rec.kinds)
        got["rec_bytes"] = rec.nbytes
    del m, rec
    return got


def _one_batch(name: str, arm: str, x, y) -> float:
    """bench/tracecost.py's measure: process CPU of a fresh model's one-batch fit."""
    import tfhist_magic
    from bench import WORKLOADS, _model

    wl = WORKLOADS[name]
    kw = dict(batch_size=wl["batch"], epochs=1, verbose=0, shuffle=False)
    one = (x[: wl["batch"]], y[: wl["batch"]])
    m = _model(wl["kind"])
    gc.collect()
    c = time.process_time()
    if arm == "plain":
        m.fit(*one, **kw)
    else:
        with tfhist_magic.watch():
            m.fit(*one, **kw)
    c = time.process_time() - c
    del m
    return c


def _warm_up(name: str, x, y) -> None:
    from bench import WORKLOADS, _model

    wl = WORKLOADS[name]
    _model(wl["kind"]).fit(x[: wl["batch"]], y[: wl["batch"]], batch_size=wl["batch"], epochs=1, verbose=0)


def bench_model(name: str, rounds: int, steps: int, one_batch: bool) -> dict:
    import keras

    from bench import WORKLOADS, _data

    wl = WORKLOADS[name]
    x, y = _data(wl["kind"], steps * wl["batch"])
    if name != "mlp":  # the MLP was warmed up with the histogram functions
        _warm_up(name, x, y)
        keras.backend.clear_session()
    runs: dict = {a: [] for a in ARMS}
    ones: dict = {a: [] for a in ARMS}
    for r in range(rounds):
        order = ARMS if r % 2 == 0 else ARMS[::-1]
        for arm in order:
            runs[arm].append(_arm(name, arm, x, y, steps))
        if one_batch:
            for arm in order:
                ones[arm].append(_one_batch(name, arm, x, y))
        gc.collect()
        keras.backend.clear_session()
        p, w = runs["plain"][-1], runs["watched"][-1]
        extra = f", one-batch fits {ones['plain'][-1]:.2f} -> {ones['watched'][-1]:.2f}" if one_batch else ""
        print(
            f"  {name} round {r + 1}/{rounds}: first fit CPU {p['first'][0]:.2f} -> {w['first'][0]:.2f} s, "
            f"second {p['second'][0]:.2f} -> {w['second'][0]:.2f} s, first batch {p['first_batch']:.2f} -> {w['first_batch']:.2f} s{extra}",
            file=sys.stderr,
            flush=True,
        )
    med = statistics.median
    out: dict = {"series": med(g["series"] for g in runs["watched"]), "rec_bytes": med(g["rec_bytes"] for g in runs["watched"])}
    for fit in ("first", "second"):
        for i, unit in enumerate(("cpu", "wall")):
            pl = [g[fit][i] for g in runs["plain"]]
            wa = [g[fit][i] for g in runs["watched"]]
            out[f"{fit}_{unit}"] = (med(pl), med(wa), med(b / a for a, b in zip(pl, wa)))
    out["trace"] = med(w["first_batch"] - p["first_batch"] for p, w in zip(runs["plain"], runs["watched"]))
    out["first_batch_plain"] = med(g["first_batch"] for g in runs["plain"])
    if one_batch:
        out["one_batch"] = med(w - p for p, w in zip(ones["plain"], ones["watched"]))
        out["one_batch_plain"] = med(ones["plain"])
    out["params"] = runs["plain"][0]["params"]
    return out


def _pair(t) -> str:
    plain, watched, ratio = t
    return f"{plain:.2f} s → {watched:.2f} s ({ratio:.2f}×)"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=",".join(MODELS), help=f"comma-separated, of {','.join(MODELS)}")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=60, help="steps per fit")
    ap.add_argument("--one-batch", action="store_true", help="also measure the trace cost with separate one-batch fits (bench/tracecost.py's way)")
    args = ap.parse_args(argv)
    models = [m for m in args.models.split(",") if m]
    bad = [m for m in models if m not in MODELS]
    if bad or not models:
        ap.error(f"--models: unknown {', '.join(bad) or '(none given)'}; choose from {','.join(MODELS)}")
    if args.rounds < 1 or args.steps < 2:
        ap.error("--rounds must be >= 1 and --steps >= 2")

    import keras
    import tensorflow as tf

    import tfhist_magic
    from bench import WORKLOADS, _data, _model
    from tfhist_magic.watcher import DEFAULT_EVERY

    tf.get_logger().setLevel("ERROR")  # fresh models every arm: the retracing warning is the point
    try:
        tf.config.set_visible_devices([], "GPU")  # the CPU only, wherever it runs
    except RuntimeError:  # devices already initialised
        pass
    command = shlex.join([os.path.relpath(sys.argv[0]) if argv is None else "bench/scale.py", *(sys.argv[1:] if argv is None else argv)])
    t_start = time.perf_counter()
    # The package's own histogram functions are traced once per process: do it here.
    x, y = _data("mlp", 128)
    _model("mlp").fit(x, y, batch_size=128, epochs=1, verbose=0)
    with tfhist_magic.watch():
        _model("mlp").fit(x, y, batch_size=128, epochs=1, verbose=0)
    keras.backend.clear_session()

    results = {}
    for name in models:
        results[name] = bench_model(name, args.rounds, args.steps, args.one_batch)

    print(
        f"## Watching across model sizes: TF {tf.__version__}, Keras {keras.__version__}, CPU ({os.cpu_count()} cores), "
        f"`fit`, every={DEFAULT_EVERY}, {args.steps} steps a fit, {args.rounds} round(s), medians (ratios: median of per-round watched/plain)\n"
    )
    print(f"`python {command}`\n")
    head = "| model | series recorded | first fit CPU, plain → watched | first fit wall | CPU added per new trace (per series) | second fit CPU (no new trace) | second fit wall |"
    if args.one_batch:
        head += " one-batch fit CPU added (per series) |"
    print(head)
    print("|---" * head.count(" | ") + "|---|")
    for name in models:
        r = results[name]
        wl = WORKLOADS[name]
        label = f"{TITLES[name]}, batch {wl['batch']}, {r['params'] / 1e6:.2f} M params"
        n = r["series"]
        row = (
            f"| {label} | {n:.0f} | {_pair(r['first_cpu'])} | {_pair(r['first_wall'])} | "
            f"+{r['trace']:.2f} s on {r['first_batch_plain']:.2f} s ({r['trace'] / n * 1000:.1f} ms) | "
            f"{_pair(r['second_cpu'])} | {_pair(r['second_wall'])} |"
        )
        if args.one_batch:
            row += f" +{r['one_batch']:.2f} s on {r['one_batch_plain']:.2f} s ({r['one_batch'] / n * 1000:.1f} ms) |"
        print(row)
    print(
        "\nCPU added per new trace: process CPU from the `fit` call to the end of the first batch (trace, instantiation, "
        "step 0, which is sampled), watched − plain, after the plain figure; per series in brackets."
    )
    print("Recording size: " + ", ".join(f"{name} {results[name]['rec_bytes'] / 2**20:.2f} MiB" for name in models))
    print(f"Host peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB; took {time.perf_counter() - t_start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
