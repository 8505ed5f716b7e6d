"""``watch(...)``: record the models that train inside a ``with`` block.

The same engine the ``%%tfhist_watch`` magic uses, for scripts and tests::

    with tfhist_magic.watch(model, every=1) as rec:
        model.fit(x, y)
    rec.series("grads", rec.names("grads")[0]).counts
"""

from __future__ import annotations

from .recording import KINDS, Recording

__all__ = ["DEFAULT_EVERY", "Watch", "watch", "snapshot", "parse_kinds", "is_model"]

#: Default sampling period in optimizer steps, picked from ``bench/`` so that watching
#: all three kinds costs about as much as the cheapest peer does for weights alone.
DEFAULT_EVERY = 10


def parse_kinds(kinds) -> tuple[str, ...]:
    """Normalise ``kinds`` (None, ``"all"``, a kind, or several) to a tuple of kinds.

    Raises:
        ValueError: for an unknown kind, naming it and the accepted ones.
    """
    if kinds is None:
        return KINDS
    if isinstance(kinds, str):
        kinds = [kinds]
    out = []
    for k in kinds:
        if k == "all":
            return KINDS
        if k not in KINDS:
            raise ValueError(f"Unknown kind {k!r}: expected one of {', '.join(KINDS)} or all.")
        if k not in out:
            out.append(k)
    return tuple(kk for kk in KINDS if kk in out)


def _check_int(name: str, value, low: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"Received: {name}={value!r} (expected an integer >= {low}).")
    return value


def is_model(obj) -> bool:
    """True for a model this package can watch (Keras 3 on TensorFlow)."""
    import sys

    if "keras" not in sys.modules:
        return False
    from .capture import keras3

    return keras3.is_model(obj)


def _keras_ready() -> bool:
    try:
        import keras
    except ImportError:  # pragma: no cover - keras comes with tensorflow
        return False
    return keras.backend.backend() == "tensorflow"


class Watch:
    """Context manager behind :func:`watch`; entering it returns the Recording."""

    def __init__(self, *targets, every: int | None = None, kinds=None, bins: int = 64, max_snapshots: int = 256):
        self.every = _check_int("every", DEFAULT_EVERY if every is None else every)
        self.bins = _check_int("bins", bins)
        self.kinds = parse_kinds(kinds)
        self.targets = list(targets)
        for t in self.targets:
            if not is_model(t):
                raise ValueError(f"Received: {type(t).__name__} object (expected a Keras 3 model to watch).")
        self.recording = Recording(bins=self.bins, max_snapshots=max_snapshots)
        self._engine = None

    def __enter__(self) -> Recording:
        if not _keras_ready():
            import keras

            raise RuntimeError(f"tfhist_magic records Keras 3 models on the TensorFlow backend; this Keras runs on {keras.backend.backend()!r}.")
        from .capture import keras3

        engine = keras3.make_engine(self.recording, every=self.every, kinds=self.kinds, targets=self.targets or None)
        engine.__enter__()
        try:
            keras3.attach(engine)
        except BaseException:
            engine.close()
            raise
        self._engine = engine
        return self.recording

    def __exit__(self, *exc) -> bool:
        if self._engine is not None:
            self._engine.close()
        return False

    @property
    def engine(self):
        return self._engine

    def untrained_targets(self) -> list:
        """The targets none of whose variables were updated inside the watch."""
        trained = self._engine.trained_var_ids if self._engine else set()
        from .capture import keras3

        out = []
        for t in self.targets:
            ids = {id(v) for v in keras3.model_vars(t)}
            names = set()
            for kind in self.recording.kinds:
                names.update(self.recording.names(kind))
            if not (ids & trained) or not len(self.recording):
                out.append(t)
        return out

    def recorded(self, model) -> bool:
        """True if ``model``'s updates were recorded by this watch."""
        ref = self._engine.seen_models.get(id(model)) if self._engine else None
        return ref is not None and ref() is model

    def set_live(self, seconds: float | None) -> None:
        """Read the device buffers at least every ``seconds`` while the block runs."""
        if self._engine is not None:
            self._engine.live_interval = seconds


def watch(*targets, every: int | None = None, kinds=None, bins: int = 64, max_snapshots: int = 256) -> Watch:
    """Record histograms of every model that trains inside the ``with`` block.

    Args:
        *targets: models to restrict the recording to; none records every model.
        every: record every ``every``-th optimizer step (step 0 always); default
            :data:`DEFAULT_EVERY`.
        kinds: ``"activations"``, ``"weights"``, ``"grads"``, several, or ``"all"``.
        bins: bins per histogram.
        max_snapshots: snapshots kept per tensor (first and latest always kept).

    Returns:
        A context manager whose ``__enter__`` returns the :class:`Recording`.

    Raises:
        ValueError: for a bad ``every``/``bins``/``kinds`` or a target that is not a model.
    """
    return Watch(*targets, every=every, kinds=kinds, bins=bins, max_snapshots=max_snapshots)


def snapshot(model, *, kinds=None, x=None, y=None, bins: int = 64) -> Recording:
    """A fresh Recording of ``model`` at step 0 (weights now; activations and gradients
    of an inference-mode pass on ``x``/``y`` when given). Changes nothing in the model."""
    if not is_model(model):
        raise ValueError(f"Received: {type(model).__name__} object (expected a Keras 3 model).")
    from .capture import keras3

    rec = Recording(bins=_check_int("bins", bins))
    return keras3.snapshot(model, rec, kinds=parse_kinds(kinds), x=x, y=y)
