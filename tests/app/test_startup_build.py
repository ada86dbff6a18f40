"""Progressive start-up: the window frame shows first, its contents build after; the log rotates by size."""

from __future__ import annotations

import logging

from PySide6.QtWidgets import QWidget


def test_window_frame_then_build(qtbot, tmp_path):
    from ltx_studio.context import AppContext
    from ltx_studio.paths import AppPaths
    from ltx_studio.ui.main_window import MainWindow

    w = MainWindow(AppContext.create(AppPaths.for_root(tmp_path)))
    qtbot.addWidget(w)
    w.show()
    for name in ("promptPanel", "presetsPanel", "previewArea", "queuePanel"):
        assert w.findChild(QWidget, name) is not None, name  # the layout's regions exist from the first paint
    qtbot.waitUntil(lambda: w.is_built, timeout=10_000)  # the event loop finishes the build by itself
    assert w.prompt_panel.isVisible() and w.queue_panel.isVisible()


def test_reading_a_panel_before_the_build_builds_it_now(qtbot, tmp_path):
    from ltx_studio.context import AppContext
    from ltx_studio.paths import AppPaths
    from ltx_studio.ui.main_window import MainWindow

    w = MainWindow(AppContext.create(AppPaths.for_root(tmp_path)))
    qtbot.addWidget(w)
    assert not w.is_built
    w.ensure_built()
    assert w.is_built and w.prompt_panel is not None and w.queue is not None
    w.ensure_built()  # idempotent


def test_log_file_rotates_by_size(tmp_path):
    from ltx_studio.context import SizeRotatingFileHandler

    path = tmp_path / "app.log"
    h = SizeRotatingFileHandler(path, max_bytes=2_000, backups=3)
    h.setFormatter(logging.Formatter("%(message)s"))
    log = logging.getLogger("rotation-test")
    log.propagate = False
    log.addHandler(h)
    try:
        for i in range(200):
            log.warning("line %04d %s", i, "x" * 80)
    finally:
        log.removeHandler(h)
        h.close()
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["app.log", "app.log.1", "app.log.2", "app.log.3"]  # never more than `backups` old files
    assert all((tmp_path / f).stat().st_size < 2_000 + 200 for f in files)
    assert "line 0199" in path.read_text()  # the newest line is in the live file
