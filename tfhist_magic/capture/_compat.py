"""Every private TensorFlow / Keras API the capture relies on, in one place.

Tested with TensorFlow 2.16–2.21, Keras 3.x (3.15) and tf_keras 2.16–2.21 (the bounds
in ``pyproject.toml``; CI installs the newest allowed). When one of these moves in a
new release, this module is the one to change.

* ``Function``: ``tensorflow.python.eager.polymorphic_function`` — the class whose
  ``__call__`` the engine wraps, and its trace caches (``_function_cache``,
  ``_variable_creation_config``, ``_no_variable_creation_config``), swapped for a watch;
  ``_concrete_variable_creation_fn`` (the first trace), dropped with the watch's traces.
* ``forget_custom_gradients``: ``ops.gradient_registry._registry``, the process-wide
  registry where every graph-mode ``tf.custom_gradient`` registers its gradient
  function (``CustomGradient-<uid>``, closing over the traced graph's tensors), never
  unregistered by TensorFlow.
* ``in_xla_context``: ``control_flow_util.GraphOrParentsInXlaContext``.
* ``buffer_variable``: ``resource_variable_ops.ResourceVariable`` made directly.
* ``function_call_config``: ``context().function_call_options``.
* ``NOINLINE``: the ``_noinline`` function attribute (``experimental_attributes``);
  ``shared_constants``: ``ops._create_graph_constant``.
* ``op_order``: ``Operation._id``; ``ref_variable_tensor``: ``RefVariable._ref()``;
  ``session_closed``: ``BaseSession._closed``.
* ``tape_active``: ``tensorflow.python.eager.record.could_possibly_record``.
* ``unwatch``: ``FuncGraph._watched_variables``; ``ResourceVariable``: the plain
  resource variable class (``resource_variable_ops``).
* ``fetch_mapper``: ``tensorflow.python.client.session._FetchMapper``.
* ``keras3_optimizer_base`` / ``keras3_trainable_variables``:
  ``keras.src.optimizers.base_optimizer.BaseOptimizer`` and its ``_trainable_variables``.
* ``tf_keras_optimizer_bases``: ``tf_keras.src.optimizers`` (both optimizer families).
* ``keras3_tf_optimizer``: ``keras.src.backend.tensorflow.optimizer.TFOptimizer`` and its
  cross-replica update ``_distributed_tf_update_step`` (``KERAS3_DISTRIBUTED_UPDATE``);
  tf_keras' ``_distributed_apply_gradients_fn`` (``TF_KERAS_DISTRIBUTED_APPLY``) and
  ``_distributed_apply`` (legacy, ``TF_KERAS_LEGACY_DISTRIBUTED_APPLY``).
* ``strategy_merges``: ``tf.__internal__.distribute.strategy_supports_no_merge_call``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import threading

import numpy as np

from tensorflow.core.function.polymorphism import function_cache as _function_cache
from tensorflow.core.protobuf import config_pb2
from tensorflow.python.client import session as _session
from tensorflow.python.eager import context as _context
from tensorflow.python.eager import record as _record
from tensorflow.python.eager.polymorphic_function import polymorphic_function as _pf
from tensorflow.python.framework import dtypes as _dtypes
from tensorflow.python.framework import ops as _ops
from tensorflow.python.ops import control_flow_util as _cfu
from tensorflow.python.ops import resource_variable_ops as _rvo
from tensorflow.python.util import nest as _nest

from . import _lru

__all__ = [
    "Function",
    "mark_own",
    "NO_GRAPPLER",
    "BaseSession",
    "fetch_mapper",
    "in_xla_context",
    "buffer_variable",
    "function_call_config",
    "NOINLINE",
    "shared_constants",
    "cached_function",
    "with_shared_constants",
    "op_order",
    "ref_variable_tensor",
    "session_closed",
    "tape_active",
    "TraceSwap",
    "forget_custom_gradients",
    "keras3_optimizer_base",
    "keras3_trainable_variables",
    "keras3_tf_optimizer",
    "KERAS3_DISTRIBUTED_UPDATE",
    "strategy_merges",
    "tf_keras_optimizer_bases",
    "TF_KERAS_DISTRIBUTED_APPLY",
    "TF_KERAS_LEGACY_DISTRIBUTED_APPLY",
]

#: The ``tf.function`` class (``tf.function(...)`` returns instances of it).
Function = _pf.Function
#: The Session base class (``Session``, ``InteractiveSession``, monitored sessions).
BaseSession = _session.BaseSession


def mark_own(fn):
    """Mark ``fn`` (a tf.function this package made) as its own: a watch never swaps its
    traces. On the object, not by id, so a freed function's id given to a user's function
    later does not hide that one from the watch."""
    fn._tfhist_own = True
    return fn


NO_GRAPPLER = config_pb2.ConfigProto()
NO_GRAPPLER.graph_options.rewrite_options.disable_meta_optimizer = True

#: ``experimental_attributes`` of this package's cached tf.functions: ``_noinline`` (a
#: private function attribute) keeps each one a call op in the training graph instead of
#: inlining its body, so it is traced once per process, not again in every training trace
#: that calls it. Its instantiation is not shared: TensorFlow keys a nested function's
#: instantiation on the calling function's library, so every new training function
#: instantiates the body again on its first call (and its Grappler optimizes it), at a
#: cost that grows with the body's nodes (``bench/callsite.py``).
NOINLINE = {"_noinline": True}


_real_graph_constant = _ops._create_graph_constant
_shared = threading.local()  # this thread's memo stack while it traces a shared body
_shared_lock = threading.Lock()
_shared_users = 0  # threads inside shared_constants: the patch is on while > 0


def _shared_key(g, value, dtype, shape, verify_shape, allow_broadcast):
    """The memo key of a graph constant that may be shared, or None."""
    if g._control_dependencies_stack or g._get_control_flow_context() is not None or len(g._colocation_stack):
        return None
    if not isinstance(value, (int, float, list, tuple, np.ndarray, np.generic)):
        return None
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError):  # not numbers: TensorFlow's own error, unchanged
        return None
    if arr.dtype.kind not in "biuf" or arr.size > 64:
        return None
    devices = tuple(str(d) for d in g._device_function_stack.peek_objs())
    dt = None if dtype is None else _dtypes.as_dtype(dtype)
    shp = None if shape is None else tuple(shape)
    return (id(g), devices, dt, shp, verify_shape, allow_broadcast, arr.dtype.str, arr.shape, arr.tobytes())


def _graph_constant(value, dtype, shape, name, verify_shape, allow_broadcast):
    memos = getattr(_shared, "memos", None)
    if not memos:  # another thread, or outside every shared body: TensorFlow's own
        return _real_graph_constant(value, dtype, shape, name, verify_shape, allow_broadcast)
    g = _ops.get_default_graph()
    key = _shared_key(g, value, dtype, shape, verify_shape, allow_broadcast)
    if key is None:
        return _real_graph_constant(value, dtype, shape, name, verify_shape, allow_broadcast)
    got = memos[-1].get(key)
    if got is None or got[0] is not g:
        got = memos[-1][key] = (g, _real_graph_constant(value, dtype, shape, name, verify_shape, allow_broadcast))
    return got[1]


@contextlib.contextmanager
def shared_constants():
    """While this thread traces inside it, equal graph constants (same dtype, shape and
    bytes) made with no control dependency, colocation or v1 control flow in force are
    one ``Const`` node per graph: a body with fewer nodes is cheaper for every training
    function to instantiate (``ops._create_graph_constant``, the graph half of
    ``tf.constant`` and of every Python number converted to a tensor). Values are
    untouched: a constant is reused only where its bytes are the same. The patch is on
    while any thread is inside; other threads' constants go to TensorFlow's own."""
    global _shared_users
    with _shared_lock:
        if _shared_users == 0:
            _ops._create_graph_constant = _graph_constant
        _shared_users += 1
    memos = _shared.__dict__.setdefault("memos", [])
    memos.append({})
    try:
        yield
    finally:
        memos.pop()
        with _shared_lock:
            _shared_users -= 1
            if _shared_users == 0:
                _ops._create_graph_constant = _real_graph_constant


def with_shared_constants(body):
    """``body``, traced inside :func:`shared_constants` (the body of a tf.function)."""

    @functools.wraps(body)
    def traced(*args):
        with shared_constants():
            return body(*args)

    return traced


def cached_function(body, input_signature):
    """One of this package's process-wide cached row functions: ``body`` as a
    ``tf.function`` of ``input_signature``, no AutoGraph, :data:`NOINLINE`, traced inside
    :func:`shared_constants`, marked as this package's own (:func:`mark_own`)."""
    return mark_own(_pf.function(with_shared_constants(body), input_signature=input_signature, autograph=False, experimental_attributes=NOINLINE))


