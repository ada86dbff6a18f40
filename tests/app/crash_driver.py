"""Run the real window with a slow fake runtime, queue a draft and a render, report when the draft runs.

Used by test_studio_recovery: the test kills this process with SIGKILL mid-job, then restarts the app.
"""

from __future__ import annotations

import sys
from pathlib import Path


def main(profile: str) -> None:
    from PySide6.QtWidgets import QApplication

    from ltx_studio.context import AppContext
    from ltx_studio.paths import AppPaths
    from ltx_studio.ui.main_window import MainWindow
    from tests.app.fake_runtime import FakeFactory

    app = QApplication(sys.argv[:1])
    ctx = AppContext.create(AppPaths.for_root(Path(profile)))
    w = MainWindow(ctx, FakeFactory(steps=1000, step_s=0.05))
    w.prompt_panel.prompt.setPlainText("a lighthouse in a storm")
    draft = w.draft()
    render = w.render_prompt()
    draft.progress.connect(lambda p: print(f"RUNNING {draft.id} {render.id} {p.stage}", flush=True))
    app.exec()


if __name__ == "__main__":
    main(sys.argv[1])
