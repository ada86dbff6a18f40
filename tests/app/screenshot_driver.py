"""Screenshot + layout check of the real window under an X server (test_screenshots runs it in a subprocess).

`python -m tests.app.screenshot_driver PROFILE OUT.png THEME` fills the screen with the main window (as a
maximised window would), waits for the deferred build and the player, then for the Queue and the History
tab: saves a screenshot and lists every visible widget whose rectangle is not inside the window, and every
button or plain label narrower than its text. Prints one JSON object on the last line of stdout.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def problems(window) -> list[str]:
    from PySide6.QtCore import QPoint, QRect
    from PySide6.QtWidgets import QAbstractButton, QAbstractScrollArea, QLabel, QWidget

    from ltx_studio.ui.widgets import ElidedLabel

    inside = window.rect()
    found = []
    for w in window.findChildren(QWidget):
        if not w.isVisible() or w.width() == 0:
            continue
        scroller = w.parent()
        in_scroll = False
        while scroller is not None and scroller is not window:  # scrolled content is clipped by design
            if isinstance(scroller, QAbstractScrollArea):
                in_scroll = True
                break
            scroller = scroller.parent()
        if in_scroll:
            continue
        rect = QRect(w.mapTo(window, QPoint(0, 0)), w.size())
        name = f"{type(w).__name__}({w.objectName() or getattr(w, 'text', lambda: '')() or ''})"
        if not inside.contains(rect):
            found.append(f"{name} at {rect.getRect()} outside the window {inside.getRect()}")
        short = isinstance(w, QAbstractButton) and w.text() and w.width() < w.minimumSizeHint().width()
        short = short or (isinstance(w, QLabel) and not isinstance(w, ElidedLabel) and not w.wordWrap()
                          and w.text() and not w.pixmap() and w.width() < w.minimumSizeHint().width())
        if short:
            found.append(f"{name} is {w.width()} px, narrower than its text ({w.minimumSizeHint().width()} px)")
    return found


def main(profile: str, out: str, theme: str) -> None:
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from ltx_studio.app import close_main_window
    from ltx_studio.context import AppContext
    from ltx_studio.paths import AppPaths
    from ltx_studio.ui.main_window import MainWindow
    from ltx_studio.ui.ui_state import UiState
    from tests.app.fake_runtime import FakeFactory

    app = QApplication(sys.argv[:1])
    paths = AppPaths.for_root(Path(profile))
    UiState(paths.config).set_theme(theme)
    w = MainWindow(AppContext.create(paths), FakeFactory())
    screen = app.primaryScreen().availableGeometry()
    w.setGeometry(screen)
    w.show()
    report: dict = {"screen": [screen.width(), screen.height()]}

    def check() -> None:
        if not w.is_built or not w._player_installed:
            QTimer.singleShot(50, check)
            return
        app.processEvents()
        frame = w.frameGeometry()
        report["window"] = [frame.width(), frame.height()]
        report["min_size"] = [w.minimumSizeHint().width(), w.minimumSizeHint().height()]
        report["problems"] = problems(w)
        keys = {"draft": w.prompt_panel.draft_button, "variants": w.prompt_panel.variants_button,
                "render": w.prompt_panel.render_button, "cancel_job": w.preview.cancel_button,
                "cancel_selected": w.queue_panel.cancel_button, "model_label": w.model_label,
                "play": w.preview.player.play_button, "volume": w.preview.player.volume,
                "aspect": w.presets_panel.aspect}
        report["welcome_shown"] = w.welcome is not None and w.welcome.isVisible()
        player_keys = ("play", "volume")

        def hidden(names) -> list[str]:
            return [k for k in names if not keys[k].isVisible() or keys[k].visibleRegion().boundingRect().width() == 0]

        report["hidden_keys"] = hidden([k for k in keys if k not in player_keys])  # the card is where the player goes
        w.grab().save(out.replace(".png", "-welcome.png"))
        w.dismiss_welcome()
        w.queue_panel.setCurrentIndex(1)  # History
        app.processEvents()
        report["hidden_keys"] += hidden([k for k in keys if k != "cancel_selected"])  # that one is on the Queue tab
        report["volume_width"] = w.preview.player.volume.width()
        report["problems"] += problems(w)
        report["hidden_keys"] += [f"history:{n}" for n, b in w.queue_panel.history_buttons.items() if not b.isVisible()]
        w.grab().save(out)
        print(json.dumps(report))
        app.quit()

    QTimer.singleShot(0, check)
    QTimer.singleShot(60_000, app.quit)
    app.exec()
    close_main_window(w)  # the app's own exit path


if __name__ == "__main__":
    main(*sys.argv[1:4])
