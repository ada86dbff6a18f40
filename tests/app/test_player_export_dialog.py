"""The export dialog: exports on a worker thread with progress, cancels without leaving a file,
and refuses a span over the platform's limit before doing any work."""

from __future__ import annotations

import pytest

from ltx_studio.ui.export_dialog import ExportDialog
from tests.runtime.test_export import make_clip


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return make_clip(tmp_path_factory.mktemp("src") / "clip.mp4", 96, 160, 24, 12)


def test_exports_the_trimmed_span(qtbot, clip, tmp_path):
    dlg = ExportDialog(clip, in_s=0.5, out_s=1.5, folder=tmp_path)
    qtbot.addWidget(dlg)
    dlg.select_preset("prores_master")
    assert dlg.path_edit.text() == str(tmp_path / "clip_prores_master.mov")
    assert not dlg.fit_box.isEnabled()  # a master keeps the source size: nothing to fit
    with qtbot.waitSignal(dlg.exported, timeout=30_000) as done:
        dlg.export_button.click()
    assert done.args == [str(tmp_path / "clip_prores_master.mov")]
    assert dlg.bar.value() == 1000 and "Saved" in dlg.message.text() and not dlg.running()


def test_cancel_leaves_no_file(qtbot, qtlog, clip, tmp_path):
    dlg = ExportDialog(clip, folder=tmp_path)
    qtbot.addWidget(dlg)
    dlg.select_preset("youtube_4k")  # slow enough per frame to cancel mid-way
    dlg.export_button.click()
    qtbot.waitUntil(lambda: dlg.bar.value() > 0 and "Frame" in dlg.eta_label.text(), timeout=30_000)
    dlg.cancel_button.click()
    qtbot.waitUntil(lambda: not dlg.running(), timeout=30_000)
    assert dlg.message.text() == "Export cancelled; no file was written."
    assert list(tmp_path.iterdir()) == []
    # was: "QThread::wait: Thread tried to wait on itself" (the cancel report joined from the worker thread)
    assert [r.message for r in qtlog.records if "QThread" in r.message] == []


def test_over_the_limit_is_refused_up_front(qtbot, tmp_path):
    long_clip = make_clip(tmp_path / "long.mp4", 32, 32, 200, 1, sound=False)
    dlg = ExportDialog(long_clip, folder=tmp_path)
    qtbot.addWidget(dlg)
    dlg.select_preset("shorts")
    assert not dlg.export_button.isEnabled() and "up to 180 s" in dlg.message.text()
    dlg.select_preset("tiktok")
    assert dlg.export_button.isEnabled()
