"""The whole cost a notebook user pays: a watched ``fit`` in a real Jupyter kernel.

    python bench/kernel.py                 # MLP workload, 5 paired rounds
    python bench/kernel.py --rounds 7 --workload cnn

A kernel is started with jupyter_client (as a notebook front end starts one) and each
round runs, in a rotating order, one cell per arm on a fresh identically seeded model:

- ``plain``: ``model.fit(...)``;
- ``display off``: ``%%tfhist_watch`` with ``TfHistMagics.display = 'none'``;
- ``live widget``: ``%%tfhist_watch`` with the live dashboard (what a notebook shows),
  including the updates it sends while training and the PNG and text drawn at the end.

CPU seconds are the kernel process's own (all its threads, ``time.process_time``) around
the cell body; the figure is the median over rounds of per-round ratios. The client reads
every message the kernel sends, as a browser would.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import textwrap

HERE = os.path.dirname(os.path.abspath(__file__))

SETUP = """
import os, sys, time, json
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
%load_ext tfhist_magic
sys.path.insert(0, {here!r})
from bench import WORKLOADS, _data, _model
wl = WORKLOADS[{workload!r}]
x, y = _data(wl["kind"], wl["n"])
kw = dict(batch_size=wl["batch"], epochs=wl["epochs"], verbose=0, shuffle=False)
_model(wl["kind"]).fit(x[:512], y[:512], **kw)  # warm up TensorFlow, not counted
# Account the dashboard's own work on the kernel's main thread (thread CPU time), so the
# widget's cost is measured directly as well as by the paired ratio (which is noisy).
from tfhist_magic.view.widget import Dashboard
_spent = [0.0]
def _account(fn):
    def wrapper(*a, **k):
        t = time.thread_time()
        try:
            return fn(*a, **k)
        finally:
            _spent[0] += time.thread_time() - t
    return wrapper
for _name in ("refresh", "_full_packet", "_repr_mimebundle_", "finish", "start_live"):
    setattr(Dashboard, _name, _account(getattr(Dashboard, _name)))
def _timed(run):
    _spent[0] = 0.0
    c0, t0 = time.process_time(), time.perf_counter()
    run()
    return {{"cpu": time.process_time() - c0, "wall": time.perf_counter() - t0, "widget": _spent[0]}}
"""

ARMS = {
    "plain": "m = _model(wl['kind'])\nprint('RESULT', json.dumps(_timed(lambda: m.fit(x, y, **kw))))",
    "display off": "m = _model(wl['kind'])\n%config TfHistMagics.display = 'none'\n"
    "print('RESULT', json.dumps(_timed(lambda: get_ipython().run_cell_magic('tfhist_watch', '', 'm.fit(x, y, **kw)'))))",
    "live widget": "m = _model(wl['kind'])\n%config TfHistMagics.display = 'widget'\n"
    "print('RESULT', json.dumps(_timed(lambda: get_ipython().run_cell_magic('tfhist_watch', '', 'm.fit(x, y, **kw)'))))",
}


def main(argv=None) -> int:
    import jupyter_client

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--workload", default="mlp", choices=("mlp", "cnn"))
    args = ap.parse_args(argv)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    km, kc = jupyter_client.manager.start_new_kernel(kernel_name="python3", env=env)
    stats = {"messages": 0, "bytes": 0}

    def run(code: str) -> dict | None:
        got = {}

        def hook(msg):
            stats["messages"] += 1
            stats["bytes"] += sum(len(b) for b in msg.get("buffers", []) or [])
            if msg["header"]["msg_type"] == "stream" and "RESULT" in msg["content"]["text"]:
                got.update(json.loads(msg["content"]["text"].split("RESULT", 1)[1]))

        reply = kc.execute_interactive(code, timeout=900, output_hook=hook)
        if reply["content"]["status"] != "ok":
            raise RuntimeError("\n".join(reply["content"].get("traceback", [])))
        return got

    try:
        run(textwrap.dedent(SETUP.format(here=HERE, workload=args.workload)))
        arms = list(ARMS)
        res = {a: [] for a in arms}
        for r in range(args.rounds):
            order = arms[r % len(arms) :] + arms[: r % len(arms)]
            for arm in order:
                res[arm].append(run(ARMS[arm]))
            print(f"  round {r + 1}/{args.rounds} done", file=sys.stderr, flush=True)
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    wl = args.workload
    print(f"## {wl} in a Jupyter kernel: {args.rounds} rounds, median of per-round ratios")
    print("| arm | CPU vs plain | wall vs plain | CPU vs display off | CPU s | wall s |\n|---|---|---|---|---|---|")
    for arm in arms:
        ratio = lambda key, base: statistics.median(a[key] / b[key] for a, b in zip(res[arm], res[base]))  # noqa: E731
        print(
            f"| {arm} | {ratio('cpu', 'plain'):.3f} | {ratio('wall', 'plain'):.3f} | {ratio('cpu', 'display off'):.3f} | "
            f"{statistics.median(x['cpu'] for x in res[arm]):.2f} | {statistics.median(x['wall'] for x in res[arm]):.2f} |"
        )
    live = res["live widget"]
    share = statistics.median(a["widget"] / b["cpu"] for a, b in zip(live, res["display off"]))
    print(
        f"dashboard code on the kernel's main thread (packing rows, sending, the PNG and text at the end): "
        f"{statistics.median(a['widget'] for a in live) * 1000:.0f} ms per watched fit = {100 * share:.1f}% of the display-off watch's CPU"
    )
    print(f"messages read by the client: {stats['messages']}, binary bytes: {stats['bytes'] / 2**20:.2f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
