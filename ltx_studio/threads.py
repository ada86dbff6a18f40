"""The app's one thread idiom: a worker QObject on its own named QThread, driven by generators, stopped by request.

In the spirit of superqt's `GeneratorWorker`: the work is a generator (the runtime's `generate`, driven by
`api.drive`) or a
function that reports through a callback (the export); each item it produces becomes a signal, emitted on
the worker thread and delivered on the GUI thread by Qt's queued connections.

Rules that keep it safe (each one fixes a bug we had):
* Signals of a worker are connected to bound methods of GUI-thread QObjects only: a plain lambda has no
  thread of its own, so Qt runs it on the emitting (worker) thread, where joining the worker's own thread
  printed "QThread::wait: Thread tried to wait on itself".
* Stopping is a request, then a join: `WorkerThread.stop(cancel)` cancels the work (the runtime polls its
  CancelToken between steps, the warm-up between import groups), quits the event loop and waits for the
  thread to end, without a timeout. A running QThread is never destroyed ("QThread: Destroyed while thread
  is still running" aborted the app, exit 134).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal, Slot

log = logging.getLogger(__name__)


class WorkerThread:
    """A QObject worker moved to its own named QThread; `start` after wiring its signals, `stop` cancels
    and joins."""

    def __init__(self, worker: QObject, name: str) -> None:
        self.worker = worker
        self.thread = QThread()
        self.thread.setObjectName(name)
        worker.moveToThread(self.thread)

    def start(self) -> None:
        self.thread.start()

    def is_running(self) -> bool:
        return self.thread.isRunning()

    def stop(self, cancel: Callable[[], None] = lambda: None) -> None:
        """Ask the work to stop (`cancel`), end the thread's event loop, and wait for the thread to end."""
        cancel()
        self.thread.quit()
        self.thread.wait()  # cooperative: the work stops at its next cancel check; never abandon a thread


class TaskWorker(QObject):
    """Runs one `task(report)` on its own thread: `report(item)` emits `progressed(item)`; then exactly one
    of `returned(value)` / `cancelled(reason)` / `failed(exception)`, then `finished()` (all on the GUI
    thread). `cancelled_by` names the exception types that mean "stopped on request"."""

    progressed = Signal(object)
    returned = Signal(object)
    cancelled = Signal(str)
    failed = Signal(object)
    finished = Signal()

    def __init__(self, task: Callable[[Callable[[Any], None]], Any], name: str,
                 cancelled_by: tuple[type[BaseException], ...] = ()) -> None:
        super().__init__()
        self._task = task
        self._cancelled_by = cancelled_by
        self._host = WorkerThread(self, name)
        self._host.thread.started.connect(self.run)

    def start(self) -> None:
        self._host.start()

    @Slot()
    def run(self) -> None:
        try:
            value = self._task(self.progressed.emit)
        except self._cancelled_by as exc:
            self.cancelled.emit(str(exc) or "cancelled")
        except Exception as exc:  # noqa: BLE001 - a worker reports every failure; it never dies silently
            log.exception("%s failed", self._host.thread.objectName())
            self.failed.emit(exc)
        else:
            self.returned.emit(value)
        finally:
            self.finished.emit()

    def stop(self, cancel: Callable[[], None] = lambda: None) -> None:
        self._host.stop(cancel)

    def is_running(self) -> bool:
        return self._host.is_running()
