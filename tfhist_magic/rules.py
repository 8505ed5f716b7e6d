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
    holds (:meth:`holds`) and what its finding says: :attr:`one` (about one tensor) and
    :attr:`many` (several), templates filled by :meth:`message`. Its runs are kept under
    :attr:`key` (``rule`` or ``rule:variant``)."""

    rule = variant = kind = setting = ""
    one = many = ""
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

    def fields(self, v, thr, run) -> dict:
        """What this rule's templates name beyond the common fields."""
        return {}

    def message(self, n: int, name, v: float, thr: float, span: str, first: str, run) -> str:
        """The finding's sentence: ``n`` tensors (the first ``name``, its ``run``), the
        reported value ``v``, the threshold ``thr``, the steps ``span``."""
        f = {"n": n, "name": name, "v": _g(v), "thr": _g(thr), "pct": f"{100 * v:.0f}", "thr_pct": f"{100 * thr:.0f}", "span": span, "first": first, "extra": run.extra, "variant": self.variant}
        f.update(self.fields(v, thr, run))
        return (self.many if n > 1 else self.one).format(**f)


class _Ratio(Rule):
    """The update/weight ratio of a weight matrix, the median of a window of sampled steps."""

    kind = "weights"
    rule = "update-ratio"

    def fields(self, v, thr, run):
        return {"window": f"median of the last {_setting('RATIO_WINDOW', int)} sampled steps"}


class _RatioHigh(_Ratio):
    variant, setting = "high", "UPDATE_RATIO_HIGH"
    one = "weights {name}: update/weight ratio {v} {span} ({window}), above {thr}: the learning rate may be too high."
    many = "weights, {n} weight matrices: update/weight ratio above {thr} {span} ({window}; up to {v}; {first}): the learning rate may be too high."

    def holds(self, median) -> bool:
        return median > self.threshold()


class _RatioLow(_Ratio):
    """Too low: the weights never moved at a healthy rate. A ratio that falls as a run
    converges (or as a schedule decays the learning rate) is not flagged."""

    variant, setting = "low", "UPDATE_RATIO_LOW"
    one = "weights {name}: update/weight ratio {v} {span} ({window}), never above {thr}: the learning rate may be too low."
    many = "weights, {n} weight matrices: update/weight ratio never above {thr} {span} ({window}; down to {v}; {first}): the learning rate may be too low."
    pick = staticmethod(min)

    def holds(self, peak) -> bool:
        return 0 < peak < self.threshold()

    def current(self, tracker, name) -> bool:  # it has moved at a healthy rate since (a warm-up)
        return tracker.ratio_peak.get(name, 0.0) < self.threshold()


class _Exploding(Rule):
    rule, kind, setting = "exploding-gradients", "grads", "EXPLODING_GROWTH"
    # one run, about no one tensor
    one = many = "grads: global gradient norm {v} {span}, over {growth}x its early median {base} (exploding gradients)."

    def threshold(self, run=None) -> float:
        """The growth; of a run, the norm it was compared with (growth x early median)."""
        if run is None:
            return _setting(self.setting)
        return _setting(self.setting) * (run.extra if isinstance(run.extra, float) else np.nan)

    def holds(self, total, base) -> bool:
        return total > self.threshold() * base

    def fields(self, v, thr, run):
        return {"growth": _g(self.threshold()), "base": _g(run.extra if isinstance(run.extra, float) else np.nan)}


class _VanishingDepth(Rule):
    rule, variant, kind, setting = "vanishing-gradients", "depth", "grads", "VANISHING_DEPTH_RATIO"
    one = "grads {name}: vanishing across depth {span}: its gradient relative to its weights is {v} of the last layer's ({extra}), below {thr}."
    many = "grads, {n} models: vanishing across depth {span}: the first weight matrix's gradient relative to its weights is down to {v} of the last layer's, below {thr} ({first})."
    pick = staticmethod(min)

    def holds(self, ratio) -> bool:
        return ratio < self.threshold()


class _VanishingTiny(Rule):
    rule, variant, kind, setting = "vanishing-gradients", "tiny", "grads", "VANISHING_RATIO"
    one = "grads {name}: vanishing {span} (norm {v}{against})."
    many = "grads, {n} weight matrices: vanishing {span} (gradient norm 0 or below {thr} of the weights'; {first})."
    pick = staticmethod(min)

    def small(self, relative, weights):
        """Gradients below the threshold of their weights' norm (a mask)."""
        return (weights > 0) & (relative < self.threshold())

    def holds(self, norm, small, had, judged):
        """Exactly 0: nothing reaches the weights; merely tiny: only if it always was
        (gradients fall as a run converges). A mask over the tensors."""
        return judged & np.isfinite(norm) & ((norm == 0) | (small & ~had))

    def fields(self, v, thr, run):
        other = run.extra
        return {"against": "" if other is None or not np.isfinite(other) else f" against weights {_g(other)}"}


class _Share(Rule):
    """A share of a hidden layer's units or outputs at or above the threshold. Rules on
    activations judge hidden layers only: not an output the capture named after the run
    began."""

    kind = "activations"
    one = "activations {name}: {pct}% of {what} {span} ({why})."
    many = "activations, {n} layers: {thr_pct}% or more of {what} {span} (up to {pct}%; {first}; {why})."

    def __init__(self, rule: str, setting: str, what: str, why: str):
        self.rule, self.setting, self.what, self.why = rule, setting, what, why

    def current(self, tracker, name) -> bool:
        return name not in tracker.rec.outputs

    def fields(self, v, thr, run):
        return {"what": self.what, "why": self.why}


class _Drift(Rule):
    rule, kind, setting = "scale-drift", "activations", "DRIFT_FACTOR"
    one = "activations {name}: std {variant} {factor}x layer over layer from {name} to {extra} {span} (scale drift across depth)."
    many = "activations, {n} models: std {variant} up to {factor}x layer over layer from the first hidden layer to the last {span} ({first}; scale drift across depth)."

    def __init__(self, variant: str):
        self.variant = variant
        self.pick = min if variant == "shrinks" else max

    def holds(self, ratio, monotone) -> bool:
        f = self.threshold()
        return monotone and (ratio <= 1 / f or ratio >= f)

    def fields(self, v, thr, run):
        return {"factor": _g(1 / v if v < 1 else v)}


RATIO_HIGH, RATIO_LOW, EXPLODING = _RatioHigh(), _RatioLow(), _Exploding()
VANISHING_DEPTH, VANISHING_TINY = _VanishingDepth(), _VanishingTiny()
DEAD_UNITS = _Share("dead-units", "DEAD_UNITS_SHARE", "units output zero for every example of the batch", "dead units; dying ReLU?")
SATURATION = _Share("saturation", "SATURATION_SHARE", "outputs within 0.03 of the bounds", "saturated")
DRIFT = {"shrinks": _Drift("shrinks"), "grows": _Drift("grows")}
#: Every rule but ``non-finite`` (which the tracker's every-step check owns), by key.
RULES = {r.key: r for r in (RATIO_HIGH, RATIO_LOW, EXPLODING, VANISHING_DEPTH, VANISHING_TINY, DEAD_UNITS, SATURATION, *DRIFT.values())}
