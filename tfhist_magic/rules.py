"""The rules behind the findings, one unit each: the kind a rule judges, its threshold,
when it holds, and what its finding says (for one tensor, and for several).

The thresholds are :mod:`tfhist_magic.health`'s settings (``health.DEAD_UNITS_SHARE``
...), read each time a rule uses them, so setting one before a watch takes effect. The
measurements a rule judges (windowed medians, the global gradient norm, std across
depth) are computed by :class:`tfhist_magic.health.Tracker` as blocks arrive; the
``non-finite`` finding is the tracker's own (its every-step check and computation order).
NumPy only.
"""

from __future__ import annotations

import numpy as np

__all__ = ["RULES", "Rule"]


def _setting(name: str, cast=float):
    """The threshold ``name``, as :mod:`tfhist_magic.health` holds it now."""
    from . import health  # its settings: imported (and set) before any rule is used

    return cast(getattr(health, name))


def _g(x) -> str:
    return f"{x:.3g}"


class Rule:
    """One rule as one unit: the kind it judges, its threshold (the module setting named
    :attr:`setting`, read when used, so setting it before a watch takes effect), when it
    holds (:meth:`holds`) and what its finding says (:meth:`one`, :meth:`many`). Its runs
    are kept under :attr:`key` (``rule`` or ``rule:variant``)."""

    rule = variant = kind = setting = ""
    pick = staticmethod(max)  # the value a finding of several tensors reports

    @property
    def key(self) -> str:
        return f"{self.rule}:{self.variant}" if self.variant else self.rule

    def threshold(self, run=None) -> float:
        return _setting(self.setting)

    def holds(self, value) -> bool:
        return value >= self.threshold()

    def current(self, tracker, name) -> bool:
        """Whether a run that began still counts when the findings are read."""
        return True

    def one(self, name, v, thr, span, run) -> str:
        raise NotImplementedError

    def many(self, n, v, thr, span, first) -> str:
        raise NotImplementedError


_WINDOW = "median of the last {} sampled steps"


class _RatioHigh(Rule):
    rule, variant, kind, setting = "update-ratio", "high", "weights", "UPDATE_RATIO_HIGH"

    def holds(self, median) -> bool:
        return median > self.threshold()

    def one(self, name, v, thr, span, run):
        return f"weights {name}: update/weight ratio {_g(v)} {span} ({_WINDOW.format(_setting('RATIO_WINDOW', int))}), above {_g(thr)}: the learning rate may be too high."

    def many(self, n, v, thr, span, first):
        return f"weights, {n} weight matrices: update/weight ratio above {_g(thr)} {span} ({_WINDOW.format(_setting('RATIO_WINDOW', int))}; up to {_g(v)}; {first}): the learning rate may be too high."


class _RatioLow(Rule):
    """Too low: the weights never moved at a healthy rate. A ratio that falls as a run
    converges (or as a schedule decays the learning rate) is not flagged."""

    rule, variant, kind, setting = "update-ratio", "low", "weights", "UPDATE_RATIO_LOW"
    pick = staticmethod(min)

    def holds(self, peak) -> bool:
        return 0 < peak < self.threshold()

    def current(self, tracker, name) -> bool:  # it has moved at a healthy rate since (a warm-up)
        return tracker.ratio_peak.get(name, 0.0) < self.threshold()

    def one(self, name, v, thr, span, run):
        return f"weights {name}: update/weight ratio {_g(v)} {span} ({_WINDOW.format(_setting('RATIO_WINDOW', int))}), never above {_g(thr)}: the learning rate may be too low."

    def many(self, n, v, thr, span, first):
        return f"weights, {n} weight matrices: update/weight ratio never above {_g(thr)} {span} ({_WINDOW.format(_setting('RATIO_WINDOW', int))}; down to {_g(v)}; {first}): the learning rate may be too low."


class _Exploding(Rule):
    rule, kind, setting = "exploding-gradients", "grads", "EXPLODING_GROWTH"

    def threshold(self, run=None) -> float:
        """The growth; of a run, the norm it was compared with (growth x early median)."""
        if run is None:
            return _setting(self.setting)
        return _setting(self.setting) * (run.extra if isinstance(run.extra, float) else np.nan)

    def holds(self, total, base) -> bool:
        return total > self.threshold() * base

    def one(self, name, v, thr, span, run):
        base = run.extra if isinstance(run.extra, float) else np.nan
        return f"grads: global gradient norm {_g(v)} {span}, over {_g(_setting('EXPLODING_GROWTH'))}x its early median {_g(base)} (exploding gradients)."

    def many(self, n, v, thr, span, first):  # never: its one run is about no one tensor
        return f"grads: global gradient norm {_g(v)} {span}, over {_g(thr)} (exploding gradients)."


