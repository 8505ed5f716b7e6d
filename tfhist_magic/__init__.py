"""tfhist_magic: live histograms of activations, weights and gradients in Jupyter
(TensorFlow, and Keras 3 on TensorFlow or JAX).

``%load_ext tfhist_magic`` registers ``%%tfhist_watch`` and ``%tfhist``. From plain
Python, ``tfhist_magic.watch(...)`` is the same engine. Importing this package does not
import TensorFlow (nor JAX); that happens when something of theirs is first watched.
Where JAX is already imported, importing it creates the JAX context a watch traces in
(``capture/_jax_traces.py``), so a watch never makes what was compiled before it compile
again; ``%load_ext`` does the same when Keras is set to JAX.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["watch", "snapshot", "compare", "Comparison", "Recording", "Series", "load_ipython_extension", "unload_ipython_extension", "__version__"]

from .recording import Recording, Series  # noqa: E402  (NumPy only)
from .watcher import snapshot, watch  # noqa: E402  (TensorFlow is imported on first use)
from .compare import Comparison, compare  # noqa: E402  (NumPy only)
from . import recording as _recording  # noqa: E402
from .capture import _jax_traces  # noqa: E402  (imports nothing)

_jax_traces.early()

# The composition root: the Recording's views and exporters, imported on first use (the
# data module imports none of them; importing this package imports neither TensorFlow
# nor matplotlib).
_recording.FACES.update(
    summary="tfhist_magic.view.text:summary",
    show="tfhist_magic.view:show",
    figure="tfhist_magic.view.figure:overview_figure",
    png="tfhist_magic.view.static:overview_png",
    to_tensorboard="tfhist_magic.tensorboard:to_tensorboard",
    from_tensorboard="tfhist_magic.tensorboard:from_tensorboard",
)


def _quiet_tensorflow_import() -> None:
    """Import TensorFlow with its import-time C++ messages silenced, when the user asked
    for that with ``TF_CPP_MIN_LOG_LEVEL`` (1 or more) and TensorFlow 2.19+ ignores it:
    its oneDNN and CUDA-probe lines are logged before its log level is read
    (tensorflow/tensorflow#100442), and a kernel shows them as red stderr in the cell.
    Errors still surface: an import failure is a Python exception, not a log line."""
    import os
    import sys

    try:
        level = int(os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0"))
    except ValueError:
        level = 0
    if level < 1 or "tensorflow" in sys.modules:
        return
    if os.environ.get("KERAS_BACKEND", "tensorflow").lower() not in ("tensorflow", ""):
        return  # Keras on JAX: TensorFlow is imported only if a TensorFlow object is watched
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real fd 2
        return
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            try:
                import tensorflow  # noqa: F401
            except ImportError:
                pass  # reported where TensorFlow is first used
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def load_ipython_extension(ip) -> None:
    """Register the magics (``%load_ext tfhist_magic``). TensorFlow is imported here only
    when ``TF_CPP_MIN_LOG_LEVEL`` asks for quiet (see ``_quiet_tensorflow_import``)."""
    from .magics import TfHistMagics

    _quiet_tensorflow_import()
    _jax_traces.early(import_jax=True)

    unload_ipython_extension(ip)  # a second %load_ext leaves one of each
    ip.register_magics(TfHistMagics)


def unload_ipython_extension(ip) -> None:
    """Remove the magics and their configurable (``%unload_ext tfhist_magic``)."""
    mm = ip.magics_manager
    inst = mm.registry.pop("TfHistMagics", None)
    if inst is None:
        return
    for kind, names in (("line", ("tfhist",)), ("cell", ("tfhist_watch",))):
        for n in names:
            mm.magics[kind].pop(n, None)
    if inst in getattr(ip, "configurables", []):
        ip.configurables.remove(inst)
