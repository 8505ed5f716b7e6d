"""Findings: the questions people open histograms to answer, answered as rows arrive.

Pure NumPy, no TensorFlow. A :class:`Tracker` belongs to each Recording and is fed every
block of rows (and of probe scalars) as it is added, so findings are kept up to date
incrementally: no Series is copied to compute them, however often a live view asks.
``rec.findings()`` returns :class:`Finding` records; each names its evidence (the step
and the number) and the rule's threshold. The thresholds are module constants: set
them (``tfhist_magic.health.UPDATE_RATIO_HIGH = 3e-2``) before a watch to change them.

The rules, and where their rules of thumb come from (README, "Findings"):

- ``non-finite``: the first step and the first tensor *in model order* that held NaN or
  Inf (the order a step computes them: layer by layer forward, a layer's weights then its
  output, then the gradients backward): which layer went bad first. The every-step check of the gradients (``rec.first_nonfinite``) names the
  step exactly when snapshots are sampled.
- ``update-ratio``: std(Δw) / std(w) per weight matrix, Δw being what the optimizer
  actually applied at the step (measured in the graph); flagged when the median of the
  last :data:`RATIO_WINDOW` sampled steps leaves [:data:`UPDATE_RATIO_LOW`,
  :data:`UPDATE_RATIO_HIGH`] around ~1e-3 (CS231n, "Neural Networks 3": ratio of updates
  to values).
- ``exploding-gradients``: the global gradient norm (over every recorded gradient)
  grows past :data:`EXPLODING_GROWTH` times its median over the first
  :data:`BASELINE_STEPS` recorded steps (Pascanu, Mikolov & Bengio 2013).
- ``vanishing-gradients``: across depth, the first weight matrix's gradient (relative to
  its weights) below :data:`VANISHING_DEPTH_RATIO` times the last one's (Glorot & Bengio
  2010); or a gradient whose norm is 0 or below :data:`VANISHING_RATIO` of its weights'.
- ``dead-units``: at least :data:`DEAD_UNITS_SHARE` of a layer's units (last axis) output
  zero for every example of a sampled batch (counted per unit in the graph): dead, not
  merely sparse (CS231n: "as much as 40% of your network can be dead").
- ``saturation``: at least :data:`SATURATION_SHARE` of a tanh/sigmoid output within
  0.03 of its bounds (the |tanh| > 0.97 rule; Glorot & Bengio 2010).
- ``scale-drift``: activation std shrinking or growing layer over layer, by
  :data:`DRIFT_FACTOR` or more from the first to the last hidden layer of a model
  (at least :data:`DRIFT_LAYERS` of them; Glorot & Bengio 2010, He et al. 2015).

Thinning never drops the step where a finding starts: the tracker pins it
(``rec.pins``) before the rows that show it are stored.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from . import histogram as H

__all__ = [
    "Finding",
    "Tracker",
    "findings",
    "locate",
    "UPDATE_RATIO_LOW",
    "UPDATE_RATIO_HIGH",
    "RATIO_WINDOW",
    "EXPLODING_GROWTH",
    "BASELINE_STEPS",
    "VANISHING_DEPTH_RATIO",
    "VANISHING_RATIO",
    "DEAD_UNITS_SHARE",
    "SATURATION_SHARE",
    "DRIFT_FACTOR",
    "DRIFT_LAYERS",
]

#: Update-to-weight ratio below which learning looks too slow (~1e-3 is healthy).
UPDATE_RATIO_LOW = 1e-4
#: Update-to-weight ratio above which the learning rate looks too high.
UPDATE_RATIO_HIGH = 1e-2
#: Sampled steps whose median update ratio is judged.
RATIO_WINDOW = 3
#: Growth of the global gradient norm over its early median that counts as exploding.
EXPLODING_GROWTH = 10.0
#: Recorded steps that make the early median of the gradient norm.
BASELINE_STEPS = 3
#: First layer's relative gradient / last layer's below this: vanishing across depth.
VANISHING_DEPTH_RATIO = 1e-2
#: Gradient norm / weight norm below which one gradient counts as vanishing.
VANISHING_RATIO = 1e-7
#: Share of a layer's units dead on a whole sampled batch that is flagged.
DEAD_UNITS_SHARE = 0.5
#: Share of a tanh/sigmoid output within 0.03 of its bounds that is flagged.
SATURATION_SHARE = 0.3
#: Activation std ratio, last hidden layer over first (or its inverse), that is flagged.
DRIFT_FACTOR = 10.0
#: Hidden layers (activations of one model, the output excluded) needed to judge drift.
DRIFT_LAYERS = 3

_ORDER = {"activations": 0, "weights": 1, "grads": 2}


@dataclass
class Finding:
    """One diagnosis, with its evidence.

    Attributes:
        kind: ``activations``, ``weights`` or ``grads``.
        tensor: the tensor it is about (None when no one tensor is to blame).
        first_step, last_step: the steps the rule held (first to latest seen).
        severity: ``error`` (non-finite values) or ``warning``.
        rule: ``non-finite``, ``update-ratio``, ``exploding-gradients``,
            ``vanishing-gradients``, ``dead-units``, ``saturation``, ``scale-drift``.
        value: the measured number at ``last_step`` (what the rule compared).
        threshold: what it was compared with.
        message: one line naming the tensor, the step and the number.
    """

    kind: str
    tensor: str | None
    first_step: int
    last_step: int
    severity: str
    rule: str
    value: float
    threshold: float
    message: str

    def as_dict(self) -> dict:
        d = asdict(self)
        # what the views use to select a tensor and a step
        d.update(name=self.tensor, step=self.first_step)
        return d


class _Run:
    """A rule holding for one tensor: first and latest step, latest value."""

    __slots__ = ("first", "last", "value", "extra")

    def __init__(self, step, value, extra=None):
        self.first = self.last = int(step)
        self.value = float(value)
        self.extra = extra


def _g(x) -> str:
    return f"{x:.3g}"


class Tracker:
    """The findings of one Recording, updated as rows arrive (see the module)."""

    def __init__(self, rec):
        self.rec = rec
        self.bad: dict[tuple, _Run] = {}  # (kind, name) -> first non-finite snapshot
        self.runs: dict[tuple, _Run] = {}  # (rule, kind, name) -> run
        self.ratios: dict[str, list] = {}  # weight -> recent (step, ratio)
        self.weight_norm: dict[str, tuple] = {}  # weight -> (step, norm) latest
        self.grad_totals: list[float] = []  # global gradient norm of the first recorded steps
        self.saved: list[Finding] = []  # a loaded Recording's findings, as they were saved

    # -- feeding -----------------------------------------------------------------------
    def rows(self, kind: str, names: list, steps, rows) -> None:
        """A block ``[S, T, B+10]`` of ``kind`` rows for ``names`` at ``steps``."""
        B = rows.shape[2] - H.EXTRA
        ex = rows[:, :, B:]
        nonfinite = ex[:, :, H.NAN] + ex[:, :, H.POSINF] + ex[:, :, H.NEGINF]
        for t, name in enumerate(names):
            bad = np.flatnonzero(nonfinite[:, t] > 0)
            if bad.size:
                key = (kind, name)
                run = self.bad.get(key)
                if run is None:
                    i = bad[0]
                    run = self.bad[key] = _Run(steps[i], nonfinite[i, t], ex[i, t, [H.NAN, H.POSINF, H.NEGINF]].astype(int))
                    self.rec.pin(int(steps[i]))
                run.last = max(run.last, int(steps[bad[-1]]))
        finite_count = rows[:, :, :B].sum(axis=2)
        norm = np.where(finite_count > 0, ex[:, :, H.NORM], np.nan)
        std = np.where(finite_count > 0, ex[:, :, H.STD], np.nan)
        if kind == "weights":
            for t, name in enumerate(names):
                self.weight_norm[name] = (int(steps[-1]), float(norm[-1, t]))
        elif kind == "grads":
            self._grads(names, steps, norm)
        elif kind == "activations":
            self._drift(names, steps, std)

    def scalars(self, metric: str, name: str, steps, values) -> None:
        if metric == "update_ratio":
            self._ratio(name, steps, values)
        elif metric == "dead_units":
            for step, v in zip(steps, values):
                self._hold("dead-units", "activations", name, step, v, v >= DEAD_UNITS_SHARE)
        elif metric == "saturation":
            for step, v in zip(steps, values):
                self._hold("saturation", "activations", name, step, v, v >= SATURATION_SHARE)

    def _hold(self, rule, kind, name, step, value, holds: bool, extra=None) -> None:
        """Note that ``rule`` (``name:variant``) holds for ``name`` at ``step`` when
        ``holds``: a run starts at the first step it holds (pinned); its last step and
        value follow each later step it holds."""
        if not holds:
            return
        key = (rule, kind, name)
        run = self.runs.get(key)
        if run is None:
            self.runs[key] = _Run(step, value, extra)
            self.rec.pin(int(step))
        else:
            run.last, run.value, run.extra = int(step), float(value), extra

    def _ratio(self, name, steps, values) -> None:
        recent = self.ratios.setdefault(name, [])
        for step, v in zip(steps, values):
            if not np.isfinite(v) or v < 0:
                continue
            recent.append((int(step), float(v)))
            del recent[:-RATIO_WINDOW]
            if len(recent) < min(RATIO_WINDOW, 2):
                continue
            med = float(np.median([r for _, r in recent]))
            self._hold("update-ratio:high", "weights", name, step, med, med > UPDATE_RATIO_HIGH)
            self._hold("update-ratio:low", "weights", name, step, med, 0 < med < UPDATE_RATIO_LOW)

    def _grads(self, names, steps, norm) -> None:
        for s_i, step in enumerate(steps):
            n = norm[s_i]
            for t, name in enumerate(names):
                w = self.weight_norm.get(name)
                g = n[t]
                if np.isfinite(g) and (g == 0 or (w is not None and np.isfinite(w[1]) and w[1] > 0 and g / w[1] < VANISHING_RATIO)):
                    self._hold("vanishing-gradients:tiny", "grads", name, step, g, True, w[1] if w else np.nan)
            ok = np.isfinite(n)
            if not ok.any():
                continue
            top = float(np.max(np.abs(n[ok])))
            total = top * float(np.sqrt(np.sum((n[ok] / top) ** 2))) if top > 0 else 0.0  # no overflow
            if len(self.grad_totals) < BASELINE_STEPS:
                self.grad_totals.append(total)
            else:
                base = float(np.median(self.grad_totals))
                if base > 0:
                    self._hold("exploding-gradients", "grads", None, step, total, total > EXPLODING_GROWTH * base, base)
            # across depth: relative gradients of the weight matrices, first vs last
            rel = []
            for t, name in enumerate(names):
                w = self.weight_norm.get(name)
                if name in self.ratios or name in self.rec.scalar_names("update_ratio"):  # weight matrices (rank >= 2)
                    if w is not None and np.isfinite(n[t]) and w[1] > 0:
                        rel.append((name, n[t] / w[1]))
            if len(rel) >= 2 and rel[-1][1] > 0:
                r = rel[0][1] / rel[-1][1]
                self._hold("vanishing-gradients:depth", "grads", rel[0][0], step, r, r < VANISHING_DEPTH_RATIO, rel[-1][0])

    def _drift(self, names, steps, std) -> None:
        model_of = {}
        for m, ns in self.rec.models.items():
            for n in ns:
                model_of.setdefault(n, m)
        groups: dict = {}
        for t, name in enumerate(names):
            groups.setdefault(model_of.get(name), []).append(t)
        for model, idx in groups.items():
            hidden = idx[:-1]  # the last activation of a model is its output
            if len(hidden) < DRIFT_LAYERS:
                continue
            for s_i, step in enumerate(steps):
                sd = std[s_i, hidden]
                if not (np.isfinite(sd).all() and sd[0] > 0 and sd[-1] > 0):
                    continue
                ratio = sd[-1] / sd[0]
                r = np.diff(np.log(sd))
                monotone = (r < 0).all() or (r > 0).all()
                holds = monotone and (ratio <= 1 / DRIFT_FACTOR or ratio >= DRIFT_FACTOR)
                self._hold("scale-drift", "activations", names[hidden[0]], step, ratio, holds, names[hidden[-1]])

    # -- reading ------------------------------------------------------------------------
    def restore(self, saved: list) -> None:
        """Findings from a saved Recording (kept as they were; rows added later add to them)."""
        self.saved = [Finding(**{k: d[k] for k in Finding.__dataclass_fields__}) for d in saved]

    def findings(self) -> list[Finding]:
        rest = [f for f in (self._describe(r, k, n, run) for (r, k, n), run in self.runs.items()) if f is not None]
        rest.sort(key=lambda f: (f.first_step, _ORDER.get(f.kind, 3)))
        found = self._nonfinite() + rest
        if not self.saved:
            return found
        old = {(f.rule, f.tensor) for f in self.saved}
        return self.saved + [f for f in found if (f.rule, f.tensor) not in old]

    def subset(self, kinds, names) -> "_Subset":
        return _Subset(self, kinds, names)

    def _nonfinite(self) -> list[Finding]:
        rec = self.rec
        first = rec.first_nonfinite
        if not self.bad:
            if first is None:
                return []
            return [Finding("grads", None, first, first, "error", "non-finite", 1.0, 0.0,
                            f"grads: NaN/Inf at step {first} (checked at every step; no sampled snapshot held them).")]
        position = _computation_order(rec)
        (kind, name), run = min(self.bad.items(), key=lambda kv: (kv[1].first, position.get(kv[0], (9,))))
        nan, pos, neg = (int(v) for v in run.extra)
        what = ", ".join(f"{c} {label}" for c, label in ((nan, "NaN"), (pos, "+Inf"), (neg, "-Inf")) if c)
        others = sum(1 for k, r in self.bad.items() if k != (kind, name))
        step = run.first
        st = rec._stores[kind][name]
        steps = st.arrays()[1]
        before = steps[steps < step]
        prev = int(before[-1]) if before.size else None
        if first is not None and first <= step and (prev is None or first > prev):
            when = f"from step {first} (the first step whose gradients held NaN/Inf; {what} at step {step})"
        elif prev is not None and step - prev > 1:
            when = f"first seen at step {step} ({what}); they began between step {prev} and {step}"
        else:
            when = f"from step {step} ({what})"
        tail = f"; the first tensor in model order to go bad, {others} more followed" if others else ""
        msg = f"{kind} {name}: non-finite values {when}{tail}."
        return [Finding(kind, name, min(step, first) if first is not None else step, run.last, "error", "non-finite", float(run.value), 0.0, msg)]

    def _describe(self, rule, kind, name, run) -> Finding | None:
        rule, _, variant = rule.partition(":")
        a, b = run.first, run.last
        span = f"at step {a}" if a == b else f"from step {a} to {b}"
        v = run.value
        if rule == "update-ratio":
            if variant == "high":
                msg = f"weights {name}: update/weight ratio {_g(v)} {span} (median of the last {RATIO_WINDOW} sampled steps), above {_g(UPDATE_RATIO_HIGH)}: the learning rate may be too high."
                thr = UPDATE_RATIO_HIGH
            else:
                msg = f"weights {name}: update/weight ratio {_g(v)} {span} (median of the last {RATIO_WINDOW} sampled steps), below {_g(UPDATE_RATIO_LOW)}: the learning rate may be too low."
                thr = UPDATE_RATIO_LOW
        elif rule == "exploding-gradients":
            base = run.extra if isinstance(run.extra, float) else np.nan
            msg = f"grads: global gradient norm {_g(v)} {span}, over {_g(EXPLODING_GROWTH)}x its early median {_g(base)} (exploding gradients)."
            thr = EXPLODING_GROWTH * base
        elif rule == "vanishing-gradients":
            other = run.extra
            if variant == "depth":
                msg = f"grads {name}: vanishing across depth {span}: its gradient relative to its weights is {_g(v)} of the last layer's ({other}), below {_g(VANISHING_DEPTH_RATIO)}."
                thr = VANISHING_DEPTH_RATIO
            else:
                against = "" if other is None or not np.isfinite(other) else f" against weights {_g(other)}"
                msg = f"grads {name}: vanishing {span} (norm {_g(v)}{against})."
                thr = VANISHING_RATIO
        elif rule == "dead-units":
            msg = f"activations {name}: {100 * v:.0f}% of units output zero for every example of the batch {span} (dead units; dying ReLU?)."
            thr = DEAD_UNITS_SHARE
        elif rule == "saturation":
            msg = f"activations {name}: {100 * v:.0f}% of outputs within 0.03 of the bounds {span} (saturated)."
            thr = SATURATION_SHARE
        elif rule == "scale-drift":
            way = "shrinks" if v < 1 else "grows"
            factor = 1 / v if v < 1 else v
            msg = f"activations {name}: std {way} {_g(factor)}x layer over layer from {name} to {run.extra} {span} (scale drift across depth)."
            thr = DRIFT_FACTOR
        else:
            return None
        return Finding(kind, name, a, b, "warning", rule, float(v), float(thr), msg)


def _computation_order(rec) -> dict:
    """``(kind, name) -> key`` in the order a training step computes them: the forward
    pass layer by layer (a layer's weights, then its output), then the backward pass
    (gradients from the last layer to the first). A weight belongs to the layer whose
    activation name prefixes it; the rest follow in recording order."""
    acts = list(rec._stores.get("activations", {}))
    layer_of = {}
    for kind in ("weights", "grads"):
        for i, name in enumerate(rec._stores.get(kind, {})):
            owners = [j for j, a in enumerate(acts) if name.startswith(a + "/")]
            layer_of[(kind, name)] = max(owners, key=lambda j: len(acts[j])) if owners else len(acts) + i
    order = {("activations", a): (0, j, 1) for j, a in enumerate(acts)}
    for (kind, name), j in layer_of.items():
        order[(kind, name)] = (0, j, 0) if kind == "weights" else (1, -j)
    return order


class _Subset:
    """A subset Recording's view of its parent's findings (its kinds and tensors)."""

    def __init__(self, tracker, kinds, names):
        self.tracker, self.kinds, self.names = tracker, set(kinds), names

    def rows(self, *args) -> None:
        pass

    def scalars(self, *args) -> None:
        pass

    def findings(self) -> list[Finding]:
        return [f for f in self.tracker.findings() if f.kind in self.kinds and (self.names is None or f.tensor is None or f.tensor in self.names)]


def locate(rec) -> list[dict]:
    """Every finding for ``rec`` as a dict (``Finding`` fields, plus ``name`` and ``step``:
    the tensor and the first step, which the widget selects when one is clicked)."""
    return [f.as_dict() for f in rec.findings()]


def findings(rec) -> list[str]:
    """Every finding for ``rec`` as one sentence each, non-finite values first."""
    return [f.message for f in rec.findings()]
