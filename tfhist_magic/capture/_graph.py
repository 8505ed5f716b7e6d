"""What a ``tf.compat.v1`` Session run executes, read off its graph: the ops a run of some
fetches executes, its optimizer apply ops and their gradients, the forward reads of the
trainable variables, the activations and the graph's outputs, which weights' updates a
run can measure exactly, and the host-side probes of a finalized graph's fetched values.

Graph reading only: nothing here adds an op or runs a session (``session`` does both).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from . import _compat
from ._ops import SATURATION_MARGIN, probe_kind

__all__ = [
    "ACTIVATION_OPS", "activation_ops", "apply_grad_index", "closure", "fetch_key", "forward_read", "graph_outputs",
    "host_probe", "in_backward", "session_probe_kind", "update_reads", "upstream_masks", "var_name",
]

#: Op types whose outputs are activations.
ACTIVATION_OPS = frozenset(
    ["Relu", "Relu6", "Elu", "Selu", "LeakyRelu", "Sigmoid", "Tanh", "Softmax", "LogSoftmax", "Softplus", "Softsign", "Gelu"]
)
_LINEAR_OPS = frozenset(["MatMul", "BatchMatMulV2", "Conv1D", "Conv2D", "Conv3D", "DepthwiseConv2dNative"])
_APPLY_PREFIXES = ("Apply", "ResourceApply", "SparseApply", "ResourceSparseApply")
#: Activation ops whose outputs are bounded (their probe kind, ``_ops.probe_kind``), and
#: the bounds (for the host-binned path).
_BOUNDED = {"Tanh": "tanh", "Sigmoid": "sigmoid"}
_HOST_BOUNDS = {"tanh": (-1.0, 1.0), "sigmoid": (0.0, 1.0)}



def apply_grad_index(op):
    if not op.type.startswith(_APPLY_PREFIXES):
        return None
    names = [a.name for a in op.op_def.input_arg]
    for key in ("grad", "delta"):
        if key in names:
            return names.index(key)
    return None


def var_name(t) -> str:
    return t.op.name


def in_backward(op) -> bool:
    name = op.name
    return name.startswith("gradients") or "/gradients/" in name


def closure(graph, fetches, feed_dict):
    """``(ops, fed)``: the ops a run of ``fetches`` with ``feed_dict`` executes (backwards
    through inputs and control inputs from the fetches, stopping at fed tensors), and the
    names of the fed tensors."""
    with graph.as_default():
        mapper = _compat.fetch_mapper(fetches)
    roots = []
    for f in mapper.unique_fetches():
        el = graph.as_graph_element(f, allow_tensor=True, allow_operation=True)
        roots.append(el if isinstance(el, tf.Operation) else el.op)
    fed = set()
    for k in (feed_dict or {}):
        try:
            el = graph.as_graph_element(k, allow_tensor=True, allow_operation=False)
            fed.add(el.name)
        except Exception:  # SparseTensor feeds and the like: traversal just goes on
            continue
    seen: set = set()
    stack = list(roots)
    while stack:
        op = stack.pop()
        if op in seen:
            continue
        seen.add(op)
        for t in op.inputs:
            if t.name not in fed:
                stack.append(t.op)
        stack.extend(op.control_inputs)
    return seen, fed

def fetch_key(fetches):
    """A hashable key for a fetch structure (names of its elements, in order)."""
    out = []
    for f in tf.nest.flatten(fetches, expand_composites=False):
        out.append(getattr(f, "name", None) or str(f))
    return tuple(out)


def forward_read(v, closure):
    """The tensor holding ``v``'s value as the run's forward pass reads it."""
    handle = getattr(v, "handle", None)
    if handle is not None and handle.dtype == tf.resource:
        reads = [op for op in handle.consumers() if op.type == "ReadVariableOp" and op in closure and not in_backward(op)]
        if reads:
            reads.sort(key=_compat.op_order)
            return reads[0].outputs[0]
        return None
    # A reference variable: its "read" identity.
    ref = _compat.ref_variable_tensor(v)
    for op in ref.consumers():
        if op.type == "Identity" and op in closure:
            return op.outputs[0]
    return None


def session_probe_kind(t, closure):
    """``_ops.probe_kind`` of activation ``t``; None for a layer's pre-activation (a
    BiasAdd or MatMul that feeds an activation op of the run: the layer's output is that
    op's, as Keras records it), so a dead layer is one finding, on its activation."""
    if t.op.type not in ACTIVATION_OPS and any(c.type in ACTIVATION_OPS and c in closure for c in t.consumers()):
        return None
    return probe_kind(t, _BOUNDED.get(t.op.type))


