"""The ipywidgets dashboard: tabs per kind, a tensor selector, a step slider.

State lives in the widgets' traits; the picture is a function of the Recording plus
those values. Like ipympl, the displayed bundle carries ``image/png`` and
``text/plain`` beside the widget view, so nbconvert, GitHub and terminals show
something useful where no widget can run.
"""

from __future__ import annotations

import base64
import time

import ipywidgets as W

from .figure import TITLES, describe, over_time_figure, overview_png, snapshot_figure, to_png
from ..recording import KINDS

__all__ = ["Dashboard"]


class _Panel:
    """One tab: the controls and the picture for one kind."""

    def __init__(self, dash: "Dashboard", kind: str):
        self.dash = dash
        self.kind = kind
        self.tensor = W.Dropdown(description="tensor", layout=W.Layout(width="420px"))
        self.step = W.IntSlider(description="snapshot", min=0, max=0, value=0, continuous_update=False, layout=W.Layout(width="420px"))
        self.mode = W.ToggleButtons(options=[("step", "step"), ("over time", "time")], value="step", style={"button_width": "90px"})
        self.info = W.HTML()
        self.image = W.Image(format="png")
        self.box = W.VBox([W.HBox([self.tensor, self.mode]), self.step, self.info, self.image])
        self.tensor.observe(self._changed, "value")
        self.step.observe(self._changed, "value")
        self.mode.observe(self._changed, "value")
        self._muted = False
        self.drawn: dict = {}

    def refresh(self) -> None:
        rec = self.dash.recording
        names = rec.names(self.kind)
        self._muted = True
        try:
            if list(self.tensor.options) != names:
                keep = self.tensor.value
                self.tensor.options = names
                self.tensor.value = keep if keep in names else (names[0] if names else None)
            if self.tensor.value is not None:
                n = len(rec.series(self.kind, self.tensor.value))
                follow = self.step.value == self.step.max
                self.step.max = max(0, n - 1)
                if follow:
                    self.step.value = self.step.max
        finally:
            self._muted = False
        self.draw()

    def _changed(self, change) -> None:
        if self._muted:
            return
        if change["owner"] is self.tensor and self.tensor.value is not None:
            self._muted = True
            try:
                n = len(self.dash.recording.series(self.kind, self.tensor.value))
                self.step.max = max(0, n - 1)
                self.step.value = min(self.step.value, self.step.max)
            finally:
                self._muted = False
        self.draw()

    def draw(self) -> None:
        name = self.tensor.value
        if name is None:
            self.info.value = f"<i>No {TITLES[self.kind].lower()} recorded.</i>"
            self.image.value = b""
            self.drawn = {}
            return
        s = self.dash.recording.series(self.kind, name)
        i = min(self.step.value, len(s) - 1)
        self.step.description = f"step {s.steps[i]}"
        self.info.value = f"<code>{describe(s, i)}</code>"
        if self.mode.value == "time":
            fig = over_time_figure(s)
        else:
            fig = snapshot_figure(s, i)
        self.image.value = to_png(fig)
        self.drawn = {"kind": self.kind, "name": name, "mode": self.mode.value, "step": int(s.steps[i]), "counts": s.counts[i], "edges": s.edges[i]}


class Dashboard:
    """The tabbed widget for a Recording. ``refresh()`` re-reads it (live updates)."""

    def __init__(self, recording, *, min_interval: float = 0.5):
        self.recording = recording
        self.panels = {k: _Panel(self, k) for k in KINDS}
        self.tabs = W.Tab(children=[self.panels[k].box for k in KINDS], titles=[TITLES[k] for k in KINDS])
        first = recording.kinds[0] if recording.kinds else "weights"
        self.tabs.selected_index = KINDS.index(first)
        self.notes = W.HTML()
        self.widget = W.VBox([self.tabs, self.notes])
        self.min_interval = min_interval
        self._last = 0.0
        self.refresh()

    def refresh(self, *_):
        """Re-read the Recording into every tab."""
        for p in self.panels.values():
            p.refresh()
        from ..health import findings

        self.notes.value = "".join(f"<div style='color:#a60'>&#9888; {f}</div>" for f in findings(self.recording)) + "".join(
            f"<div style='color:#b00'>{n}</div>" for n in self.recording.notes
        )
        self._last = time.monotonic()

    def on_recording_changed(self, rec) -> None:
        """Recording listener: refresh at most every ``min_interval`` seconds."""
        if time.monotonic() - self._last >= self.min_interval:
            self.refresh()

    @property
    def panel(self) -> _Panel:
        return self.panels[KINDS[self.tabs.selected_index or 0]]

    def _repr_mimebundle_(self, include=None, exclude=None, **kwargs):
        data = self.widget._repr_mimebundle_(include=include, exclude=exclude, **kwargs) or {}
        if isinstance(data, tuple):
            data = data[0]
        data = dict(data)
        if len(self.recording):
            data["image/png"] = base64.b64encode(overview_png(self.recording)).decode("ascii")
        data["text/plain"] = self.recording.summary()
        return data
