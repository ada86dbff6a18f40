"""The window with damaged state: it starts, says what it repaired, and every uncaught error reaches the
log and a dialog (pytest-qt, offscreen)."""

from __future__ import annotations

import logging
import sqlite3

import pytest

SPEC = {"prompt": "a fox", "seed": 1, "width": 64, "height": 64, "frames": 9, "fps": 24.0}


def _window(qtbot, paths, factory=None):
    from ltx_studio.context import AppContext
    from ltx_studio.ui.main_window import MainWindow
    from tests.app.fake_runtime import FakeFactory

    w = MainWindow(AppContext.create(paths), factory or FakeFactory(steps=1, step_s=0.01))
    qtbot.addWidget(w)
    w.show()
    qtbot.waitUntil(lambda: w.is_built, timeout=10_000)
    return w


def test_garbage_database_and_list_settings_start_fresh(qtbot, tmp_path, caplog):
    from ltx_studio.paths import AppPaths

    paths = AppPaths.for_root(tmp_path).ensure()
    paths.database.write_bytes(b"this is not sqlite" * 100)
    paths.settings_file.write_text("[]")
    w = _window(qtbot, paths)
    try:
        assert w.statusBar().currentMessage() == "Ready"
        text = w.banner.text()
        assert w.banner.isVisibleTo(w) and "history database was damaged" in text and "Settings file was damaged" in text
        assert any(p.name.startswith("studio.sqlite3.damaged-") for p in paths.data.iterdir())
        assert any(p.name.startswith("settings.json.damaged-") for p in paths.config.iterdir())
        log = caplog.text  # the file log is the root logger's handler (set up once per process)
        assert "moved aside to studio.sqlite3.damaged-" in log and "moved aside to settings.json.damaged-" in log
    finally:
        w.shutdown()


def test_bad_queue_rows_do_not_brick_the_window(qtbot, tmp_path):
    """One queued row whose spec is not JSON and one missing fields: the other job is restored."""
    from ltx_studio.paths import AppPaths
    from ltx_studio.store import JobStore

    paths = AppPaths.for_root(tmp_path).ensure()
    store = JobStore(paths.database)
    good = store.add("draft", SPEC)
    bad1 = store.add("draft", SPEC)
    bad2 = store.add("render", {"prompt": "no size"})
    store.close()
    con = sqlite3.connect(paths.database)
    con.execute("UPDATE jobs SET spec='{{{' WHERE id=?", (bad1,))
    con.commit()
    con.close()
    w = _window(qtbot, paths)
    try:
        assert [j.id for j in w.queue.pending] == [good]
        assert "2 unreadable job(s) in the history were set aside" in w.banner.text()
        moved = [r[0] for r in w.store._db.execute("SELECT job_id FROM quarantine ORDER BY job_id")]
        assert moved == [bad1, bad2]
    finally:
        w.shutdown()


def test_a_failing_start_up_step_shows_a_banner_not_starting_forever(qtbot, tmp_path, monkeypatch, caplog):
    from ltx_studio.paths import AppPaths
    from ltx_studio.store import JobStore

    def boom(*a, **kw):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(JobStore, "open_or_heal", classmethod(lambda cls, *a, **kw: boom()))
    from ltx_studio.context import AppContext
    from ltx_studio.ui.main_window import MainWindow

    paths = AppPaths.for_root(tmp_path).ensure()
    w = MainWindow(AppContext.create(paths))
    qtbot.addWidget(w)
    w.show()
    qtbot.waitUntil(lambda: w.banner.isVisibleTo(w), timeout=10_000)
    assert "Start-up failed: OSError: [Errno 28] No space left on device" in w.banner.text()
    assert str(paths.log_file) in w.banner.text()
    assert w.statusBar().currentMessage() == "Start-up failed (see the banner)"
    assert "start-up step _build_store failed" in caplog.text and "Traceback" in caplog.text
    w.shutdown()


@pytest.mark.parametrize("where", ["gui", "thread"])
def test_uncaught_exception_goes_to_log_and_dialog(qtbot, tmp_path, caplog, where):
    import sys
    import threading

    from PySide6.QtWidgets import QApplication, QMessageBox

    from ltx_studio.crash_report import CrashReporter

    reporter = CrashReporter(tmp_path / "ltx-studio.log")
    old_hooks = sys.excepthook, threading.excepthook
    reporter.install()
    try:
        with caplog.at_level(logging.CRITICAL):
            if where == "gui":
                try:
                    raise ValueError("the preview has no frames")
                except ValueError:
                    sys.excepthook(*sys.exc_info())
            else:
                t = threading.Thread(target=lambda: 1 / 0, name="thumbnailer")
                t.start()
                t.join()
        qtbot.waitUntil(lambda: any(isinstance(x, QMessageBox) and x.isVisible()
                                    for x in QApplication.topLevelWidgets()), timeout=5000)
    finally:
        sys.excepthook, threading.excepthook = old_hooks
    message = reporter.messages[-1]
    assert "\n" not in message and str(tmp_path / "ltx-studio.log") in message
    expected = "ValueError: the preview has no frames" if where == "gui" else "ZeroDivisionError: division by zero"
    assert expected in message and "Traceback" in caplog.text  # the full traceback is in the log
    for box in [x for x in QApplication.topLevelWidgets() if isinstance(x, QMessageBox)]:
        box.close()
