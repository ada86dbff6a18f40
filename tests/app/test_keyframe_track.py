"""The keyframe track, offscreen: images dropped, pasted, dragged, strength set, removed; an unreadable
image refused with a message; an audio file dropped becomes the soundtrack."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent, QGuiApplication, QImage, QWheelEvent
from PySide6.QtWidgets import QApplication

from ltx_studio.player.keyframe_track import KeyframeTrack, TrackKey


def _image(tmp_path: Path, name: str = "a.png", color=Qt.GlobalColor.red) -> Path:
    img = QImage(40, 24, QImage.Format.Format_RGB888)
    img.fill(color)
    path = tmp_path / name
    img.save(str(path))
    return path


def _track(qtbot, tmp_path) -> KeyframeTrack:
    track = KeyframeTrack(paste_dir=tmp_path / "pasted")
    qtbot.addWidget(track)
    track.resize(400, 60)
    track.set_duration(2000)
    track.show()
    qtbot.waitExposed(track)
    return track


def _drop(track: KeyframeTrack, paths: list[Path], x: int) -> None:
    data = QMimeData()
    data.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    event = QDropEvent(QPointF(x, 30), Qt.DropAction.CopyAction, data, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    track.dropEvent(event)


def test_drop_drag_strength_remove(qtbot, tmp_path):
    track = _track(qtbot, tmp_path)
    first, last = _image(tmp_path, "first.png"), _image(tmp_path, "last.png", Qt.GlobalColor.blue)
    _drop(track, [first], 0)
    _drop(track, [last], 399)
    keys = track.keyframes()
    assert [(Path(k.path).name, k.ms) for k in keys] == [("first.png", 0), ("last.png", 2000)]
    assert track.thumbnail(str(first)) is not None
    # drag the last one to the middle
    r = track.key_rect(track._keys[1])
    qtbot.mousePress(track, Qt.MouseButton.LeftButton, pos=r.center().toPoint())
    qtbot.mouseMove(track, QPoint(200, 30))
    qtbot.mouseRelease(track, Qt.MouseButton.LeftButton, pos=QPoint(200, 30))
    assert track.keyframes()[1].ms == track.ms_at(200)
    # the wheel lowers its strength
    centre = track.key_rect(track._keys[1]).center()
    track.wheelEvent(QWheelEvent(centre, track.mapToGlobal(centre), QPoint(0, 0), QPoint(0, -120),
                                 Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase,
                                 False))
    assert track.keyframes()[1].strength == 0.9
    track.remove_selected()
    assert len(track.keyframes()) == 1


def test_unreadable_image_refused_and_audio_drop(qtbot, tmp_path):
    track = _track(qtbot, tmp_path)
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not an image")
    with qtbot.waitSignal(track.message) as msg:
        _drop(track, [bad], 100)
    assert "not a readable image" in msg.args[0] and track.keyframes() == ()
    song = tmp_path / "song.wav"
    song.write_bytes(b"RIFF")
    with qtbot.waitSignal(track.audioDropped) as dropped:
        _drop(track, [song], 100)
    assert dropped.args[0] == str(song)


def test_paste_image_at_the_playhead(qtbot, tmp_path):
    track = _track(qtbot, tmp_path)
    track.set_position(500)
    img = QImage(32, 32, QImage.Format.Format_RGB888)
    img.fill(Qt.GlobalColor.green)
    QGuiApplication.clipboard().setImage(img)
    QApplication.processEvents()
    assert track.paste()
    (key,) = track.keyframes()
    assert key.ms == 500 and Path(key.path).parent == tmp_path / "pasted" and Path(key.path).is_file()


def test_restore_keeps_order_and_values(qtbot, tmp_path):
    track = _track(qtbot, tmp_path)
    a, b = _image(tmp_path, "a.png"), _image(tmp_path, "b.png")
    track.set_keyframes([TrackKey(str(b), 1500, 0.5), TrackKey(str(a), 0, 1.0)])
    assert track.keyframes() == (TrackKey(str(a), 0, 1.0), TrackKey(str(b), 1500, 0.5))


def test_direction_bar_soundtrack_fit_and_restore(qtbot, tmp_path):
    from ltx_studio.ui.direction_bar import NO_SOUNDTRACK, DirectionBar

    bar = DirectionBar(paste_dir=tmp_path)
    qtbot.addWidget(bar)
    bar.set_length(5.0)
    assert bar.track.duration() == 5000 and bar.fit() == "fill"
    with qtbot.waitSignal(bar.changed):
        bar.track.audioDropped.emit("/music/song.wav")
    assert bar.soundtrack == "/music/song.wav" and "song.wav" in bar.soundtrack_label.text()
    a = _image(tmp_path, "a.png")
    bar.restore((TrackKey(str(a), 2000, 0.7),), None, "fit")
    assert bar.fit() == "fit" and bar.soundtrack is None and bar.soundtrack_label.text() == NO_SOUNDTRACK
    assert bar.track.keyframes() == (TrackKey(str(a), 2000, 0.7),)
    bar.clear_keys_button.click()
    assert bar.track.keyframes() == ()
