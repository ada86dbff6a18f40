"""Issue 16: the studio fits a 1366×768 screen, progress is one honest bar, drafts are variants, the first run
guides, Models → Save refuses wrong files, export knows the clip, outputs get the user's file mode."""

from __future__ import annotations

import os
import stat

import pytest

from ltx_studio.export_choice import default_preset, framing_note, placement
from ltx_studio.progress import JobProgress, job_stages
from tests.app.fake_runtime import FakeFactory


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


# --- progress ------------------------------------------------------------------------------------------
def test_progress_is_one_bar_across_stages_never_backwards_and_calibrates():
    clock = Clock()
    p = JobProgress(job_stages("draft", False), clock=clock)
    seen = []
    # loading 2 s, text 1 s, stage1 8 steps of 1.5 s, decode 2 steps of 2 s, saving 1 s
    for stage, steps, dt in (("loading model", 1, 2.0), ("text", 1, 1.0), ("stage1", 8, 1.5), ("decode", 2, 2.0),
                             ("saving", 1, 1.0)):
        p.report(stage, 0, steps)
        seen.append(p.fraction())
        for step in range(1, steps + 1):
            clock.t += dt
            p.report(stage, step, steps)
            seen.append(p.fraction())
    assert all(b >= a for a, b in zip(seen, seen[1:], strict=False)), seen  # never resets at a stage
    assert seen[0] < 0.05 and seen[-1] > 0.9
    # in the middle of stage 1 the remaining time covers decode and saving too (not "~0 s left")
    q = JobProgress(job_stages("draft", False), clock=clock)
    q.report("stage1", 7, 8)
    assert q.remaining_s() >= 10.0
    # a slow machine: the finished stages rescale what is left
    r = JobProgress(("text", "stage1", "decode"), {"text": 1.0, "stage1": 10.0, "decode": 4.0}, clock=clock)
    r.report("text", 0, 1)
    clock.t += 3.0  # three times slower than planned
    r.report("stage1", 0, 10)
    assert r.remaining_s() == pytest.approx(3 * 14.0)


def test_render_from_a_draft_skips_stage_one():
    assert "stage1" not in job_stages("render", True) and "stage1" in job_stages("render", False)


# --- export choice -------------------------------------------------------------------------------------
def test_default_export_preset_follows_the_clip_aspect():
    import model_runtime.api as api

    presets = api.list_presets()
    assert default_preset(352, 640, presets) == "shorts"          # a snapped 9:16 draft
    assert default_preset(1280, 704, presets) == "youtube_1080p"  # a snapped 16:9 render
    assert default_preset(512, 512, presets) == "prores_master"   # no platform frame is square: the master
    assert "crops" in framing_note(1280, 720, 1080, 1920, "crop")
    assert "bars" in framing_note(1280, 720, 1080, 1920, "pad")
    r = placement(1280, 720, 1080, 1920, "pad")
    assert r.w == pytest.approx(1080) and r.h == pytest.approx(607.5)


