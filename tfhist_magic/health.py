"""Findings: the questions people open histograms to answer, answered as rows arrive.

Pure NumPy, no TensorFlow. A :class:`Tracker` belongs to each Recording and subscribes to
the blocks :func:`~tfhist_magic.block.deliver` resolves (``Store.arrivals``): it is handed
each one before its rows are kept, so findings are kept up to date incrementally, at a
cost that grows with the rows added, not with the Recording: no Series is copied to
compute them, however often a live view asks. It measures what the rules judge; each
rule (threshold, when it holds, its message) is one unit in :mod:`tfhist_magic.rules`.
``rec.findings()`` returns :class:`Finding` records; each names its evidence (the step
and the number) and the rule's threshold. The thresholds are module constants here: set
them (``tfhist_magic.health.UPDATE_RATIO_HIGH = 0.05``) before a watch to change them.

A finding is something a practitioner would act on, so the rules apply where
practitioners apply them (README, "Findings"):

- ``non-finite``: the first step and the first tensor *in computation order* that held
  NaN or Inf (the order a step computes them: layer by layer forward, a layer's weights
  then its output, then the gradients backward from the loss): which layer went bad
  first. The every-step check of the gradients and the loss (``rec.first_nonfinite``)
  names the step exactly when snapshots are sampled. The other rules do not judge the
  steps at which a model's weights hold NaN or Inf (:meth:`Tracker._judged`): what
  follows a non-finite update is its consequence.
- ``update-ratio``: std(Δw) / std(w) of each weight matrix and embedding (see
  :func:`is_weight_matrix`: not biases, not normalization parameters), Δw being what the
  optimizer actually applied at the step (measured in the graph); the median of the last
  :data:`RATIO_WINDOW` sampled steps above :data:`UPDATE_RATIO_HIGH`, or never (yet) above
  :data:`UPDATE_RATIO_LOW` (CS231n, "Neural Networks 3": ratio of updates to values; the
  thresholds were measured to hold for Adam as well as SGD, see the README).
- ``exploding-gradients``: the global gradient norm (over every recorded gradient)
  grows past :data:`EXPLODING_GROWTH` times its median over the first
  :data:`BASELINE_STEPS` recorded steps (Pascanu, Mikolov & Bengio 2013).
- ``vanishing-gradients``: across depth, the first weight matrix's gradient (relative to
  its weights) below :data:`VANISHING_DEPTH_RATIO` times the last one's (Glorot & Bengio
  2010); or a weight matrix's gradient whose norm is 0, or that has always been below
  :data:`VANISHING_RATIO` of its weights' (gradients shrink as a run converges).
- ``dead-units``: at least :data:`DEAD_UNITS_SHARE` of a hidden layer's units (last axis)
  output zero for every example of a sampled batch (counted per unit in the graph):
  dead, not merely sparse (CS231n: "as much as 40% of your network can be dead").
- ``saturation``: at least :data:`SATURATION_SHARE` of a hidden tanh/sigmoid output
  within 0.03 of its bounds (the |tanh| > 0.97 rule; Glorot & Bengio 2010).
- ``scale-drift``: activation std shrinking or growing layer over layer, by
  :data:`DRIFT_FACTOR` or more from the first to the last hidden layer of a model
  (at least :data:`DRIFT_LAYERS` of them; Glorot & Bengio 2010, He et al. 2015).

"Hidden" leaves out a model's own outputs (``rec.outputs``): an output layer's
sigmoid/softmax is meant to saturate. Many tensors with one problem make one finding:
one per rule (and variant), naming its first tensor and listing all (``Finding.tensors``).

Thinning never drops the step where a finding starts: the tracker pins it
(``rec.pins``) before the rows that show it are stored.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from . import histogram as H
from .rules import DEAD_UNITS, DRIFT, EXPLODING, RATIO_HIGH, RATIO_LOW, RULES, SATURATION, VANISHING_DEPTH, VANISHING_TINY, Rule

__all__ = [
    "Finding",
    "Tracker",
    "findings",
    "is_weight_matrix",
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

#: Update-to-weight ratio that a weight matrix's never reached: learning looks too slow.
#: Healthy runs (Adam 1e-3, SGD 0.01-0.05) peak at 4e-4 or more; learning rates of 1e-6
#: stay below 4e-6 (README, "Findings").
UPDATE_RATIO_LOW = 1e-5
#: Update-to-weight ratio above which the learning rate looks too high. Adam's first
#: updates move each weight by ~lr, so a healthy Adam(1e-3) shows lr/std(w): 0.035 on an
#: embedding of std 0.029; runs with learning rates far too high show 0.1 to 10.
UPDATE_RATIO_HIGH = 0.1
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
#: Share of a hidden layer's units dead on a whole sampled batch that is flagged.
DEAD_UNITS_SHARE = 0.5
#: Share of a hidden tanh/sigmoid output within 0.03 of its bounds that is flagged.
SATURATION_SHARE = 0.3
#: Activation std ratio, last hidden layer over first (or its inverse), that is flagged.
DRIFT_FACTOR = 10.0
#: Hidden layers (activations of one model, its outputs excluded) needed to judge drift.
DRIFT_LAYERS = 3

_ORDER = {"activations": 0, "weights": 1, "grads": 2}

#: Last path components of variables that are not weight matrices: biases, and the
#: parameters and statistics of normalization layers (Keras, tf_keras, tf.compat.v1).
_NOT_MATRICES = frozenset({"bias", "biases", "gamma", "beta", "scale", "offset", "moving_mean", "moving_variance"})


def is_weight_matrix(name: str) -> bool:
    """Whether the rules on weights (update ratio, vanishing gradients) judge the variable
    ``name``: weight matrices, convolution kernels and embeddings, not biases (Keras 3's
    MultiHeadAttention biases are rank 2, ``(heads, head_dim)``) nor normalization
    parameters (gamma/beta, whose spread is ~0 at init, and moving statistics).

    Decided by the variable's last path component (``"block/attention/query/bias"`` ->
    ``"bias"``); the update ratio is only measured for variables of rank 2 or more.
    """
    leaf = name.rsplit("/", 1)[-1].split(":", 1)[0].lower()
    return leaf not in _NOT_MATRICES


@dataclass
class Finding:
    """One diagnosis, with its evidence.

    Attributes:
        kind: ``activations``, ``weights`` or ``grads``.
        tensor: the tensor it is about, the first in ``tensors`` (None when no one tensor
            is to blame).
        first_step, last_step: the steps the rule held (first to latest seen, over all of
            ``tensors``).
        severity: ``error`` (non-finite values) or ``warning``.
        rule: ``non-finite``, ``update-ratio``, ``exploding-gradients``,
            ``vanishing-gradients``, ``dead-units``, ``saturation``, ``scale-drift``.
        value: the measured number at ``last_step`` (what the rule compared); for several
            tensors, the most extreme of their latest numbers.
        threshold: what it was compared with.
        message: one line naming the tensor (and how many more), the step and the number.
        tensors: every tensor the finding covers, ``tensor`` first (the one whose problem
            began first; then in model order).
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
    tensors: list[str] = field(default_factory=list)

    def __post_init__(self):
        if not self.tensors and self.tensor is not None:
            self.tensors = [self.tensor]

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


