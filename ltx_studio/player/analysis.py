"""Thumbnails and waveform peaks for the timeline, computed off the GUI thread (QThreadPool).

Decoding a clip takes from tens of milliseconds to seconds: never on the GUI thread. Results come back
through a queued signal tagged with the path, so a result for a clip that was replaced meanwhile is
dropped by the receiver.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

log = logging.getLogger(__name__)


class _Signals(QObject):
    ready = Signal(str, object, object, object, object)  # path, MediaInfo, thumbnails, peaks, poster
    failed = Signal(str, str)                   # path, message


class _Job(QRunnable):
    def __init__(self, signals: _Signals, path: str, thumbs: int, thumb_height: int, bins: int) -> None:
        super().__init__()
        self.signals, self.path = signals, path
        self.thumbs, self.thumb_height, self.bins = thumbs, thumb_height, bins

    def run(self) -> None:
        from model_runtime.api import RuntimeErrorBase, probe, thumbnails, waveform_peaks

        try:
            info = probe(self.path)
            thumbs = thumbnails(self.path, self.thumbs, self.thumb_height)
            peaks = waveform_peaks(self.path, self.bins)
            # the first frame at (up to) 720p: shown until the player delivers frames of its own
            poster = thumbnails(self.path, 1, min(info.height, 720))[0] if info.frames else None
        except RuntimeErrorBase as exc:
            self.signals.failed.emit(self.path, str(exc))
            return
        except Exception as exc:  # a worker must report, never die silently
            log.exception("timeline analysis of %s failed", self.path)
            self.signals.failed.emit(self.path, f"{type(exc).__name__}: {exc}")
            return
        self.signals.ready.emit(self.path, info, thumbs, peaks, poster)


class ClipAnalyser(QObject):
    """Starts analyses on a private thread pool; `ready`/`failed` arrive on the owner's thread."""

    ready = Signal(str, object, object, object, object)
    failed = Signal(str, str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)
        self._signals = _Signals(self)
        self._signals.ready.connect(self.ready)
        self._signals.failed.connect(self.failed)

    def start(self, path: str, thumbs: int = 12, thumb_height: int = 48, bins: int = 600) -> None:
        self._pool.start(_Job(self._signals, path, thumbs, thumb_height, bins))

    def wait(self, msecs: int = 10_000) -> bool:
        return self._pool.waitForDone(msecs)
