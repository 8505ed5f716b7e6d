"""``%%tfhist_watch`` and ``%tfhist``: thin. Parse, resolve names, call the library, display."""

from __future__ import annotations

import ast
import keyword

from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, line_magic, magics_class, no_var_expand
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring
from traitlets import Bool, CaselessStrEnum, Float, Integer, TraitError, validate

from . import targets as T

__all__ = ["TfHistMagics"]


_WORDS = {"activations": "activations", "grads": "gradients", "weights": "weights"}


def _usage(fn, *args, **kwargs):
    """Call ``fn``; a ValueError about the user's input becomes a plain UsageError."""
    try:
        return fn(*args, **kwargs)
    except ValueError as e:
        raise UsageError(str(e)) from None


def _positive(flag: str, value):
    if value is not None and value < 1:
        raise UsageError(f"Received: {flag} {value} (expected an integer >= 1).")
    return value


def _empty_shape(value):
    """The shape of ``value`` (an array or tensor; a dict, list or tuple of them for a
    model of several inputs) when it holds an empty batch, with 0 as its first dimension
    (of any part); else None."""
    shape = getattr(value, "shape", None)
    if shape is None:
        if isinstance(value, dict):
            value = list(value.values())
        if isinstance(value, (list, tuple)) and value and all(hasattr(v, "shape") or isinstance(v, (dict, list, tuple)) for v in value):
            return next((s for s in map(_empty_shape, value) if s is not None), None)
        try:
            import numpy as np

            shape = np.shape(value)
        except Exception:  # not array-like: the model says what is wrong with it
            return None
    try:
        dims = tuple(None if d is None else int(d) for d in shape)
    except (TypeError, ValueError):  # an unknown rank
        return None
    return dims if dims and dims[0] == 0 else None


def _bins(value):
    from .histogram import MAX_BINS

    if value is not None and not 1 <= value <= MAX_BINS:
        raise UsageError(f"Received: --bins {value} (expected an integer from 1 to {MAX_BINS}).")
    return value


