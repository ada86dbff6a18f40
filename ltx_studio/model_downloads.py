"""Model downloads for the app: one background thread per download run, progress as Qt signals.

The runtime's downloader (`ItemDownload`) blocks; it runs on a plain Python thread here (not the GPU
worker: downloads and generations are independent) and reports through signals, which Qt queues to the
GUI thread. Pause and cancel set the shared DownloadControl, checked on every chunk written; "resume" is
simply a new run, which continues from the bytes already on disk.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from model_runtime.api import (
    Catalogue,
    DownloadCancelled,
    DownloadControl,
    DownloadPaused,
    FileProgress,
    ItemDownload,
    ModelStore,
    RuntimeErrorBase,
    find_token,
)

log = logging.getLogger(__name__)


class ModelDownloads(QObject):
    """Runs downloads of catalogue items one after another; at most one run at a time."""

    progress = Signal(object)  # FileProgress
    item_done = Signal(str, str)  # item id, installed path
    paused = Signal(str)  # item id
    cancelled = Signal(str)
    failed = Signal(str, str)  # item id, one-line message
    idle = Signal()  # the run ended (done, paused, cancelled or failed)

    def __init__(self, catalogue: Catalogue, models_dir: str | Path, parent: QObject | None = None,
                 endpoint: str | None = None) -> None:
        super().__init__(parent)
        self.catalogue, self.store, self.endpoint = catalogue, ModelStore(models_dir), endpoint
        self._control: DownloadControl | None = None
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, item_ids: list[str]) -> bool:
        if self.running:
            return False
        self._control = DownloadControl()
        items = [self.catalogue.get(i) for i in item_ids]
        self._thread = threading.Thread(target=self._run, args=(items, self._control), name="model-download",
                                        daemon=True)
        self._thread.start()
        return True

    def pause(self) -> None:
        if self._control:
            self._control.pause()

    def cancel(self) -> None:
        if self._control:
            self._control.cancel()

    def wait(self, timeout: float | None = None) -> None:
        if self._thread:
            self._thread.join(timeout)

    def _run(self, items, control: DownloadControl) -> None:
        token = find_token().token
        try:
            for item in items:
                try:
                    inst = ItemDownload(item, self.store, token=token, control=control,
                                        progress=self._emit_progress, endpoint=self.endpoint).run()
                except DownloadPaused:
                    self.paused.emit(item.id)
                    return
                except DownloadCancelled:
                    self.cancelled.emit(item.id)
                    return
                except RuntimeErrorBase as exc:
                    self.failed.emit(item.id, str(exc))
                    return
                except OSError as exc:
                    self.failed.emit(item.id, f"{item.id}: {exc}")
                    return
                self.item_done.emit(item.id, inst.path)
        finally:
            self.idle.emit()

    def _emit_progress(self, p: FileProgress) -> None:
        self.progress.emit(p)
