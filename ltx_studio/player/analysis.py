"""Thumbnails and waveform peaks for the timeline, computed off the GUI thread (a `threads.TaskWorker`).

Decoding a clip takes from tens of milliseconds to seconds: never on the GUI thread. Results come back
through queued signals tagged with the path, so a result for a clip that was replaced meanwhile is
dropped by the receiver. One analysis runs at a time; a newer request waits for the running one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject, Signal

from ltx_studio.threads import TaskWorker

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Analysis:
    """What the timeline shows of one clip."""

    path: str
    info: Any          # api.MediaInfo
    thumbnails: Any
    peaks: Any
    poster: Any        # the first frame at (up to) 720p, shown until the player delivers frames


def analyse(path: str, thumbs: int, thumb_height: int, bins: int) -> Analysis:
    """Worker thread: probe the clip, decode its thumbnails and its waveform peaks."""
    from model_runtime.api import probe, thumbnails, waveform_peaks

    info = probe(path)
    poster = thumbnails(path, 1, min(info.height, 720))[0] if info.frames else None
    return Analysis(path, info, thumbnails(path, thumbs, thumb_height), waveform_peaks(path, bins), poster)


class ClipAnalyser(QObject):
    """Analyses one clip at a time on a worker thread; `ready`/`failed` arrive on the owner's thread."""

    ready = Signal(str, object, object, object, object)  # path, MediaInfo, thumbnails, peaks, poster
    failed = Signal(str, str)                            # path, message

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._worker: TaskWorker | None = None
        self._waiting: tuple[str, int, int, int] | None = None

    def start(self, path: str, thumbs: int = 12, thumb_height: int = 48, bins: int = 600) -> None:
        self._waiting = (path, thumbs, thumb_height, bins)
        if self._worker is None:
            self._next()

    def _next(self) -> None:
        if self._waiting is None:
            return
        path, thumbs, thumb_height, bins = self._waiting
        self._waiting = None
        self._path = path
        self._worker = TaskWorker(lambda _report: analyse(path, thumbs, thumb_height, bins), "clip-analysis")
        self._worker.returned.connect(self._on_returned)
        self._worker.failed.connect(self._on_failed)
        self._worker.finished.connect(self._on_finished)
        self._worker.start()

    def _on_returned(self, a: Analysis) -> None:
        self.ready.emit(a.path, a.info, a.thumbnails, a.peaks, a.poster)

    def _on_failed(self, exc: BaseException) -> None:
        from model_runtime.api import RuntimeErrorBase

        message = str(exc) if isinstance(exc, RuntimeErrorBase) else f"{type(exc).__name__}: {exc}"
        self.failed.emit(self._path, message)

    def _on_finished(self) -> None:
        self._join()
        self._next()

    def _join(self) -> None:
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.stop()

    def stop(self) -> None:
        """The owner is closing: drop the waiting request, join the running one (it has no cancel point)."""
        self._waiting = None
        self._join()