class _VanishingDepth(Rule):
    rule, variant, kind, setting = "vanishing-gradients", "depth", "grads", "VANISHING_DEPTH_RATIO"
    pick = staticmethod(min)

    def holds(self, ratio) -> bool:
        return ratio < self.threshold()

    def one(self, name, v, thr, span, run):
        return f"grads {name}: vanishing across depth {span}: its gradient relative to its weights is {_g(v)} of the last layer's ({run.extra}), below {_g(thr)}."

    def many(self, n, v, thr, span, first):
        return f"grads, {n} models: vanishing across depth {span}: the first weight matrix's gradient relative to its weights is down to {_g(v)} of the last layer's, below {_g(thr)} ({first})."


class _VanishingTiny(Rule):
    rule, variant, kind, setting = "vanishing-gradients", "tiny", "grads", "VANISHING_RATIO"
    pick = staticmethod(min)

    def small(self, relative, weights):
        """Gradients below the threshold of their weights' norm (a mask)."""
        return (weights > 0) & (relative < self.threshold())

    def holds(self, norm, small, had, judged):
        """Exactly 0: nothing reaches the weights; merely tiny: only if it always was
        (gradients fall as a run converges). A mask over the tensors."""
        return judged & np.isfinite(norm) & ((norm == 0) | (small & ~had))

    def one(self, name, v, thr, span, run):
        other = run.extra
        against = "" if other is None or not np.isfinite(other) else f" against weights {_g(other)}"
        return f"grads {name}: vanishing {span} (norm {_g(v)}{against})."

    def many(self, n, v, thr, span, first):
        return f"grads, {n} weight matrices: vanishing {span} (gradient norm 0 or below {_g(thr)} of the weights'; {first})."


class _Share(Rule):
    """A share of a hidden layer's units or outputs at or above the threshold. Rules on
    activations judge hidden layers only: not an output the capture named after the run
    began."""

    kind = "activations"

    def __init__(self, rule: str, setting: str, what: str, why: str):
        self.rule, self.setting, self.what, self.why = rule, setting, what, why

    def current(self, tracker, name) -> bool:
        return name not in tracker.rec.outputs

    def one(self, name, v, thr, span, run):
        return f"activations {name}: {100 * v:.0f}% of {self.what} {span} ({self.why})."

    def many(self, n, v, thr, span, first):
        return f"activations, {n} layers: {100 * thr:.0f}% or more of {self.what} {span} (up to {100 * v:.0f}%; {first}; {self.why})."


class _Drift(Rule):
    rule, kind, setting = "scale-drift", "activations", "DRIFT_FACTOR"

    def __init__(self, variant: str):
        self.variant = variant
        self.pick = min if variant == "shrinks" else max

    def holds(self, ratio, monotone) -> bool:
        f = self.threshold()
        return monotone and (ratio <= 1 / f or ratio >= f)

    def one(self, name, v, thr, span, run):
        return f"activations {name}: std {self.variant} {_g(1 / v if v < 1 else v)}x layer over layer from {name} to {run.extra} {span} (scale drift across depth)."

    def many(self, n, v, thr, span, first):
        return f"activations, {n} models: std {self.variant} up to {_g(1 / v if v < 1 else v)}x layer over layer from the first hidden layer to the last {span} ({first}; scale drift across depth)."


RATIO_HIGH, RATIO_LOW, EXPLODING = _RatioHigh(), _RatioLow(), _Exploding()
VANISHING_DEPTH, VANISHING_TINY = _VanishingDepth(), _VanishingTiny()
DEAD_UNITS = _Share("dead-units", "DEAD_UNITS_SHARE", "units output zero for every example of the batch", "dead units; dying ReLU?")
SATURATION = _Share("saturation", "SATURATION_SHARE", "outputs within 0.03 of the bounds", "saturated")
DRIFT = {"shrinks": _Drift("shrinks"), "grows": _Drift("grows")}
#: Every rule but ``non-finite`` (which the tracker's every-step check owns), by key.
RULES = {r.key: r for r in (RATIO_HIGH, RATIO_LOW, EXPLODING, VANISHING_DEPTH, VANISHING_TINY, DEAD_UNITS, SATURATION, *DRIFT.values())}
