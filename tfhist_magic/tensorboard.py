"""TensorBoard event files, out and in: no server, and no ``tensorboard`` package needed.

Out (:func:`to_tensorboard`, ``rec.to_tensorboard(logdir)``, ``%%tfhist_watch --logdir``):
each snapshot becomes one histogram summary in TensorBoard's own format, a ``[k, 3]``
float64 tensor of (left edge, right edge, count) per bucket tagged with the
``histograms`` plugin (what ``tf.summary.histogram`` writes), at its recorded step and
wall time, with the exact edges and counts. Beside each histogram tag, the non-finite
count (NaN + Inf) is a ``scalars`` summary (``<tag>/non_finite``), and the Recording's
scalar series (update ratios, update norms, distances from the start, dead units,
saturation, global gradient norms) are scalars too. The records are
TensorFlow's ``Event`` protos in a TFRecord file (``tf.io.TFRecordWriter``), which is
what a summary writer produces, written directly because one ``tf.summary.write`` call
per snapshot costs a millisecond of eager dispatch.

In (:func:`from_tensorboard`, ``Recording.from_tensorboard``, ``%tfhist --logdir``):
histogram summaries from every event file under a directory: TF2 (``tf.summary.histogram``,
``keras.callbacks.TensorBoard(histogram_freq=...)``) and TF1 (``HistogramProto`` from
``tf.compat.v1.summary.histogram``), the latter read as TensorBoard reads it
(``data_compat``: lefts ``[min] + limits[:-1]``, rights ``limits[:-1] + [max]``). Their
buckets are not this package's bins, so the Series keep their explicit edges. The files
``to_tensorboard`` writes also carry each row's other numbers (``<tag>/tfhist_row``: the
NaN/Inf/zero counts, min, max, mean, std, norm), so they come back as the very rows that
were recorded. A file that is empty, truncated or malformed adds a one-line note naming
it; the rest loads.

Both use TensorFlow (a dependency already) for the record format and the protos; the
``tensorboard`` extra installs TensorBoard itself, for its UI and ``tf.summary.histogram``.
"""

from __future__ import annotations

import fnmatch
import re
import socket
import time
from pathlib import Path

import numpy as np

from . import histogram as H
from .block import Block, deliver
from .recording import KINDS, SCALARS, Recording

__all__ = ["to_tensorboard", "from_tensorboard"]


def _protos():
    from tensorflow.core.framework import summary_pb2
    from tensorflow.core.util import event_pb2

    return summary_pb2, event_pb2


def to_tensorboard(rec: Recording, logdir) -> str:
    """Write ``rec`` to a new event file in ``logdir`` (made if missing); returns its path."""
    import tensorflow as tf

    summary_pb2, event_pb2 = _protos()
    logdir = Path(logdir)
    logdir.mkdir(parents=True, exist_ok=True)
    path = logdir / f"events.out.tfevents.{time.time():.6f}.{socket.gethostname()}.tfhist"
    plugin = summary_pb2.SummaryMetadata.PluginData

    def meta(name: str, description: str):
        return summary_pb2.SummaryMetadata(plugin_data=plugin(plugin_name=name), summary_description=description)

    events = []  # (wall, step, Summary.Value)
    for kind in rec.kinds:
        for name in rec.names(kind):
            s = rec.series(kind, name)
            tag = f"{kind}/{name}"
            e, counts = s.edges, s.counts
            bad = s.nan + s.posinf + s.neginf
            for i in range(len(s)):
                t = np.stack([e[i, :-1], e[i, 1:], counts[i].astype(np.float64)], axis=1)
                value = summary_pb2.Summary.Value(tag=tag, tensor=tf.make_tensor_proto(t))
                if i == 0:  # TensorBoard reads a tag's metadata from its first value; the dtype comes back with it
                    value.metadata.CopyFrom(meta("histograms", f"tfhist_magic: {kind} of {name} ({s.dtype})"))
                events.append((s.wall[i], int(s.steps[i]), value))
                value = summary_pb2.Summary.Value(tag=f"{tag}/non_finite", tensor=tf.make_tensor_proto(np.float32(bad[i])))
                if i == 0:
                    value.metadata.CopyFrom(meta("scalars", "NaN and Inf values in the snapshot"))
                events.append((s.wall[i], int(s.steps[i]), value))
                # the row's other numbers (NaN/Inf/zero counts, min, max, mean, std, norm,
                # width), for from_tensorboard: the rows come back exactly (TensorBoard
                # shows no plugin of this name, and keeps the data)
                value = summary_pb2.Summary.Value(tag=f"{tag}/{_ROW}", tensor=tf.make_tensor_proto(s.rows[i, s.bins :].astype(np.float64)))
                if i == 0:
                    value.metadata.CopyFrom(meta(_PLUGIN, "tfhist_magic: the snapshot's counts beside the bins and its statistics"))
                events.append((s.wall[i], int(s.steps[i]), value))
    for metric in SCALARS:
        for name in rec.scalar_names(metric):
            steps, values = rec.scalar(metric, name)
            for i, (step, v) in enumerate(zip(steps, values)):
                value = summary_pb2.Summary.Value(tag=f"{metric}/{name}", tensor=tf.make_tensor_proto(np.float32(v)))
                if i == 0:
                    value.metadata.CopyFrom(meta("scalars", f"tfhist_magic: {metric}"))
                events.append((time.time(), int(step), value))
    events.sort(key=lambda ev: (ev[1], ev[0]))
    with tf.io.TFRecordWriter(str(path)) as w:
        w.write(event_pb2.Event(wall_time=time.time(), file_version="brain.Event:2").SerializeToString())
        for wall, step, value in events:
            w.write(event_pb2.Event(wall_time=float(wall), step=step, summary=summary_pb2.Summary(value=[value])).SerializeToString())
    return str(path)


