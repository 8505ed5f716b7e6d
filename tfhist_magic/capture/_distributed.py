"""The distributed path: an update under ``tf.distribute`` whose replicas are merged.

Owns which strategies a watch records (:func:`distribution`), what each replica's update
leaves for the optimizer's cross-replica update (:class:`Stash`: its activations), and
the :class:`~._update.Update` that merge records (:func:`merged_update`): the reduced
gradients, one copy of the weights and the activations of every replica merged into one
histogram per tensor (``_ops.merged_rows``, their dead-unit and saturated shares merged
with them), once. Under ``MultiWorkerMirroredStrategy`` every worker computes the merged
rows (the reductions are collective); only the chief keeps them. The engine then records
that Update on the traced or eager path like any other.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from . import _compat
from ._ops import PROBE_COLUMNS, merged_rows, probe_kind, snapshot_rows
from ._update import Update, all_finite, measured_rows

__all__ = ["distribution", "replica_index", "Stash", "merged_update"]

#: ``tf.distribute`` strategies a watch cannot record yet, whatever their replica count.
_UNHANDLED_STRATEGIES = ("ParameterServerStrategy", "ParameterServerStrategyV2", "CentralStorageStrategy", "TPUStrategy", "TPUStrategyV2")
#: Strategies whose replicas are merged (one histogram over every replica's values).
_MERGED_STRATEGIES = ("MirroredStrategy", "MultiWorkerMirroredStrategy", "CollectiveAllReduceStrategy")


def distribution():
    """The ``tf.distribute`` strategy whose replicas the watch merges, or None where a
    step runs on one replica (no strategy, the default one, ``OneDeviceStrategy``, a
    one-device ``MirroredStrategy``: recorded exactly as without a strategy).

    Raises ValueError under a strategy the watch would record wrongly: never silently
    wrong data."""
    if not tf.distribute.has_strategy():
        return None
    strategy = tf.distribute.get_strategy()
    name = type(strategy).__name__
    replicas = strategy.num_replicas_in_sync
    if name not in _UNHANDLED_STRATEGIES and replicas == 1:
        return None
    if name not in _MERGED_STRATEGIES:
        raise ValueError(
            f"tfhist_magic cannot watch training under {name} ({replicas} replicas) yet; it records "
            "MirroredStrategy, MultiWorkerMirroredStrategy, OneDeviceStrategy and single-device training."
        )
    if not _compat.strategy_merges():
        raise ValueError(
            f"tfhist_magic cannot watch {name} when the step is compiled with XLA on GPUs yet (its replicas "
            "update without a cross-replica merge); compile the model with jit_compile=False inside the watch."
        )
    return strategy


def replica_index(strategy) -> int:
    """This replica's index among the strategy's local devices."""
    ctx = tf.distribute.get_replica_context()
    rid = tf.get_static_value(ctx.replica_id_in_sync_group)
    return int(rid) % len(strategy.extended.worker_devices)


class Stash:
    """What the replicas of one distributed update left for the cross-replica merge."""

    __slots__ = ("opt", "variables", "mine", "acts")

    def __init__(self, opt, variables, mine):
        self.opt = opt
        self.variables = variables
        self.mine = mine
        self.acts: dict[int, list] = {}  # local replica index -> [(name, tensor, bounded)]


def _agreed(engine, replicas: list, devices: int) -> list:
    """The activations every replica recorded alike (names and dtypes), else none (never
    one replica's)."""
    acts = replicas[0] if replicas else []
    if len(replicas) != devices or any(
        [n for n, _, _ in a] != [n for n, _, _ in acts] or [t.dtype for _, t, _ in a] != [t.dtype for _, t, _ in acts] for a in replicas
    ):
        engine.rec.note("Activations were not recorded: the replicas' forward passes differed.")
        return []
    return acts


def merged_update(engine, key, stash: Stash, distribution, grads, variables) -> Update | None:
    """The Update the cross-replica update of ``distribution`` records: ``grads`` are
    the reduced gradients the optimizer applies, ``variables`` the variables it names."""
    local = distribution.experimental_local_results
    by_tf = {id(engine.tf_var(v)): v for v in stash.variables}
    pairs = [(by_tf.get(id(v), v), g) for g, v in zip(grads, variables)]
    variables = [v for v, _ in pairs]
    st, vnames = engine.take_phase(stash.opt, stash.mine, variables)
    engine.chief = bool(distribution.extended.should_save_summary)
    if not engine.chief:
        st.vars = []  # no final snapshot either
    devices = distribution.extended.worker_devices
    replicas = [stash.acts[r] for r in sorted(stash.acts)]
    acts = _agreed(engine, replicas, len(devices))
    weights = [local(engine.tf_var(v))[0] for v in variables]
    reduced = [(n, local(g)[0]) for n, (_, g) in zip(vnames, pairs) if g is not None]
    names, tensors = engine.update_tensors(acts, vnames, weights, reduced)
    engine.register(stash.mine, names)
    if not names:
        return None
    bins, device = engine.bins, devices[0]
    kinds_of = [probe_kind(t, b) for _, t, b in acts]

    def rows_of(live, read=None):
        with tf.device(device):
            own = [t for kind in names if kind != "activations" for t in tensors[kind]]
            parts = [merged_rows(distribution, [[t for _, t, _ in a] for a in replicas], bins, kinds_of)] if acts else []
            if own:
                rows = snapshot_rows([tf.convert_to_tensor(t) for t in own], bins)
                parts.append(tf.concat([rows, tf.fill([tf.shape(rows)[0], PROBE_COLUMNS], tf.constant(np.nan, tf.float64))], 1))
            return tf.concat(parts, 0)

    with tf.device(device):
        step = tf.cast(tf.convert_to_tensor(engine.counter(stash.opt)), tf.int64) - st.base
        check = all_finite([g for _, g in reduced])
    # The update scalars from one copy of the weights, before and after the cross-replica
    # update (the engine's after_update, called once the optimizer's merge ran).
    return Update(
        opt=stash.opt, key=key, step=step, names=names, tensors=tensors, model=engine.label_of(stash.mine, stash.opt),
        rows_of=rows_of, check=check, measured=measured_rows(names, tensors), chief=engine.chief, inline=True,
    )
