"""`ltx-studio`: build the app context, show the main window.

Start-up stays light: torch and the runtime are imported by the worker thread when the first job needs
them, never on the UI thread while the window is coming up.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path

from ltx_studio import __version__

log = logging.getLogger(__name__)


def close_main_window(window) -> None:
    """End a session: stop the window's work (cancel, stop, join: `MainWindow.shutdown`), then delete the
    window through Qt while Python is fully alive, so parents delete their children in Qt's order.

    Why: a window left alive until interpreter exit is deleted by PySide's exit sweep, which deletes each
    Python-owned widget on its own, in hash order. A Browse button of Settings → Models was deleted before
    its dialog; dropping its `clicked` closure released the last reference to the dialog, which was then
    deleted inside the button's destructor and deleted the button a second time ("QObject: shared QObject
    was deleted directly", then exit -11 or -7, in about half the runs: issue 9)."""
    import shiboken6

    window.shutdown()
    if shiboken6.isValid(window):
        shiboken6.delete(window)


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="ltx-studio", description="LTX Studio: local LTX-2.3 video+audio studio")
    p.add_argument("--version", action="version", version=f"ltx-studio {__version__}")
    p.add_argument("--profile", type=Path, help="keep all data, settings and logs under this folder")
    p.add_argument("--screenshot", type=Path, help="save a screenshot of the main window once shown, then exit")
    p.add_argument("--quit-after", type=float, default=0.0, metavar="SECONDS",
                   help="exit after this many seconds (0 = run until closed)")
    p.add_argument("--self-test", action="store_true",
                   help="with a temporary profile and the demo model: draft, render that draft, play it, "
                        "save --screenshot; exit 0 only if every step worked")
    return p.parse_args(argv)


def _save_screenshot(window, path: Path) -> bool:
    path.parent.mkdir(parents=True, exist_ok=True)
    ok = window.grab().save(str(path))
    log.info("screenshot %s: %s", path, "saved" if ok else "FAILED")
    return ok


def main(argv: list[str] | None = None, runtime_factory=None) -> int:
    """Entry point. `runtime_factory` replaces the production `open_runtime` (tests hand in a fake).

    Ctrl-C or SIGTERM at any moment (start-up included) closes the app the normal way: one line on
    stderr, the window's shutdown (queue state saved, worker joined), exit 130 / 143."""
    original = _leave_on_signals_during_start_up()
    try:
        return _main(argv, runtime_factory)
    except KeyboardInterrupt:
        sys.stderr.write(START_UP_INTERRUPTED)
        return 130
    finally:
        for sig, handler in original.items():
            signal.signal(sig, handler)


START_UP_INTERRUPTED = "ltx-studio: interrupted during start-up; nothing was changed\n"


def _leave_on_signals_during_start_up() -> dict:
    """Until the event loop's own handlers are in place (`_quit_on_signals`), SIGINT/SIGTERM end the
    process at once with one line. Why not Python's KeyboardInterrupt: raised inside PySide6's module
    initialisation it left a half-built extension behind, and the interpreter's exit then crashed (-11,
    seen 1 run in ~15 of test_app_ctrl_c_during_start_up). Nothing is written before the window exists
    except through atomic renames, so leaving at once loses nothing. Returns the previous handlers."""
    import os

    if threading.current_thread() is not threading.main_thread():
        return {}

    def leave(signum, _frame) -> None:
        sys.stderr.write(START_UP_INTERRUPTED)
        sys.stderr.flush()
        os._exit(128 + signum)

    return {sig: signal.signal(sig, leave) for sig in (signal.SIGINT, signal.SIGTERM)}


def _quit_on_signals(app, status: dict) -> dict:
    """SIGINT and SIGTERM quit the event loop (Qt's C++ loop would otherwise delay Python's handlers until
    the next Python call: a 200 ms timer gives them that chance). Returns the previous handlers."""
    from PySide6.QtCore import QTimer

    if threading.current_thread() is not threading.main_thread():
        return {}

    def stop(signum, _frame) -> None:
        status["code"] = 128 + signum
        log.warning("signal %d: closing", signum)
        app.quit()
        # before `app.exec()` runs (the window is still being built) quit() is a no-op: a zero timer
        # is queued and quits the loop as soon as it starts, so no signal is ever lost
        QTimer.singleShot(0, app.quit)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    ticker = QTimer(app)
    ticker.timeout.connect(lambda: None)
    ticker.start(200)
    return previous


def _main(argv: list[str] | None, runtime_factory) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.self_test and args.profile is None:
        import tempfile

        args.profile = Path(tempfile.mkdtemp(prefix="ltx-studio-self-test-"))

    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from ltx_studio.context import AppContext
    from ltx_studio.paths import AppPaths
    from ltx_studio.quiet import quiet_qt_logging
    from ltx_studio.ui.main_window import MainWindow

    quiet_qt_logging()

    ctx = AppContext.create(AppPaths.for_root(args.profile) if args.profile else None)
    if args.self_test:
        ctx.save_settings(ctx.settings.with_changes(use_demo_model=True))
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("LTX Studio")
    app.setApplicationVersion(__version__)
    from ltx_studio.crash_report import CrashReporter

    reporter = CrashReporter(ctx.paths.log_file, app)
    hooks = sys.excepthook, threading.excepthook
    reporter.install()
    ctx.extras["crash_reporter"] = reporter
    for notice in ctx.notices:
        log.warning("start-up: %s", notice)
    status = {"code": 0}
    handlers = _quit_on_signals(app, status)
    window = MainWindow(ctx, runtime_factory)
    window.show()
    self_test = None
    if args.self_test:
        from ltx_studio.self_test import SelfTest

        self_test = SelfTest(window, args.screenshot)
        QTimer.singleShot(0, self_test.start)
    elif args.screenshot:
        def shoot() -> None:
            status["code"] = 0 if _save_screenshot(window, args.screenshot) else 1
            app.quit()
        QTimer.singleShot(300, shoot)
    if args.quit_after > 0:
        QTimer.singleShot(int(args.quit_after * 1000), app.quit)
    try:
        app.exec()
        close_main_window(window)
    finally:  # an in-process caller (tests, an embedding tool) gets its own hooks back
        sys.excepthook, threading.excepthook = hooks
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    if status["code"] >= 128:
        sys.stderr.write(f"ltx-studio: closed by signal {status['code'] - 128}\n")
    return self_test.code if self_test is not None else status["code"]


if __name__ == "__main__":
    sys.exit(main())
