"""What is alive at the peak of TensorFlow's allocator: the tensors allocated during a
measured ``fit`` and not yet freed when the allocator's bytes in use were highest, from
the TensorFlow profiler's memory events (``bench/memory.py --at-peak N``).

The profiler records every allocation and deallocation of the BFC allocator (op name,
shape, bytes, address, the allocator's bytes in use after it). Replaying them in time
order, by address, gives the set of live allocations at each event; the one with the
most bytes in use is the peak. Tensors allocated before the profiler started (the
weights, the baseline) are not in the set: they are the same in every arm.

A variable written while something still reads its buffer is copied (TensorFlow's
copy-on-write): the copy shows up under the writing op (``AssignAddVariableOp``,
region ``temp``) and then *is* the variable's buffer, so Adam's two slots show up so
after their first write.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import tempfile

__all__ = ["profiled", "live_at_peak", "peak_of"]


@contextlib.contextmanager
def profiled():
    """Profile what runs inside (TensorFlow's profiler); yields a dict that holds, once
    the block is left, ``"logdir"``. Needs ``TF_CPU_ALLOCATOR_USE_BFC=true`` on a CPU
    (the default allocator records no memory events)."""
    import tensorflow as tf

    out = {"logdir": tempfile.mkdtemp(prefix="tfhist_atpeak_")}
    tf.profiler.experimental.start(out["logdir"])
    try:
        yield out
    finally:
        tf.profiler.experimental.stop()


def _events(logdir: str) -> list:
    """``[(time_ps, allocated: bool, stats)]`` of every memory event, in time order."""
    try:
        from tensorflow.tsl.profiler.protobuf import xplane_pb2
    except ImportError:  # where TensorFlow ships it elsewhere
        try:
            from tsl.profiler.protobuf import xplane_pb2
        except ImportError:
            from tensorflow.core.profiler.protobuf import xplane_pb2

    events = []
    for path in glob.glob(os.path.join(logdir, "plugins", "profile", "*", "*.xplane.pb")):
        space = xplane_pb2.XSpace()
        with open(path, "rb") as f:
            space.ParseFromString(f.read())
        for plane in space.planes:
            names = {k: m.name for k, m in plane.event_metadata.items()}
            stat_names = {k: m.name for k, m in plane.stat_metadata.items()}
            for line in plane.lines:
                for e in line.events:
                    kind = names.get(e.metadata_id, "")
                    if kind not in ("MemoryAllocation", "MemoryDeallocation"):
                        continue
                    st = {}
                    for s in e.stats:
                        v = s.str_value or (stat_names.get(s.ref_value) if s.ref_value else None)
                        st[stat_names[s.metadata_id]] = v if v is not None else (s.int64_value or s.uint64_value)
                    events.append((line.timestamp_ns * 1000 + e.offset_ps, kind == "MemoryAllocation", st))
    events.sort(key=lambda t: t[0])
    return events


def live_at_peak(logdir: str, top: int) -> dict:
    """At the event with the most bytes in use: ``{"in_use": bytes, "live": bytes of the
    allocations made while profiling, "tensors": [[MiB, op, shape, region]] the ``top``
    largest of them}``; the profile in ``logdir`` is deleted."""
    try:
        return peak_of(_events(logdir), top)
    finally:
        shutil.rmtree(logdir, ignore_errors=True)


def peak_of(events, top: int) -> dict:
    """:func:`live_at_peak` of ``events`` (``[(time, allocated, stats)]`` in time order,
    ``stats`` with the profiler's ``addr``, ``bytes_allocated``, ``allocation_bytes``,
    ``tf_op``, ``shape``, ``region_type``, ``allocator_name``). One allocator's events: a
    GPU's (``GPU_0_bfc``) where there is one, else the one whose peak is highest."""
    names = {st.get("allocator_name") for _, _, st in events}
    gpu = sorted(n for n in names if isinstance(n, str) and n.startswith("GPU_"))
    if gpu:
        pick = gpu[0]
    else:
        pick = max(names, key=lambda n: max((st.get("bytes_allocated") or 0) for _, _, st in events if st.get("allocator_name") == n), default=None)
    live, best, best_live = {}, -1, {}
    for _, allocated, st in (e for e in events if e[2].get("allocator_name") == pick):
        addr = st.get("addr")
        if allocated:
            live[addr] = st
        else:
            live.pop(addr, None)
        used = st.get("bytes_allocated") or 0
        if used > best:
            best, best_live = used, dict(live)
    sizes = sorted(best_live.values(), key=lambda s: -(s.get("allocation_bytes") or 0))
    tensors = [
        [round((s.get("allocation_bytes") or 0) / 2**20, 1), str(s.get("tf_op") or "(no op name)").replace("StatefulPartitionedCall/", ""), s.get("shape") or "", s.get("region_type") or ""]
        for s in sizes[:top]
    ]
    return {"in_use": max(best, 0), "live": sum(s.get("allocation_bytes") or 0 for s in sizes), "tensors": tensors}
