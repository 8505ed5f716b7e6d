"""Live updates in a real Jupyter kernel: the widget changes while the cell still runs."""

import textwrap

import pytest

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

        def hook(msg):
            t = msg["header"]["msg_type"]
            if t == "stream" and "done" in msg["content"]["text"]:
                events.append(("epoch", msg["content"]["text"].strip()))
            elif t == "comm_msg" and msg["content"]["data"].get("method") == "update":
                state = msg["content"]["data"].get("state", {})
                if "max" in state or "description" in state:
                    events.append(("widget", sorted(state)))

        reply = kc.execute_interactive(CELL, timeout=180, output_hook=hook)
        assert reply["content"]["status"] == "ok", reply["content"]
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    kinds = [k for k, _ in events]
    assert kinds.count("epoch") == 3, events
    first_epoch, last_epoch = kinds.index("epoch"), len(kinds) - 1 - kinds[::-1].index("epoch")
    # The slider/step label moved between epochs, not only at the end of the cell.
    assert "widget" in kinds[first_epoch:last_epoch], events
