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
    return p.parse_args(argv)


def _save_screenshot(window, path: Path) -> bool:
    path.parent.mkdir(parents=True, exist_ok=True)
    ok = window.grab().save(str(path))
    log.info("screenshot %s: %s", path, "saved" if ok else "FAILED")
    return ok


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)

    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from ltx_studio.context import AppContext
    from ltx_studio.paths import AppPaths
    from ltx_studio.ui.main_window import MainWindow

    ctx = AppContext.create(AppPaths.for_root(args.profile) if args.profile else None)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("LTX Studio")
    app.setApplicationVersion(__version__)
    window = MainWindow(ctx)
    window.show()
    status = {"code": 0}
    if args.screenshot:
        def shoot() -> None:
            status["code"] = 0 if _save_screenshot(window, args.screenshot) else 1
            app.quit()
        QTimer.singleShot(300, shoot)
    if args.quit_after > 0:
        QTimer.singleShot(int(args.quit_after * 1000), app.quit)
    app.exec()
    return status["code"]


if __name__ == "__main__":
    sys.exit(main())