def graph_outputs(acts, fed) -> list:
    """Names of the activations ``acts`` that no other one is computed from: the graph's
    outputs (a classifier's sigmoid is meant to saturate; the rules leave them out)."""
    upstream: set = set()
    stack = [t.op for a in acts for t in a.op.inputs if t.name not in fed]
    while stack:
        op = stack.pop()
        if op in upstream:
            continue
        upstream.add(op)
        stack.extend(t.op for t in op.inputs if t.name not in fed)
    return [a.op.name for a in acts if a.op not in upstream]


def update_reads(reads, applies, fed) -> tuple:
    """``([(i, before, variable, apply ops)], unmeasured)`` for the weights ``reads``
    (``[(name, read, variable)]``): those whose update a run can measure exactly, weights
    of a static shape updated by apply ops of the run, held in resource variables (a
    reference variable's read aliases its buffer, so the update would show in it), whose
    forward read ``before`` is upstream of every one of those ops (so it ran before the
    update: the value before it); and the names of the other updated weights."""
    ops_of: dict = {}
    for op, _, var in applies:
        ops_of.setdefault(var.name, []).append(op)
    cand, unmeasured = [], []
    for i, (name, r, v) in enumerate(reads):
        if not tf.TensorShape(r.shape).is_fully_defined():
            continue
        handle = getattr(v, "handle", None)
        if handle is not None and handle.dtype == tf.resource and handle.name in ops_of:
            cand.append((i, r, v, ops_of[handle.name]))
        elif _compat.ref_variable_tensor(v).name in ops_of:
            unmeasured.append(name)
    if not cand:
        return [], unmeasured
    bit = {r.op: 1 << j for j, (_, r, _, _) in enumerate(cand)}
    mask = upstream_masks([op for *_, ops in cand for op in ops], bit, fed)
    ok = [all(mask.get(op, 0) >> j & 1 for op in ops) for j, (_, _, _, ops) in enumerate(cand)]
    unmeasured += [reads[i][0] for (i, *_), good in zip(cand, ok) if not good]
    return [c for c, good in zip(cand, ok) if good], unmeasured


def upstream_masks(roots, bit: dict, fed) -> dict:
    """``op -> int``: the OR of ``bit[o]`` over ``op`` and every op upstream of it (inputs
    and control inputs, not through fed tensors), for the ops upstream of ``roots``. One
    pass (each op once); a cycle (a while loop's back edge) is cut where it closes."""
    mask: dict = {}
    started: set = set()
    for root in roots:
        stack = [root]
        while stack:
            op = stack[-1]
            if op in mask:
                stack.pop()
                continue
            preds = [t.op for t in op.inputs if t.name not in fed] + list(op.control_inputs)
            if op not in started:
                started.add(op)
                pending = [p for p in preds if p not in mask and p not in started]
                if pending:
                    stack.extend(pending)
                    continue
            m = bit.get(op, 0)
            for p in preds:
                m |= mask.get(p, 0)
            mask[op] = m
            stack.pop()
    return mask


def host_probe(values, kind) -> tuple:
    """``_ops.probes`` of one fetched activation, in NumPy (the host-binned path): the share
    of units zero on every example and, for a bounded kind, the saturated share."""
    if kind is None:
        return (np.nan, np.nan)
    a = np.asarray(values)
    x = a.astype(np.float64 if a.dtype == np.float64 else np.float32).reshape(-1, a.shape[-1])
    dead = float(np.mean(~np.any(x != 0, axis=0)))
    bounds = _HOST_BOUNDS.get(kind)
    if bounds is None or not x.size:
        return (dead, np.nan)
    m = x.dtype.type(SATURATION_MARGIN)
    lo, hi = (x.dtype.type(b) for b in bounds)
    return (dead, float(np.mean((x < lo + m) | (x > hi - m))))


def activation_ops(closure):
    for op in closure:
        if in_backward(op) or op.name.startswith("tfhist"):
            continue
        if op.type in ACTIVATION_OPS or op.type == "BiasAdd":
            yield op
        elif op.type in _LINEAR_OPS:
            if not any(c.type == "BiasAdd" for c in op.outputs[0].consumers()):
                yield op
