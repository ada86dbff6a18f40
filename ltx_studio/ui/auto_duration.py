"""LTX-2.5 "Auto" duration in the Format panel: the clip length the model predicts from the prompt, shown
before any job runs, and the frame count the job then uses.

The prediction encodes the prompt and runs the duration head, so it runs where the loaded model lives: the
generation worker's thread (`JobQueue.predict_duration`), never the GUI thread. It is asked for when Auto
is switched on, when the frame rate changes and when the user stops typing (the window's prompt timer);
answers are kept per (prompt, fps), so going back to a prompt costs nothing. A Draft or Render clicked
before the current prompt's length is known waits for it (`defer`) instead of running on a stale length.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from PySide6.QtCore import QObject

from ltx_studio.job_queue import JobQueue
from ltx_studio.ui.presets_panel import PresetsPanel

log = logging.getLogger(__name__)

MAX_KNOWN = 64  # predictions kept (per prompt and fps); a long session does not grow without bound


class AutoDuration(QObject):
    def __init__(self, queue: JobQueue, panel: PresetsPanel, prompt: Callable[[], str],
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.queue, self.panel, self._prompt = queue, panel, prompt
        self._known: dict[tuple[str, float], object] = {}  # (prompt, fps) -> api.DurationPrediction
        self._asked: tuple[str, float] | None = None
        self._asked_id = 0
        self._waiting: list[Callable[[], object]] = []
        queue.durationPredicted.connect(self._on_predicted)
        queue.durationFailed.connect(self._on_failed)
        panel.autoChanged.connect(self.refresh)
        panel.fps.currentIndexChanged.connect(self.refresh)

    def key(self) -> tuple[str, float]:
        return self._prompt().strip(), float(self.panel.fps.currentData())

    @property
    def prediction(self):
        """The current prompt's prediction (None: not known yet, or Auto is off)."""
        return self._known.get(self.key()) if self.panel.auto_on() else None

    def prompt_changed(self) -> None:
        """While the user types: the shown length follows the text at once (known, or pending), the
        prediction itself waits for the window's prompt timer (`refresh`)."""
        if not self.panel.auto_on():
            return
        key = self.key()
        if key in self._known:
            self._show(self._known[key])
        elif key == self._asked:  # the text came back to what is being predicted (or did not change)
            self.panel.show_auto("Auto: predicting the clip length…", None)
        else:
            self.panel.show_auto("Auto: the length follows when you stop typing…", None)

    def refresh(self, *_) -> None:
        """Show the current prompt's length, asking the worker for it when it is not known."""
        if not self.panel.auto_on():
            self._waiting.clear()
            return
        key = self.key()
        if not key[0]:
            self.panel.show_auto("Auto: write a prompt; the clip length is predicted from it", None)
            return
        if key in self._known:
            self._show(self._known[key])
            return
        if self._asked != key:
            lim = self.panel.presets.limits
            self._asked = key
            self._asked_id = self.queue.predict_duration(key[0], key[1], lim.min_seconds, lim.max_seconds)
        self.panel.show_auto("Auto: predicting the clip length…", None)

    def defer(self, retry: Callable[[], object]) -> bool:
        """True when Auto is on and the current prompt's length is not known yet: `retry` (the Draft or
        Render the user clicked) runs once it is. False: go ahead (the formats carry the length)."""
        if not self.panel.auto_on() or not self.key()[0] or self.key() in self._known:
            return False
        self._waiting.append(retry)
        self.refresh()
        return True

    def reset(self) -> None:
        """Another model: its duration head predicts other lengths."""
        self._known.clear()
        self._asked = None
        self._waiting.clear()
        self.refresh()

    def _show(self, p) -> None:
        self.panel.show_auto(f"Auto: {p.seconds:.2f} s predicted → {p.frames} frames "
                             f"({p.frames / p.fps:.2f} s at {p.fps:g} fps)", p.frames)

    def _on_predicted(self, request_id: int, prediction) -> None:
        if request_id != self._asked_id or self._asked is None:
            return  # an answer for a model or prompt that is gone
        key, self._asked = self._asked, None
        if len(self._known) >= MAX_KNOWN:
            self._known.clear()
        self._known[key] = prediction
        if key != self.key():
            self.refresh()  # the prompt changed meanwhile: ask for the new one
            return
        self._show(prediction)
        waiting, self._waiting = self._waiting, []
        for retry in waiting:
            retry()

    def _on_failed(self, request_id: int, message: str) -> None:
        if request_id != self._asked_id:
            return
        self._asked = None
        if self._waiting:
            log.warning("auto duration failed; %d job(s) not queued: %s", len(self._waiting), message)
        self._waiting.clear()
        self.panel.show_auto(f"Auto: no prediction ({message}); switch Auto off to set the length", None)
