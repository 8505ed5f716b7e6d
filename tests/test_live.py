"""Live updates in a real Jupyter kernel: the widget changes while the cell still runs."""

import textwrap

import pytest

from tfhist_magic.view.widget import decode

jupyter_client = pytest.importorskip("jupyter_client")

SETUP = textwrap.dedent(
    """
    import os, time
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    import numpy as np, keras
    %load_ext tfhist_magic
    %config TfHistMagics.display = 'widget'
    keras.utils.set_random_seed(0)
    x = np.random.rand(256, 8).astype("float32"); y = np.random.rand(256, 1).astype("float32")
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    class Slow(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            print(f"epoch {epoch} done", flush=True)
            time.sleep(1.5)
    """
)
CELL = "%%tfhist_watch --every 1\nmodel.fit(x, y, batch_size=32, epochs=3, verbose=0, callbacks=[Slow()])"


def test_widget_updates_while_the_cell_runs():
    km, kc = jupyter_client.manager.start_new_kernel(kernel_name="python3")
    try:
        kc.execute_interactive(SETUP, timeout=120)
        events = []

        packets = []

        def hook(msg):
            t = msg["header"]["msg_type"]
            if t == "stream" and "done" in msg["content"]["text"]:
                events.append(("epoch", msg["content"]["text"].strip()))
            elif t == "comm_msg" and msg["content"]["data"].get("method") == "custom":
                packets.append(decode(msg["buffers"][0]))
                events.append(("widget", [int(x) for s in packets[-1]["series"] for x in s["steps"]]))

        reply = kc.execute_interactive(CELL, timeout=180, output_hook=hook)
        assert reply["content"]["status"] == "ok", reply["content"]
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    kinds = [k for k, _ in events]
    assert kinds.count("epoch") == 3, events
    first_epoch, last_epoch = kinds.index("epoch"), len(kinds) - 1 - kinds[::-1].index("epoch")
    # New rows reached the page between epochs, not only at the end of the cell,
    # and each update carried only new steps (3 epochs x 8 batches: steps 0..23).
    assert "widget" in kinds[first_epoch:last_epoch], events
    assert all(p["live"] for p in packets[:-1]) and packets[-1]["live"] is False
    seqs = [p["seq"] for p in packets]
    assert seqs == list(range(1, len(seqs) + 1))
    steps = sorted({st for p in packets for s in p["series"] if s["kind"] == "grads" for st in s["steps"]})
    assert steps == list(range(24)), steps
    sent_rows = sum(s["n"] for p in packets for s in p["series"] if s["kind"] == "grads")
    assert sent_rows <= 4 * 24 + 4 * len(packets), sent_rows  # each grads Series: new rows (+ the not-kept latest) only
