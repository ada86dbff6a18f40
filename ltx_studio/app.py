"""`ltx-studio`: build the app context, show the main window.

Start-up stays light: torch and the runtime are imported by the worker thread when the first job needs
them, never on the UI thread while the window is coming up.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from ltx_studio import __version__

log = logging.getLogger(__name__)


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
    """Entry point. `runtime_factory` replaces the production `open_runtime` (tests hand in a fake)."""
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
    window = MainWindow(ctx, runtime_factory)
    window.show()
    status = {"code": 0}
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
    app.exec()
    window.shutdown()
    return self_test.code if self_test is not None else status["code"]


if __name__ == "__main__":
    sys.exit(main())
