"""Compare runs: where inside the model two (or more) Recordings part ways.

``compare(rec_a, rec_b, ..., labels=[...])`` returns a :class:`Comparison`. Its
:meth:`~Comparison.ranking` orders the tensors the runs share by how far their
distributions differ, largest first; its display (``cmp.show()``, or the object as a
cell's value) is one dashboard in which every shared tensor is drawn for every run, the
ranking beside it, each run in a fixed colour (:data:`RUN_COLORS`).

The distance (pure NumPy, on the exact bins, no re-binning):

* A snapshot is read as the piecewise-uniform distribution its bins describe: each bin's
  count spread evenly over the bin, normalised to 1 (NaN and Inf are not part of it: the
  dashboard shows them beside the bins). Each run's snapshot keeps its own edges.
* Between two snapshots, :func:`wasserstein1` is the Wasserstein-1 (earth mover's)
  distance ``W1 = ∫ |F_a(x) - F_b(x)| dx``. Both CDFs are linear between consecutive
  points of the union of the two sets of edges, so the integral is computed exactly there
  (a trapezoid where ``F_a - F_b`` keeps its sign, two triangles where it crosses zero).
* :func:`spread` makes it scale-free: ``W1`` is divided by the standard deviation of the
  two distributions taken together (their equal mixture), so the first layer's gradients
  and the last one's, a kernel and a bias, compare on one scale: 0 for identical
  distributions, and at most 2 (``W1 <= E|X - Y| <= sqrt(E(X - Y)^2) <= 2 σ_mix``). A
  difference of location and one of shape both count. A tensor much narrower than the
  others of its kind (a bias still near its zero start, a one-element bias) would score
  near 2 for a difference nobody would act on, so the divisor is never less than the
  kind's typical spread (:attr:`Comparison.kind_spread`: the median over the kind's shared
  tensors of their spread averaged over the compared steps).
* With more than two runs, a step's score is the largest over the pairs of runs; a
  tensor's score is the mean over its matched steps (steps where a run has no finite
  values are skipped; a tensor with none left scores NaN and is ranked last).

Matching. Tensors are matched by name. When every tensor name of a run starts with the
same model name (``sequential/`` in one run, ``sequential_1/`` in the other, as Keras
numbers a second model) and leaving it out matches more tensors, it is left out
(:attr:`Comparison.names_note` says so). Tensors not in every run are listed in
:attr:`Comparison.only`, never dropped silently. Steps: each step the run with the fewest
snapshots of a tensor recorded (within the steps all runs span) is compared with the
nearest step every other run recorded (the earlier one on a tie); when the runs' steps
differ, :attr:`Comparison.steps_note` says so, and so does the dashboard.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .constants import MODEL_SCALARS, PROBES
from .recording import KINDS, Recording

__all__ = ["RUN_COLORS", "Comparison", "compare", "spread", "wasserstein1"]

#: The runs' colours, in order (the dashboard, the picture and the text use the same).
RUN_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")


# -- the distance -------------------------------------------------------------------------
def _cdf(edges: np.ndarray, counts: np.ndarray) -> np.ndarray:
    c = np.concatenate([[0.0], np.cumsum(np.asarray(counts, dtype=np.float64))])
    return c / c[-1]


def _at(edges: np.ndarray, cdf: np.ndarray, x: np.ndarray, side: str) -> np.ndarray:
    """The piecewise-linear CDF at ``x``: its limit from the right (``side="right"``) or
    from the left (``"left"``), so a bin of no width (a point mass) is a jump."""
    B = edges.size - 1
    i = np.searchsorted(edges, x, side=side) - 1  # right: e[i] <= x < e[i+1]; left: e[i] < x <= e[i+1]
    inside = (i >= 0) & (i < B)
    j = np.clip(i, 0, B - 1)
    lo, hi = edges[j], edges[j + 1]
    with np.errstate(invalid="ignore", divide="ignore"):
        f = cdf[j] + (x - lo) / (hi - lo) * (cdf[j + 1] - cdf[j])
    return np.where(inside, f, np.where(i < 0, 0.0, 1.0))


def wasserstein1(edges_a, counts_a, edges_b, counts_b) -> float:
    """The Wasserstein-1 distance between two histograms read as piecewise-uniform
    distributions (each bin's count spread evenly over it, normalised to 1), exact: the
    integral of ``|F_a - F_b|`` over the union of both sets of edges. In the values' units;
    NaN when either has no finite values (all counts zero).

    Args:
        edges_a, edges_b: non-decreasing bin edges, ``B_a + 1`` and ``B_b + 1`` of them.
        counts_a, counts_b: the bins' counts (``B_a`` and ``B_b``).
    """
    ea, eb = np.asarray(edges_a, dtype=np.float64), np.asarray(edges_b, dtype=np.float64)
    ca, cb = np.asarray(counts_a, dtype=np.float64), np.asarray(counts_b, dtype=np.float64)
    if not (ca.sum() > 0 and cb.sum() > 0):
        return float("nan")
    Fa, Fb = _cdf(ea, ca), _cdf(eb, cb)
    u = np.unique(np.concatenate([ea, eb]))
    if u.size < 2:
        return 0.0
    left, right = u[:-1], u[1:]
    d0 = _at(ea, Fa, left, "right") - _at(eb, Fb, left, "right")  # F_a - F_b just after each point
    d1 = _at(ea, Fa, right, "left") - _at(eb, Fb, right, "left")  # and just before the next
    h = right - left
    a0, a1 = np.abs(d0), np.abs(d1)
    same = d0 * d1 >= 0
    with np.errstate(invalid="ignore", divide="ignore"):
        cross = (d0 * d0 + d1 * d1) / (2 * (a0 + a1))
    return float(np.sum(h * np.where(same, (a0 + a1) / 2, cross)))


def _moments(edges: np.ndarray, counts: np.ndarray) -> tuple[float, float]:
    """Mean and variance of the piecewise-uniform distribution of a histogram."""
    e = np.asarray(edges, dtype=np.float64)
    p = np.asarray(counts, dtype=np.float64)
    p = p / p.sum()
    mid, w = (e[:-1] + e[1:]) / 2, e[1:] - e[:-1]
    mean = float(np.sum(p * mid))
    return mean, float(np.sum(p * ((mid - mean) ** 2 + w * w / 12)))


def spread(edges_a, counts_a, edges_b, counts_b) -> float:
    """The standard deviation of the equal mixture of two histograms (each read as in
    :func:`wasserstein1`): ``sqrt((var_a + var_b) / 2 + (mean_a - mean_b)^2 / 4)``."""
    ma, va = _moments(edges_a, counts_a)
    mb, vb = _moments(edges_b, counts_b)
    return float(np.sqrt(max((va + vb) / 2 + (ma - mb) ** 2 / 4, 0.0)))


def _scores(w1: np.ndarray, sig: np.ndarray, floor: float) -> np.ndarray:
    """``W1 / max(spread, floor)`` (0 where ``W1`` is 0; NaN without finite values), at most 2."""
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(w1 == 0, 0.0, w1 / np.maximum(sig, floor))
    return np.minimum(out, 2.0)


# -- matching -------------------------------------------------------------------------------
def _nearest(steps: np.ndarray, want: np.ndarray) -> np.ndarray:
    """Index into ``steps`` (sorted) of the nearest step to each of ``want`` (the earlier on a tie)."""
    i = np.clip(np.searchsorted(steps, want), 0, steps.size - 1)
    before = np.clip(i - 1, 0, steps.size - 1)
    take_before = np.abs(want - steps[before]) <= np.abs(steps[i] - want)
    return np.where(take_before, before, i)


def _match(all_steps: list[np.ndarray]) -> tuple[int, np.ndarray]:
    """``(reference run, idx[S, R])``: the steps of the run with the fewest snapshots within
    the steps every run spans, and each run's nearest snapshot to each of them."""
    lo = max(int(s[0]) for s in all_steps)
    hi = min(int(s[-1]) for s in all_steps)
    inside = [(s >= lo) & (s <= hi) for s in all_steps]
    if lo > hi:  # the runs' steps do not overlap: all of them, nearest
        inside = [np.ones(s.size, bool) for s in all_steps]
    ref = int(np.argmin([m.sum() for m in inside]))
    want = all_steps[ref][inside[ref]]
    idx = np.stack([np.flatnonzero(inside[ref]) if r == ref else _nearest(s, want) for r, s in enumerate(all_steps)], axis=1)
    return ref, idx


def _prefix(rec: Recording) -> str | None:
    """The first path segment every tensor name of ``rec`` shares (its one model's name), if any."""
    heads = {n.partition("/")[0] if "/" in n else None for k in rec.kinds for n in rec.names(k)}
    return heads.pop() if len(heads) == 1 and None not in heads else None


@dataclass(frozen=True)
class Matched:
    """One tensor all runs share: its name in each run, the steps compared.

    Attributes:
        kind, name: the tensor (``name`` as the comparison shows it).
        names: its name in each run.
        reference: the run whose steps are compared (the fewest snapshots).
        index: int[S, R], each run's snapshot (index into its Series) at each compared step.
        steps: int64[S, R], the step of each of those snapshots.
        w1: float64[S, P], the Wasserstein-1 distance of each pair of runs (``(0, 1), (0, 2),
            ..., (1, 2), ...``) at each compared step, in the values' units.
        spreads: float64[S, P], the std of each pair's mixture at each compared step.
        scores: float64[S], the score at each compared step (the largest over pairs of runs).
        score: the mean of ``scores`` (NaN where no step had finite values in every run).
    """

    kind: str
    name: str
    names: tuple
    reference: int
    index: np.ndarray
    steps: np.ndarray
    w1: np.ndarray
    spreads: np.ndarray
    scores: np.ndarray
    score: float


class Comparison:
    """Several Recordings compared tensor by tensor (see the module's docstring).

    Attributes:
        runs: the Recordings, in order.
        labels: their labels. colors: their colours (:data:`RUN_COLORS`).
        kinds: the kinds with at least one tensor every run holds.
        only: ``{(kind, name): labels of the runs that hold it}`` for each tensor that not
            every run holds (not ranked, listed).
        steps_note: a sentence when the runs' steps differ and nearest steps are compared,
            else None. exact_steps: True when every compared step is the same in every run.
        names_note: a sentence when a model's name was left out to match names, else None.
        kind_spread: ``{kind: spread}``, the least divisor of the kind's scores (see the
            module's docstring).
    """

    def __init__(self, runs, labels=None):
        runs = list(runs)
        if len(runs) < 2:
            raise ValueError(f"Received: {len(runs)} Recording{'s' if len(runs) != 1 else ''} (expected at least 2 to compare)")
        for i, r in enumerate(runs):
            if not isinstance(r, Recording):
                raise TypeError(f"Received: run {i + 1} is a {type(r).__name__} (expected a tfhist_magic Recording: watched, Recording.load or Recording.from_tensorboard)")
        if labels is None:
            labels = [f"run {i + 1}" for i in range(len(runs))]
        labels = [str(x) for x in labels]
        if len(labels) != len(runs):
            raise ValueError(f"Received: {len(labels)} labels for {len(runs)} runs (expected one label per run)")
        if len(set(labels)) != len(labels):
            dup = next(x for x in labels if labels.count(x) > 1)
            raise ValueError(f"Received: label {dup!r} twice (expected a different label for each run)")
        self.runs, self.labels = runs, labels
        self.colors = [RUN_COLORS[i % len(RUN_COLORS)] for i in range(len(runs))]
        self._match_names()
        self._tensors: dict[str, list[Matched]] = {}
        self.kind_spread: dict[str, float] = {}
        exact = True
        gap = 0
        for kind in KINDS:
            got = [self._measure(kind, key) for key in self._order[kind]]
            if not got:
                continue
            typical = [np.nanmean(m["sig"]) for m in got if np.isfinite(m["sig"]).any()]
            floor = self.kind_spread[kind] = float(np.median(typical)) if typical else 0.0
            out = []
            for m in got:
                steps = m["steps"]
                exact = exact and bool((steps == steps[:, [m["ref"]]]).all())
                gap = max(gap, int(np.abs(steps - steps[:, [m["ref"]]]).max(initial=0)))
                per = _scores(m["w1"], m["sig"], floor)
                whole = np.isfinite(per).all(axis=1)  # a step counts when every pair had finite values
                scores = np.where(whole, np.max(np.where(whole[:, None], per, 0.0), axis=1, initial=0.0), np.nan)
                score = float(np.nanmean(scores)) if whole.any() else float("nan")
                out.append(Matched(kind, m["key"], m["names"], m["ref"], m["idx"], steps, m["w1"], m["sig"], scores, score))
            self._tensors[kind] = out
        self.kinds = tuple(k for k in KINDS if k in self._tensors)
        self.exact_steps = exact
        self.steps_note = None if exact else (
            "The runs recorded different steps: each step of the run with the fewest snapshots is compared "
            f"with the nearest step each other run recorded (at most {gap} step{'s' if gap != 1 else ''} apart)."
        )

    def _match_names(self) -> None:
        """Name keys per run and kind: exact, or without each run's model name when that matches more."""
        def keys(strip: bool):
            out = []
            for rec in self.runs:
                p = _prefix(rec) if strip else None
                out.append({k: {(n[len(p) + 1 :] if p else n): n for n in rec.names(k)} for k in KINDS if k in rec.kinds})
            return out

        def shared(ks):
            return sum(len(set.intersection(*(set(k.get(kind, {})) for k in ks))) for kind in KINDS)

        exact, stripped = keys(False), keys(True)
        use = stripped if shared(stripped) > shared(exact) else exact
        prefixes = [_prefix(r) for r in self.runs]
        self.names_note = (
            "Tensors are matched by their names within the model (the models' own names "
            + ", ".join(repr(p) for p in prefixes if p)
            + " are left out)."
        ) if use is stripped else None
        self._keys = use
        self.only: dict[tuple[str, str], tuple[str, ...]] = {}
        self._order: dict[str, list[str]] = {}
        for kind in KINDS:
            every = [list(k.get(kind, {})) for k in use]
            allk = []
            for ks in every:
                allk += [x for x in ks if x not in allk]
            held = {x: tuple(self.labels[r] for r, ks in enumerate(use) if x in ks.get(kind, {})) for x in allk}
            self._order[kind] = [x for x in allk if len(held[x]) == len(self.runs)]
            for x in allk:
                if len(held[x]) < len(self.runs):
                    self.only[(kind, x)] = held[x]

    def _measure(self, kind: str, key: str) -> dict:
        """A shared tensor's steps matched, and each pair's W1 and spread at each of them."""
        names = tuple(self._keys[r][kind][key] for r in range(len(self.runs)))
        series = [rec.series(kind, n) for rec, n in zip(self.runs, names)]
        ref, idx = _match([s.steps for s in series])
        steps = np.stack([series[r].steps[idx[:, r]] for r in range(len(series))], axis=1)
        pairs = [(a, b) for a in range(len(series)) for b in range(a + 1, len(series))]
        w1 = np.full((idx.shape[0], len(pairs)), np.nan)
        sig = np.full_like(w1, np.nan)
        counts = [s.counts for s in series]
        for j in range(idx.shape[0]):
            for p, (a, b) in enumerate(pairs):
                ea, ca = series[a].edges[idx[j, a]], counts[a][idx[j, a]]
                eb, cb = series[b].edges[idx[j, b]], counts[b][idx[j, b]]
                w1[j, p] = wasserstein1(ea, ca, eb, cb)
                if np.isfinite(w1[j, p]):
                    sig[j, p] = spread(ea, ca, eb, cb)
        return {"key": key, "names": names, "ref": ref, "idx": idx, "steps": steps, "w1": w1, "sig": sig}

    # -- reading ---------------------------------------------------------------------------
    def tensors(self, kind: str) -> list[Matched]:
        """The tensors of ``kind`` every run holds, in the first run's order."""
        if kind not in KINDS:
            raise KeyError(f"Received: kind={kind!r} (expected one of {', '.join(KINDS)})")
        return list(self._tensors.get(kind, []))

    def matched(self, kind: str, name: str) -> Matched:
        """One shared tensor's match: names, steps compared, scores (see :class:`Matched`)."""
        for m in self._tensors.get(kind, []):
            if m.name == name:
                return m
        known = ", ".join(m.name for m in self._tensors.get(kind, [])) or "none"
        raise KeyError(f"Received: ({kind!r}, {name!r}); the runs share {kind}: {known}")

    def ranking(self, kind: str | None = None) -> list[tuple]:
        """``[(tensor, score), ...]`` for the tensors of ``kind`` every run holds, the most
        different first (ties and NaN scores in model order, NaN last). Without ``kind``,
        every kind's, with ``(kind, tensor)`` as the tensor."""
        kinds = [kind] if kind is not None else list(self.kinds)
        items = []
        for k in kinds:
            for i, m in enumerate(self.tensors(k)):
                items.append(((m.name if kind is not None else (k, m.name)), m.score, i))
        items.sort(key=lambda t: (np.isnan(t[1]), -t[1] if not np.isnan(t[1]) else 0.0, t[2]))
        return [(t, s) for t, s, _ in items]

    def series(self, kind: str, name: str) -> list:
        """The :class:`~tfhist_magic.recording.Series` of a shared tensor in each run."""
        m = self.matched(kind, name)
        return [rec.series(kind, n) for rec, n in zip(self.runs, m.names)]

    def models(self, run: int) -> dict:
        """``{tensor: model label in run}`` for the shared tensors (as the comparison names
        them) that belong to one of the run's models: where its model's scalar series
        (:data:`~tfhist_magic.constants.MODEL_SCALARS`, the global gradient norm) are."""
        rec = self.runs[run]
        of = rec.model_of()
        return {m.name: of[m.names[run]] for kind in self.kinds for m in self._tensors[kind] if m.names[run] in of}

    def tracks(self, picked: dict | None = None) -> list[tuple[dict, np.ndarray, np.ndarray]]:
        """Every run's scalar series drawn under the shared tensors, as ``(entry, steps,
        values)`` for a packet's ``track``: a tensor's (:data:`~tfhist_magic.constants.PROBES`
        of its kind: update ratio, update norm, distance from init, dead units, saturation)
        named as the comparison names the tensor, and its model's (``MODEL_SCALARS``, under
        the gradients) named by the model's label in that run, once per run and model; each
        entry says its ``run``. ``picked``: ``{(kind, name): rows of m.index kept}`` when a
        packet keeps only some compared steps; each series then keeps only the steps its
        run's kept snapshots have (without it: the whole series)."""
        out = []
        models = [self.models(r) for r in range(len(self.runs))]
        have = [{metric: set(rec.scalar_names(metric)) for metric in (*MODEL_SCALARS, *(m for ms in PROBES.values() for m in ms))} for rec in self.runs]
        kept: list[dict] = [{} for _ in self.runs]  # run -> {model: the steps its tensors' kept snapshots have}
        for kind in self.kinds:
            for m in self._tensors[kind]:
                at = None if picked is None else picked.get((kind, m.name))
                for r, (rec, name) in enumerate(zip(self.runs, m.names)):
                    keep = None if at is None else m.steps[at, r]
                    for metric in PROBES.get(kind, ()):
                        if name in have[r][metric]:
                            out.append(self._track(rec, metric, name, m.name, r, keep))
                    if keep is not None and m.name in models[r]:
                        kept[r].setdefault(models[r][m.name], set()).update(keep.tolist())
        for r, rec in enumerate(self.runs):
            for model in dict.fromkeys(models[r].values()):
                for metric in MODEL_SCALARS:
                    if model in have[r][metric]:
                        keep = None if picked is None else np.array(sorted(kept[r].get(model, ())), dtype=np.int64)
                        out.append(self._track(rec, metric, model, model, r, keep))
        return out

    @staticmethod
    def _track(rec, metric: str, name: str, shown: str, run: int, keep) -> tuple[dict, np.ndarray, np.ndarray]:
        steps, values = rec.scalar(metric, name)
        if keep is not None:
            at = np.isin(steps, keep)
            steps, values = steps[at], values[at]
        entry = {"metric": metric, "name": shown, "run": run, "after": None, "kept": int(steps.size), "recorded": int(steps.size)}
        return entry, steps, values

    def __len__(self) -> int:
        return sum(len(v) for v in self._tensors.values())

    # -- display ---------------------------------------------------------------------------
    def summary(self, top: int = 5) -> str:
        """Plain text: the runs, the notes, each kind's most different tensors, what is only in some runs."""
        lines = [f"tfhist compare: {' vs '.join(self.labels)} ({len(self)} shared tensors)"]
        for label, rec in zip(self.labels, self.runs):
            st = rec.steps
            lines.append(f"  {label}: {len(rec)} series, steps {st[0]}–{st[-1]}" if st.size else f"  {label}: nothing recorded")
        for note in (self.names_note, self.steps_note):
            if note:
                lines.append(note)
        lines.append("Score: Wasserstein-1 between the runs' histograms / their pooled std (at least the kind's median; 0 = identical, at most 2), mean over matched steps.")
        for kind in self.kinds:
            lines.append(f"{kind}, most different first:")
            for name, score in self.ranking(kind)[:top]:
                lines.append(f"  {score:7.4f}  {name}" if np.isfinite(score) else f"     —     {name}")
            rest = len(self.tensors(kind)) - top
            if rest > 0:
                lines.append(f"  … and {rest} more")
        if self.only:
            lines.append(f"Not in every run ({len(self.only)}, not ranked):")
            for (kind, name), held in list(self.only.items())[:10]:
                lines.append(f"  {kind} {name}: only in {', '.join(held)}")
            if len(self.only) > 10:
                lines.append(f"  … and {len(self.only) - 10} more")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.summary()

    def show(self, **kwargs):
        """Display the comparison's dashboard (saved in the notebook: it draws with no
        kernel), with a picture and the text beside it; in a terminal, the text."""
        from .view.comparing import show

        return show(self, **kwargs)

    def png(self) -> tuple[bytes, int]:
        """The static picture (PNG bytes) and the width to show it at."""
        from .view.static import compare_png

        return compare_png(self)

    def _repr_mimebundle_(self, include=None, exclude=None):
        from .view.comparing import SavedComparison

        return SavedComparison(self)._repr_mimebundle_(include, exclude)


def compare(*recordings, labels=None) -> Comparison:
    """Compare two or more Recordings (watched now, ``Recording.load``-ed or
    ``Recording.from_tensorboard``-read): ``cmp.ranking(kind)`` orders their shared
    tensors by how far the runs' distributions differ; the object displays as one
    dashboard of every tensor in every run.

    Args:
        *recordings: the runs, at least two.
        labels: one label per run (default ``run 1``, ``run 2``, ...).

    Returns:
        A :class:`Comparison`.

    Raises:
        ValueError: fewer than two runs, or labels that do not name each run once.
        TypeError: a run that is not a Recording.

    Example::

        cmp = tfhist_magic.compare(rec_he, rec_zeros, labels=["he", "zeros"])
        cmp.ranking("weights")[:3]
    """
    return Comparison(recordings, labels)
