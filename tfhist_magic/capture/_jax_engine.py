"""The capture engine for Keras 3 on the JAX backend (the patches that feed it, and the
flavor the watcher uses, are in :mod:`.jax_keras`).

How a training step is recorded (the step stays a pure function: nothing is added to
the model's or the optimizer's state, so ``fit``, ``train_on_batch`` and a custom loop
over ``model.stateless_call`` / ``optimizer.stateless_apply`` inside ``jax.jit`` all
trace the same way):

* Layer calls are observed (``Layer.__call__`` and ``Layer.stateless_call``, which is
  how Keras' JAX trainer runs a model): the outermost call starts a forward pass, the
  outputs of the layers nested in it are kept until the optimizer update that follows.
  Under ``jax.grad`` they are the differentiation's tracers; the update reads their
  primal values, which live in the trace the update runs in (the forward pass is not
  run again).
* ``BaseOptimizer.apply`` (which ``stateless_apply`` calls inside its ``StatelessScope``)
  is observed. After the update it adds to the trace one ``lax.cond`` on
  ``step % every == 0`` whose true branch bins the weights as this step read them, the
  gradients applied and the pending activations (:mod:`._jnp`, one fused computation
  per dtype), measures the update scalars from the weights before and after the update,
  and hands the ``bins + 13`` numbers per tensor to the host with one
  ``jax.experimental.io_callback``. Unsampled steps run the false branch: nothing.
* Every step, one check (the sum of every gradient finite); the first step that fails
  it asks the host (a callback of one boolean, only on such steps) and is recorded in
  full whatever ``every``.
* The host keeps what the callbacks hand it and delivers it to the Recording
  (:func:`._deliver.deliver`), on the training thread: at the end of each
  ``fit``/``train_on_batch``, at each epoch, when the watch ends and, while a live view is
  shown, every ``live_interval`` seconds (after a call of the train function).

On entry and exit every JAX trace cache is cleared (``jax.clear_caches``), so functions
traced before the watch are traced again with the recording, and none traced in it
keeps it after. The private JAX and Keras names used are gathered in the ``_private``
section below.
"""

from __future__ import annotations

import functools
import threading
import time
import weakref

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import io_callback

from ..health import is_weight_matrix
from ..recording import KINDS, Recording
from . import _jnp as J
from ._deliver import Packet, deliver
from ._patch import Patches

__all__ = ["JaxEngine", "record_now", "model_vars", "optimizer_variables", "BaseOptimizer"]

# -- _private: the JAX and Keras internals used, in one place ------------------------------
from jax._src import core as _core  # noqa: E402
from keras.src.optimizers.base_optimizer import BaseOptimizer  # noqa: E402


def _current_trace():
    return _core.trace_ctx.trace


def _primal(x):
    """The primal value of a differentiation tracer (``jax.grad``'s LinearizeTracer or
    JVPTracer), down to a value of the enclosing trace."""
    while isinstance(x, _core.Tracer) and hasattr(x, "primal"):
        x = x.primal
    return x


def _differentiated(x) -> bool:
    return isinstance(x, _core.Tracer) and hasattr(x, "primal")


def _usable(x) -> bool:
    """Whether ``x`` can be used where the update is traced: a concrete array, or a
    tracer of the update's own trace (not one of a finished trace, a scan's body...)."""
    if isinstance(x, _core.Tracer):
        return getattr(x, "_trace", None) is _current_trace()
    return isinstance(x, jax.Array)


def _host_value(v):
    """A Keras variable's value outside any stateless scope (None when ``fit`` has
    detached it for the duration of an epoch)."""
    return getattr(v, "_value", None)


def optimizer_variables(opt) -> list:
    """The variables ``opt`` was built on (what ``apply(grads)`` updates)."""
    return list(getattr(opt, "_trainable_variables", None) or [])


def model_vars(model) -> list:
    try:
        return list(model.trainable_variables)
    except Exception:  # a model that is not built yet
        return []


# -- the engine -------------------------------------------------------------------------
_MAX_ROOTS = 8
#: Sampled steps held on the host before they are delivered whatever the throttle.
_MAX_PENDING = 256


def _bounded(layer) -> str | None:
    name = getattr(getattr(layer, "activation", None), "__name__", "") or ""
    return name if name in ("tanh", "sigmoid") else None