#: The package's cached row functions (a few per compute dtype and bin count in practice).
CACHED = _lru.Lru(64)


def cached(key, body, input_signature):
    """The process-wide :func:`cached_function` of ``body`` under ``key`` (made on first
    use): one cache for the package's row functions, keyed by what their body depends on
    (the module thresholds it reads while it traces included)."""
    return CACHED.get(key, lambda: cached_function(body, input_signature))


def op_order(op) -> int:
    """The creation index of ``op`` in its graph (``Operation._id``): graph order, which
    is the model's layer order."""
    return op._id


def ref_variable_tensor(v):
    """The tensor a TF1 reference variable's readers consume (``RefVariable._ref()``);
    ``v`` itself for anything else."""
    return v._ref() if hasattr(v, "_ref") else v


def session_closed(sess) -> bool:
    """True once ``sess.close()`` has run (``BaseSession._closed``)."""
    return bool(getattr(sess, "_closed", False))


ResourceVariable = _rvo.ResourceVariable


def unwatch(graph, variables) -> None:
    """Forget that ``graph`` (a function's, as traced) accessed ``variables``: its own
    arguments. TensorFlow marks a variable read inside a ``tf.cond`` branch as accessed
    by the function even where it is an argument, and a traced function keeps weak
    references to what it accessed: once that variable is gone, every later call fails."""
    for v in variables:
        graph._watched_variables.discard(v)