@magics_class
class TfHistMagics(Magics):
    """Histograms of activations, weights and gradients of TensorFlow models, inline."""

    bins = Integer(64, help="Bins per histogram.").tag(config=True)
    every = Integer(0, help="Record every N-th optimizer step; 0 means the package default.").tag(config=True)
    max_snapshots = Integer(256, help="Snapshots kept per tensor (first and latest always kept).").tag(config=True)
    display = CaselessStrEnum(
        ["auto", "widget", "html", "text", "none"],
        default_value="auto",
        help="How to show a Recording. auto: in Jupyter, the live widget while a watched cell runs, then (and for %tfhist) the "
        "dashboard the notebook keeps (drawn from data saved in the output, no kernel needed); text in a terminal. "
        "widget: the live widget, kept (it needs its kernel). html: only the saved dashboard.",
    ).tag(config=True)
    init_distance = Bool(
        True,
        help="Measure each weight's distance from where the watch found it (init_distance): keeps one copy of the "
        "trainable weights on the device for the whole watch; False saves that memory (see %%tfhist_watch --no-init-distance).",
    ).tag(config=True)
    live_interval = Float(0.5, help="Seconds between live widget updates while a watched cell runs (a number > 0).").tag(config=True)

    @validate("live_interval")
    def _check_live_interval(self, proposal):
        value = proposal["value"]
        if not 0 < value < float("inf"):
            raise TraitError(f"Received: TfHistMagics.live_interval = {value!r} (expected a number of seconds > 0, such as 0.5).")
        return value

    def __init__(self, shell=None, **kwargs):
        super().__init__(shell=shell, **kwargs)
        self.last_recording = None
        self.last_watch = None

    # -- %%tfhist_watch --------------------------------------------------------------
    @magic_arguments()
    @argument("targets", nargs="*", help="Models to record (names or expressions); default: every model that trains in the cell.")
    @argument("--every", type=int, default=None, help="Record every N-th optimizer step (step 0 always).")
    @argument("--kind", action="append", default=None, help="activations, weights, grads or all; repeat for several (default all).")
    @argument("--bins", type=int, default=None, help="Bins per histogram (default 64).")
    @argument("-o", "--output", default=None, metavar="VAR", help="Also store the Recording in VAR (it is always in _tfhist).")
    @argument("--logdir", default=None, metavar="DIR", help="Also write the Recording to DIR as TensorBoard event files when the cell ends.")
    @argument("--no-init-distance", action="store_true", help="Do not measure the weights' distance from where the watch found them: saves the one copy of the weights a watch keeps.")
    @no_var_expand
    @cell_magic
    def tfhist_watch(self, line, cell):
        """Run the cell and record histograms of every TensorFlow model (Keras 3, tf_keras,
        tf.compat.v1 Session graph) that trains in it."""
        __tracebackhide__ = True  # noqa: F841 - IPython hides this frame in tracebacks
        from .view import LiveView
        from .watcher import DEFAULT_EVERY, parse_kinds, watch

        args = parse_argstring(self.tfhist_watch, line)
        every = _positive("--every", args.every) or (self.every if self.every > 0 else DEFAULT_EVERY)
        bins = _bins(args.bins) or self.bins
        kinds = _usage(parse_kinds, args.kind)
        if args.output is not None and not (args.output.isidentifier() and not keyword.iskeyword(args.output)):
            raise UsageError(f"Received: -o {args.output!r} (expected a Python variable name, not a keyword).")
        models = [T.resolve_target(self.shell, t) for t in args.targets]
        init_distance = self.init_distance and not args.no_init_distance
        w = _usage(watch, *models, every=every, kinds=kinds, bins=bins, max_snapshots=self.max_snapshots, init_distance=init_distance)
        rec = w.recording
        view = LiveView(rec, mode=self.display if w.chief else "none", interval=self.live_interval)
        self.last_recording, self.last_watch = rec, w
        error = None
        try:
            w.__enter__()
        except RuntimeError as e:  # a watch already open, tf_keras asked for but missing
            raise UsageError(str(e)) from None
        try:
            view.start()
            w.set_live(self.live_interval if view.live else None)
            self._run_body(cell)
        except BaseException as e:  # noqa: BLE001 - re-raised below, after cleanup
            error = e
        finally:
            try:
                try:
                    view.ending()  # the page says "saving…" while the watch closes
                except Exception as e:  # a display failure must not hide the user's error
                    rec.note(f"display failed: {e}")
                w.__exit__(None, None, None)
            finally:
                self.shell.user_ns["_tfhist"] = rec
                if args.output:
                    self.shell.user_ns[args.output] = rec
                if args.logdir:
                    try:
                        rec.to_tensorboard(args.logdir)
                    except OSError as e:  # what was recorded stays in _tfhist
                        if error is None:
                            error = UsageError(f"Received: --logdir {args.logdir!r} ({e.strerror or e}); the Recording is in _tfhist.")
                if not w.chief:  # a multi-worker task other than the chief shows nothing
                    view.mode = "none"
                try:
                    view.finish()
                except Exception as e:  # a display failure must not hide the user's error
                    if error is None:
                        raise
                    rec.note(f"display failed: {e}")
        untrained = w.untrained_targets() if error is None else []
        self.last_watch = w.seen()  # names only: the watch's buffers and graphs can go
        if error is not None:
            raise error
        if untrained:
            names = [t for t, m in zip(args.targets, models) if any(m is u for u in untrained)]
            raise UsageError(
                f"Target {names[0]!r} never trained in this cell: name a model (or Session) whose fit, train_on_batch, optimizer update or training run happens in the cell."
            )

    def _run_body(self, cell: str) -> None:
        """Run ``cell`` as IPython would (magics, ``!``, AST transformers, last-expression
        display), but let its exception propagate so the cell ends as failed and the
        error is reported once, by IPython, with the user's own frames."""
        __tracebackhide__ = True  # noqa: F841
        shell = self.shell
        code = shell.transform_cell(cell)
        filename = shell.compile.cache(code, shell.execution_count, raw_code=cell)
        tree = shell.compile.ast_parse(code, filename=filename)
        tree = shell.transform_ast(tree)
        if tree is None:
            return
        body = list(tree.body)
        last = body.pop() if body and isinstance(body[-1], ast.Expr) else None
        ns_g, ns_l = shell.user_global_ns, shell.user_ns
        if body:
            exec(shell.compile(ast.Module(body=body, type_ignores=[]), filename, "exec"), ns_g, ns_l)
        if last is not None:
            exec(shell.compile(ast.Interactive(body=[last]), filename, "single"), ns_g, ns_l)

    # -- %tfhist ------------------------------------------------------------------------
    @magic_arguments()
    @argument("target", nargs="?", default=None, help="A model or Session (name or expression); default: the only one in the namespace.")
    @argument("--kind", action="append", default=None, help="weights, grads, activations or all (default all).")
    @argument("--data", nargs="+", default=None, metavar="X", help="For a model, expressions for a batch X [Y]: activations need X, gradients X and Y.")
    @argument("--feed", nargs="+", default=None, metavar="EXPR", help="For a Session, a feed_dict expression (default: the feed of its last watched run).")
    @argument("--bins", type=int, default=None, help="Bins per histogram for a fresh snapshot.")
    @argument("--logdir", default=None, metavar="DIR", help="Show the histogram summaries of the TensorBoard event files under DIR instead (no server).")
    @argument("--run", default=None, metavar="GLOB", help="With --logdir: only runs (directories under DIR) matching GLOB.")
    @argument("--tag", default=None, metavar="REGEX", help="With --logdir: only tags matching REGEX.")
    @argument("--compare", nargs="+", default=None, metavar="REC", help="Compare two or more Recordings (names in the namespace): the tensors ranked by how far the runs differ, each drawn for every run.")
    @argument("--labels", nargs="+", default=None, metavar="LABEL", help="With --compare: one label per Recording (default: their names).")
    @no_var_expand
    @line_magic
    def tfhist(self, line):
        """Show one model's (or Session graph's) histograms: what the last watch recorded, or a fresh snapshot;
        or, with --logdir, the histograms of TensorBoard event files; or, with --compare, several runs compared."""
        from .view import show
        from .watcher import is_session, parse_kinds

        args = parse_argstring(self.tfhist, line)
        if args.compare is not None or args.labels is not None:
            return self._compare(args)
        if args.logdir is not None or args.run is not None or args.tag is not None:
            return self._tensorboard(args)
        kinds = _usage(parse_kinds, args.kind)
        bins = _bins(args.bins) or self.bins
        if args.data is not None:
            args.data = T.split_expressions(" ".join(args.data), "--data", 2)
        if args.target is None:
            label, target = T.default_target(self.shell)
        else:
            label, target = args.target, T.resolve_target(self.shell, args.target)
        session = is_session(target)
        if session and args.data is not None:
            raise UsageError(f"{label!r} is a Session: pass its batch as --feed EXPR (a feed_dict), not --data.")
        if not session and args.feed is not None:
            raise UsageError(f"{label!r} is a model: pass its batch as --data X Y, not --feed.")

        w = self.last_watch
        names = w.recorded_names(target) if w is not None else None
        if names and args.data is None and args.feed is None:
            show(self.last_recording.subset(kinds=kinds, names=names), mode=self.display)
            return None

        explicit = args.kind is not None and "all" not in args.kind
        needs = [k for k in kinds if k in ("activations", "grads")]
        if session:
            fresh = self._session_snapshot(label, target, kinds, needs, explicit, args.feed, bins)
        else:
            fresh = self._model_snapshot(label, target, kinds, needs, explicit, args.data, bins)
        show(fresh, mode=self.display)
        return None

    def _compare(self, args):
        from .compare import compare
        from .recording import Recording

        if args.compare is None:
            raise UsageError(f"Received: --labels {' '.join(args.labels)} without --compare (labels name the Recordings given to --compare).")
        other = [flag for flag, v in (("a model", args.target), ("--data", args.data), ("--feed", args.feed), ("--logdir", args.logdir), ("--run", args.run), ("--tag", args.tag), ("--bins", args.bins), ("--kind", args.kind)) if v is not None]
        if other:
            raise UsageError(f"Received: --compare with {other[0]} (--compare takes only the names of Recordings and --labels).")
        names = args.compare
        if len(names) < 2:
            raise UsageError(f"Received: --compare {names[0]} (expected at least two Recordings, as in --compare rec_a rec_b).")
        runs = []
        for name in names:
            rec = T.evaluate(self.shell, name, "a Recording (from %%tfhist_watch -o VAR, Recording.load or Recording.from_tensorboard)")
            if not isinstance(rec, Recording):
                raise UsageError(f"Received: --compare {name}, a {type(rec).__name__} (expected a Recording: from %%tfhist_watch -o VAR, Recording.load or Recording.from_tensorboard).")
            runs.append(rec)
        labels = args.labels if args.labels is not None else names
        if len(labels) != len(runs):
            raise UsageError(f"Received: --labels {' '.join(labels)} ({len(labels)} labels for {len(runs)} Recordings; expected one label per Recording).")
        if len(set(labels)) != len(labels):
            dup = next(x for x in labels if labels.count(x) > 1)
            if args.labels is None:
                raise UsageError(f"Received: --compare with {dup!r} twice (expected different Recordings, or --labels to tell them apart).")
            raise UsageError(f"Received: --labels with {dup!r} twice (expected a different label for each Recording).")
        cmp = compare(*runs, labels=labels)
        self.shell.user_ns["_tfhist_compare"] = cmp
        cmp.show(mode=self.display)
        return None

    def _tensorboard(self, args):
        import re

        from .recording import Recording
        from .view import show

        if args.logdir is None:
            raise UsageError(f"Received: {'--run' if args.run is not None else '--tag'} without --logdir (they choose runs and tags of the event files under --logdir DIR).")
        if args.target is not None or args.data is not None or args.feed is not None:
            raise UsageError("Received: --logdir with a model, --data or --feed (--logdir shows event files; name no model).")
        if args.tag is not None:
            try:
                re.compile(args.tag)
            except re.error as e:
                raise UsageError(f"Received: --tag {args.tag!r} (not a regular expression: {e}).") from None
        try:
            rec = Recording.from_tensorboard(args.logdir, run=args.run, tag=args.tag, max_snapshots=self.max_snapshots)
        except FileNotFoundError:
            raise UsageError(f"Received: --logdir {args.logdir!r} (no such directory).") from None
        self.shell.user_ns["_tfhist"] = rec
        show(rec, mode=self.display)
        return None

    def _model_snapshot(self, label, model, kinds, needs, explicit, data, bins):
        from .watcher import snapshot

        if needs and data is None and explicit:
            raise UsageError(
                f"{' and '.join(_WORDS[k] for k in needs).capitalize()} of {label!r} need a batch: pass --data X Y, or watch a training cell first with %%tfhist_watch."
            )
        x = y = None
        if data is not None:
            x = T.evaluate(self.shell, data[0], "an input batch")
            y = T.evaluate(self.shell, data[1], "a target batch") if len(data) > 1 else None
            for expr, value in zip(data, (x, y)):
                shape = _empty_shape(value)
                if shape is not None:
                    raise UsageError(f"Received: --data {' '.join(data)}, an empty batch: {expr} has shape {shape} (expected at least one example, a first dimension >= 1).")
            if "grads" in kinds and y is None and explicit:
                raise UsageError(f"Gradients of {label!r} need targets: pass --data X Y.")
        use = tuple(k for k in kinds if k == "weights" or (k == "activations" and x is not None) or (k == "grads" and y is not None))
        try:
            fresh = snapshot(model, kinds=use, x=x, y=y, bins=bins)
        except Exception as e:  # a batch the model cannot take: wrong shape, X/Y mismatch
            if x is None:
                raise
            raise UsageError(f"Running {label!r} on --data {' '.join(data)} failed: {T.tf_message(e)}.") from None
        missing = [k for k in kinds if k not in use]
        if missing:
            fresh.note(f"{', '.join(_WORDS[k] for k in missing)} need a batch: pass --data X Y, or watch a training cell with %%tfhist_watch.")
        return fresh

    def _session_snapshot(self, label, sess, kinds, needs, explicit, feed_expr, bins):
        from .watcher import snapshot

        feed = None
        if feed_expr is not None:
            feed_expr = " ".join(feed_expr)
            feed = T.evaluate(self.shell, feed_expr, "a feed_dict")
            if not isinstance(feed, dict):
                raise UsageError(f"Received: --feed {feed_expr} is a {type(feed).__name__} (expected a dict mapping placeholders to values).")
        elif self.last_watch is not None:
            feed = self.last_watch.last_feed(sess)
        if needs and feed is None and explicit:
            raise UsageError(
                f"{' and '.join(_WORDS[k] for k in needs).capitalize()} of {label!r} need a feed: pass --feed EXPR (a feed_dict), or watch a cell that runs it first."
            )
        use = tuple(k for k in kinds if k == "weights" or feed is not None)
        fresh = _usage(snapshot, sess, kinds=use, feed=feed, bins=bins)
        missing = [k for k in kinds if k not in use]
        if missing:
            fresh.note(f"{', '.join(_WORDS[k] for k in missing)} need a feed: pass --feed EXPR, or watch a cell that runs the session.")
        return fresh
