"""Directing a clip from the studio window (fake runtime): a dropped image becomes a 9:16 draft and its
render, first and last frames, "Retake this part" on the middle second, "Extend by 2 s", the prompt panel
shows what a job carries, history restores it, and a bad combination is refused with no job."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage

from tests.app import test_studio_window

FFPROBE = shutil.which("ffprobe")
window = test_studio_window.window  # the fixture: a studio window on the fake runtime


def _png(folder: Path, name: str, colour=Qt.GlobalColor.darkCyan, size=(320, 240)) -> Path:
    image = QImage(*size, QImage.Format.Format_RGB888)
    image.fill(colour)
    path = folder / name
    image.save(str(path))
    return path


def _plays_with_sound(path: Path) -> None:
    if FFPROBE is None:
        return
    info = json.loads(subprocess.run([FFPROBE, "-v", "error", "-show_streams", "-of", "json", str(path)],
                                     capture_output=True, text=True, check=True).stdout)
    kinds = {s["codec_type"] for s in info["streams"]}
    assert kinds == {"video", "audio"}


def _vertical_one_second(window) -> None:
    window.presets_panel.apply_prompt("A vertical 9:16 clip, 1 second")
    c = window.presets_panel.choice()
    assert (c.aspect, c.seconds) == ("9:16", 1.0)


def _finish(qtbot, job) -> None:
    qtbot.waitUntil(lambda: not job.is_active, timeout=60_000)
    assert job.state == "done", job.message
    _plays_with_sound(job.output.video)


def test_dropped_image_becomes_a_916_draft_and_its_render(window, qtbot, tmp_path):
    window.prompt_panel.prompt.setPlainText("A lighthouse in a storm")
    _vertical_one_second(window)
    bar = window.preview.direction
    fmt = window.presets_panel.draft_format()
    assert bar.track.duration() == round(fmt.frames / fmt.fps * 1000)  # the track spans the clip to make
    assert bar.track.add_image(_png(tmp_path, "shot.png"), 0)
    assert "1 image" in window.prompt_panel.conditioning_label.text()
    draft = window.draft()
    images = draft.spec.request.conditioning["images"]
    assert [(i["frame"], i["fit"]) for i in images] == [(0, "fill")]
    _finish(qtbot, draft)
    render = window.render_draft(draft.id)
    assert render.spec.request.conditioning == draft.spec.request.conditioning  # promotion keeps it
    _finish(qtbot, render)


def test_first_and_last_frames(window, qtbot, tmp_path):
    window.prompt_panel.prompt.setPlainText("A lighthouse in a storm")
    _vertical_one_second(window)
    bar = window.preview.direction
    bar.track.add_image(_png(tmp_path, "first.png"), 0)
    bar.track.add_image(_png(tmp_path, "last.png", Qt.GlobalColor.darkRed), bar.track.duration())
    bar.set_fit("fit")
    draft = window.draft()
    r = draft.spec.request
    assert [(i["frame"], i["fit"]) for i in r.conditioning["images"]] == [(0, "fit"), (r.frames - 1, "fit")]
    _finish(qtbot, draft)


@pytest.fixture
def clip(tmp_path) -> Path:
    from model_runtime.media.mux import write_mp4

    frames = np.zeros((73, 64, 64, 3), np.uint8)
    frames[..., 1] = np.arange(73, dtype=np.uint8)[:, None, None] * 3
    t = np.arange(round(73 / 24 * 48000)) / 48000
    wave = np.stack([0.2 * np.sin(2 * np.pi * 330 * t)] * 2).astype(np.float32)
    path = tmp_path / "clip.mp4"
    write_mp4(path, frames, 24.0, wave, 48000, {"test": True})
    return path


def _show(window, qtbot, clip) -> object:
    window._install_player()
    player = window.preview.player
    with qtbot.waitSignal(player.loaded, timeout=20_000):
        window.preview.show_clip(clip)
    qtbot.waitUntil(lambda: player.timeline.duration() > 0, timeout=10_000)
    return player


def test_retake_the_middle_second(window, qtbot, clip):
    window.prompt_panel.prompt.setPlainText("The fox jumps")
    player = _show(window, qtbot, clip)
    player.timeline.set_trim(1000, 2000)
    player.retake_button.click()
    job = window.queue.jobs[max(window.queue.jobs)]
    r = job.spec.request
    assert r.conditioning["retake"] == {"source": str(clip), "span": [1.0, 2.0]}
    assert (r.width, r.height, r.frames, r.fps) == (64, 64, 73, 24.0)
    _finish(qtbot, job)


def test_extend_by_two_seconds(window, qtbot, clip):
    window.prompt_panel.prompt.setPlainText("The fox runs on")
    player = _show(window, qtbot, clip)
    player.extend_seconds.setValue(2.0)
    player.extend_button.click()
    job = window.queue.jobs[max(window.queue.jobs)]
    r = job.spec.request
    assert r.conditioning["extend"] == {"source": str(clip), "seconds": 2.0}
    assert r.frames == 49 + 48  # the last 2 s (49 frames) kept as context + 2 s new
    _finish(qtbot, job)


def test_history_restores_the_direction(window, qtbot, tmp_path):
    window.prompt_panel.prompt.setPlainText("A lighthouse in a storm")
    _vertical_one_second(window)
    bar = window.preview.direction
    image = _png(tmp_path, "shot.png")
    bar.track.add_image(image, 500, 0.6)
    draft = window.draft()
    _finish(qtbot, draft)
    bar.track.clear()
    window.play(draft.id)
    (key,) = bar.track.keyframes()
    assert (key.path, key.strength) == (str(image), 0.6) and abs(key.ms - 500) <= 42


def test_two_keyframes_on_one_latent_frame_make_no_job(window, qtbot, tmp_path):
    window.prompt_panel.prompt.setPlainText("A lighthouse in a storm")
    _vertical_one_second(window)
    bar = window.preview.direction
    bar.track.add_image(_png(tmp_path, "a.png"), 420)
    bar.track.add_image(_png(tmp_path, "b.png"), 440)
    before = len(window.queue.jobs)
    assert window.draft() is None
    assert len(window.queue.jobs) == before
    assert "same latent frame" in window.statusBar().currentMessage()