def _kind_of(tag: str) -> tuple[str, str]:
    """The kind a tag is about, and the name to show it under."""
    head, _, rest = tag.partition("/")
    if head in KINDS and rest:
        return head, rest
    low = tag.lower()
    if "grad" in low:
        return "grads", tag
    if "activation" in low or "output" in low:
        return "activations", tag
    return "weights", tag


def _read_events(path: Path):
    """The Event protos of one file, and why it stopped early (None if it did not)."""
    import tensorflow as tf

    _, event_pb2 = _protos()
    events = []
    at = 0  # bytes read: each record is a 12-byte header, its data and a 4-byte CRC
    try:
        for raw in tf.data.TFRecordDataset(str(path)):
            data = raw.numpy()
            events.append(event_pb2.Event.FromString(data))
            at += len(data) + 16
    except Exception as e:  # noqa: BLE001 - DataLossError, DecodeError, ...: the file is damaged here
        text = re.sub(r"\{\{function_node [^}]*\}\}\s*", "", str(e)).split(" [Op:")[0].strip()
        why = re.search(r"(truncated|corrupted) record at \d+", text)
        return events, why.group(0) if why else (text.splitlines()[0] if text else type(e).__name__)
    if at < path.stat().st_size:  # the reader stops without a word at a cut inside a record's header
        return events, f"truncated record at {at}"
    return events, None


def _histogram_of(value, plugin: str | None):
    """``(edges, counts, stats)`` of one summary value, or None if it is not a histogram.
    ``stats`` is (num, sum, sum of squares, min, max) when the format carries them."""
    import tensorflow as tf

    if value.HasField("histo"):
        h = value.histo
        limits = list(h.bucket_limit)
        if not limits:
            return np.array([h.min, h.max], np.float64), np.zeros(1), (h.num, h.sum, h.sum_squares, h.min, h.max)
        lefts = [h.min] + limits[:-1]
        rights = limits[:-1] + [h.max]
        edges = np.array(lefts + rights[-1:], np.float64)
        return edges, np.array(h.bucket, np.float64), (h.num, h.sum, h.sum_squares, h.min, h.max)
    if value.HasField("tensor") and plugin == "histograms":
        t = tf.make_ndarray(value.tensor).astype(np.float64)
        if t.size == 0:
            return np.zeros(2), np.zeros(1), None
        t = t.reshape(-1, 3)
        return np.concatenate([t[:, 0], t[-1:, 1]]), t[:, 2], None
    return None


#: The plugin and tag suffix of the row's other numbers ``to_tensorboard`` writes beside a histogram.
_PLUGIN, _ROW = "tfhist_magic", "tfhist_row"
#: The dtype at the end of the description ``to_tensorboard`` writes.
_DTYPE = re.compile(r"^tfhist_magic: .* \(((?:b?float|u?int)\d+)\)$")


