"""The histogram rows in ``jax.numpy``: the JAX backend's counterpart of ``_ops``.

One row per tensor of ``bins + 10`` float64 numbers, laid out and binned exactly as
:mod:`tfhist_magic.histogram` describes (the NumPy oracle): the same range, the same
width rounded to ``p - 11`` bits, the same edges, each value placed by an arithmetic
estimate half a bin low and one exact comparison with the next edge. All the tensors
of one compute dtype go through one fused computation that walks them in chunks of rows
of :data:`BLOCK` values (:class:`_Blocks`: the small tensors laid out together, each
padded to whole rows; a large one read where it lies, never copied): per-tensor
reductions are row reductions and a segment reduction over the rows, a tensor's numbers
reach its values as a per-row broadcast, and the counts are one int32 scatter-add over
``tensor * (bins + 3) + slot``. The graph does not grow with the number of tensors
beyond the small ones' concatenation and one branch per large one, so XLA compiles it
quickly for any model. On a CPU, XLA's scatters and gathers over every value
cost ten times a fused pass, and every temporary the size of the values costs its pages:
the next edge is computed where it is needed rather than gathered from a table, counts
and sums stay in 32 bits where they are exact, and the moments are one pass about a pivot.

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
#: Update scalars of a weight: the update ratio, ``||after - before||``, ``||before - origin||``
#: (the last measured on the host: :meth:`JaxEngine._from_start`).
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
    """As :func:`tfhist_magic.histogram.compute_dtype`."""
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


#: Values per row of the block layout (:class:`_Blocks`).
BLOCK = 1024
#: Rows per pass of the row loop on a CPU: every temporary is at most this many rows of
#: values (64 Ki values: in the caches, and below glibc's mmap threshold).
CHUNK_ROWS = 64
#: Rows per pass on an accelerator, where each pass is a round of kernel launches: 4 Mi
#: values (16 MiB of float32 a temporary). Not yet measured on a GPU.
CHUNK_ROWS_ACCELERATOR = 4096


def _chunk_rows() -> int:
    return CHUNK_ROWS if jax.default_backend() == "cpu" else CHUNK_ROWS_ACCELERATOR


class _Blocks:
    """How a loop walks flat vectors a chunk of ``C`` rows of :data:`BLOCK` values at a
    time (``C``: :func:`_chunk_rows`), with no copy of a large vector.

    * A vector of fewer than ``C * BLOCK`` values (a *small* one) is laid out with the
      other small ones, each padded to whole rows, the rows padded to whole chunks: one
      concatenation, of small vectors only.
    * A *large* vector is read where it lies, a chunk at a time (a dynamic slice of it,
      picked by a ``lax.switch`` on the chunk's vector): chunk ``j`` of a vector of ``n``
      values starts at ``min(j * C * BLOCK, n - C * BLOCK)``, so every value read is
      one of its own, and the values a last chunk reads again are masked out. What the
      loop holds is then a few chunks, whatever the model (a 50M-weight model's weights
      and gradients are not copied into a layout on a sampled step).

    Every chunk has ``C`` rows, each of one vector's values: a per-vector reduction is a
    row reduction (vectorised) and a segment reduction over the rows (:meth:`per_tensor`);
    a vector's numbers reach its values as a per-row broadcast (:meth:`spread`). On a
    CPU, XLA's scatters and gathers over every value cost ten times a fused pass, and a
    temporary of tens of MiB is a fresh mapping whose pages fault on every step. The
    layout is static (the vectors' sizes)."""

    def __init__(self, sizes: list):
        C = _chunk_rows()
        CB = C * BLOCK
        self.T, self.sizes = len(sizes), sizes
        self.small = [t for t, n in enumerate(sizes) if n < CB]
        self.large = [t for t, n in enumerate(sizes) if n >= CB]
        per = {t: max(1, -(-sizes[t] // BLOCK)) for t in self.small}
        R = sum(per.values())
        self.C = C if self.large else min(C, max(R, 1))
        self.small_chunks = -(-R // self.C) if self.small else 0
        rs = self.small_chunks * self.C
        seg = [np.repeat(np.asarray(self.small, np.int32), [per[t] for t in self.small])]
        lo = [np.zeros(rs, np.int32)]
        hi = [np.minimum(np.maximum(sizes[t] - BLOCK * np.arange(per[t]), 0), BLOCK) for t in self.small]
        pad = rs - R  # whole rows of padding, counted in the last small vector with no value
        seg.append(np.full(pad, self.small[-1] if self.small else 0, np.int32))
        hi.append(np.zeros(pad, np.int64))
        # the large vectors' chunks: (branch, start); their rows, and the values read again
        self.chunk_branch, self.chunk_start = [], []
        for k, t in enumerate(self.large):
            for j in range(-(-sizes[t] // CB)):
                start = min(j * CB, sizes[t] - CB)
                self.chunk_branch.append(k)
                self.chunk_start.append(start)
                seg.append(np.full(self.C, t, np.int32))
                lo.append(np.clip(j * CB - start - BLOCK * np.arange(self.C), 0, BLOCK).astype(np.int32))
                hi.append(np.full(self.C, BLOCK))
        self.R = rs + len(self.chunk_start) * self.C
        self.row_seg = np.concatenate(seg).astype(np.int32)
        self.row_lo = np.concatenate(lo).astype(np.int32)
        self.row_hi = np.concatenate([np.asarray(h) for h in hi]).astype(np.int32)

    def source(self, flat: list):
        """What :meth:`loop` reads ``flat`` (the vectors, in order) from: the small ones
        laid out (``[rows, BLOCK]``, one concatenation), the large ones as they are."""
        dt = jnp.result_type(*[f.dtype for f in flat]) if flat else F32
        parts = []
        for t in self.small:
            f, k = flat[t], self.sizes[t]
            parts.append(f.astype(dt))
            if -(-k // BLOCK) * BLOCK > k or not k:
                parts.append(jnp.zeros((max(1, -(-k // BLOCK)) * BLOCK - k,), dt))
        rest = self.small_chunks * self.C * BLOCK - sum(int(p.shape[0]) for p in parts)
        if rest:
            parts.append(jnp.zeros((rest,), dt))
        laid = (jnp.concatenate(parts) if len(parts) > 1 else parts[0]).reshape(-1, BLOCK) if parts else None
        return laid, [flat[t] for t in self.large], dt

    def _chunk(self, src, i):
        """Chunk ``i`` (``[C, BLOCK]``) of a :meth:`source`."""
        laid, large, dt = src
        C, CB, n_small = self.C, self.C * BLOCK, self.small_chunks

        def small():
            return jax.lax.dynamic_slice_in_dim(laid, i * C, C, 0)

        def big():
            k = i - n_small
            start = jnp.asarray(np.asarray(self.chunk_start, np.int64))[k]
            branches = [lambda f=f: jax.lax.dynamic_slice_in_dim(f, start, CB, 0).astype(dt).reshape(C, BLOCK) for f in large]
            return branches[0]() if len(branches) == 1 else jax.lax.switch(jnp.asarray(np.asarray(self.chunk_branch, np.int32))[k], branches)

        if not large:
            return small()
        if laid is None:
            return big()
        return jax.lax.cond(i < n_small, small, big)

    def spread(self, table):
        """``[R, 1]``: each row's vector's entry of ``table`` (``[T]``)."""
        return table[jnp.asarray(self.row_seg)][:, None]

    def loop(self, fn, sources, rows, columns: int, dtype, slots: int = 0):
        """Run ``fn(valid, *chunks)`` over the chunks: ``chunks`` are chunk ``i`` of each of
        ``sources`` (:meth:`source`), then ``[C, ...]`` slices of the per-row arrays
        ``rows`` (``[R, ...]``); ``valid`` marks the values to count (not the padding, not
        a value read again). ``fn`` returns ``columns`` per-row values (``[C]`` each,
        ``dtype``) and, when ``slots``, each value's slot in ``[0, slots]`` (``slots``: not
        counted). Returns ``([R, columns] per-row values, [slots] counts)``."""
        C = self.C
        lo, hi = jnp.asarray(self.row_lo), jnp.asarray(self.row_hi)

        def body(i, carry):
            out, counts = carry
            at = i * C
            chunks = [self._chunk(s, i) for s in sources] + [jax.lax.dynamic_slice_in_dim(a, at, C, 0) for a in rows]
            col = jax.lax.broadcasted_iota(jnp.int32, (C, BLOCK), 1)
            valid = (col >= jax.lax.dynamic_slice_in_dim(lo, at, C, 0)[:, None]) & (col < jax.lax.dynamic_slice_in_dim(hi, at, C, 0)[:, None])
            cols, keys = fn(valid, *chunks)
            out = jax.lax.dynamic_update_slice_in_dim(out, jnp.stack(cols, 1).astype(dtype), at, 0)
            if slots:
                counts = counts.at[keys.reshape(-1)].add(jnp.int32(1))
            return out, counts

        init = (jnp.zeros((self.R, columns), dtype), jnp.zeros((slots + 1,), jnp.int32))
        out, counts = jax.lax.fori_loop(0, self.R // C, body, init)
        return out, counts[:slots]

    def per_tensor(self, rows, op=jax.ops.segment_sum):
        """``[T, ...]`` from per-row values ``[R, ...]`` (``op``: a segment reduction)."""
        return op(rows, jnp.asarray(self.row_seg), self.T, indices_are_sorted=not self.large)


def _fused(flat: list, bins: int):
    """Rows ``[T, bins + 10]`` of flat vectors of one compute dtype, in one computation
    over the block layout (:class:`_Blocks`): one loop for the finite range, one for the
    bins, NaN, +Inf and -Inf (int32 counts, exact below 2**31 values a tensor), the
    moments and the zeros."""
    cd = np.dtype(flat[0].dtype)
    lay = _Blocks([int(f.shape[0]) for f in flat])
    T, S = lay.T, bins + 3
    c = H.CONSTS[cd]
    f = lambda v: v.astype(F64)  # noqa: E731
    zero, inf = _c(0.0, cd), _c(np.inf, cd)
    x = lay.source(flat)

    def ends(valid, xc):
        fin = jnp.isfinite(xc) & valid
        return [jnp.max(jnp.where(fin, -xc, -inf), 1), jnp.max(jnp.where(fin, xc, -inf), 1)], None

    got, _ = lay.loop(ends, [x], [], 2, cd)
    got = lay.per_tensor(got, jax.ops.segment_max)
    mn, mx = -got[:, 0], got[:, 1]  # +inf, -inf for no finite value
    lo, hi = binning_range(mn, mx, cd)
    w = bin_width(lo, hi, bins, cd)
    a, s_, c_ = _estimate_scale(lo, w, cd)
    large = jnp.maximum(jnp.abs(lo), jnp.abs(hi)) > _c(c.sum_limit, cd)
    inv = jnp.where(large, _c(c.sum_scale, cd), _c(1.0, cd))
    r = _dev_scale(w, inv, bins, cd)
    inv64 = inv.astype(F64)
    pivot = lo.astype(F64) * inv64 + w.astype(F64) * inv64 * (bins / 2)
    # The tensors' numbers computed once (the barrier: XLA would otherwise compute them
    # again inside the gather that spreads them), then one value per row.
    per_row = [lay.spread(v) for v in jax.lax.optimization_barrier((lo, w, a, s_, c_, inv, r, pivot))]
    seg = jnp.asarray(lay.row_seg)[:, None]

    def binned(valid, xc, lo_e, w_e, a_e, s_e, c_e, inv_e, r_e, pivot_e, seg_e):
        fin = jnp.isfinite(xc) & valid
        xb = jnp.where(fin, xc, lo_e)
        j = jnp.minimum(((xb * a_e) * s_e - c_e).astype(jnp.int32), bins - 1)
        j = j + (xb >= _next_edge(lo_e, w_e, j + 1, bins, cd)).astype(jnp.int32)
        slot = jnp.where(fin, j, jnp.where(jnp.isnan(xc), bins, jnp.where(xc > zero, bins + 1, bins + 2)))
        keys = jnp.where(valid, seg_e * S + slot, T * S)
        # Moments in float64 about a pivot in the middle of the bins (the values scaled
        # by a power of two when large, the deviations by ``r``): one pass, and by
        # Samuelson's inequality no cancellation beyond a few ulps of float64 below
        # 10**10 values.
        d = jnp.where(fin, ((xc * inv_e).astype(F64) - pivot_e) * r_e.astype(F64), 0.0)
        return [jnp.sum(d, 1), jnp.sum(d * d, 1), jnp.sum(((xc == zero) & valid).astype(F64), 1)], keys

    sums, got = lay.loop(binned, [x], [*per_row, seg], 3, F64, slots=T * S)
    sums = lay.per_tensor(sums)
    s1, s2, zeros = sums[:, 0], sums[:, 1], sums[:, 2]
    got = got.reshape(T, S)
    counts, nan, posinf, neginf = got[:, :bins], got[:, bins], got[:, bins + 1], got[:, bins + 2]
    n_fin = jnp.sum(counts, 1)
    k = jnp.where(large, 1.0 / c.sum_scale, 1.0).astype(F64)
    r64 = r.astype(F64)
    denom = jnp.maximum(n_fin, 1).astype(F64)
    m64 = jnp.where(n_fin > 0, pivot + s1 / denom / r64, 0.0)
    var_r = jnp.maximum(s2 - s1 * s1 / denom, 0.0) / denom
    sd = jnp.sqrt(var_r) / r64
    norm = jnp.sqrt(n_fin.astype(F64)) * jnp.sqrt(sd * sd + m64 * m64)
    extra = jnp.stack([f(nan), f(posinf), f(neginf), zeros, f(mn), f(mx), m64 * k, sd * k, norm * k, f(w)], 1)
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


def update_scalars(afters, befores, ratio):
    """``[T, 3]`` float64 per weight: ``std(after - before) / std(before)`` where
    ``ratio[t]`` (NaN elsewhere, or when ``std(before)`` is 0), ``||after - before||``, and
    NaN for ``||before - origin||`` (measured on the host, where w0 is kept): segment sums
    in float64 over all the weights at once, each read where it lies (:class:`_Blocks`).
    Inside :func:`x64`."""
    T = len(afters)
    if not T:
        return jnp.zeros((0, UPDATE_COLUMNS), F64)
    sizes = [int(np.prod(jnp.shape(v))) for v in afters]
    lay = _Blocks(sizes)
    a, b = (lay.source([prepare(v) for v in vs]) for vs in (afters, befores))
    n = jnp.maximum(jnp.asarray(sizes, F64), 1.0)

    def first(valid, ac, bc):
        ac, bc = (jnp.where(valid, v.astype(F64), 0.0) for v in (ac, bc))
        du = ac - bc
        return [jnp.sum(bc, 1), jnp.sum(du, 1), jnp.sum(du * du, 1)], None

    sums = lay.per_tensor(lay.loop(first, [a, b], [], 3, F64)[0])
    means = [lay.spread(v) for v in jax.lax.optimization_barrier((sums[:, 0] / n, sums[:, 1] / n))]

    def second(valid, ac, bc, mb, mu):
        ac, bc = ac.astype(F64), bc.astype(F64)
        db, du = jnp.where(valid, bc - mb, 0.0), jnp.where(valid, ac - bc - mu, 0.0)
        return [jnp.sum(db * db, 1), jnp.sum(du * du, 1)], None

    devs = lay.per_tensor(lay.loop(second, [a, b], means, 2, F64)[0])
    sb, su = jnp.sqrt(devs[:, 0] / n), jnp.sqrt(devs[:, 1] / n)
    want = jnp.asarray(np.asarray(ratio, bool))
    r = jnp.where(want & (sb > 0), su / jnp.where(sb > 0, sb, 1.0), np.nan)
    return jnp.stack([r, jnp.sqrt(sums[:, 2]), jnp.full((T,), np.nan, F64)], 1)


def all_finite(tensors):
    """True when every value of ``tensors`` is finite, from one sum of each (a finite
    gradient whose sum passes the float range counts as non-finite too)."""
    if not tensors:
        return jnp.asarray(True)
    sums = jnp.stack([jnp.sum(jnp.asarray(t).astype(F64 if jnp.asarray(t).dtype == F64 else F32)).astype(F64) for t in tensors])
    return jnp.all(jnp.isfinite(sums))
