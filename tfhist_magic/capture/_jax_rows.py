"""What a JAX watch computes of a set of tensors, in one compiled computation kept for
the process.

Owns the rows computed now (:func:`rows_now`: the final weights at a watch's exit,
``%tfhist model``) and the recording of one update (:func:`recording`: rows, probes and
update scalars of the tensors a step handed out). Each watch traces in a JAX context of
its own (:mod:`._jax_traces`), where a ``jax.jit`` cache would miss; what is compiled
here ahead of time is kept by structure (shapes, dtypes, bins and what the computation
bakes in), so the next watch of the same model compiles none of it again.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ..recording import Recording
from . import _base
from . import _jnp as J
from ._lru import Lru

__all__ = ["HOST_ROWS_MAX", "computed", "record_now", "recording", "rows_now"]

#: Rows computed now (the final weights at the watch's exit, ``%tfhist model``) of at most this many values in all come from NumPy
#: (:func:`~tfhist_magic.histogram.reference_row`, the contract's oracle): about 85 ns a
#: value on a CPU core, where compiling the device computation costs ~0.9 s of CPU
#: whatever the shapes (then ~5 ns a value; one-off measurements, docs/performance.md).
#: The two cross near 10M values.
HOST_ROWS_MAX = 8 * 2**20
#: The computations compiled ahead of time, by structure (the rows of larger sets, the
#: recordings of the updates): a few per model in a process.
_COMPILED = Lru(16)


def rows_now(values, bins: int) -> tuple[np.ndarray, list[str]]:
    """``([T, bins + 10], dtypes)`` of ``values`` computed now (:func:`._base.rows_now`):
    with NumPy up to :data:`HOST_ROWS_MAX` values, else in one compiled device computation."""
    dtypes = [J.compute_dtype(v.dtype).name for v in values]
    return _base.rows_now(values, bins, host_max=HOST_ROWS_MAX, on_cpu=lambda v: _platform(v) == "cpu", on_device=_device_rows), dtypes


def _device_rows(values, bins: int) -> np.ndarray:
    with J.x64():
        arrays = _staged(values)
        key = ("rows", bins, _structure(arrays))
        run = _COMPILED.get(key, lambda: jax.jit(J.rows, static_argnums=1).lower(arrays, bins).compile())
        return np.asarray(run(arrays))


def _staged(values) -> list:
    """``values`` as device arrays (a ``jax.Array`` as it is): ``device_put``, not
    ``jnp.asarray``, which stages a NumPy array through one small computation a shape,
    compiled again in each watch's JAX context."""
    return jax.device_put(list(values))


def _structure(arrays) -> tuple:
    """What a computation compiled for ``arrays`` bakes in: their shapes, dtypes and
    shardings (an executable refuses arrays laid out otherwise), and the thresholds of
    :mod:`._jnp` its trace reads."""
    return (J.BLOCK, J._chunk_rows()) + tuple((a.shape, a.dtype.name, a.sharding) for a in arrays)


def _platform(value) -> str:
    """Where ``value`` would be computed: its devices' platform (a ``jax.Array``), else
    the default backend's (a NumPy array goes there)."""
    devices = getattr(value, "devices", None)
    platforms = {d.platform for d in devices()} if callable(devices) else {jax.default_backend()}
    return platforms.pop() if len(platforms) == 1 else "mixed"


def record_now(rec: Recording, kind: str, names: list, values: list, step: int) -> None:
    """The rows of ``values`` computed now, delivered to ``rec`` at ``step``."""
    _base.record_now(rec, kind, names, values, step, rows_now)


def computed(flat: list, afters: list, layout: tuple, kinds_of: tuple, ratio: tuple, bins: int):
    """``(rows [T, bins + 10], cols [T, UPDATE_COLUMNS])`` of one update's tensors
    ``flat`` (each kind's in ``layout``'s order, ``(kind, count)``): the rows of all, the
    probes of the activations (``kinds_of``), the update scalars of the weights as the step
    read them against ``afters`` (``ratio``: which get a ratio; none without ``afters``);
    NaN where a column does not apply. Traceable: inside a step, or compiled on its own
    (:func:`recording`). Under :func:`._jnp.x64`."""
    rows, cols, at = J.rows(flat, bins), [], 0
    for kind, n in layout:
        part = flat[at : at + n]
        at += n
        if kind == "activations":
            p = J.probes(part, list(kinds_of))
            cols.append(jnp.concatenate([p, jnp.full((p.shape[0], J.UPDATE_COLUMNS - J.PROBE_COLUMNS), np.nan)], 1))
        elif kind == "weights" and afters:
            cols.append(J.update_scalars(list(afters), part, list(ratio)))
        else:
            cols.append(jnp.full((n, J.UPDATE_COLUMNS), np.nan))
    return rows, jnp.concatenate(cols, 0)


def recording(flat: list, afters: list, layout: tuple, kinds_of: tuple, ratio: tuple, bins: int) -> tuple:
    """:func:`computed` now, compiled once per structure in the process: ``(rows, cols)``
    as device arrays (dispatched, not waited for)."""
    with J.x64():
        flat, afters = _staged(flat), _staged(afters)
        key = ("recording", layout, kinds_of, ratio, bins, _structure(flat + afters))

        def make():
            return jax.jit(lambda f, a: computed(f, a, layout, kinds_of, ratio, bins)).lower(flat, afters).compile()

        return _COMPILED.get(key, make)(flat, afters)
