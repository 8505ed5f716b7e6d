"""Views of a Recording: the widget dashboard, matplotlib figures, a text summary.

The display is picked by context, as TensorBoard's notebook code does: the widget (with
a PNG and text beside it) in a Jupyter kernel, the text summary in a terminal.
"""

from __future__ import annotations

__all__ = ["show", "in_kernel", "LiveView"]


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


def _mode(mode: str) -> str:
    if mode == "auto":
        return "widget" if in_kernel() else "text"
    return mode


def show(rec, *, mode: str = "auto"):
    """Display ``rec``; returns the Dashboard when a widget was shown."""
    from IPython.display import display

    mode = _mode(mode)
    if mode == "none":
        return None
    if mode == "widget":
        from .widget import Dashboard

        dash = Dashboard(rec)
        display(dash)
        return dash
    display(rec)
    return None


class LiveView:
    """Shows a Recording while it fills: the widget receives new rows as they arrive
    (the browser draws them), and when the cell ends the output is updated once more so
    the saved notebook carries the final picture and text."""

    def __init__(self, rec, *, mode: str = "auto", interval: float = 0.5):
        self.rec = rec
        self.mode = _mode(mode)
        self.interval = interval
        self.dashboard = None
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

    def finish(self):
        """Final refresh; returns the Dashboard (widget mode) or None."""
        from IPython.display import display

        if self.mode == "none":
            return None
        if self.dashboard is None:
            if self.mode == "widget":
                self.start()
            else:
                display(self.rec)
                return None
        self.dashboard.finish()
        if self._handle is not None:
            self._handle.update(self.dashboard)
        return self.dashboard
