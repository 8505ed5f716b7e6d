"""The patches every Keras flavor installs on an entered engine, backend-neutral.

Owns the shape of each patch (undone by ``engine.close()`` through ``engine.patches``):

* :func:`layer_calls`: a layer method (``__call__``, ``stateless_call``) observed by
  ``engine.layer_call``;
* :func:`updates`: an optimizer update observed before it runs
  (``engine.record_update``) and after (``engine.after_update``, with what the first
  returned);
* :class:`Claims` and :func:`training`: ``fit`` / ``train_on_batch`` claim a model the
  first time it trains in the watch (its compiled train function is set aside, so the
  next call traces one with the recording, and put back on exit), and ``fit`` gets the
  epoch marker first in its callbacks (epoch hooks only: Keras keeps its async
  dispatch); ``compile`` inside the watch keeps the model's new state.

The flavors (``_keras`` for Keras 3 / tf_keras on TensorFlow, ``jax_keras`` for Keras 3
on JAX) say which classes and methods; nothing here imports TensorFlow or JAX.
"""

from __future__ import annotations

import contextlib
import functools
import inspect

__all__ = ["Claims", "layer_calls", "updates", "training", "marker"]


def _plain(fn):
    return fn


def _original(cls, meth: str):
    return cls.__dict__.get(meth) or getattr(cls, meth)


def layer_calls(engine, cls, meth: str, wrap=_plain) -> None:
    """Observe ``cls.meth`` (a layer call) through ``engine.layer_call``; ``wrap``
    decorates the patch (TensorFlow: not converted by AutoGraph)."""
    orig = getattr(cls, meth)

    @functools.wraps(orig)
    @wrap
    def call(layer, *args, **kwargs):
        return engine.layer_call(layer, functools.partial(orig, layer), args, kwargs)

    engine.patches.set(cls, meth, call)


def around(plan, opt):
    """What ``plan`` observes while ``opt``'s update runs (``plan.around(opt)``; nothing
    for a plan without it, or none)."""
    hook = getattr(plan, "around", None)
    return hook(opt) if hook is not None else contextlib.nullcontext()


def updates(engine, cls, meth: str, unpack, wrap=_plain) -> None:
    """Observe the update ``cls.meth``: ``unpack(opt, *args, **kwargs)`` returns
    ``(grads, variables, loss_scale, args, kwargs)`` of the update about to run, or None;
    ``engine.record_update`` adds its recording and returns what ``engine.after_update``
    measures once it ran."""
    orig = _original(cls, meth)

    @functools.wraps(orig)
    @wrap
    def update(opt, *args, **kwargs):
        if not engine.enter_update():  # an update inside an update (a wrapped optimizer)
            return orig(opt, *args, **kwargs)
        try:
            plan = None
            got = unpack(opt, *args, **kwargs)
            if got is not None:
                grads, variables, scale, args, kwargs = got
                if grads and len(grads) == len(variables):
                    plan = engine.record_update(opt, grads, variables, scale=scale)
            with around(plan, opt):
                out = orig(opt, *args, **kwargs)
            if plan is not None:
                engine.after_update(plan)  # the update scalars, from what the update did
            return out
        finally:
            engine.exit_update()

    engine.patches.set(cls, meth, update)


#: The epoch-marker class of each Keras (its ``Callback`` class -> the marker's).
_MARKERS: dict = {}


def marker(Callback, engine, model, restores: bool):
    """A callback that marks each epoch's first step (``engine.epoch_begins``) and, when a
    later callback restores weights at the end (``restores``: EarlyStopping with
    ``restore_best_weights``), records the last update's weights before it does
    (``engine.end_fit``).

    One class per Keras, closing over nothing: TensorFlow's ``nest`` keeps every type it
    sees for the life of the process (tf_keras passes the callbacks through it), so a
    class made per ``fit`` kept the engine it closed over, and its Recording, forever."""
    cls = _MARKERS.get(Callback)
    if cls is None:

        class _EpochMarker(Callback):
            def __init__(self, engine, model, restores):
                super().__init__()
                self._tfhist = (engine, model, restores)

            def on_epoch_begin(self, epoch, logs=None):
                engine, model, _ = self._tfhist
                engine.epoch_begins(model, epoch)

            def on_train_end(self, logs=None):
                engine, model, restores = self._tfhist
                if restores:
                    engine.end_fit(model)

        cls = _MARKERS[Callback] = _EpochMarker
    return cls(engine, model, restores)


class Claims:
    """The models claimed in a watch and what was set aside for each: put back on close
    (a model recompiled inside the watch keeps its new state).

    Args:
        compiled: the attributes holding a model's compiled train function(s).
        on_claim: ``fn(model)`` once a model is claimed (after its functions are set aside).
    """

    def __init__(self, engine, compiled=("train_function",), on_claim=None):
        self.engine = engine
        self.compiled = tuple(compiled)
        self.on_claim = on_claim
        self.saved: dict[int, tuple] = {}
        self.recompiled: set[int] = set()
        engine.on_close.append(self.restore)

    def __contains__(self, model) -> bool:
        return id(model) in self.saved

    def claim(self, model) -> None:
        targets = self.engine.targets
        if id(model) in self.saved or (targets is not None and not any(model is t for t in targets)):
            return
        self.saved[id(model)] = (model, {a: getattr(model, a) for a in self.compiled if hasattr(model, a)})
        model.train_function = None  # traced again, with the recording
        if self.on_claim is not None:
            self.on_claim(model)

    def restore(self) -> None:
        for mid, (model, saved) in self.saved.items():
            for attr, fn in saved.items():
                setattr(model, attr, None if mid in self.recompiled else fn)
        self.saved.clear()


def training(engine, Model, Callback, claims: Claims) -> None:
    """``Model.fit`` / ``train_on_batch`` claim the model (``fit`` with the epoch marker
    first in its callbacks) and deliver what is left when they return; ``Model.compile``
    notes a recompile."""
    for name in ("fit", "train_on_batch"):
        _train_method(engine, Model, Callback, claims, name)

    orig_compile = Model.compile

    @functools.wraps(orig_compile)
    def compile(model, *args, **kwargs):
        claims.recompiled.add(id(model))
        return orig_compile(model, *args, **kwargs)

    engine.patches.set(Model, "compile", compile)


def _train_method(engine, Model, Callback, claims: Claims, name: str) -> None:
    orig = getattr(Model, name)
    sig = inspect.signature(orig)

    @functools.wraps(orig)
    def method(model, *args, **kwargs):
        claims.claim(model)
        if name == "fit":
            ba = sig.bind(model, *args, **kwargs)
            cbs = list(ba.arguments.get("callbacks") or [])
            restores = any(getattr(cb, "restore_best_weights", False) is True for cb in cbs)
            ba.arguments["callbacks"] = [marker(Callback, engine, model, restores), *cbs]
            args, kwargs = ba.args[1:], ba.kwargs
        try:
            return orig(model, *args, **kwargs)
        finally:
            engine.flush()

    engine.patches.set(Model, name, method)
