"""Watched vs plain training, side by side in one process.

    python bench/bench.py                      # everything (several minutes)
    python bench/bench.py --rounds 7 --workloads mlp --arms plain,default,every1
    python bench/bench.py --workloads mirrored --arms plain,default,every1   # on its own
    python bench/bench.py --backend jax        # Keras 3 on JAX: plain, default, every=1
    python bench/bench.py --backend jax --workloads transformer --rounds 3   # 267 series
    python bench/bench.py --backend jax --compiles --workloads transformer    # JAX's compiles, by phase

Method: every round builds a fresh, identically seeded model per arm (so each arm pays
its own trace), the arms run one after the other in a fixed rotation, and the figure
reported is the median over rounds of the per-round ratio arm / plain. Process CPU
seconds (user + sys) are the main figure, wall time is beside it. Also printed: the
Recording's size, the host's peak RSS, a 1,000-tensor x 100,000-step storage check,
and `%load_ext` time with TensorFlow already imported.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


# -- workloads ------------------------------------------------------------------------
def _data(kind: str, n: int):
    rng = np.random.default_rng(0)
    if kind == "session":
        return rng.random((n, 784), dtype=np.float32), rng.integers(0, 10, n)
    if kind == "cnn":
        x = rng.random((n, 28, 28, 1), dtype=np.float32)
    elif kind == "transformer":  # token ids, sequence length 32, vocabulary 1000
        x = rng.integers(0, 1000, (n, 32), dtype=np.int32)
    elif kind == "resnet50":
        x = rng.random((n, 32, 32, 3), dtype=np.float32)
    else:
        x = rng.random((n, 784), dtype=np.float32)
    y = rng.integers(0, 10, n)
    return x, y


_STRATEGY = []


def _mirrored():
    """MirroredStrategy over two logical CPU devices (set up by ``main`` before TF starts)."""
    import tensorflow as tf

    if not _STRATEGY:
        _STRATEGY.append(tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]))
    return _STRATEGY[0]


def _transformer(keras, blocks=6, d_model=128, heads=4, ff=256, seq=32, vocab=1000, classes=10):
    """A post-LN Transformer encoder classifier: token Embedding, ``blocks`` x (self
    attention + residual + LayerNorm, Dense-ReLU-Dense + residual + LayerNorm), mean
    pooled, softmax head."""
    L = keras.layers
    inp = keras.Input((seq,), dtype="int32")
    h = L.Embedding(vocab, d_model)(inp)
    for _ in range(blocks):
        a = L.MultiHeadAttention(heads, d_model // heads)(h, h)
        h = L.LayerNormalization()(L.Add()([h, a]))
        f = L.Dense(ff, activation="relu")(h)
        f = L.Dense(d_model)(f)
        h = L.LayerNormalization()(L.Add()([h, f]))
    out = L.Dense(classes, activation="softmax")(L.GlobalAveragePooling1D()(h))
    return keras.Model(inp, out, name="transformer")


def _model(kind: str):
    import keras

    if kind == "mirrored":  # the MLP, its variables mirrored on two devices
        with _mirrored().scope():
            return _model("mlp")
    keras.utils.set_random_seed(0)
    L = keras.layers
    if kind in ("transformer", "resnet50"):  # softmax outputs
        if kind == "transformer":
            m = _transformer(keras)
        else:  # weights=None: random initialisation, nothing downloaded
            m = keras.applications.ResNet50(weights=None, input_shape=(32, 32, 3), classes=10)
        m.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy())
        return m
    if kind == "cnn":
        layers = [
            keras.Input((28, 28, 1)),
            L.Conv2D(16, 3, activation="relu"),
            L.MaxPooling2D(),
            L.Conv2D(32, 3, activation="relu"),
            L.MaxPooling2D(),
            L.Flatten(),
            L.Dense(64, activation="relu"),
            L.Dense(10),
        ]
    else:
        layers = [keras.Input((784,)), L.Dense(512, activation="relu"), L.Dense(256, activation="relu"), L.Dense(10)]
    m = keras.Sequential(layers)
    m.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return m


WORKLOADS = {
    "mlp": dict(kind="mlp", n=20_000, batch=128, epochs=2),
    "cnn": dict(kind="cnn", n=6_000, batch=128, epochs=2),
    "session": dict(kind="session", n=20_000, batch=128, epochs=2),
    # The MLP under MirroredStrategy on two logical CPU devices (global batch 128, 64 a
    # replica). Logical devices must be set before TensorFlow starts: run it on its own.
    "mirrored": dict(kind="mirrored", n=20_000, batch=128, epochs=2),
    # Larger models, for the scale bench (bench/scale.py) and bench/tracecost.py: a 6-block
    # Transformer encoder (d_model 128, 4 heads, ff 256, 32 tokens of 1,000) and
    # keras.applications.ResNet50 on 32x32x3 (weights=None).
    # Small batches keep them affordable on a few CPU cores (60 steps an epoch).
    "transformer": dict(kind="transformer", n=960, batch=16, epochs=2),
    "resnet50": dict(kind="resnet50", n=240, batch=4, epochs=2),
}


def _session_train(wl, x, y, watch_kwargs):
    """The same 784-512-256-10 MLP as a tf.compat.v1 graph, trained by a feed_dict
    loop over Session.run (Adam)."""
    import tensorflow as tf

    import tfhist_magic

    v1 = tf.compat.v1
    g = tf.Graph()
    with g.as_default():
        v1.set_random_seed(0)
        xp = v1.placeholder(tf.float32, [None, 784])
        yp = v1.placeholder(tf.int64, [None])
        h = xp
        for i, units in enumerate([512, 256]):
            w = v1.get_variable(f"dense{i}/kernel", [h.shape[1], units], initializer=v1.glorot_uniform_initializer())
            b = v1.get_variable(f"dense{i}/bias", [units], initializer=v1.zeros_initializer())
            h = tf.nn.relu(tf.nn.bias_add(tf.matmul(h, w), b))
        w = v1.get_variable("logits/kernel", [256, 10], initializer=v1.glorot_uniform_initializer())
        b = v1.get_variable("logits/bias", [10], initializer=v1.zeros_initializer())
        logits = tf.nn.bias_add(tf.matmul(h, w), b)
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=yp, logits=logits))
        train = v1.train.AdamOptimizer(1e-3).minimize(loss)
        init = v1.global_variables_initializer()
    rec = None
    c0, t0 = time.process_time(), time.perf_counter()
    with v1.Session(graph=g) as sess:
        sess.run(init)
        ctx = tfhist_magic.watch(**watch_kwargs) if watch_kwargs is not None else None
        if ctx is not None:
            rec = ctx.__enter__()
        try:
            for _ in range(wl["epochs"]):
                for i in range(0, len(x), wl["batch"]):
                    sess.run(train, {xp: x[i : i + wl["batch"]], yp: y[i : i + wl["batch"]]})
        finally:
            if ctx is not None:
                ctx.__exit__(None, None, None)
    return time.process_time() - c0, time.perf_counter() - t0, rec


# -- arms -----------------------------------------------------------------------------
class _NumpyWeights:
    """Peer: copy every weight to NumPy every 10 batches and np.histogram it."""

    def __new__(cls, every=10):
        import keras

        class CB(keras.callbacks.Callback):
            def on_train_batch_end(self, batch, logs=None):
                if batch % every == 0:
                    for w in self.model.trainable_weights:
                        np.histogram(w.numpy(), bins=64)

        return CB()


class _Recipe:
    """Peer: every 10 batches a GradientTape pass and an activation sub-model on a fixed
    probe batch, then np.histogram of weights, gradients and activations."""

    def __new__(cls, probe_x, probe_y, every=10):
        import keras
        import tensorflow as tf

        class CB(keras.callbacks.Callback):
            def on_train_begin(self, logs=None):
                m = self.model
                self.sub = keras.Model(m.inputs, [layer.output for layer in m.layers])
                self.loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

            def on_train_batch_end(self, batch, logs=None):
                if batch % every:
                    return
                m = self.model
                with tf.GradientTape() as tape:
                    loss = self.loss(probe_y, m(probe_x, training=True))
                grads = tape.gradient(loss, m.trainable_weights)
                for t in list(self.sub(probe_x)) + grads + [w.value for w in m.trainable_weights]:
                    np.histogram(np.asarray(t), bins=64)

        return CB()


def _run_arm(arm: str, wl: dict, x, y, out: dict):
    import keras

    import tfhist_magic
    from tfhist_magic.watcher import DEFAULT_EVERY

    watch_args = {
        "default": dict(),
        "every10": dict(every=10),
        "every50": dict(every=50),
        "every1": dict(every=1),
        "weights": dict(kinds="weights"),
        "grads": dict(kinds="grads"),
        "activations": dict(kinds="activations"),
    }
    if wl["kind"] == "session":
        if arm not in watch_args and arm != "plain":
            return None
        c, w, rec = _session_train(wl, x, y, watch_args.get(arm))
        if rec is not None:
            out.setdefault("rec_bytes", {})[arm] = rec.nbytes
            out.setdefault("series", {})[arm] = len(rec)
        out["default_every"] = DEFAULT_EVERY
        return c, w
    m = _model(wl["kind"])
    kw = dict(batch_size=wl["batch"], epochs=wl["epochs"], verbose=0, shuffle=False)
    cbs = []
    tmp = None
    if arm == "tensorboard":
        tmp = tempfile.TemporaryDirectory()
        cbs = [keras.callbacks.TensorBoard(log_dir=tmp.name, histogram_freq=1)]
    elif arm == "numpy10":
        cbs = [_NumpyWeights()]
    elif arm == "recipe10":
        cbs = [_Recipe(x[:128], y[:128])]
    c0, t0 = time.process_time(), time.perf_counter()
    if arm in watch_args:
        with tfhist_magic.watch(**watch_args[arm]) as rec:
            m.fit(x, y, callbacks=cbs, **kw)
        out.setdefault("rec_bytes", {})[arm] = rec.nbytes
        out.setdefault("series", {})[arm] = len(rec)
    else:
        m.fit(x, y, callbacks=cbs, **kw)
    c1, t1 = time.process_time(), time.perf_counter()
    if tmp is not None:
        tmp.cleanup()
    out["default_every"] = DEFAULT_EVERY
    return c1 - c0, t1 - t0


ALL_ARMS = ["plain", "default", "every10", "every1", "weights", "grads", "activations", "tensorboard", "numpy10", "recipe10"]
LABELS = {
    "plain": "plain training",
    "default": "tfhist, all kinds, every={every}",
    "every1": "tfhist, all kinds, every=1",
    "every10": "tfhist, all kinds, every=10",
    "every50": "tfhist, all kinds, every=50",
    "weights": "tfhist, weights only, every={every}",
    "grads": "tfhist, grads only, every={every}",
    "activations": "tfhist, activations only, every={every}",
    "tensorboard": "TensorBoard(histogram_freq=1): weights, per epoch",
    "numpy10": "weights to NumPy + np.histogram, every 10",
    "recipe10": "probe-batch recipe (tape + sub-model), every 10",
}


def bench_workload(name: str, arms, rounds: int):
    import gc

    wl = WORKLOADS[name]
    x, y = _data(wl["kind"], wl["n"])
    if wl["kind"] == "session":  # the Keras peers do not apply to a Session loop
        arms = [a for a in arms if a in ("plain", "default", "every1", "every10", "every50", "weights", "grads", "activations")]
    cpu = {a: [] for a in arms}
    wall = {a: [] for a in arms}
    info: dict = {}
    _run_arm("plain", wl, x[:512], y[:512], info)  # warm up TF once, not counted
    if "default" in arms:  # and report, apart, what the very first watch costs
        info["cold"] = _run_arm("default", wl, x, y, info)
    for r in range(rounds):
        order = arms[r % len(arms) :] + arms[: r % len(arms)]  # rotate who goes first
        for arm in order:
            gc.collect()
            c, w = _run_arm(arm, wl, x, y, info)
            cpu[arm].append(c)
            wall[arm].append(w)
        print(f"  round {r + 1}/{rounds} done", file=sys.stderr, flush=True)
    rows = []
    for arm in arms:
        rc = [c / p for c, p in zip(cpu[arm], cpu["plain"])]
        rw = [c / p for c, p in zip(wall[arm], wall["plain"])]
        rows.append((arm, statistics.median(rc), statistics.median(rw), statistics.median(cpu[arm]), statistics.median(wall[arm])))
    return rows, info


class _BatchCPU:
    """Process CPU time at the start of fit and after every batch."""

    def __init__(self):
        import keras

        class CB(keras.callbacks.Callback):
            def on_train_begin(cb, logs=None):
                self.marks = [time.process_time()]

            def on_train_batch_end(cb, batch, logs=None):
                self.marks.append(time.process_time())

        self.callback = CB()
        self.marks: list = []


def breakdown(name: str, rounds: int, every: int) -> dict:
    """Where watching costs, per batch, for a Keras workload (CPU ms, medians over rounds):
    the first batch (trace, instantiation, step 0, which is sampled), a batch that is not
    sampled, a sampled batch. ``trace`` = first-batch difference minus one sampled batch's
    extra: what watching adds to each new trace of the training step."""
    import gc

    import tfhist_magic

    wl = WORKLOADS[name]
    x, y = _data(wl["kind"], wl["n"])
    kw = dict(batch_size=wl["batch"], epochs=wl["epochs"], verbose=0, shuffle=False)
    _model(wl["kind"]).fit(x[:512], y[:512], **kw)
    with tfhist_magic.watch(every=every):  # the histogram functions are traced once per process
        _model(wl["kind"]).fit(x[:512], y[:512], **kw)
    got = {"plain": [], "default": [], "every1": []}
    for _ in range(rounds):
        for arm in got:
            gc.collect()
            m, t = _model(wl["kind"]), _BatchCPU()
            if arm == "plain":
                m.fit(x, y, callbacks=[t.callback], **kw)
            else:
                with tfhist_magic.watch(every=every if arm == "default" else 1):
                    m.fit(x, y, callbacks=[t.callback], **kw)
            got[arm].append(np.diff(t.marks) * 1000)
    med = statistics.median
    first = {a: med(d[0] for d in v) for a, v in got.items()}
    steady = {a: med(med(d[5:]) for d in v) for a, v in got.items()}
    # unsampled batches of the default arm: every batch whose index is not a multiple of every
    unsampled = med(med([b for i, b in enumerate(d) if i % every and i > 4]) for d in got["default"])
    sampled_extra = steady["every1"] - steady["plain"]
    return {
        "first_plain": first["plain"],
        "first_watched": first["default"],
        "trace": first["default"] - first["plain"] - sampled_extra,
        "step_plain": steady["plain"],
        "unsampled_extra": unsampled - steady["plain"],
        "sampled_extra": sampled_extra,
        "steps": len(got["plain"][0]),
    }


def storage_check(tensors=1000, steps=100_000, block=1000, bins=64):
    from tfhist_magic.recording import Recording

    rec = Recording(bins=bins)
    rows = np.zeros((block, tensors, bins + 10))
    names = [f"t{i}" for i in range(tensors)]
    t0 = time.perf_counter()
    for b in range(0, steps, block):
        rec.add_rows("weights", names, np.arange(b, b + block), rows)
    s = rec.series("weights", "t0")
    return rec.nbytes, time.perf_counter() - t0, len(s), int(s.steps[0]), int(s.steps[-1])


def load_ext_time(reps=5):
    import tensorflow  # noqa: F401  (already imported, as the target says)
    from IPython.core.interactiveshell import InteractiveShell

    ip = InteractiveShell.instance()
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        ip.run_line_magic("reload_ext", "tfhist_magic")
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="watched vs plain training, side by side")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--workloads", default="mlp,cnn,session")
    ap.add_argument("--arms", default=",".join(ALL_ARMS))
    ap.add_argument("--no-extras", action="store_true", help="skip the storage and %%load_ext checks")
    ap.add_argument("--no-breakdown", action="store_true", help="skip the per-batch cost breakdown")
    ap.add_argument("--backend", choices=("tensorflow", "jax"), default="tensorflow", help="Keras 3's backend (jax: the Keras workloads, arms plain, default, every1)")
    ap.add_argument("--compiles", action="store_true", help="with --backend jax: one fit per arm (plain, a first watch, a second watch), JAX's compile time by phase")
    args = ap.parse_args(argv)
    arms = args.arms.split(",")
    if "plain" not in arms:
        arms = ["plain"] + arms
    if args.backend == "jax":
        return _main_jax(args, arms)
    import tensorflow as tf

    if "mirrored" in args.workloads.split(","):
        if args.workloads != "mirrored":
            ap.error("--workloads mirrored runs on its own (it splits the CPU into two logical devices)")
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    print(f"tfhist_magic bench: TF {tf.__version__}, {os.cpu_count()} CPUs, {args.rounds} rounds, median of per-round ratios")
    for name in args.workloads.split(","):
        wl = WORKLOADS[name]
        how = {"session": "tf.compat.v1 Session loop (Adam)", "mirrored": "Keras 3 fit (Adam), MirroredStrategy, 2 logical CPUs"}.get(wl["kind"], "Keras 3 fit (Adam)")
        print(f"\n## {name}: {wl['n']} examples, batch {wl['batch']}, {wl['epochs']} epochs, {how}")
        rows, info = bench_workload(name, arms, args.rounds)
        every = info["default_every"]
        print("| arm | CPU ratio | wall ratio | CPU s | wall s |\n|---|---|---|---|---|")
        for arm, rc, rw, c, w in rows:
            print(f"| {LABELS[arm].format(every=every)} | {rc:.3f} | {rw:.3f} | {c:.2f} | {w:.2f} |")
        if "cold" in info:
            print(f"First watch in a fresh process (traces the histogram functions once): {info['cold'][0]:.2f} CPU s, {info['cold'][1]:.2f} wall s")
        rb = info.get("rec_bytes", {})
        if rb:
            print("Recording size: " + ", ".join(f"{a} {b / 2**20:.2f} MiB ({info['series'][a]} series)" for a, b in rb.items()))
        if wl["kind"] != "session" and not args.no_breakdown:
            b = breakdown(name, max(3, args.rounds // 2), info["default_every"])
            print(
                f"Per batch, CPU ms (medians): plain batch {b['step_plain']:.2f}; watching adds {b['unsampled_extra']:.2f} to a batch that is not sampled "
                f"and {b['sampled_extra']:.2f} to a sampled one; first batch {b['first_watched']:.0f} watched vs {b['first_plain']:.0f} plain, "
                f"so each new trace of the training step costs {b['trace']:.0f} ms more watched ({b['steps']} batches per fit)"
            )
    if not args.no_extras:
        nbytes, secs, kept, first, last = storage_check()
        print(f"\nStorage: 1,000 tensors x 100,000 steps -> {nbytes / 2**20:.1f} MiB, {kept} snapshots kept per tensor (steps {first}..{last}), filled in {secs:.1f}s")
        print(f"%load_ext tfhist_magic with TensorFlow imported: {load_ext_time() * 1000:.1f} ms")
    print(f"Host peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    return 0


#: The arms and workloads of the JAX backend (the peers' callbacks use TensorFlow).
JAX_ARMS = ("plain", "default", "every1")
JAX_WORKLOADS = ("mlp", "cnn", "transformer")  # transformer: 267 series (99 weights)


def _main_jax(args, arms) -> int:
    """Keras 3 on JAX: the same method (fresh model per arm and round, rotation, median of
    per-round ratios, process CPU time), ``fit`` jitted as Keras does by default."""
    os.environ["KERAS_BACKEND"] = "jax"
    import jax
    import keras

    if keras.backend.backend() != "jax":
        raise SystemExit("--backend jax: Keras was imported before with another backend")
    arms = [a for a in arms if a in JAX_ARMS] if args.arms != ",".join(ALL_ARMS) else list(JAX_ARMS)
    names = [n for n in args.workloads.split(",") if n in JAX_WORKLOADS] or ["mlp"]
    if args.compiles:
        return _jax_compiles(names)
    print(f"tfhist_magic bench: Keras {keras.__version__} on JAX {jax.__version__} ({jax.default_backend()}), {os.cpu_count()} CPUs, {args.rounds} rounds, median of per-round ratios")
    for name in names:
        wl = WORKLOADS[name]
        print(f"\n## {name} (JAX): {wl['n']} examples, batch {wl['batch']}, {wl['epochs']} epochs, Keras 3 fit (Adam), jit_compile")
        rows, info = bench_workload(name, arms, args.rounds)
        print("| arm | CPU ratio | wall ratio | CPU s | wall s |\n|---|---|---|---|---|")
        for arm, rc, rw, c, w in rows:
            print(f"| {LABELS[arm].format(every=info['default_every'])} | {rc:.3f} | {rw:.3f} | {c:.2f} | {w:.2f} |")
        if "cold" in info:
            print(f"First watch in a fresh process: {info['cold'][0]:.2f} CPU s, {info['cold'][1]:.2f} wall s")
    print(f"Host peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    return 0


#: JAX's compile events (``jax.monitoring``), as the table names them.
_COMPILE_EVENTS = {"jaxpr_trace_duration": "trace", "jaxpr_to_mlir_module_duration": "lower", "backend_compile_duration": "compile"}


def _jax_compiles(names) -> int:
    """One epoch per arm in this process, in order: plain, a first watch, a second watch
    of a fresh model of the same structure (what a cell run again pays), and plain again.
    Beside each arm's CPU and wall seconds, JAX's own compile events summed by phase and
    the number of backend compiles: where a watch's extra first-fit cost goes."""
    import jax
    from jax import monitoring

    import tfhist_magic

    events: dict = {}

    def on(event, secs, **_):
        phase = _COMPILE_EVENTS.get(event.rsplit("/", 1)[-1])
        if phase:
            events[phase] = events.get(phase, 0.0) + secs
            events["n " + phase] = events.get("n " + phase, 0) + 1

    monitoring.register_event_duration_secs_listener(on)
    print(f"tfhist_magic bench --compiles: JAX {jax.__version__} ({jax.default_backend()}), {os.cpu_count()} CPUs, one epoch per arm, in this order")
    for name in names:
        wl = WORKLOADS[name]
        x, y = _data(wl["kind"], wl["n"])
        print(f"\n## {name} (JAX): {wl['n']} examples, batch {wl['batch']}, 1 epoch\n| arm | CPU s | wall s | trace s | lower s | compile s | compiles |\n|---|---|---|---|---|---|---|")
        for arm in ("plain", "first watch", "second watch", "plain again"):
            m = _model(wl["kind"])
            events.clear()
            c, w = time.process_time(), time.perf_counter()
            if arm.startswith("plain"):
                m.fit(x, y, batch_size=wl["batch"], epochs=1, verbose=0, shuffle=False)
            else:
                with tfhist_magic.watch():
                    m.fit(x, y, batch_size=wl["batch"], epochs=1, verbose=0, shuffle=False)
            c, w = time.process_time() - c, time.perf_counter() - w
            ph = [events.get(k, 0.0) for k in ("trace", "lower", "compile")]
            print(f"| {arm} | {c:.2f} | {w:.2f} | {ph[0]:.2f} | {ph[1]:.2f} | {ph[2]:.2f} | {events.get('n compile', 0)} |", flush=True)
            del m
    return 0


if __name__ == "__main__":
    sys.exit(main())
