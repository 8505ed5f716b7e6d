"""tfhist_magic: live histograms of TensorFlow activations, weights and gradients in Jupyter.

``%load_ext tfhist_magic`` registers ``%%tfhist_watch`` and ``%tfhist``. From plain
Python, ``tfhist_magic.watch(...)`` is the same engine. Importing this package does not
import TensorFlow; that happens when something is first watched.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["watch", "snapshot", "Recording", "Series", "load_ipython_extension", "unload_ipython_extension", "__version__"]

from .recording import Recording, Series  # noqa: E402  (NumPy only)
from .watcher import snapshot, watch  # noqa: E402  (TensorFlow is imported on first use)


def load_ipython_extension(ip) -> None:
    """Register the magics (``%load_ext tfhist_magic``); quick, no TensorFlow import."""
    from .magics import TfHistMagics

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
