"""Views of a Recording: the widget dashboard, its saved copy, matplotlib figures, a text
summary.

The display is picked by context, as TensorBoard's notebook code does. In a Jupyter
kernel: while a watched cell trains, the live widget (``widget.py``); when it ends, and
for ``rec.show()`` and ``%tfhist``, the dashboard the notebook keeps (``saved.py``: the
same page code and the data inlined as ``text/html``, with a PNG and text beside it),
which draws with no kernel: in the reopened notebook, in nbconvert HTML, in VS Code. In a
terminal, the text summary. ``mode="widget"`` asks for the live widget (its state in the
kernel: it shows "model not found" in a notebook reopened without it).
"""

from __future__ import annotations

__all__ = ["show", "in_kernel", "resolve_mode", "LiveView", "MODES"]

#: How a Recording can be shown: ``auto`` picks by context (see the module's docstring),
#: ``widget`` the live widget, ``html`` the saved dashboard, ``text`` the summary.
MODES = ("auto", "widget", "html", "text", "none")


def in_kernel() -> bool:
    """True inside a Jupyter kernel (where widgets can render): any
    ``ZMQInteractiveShell``, subclasses included (Colab's, ipyflow's)."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover
        return False
    shell = get_ipython()
    if shell is None:
        return False
    try:
        from ipykernel.zmqshell import ZMQInteractiveShell
    except ImportError:  # no ipykernel: a terminal
        return False
    return isinstance(shell, ZMQInteractiveShell)


def resolve_mode(mode: str, live: bool = False) -> str:
    """``mode`` checked, and ``auto`` picked by context: in a kernel the live widget
    (``live``: while recording) or the saved dashboard, else the text."""
    if mode not in MODES:
        raise ValueError(f"Received: mode={mode!r} (expected one of {', '.join(MODES)}).")
    if mode == "auto":
        return ("widget" if live else "html") if in_kernel() else "text"
    return mode


def show(rec, *, mode: str = "auto"):
    """Display ``rec``: in a kernel, the dashboard a saved notebook keeps (interactive, drawn
    from data inlined in the output); ``mode="widget"`` the live widget, which it returns
    (set its ``kind``, ``tensor``, ``view``, ``step`` from Python; it fetches any kept
    snapshot from the kernel, but a notebook reopened without the kernel cannot draw it);
    ``"text"`` the summary, ``"none"`` nothing. Returns the Dashboard or the SavedView shown."""
    from IPython.display import display

    mode = resolve_mode(mode)
    if mode == "none":
        return None
    if mode == "widget":
        from .widget import Dashboard

        dash = Dashboard(rec)
        display(dash)
        return dash
    if mode == "html":
        from .saved import SavedView

        saved = SavedView(rec)
        display(saved)
        return saved
    display(rec)
    return None


class LiveView:
    """Shows a Recording while it fills: the widget receives new rows as they arrive
    (the browser draws them), and when the cell ends its output is replaced (same
    ``display_id``) by the dashboard the notebook keeps (:class:`~.saved.SavedView`), so
    the saved notebook draws it with no kernel. With ``mode="widget"`` the live widget
    stays instead; with ``"html"`` only the saved dashboard is shown, at the end."""

    def __init__(self, rec, *, mode: str = "auto", interval: float = 0.5):
        self.rec = rec
        self.keep_widget = mode == "widget"
        self.mode = resolve_mode(mode, live=True)
        self.interval = interval
        self.dashboard = None
        self.saved = None
        self._handle = None

    @property
    def live(self) -> bool:
        return self.mode == "widget"

    def start(self) -> None:
        if self.mode != "widget":
            return
        from IPython.display import display

        from .widget import Dashboard

        self.dashboard = Dashboard(self.rec, live_interval=self.interval, live=True)
        self.dashboard.start_live()
        self._handle = display(self.dashboard, display_id=True)

    def ending(self) -> None:
        """The cell's code is done and the watch reads its last rows and final weights: a
        live page says "saving…" from now on, not "recording" (it is replaced next)."""
        if self.dashboard is not None and not self.keep_widget:
            self.dashboard.saving = True
            self.dashboard.refresh()

    def finish(self):
        """Final refresh: the live widget gets the last rows, then (unless the widget is to
        stay) the output becomes the saved dashboard and the widget is closed. Returns
        the Dashboard (closed unless kept), or None where none was shown."""
        from IPython.display import display

        if self.mode == "none":
            return None
        if self.mode == "html":
            from .saved import SavedView

            self.saved = SavedView(self.rec)
            display(self.saved)
            return None
        if self.dashboard is None:
            if self.mode == "widget":
                self.start()
            else:
                display(self.rec)
                return None
        self.dashboard.finish(saving=not self.keep_widget)  # the page says "saving…" while the copy is built
        if self.keep_widget:
            if self._handle is not None:
                self._handle.update(self.dashboard)
            return self.dashboard
        from .saved import SavedView

        # opens where the live view was: what the page showed, as the kernel last heard it
        self.saved = SavedView(self.rec, handoff=self.dashboard.uid, state=self.dashboard.page_state())
        if self._handle is not None:
            self._handle.update(self.saved)
        else:
            display(self.saved)
        self.dashboard.close()  # its page view is gone with the output; the page frees its data
        return self.dashboard