def buffer_variable(initial_value, name: str):
    """A non-trainable variable made outside every variable creator scope: a
    ``tf.function`` that is traced again (``TraceSwap``) forbids ``tf.Variable`` on any
    call but its first, and the recording's buffers are made during such a trace.
    Call it under ``tf.init_scope()``."""
    return _rvo.ResourceVariable(initial_value, trainable=False, name=name)


def in_xla_context() -> bool:
    """True while building a graph that XLA will compile (``jit_compile=True``)."""
    return bool(_cfu.GraphOrParentsInXlaContext(_ops.get_default_graph()))


@contextlib.contextmanager
def function_call_config(config_proto):
    """Function call ops built inside run with ``config_proto`` (e.g. no Grappler)."""
    ctx = _context.context()
    old = ctx.function_call_options
    ctx.function_call_options = _context.FunctionCallOptions(config_proto=config_proto)
    try:
        yield
    finally:
        ctx.function_call_options = old


def tape_active() -> bool:
    """True when some ``tf.GradientTape`` is recording (eagerly or while tracing)."""
    return _record.could_possibly_record()


def fetch_mapper(fetches):
    """The Session's own mapper of a fetch structure (``unique_fetches()``)."""
    return _session._FetchMapper.for_fetch(fetches)


class TraceSwap:
    """Gives ``tf.function`` objects a fresh trace cache for the length of a watch.

    A function first called inside the watch is traced with the recording hooks;
    one that was traced before is traced again. On :meth:`restore`, every function
    gets back the traces it had before (a function first traced inside the watch is
    left with no traces at all), so after the watch it runs exactly as unwatched code
    does, and a later watch traces it again.
    """

    def __init__(self) -> None:
        self._seen: dict[int, tuple] = {}  # id -> (fn, saved configs or None)
        self._gradients = set(_ops.gradient_registry._registry)  # registered before the watch

    def enter(self, fn) -> None:
        """Call before ``fn`` runs inside the watch (cheap after the first time)."""
        if id(fn) in self._seen or getattr(fn, "_tfhist_own", False):
            return
        saved = None
        if fn._no_variable_creation_config is not None or fn._variable_creation_config is not None:
            saved = (fn._function_cache, fn._variable_creation_config, fn._no_variable_creation_config)
            cache = _function_cache.FunctionCache()
            fn._function_cache = cache
            if fn._variable_creation_config is not None:
                fn._variable_creation_config = dataclasses.replace(fn._variable_creation_config, function_cache=cache)
            if fn._no_variable_creation_config is not None:
                fn._no_variable_creation_config = dataclasses.replace(fn._no_variable_creation_config, function_cache=cache)
        self._seen[id(fn)] = (fn, saved)

    def restore(self) -> None:
        """Put every function's own traces back (drop those made inside the watch), and
        let the dropped traces' graphs be freed (:func:`forget_custom_gradients`)."""
        dropped = []
        for fn, saved in self._seen.values():
            dropped += [cf.graph for cf in fn._function_cache.values()]
            if saved is None:
                fn._function_cache.clear()
                # A function first traced inside the watch keeps its first trace here too
                # (only used by that first call): as before its first call, it has none.
                first = fn.__dict__.pop("_concrete_variable_creation_fn", None)
                if first is not None:
                    dropped.append(first.graph)
            else:
                fn._function_cache, fn._variable_creation_config, fn._no_variable_creation_config = saved
        self._seen.clear()
        forget_custom_gradients(dropped, self._gradients)


