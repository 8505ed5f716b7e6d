"""The histogram rows in ``jax.numpy``: the JAX backend's counterpart of ``_ops``.

One row per tensor of ``bins + 10`` float64 numbers, laid out and binned exactly as
:mod:`tfhist_magic.histogram` describes (the NumPy oracle): the same range, the same
width rounded to ``p - 11`` bits, the same edges, each value placed by an arithmetic
estimate half a bin low and one exact comparison with the next edge. All the tensors
of one compute dtype go through one fused computation (segment ids, per-segment
reductions, one segment sum over ``segment * (bins + 3) + slot``): the graph does not
grow with the number of tensors, so XLA compiles it quickly for any model. XLA's
scatters and gathers are what costs on a CPU: the next edge is computed where it is
needed rather than gathered from a table, and the moments are one pass about a pivot.

The rule needs float64 arithmetic (the width's bit mask, float64 tensors), which JAX
turns off by default: every function here must run inside :func:`x64` (a scope: the
user's program keeps its own setting). No host round trip, no TensorFlow.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from .. import histogram as H
from . import _span

__all__ = ["x64", "compute_dtype", "prepare", "rows", "probes", "probe_kind", "update_scalars", "all_finite", "PROBE_COLUMNS", "UPDATE_COLUMNS"]

#: Probe columns of an activation: the dead-unit share and the saturated share.
PROBE_COLUMNS = 2
#: Update scalars of a weight: the update ratio, ``||after - before||``, ``||before - origin||``.
UPDATE_COLUMNS = 3
#: Outputs within this distance of a tanh's or a sigmoid's bounds count as saturated.
SATURATION_MARGIN = 0.03
_BOUNDS = {"tanh": (-1.0, 1.0), "sigmoid": (0.0, 1.0)}
F64 = np.dtype(np.float64)
F32 = np.dtype(np.float32)


def x64():
    """A scope in which JAX computes in float64 where asked (the rule needs it)."""
    enable = getattr(jax, "enable_x64", None)
    if enable is None:  # jax < 0.4.36
        from jax.experimental import enable_x64 as enable

        return enable()
    return enable(True)


def compute_dtype(dtype) -> np.dtype:
    """float64 tensors are binned in float64; everything else in float32."""
    return H.compute_dtype(np.dtype(dtype) if not hasattr(dtype, "itemsize") else dtype)


def prepare(t):
    """``t`` flat, in its compute dtype (``|z|`` of a complex tensor)."""
    t = jnp.asarray(t)
    if jnp.iscomplexobj(t):
        t = jnp.abs(t)
    cd = F64 if t.dtype == F64 else F32
    return jnp.ravel(t).astype(cd)


def _c(v, dt):
    return jnp.asarray(v, dtype=dt)


def binning_range(mn, mx, cd):
    """``histogram.binning_range``, operation for operation (:mod:`._span`)."""
    return _span.binning_range(mn, mx, H.CONSTS[cd], jnp, lambda v: _c(v, cd))


def bin_width(lo, hi, bins: int, cd):
    """``histogram.bin_width`` (float64 work, one bit mask)."""
    c = H.CONSTS[cd]
    lo64, hi64 = lo.astype(F64), hi.astype(F64)
    m = jnp.maximum(jnp.abs(lo64), jnp.abs(hi64))
    b = _c(float(bins), F64)
    r = jnp.where(m > c.big, (hi64 * 0.5 - lo64 * 0.5) / b * 2.0, (hi64 - lo64) / b)
    w = jnp.maximum(jnp.maximum(r, m * c.ulp16), _c(4.0 * c.tiny, F64))
    bits = (jax.lax.bitcast_convert_type(w, jnp.int64) + np.int64(c.mask)) & np.int64(~c.mask)
    w = jnp.minimum(jax.lax.bitcast_convert_type(bits, jnp.float64), c.wmax)
    return w.astype(cd)


def _estimate_scale(lo, w, cd):
    """``(a, s, c)``: ``(x * a) * s - c`` estimates ``(x - lo) / w - 1/2`` within 5/32 of
    a bin, without overflow (a huge ``w`` is scaled down first)."""
    huge = w > _c(H.CONSTS[cd].huge, cd)
    a = jnp.where(huge, _c(2.0**-64, cd), _c(1.0, cd))
    s = (1.0 / (w.astype(F64) * a.astype(F64))).astype(cd)
    return a, s, (lo * a) * s + _c(0.5, cd)


_DEV_RANGE = {F32: (2.0**-40, 2.0**40), F64: (2.0**-400, 2.0**400)}


def _dev_scale(w, inv, bins: int, cd):
    """A power of two ``r`` that keeps the squared deviations in range (``_ops._dev_scale``)."""
    floor, ceil = _DEV_RANGE[cd]
    span = w.astype(F64) * inv.astype(F64) * float(bins)
    p2 = jax.lax.bitcast_convert_type(jax.lax.bitcast_convert_type(span, jnp.int64) & np.int64(0x7FF0000000000000), jnp.float64)
    return jnp.where((span < floor) | (span > ceil), 1.0 / p2, 1.0).astype(cd)


def _next_edge(lo, w, i, bins: int, cd):
    """``e[i]`` of the rule (``histogram.edges_from``) for each value, from its tensor's ``lo``
    and ``w`` and its index ``i`` (``+inf`` past the last bin): computed where it is
    needed, the same operations as the table, no gather."""
    c = H.CONSTS[cd]
    q = _c(0.25, cd)
    fi = i.astype(cd)
    e = jnp.where(w > _c(c.huge, cd), (lo * q + fi * (w * q)) * _c(4.0, cd), lo + fi * w)
    e = jnp.minimum(e, _c(c.max, cd))
    e = jnp.where(jnp.abs(e) < _c(c.tiny, cd), -_c(c.tiny, cd), e)
    return jnp.where(i >= bins, _c(np.inf, cd), e)


def _fused(flat: list, bins: int):
    """Rows ``[T, bins + 10]`` of flat vectors of one compute dtype, in one computation.

    Scatters over the values (the finite range; one count of bins, NaN, +Inf and -Inf;
    the moments' two sums and the zeros) and gathers of each value's tensor's numbers:
    on a CPU, XLA's scatters and gathers are what costs, so there are as few as can be,
    and nothing is recomputed inside them."""
    cd = np.dtype(flat[0].dtype)
    T, S = len(flat), bins + 3
    c = H.CONSTS[cd]
    zero, inf = _c(0.0, cd), _c(np.inf, cd)
    x = jnp.concatenate(flat) if T > 1 else flat[0]
    # segment ids as broadcasts, which XLA neither folds into a constant nor passes in
    seg = jnp.concatenate([jnp.full((f.shape[0],), t, jnp.int32) for t, f in enumerate(flat)]) if T > 1 else jnp.zeros(x.shape, jnp.int32)
    finite = jnp.isfinite(x)
    ends = jax.ops.segment_max(jnp.stack([jnp.where(finite, -x, -inf), jnp.where(finite, x, -inf)], 1), seg, T)
    mn, mx = -ends[:, 0], ends[:, 1]  # +inf, -inf for no finite value
    lo, hi = binning_range(mn, mx, cd)
    w = bin_width(lo, hi, bins, cd)
    a, s_, c_ = _estimate_scale(lo, w, cd)
    large = jnp.maximum(jnp.abs(lo), jnp.abs(hi)) > _c(c.sum_limit, cd)
    inv = jnp.where(large, _c(c.sum_scale, cd), _c(1.0, cd))
    r = _dev_scale(w, inv, bins, cd)
    # The tensors' numbers computed once, not again for each value: without the barrier
    # XLA fuses their computation into the gather that follows (ten times the cost).
    table = jax.lax.optimization_barrier(jnp.stack([lo, w, a, s_, c_, inv, r], 1))
    lo_e, w_e, a_e, s_e, c_e, inv_e, r_e = (table[:, i][seg] for i in range(7))

    xb = jnp.where(finite, x, lo_e)
    j = jnp.minimum(((xb * a_e) * s_e - c_e).astype(jnp.int32), bins - 1)
    j = j + (xb >= _next_edge(lo_e, w_e, j + 1, bins, cd)).astype(jnp.int32)
    slot = jnp.where(finite, j, jnp.where(jnp.isnan(x), bins, jnp.where(x > zero, bins + 1, bins + 2)))
    got = jnp.bincount(seg * S + slot, length=T * S).reshape(T, S)
    counts, nan, posinf, neginf = got[:, :bins], got[:, bins], got[:, bins + 1], got[:, bins + 2]
    n_fin = jnp.sum(counts, 1)

    # Moments in float64 about a pivot in the middle of the bins (the values scaled by a
    # power of two when large, the deviations by ``r``): one pass, and by Samuelson's
    # inequality no cancellation beyond a few ulps of float64 below 10**10 values.
    k = jnp.where(large, 1.0 / c.sum_scale, 1.0).astype(F64)
    inv64 = inv.astype(F64)
    pivot = jax.lax.optimization_barrier(lo.astype(F64) * inv64 + w.astype(F64) * inv64 * (bins / 2))
    r64 = r.astype(F64)
    d = jnp.where(finite, ((x * inv_e).astype(F64) - pivot[seg]) * r_e.astype(F64), 0.0)
    s1, s2 = jax.ops.segment_sum(d, seg, T), jax.ops.segment_sum(d * d, seg, T)
    zeros = jax.ops.segment_sum((x == zero).astype(jnp.int32), seg, T)
    denom = jnp.maximum(n_fin, 1).astype(F64)
    m64 = jnp.where(n_fin > 0, pivot + s1 / denom / r64, 0.0)
    var_r = jnp.maximum(s2 - s1 * s1 / denom, 0.0) / denom
    sd = jnp.sqrt(var_r) / r64
    norm = jnp.sqrt(n_fin.astype(F64)) * jnp.sqrt(sd * sd + m64 * m64)
    f = lambda v: v.astype(F64)  # noqa: E731
    extra = jnp.stack([f(nan), f(posinf), f(neginf), f(zeros), f(mn), f(mx), m64 * k, sd * k, norm * k, f(w)], 1)
    return jnp.concatenate([f(counts), extra], 1)


def rows(tensors, bins: int):
    """``[T, bins + 10]`` float64: the row of each tensor, in input order. Inside :func:`x64`."""
    flat = [prepare(t) for t in tensors]
    if not flat:
        return jnp.zeros((0, bins + H.EXTRA), F64)
    out, order = [], []
    for cd in (F32, F64):
        idx = [i for i, t in enumerate(flat) if t.dtype == cd]
        if idx:
            out.append(_fused([flat[i] for i in idx], int(bins)))
            order += idx
    got = out[0] if len(out) == 1 else jnp.concatenate(out)
    return got if order == sorted(order) else got[np.argsort(order)]


def probe_kind(shape, dtype, bounded: str | None) -> str | None:
    """"units" (dead units) for an output of rank >= 2, "tanh"/"sigmoid" when it is also
    that function's output; None when there is nothing to probe."""
    if len(shape) < 2 or not shape[-1]:
        return None
    return bounded if bounded in _BOUNDS and jnp.issubdtype(dtype, jnp.floating) else "units"


def probes(tensors, kinds):
    """``[T, 2]`` float64: each activation's dead-unit and saturated shares (NaN where
    ``kinds[t]`` is None, or without bounds). Inside :func:`x64`."""
    out = []
    nan = _c(np.nan, F64)
    for t, kind in zip(tensors, kinds):
        if kind is None:
            out.append(jnp.stack([nan, nan]))
            continue
        t = jnp.asarray(t)
        x = prepare(t).reshape(-1, t.shape[-1])
        dead = 1.0 - jnp.mean(jnp.any(x != 0, axis=0).astype(F64))
        if kind in _BOUNDS:
            lo, hi = _BOUNDS[kind]
            m = SATURATION_MARGIN
            share = jnp.mean(((x < lo + m) | (x > hi - m)).astype(F64))
        else:
            share = nan
        out.append(jnp.stack([dead, share]))
    return jnp.stack(out) if out else jnp.zeros((0, PROBE_COLUMNS), F64)


def update_scalars(afters, befores, origins, ratio):
    """``[T, 3]`` float64 per weight: ``std(after - before) / std(before)`` where
    ``ratio[t]`` (NaN elsewhere, or when ``std(before)`` is 0), ``||after - before||``
    and ``||before - origin||``: segment sums in float64 over all the weights at once.
    Inside :func:`x64`."""
    T = len(afters)
    if not T:
        return jnp.zeros((0, UPDATE_COLUMNS), F64)
    a = jnp.concatenate([prepare(v).astype(F64) for v in afters])
    b = jnp.concatenate([prepare(v).astype(F64) for v in befores])
    o = jnp.concatenate([prepare(v).astype(F64) for v in origins])
    sizes = [int(np.prod(jnp.shape(v))) for v in afters]
    seg = jnp.concatenate([jnp.full((k,), t, jnp.int32) for t, k in enumerate(sizes)])
    n = jnp.maximum(jnp.asarray(sizes, F64), 1.0)

    def std(v):
        mean = jax.lax.optimization_barrier(jax.ops.segment_sum(v, seg, T) / n)
        d = v - mean[seg]
        return jnp.sqrt(jax.ops.segment_sum(d * d, seg, T) / n)

    def norm(v):
        return jnp.sqrt(jax.ops.segment_sum(v * v, seg, T))

    du = a - b
    sb = std(b)
    want = jnp.asarray(np.asarray(ratio, bool))
    r = jnp.where(want & (sb > 0), std(du) / jnp.where(sb > 0, sb, 1.0), np.nan)
    return jnp.stack([r, norm(du), norm(b - o)], 1)


def all_finite(tensors):
    """True when every value of ``tensors`` is finite, from one sum of each (a finite
    gradient whose sum passes the float range counts as non-finite too)."""
    if not tensors:
        return jnp.asarray(True)
    sums = jnp.stack([jnp.sum(jnp.asarray(t).astype(F64 if jnp.asarray(t).dtype == F64 else F32)).astype(F64) for t in tensors])
    return jnp.all(jnp.isfinite(sums))
