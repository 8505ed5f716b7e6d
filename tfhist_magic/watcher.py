"""``watch(...)``: record the models that train inside a ``with`` block.

The same engine the ``%%tfhist_watch`` magic uses, for scripts and tests::

    with tfhist_magic.watch(model, every=1) as rec:
        model.fit(x, y)
    rec.series("grads", rec.names("grads")[0]).counts
"""

from __future__ import annotations

import json
import os

from .histogram import MAX_BINS
from .recording import KINDS, Recording

__all__ = ["DEFAULT_EVERY", "Watch", "watch", "snapshot", "parse_kinds", "is_model", "keras_backend", "built_under", "unsupported"]

#: Default sampling period in optimizer steps, picked from ``bench/`` so that watching
#: all three kinds costs about as much as the cheapest peer does for weights alone.
DEFAULT_EVERY = 50


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


def _check_int(name: str, value, low: int = 1, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
        expect = f">= {low}" if high is None else f"from {low} to {high}"
        raise ValueError(f"Received: {name}={value!r} (expected an integer {expect}).")
    return value


def keras_backend() -> str | None:
    """The backend Keras 3 runs on, once ``keras`` is imported (None before)."""
    import sys

    if "keras" not in sys.modules:
        return None
    try:
        return sys.modules["keras"].backend.backend()
    except Exception:  # a partly imported keras
        return None


def built_under(obj) -> str | None:
    """The Keras 3 backend ``obj`` (a model or layer) was built under, from its class;
    None for anything else."""
    for cls in type(obj).__mro__:
        parts = cls.__module__.split(".")
        if len(parts) > 3 and parts[:3] == ["keras", "src", "backend"]:
            return parts[3]
    return None


def unsupported(obj) -> str | None:
    """Why ``obj``, a Keras 3 model, cannot be watched now (one sentence), or None: built
    under another backend than the one Keras runs on, or on a backend not supported yet."""
    built, now = built_under(obj), keras_backend()
    if built is None:
        return None
    if now is not None and built != now:
        return (
            f"Received: a Keras model built under the {built} backend while Keras now runs on the {now} backend "
            f"(expected a model built under {now}: build it again, or watch it where KERAS_BACKEND={built})."
        )
    if built not in _SUPPORTED_BACKENDS:
        return f"Received: a Keras model on the {built} backend, which tfhist_magic does not support yet (expected KERAS_BACKEND=tensorflow or jax)."
    return None


#: The Keras 3 backends a watch can record.
_SUPPORTED_BACKENDS = ("tensorflow", "jax")


def _check_backend(error=ValueError) -> None:
    """Refuse a Keras backend the watch cannot record (the PyTorch one, for now)."""
    now = keras_backend()
    if now is not None and now not in _SUPPORTED_BACKENDS:
        raise error(f"Received: KERAS_BACKEND={now}, which tfhist_magic does not support yet (expected tensorflow or jax).")


def _flavors() -> list:
    """The Keras capture modules that apply now: Keras 3 (TensorFlow or JAX backend) once
    ``keras`` is imported, tf_keras once imported or asked for (TF_USE_LEGACY_KERAS)."""
    import os
    import sys

    out = []
    backend = keras_backend()
    if backend == "tensorflow":
        from .capture import keras3

        out.append(keras3.FLAVOR)
    elif backend == "jax":
        from .capture import jax_keras

        out.append(jax_keras.FLAVOR)
    legacy = os.environ.get("TF_USE_LEGACY_KERAS", "").lower() in ("1", "true", "yes")
    if "tf_keras" in sys.modules or legacy:
        try:
            from .capture import tf_keras
        except ImportError:
            if legacy:
                raise RuntimeError("TF_USE_LEGACY_KERAS is set but tf_keras is not installed: pip install tfhist-magic[legacy].") from None
        else:
            out.append(tf_keras.FLAVOR)
    return out


def is_model(obj) -> bool:
    """True for a model this package can watch (Keras 3 on TensorFlow or JAX, or tf_keras)."""
    return any(f.is_model(obj) for f in _flavors())


def is_session(obj) -> bool:
    """True for a ``tf.compat.v1`` Session (of any kind)."""
    import sys

    if "tensorflow" not in sys.modules:
        return False
    from .capture.session import is_session as _is

    return _is(obj)


_ACTIVE: list = []


def _chief_task() -> bool:
    """What ``TF_CONFIG`` says (as ``tf.distribute`` reads it): True unless this process is
    a multi-worker task other than the chief (the ``chief`` task, else worker 0)."""
    try:
        cfg = json.loads(os.environ.get("TF_CONFIG") or "{}")
        task, cluster = cfg.get("task") or {}, cfg.get("cluster") or {}
    except (ValueError, AttributeError):
        return True
    if not task or not cluster:
        return True
    kind, index = task.get("type"), int(task.get("index", 0))
    if kind == "chief":
        return True
    return kind == "worker" and index == 0 and "chief" not in cluster


class Watch:
    """Context manager behind :func:`watch`; entering it returns the Recording."""

    def __init__(self, *targets, every: int | None = None, kinds=None, bins: int = 64, max_snapshots: int = 256, init_distance: bool = True):
        self.every = _check_int("every", DEFAULT_EVERY if every is None else every)
        self.init_distance = bool(init_distance)
        self.bins = _check_int("bins", bins, 1, MAX_BINS)
        self.kinds = parse_kinds(kinds)
        self.targets = list(targets)
        _check_backend()
        for t in self.targets:
            why = unsupported(t)
            if why is not None:
                raise ValueError(why)
            if not (is_model(t) or is_session(t)):
                raise ValueError(f"Received: {type(t).__name__} object (expected a Keras model or a tf.compat.v1 Session to watch).")
        self.recording = Recording(bins=self.bins, max_snapshots=max_snapshots)
        self._engines: list = []  # (flavor module, engine)
        self._sessions = None

    def __enter__(self) -> Recording:
        if _ACTIVE:
            raise RuntimeError("A tfhist watch is already active; watches cannot be nested.")
        try:  # Keras 3 comes with TensorFlow: watch the models the cell may create
            import keras  # noqa: F401
        except Exception:  # e.g. KERAS_BACKEND names a backend that is not installed
            pass
        _check_backend(RuntimeError)  # Keras imported just now (the magic says it in one line)
        import sys

        _ACTIVE.append(self)
        try:
            for flavor in _flavors():
                mine = [t for t in self.targets if flavor.is_model(t)]
                engine = flavor.make_engine(self.recording, every=self.every, kinds=self.kinds, targets=mine if self.targets else None, init_distance=self.init_distance)
                engine.__enter__()
                self._engines.append((flavor, engine))
                flavor.attach(engine)
            sessions = [t for t in self.targets if is_session(t)]
            # No TensorFlow imported (Keras on JAX): no Session can run; TF stays unimported.
            if sessions or (not self.targets and "tensorflow" in sys.modules):
                from .capture.session import SessionCapture

                self._sessions = SessionCapture(self.recording, every=self.every, kinds=self.kinds, targets=sessions or None, init_distance=self.init_distance)
                self._sessions.__enter__()
        except BaseException:
            self._close()
            raise
        return self.recording

    def _close(self) -> None:
        """Close every capture (each delivers what it holds and undoes its patches), even
        when one of them fails; then the first failure is raised."""
        failed = None
        for capture in [e for _, e in reversed(self._engines)] + ([self._sessions] if self._sessions is not None else []):
            try:
                capture.close()
            except BaseException as e:  # noqa: BLE001 - the others are closed first
                failed = failed or e
        if self in _ACTIVE:
            _ACTIVE.remove(self)
        if failed is not None:
            raise failed

    def __exit__(self, *exc) -> bool:
        self._close()
        return False

    @property
    def chief(self) -> bool:
        """False on a ``MultiWorkerMirroredStrategy`` worker that is not the chief: it takes
        part in the merged histograms' reductions but records and shows nothing."""
        return _chief_task() and all(getattr(e, "chief", True) for _, e in self._engines)

    def _engine_for(self, model):
        for flavor, engine in self._engines:
            if flavor.is_model(model):
                return flavor, engine
        return None, None

    def untrained_targets(self) -> list:
        """The targets that were not trained (no update recorded) inside the watch."""
        out = []
        for t in self.targets:
            if is_session(t):
                if self._sessions is None or not self._sessions.trained(t):
                    out.append(t)
                continue
            flavor, engine = self._engine_for(t)
            ids = {id(v) for v in flavor.model_vars(t)} if flavor else set()
            if engine is None or not (ids & engine.trained_var_ids) or not len(self.recording):
                out.append(t)
        return out

    def recorded_names(self, target) -> list | None:
        """The tensor names this watch recorded for ``target`` (a model or a Session)."""
        if is_session(target):
            return self._sessions.recorded_names(target) if self._sessions else None
        _, engine = self._engine_for(target)
        ref = engine.seen_models.get(id(target)) if engine else None
        if ref is None or ref() is not target:
            return None
        return self.recording.models.get(engine.model_labels.get(id(target)))

    def last_feed(self, sess):
        """The feed_dict of ``sess``'s last watched run (None if none)."""
        return self._sessions.last_feed.get(id(sess)) if self._sessions else None

    def seen(self) -> "Seen":
        """What ``%tfhist`` needs of this watch once it is over (no buffers, no
        variables, no graphs: only names, and the last feed of each live session)."""
        names, feeds = {}, {}
        for _, engine in self._engines:
            for mid, ref in engine.seen_models.items():
                if ref() is not None:
                    names[mid] = (ref, self.recording.models.get(engine.model_labels.get(mid)))
        if self._sessions is not None:
            for sid, ref in self._sessions.sessions().items():
                sess = ref()
                if sess is not None:
                    names[sid] = (ref, self._sessions.recorded_names(sess))
                    if sid in self._sessions.last_feed:
                        feeds[sid] = (ref, self._sessions.last_feed[sid])
        return Seen(names, feeds)

    def set_live(self, seconds: float | None) -> None:
        """Read the device buffers at least every ``seconds`` while the block runs."""
        for _, engine in self._engines:
            engine.live_interval = seconds


class Seen:
    """The models and Sessions one finished watch recorded, held weakly."""

    def __init__(self, names: dict, feeds: dict):
        self._names = names  # id -> (weakref, [tensor names])
        self._feeds = feeds  # id(session) -> (weakref, feed_dict)

    def recorded_names(self, target) -> list | None:
        ref, names = self._names.get(id(target), (None, None))
        return names if ref is not None and ref() is target else None

    def last_feed(self, sess):
        ref, feed = self._feeds.get(id(sess), (None, None))
        return feed if ref is not None and ref() is sess else None


def watch(*targets, every: int | None = None, kinds=None, bins: int = 64, max_snapshots: int = 256, init_distance: bool = True) -> Watch:
    """Record histograms of every model that trains inside the ``with`` block.

    Args:
        *targets: models or tf.compat.v1 Sessions to restrict the recording to; none
            records every model and session that trains in the block.
        every: record every ``every``-th optimizer step (step 0 always); default
            :data:`DEFAULT_EVERY`.
        kinds: ``"activations"``, ``"weights"``, ``"grads"``, several, or ``"all"``.
        bins: bins per histogram.
        max_snapshots: snapshots kept per tensor (first and latest always kept).
        init_distance: measure each weight's distance from its value at the first
            sampled step (``init_distance``): the watch keeps one copy of the trainable
            weights on the device for that; False saves it.

    Returns:
        A context manager whose ``__enter__`` returns the :class:`Recording`.

    Raises:
        ValueError: for a bad ``every``/``bins``/``kinds`` or a target that is not a model.
    """
    return Watch(*targets, every=every, kinds=kinds, bins=bins, max_snapshots=max_snapshots, init_distance=init_distance)


def snapshot(target, *, kinds=None, x=None, y=None, feed=None, bins: int = 64) -> Recording:
    """A fresh Recording of ``target`` at step 0. Changes nothing in it.

    For a Keras model: weights now; activations and gradients of an inference-mode pass
    on ``x``/``y`` when given. For a ``tf.compat.v1`` Session: its graph's trainable
    variables now; activations and gradients with ``feed`` (a feed_dict) when given.
    """
    rec = Recording(bins=_check_int("bins", bins, 1, MAX_BINS))
    kinds = parse_kinds(kinds)
    why = unsupported(target)
    if why is not None:
        raise ValueError(why)
    if is_session(target):
        from .capture.session import snapshot as session_snapshot

        return session_snapshot(target, rec, kinds=kinds, feed=feed)
    for flavor in _flavors():
        if flavor.is_model(target):
            return flavor.snapshot(target, rec, kinds=kinds, x=x, y=y)
    raise ValueError(f"Received: {type(target).__name__} object (expected a Keras model or a tf.compat.v1 Session).")