class _Found:
    """What the event files under a directory hold, read once."""

    def __init__(self):
        self.hists: dict = {}  # (run, tag) -> {step: (wall, edges, counts, stats)}
        self.scalars: dict = {}  # (run, metric, name) -> {step: value}
        self.plugins: dict = {}
        self.dtypes: dict = {}  # (run, tag) -> the dtype our own files name in the description
        self.extras: dict = {}  # (run, tag) -> {step: the row's other numbers}, from our own files
        self.notes: list = []

    def read(self, f: Path, run_name: str, pattern) -> None:
        """The summaries of one event file (a broken one adds a note)."""
        import tensorflow as tf

        if f.stat().st_size == 0:
            self.notes.append(f"{f}: empty event file, skipped.")
            return
        events, broken = _read_events(f)
        if broken is not None:
            kept = sum(1 for e in events if e.HasField("summary"))
            self.notes.append(f"{f}: truncated or malformed after {len(events)} records ({broken}); " + ("the rest of the file was skipped." if kept else "nothing in it was read."))
        for ev in events:
            for v in ev.summary.value if ev.HasField("summary") else ():
                key = (run_name, v.tag)
                if v.HasField("metadata") and v.metadata.plugin_data.plugin_name:
                    self.plugins[key] = v.metadata.plugin_data.plugin_name
                    said = _DTYPE.search(v.metadata.summary_description)
                    if said:
                        self.dtypes[key] = said.group(1)
                if v.tag.endswith("/" + _ROW) and self.plugins.get(key) == _PLUGIN and v.HasField("tensor"):
                    self.extras.setdefault((run_name, v.tag[: -len(_ROW) - 1]), {})[int(ev.step)] = tf.make_ndarray(v.tensor).astype(np.float64).ravel()
                    continue
                if pattern is not None and not pattern.search(v.tag):
                    continue
                got = _histogram_of(v, self.plugins.get(key))
                if got is None:
                    metric, _, of = v.tag.partition("/")
                    if metric in SCALARS and of and v.HasField("tensor"):  # our scalar series, back
                        self.scalars.setdefault((run_name, metric, of), {})[int(ev.step)] = float(tf.make_ndarray(v.tensor))
                    continue
                self.hists.setdefault(key, {})[int(ev.step)] = (ev.wall_time, *got)  # a later write of a step wins

    def rows(self, run_name: str, tag: str):
        """``(steps, walls, rows [S, 1, B+10], edges [S, 1, B+1])`` of one histogram tag."""
        snaps = self.hists[(run_name, tag)]
        steps = sorted(snaps)
        B = max(len(snaps[s][2]) for s in steps)
        rows, edges, walls = np.zeros((len(steps), 1, B + H.EXTRA)), np.zeros((len(steps), 1, B + 1)), np.zeros(len(steps))
        for i, s in enumerate(steps):
            wall, e, c, stats = snaps[s]
            k = len(c)
            edges[i, 0, : k + 1] = e
            edges[i, 0, k + 1 :] = e[-1]  # empty, zero-width bins pad a snapshot with fewer buckets
            rows[i, 0, :k] = c
            walls[i] = wall
            x = rows[i, 0, B:]
            x[H.MIN], x[H.MAX] = e[0], e[-1]
            x[H.MEAN] = x[H.STD] = x[H.NORM] = x[H.WIDTH] = np.nan
            if stats is not None and stats[0] > 0:
                num, total, squares, mn, mx = stats
                mean = total / num
                x[H.MIN], x[H.MAX], x[H.MEAN] = mn, mx, mean
                x[H.STD] = np.sqrt(max(squares / num - mean * mean, 0.0))
                x[H.NORM] = np.sqrt(squares)
            said = self.extras.get((run_name, tag), {}).get(s)
            if said is not None and said.size == H.EXTRA:  # our own file: the row exactly as recorded
                x[:] = said
        return steps, walls, rows, edges


def from_tensorboard(logdir, run: str | None = None, tag: str | None = None, *, max_snapshots: int = 256) -> Recording:
    """A Recording of the histogram summaries in the event files under ``logdir``.

    ``run`` (a glob on the run's directory relative to ``logdir``, ``.`` for files in it)
    and ``tag`` (a regular expression searched in the tag) narrow what is read. Each run
    is a model in the Recording; names are ``run/tag`` when several runs are read. What
    is read reaches the Recording as blocks, through :func:`~tfhist_magic.block.deliver`."""
    logdir = Path(logdir)
    if not logdir.is_dir():
        raise FileNotFoundError(f"{logdir}: no such directory")
    pattern = re.compile(tag) if tag is not None else None
    found = _Found()
    for f in sorted(p for p in logdir.rglob("*") if p.is_file() and "tfevents" in p.name):
        rel = f.parent.relative_to(logdir).as_posix()
        run_name = "." if rel in ("", ".") else rel
        if run is None or fnmatch.fnmatch(run_name, run):
            found.read(f, run_name, pattern)
    runs = sorted({r for r, _ in found.hists})
    # Each Series keeps its own bucket count; the Recording's says the largest (for its summary).
    widest = max((len(c) for snaps in found.hists.values() for _, _, c, _ in snaps.values()), default=1)
    rec = Recording(bins=int(np.clip(widest, 1, H.MAX_BINS)), max_snapshots=max_snapshots)
    for run_name, t in found.hists:  # in the order the files first hold them
        kind, name = _kind_of(t)
        name = f"{run_name}/{name}" if len(runs) > 1 else name
        steps, walls, rows, edges = found.rows(run_name, t)
        # the dtype is known when the file says it (ours do); TensorBoard's own summaries
        # keep float64 buckets whatever the tensor was, so theirs is "unknown", not float64
        dtype = found.dtypes.get((run_name, t), "unknown")
        deliver(rec, Block(steps=steps, walls=walls, names={kind: [name]}, dtypes={kind: [dtype]}, rows={kind: rows}, edges={kind: edges}), notify=False)
        deliver(rec, Block(model=run_name, names={kind: [name]}), notify=False)  # one tensor's rows: no gradient norm of the run
    scalars = {}
    for (run_name, metric, of), values in found.scalars.items():
        steps = sorted(values)
        scalars[(metric, of if len(runs) <= 1 else f"{run_name}/{of}")] = (steps, [values[k] for k in steps])
    deliver(rec, Block(scalars=scalars), notify=False)
    for n in found.notes:
        rec.note(n)
    if not found.hists:
        rec.note(f"{logdir}: no histogram summaries" + (f" matching run {run!r}" if run else "") + (f" and tag /{tag}/" if tag else "") + " in its event files.")
    return rec
