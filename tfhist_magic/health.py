"""Findings read off a Recording: the questions people open histograms to answer.

Pure NumPy on the Recording, no TensorFlow. Each finding is one sentence naming the
tensor and the step; the views show them beside the histograms.

- non-finite values: the first step where a tensor held NaN or Inf;
- dead units: activations that are exactly zero for most values (a dying ReLU);
- saturation: bounded activations (tanh, sigmoid) with most of their mass in the two
  outermost bins, at the edges of their range;
- vanishing gradients: a gradient whose L2 norm is zero, or tiny next to its weights'.
"""

from __future__ import annotations

import numpy as np

__all__ = ["findings", "locate", "DEAD_FRACTION", "SATURATED_FRACTION", "VANISHING_RATIO"]

#: Share of exact zeros in an activation that counts as dead.
DEAD_FRACTION = 0.9
#: Share of the mass in the two outermost bins that counts as saturated.
SATURATED_FRACTION = 0.5
#: Gradient norm / weight norm below which a gradient counts as vanishing.
VANISHING_RATIO = 1e-7


def _latest(rec, kind):
    """``(name, series)`` for each Series of ``kind`` that has a snapshot."""
    if kind not in rec.kinds:
        return
    for name in rec.names(kind):
        s = rec.series(kind, name)
        if len(s):
            yield name, s


def _nonfinite(rec) -> list[str]:
    """The first step each tensor held NaN or Inf. With sampling, the step it showed up
    in a snapshot is not when it began: the in-graph check of every step's gradients
    (``rec.first_nonfinite``) says when, else the finding gives the interval."""
    out = []
    first = rec.first_nonfinite
    seen_any = False
    for kind in rec.kinds:
        for name, s in _latest(rec, kind):
            bad = (s.nan + s.posinf + s.neginf) > 0
            if not bad.any():
                continue
            seen_any = True
            i = int(np.argmax(bad))
            step = int(s.steps[i])
            prev = int(s.steps[i - 1]) if i > 0 else None
            what = ", ".join(f"{int(getattr(s, k)[i])} {label}" for k, label in (("nan", "NaN"), ("posinf", "+Inf"), ("neginf", "-Inf")) if getattr(s, k)[i])
            if first is not None and first <= step and (prev is None or first > prev):
                when = f"from step {first} (the first step whose gradients held NaN/Inf; {what} at step {step})"
            elif prev is not None and step - prev > 1:
                when = f"first seen at step {step} ({what}); they began between step {prev} and {step}"
            else:
                when = f"from step {step} ({what})"
            out.append((kind, name, step, f"{kind} {name}: non-finite values {when}."))
    if first is not None and not seen_any:
        out.append(("grads", None, first, f"grads: NaN/Inf at step {first} (checked at every step; no sampled snapshot held them)."))
    return out


def _dead(rec) -> list[str]:
    out = []
    for name, s in _latest(rec, "activations"):
        if s.size[-1] == 0:
            continue
        frac = s.zeros[-1] / s.size[-1]
        if frac >= DEAD_FRACTION and not s.min[-1] < 0:
            out.append(("activations", name, int(s.steps[-1]), f"activations {name}: {100 * frac:.0f}% of outputs are exactly zero at step {int(s.steps[-1])} (dying ReLU?)."))
    return out


def _saturated(rec) -> list[str]:
    out = []
    for name, s in _latest(rec, "activations"):
        if s.finite[-1] == 0:
            continue
        lo, hi = s.min[-1], s.max[-1]
        bounded = (lo >= -1.0 and hi <= 1.0 and (hi >= 0.99 or lo <= -0.99)) or (lo >= 0.0 and hi <= 1.0 and hi >= 0.99)
        counts = s.counts[-1]
        edge = (counts[0] + counts[-1]) / max(1, counts.sum())
        if bounded and edge >= SATURATED_FRACTION:
            out.append(("activations", name, int(s.steps[-1]), f"activations {name}: {100 * edge:.0f}% of outputs sit at the edges of [{lo:.3g}, {hi:.3g}] at step {int(s.steps[-1])} (saturated)."))
    return out


def _vanishing(rec) -> list[str]:
    out = []
    weights = set(rec.names("weights")) if "weights" in rec.kinds else set()
    for name, g in _latest(rec, "grads"):
        gn = g.norm[-1]
        wn = rec.series("weights", name).norm[-1] if name in weights else np.nan
        if gn == 0 or (np.isfinite(wn) and wn > 0 and gn / wn < VANISHING_RATIO):
            out.append(("grads", name, int(g.steps[-1]), f"grads {name}: vanishing at step {int(g.steps[-1])} (norm {gn:.3g}{'' if not np.isfinite(wn) else f' against weights {wn:.3g}'})."))
    return out


def locate(rec) -> list[dict]:
    """Every finding for ``rec`` with where it points: ``{"kind", "name", "step",
    "message"}`` (``name`` is None when no one tensor is to blame). The widget uses this
    to select the tensor and step a finding is about."""
    found = _nonfinite(rec) + _dead(rec) + _saturated(rec) + _vanishing(rec)
    return [{"kind": k, "name": n, "step": int(s), "message": m} for k, n, s, m in found]


def findings(rec) -> list[str]:
    """Every finding for ``rec`` as one sentence each, non-finite values first."""
    return [f["message"] for f in locate(rec)]
