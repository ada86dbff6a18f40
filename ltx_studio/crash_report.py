"""Every uncaught exception in the app goes to the log file and to a dialog, never only to a terminal.

Why: a desktop app is started from a launcher; stderr goes nowhere. Before this hook, a damaged history
database left the window on "Starting…" forever with the traceback on stderr only. Now the full traceback
is written to the rotating log and the user sees one sentence naming the problem and where the details are.

The dialog is shown non-modally (`open()`, not `exec()`): a second error, or a test running offscreen,
never blocks on it. Exceptions raised on other threads reach the GUI thread through a queued signal.
"""

from __future__ import annotations

import logging
import sys
import threading
from types import TracebackType

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QApplication, QMessageBox

log = logging.getLogger(__name__)


def one_line(exc: BaseException) -> str:
    text = (str(exc).strip().splitlines() or [""])[0][:300]
    return f"{exc.__class__.__name__}: {text}" if text else exc.__class__.__name__


class CrashReporter(QObject):
    """Owns the dialog(s); `report` may be called from any thread."""

    _show = Signal(str)

    def __init__(self, log_file: object, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.log_file = log_file
        self.messages: list[str] = []  # what was shown, for tests and for the status bar
        self._dialogs: list[QMessageBox] = []
        self._show.connect(self._open_dialog, Qt.ConnectionType.QueuedConnection)

    def report(self, exc: BaseException, tb: TracebackType | None = None, where: str = "") -> None:
        log.critical("uncaught error%s", f" in {where}" if where else "", exc_info=(type(exc), exc, tb or exc.__traceback__))
        message = f"An unexpected error happened{f' while {where}' if where else ''}: {one_line(exc)}. " \
                  f"The details are in the log: {self.log_file}"
        self.messages.append(message)
        self._show.emit(message)

    def _open_dialog(self, message: str) -> None:
        if QApplication.instance() is None:
            return
        box = QMessageBox(QMessageBox.Icon.Critical, "LTX Studio: unexpected error", message)
        box.setObjectName("crashDialog")
        box.finished.connect(lambda _r, b=box: self._dialogs.remove(b) if b in self._dialogs else None)
        self._dialogs.append(box)
        box.open()

    def install(self) -> None:
        """Route sys.excepthook and threading.excepthook here (KeyboardInterrupt keeps its default)."""
        def hook(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
            if issubclass(kind, KeyboardInterrupt):
                sys.__excepthook__(kind, exc, tb)
                return
            self.report(exc, tb)

        def thread_hook(args: threading.ExceptHookArgs) -> None:
            if args.exc_value is not None:
                self.report(args.exc_value, args.exc_traceback, f"running {getattr(args.thread, 'name', 'a thread')}")

        sys.excepthook = hook
        threading.excepthook = thread_hook
