"""The studio window end to end with a fake runtime: prompt words, draft -> render, history, errors, models page."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.app.fake_runtime import FakeFactory
from tests.app.test_real_window import xvfb_display  # noqa: F401 - pytest fixture
from tests.conftest import REPO_ROOT


@pytest.fixture
def window(qtbot, tmp_path):
    from ltx_studio.context import AppContext
    from ltx_studio.paths import AppPaths
    from ltx_studio.ui.main_window import MainWindow

    factory = FakeFactory(steps=2, step_s=0.01)
    w = MainWindow(AppContext.create(AppPaths.for_root(tmp_path)), factory)
    w.factory = factory
    qtbot.addWidget(w)
    w.show()
    yield w
    w.shutdown()


def test_prompt_words_set_the_format_visibly_and_undoably(window, qtbot):
    pp = window.presets_panel
    before = pp.choice()
    window.prompt_panel.prompt.setPlainText("A vertical clip of rain on a window, 10 seconds")
    qtbot.waitUntil(lambda: pp.choice().aspect == "9:16", timeout=3000)
    assert pp.choice().seconds == 10.0 and pp.banner.isVisible()
    assert "vertical" in pp.banner_text.text()
    assert "352×640" in pp.exact.text() and "241 frames" in pp.exact.text()
    pp.undo_button.click()
    assert pp.choice() == before and not pp.banner.isVisible()
    window.prompt_panel.prompt.setPlainText("A vertical clip of rain on a window, 10 seconds, slowly")
    qtbot.wait(600)
    assert pp.choice() == before  # the same words are not re-applied after an undo


def test_draft_then_render_of_that_draft(window, qtbot):
    window.prompt_panel.prompt.setPlainText("A lighthouse in a storm, waves crashing")
    window.presets_panel.seconds.setValue(1.0)
    draft = window.draft()
    assert draft.spec.kind == "draft" and draft.spec.request.width % 32 == 0
    qtbot.waitUntil(lambda: not draft.is_active, timeout=60_000)  # the first job imports torch (cold)
    assert draft.state == "done", draft.message
    assert draft.id in window.preview.cards
    render = window.render_draft(draft.id)
    r, d = render.spec.request, draft.spec.request
    assert r.seed == d.seed and r.prompt == d.prompt and render.spec.parent_id == draft.id
    assert r.draft_latents == str(draft.output.latents)
    assert (r.width, r.height) == (2 * d.width, 2 * d.height)
    qtbot.waitUntil(lambda: not render.is_active, timeout=20_000)
    assert render.state == "done", render.message
    assert window.preview.player.path == render.output.video
    assert window.queue_panel.history.count() == 2
    assert window.factory.opened == 1


def test_history_filter_requeue_delete(window, qtbot):
    window.prompt_panel.prompt.setPlainText("A cat on a sofa")
    job = window.draft()
    qtbot.waitUntil(lambda: not job.is_active, timeout=20_000)
    qp = window.queue_panel
    qp.filter_text.setText("sofa")
    assert qp.history.count() == 1
    qp.filter_text.setText("no such prompt")
    assert qp.history.count() == 0
    qp.filter_text.setText("")
    again = window.requeue(job.id)
    assert again.spec == job.spec and again.id != job.id
    qtbot.waitUntil(lambda: not again.is_active, timeout=20_000)
    window.delete(job.id)
    assert not job.output.video.exists() and not job.output.thumbnail.exists()
    assert [window.queue_panel.history.item(i).data(256) for i in range(qp.history.count())] == [again.id]


def test_empty_prompt_and_failures_keep_the_app_usable(window, qtbot):
    assert window.draft() is None
    assert "prompt" in window.statusBar().currentMessage().lower()
    from ltx_studio.runtime_api import ModelChoice

    window.factory.kw["fail_with"] = OSError(28, "No space left on device")
    # as in the app, a new model choice (Settings -> Models -> Save) makes the worker open a new runtime,
    # here the failing fake: sent through the queue's queued signal, never set on the worker from this thread
    window.queue.set_model(ModelChoice(demo=False, checkpoint="other.safetensors"))
    window.prompt_panel.prompt.setPlainText("A storm")
    job = window.draft()
    qtbot.waitUntil(lambda: not job.is_active, timeout=20_000)
    assert job.state == "failed" and "Disk full" in job.message
    assert "failed" in window.statusBar().currentMessage() and "Disk full" in window.preview.stage_label.text()
    window.factory.kw.pop("fail_with")
    window.queue.set_model(ModelChoice(demo=True))  # back to the demo: opened again, without the fault
    ok = window.draft()
    qtbot.waitUntil(lambda: not ok.is_active, timeout=20_000)
    assert ok.state == "done"


def test_models_page_reports_present_and_missing(window, tmp_path, qtbot):
    from ltx_studio.settings import Settings
    from ltx_studio.ui.models_page import ModelsDialog

    bogus = tmp_path / "not-a-model.safetensors"
    bogus.write_bytes(b"\x80\x02 pickle")
    dlg = ModelsDialog(Settings(checkpoint=str(bogus), use_demo_model=False))
    qtbot.addWidget(dlg)
    text = dlg.report.text()
    assert "✘ checkpoint" in text and "not a safetensors file" in text
    assert "✘ upsampler" in text and "render" in text  # says what the missing file is for
    assert "✘ text encoder" in text and "prompt" in text
    assert dlg.result_settings().use_demo_model is False


def test_models_page_finds_the_files_in_a_folder(tiny_dir, qtbot):
    from ltx_studio.settings import Settings
    from ltx_studio.ui.models_page import ModelsDialog

    dlg = ModelsDialog(Settings())
    qtbot.addWidget(dlg)
    dlg.apply_scan(str(tiny_dir.parent))
    assert [s.ok for s in dlg.statuses] == [True, True, True], dlg.report.text()
    assert dlg.checkpoint.text().endswith("checkpoint.safetensors")
    assert dlg.text_encoder.text().endswith("text_encoder")


@pytest.mark.xvfb
def test_self_test_in_a_real_window(xvfb_display, tmp_path):  # noqa: F811 - the fixture
    """`--self-test` through a real X11 window (fake runtime: the demo model run is covered elsewhere)."""
    shot = tmp_path / "self-test.png"
    env = {k: v for k, v in os.environ.items() if k != "QT_QPA_PLATFORM"}
    env.update(DISPLAY=xvfb_display, QT_QPA_PLATFORM="xcb", PYTHONPATH=str(REPO_ROOT))
    code = ("import sys\nfrom tests.app.fake_runtime import FakeFactory\nfrom ltx_studio.app import main\n"
            f"sys.exit(main(['--self-test', '--profile', {str(tmp_path / 'p')!r}, '--screenshot', {str(shot)!r}],"
            " runtime_factory=FakeFactory(steps=2, step_s=0.01)))")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120,
                         cwd=REPO_ROOT)
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.count("self-test: ok:") == 6  # format, keyframes, draft, render, player, screenshot
    from PySide6.QtGui import QImage

    img = QImage(str(shot))
    assert img.width() >= 800 and img.height() >= 500
    colours = {img.pixel(x, y) for y in range(0, img.height(), 9) for x in range(0, img.width(), 9)}
    assert len(colours) >= 16


def test_export_opens_on_the_played_clip(window, qtbot):
    assert window.open_export() is None  # nothing played yet: a message, no dialog
    window.prompt_panel.prompt.setPlainText("A kite over a beach")
    job = window.draft()
    qtbot.waitUntil(lambda: not job.is_active, timeout=20_000)
    dlg = window.open_export()
    assert dlg is not None and dlg.source == job.output.video
    dlg.reject()