class _Forward:
    """One outermost layer call and the outputs of the layers nested in it."""

    __slots__ = ("root", "acts", "seen", "taped", "outs")

    def __init__(self, root):
        self.root = root
        self.acts: list = []  # (layer, output index, value)
        self.seen: set = set()
        self.taped = False  # under jax.grad: the pass a training step differentiates
        self.outs: set = set()


class _OptState:
    """One optimizer on its model's timeline: step ``k`` is ``iterations - base``."""

    def __init__(self, opt, base: int):
        self.opt = weakref.ref(opt)
        self.base = base
        self.vars: list = []
        self.names: list = []

    def done(self) -> int | None:
        opt = self.opt()
        value = None if opt is None else _host_value(opt.iterations)
        return None if value is None else int(np.asarray(value)) - self.base


class _Group:
    """One update's tensors as one trace named them, and what the host has of it: the
    rows its callbacks delivered, not yet in the Recording."""

    def __init__(self, model: str | None, names: dict, dtypes: dict, every: int):
        self.model, self.names, self.dtypes, self.every = model, names, dtypes, every
        self.pending: list = []  # (step, wall, rows, cols)
        self.nonfinite: int | None = None


class JaxEngine:
    """Records one watch of Keras 3 models on the JAX backend (see the module doc)."""

    def __init__(self, recording: Recording, *, every: int, kinds, targets=None, init_distance: bool = True):
        self.rec = recording
        self.bins = recording.bins
        self.every = int(every)
        self.init_distance = bool(init_distance)  # False: no w0 kept, no distance from the start
        self.kinds = tuple(k for k in KINDS if k in kinds)
        self.targets = list(targets) if targets is not None else None
        self._target_ids = None
        self.patches = Patches()
        self.chief = True
        self.closed = False
        self.live_interval: float | None = None
        self.trained_var_ids: set[int] = set()
        self.seen_models: dict = {}
        self.model_labels: dict[int, str] = {}
        self.on_close: list = []
        self._local = threading.local()
        self._lock = threading.Lock()
        self._pending: list[_Forward] = []
        self._opts: dict[int, _OptState] = {}
        self._lines: dict = {}  # model key -> [_OptState], oldest first
        self._groups: dict = {}
        self._names: dict = {}
        self._taken: dict = {}
        self._outputs: set = set()
        self._last_flush = time.monotonic()
        self._w0: dict = {}  # id(weight) -> its w0 (NumPy, flat, compute dtype)

    # -- install / uninstall ---------------------------------------------------------
    def __enter__(self):
        if self.targets is not None:
            self._target_ids = {id(v) for m in self.targets for v in model_vars(m)}
        jax.clear_caches()  # functions traced before the watch trace again, with it
        return self

    def close(self) -> None:
        if self.closed:
            return
        try:
            try:
                self.flush()
            finally:
                self._final_weights()
        finally:
            self.closed = True
            try:
                self.patches.undo()
            finally:
                self._pending.clear()
                for fn in self.on_close:
                    fn()
                jax.clear_caches()  # nothing traced in the watch keeps the recording
                self.rec.status = None

    def __exit__(self, *exc):
        self.close()
        return False

    # -- names -----------------------------------------------------------------------
    def model_label(self, model) -> str:
        label = self.model_labels.get(id(model))
        if label is None:
            base = getattr(model, "name", None) or type(model).__name__
            taken = set(self.model_labels.values()) | set(self.rec.models)
            label, n = base, 2
            while label in taken:
                label = f"{base}#{n}"
                n += 1
            self.model_labels[id(model)] = label
        return label

    def _unique(self, key, base: str, owner) -> str:
        """``base`` (a Keras path), qualified by the model's label when another model's
        tensor took it (as the TensorFlow engine names them)."""
        name = self._names.get(key)
        if name is not None:
            return name
        name = base
        if name in self._taken and owner is not None:
            own = getattr(owner, "name", None) or ""
            rest = base[len(own) + 1 :] if own and base.startswith(own + "/") else base
            name = f"{self.model_label(owner)}/{rest}"
        n = 2
        while name in self._taken:
            name = f"{base}#{n}"
            n += 1
        self._taken[name] = key
        self._names[key] = name
        return name

    # -- forward passes ----------------------------------------------------------------
    def layer_call(self, layer, call, args, kwargs):
        depth = getattr(self._local, "depth", 0)
        if depth == 0:
            fw = _Forward(layer)
            self._pending.append(fw)
            if len(self._pending) > _MAX_ROOTS:
                del self._pending[next((i for i, r in enumerate(self._pending) if not r.taped), 0)]
        self._local.depth = depth + 1
        try:
            out = call(*args, **kwargs)
        finally:
            self._local.depth = depth
        leaves = [t for t in jax.tree_util.tree_leaves(out) if isinstance(t, (jax.Array, _core.Tracer))]
        if depth == 0:
            fw.outs = {id(t) for t in leaves}
            fw.taped = any(_differentiated(t) for t in leaves)
        elif "activations" in self.kinds and self._pending:
            fw = self._pending[-1]
            if id(layer) not in fw.seen:
                fw.seen.add(id(layer))
                keep = [t for t in leaves if jnp.issubdtype(t.dtype, jnp.floating) or jnp.issubdtype(t.dtype, jnp.integer)]
                for i, t in enumerate(keep):
                    fw.acts.append((layer, i if len(keep) > 1 else -1, t))
        return out

    def _activations(self, mine) -> list:
        """``[(name, value, bounded)]`` of the forward passes ``mine``, the values usable
        where the update is traced."""
        if "activations" not in self.kinds:
            return []
        seen, acts = set(), []
        for fw in mine:
            last = len(fw.acts) - 1
            outs = any(id(t) in fw.outs for _, _, t in fw.acts)
            for j, (layer, i, t) in enumerate(fw.acts):
                value = _primal(t)
                if (id(layer), i) in seen or not _usable(value):
                    continue
                seen.add((id(layer), i))
                base = (getattr(layer, "path", None) or layer.name) + ("" if i < 0 else f":{i}")
                name = self._unique(("act", id(layer), i), base, fw.root)
                if (id(t) in fw.outs) if outs else j == last:
                    self._outputs.add(name)
                acts.append((name, value, _bounded(layer) if i < 0 else None))
        return acts

    # -- optimizer updates -------------------------------------------------------------
    def enter_update(self) -> bool:
        if getattr(self._local, "in_update", False):
            return False
        self._local.in_update = True
        return True

    def exit_update(self) -> None:
        self._local.in_update = False

    def opt_state(self, opt, model=None) -> _OptState:
        """``opt``'s place on its model's timeline: one increasing axis across every
        optimizer, recompile and ``fit`` of the watch (read on the host, where the
        variable holds a value)."""
        st = self._opts.get(id(opt))
        if st is not None and st.opt() is opt:
            return st
        key = id(model) if model is not None else ("optimizer", id(opt))
        line = self._lines.setdefault(key, [])
        done = max((d for d in (o.done() for o in line) if d is not None), default=0)
        if line:
            self._end_phase(line, done)
        now = _host_value(opt.iterations)
        st = self._opts[id(opt)] = _OptState(opt, (0 if now is None else int(np.asarray(now))) - done)
        line.append(st)
        return st

    def step_of(self, opt, model=None) -> int:
        return self.opt_state(opt, model).done() or 0

    def _end_phase(self, states, step: int) -> None:
        self.flush()
        for st in states:
            self._weights_now(st, step)

    def record_update(self, opt, grads, variables):
        """Before ``opt``'s update runs: what the recording needs of it (None: nothing)."""
        grads, variables = list(grads), list(variables)
        if not grads or len(grads) != len(variables):
            return None
        if self._target_ids is not None and not any(id(v) in self._target_ids for v in variables):
            return None
        ids = {id(v) for v in variables}
        roots, self._pending = self._pending, []
        mine = [fw for fw in roots if any(id(v) in ids for v in model_vars(fw.root))]
        mine = [fw for fw in mine if fw.taped] or mine
        owner = mine[0].root if mine else None
        st = self.opt_state(opt, owner)
        vnames = [self._unique(("var", id(v)), getattr(v, "path", None) or v.name, owner) for v in variables]
        st.vars, st.names = variables, vnames
        self.trained_var_ids.update(ids)
        scale = getattr(opt, "loss_scale_factor", None)
        pairs = [(n, g if scale is None else g / scale) for n, g in zip(vnames, grads) if g is not None]
        acts = self._activations(mine)
        names, tensors = {}, {}
        if acts:
            names["activations"], tensors["activations"] = [n for n, _, _ in acts], [t for _, t, _ in acts]
        if "weights" in self.kinds:
            names["weights"], tensors["weights"] = list(vnames), [v.value for v in variables]
        if "grads" in self.kinds and pairs:
            names["grads"], tensors["grads"] = [n for n, _ in pairs], [g for _, g in pairs]
        label = self.model_label(owner) if owner is not None else (getattr(opt, "name", None) or type(opt).__name__)
        for fw in mine:
            self.rec.add_model(self.model_label(fw.root), [n for k in names for n in names[k]], [n for n in names.get("activations", ()) if n in self._outputs])
            self.seen_models[id(fw.root)] = weakref.ref(fw.root)
        if not names:
            return None
        kinds_of = [J.probe_kind(jnp.shape(t), t.dtype, b) for _, t, b in acts]
        step = jnp.asarray(opt.iterations.value) - st.base
        return dict(opt=opt, step=step, names=names, tensors=tensors, grads=[g for _, g in pairs], kinds_of=kinds_of, variables=variables, label=label)

    def after_update(self, plan) -> None:
        """Once the update ran (still in its trace): the sampled branch (see the module doc)."""
        names, tensors = plan["names"], plan["tensors"]
        afters = [v.value for v in plan["variables"]] if "weights" in names else []
        dtypes = {k: [J.compute_dtype(t.dtype).name for t in tensors[k]] for k in names}
        group = self._group(plan["opt"], plan["label"], names, dtypes)
        ratio = [len(jnp.shape(w)) >= 2 and is_weight_matrix(n) for n, w in zip(names.get("weights", ()), tensors.get("weights", ()))]
        bins, every = self.bins, self.every
        with J.x64():
            step = plan["step"]
            ok = J.all_finite(plan["grads"])
            forced = jax.lax.cond(ok, lambda: jnp.asarray(False), lambda: io_callback(functools.partial(self._first_bad, group), jax.ShapeDtypeStruct((), jnp.bool_), step))
            take = (step % every == 0) | forced

            def sampled():
                flat = [t for k in names for t in tensors[k]]
                rows = J.rows(flat, bins)
                cols = [jnp.full((len(names[k]), J.UPDATE_COLUMNS), np.nan) for k in names]
                at = list(names)
                if "activations" in names:
                    p = J.probes(tensors["activations"], plan["kinds_of"])
                    cols[at.index("activations")] = jnp.concatenate([p, jnp.full((p.shape[0], 1), np.nan)], 1)
                if afters:
                    befores = tensors["weights"]
                    if self.init_distance:
                        origins = self._origins(plan["variables"], step, befores)
                        cols[at.index("weights")] = J.update_scalars(afters, befores, origins, ratio)
                    else:  # no w0: the distance column is not measured
                        cols[at.index("weights")] = J.update_scalars(afters, befores, befores, ratio).at[:, 2].set(np.nan)
                io_callback(functools.partial(self._receive, group), None, step, rows, jnp.concatenate(cols, 0))

            jax.lax.cond(take, sampled, lambda: None)

    def _origins(self, variables, step, befores) -> list:
        """w0 of the weights (their values at the first sampled step of the watch that
        updated them), kept on the host per variable across recompiles and optimizers:
        per compute dtype one flat vector, sent once, handed back on sampled steps."""
        out = [None] * len(befores)
        for cd in (J.F32, J.F64):
            idx = [i for i, b in enumerate(befores) if J.compute_dtype(b.dtype) == cd]
            if not idx:
                continue
            keys = [id(variables[i]) for i in idx]
            sizes = [int(np.prod(jnp.shape(befores[i]))) for i in idx]
            flat = jnp.concatenate([J.prepare(befores[i]) for i in idx])
            spec = jax.ShapeDtypeStruct(flat.shape, flat.dtype)
            have = io_callback(lambda keys=keys: np.asarray(all(k in self._w0 for k in keys)), jax.ShapeDtypeStruct((), jnp.bool_))
            w0 = jax.lax.cond(
                have,
                lambda: io_callback(lambda keys=keys: np.concatenate([self._w0[k] for k in keys]), spec),
                lambda: io_callback(functools.partial(self._put_origin, keys, sizes), spec, step, flat),
            )
            at = 0
            for i, n in zip(idx, sizes):
                out[i] = w0[at : at + n]
                at += n
        return out

    def _put_origin(self, keys, sizes, step, flat):
        flat = np.asarray(flat)
        if int(step) % self.every == 0:  # a forced (non-finite) step is no origin
            for k, part in zip(keys, np.split(flat, np.cumsum(sizes)[:-1])):
                self._w0.setdefault(k, part.copy())
        return np.concatenate([self._w0.get(k, part) for k, part in zip(keys, np.split(flat, np.cumsum(sizes)[:-1]))]).astype(flat.dtype)

    def _first_bad(self, group: _Group, step):
        """The host's answer to "record this non-finite step?": yes for the first one."""
        with self._lock:
            first = group.nonfinite is None
            if first:
                group.nonfinite = int(step)
        return np.asarray(first)

    def _receive(self, group: _Group, step, rows, cols) -> None:
        """A sampled step's rows, on the host (in JAX's callback thread): kept for
        :meth:`flush`, which runs on the training thread (:meth:`tick`), so no view ever
        runs inside a step; delivered here only past :data:`_MAX_PENDING` steps."""
        if self.closed:
            return
        with self._lock:
            group.pending.append((int(step), time.time(), np.asarray(rows), np.asarray(cols)))
            full = len(group.pending) >= _MAX_PENDING
        if full:
            self.flush()

    def tick(self) -> None:
        """After each call of a watched train function: deliver what arrived, while a live
        view is shown every ``live_interval`` seconds (else at the end of the call's
        ``fit``, or of the epoch)."""
        if self.live_interval is not None and time.monotonic() - self._last_flush > self.live_interval:
            self.flush()

    def _group(self, opt, label, names, dtypes) -> _Group:
        sig = (id(opt), tuple((k, tuple(v)) for k, v in names.items()))
        g = self._groups.get(sig)
        if g is None:
            g = self._groups[sig] = _Group(label, names, dtypes, self.every)
        return g

    # -- host --------------------------------------------------------------------------
    def flush(self) -> None:
        """Deliver what the callbacks handed over to the Recording, in step order."""
        with self._lock:
            work = [(g, g.pending) for g in self._groups.values() if g.pending or g.nonfinite is not None]
            for g, _ in work:
                g.pending = []
            self._last_flush = time.monotonic()
        for g, items in work:
            items.sort(key=lambda it: it[0])
            steps = np.array([it[0] for it in items], np.int64)
            walls = np.array([it[1] for it in items])
            data = np.stack([it[2] for it in items]) if items else np.zeros((0, 0, 0))
            cols = np.stack([it[3] for it in items]) if items else np.zeros((0, 0, 0))
            p = Packet(g.model, g.names, g.dtypes, steps, walls, nonfinite=g.nonfinite)
            at = 0
            for kind, ns in g.names.items():
                if items:
                    p.rows[kind] = data[:, at : at + len(ns)]
                    p.probes[kind] = cols[:, at : at + len(ns)]
                at += len(ns)
            deliver(self.rec, p)

    def _weights_now(self, st: _OptState, step: int) -> None:
        """The weights of ``st`` as the variables hold them now, at ``step``."""
        if "weights" not in self.kinds or not st.vars or self.rec.last_step("weights", st.names[0]) >= step:
            return
        values = [_host_value(v) for v in st.vars]
        if any(v is None for v in values):
            return
        record_now(self.rec, "weights", st.names, values, step)

    def _final_weights(self) -> None:
        """Weights after the last update, at step = updates done (read on the host: after
        ``fit``, Keras has put the trained values back in the variables)."""
        for st in self._opts.values():
            done = st.done()
            if done is not None:
                self._weights_now(st, done)


def record_now(rec: Recording, kind: str, names: list, values: list, step: int) -> None:
    """The rows of ``values`` computed now, added to ``rec`` at ``step``."""
    if not names:
        return
    with J.x64():
        rows = np.asarray(J.rows([jnp.asarray(v) for v in values], rec.bins))
    dtypes = [J.compute_dtype(jnp.asarray(v).dtype).name for v in values]
    deliver(rec, Packet(None, {kind: list(names)}, {kind: dtypes}, np.array([step]), np.array([time.time()]), rows={kind: rows[None]}))
