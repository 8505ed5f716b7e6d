"""A ring's own functions, traced once per structure in a process and shared by every watch.

Outside XLA, what a recorded update adds to its training step lives in its ring's own
``tf.function``\\ s (:mod:`._traced`: the sampled branch before the update, the update
scalars of each group after it). Tracing them cost each new trace of the step about
0.35 s CPU on a 15-tensor MLP and 1.7 s on a 267-tensor Transformer (2 CPU cores).
Here they read every variable they touch as an *argument*: the ring's buffers, the
first non-finite step, the origins' buffers and the model's weights. So one
trace serves every watch whose update has the same structure: a cell run again, a fresh
model of the same layers and shapes. Such a watch still pays the runtime's instantiation of
its step, but no Python tracing for these functions. A new structure (other layers,
shapes or dtypes, other kinds, another ``every``) pays once.

Owns :class:`State` (which variables a function reads, in a fixed order) and the
process-wide cache of shared functions (:func:`shared`), which holds no watch's objects
between calls. A function found to have captured anything it was not handed (a
variable the walk missed, a tensor of the step that traced it, a value made outside it:
:attr:`Shared.leaked`) is dropped from the cache and its structure is never shared
again; the rings that hold it trace functions of their own instead.
"""

from __future__ import annotations

import threading

import tensorflow as tf

from . import _compat, _many, _ops, _scalars
from ._lru import Lru
from ._update import own_function

__all__ = ["State", "Shared", "LEAKED", "shared", "own_or_shared", "clear", "knobs"]


class State:
    """The variables a function reads, in the order the walk met them (one entry per
    variable), handed to it as arguments: TensorFlow binds a read of a variable that is
    also an argument to that argument, so the function's body reads its own objects'
    variables and the trace reads whichever variables a later call hands on. ``layout``
    (which entries each object holds) is part of the structure a shared trace is keyed
    by. ``tf_var(v)``: the ``tf.Variable`` behind a framework's variable (Keras 3's
    ``v.value``). ``shareable``: every entry is a plain resource variable (not an
    AutoCast, mirrored or TF1 variable, which stay with a watch's own functions)."""

    def __init__(self, tf_var=None):
        self.tf_var = tf_var or (lambda v: v)
        self.vars: list = []
        self.layout: list = []
        self.shareable = True
        self._at: dict = {}

    def _index(self, v) -> int:
        i = self._at.get(id(v))
        if i is None:
            t = self.tf_var(v)
            i = self._at.get(id(t))
            if i is None:
                i = len(self.vars)
                self.vars.append(t)
                self.shareable &= type(t) is _compat.ResourceVariable
            self._at[id(t)] = i
            self._at[id(v)] = i
        return i

    def add(self, value) -> None:
        """A variable, a list of variables, or None (part of the structure too)."""
        if value is None:
            self.layout.append(None)
        elif isinstance(value, (list, tuple)):
            self.layout.append(tuple(self._index(v) for v in value))
        else:
            self.layout.append(self._index(value))

    def index(self, v) -> int:
        """Where variable ``v`` is among :attr:`vars` (it must have been met)."""
        return self._at[id(v)]


class Shared:
    """One shared function under ``key``: :meth:`call` runs the ``tf.function`` of
    ``body(*args)`` with ``state``'s variables as its last argument, traced (when its
    arguments' types are new) with ``body`` of this call, which reads ``state``'s
    variables. Calls take turns (a lock), so a trace is always made with its caller's
    body. Nothing of a call is kept after it."""

    def __init__(self, key):
        self.key = key
        self.leaked = False
        self._lock = threading.Lock()
        self._body = None  # the body of the call being made
        me = self

        def run(*args):
            *args, variables = args
            out = me._body(*args)
            graph = tf.compat.v1.get_default_graph()
            if _captured_others(graph, variables):
                me.leaked = True
                _forget(me)
            _compat.unwatch(graph, variables)  # arguments: the trace holds none of them
            return out

        self.fn = own_function(run)

    def call(self, body, state: State, *args):
        """``body(*args)`` through the shared function; :data:`LEAKED` (not run) once
        the function was found to capture what it was not handed."""
        with self._lock:
            if self.leaked:
                return LEAKED
            self._body = body
            try:
                return self.fn(*args, list(state.vars))  # a trace that leaks now is still this caller's own
            finally:
                self._body = None


#: What :meth:`Shared.call` returns instead of running a function that leaked.
LEAKED = object()


def _captured_others(graph, variables) -> bool:
    """Whether ``graph`` (a function's, as traced) captured anything but its argument
    ``variables``: a variable the walk missed, a tensor of the step that traced it or a
    value made outside the function, which a shared trace would read in every later watch."""
    mine = {id(v.handle) for v in variables}
    return any(id(outer) not in mine for outer, _ in graph.captures)


#: The shared functions (least recently used dropped first).
SHARED = Lru(32)
_LEAKED: set = set()  # keys whose trace captured what it was not handed: never shared


def shared(key) -> Shared | None:
    """The process's shared function under ``key`` (made on first use); None for a key
    whose trace was found to capture what it was not handed."""
    with SHARED.lock:
        return None if key in _LEAKED else SHARED.get(key, lambda: Shared(key))


def _forget(sh: Shared) -> None:
    """Drop ``sh``, which captured what it was not handed, and never share its key again."""
    with SHARED.lock:
        _LEAKED.add(sh.key)
        SHARED.drop(sh.key, sh)


def _spec(v) -> tuple:
    shape = tf.TensorShape(v.shape)
    return (None if shape.rank is None else tuple(shape.as_list()), tf.as_dtype(v.dtype).name, bool(v.trainable))


class _OwnOrShared:
    """``body`` as a callable for a ring: the shared function it was handed, called with
    ``state``'s variables, until that function turns out to have captured what it was not
    handed; from then on a ``tf.function`` of this ring's own."""

    def __init__(self, body, state: State, fn: Shared | None):
        self.body, self.state, self.shared = body, state, fn
        self.own = None

    def __call__(self, *args):
        if self.shared is not None:
            out = self.shared.call(self.body, self.state, *args)
            if out is not LEAKED:
                return out
            self.shared = None  # let the leaked function go
        if self.own is None:
            self.own = own_function(self.body)
        return self.own(*args)


def own_or_shared(body, state: State, key) -> _OwnOrShared:
    """``body`` as a callable for a ring: the shared function under ``key`` (beside the
    variables' shapes, dtypes and trainability, which the trace bakes in), or the ring's
    own where that function captured what it was not handed."""
    return _OwnOrShared(body, state, shared(key + (tuple(_spec(v) for v in state.vars), knobs())))


def clear() -> None:
    """Forget every shared function (the next watch of each structure traces again)."""
    with SHARED.lock:
        SHARED.clear()
        _LEAKED.clear()


def knobs() -> tuple:
    """The module thresholds the functions' bodies read while they trace: part of every key."""
    return (_many.CHUNK, _many.SMALL_MAX, _ops.SMALL_MAX, _ops._STACK_MAX, _scalars.LONG, _scalars.CHUNK, _scalars.SMALL_MAX)
