"""Settings -> Models -> Save (switching the model), then quit: the sequence that printed
"QObject: shared QObject was deleted directly" at exit and crashed (-11, -7) in about half the runs.
Used by test_seam in a subprocess (stderr is read).

The cause was the exit order, not the load: the window lived until interpreter exit, and PySide's exit
sweep deleted a Browse button of the (still alive) Models dialog before the dialog, which the button's
`clicked` closure kept alive; the dialog was then deleted inside the button's destructor and deleted the
button again. The driver ends the way the app does (`close_main_window`) and then prints every Qt object
still wrapped by Python in a parent/child tree ("left for the exit sweep"): with the fix there are none, so
the sweep has nothing
to delete in an order that matters."""

from __future__ import annotations

import sys
from pathlib import Path


def main(profile: str) -> None:
    from PySide6.QtCore import QObject, QTimer
    from PySide6.QtWidgets import QApplication
    from shiboken6 import Shiboken

    from ltx_studio.app import close_main_window
    from ltx_studio.context import AppContext
    from ltx_studio.paths import AppPaths
    from ltx_studio.ui.main_window import MainWindow
    from ltx_studio.ui.models_page import ModelsDialog
    from tests.app.fake_runtime import FakeFactory

    app = QApplication(sys.argv[:1])
    ctx = AppContext.create(AppPaths.for_root(Path(profile)))
    # start off the demo so that Save switches the model to the demo (Save refuses to leave the demo
    # without model files, so switching the other way would not be saved)
    ctx.save_settings(ctx.settings.with_changes(use_demo_model=False))
    w = MainWindow(ctx, FakeFactory())
    w.show()

    def save() -> None:
        dialog = next(d for d in app.topLevelWidgets() if isinstance(d, ModelsDialog) and d.isVisible())
        dialog.demo.setChecked(True)
        dialog.accept()
        assert not dialog.isVisible(), dialog.refusal.text()

    def open_models() -> None:
        QTimer.singleShot(300, save)
        w.open_models_page()
        QTimer.singleShot(500, app.quit)

    QTimer.singleShot(500, open_models)
    app.exec()
    close_main_window(w)  # the app's own exit path
    # what the sweep would still delete one by one (the objects Python owns): those in a parent/child tree
    # are the hazard (a lone QThread or QSettings deleted in any order is not)
    left = sorted(type(o).__name__ for o in Shiboken.getAllValidWrappers()
                  if isinstance(o, QObject) and Shiboken.ownedByPython(o) and (o.parent() is not None or o.children()))
    sys.stderr.write(f"left for the exit sweep: {len(left)} {left}\n")


if __name__ == "__main__":
    main(sys.argv[1])
