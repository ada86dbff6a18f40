"""Settings -> Models -> Save (switching the model), then quit: the sequence that printed
"QObject: shared QObject was deleted directly" at exit. Used by test_seam in a subprocess (stderr is read)."""

from __future__ import annotations

import sys
from pathlib import Path


def main(profile: str) -> None:
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

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
    w.shutdown()


if __name__ == "__main__":
    main(sys.argv[1])
