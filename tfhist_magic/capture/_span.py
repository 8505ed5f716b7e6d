"""The range a histogram's bins span, written once for any array library.

Owns :func:`binning_range`: ``histogram.binning_range`` (the NumPy oracle the tests
compare against) operation for operation, over an array namespace that has ``where``,
``abs``, ``maximum``, ``minimum`` and ``equal`` (``tf`` and ``jax.numpy`` both do), so the
TensorFlow rule (``_rule``) and the JAX rows (``_jnp``) cannot drift apart. Imports
neither library.
"""

from __future__ import annotations

from .. import histogram as H

__all__ = ["binning_range"]


def binning_range(mn, mx, c, xp, const):
    """``(lo, hi)`` the bins of a tensor with finite extremes ``mn``, ``mx`` span;
    ``c``: the dtype's ``histogram.CONSTS``; ``const(v)``: ``v`` as a scalar of the dtype."""
    zero, tiny, big = const(0.0), const(c.tiny), const(c.max)
    has = mn <= mx
    lo = xp.where(has, mn, zero)
    hi = xp.where(has, mx, zero)
    band = (xp.abs(lo) < tiny) & (xp.abs(hi) < tiny)
    lo = xp.where(band, zero, lo)
    hi = xp.where(band, zero, hi)
    same = xp.equal(lo, hi)
    pad = xp.maximum(const(0.5), xp.abs(lo) * const(H.CONSTANT_PAD))
    lo = xp.where(same, xp.maximum(lo - pad, -big), lo)
    hi = xp.where(same, xp.minimum(hi + pad, big), hi)
    lo = xp.where(xp.abs(lo) < tiny, -tiny, lo)
    hi = xp.where(xp.abs(hi) < tiny, tiny, hi)
    return lo, hi
