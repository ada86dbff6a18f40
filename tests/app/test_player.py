"""The player, offscreen: plays a generated clip to the end (no sound device needed), timeline drawn,
frame step, click-to-seek, trim points, safe-zone overlay."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("PySide6.QtMultimedia")
from PySide6.QtCore import QPoint, Qt  # noqa: E402
from PySide6.QtMultimedia import QMediaPlayer  # noqa: E402

from ltx_studio.player import PlayerWidget  # noqa: E402
from ltx_studio.player.timeline import BACKGROUND, WAVEFORM  # noqa: E402
from ltx_studio.player.widget import NO_SOUND  # noqa: E402
from model_runtime.media.mux import write_mp4  # noqa: E402

FPS, FRAMES = 24, 36


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """1.5 s portrait clip: a bright bar sweeping right over a dark blue frame, a 330 Hz tone."""
    h, w = 160, 96
    video = np.zeros((FRAMES, h, w, 3), dtype=np.uint8)
    video[..., 2] = 90
    for i in range(FRAMES):
        x = i * (w - 8) // FRAMES
        video[i, :, x:x + 8] = 230
    t = np.arange(round(FRAMES / FPS * 48_000)) / 48_000
    tone = (0.5 * np.sin(2 * np.pi * 330 * t) * np.minimum(1, t * 2)).astype(np.float32)
    path = tmp_path_factory.mktemp("clip") / "clip.mp4"
    write_mp4(path, video, FPS, np.stack([tone, tone]), 48_000, {"seed": 5}, preset="ultrafast")
    return path


@pytest.fixture
def player(qtbot, clip):
    w = PlayerWidget()
    qtbot.addWidget(w)
    w.resize(640, 520)
    w.show()
    with qtbot.waitSignal(w.loaded, timeout=15_000):
        w.load(clip)
    qtbot.waitUntil(lambda: w.player.duration() > 0, timeout=10_000)
    yield w
    w.player.stop()
    w.analyser.stop()


def _colour_share(image, colour, rect) -> float:
    hits = total = 0
    for y in range(rect.top(), rect.bottom(), 2):
        for x in range(rect.left(), rect.right(), 3):
            c = image.pixelColor(x, y)
            hits += abs(c.red() - colour.red()) + abs(c.green() - colour.green()) + abs(c.blue() - colour.blue()) < 30
            total += 1
    return hits / total


def test_plays_to_the_end_and_draws_the_timeline(qtbot, player):
    positions: list[int] = []
    player.player.positionChanged.connect(positions.append)
    player.player.play()
    qtbot.waitUntil(lambda: player.player.mediaStatus() == QMediaPlayer.MediaStatus.EndOfMedia, timeout=15_000)
    assert len(positions) >= 5, positions
    assert all(b >= a for a, b in zip(positions, positions[1:], strict=False)), positions
    assert positions[-1] >= player.player.duration() - 100
    assert player.view.frames_shown >= 5 and not player.view.image().isNull()
    assert player.frames == FRAMES and player.fps == FPS
    assert player.timeline.thumbnail_count() == 12
    shot = player.timeline.grab().toImage()
    wave = player.timeline.wave_rect().toRect().adjusted(2, 2, -2, -2)
    thumbs = player.timeline.thumb_rect().toRect().adjusted(2, 2, -2, -2)
    assert _colour_share(shot, WAVEFORM, wave) > 0.2       # the tone fills its band
    assert _colour_share(shot, BACKGROUND, thumbs) < 0.05  # pictures, not the empty strip
    assert _colour_share(shot, WAVEFORM, thumbs) < 0.05


def test_sound_notice_matches_the_devices(player):
    assert player.notice.text() == NO_SOUND
    assert player.notice.isVisibleTo(player) == (not player.has_sound_output())


def test_frame_step_and_click_to_seek(qtbot, player):
    player.step_frames(1)
    qtbot.waitUntil(lambda: player.current_frame() == 1, timeout=5_000)
    player.step_frames(5)
    qtbot.waitUntil(lambda: player.current_frame() == 6, timeout=5_000)
    assert "frame 6 / 36" in player.time_label.text()
    player.step_frames(-2)
    qtbot.waitUntil(lambda: player.current_frame() == 4, timeout=5_000)
    tl = player.timeline
    with qtbot.waitSignal(tl.seekRequested) as seek:
        qtbot.mouseClick(tl, Qt.MouseButton.LeftButton, pos=QPoint(tl.width() * 3 // 4, tl.height() // 2))
    assert abs(seek.args[0] - 0.75 * tl.duration()) < tl.duration() * 0.02
    qtbot.waitUntil(lambda: abs(player.player.position() - seek.args[0]) < 50, timeout=5_000)


def test_trim_points_feed_the_export(qtbot, player):
    assert player.trim_seconds() == (None, None)
    player.seek(250)
    qtbot.waitUntil(lambda: player.player.position() == 250, timeout=5_000)
    player.set_in_here()
    player.seek(1000)
    qtbot.waitUntil(lambda: player.player.position() == 1000, timeout=5_000)
    with qtbot.waitSignal(player.trimChanged) as changed:
        player.set_out_here()
    assert changed.args == [0.25, 1.0]
    assert player.trim_seconds() == (0.25, 1.0)
    player.clear_trim()
    assert player.trim_seconds() == (None, None)


def test_safe_zone_overlay_on_portrait(qtbot, player):
    qtbot.waitUntil(lambda: not player.view.image().isNull(), timeout=5_000)
    assert player.zone_box.isEnabled()
    rect = player.view.picture_rect()
    probe = QPoint(rect.center().x(), rect.bottom() - rect.height() // 20)  # inside every bottom band
    before = player.view.grab().toImage().pixelColor(probe)
    player.zone_box.setCurrentIndex(player.zone_box.findData("reels"))
    after = player.view.grab().toImage().pixelColor(probe)
    assert after.red() > before.red() + 20  # the red shade is painted over the picture