def _graphs_in(fn, depth: int = 2) -> set:
    """The graphs of the symbolic tensors ``fn`` closes over (and the functions it closes
    over, ``depth`` levels down)."""
    out = set()
    for cell in getattr(fn, "__closure__", None) or ():
        try:
            value = cell.cell_contents
        except ValueError:  # an empty cell
            continue
        if depth and callable(value) and getattr(value, "__closure__", None):
            out |= _graphs_in(value, depth - 1)
            continue
        for t in _nest.flatten(value):
            if isinstance(t, _ops.SymbolicTensor):
                out.add(t.graph)
    return out


def forget_custom_gradients(graphs, before) -> None:
    """Unregister the graph-mode ``tf.custom_gradient`` gradient functions registered
    since ``before`` (the registry's names then) by traces built in ``graphs`` (or in
    graphs nested in them: a cond branch, a loop body), which are being dropped.

    Each one closes over tensors of the graph it was traced in, and TensorFlow never
    unregisters it: one made while tracing a training step (Keras 3 and tf_keras make one,
    through ``ReplicaContext.all_reduce``) keeps that step's whole graph alive, and with it
    every function the step calls, registered in the runtime. A watch traces the step
    again, so without this every watch would leave its instrumented step behind."""
    dropped = {id(g) for g in graphs}
    if not dropped:
        return

    def in_dropped(g):
        while g is not None:
            if id(g) in dropped:
                return True
            g = getattr(g, "outer_graph", None)
        return False

    registry = _ops.gradient_registry._registry
    for name in [n for n in registry if n not in before and n.startswith("CustomGradient-")]:
        owners = _graphs_in(registry[name]["type"])
        if owners and all(in_dropped(g) for g in owners):  # none found: not the closure this expects, kept
            del registry[name]


def keras3_optimizer_base():
    from keras.src.optimizers.base_optimizer import BaseOptimizer

    return BaseOptimizer


def keras3_trainable_variables(opt) -> list:
    """The variables a Keras 3 optimizer updates when ``apply`` gets none."""
    return list(opt._trainable_variables)


def keras3_tf_optimizer():
    from keras.src.backend.tensorflow.optimizer import TFOptimizer

    return TFOptimizer


#: The method of :func:`keras3_tf_optimizer` that applies the cross-replica update
#: (reduced gradients) under ``tf.distribute``.
KERAS3_DISTRIBUTED_UPDATE = "_distributed_tf_update_step"


def strategy_merges() -> bool:
    """True when the current strategy's replicas update through a cross-replica merge
    (``merge_call``): always on CPUs, and on GPUs unless the step is compiled with XLA."""
    import tensorflow as tf

    return not tf.__internal__.distribute.strategy_supports_no_merge_call()


def tf_keras_optimizer_bases() -> tuple:
    from tf_keras.src.optimizers import optimizer as _optimizer
    from tf_keras.src.optimizers.legacy import optimizer_v2 as _optimizer_v2

    return _optimizer.Optimizer, _optimizer_v2.OptimizerV2


#: The methods of :func:`tf_keras_optimizer_bases` (``Optimizer``, ``OptimizerV2``) that
#: apply the cross-replica update (reduced gradients) under ``tf.distribute``.
TF_KERAS_DISTRIBUTED_APPLY = "_distributed_apply_gradients_fn"
TF_KERAS_LEGACY_DISTRIBUTED_APPLY = "_distributed_apply"


def keras3_updates_each_weight(opt) -> bool:
    """Whether ``opt`` reaches each weight through TFOptimizer's own private methods
    (``_backend_update_step`` -> ``_distributed_tf_update_step`` -> ``update_step`` per
    weight, after ``_apply_weight_decay`` of them all), none overridden."""
    base, cls = keras3_tf_optimizer(), type(opt)
    return all(getattr(cls, m, None) is getattr(base, m, None) for m in ("_backend_update_step", "_distributed_tf_update_step", "_apply_weight_decay"))