class Tracker:
    """The findings of one Recording, updated as rows arrive (see the module)."""

    def __init__(self, rec):
        self.rec = rec
        self.bad: dict[tuple, _Run] = {}  # (kind, name) -> first non-finite snapshot
        self.runs: dict[tuple, _Run] = {}  # (rule, kind, name) -> run, in the order they began
        self.ratios: dict[str, list] = {}  # weight matrix -> recent (step, ratio)
        self.ratio_peak: dict[str, float] = {}  # weight matrix -> highest windowed ratio so far
        self.matrices: set[str] = set()  # weights with an update ratio that the rules judge
        self.weight_norm: dict[str, float] = {}  # weight -> latest norm
        self.grad_seen: set[str] = set()  # gradients that were once above VANISHING_RATIO of their weights
        self.grad_totals: list[float] = []  # global gradient norm of the first recorded steps
        self.saved: list[Finding] = []  # a loaded Recording's findings, as they were saved
        self.broken: dict = {}  # model -> the step from which its weights held NaN/Inf (see _judged)
        # per block layout (tuple of names -> indices), rebuilt when what it depends on grows
        self._grad_layout: dict[tuple, tuple] = {}
        self._drift_layout: dict[tuple, list] = {}
        self._drift_key = None
        self._order_key = None
        self._order: dict = {}

    # -- feeding -----------------------------------------------------------------------
    def take(self, b) -> None:
        """A block :func:`~tfhist_magic.block.deliver` resolved, before its rows are kept."""
        if b.findings is not None:  # a saved file's: as they were
            self.restore(b.findings)
            return
        steps = np.asarray(b.steps, dtype=np.int64)
        for kind, rows in b.rows.items():
            self._note_nonfinite(kind, list(b.names[kind]), steps, rows)
        judged = self._judged(b.model, steps, b.rows.get("weights"))
        # The weights first and the gradients last: the gradients' rules read the block's
        # weight norms (its weights' rows) and which weights are matrices (their update ratios).
        for kind in ("weights", "activations"):
            if kind in b.rows:
                self.rows(kind, list(b.names[kind]), steps[judged], b.rows[kind][judged])
        for (metric, name), (ss, values, _) in b.scalars.items():
            ss = np.asarray(ss, dtype=np.int64)
            ok = self._judged(b.model, ss) & ~np.isin(ss, steps[~judged])
            self.scalars(metric, name, ss[ok], np.asarray(values)[ok])
        if "grads" in b.rows:
            self.rows("grads", list(b.names["grads"]), steps[judged], b.rows["grads"][judged])

    def _judged(self, model, steps, weights=None) -> np.ndarray:
        """Which of ``steps`` the rules judge for ``model``: not those at which its
        weights (any of them, as the step read them: ``weights`` rows, else what the
        last rows of its weights showed) held NaN or Inf. What follows a non-finite
        update is its consequence, which the ``non-finite`` finding names: a hidden
        layer's gradients exactly 0 behind a NaN bias (ReLU passes nothing back) are
        not vanishing gradients."""
        if weights is not None and len(steps):
            B = weights.shape[2] - H.EXTRA
            bad = (weights[:, :, B + H.NAN] + weights[:, :, B + H.POSINF] + weights[:, :, B + H.NEGINF] > 0).any(axis=1)
            good = np.flatnonzero(~bad)
            tail = bad[good[-1] + 1 :] if good.size else bad
            self.broken[model] = int(steps[len(steps) - len(tail)]) if tail.size else None
            return ~bad
        since = self.broken.get(model)
        return np.ones(len(steps), bool) if since is None else steps < since

    def _note_nonfinite(self, kind: str, names: list, steps, rows) -> None:
        """The first snapshot of each tensor that held NaN or Inf (pinned)."""
        B = rows.shape[2] - H.EXTRA
        ex = rows[:, :, B:]
        nonfinite = ex[:, :, H.NAN] + ex[:, :, H.POSINF] + ex[:, :, H.NEGINF]
        for t in np.flatnonzero((nonfinite > 0).any(axis=0)):
            name = names[t]
            bad = np.flatnonzero(nonfinite[:, t] > 0)
            key = (kind, name)
            run = self.bad.get(key)
            if run is None:
                i = bad[0]
                run = self.bad[key] = _Run(steps[i], nonfinite[i, t], ex[i, t, [H.NAN, H.POSINF, H.NEGINF]].astype(int))
                self.rec.pin(int(steps[i]))
            run.last = max(run.last, int(steps[bad[-1]]))

    def rows(self, kind: str, names: list, steps, rows) -> None:
        """What the rules read of a block ``[S, T, B+10]`` of ``kind`` rows for ``names``
        at ``steps`` (the steps they judge)."""
        if not len(steps):
            return
        B = rows.shape[2] - H.EXTRA
        ex = rows[:, :, B:]
        if kind == "weights":
            finite = rows[-1, :, :B].sum(axis=1) > 0
            self.weight_norm.update(zip(names, np.where(finite, ex[-1, :, H.NORM], np.nan).tolist()))
        elif kind in ("grads", "activations"):
            finite_count = rows[:, :, :B].sum(axis=2)
            if kind == "grads":
                self._grads(names, steps, np.where(finite_count > 0, ex[:, :, H.NORM], np.nan))
            else:
                self._drift(names, steps, np.where(finite_count > 0, ex[:, :, H.STD], np.nan))

    def scalars(self, metric: str, name: str, steps, values) -> None:
        if metric == "update_ratio":
            if is_weight_matrix(name):
                self.matrices.add(name)
                self._ratio(name, steps, values)
        elif name in self.rec.outputs:  # the rules on activations judge hidden layers only
            return
        elif metric == "dead_units":
            for step, v in zip(steps, values):
                self._hold(DEAD_UNITS, name, step, v, DEAD_UNITS.holds(v))
        elif metric == "saturation":
            for step, v in zip(steps, values):
                self._hold(SATURATION, name, step, v, SATURATION.holds(v))

    def _hold(self, rule: Rule, name, step, value, holds: bool, extra=None) -> None:
        """Note that ``rule`` holds for ``name`` at ``step`` when ``holds``: a run starts
        at the first step it holds (pinned); its last step and value follow each later
        step it holds."""
        if not holds:
            return
        key = (rule.key, rule.kind, name)
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
            peak = self.ratio_peak[name] = max(self.ratio_peak.get(name, 0.0), med)
            self._hold(RATIO_HIGH, name, step, med, RATIO_HIGH.holds(med))
            self._hold(RATIO_LOW, name, step, med, RATIO_LOW.holds(peak))

    def _grads(self, names, steps, norm) -> None:
        key = tuple(names)
        layout = self._grad_layout.get(key)
        if layout is None or layout[0] != len(self.matrices):  # new names, or new ratio series
            judged = np.array([is_weight_matrix(n) for n in names], dtype=bool)
            rel_idx = np.array([t for t, n in enumerate(names) if n in self.matrices], dtype=np.int64)
            layout = self._grad_layout[key] = (len(self.matrices), judged, rel_idx)
        _, judged, rel_idx = layout
        w = np.array([self.weight_norm.get(n, np.nan) for n in names], dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            rel_all = norm / w  # [S, T]
        had = np.array([n in self.grad_seen for n in names], dtype=bool)  # a gradient above the bar before
        for s_i, step in enumerate(steps):
            n = norm[s_i]
            ok = np.isfinite(n)
            small = VANISHING_TINY.small(rel_all[s_i], w)
            for t in np.flatnonzero(VANISHING_TINY.holds(n, small, had, judged)):
                self._hold(VANISHING_TINY, names[t], step, n[t], True, float(w[t]))
            had |= ok & (n > 0) & ~small
            if not ok.any():
                continue
            top = float(np.max(np.abs(n[ok])))
            total = top * float(np.sqrt(np.sum((n[ok] / top) ** 2))) if top > 0 else 0.0  # no overflow
            if len(self.grad_totals) < BASELINE_STEPS:
                self.grad_totals.append(total)
            else:
                base = float(np.median(self.grad_totals))
                if base > 0:
                    self._hold(EXPLODING, None, step, total, EXPLODING.holds(total, base), base)
            # across depth: relative gradients of the weight matrices, first vs last
            if rel_idx.size >= 2:
                rel = rel_all[s_i, rel_idx]
                use = np.flatnonzero(np.isfinite(rel) & (w[rel_idx] > 0))
                if use.size >= 2 and rel[use[-1]] > 0:
                    r = float(rel[use[0]] / rel[use[-1]])
                    first, last = names[rel_idx[use[0]]], names[rel_idx[use[-1]]]
                    self._hold(VANISHING_DEPTH, first, step, r, VANISHING_DEPTH.holds(r), last)
        self.grad_seen.update(names[t] for t in np.flatnonzero(had))

    def _hidden_groups(self, names) -> list:
        """Index arrays into ``names``, one per model with at least :data:`DRIFT_LAYERS`
        hidden activations (a model's outputs left out), cached per layout."""
        rec = self.rec
        now = (len(rec.models), sum(len(ns) for ns in rec.models.values()), len(rec.outputs))
        if now != self._drift_key:
            self._drift_key = now
            self._drift_layout.clear()
        key = tuple(names)
        got = self._drift_layout.get(key)
        if got is not None:
            return got
        model_of = {}
        for m, ns in rec.models.items():
            for n in ns:
                model_of.setdefault(n, m)
        groups: dict = {}
        for t, name in enumerate(names):
            groups.setdefault(model_of.get(name), []).append(t)
        got = []
        for idx in groups.values():
            if any(names[t] in rec.outputs for t in idx):
                hidden = [t for t in idx if names[t] not in rec.outputs]
            else:  # the capture did not say (Session graphs, older files): the last one is the output
                hidden = idx[:-1]
            if len(hidden) >= DRIFT_LAYERS:
                got.append(np.array(hidden, dtype=np.int64))
        self._drift_layout[key] = got
        return got

    def _drift(self, names, steps, std) -> None:
        for hidden in self._hidden_groups(names):
            for s_i, step in enumerate(steps):
                sd = std[s_i, hidden]
                if not (np.isfinite(sd).all() and sd[0] > 0 and sd[-1] > 0):
                    continue
                ratio = float(sd[-1] / sd[0])
                with np.errstate(divide="ignore"):  # a dead layer between (std 0) is no drift, and no warning in the cell
                    r = np.diff(np.log(sd))
                monotone = (r < 0).all() or (r > 0).all()
                rule = DRIFT["shrinks" if ratio < 1 else "grows"]
                self._hold(rule, names[hidden[0]], step, ratio, rule.holds(ratio, monotone), names[hidden[-1]])

    # -- reading ------------------------------------------------------------------------
    def restore(self, saved: list) -> None:
        """Findings from a saved Recording (kept as they were; rows added later add to them)."""
        fields = Finding.__dataclass_fields__
        self.saved = [Finding(**{k: d[k] for k in fields if k in d}) for d in saved]

    def findings(self, kinds=None, names=None) -> list[Finding]:
        """Every finding; with ``kinds`` and ``names`` (sets), only those about them."""
        groups: dict[str, list] = {}
        for (rule, kind, name), run in self.runs.items():
            if not RULES[rule].current(self, name):
                continue
            if (kinds is None or kind in kinds) and (names is None or name is None or name in names):
                groups.setdefault(rule, []).append((kind, name, run))
        rest = [f for f in (self._describe(rule, members) for rule, members in groups.items()) if f is not None]
        rest.sort(key=lambda f: (f.first_step, _ORDER.get(f.kind, 3)))
        found = self._nonfinite(kinds, names) + rest
        if not self.saved:
            return found
        saved = [f for f in self.saved if (kinds is None or f.kind in kinds) and (names is None or f.tensor is None or f.tensor in names)]
        old = {(f.rule, f.tensor) for f in saved}
        return saved + [f for f in found if (f.rule, f.tensor) not in old]

    def subset(self, kinds, names) -> "_Subset":
        return _Subset(self, kinds, names)

    def _nonfinite(self, kinds=None, names=None) -> list[Finding]:
        rec = self.rec
        first = rec.first_nonfinite
        bad = {k: r for k, r in self.bad.items() if (kinds is None or k[0] in kinds) and (names is None or k[1] in names)}
        if not bad:
            if first is None or (kinds is not None and "grads" not in kinds) or self.bad:
                return []
            return [Finding("grads", None, first, first, "error", "non-finite", 1.0, 0.0,
                            f"grads: NaN/Inf at step {first} (checked at every step; no sampled snapshot held them).")]
        position = self._computation_order()
        (kind, name), run = min(bad.items(), key=lambda kv: (kv[1].first, position.get(kv[0], (9,))))
        nan, pos, neg = (int(v) for v in run.extra)
        what = ", ".join(f"{c} {label}" for c, label in ((nan, "NaN"), (pos, "+Inf"), (neg, "-Inf")) if c)
        others = len(bad) - 1
        step = run.first
        steps = rec.kept_steps(kind, name)
        before = steps[steps < step]
        prev = int(before[-1]) if before.size else None
        if first is not None and first == step:
            when = f"from step {step} ({what}; the first step whose gradients or loss went non-finite)"
        elif first is not None and first < step and (prev is None or first > prev):
            # no snapshot of step ``first`` (sampled past it, or a file from before it was kept)
            when = f"from step {first} (the first step whose gradients held NaN/Inf; {what} at step {step})"
        elif prev is not None and step - prev > 1:
            when = f"first seen at step {step} ({what}); they began between step {prev} and {step}"
        else:
            when = f"from step {step} ({what})"
        tail = f"; the first tensor in computation order to go bad, {others} more followed" if others else ""
        msg = f"{kind} {name}: non-finite values {when}{tail}."
        return [Finding(kind, name, min(step, first) if first is not None else step, run.last, "error", "non-finite", float(run.value), 0.0, msg)]

    def _computation_order(self) -> dict:
        """``(kind, name) -> key`` in the order a training step computes them: the forward
        pass layer by layer (a layer's weights, then its output), then the backward pass
        (gradients from the last layer to the first). A weight belongs to the layer whose
        activation name prefixes it; the rest follow in recording order. Cached until
        tensors are added."""
        rec = self.rec
        names = {kind: rec.names(kind) for kind in _ORDER}
        key = tuple(len(v) for v in names.values())
        if key == self._order_key:
            return self._order
        acts = names["activations"]
        layer_of = {}
        for kind in ("weights", "grads"):
            for i, name in enumerate(names[kind]):
                owners = [j for j, a in enumerate(acts) if name.startswith(a + "/")]
                layer_of[(kind, name)] = max(owners, key=lambda j: len(acts[j])) if owners else len(acts) + i
        order = {("activations", a): (0, j, 1) for j, a in enumerate(acts)}
        for (kind, name), j in layer_of.items():
            order[(kind, name)] = (0, j, 0) if kind == "weights" else (1, -j)
        self._order_key, self._order = key, order
        return order

    def _describe(self, key, members) -> Finding | None:
        """One finding for the runs ``members`` (``[(kind, name, run)]``) of the rule ``key``."""
        rule = RULES.get(key)
        if rule is None:
            return None
        members = sorted(members, key=lambda m: m[2].first)  # stable: model order within a step
        kind, name, run = members[0]
        a = min(r.first for _, _, r in members)
        b = max(r.last for _, _, r in members)
        span = f"at step {a}" if a == b else f"from step {a} to {b}"
        thr, v = rule.threshold(run), rule.pick(r.value for _, _, r in members)
        msg = rule.message(len(members), name, v, thr, span, f"first: {name} at step {run.first}", run)
        return Finding(kind, name, a, b, "warning", rule.rule, float(v), float(thr), msg, [m[1] for m in members if m[1] is not None])


class _Subset:
    """A subset Recording's view of its parent's findings (its kinds and tensors)."""

    def __init__(self, tracker, kinds, names):
        self.tracker, self.kinds, self.names = tracker, set(kinds), names

    def take(self, b) -> None:  # the parent's tracker judges what arrives
        pass

    def findings(self) -> list[Finding]:
        return self.tracker.findings(self.kinds, self.names)


def locate(rec) -> list[dict]:
    """Every finding for ``rec`` as a dict (``Finding`` fields, plus ``name`` and ``step``:
    the tensor and the first step, which the widget selects when one is clicked)."""
    return [f.as_dict() for f in rec.findings()]


def findings(rec) -> list[str]:
    """Every finding for ``rec`` as one sentence each, non-finite values first."""
    return [f.message for f in rec.findings()]