def test_outputs_get_the_users_file_mode(tmp_path):
    import model_runtime.api as api

    out = api.atomic_write(tmp_path / "x.bin", lambda p: p.write_bytes(b"1"))
    mask = os.umask(0o022)
    os.umask(mask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~mask


# --- the window ----------------------------------------------------------------------------------------
@pytest.fixture
def window(qtbot, tmp_path):
    from ltx_studio.context import AppContext
    from ltx_studio.paths import AppPaths
    from ltx_studio.ui.main_window import MainWindow

    w = MainWindow(AppContext.create(AppPaths.for_root(tmp_path)), FakeFactory(steps=2, step_s=0.01))
    qtbot.addWidget(w)
    w.show()
    w.ensure_built()
    yield w
    w.shutdown()


def test_window_fits_1366x768_with_a_long_error(window, qtbot):
    window._install_player()
    window.preview.stage_label.setText("Job 9 failed — " + "a very long error message " * 30)
    window.statusBar().showMessage("x" * 400)
    hint = window.minimumSizeHint()
    assert hint.width() <= 1366 - 16 and hint.height() <= 768 - 60, hint
    assert "very long error" in window.preview.stage_label.toolTip()


def test_four_variants_make_four_cards(window, qtbot):
    window.prompt_panel.prompt.setPlainText("A red kite over a beach")
    window.presets_panel.seconds.setValue(1.0)
    jobs = window.draft_variants(4)
    assert len({j.spec.request.seed for j in jobs}) == 4
    qtbot.waitUntil(lambda: not any(j.is_active for j in jobs), timeout=60_000)
    assert [j.state for j in jobs] == ["done"] * 4
    assert all(j.id in window.preview.cards for j in jobs)


def test_welcome_card_on_first_run_then_remembered(window, qtbot, tmp_path):
    card = window.welcome
    assert card is not None and "noise" in card.body.text()
    assert window.preview.stack.currentWidget() is card
    card.close_button.click()
    assert window.welcome is None and window.ui_state.welcomed()
    assert window.show_welcome() is None  # not again on its own; Help → Getting started forces it
    assert window.show_welcome(force=True) is not None


def test_format_and_theme_restored_on_start(qtbot, tmp_path):
    from ltx_studio.context import AppContext
    from ltx_studio.paths import AppPaths
    from ltx_studio.ui.main_window import MainWindow

    ctx = AppContext.create(AppPaths.for_root(tmp_path))
    w = MainWindow(ctx, FakeFactory())
    qtbot.addWidget(w)
    w.show()
    w.ensure_built()
    w.presets_panel.aspect.setCurrentIndex(w.presets_panel.aspect.findData("9:16"))
    w.set_theme("light")
    w.close()
    w2 = MainWindow(ctx, FakeFactory())
    qtbot.addWidget(w2)
    w2.show()
    w2.ensure_built()
    try:
        assert w2.presets_panel.choice().aspect == "9:16"  # the aspect is not reset on launch
        assert w2.theme_actions["light"].isChecked()
    finally:
        w2.set_theme("dark")
        w2.shutdown()


def test_models_save_refuses_wrong_files_with_the_reason(qtbot, tmp_path):
    from ltx_studio.settings import Settings
    from ltx_studio.ui.models_page import ModelsDialog

    readme = tmp_path / "README.md"
    readme.write_text("not a checkpoint")
    dlg = ModelsDialog(Settings())
    qtbot.addWidget(dlg)
    dlg.checkpoint.setText(str(readme))
    dlg.text_encoder.setText(str(tmp_path))
    dlg.demo.setChecked(False)
    dlg.show()
    dlg.accept()
    assert dlg.isVisible() and dlg.result() == 0
    assert "Not saved" in dlg.refusal.text() and "README.md" in dlg.refusal.text()
    assert "config.json" in dlg.refusal.text()  # the Gemma folder's reason too
    # the demo with nothing set is fine to save, and shows no red "nothing generates without it"
    dlg2 = ModelsDialog(Settings())
    qtbot.addWidget(dlg2)
    assert "✘" not in dlg2.report.text()
    dlg2.show()
    dlg2.accept()
    assert dlg2.result() == 1


def test_export_dialog_opens_on_shorts_for_a_vertical_clip_and_offers_show_in_folder(qtbot, tmp_path):
    from ltx_studio.ui.export_dialog import ExportDialog
    from tests.runtime.test_export import make_clip

    clip = make_clip(tmp_path / "v.mp4", 54, 96, 6, 12)
    dlg = ExportDialog(clip, folder=tmp_path / "out")
    qtbot.addWidget(dlg)
    assert dlg.preset().name == "shorts" and not dlg.framing_host.isVisibleTo(dlg)
    dlg.select_preset("youtube_1080p")
    assert dlg.framing_host.isVisibleTo(dlg) and "crops" in dlg.framing_note.text()
    dlg.fit_box.setCurrentIndex(dlg.fit_box.findData("pad"))
    assert "bars" in dlg.framing_note.text()
    dlg.select_preset("prores_master")
    (tmp_path / "out").mkdir()
    with qtbot.waitSignal(dlg.exported, timeout=30_000):
        dlg.export_button.click()
    assert dlg.show_button.isVisibleTo(dlg) and dlg.cancel_button.text() == "Close"


# --- quiet ---------------------------------------------------------------------------------------------
PLAY = """
import sys
from pathlib import Path
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
from ltx_studio.quiet import quiet_qt_logging
quiet_qt_logging()
app = QApplication([])
from ltx_studio.player import PlayerWidget
p = PlayerWidget(); p.show(); p.load(sys.argv[1])
QTimer.singleShot(300, p.toggle_play)
QTimer.singleShot(1500, app.quit)
app.exec()
"""


def test_playing_a_clip_prints_no_ffmpeg_stream_listing(tmp_path):
    import subprocess
    import sys

    from tests.conftest import REPO_ROOT
    from tests.runtime.test_export import make_clip

    clip = make_clip(tmp_path / "c.mp4", 32, 32, 6, 12)
    env = os.environ | {"QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(REPO_ROOT)}
    env.pop("QT_LOGGING_RULES", None)
    out = subprocess.run([sys.executable, "-c", PLAY, str(clip)], capture_output=True, text=True, env=env,
                         timeout=60, cwd=REPO_ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "Input #0" not in out.stderr and "Stream #0" not in out.stderr, out.stderr[-2000:]


def test_torch_info_records_stay_out_of_the_log(tmp_path):
    import logging

    from ltx_studio.context import _not_library_chatter

    def rec(name: str, level: int) -> logging.LogRecord:
        return logging.LogRecord(name, level, __file__, 1, "FakeTensor cache stats", None, None)

    assert not _not_library_chatter(rec("torch._subclasses.fake_tensor", logging.INFO))
    assert _not_library_chatter(rec("torch._subclasses.fake_tensor", logging.WARNING))
    assert _not_library_chatter(rec("ltx_studio.job_queue", logging.INFO))
    assert _not_library_chatter(rec("model_runtime.runtime", logging.INFO))


def test_after_a_first_draft_the_window_still_fits_1366x768(window, qtbot):
    """The self-test screenshot once came out 964 px tall: the welcome card (still in the player's stack)
    plus the drafts strip set the window's minimum height."""
    window._install_player()
    assert window.welcome is not None
    window.prompt_panel.prompt.setPlainText("A lighthouse at dusk, waves, vertical 9:16")
    window.presets_panel.seconds.setValue(1.0)
    job = window.draft()
    qtbot.waitUntil(lambda: not job.is_active, timeout=60_000)
    assert job.state == "done" and window.welcome is None and not window.ui_state.welcomed()
    assert window.preview.strip_scroll.isVisible()
    hint = window.minimumSizeHint()
    assert hint.width() <= 1366 - 16 and hint.height() <= 768 - 60, hint
    card = window.preview.cards[job.id]
    assert card.sizeHint().height() <= window.preview.strip_scroll.viewport().height()




def test_system_theme_follows_the_os_scheme(window, monkeypatch):
    """The offscreen platform has no colour scheme of its own: the OS answer is faked, the signal is Qt's."""
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication
    from PySide6.QtWidgets import QApplication

    from ltx_studio.ui import theme

    real_hints = QGuiApplication.styleHints()
    scheme = {"now": Qt.ColorScheme.Light}

    class Hints:
        def colorScheme(self):  # noqa: N802 - Qt's name
            return scheme["now"]

    class FakeGui:
        @staticmethod
        def styleHints():  # noqa: N802 - Qt's name
            return Hints()

    window.set_theme("system")
    monkeypatch.setattr(theme, "QGuiApplication", FakeGui)
    try:
        real_hints.colorSchemeChanged.emit(Qt.ColorScheme.Light)  # the OS switched to light
        assert QApplication.instance().property("ltxScheme") == "light" and theme.current_colours() is theme.LIGHT
        scheme["now"] = Qt.ColorScheme.Dark
        real_hints.colorSchemeChanged.emit(Qt.ColorScheme.Dark)
        assert QApplication.instance().property("ltxScheme") == "dark"
        window.set_theme("dark")  # an explicit choice no longer follows the OS
        scheme["now"] = Qt.ColorScheme.Light
        real_hints.colorSchemeChanged.emit(Qt.ColorScheme.Light)
        assert QApplication.instance().property("ltxScheme") == "dark"
    finally:
        monkeypatch.undo()
        window.set_theme("dark")


def test_cancel_answers_at_once_and_time_ticks(qtbot, tmp_path):
    from ltx_studio.context import AppContext
    from ltx_studio.paths import AppPaths
    from ltx_studio.ui.main_window import MainWindow

    w = MainWindow(AppContext.create(AppPaths.for_root(tmp_path)), FakeFactory(steps=200, step_s=0.02))
    qtbot.addWidget(w)
    w.show()
    w.ensure_built()
    try:
        w.prompt_panel.prompt.setPlainText("A slow job to cancel")
        job = w.draft()
        qtbot.waitUntil(lambda: job.state == "running" and w.preview.cancel_button.isEnabled(), timeout=60_000)
        qtbot.waitUntil(lambda: "elapsed" in w.preview.time_label.text(), timeout=3000)
        first = w.preview.bar.value()
        qtbot.wait(1200)  # the clock ticks every second, the bar moves on
        assert w.preview.bar.value() >= first and "left" in w.preview.time_label.text()
        w.preview.cancel_button.click()
        assert "cancelling" in w.preview.stage_label.text() and not w.preview.cancel_button.isEnabled()
        qtbot.waitUntil(lambda: not job.is_active, timeout=20_000)
        assert job.state == "cancelled"
    finally:
        w.shutdown()
