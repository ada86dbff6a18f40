"""PlayerWidget: watch a clip with its sound, step frames, set trim points, check safe zones.

Qt Multimedia does the A/V sync (QMediaPlayer + QAudioOutput + QVideoSink). With no sound device the
player still runs (on the system clock) and a notice says there is no sound output. Everything here runs
on the GUI thread except the timeline analysis (see `analysis`), and nothing blocks it.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtMultimedia import QAudioOutput, QMediaDevices, QMediaPlayer
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QStyle,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ltx_studio.player.analysis import ClipAnalyser
from ltx_studio.player.timeline import TimelineWidget
from ltx_studio.player.video_view import SAFE_ZONES, VideoView
from ltx_studio.ui.widgets import fixed_width_for

log = logging.getLogger(__name__)
NO_SOUND = "No sound output device: the picture plays without sound."


class PlayerWidget(QWidget):
    """`load(path)` a muxed clip; `trim_seconds()` gives the in/out points the export uses."""

    loaded = Signal(str)              # the timeline (thumbnails + waveform) is ready for this path
    trimChanged = Signal(float, float)  # in s, out s  # noqa: N815 - Qt signal naming

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("player")
        self.path: Path | None = None
        self.fps = 24.0
        self.frames = 0
        self.player = QMediaPlayer(self)
        self.audio = QAudioOutput(self)  # attached only while a sound device exists, see _update_sound_notice
        self.view = VideoView()
        self.player.setVideoSink(self.view.sink)
        self.timeline = TimelineWidget()
        self.analyser = ClipAnalyser(self)
        self._devices = QMediaDevices(self)
        self._build_controls()
        self._connect()
        self._update_sound_notice()

    # --- construction -----------------------------------------------------------------------------
    def _build_controls(self) -> None:
        self.notice = QLabel(NO_SOUND)
        self.notice.setObjectName("noSoundNotice")
        self.notice.setStyleSheet("color:#e8b04a;")
        style = self.style()
        sp = QStyle.StandardPixmap
        self._icons = {"play": style.standardIcon(sp.SP_MediaPlay), "pause": style.standardIcon(sp.SP_MediaPause)}
        self.play_button = self._icon_button(self._icons["play"], "Play / pause (Space)")
        self.back_button = self._icon_button(style.standardIcon(sp.SP_MediaSkipBackward), "One frame back (Left)")
        self.step_button = self._icon_button(style.standardIcon(sp.SP_MediaSkipForward), "One frame forward (Right)")
        self.loop_box = QCheckBox("Loop")
        self.time_label = QLabel("0.000 s · frame 0 / 0")
        self.time_label.setObjectName("timeLabel")
        fixed_width_for(self.time_label, "000.000 s · frame 0000 / 0000")  # ticking text never shifts the row
        self.mute_button = self._icon_button(style.standardIcon(sp.SP_MediaVolume), "Mute")
        self.mute_button.setCheckable(True)
        self.mute_button.toggled.connect(lambda on: self.mute_button.setIcon(
            style.standardIcon(sp.SP_MediaVolumeMuted if on else sp.SP_MediaVolume)))
        self.volume = QSlider(Qt.Orientation.Horizontal)
        self.volume.setRange(0, 100)
        self.volume.setValue(80)
        self.volume.setToolTip("Volume")
        self.volume.setMinimumWidth(90)  # a slider squeezed to its handle looked like a checkbox
        self.volume.setMaximumWidth(140)
        self.in_button, self.out_button = QPushButton("Set in"), QPushButton("Set out")
        self.in_button.setToolTip("Start the export here (I)")
        self.out_button.setToolTip("End the export here (O)")
        self.clear_trim_button = QPushButton("Clear trim")
        self.zone_box = QComboBox()
        self.zone_box.addItem("No safe zones", None)
        for key, zone in SAFE_ZONES.items():
            self.zone_box.addItem(f"{zone.label} safe zone", key)
        # two rows so the player fits a 1366-px screen: transport + sound, then trim + safe zones
        transport, edit = QHBoxLayout(), QHBoxLayout()
        for w in (self.play_button, self.back_button, self.step_button, self.loop_box, self.time_label):
            transport.addWidget(w)
        transport.addStretch(1)
        transport.addWidget(self.mute_button)
        transport.addWidget(self.volume)
        for w in (self.in_button, self.out_button, self.clear_trim_button):
            edit.addWidget(w)
        edit.addStretch(1)
        edit.addWidget(self.zone_box)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.view, 1)
        lay.addWidget(self.timeline)
        lay.addLayout(transport)
        lay.addLayout(edit)
        lay.addWidget(self.notice)
        self.audio.setVolume(self.volume.value() / 100)

    @staticmethod
    def _icon_button(icon, tip: str) -> QToolButton:
        b = QToolButton()
        b.setIcon(icon)
        b.setToolTip(tip)
        b.setAutoRaise(False)
        return b

    def _connect(self) -> None:
        self.play_button.clicked.connect(self.toggle_play)
        self.back_button.clicked.connect(lambda: self.step_frames(-1))
        self.step_button.clicked.connect(lambda: self.step_frames(1))
        self.loop_box.toggled.connect(self._on_loop)
        self.mute_button.toggled.connect(self.audio.setMuted)
        self.volume.valueChanged.connect(lambda v: self.audio.setVolume(v / 100))
        self.in_button.clicked.connect(self.set_in_here)
        self.out_button.clicked.connect(self.set_out_here)
        self.clear_trim_button.clicked.connect(self.clear_trim)
        self.zone_box.currentIndexChanged.connect(lambda _i: self.view.set_safe_zone(self.zone_box.currentData()))
        self.player.positionChanged.connect(self._on_position)
        self.player.durationChanged.connect(self._on_duration)
        self.player.playbackStateChanged.connect(self._on_state)
        self.player.mediaStatusChanged.connect(self._on_status)
        self.player.errorOccurred.connect(lambda _e, msg: self.notice.setText(f"Cannot play the clip: {msg}")
                                          or self.notice.show())
        self.timeline.seekRequested.connect(self.seek)
        self.timeline.trimChanged.connect(lambda a, b: self.trimChanged.emit(a / 1000, b / 1000))
        self.analyser.ready.connect(self._on_analysed)
        self.analyser.failed.connect(lambda path, msg: log.warning("timeline of %s: %s", path, msg))
        self._devices.audioOutputsChanged.connect(self._update_sound_notice)
        for key, slot in ((Qt.Key.Key_Space, self.toggle_play), (Qt.Key.Key_Left, lambda: self.step_frames(-1)),
                          (Qt.Key.Key_Right, lambda: self.step_frames(1)), (Qt.Key.Key_I, self.set_in_here),
                          (Qt.Key.Key_O, self.set_out_here)):
            sc = QShortcut(QKeySequence(key), self)
            sc.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            sc.activated.connect(slot)

    # --- public API -------------------------------------------------------------------------------
    def load(self, path: str | Path) -> None:
        """Show `path` (paused on its first frame) and build its timeline in the background."""
        self.path = Path(path)
        self.player.stop()
        self.view.clear()
        self.timeline.clear()
        self.player.setSource(QUrl.fromLocalFile(str(self.path)))
        self.analyser.start(str(self.path), thumbs=12, thumb_height=64, bins=max(200, self.timeline.width()))

    def has_sound_output(self) -> bool:
        return bool(QMediaDevices.audioOutputs())

    def trim_seconds(self) -> tuple[float | None, float | None]:
        """(in, out) for the export; None where the point is at the clip's start or end."""
        in_ms, out_ms = self.timeline.trim()
        dur = self.timeline.duration()
        return (in_ms / 1000 if in_ms > 0 else None, out_ms / 1000 if 0 < out_ms < dur else None)

    def toggle_play(self) -> None:
        if self.player.playbackState() == QMediaPlayer.PlaybackState.PlayingState:
            self.player.pause()
        else:
            self.player.play()

    def seek(self, ms: int) -> None:
        self.player.setPosition(int(ms))

    def frame_ms(self) -> float:
        return 1000.0 / self.fps if self.fps > 0 else 1000 / 24

    def current_frame(self) -> int:
        return int(math.floor(self.player.position() / self.frame_ms() + 1e-6))

    def step_frames(self, n: int) -> None:
        """Pause and move `n` frames (to the middle of the target frame, so rounding never skips one)."""
        self.player.pause()
        target = min(max(self.current_frame() + n, 0), max(self.frames - 1, 0))
        self.seek(int((target + 0.5) * self.frame_ms()))

    def set_in_here(self) -> None:
        self.timeline.set_trim(self.player.position(), self.timeline.trim()[1])

    def set_out_here(self) -> None:
        self.timeline.set_trim(self.timeline.trim()[0], self.player.position())

    def clear_trim(self) -> None:
        self.timeline.set_trim(0, self.timeline.duration())

    # --- slots ------------------------------------------------------------------------------------
    def _update_sound_notice(self) -> None:
        """Attach the audio output only when a device exists, and say so when none does.

        With no device, Qt's FFmpeg backend would still run an audio renderer thread into a null sink.
        Tearing that renderer down disconnects it from our Python-created QAudioOutput, which makes
        shiboken take the GIL inside ~QObject while holding Qt's connection lock; a GUI-thread call
        into the player at that moment (it holds the GIL) then deadlocks (seen with gdb in the test
        suite: ~1 run in 5). Without a device there is nothing to play, so there is no renderer at all.
        """
        sound = self.has_sound_output()
        if sound and self.player.audioOutput() is None:
            self.player.setAudioOutput(self.audio)
        elif not sound and self.player.audioOutput() is not None:
            self.player.setAudioOutput(None)
        self.notice.setText(NO_SOUND)
        self.notice.setVisible(not sound)

    def _on_loop(self, on: bool) -> None:
        self.player.setLoops(QMediaPlayer.Loops.Infinite if on else QMediaPlayer.Loops.Once)

    def _on_duration(self, ms: int) -> None:
        self.timeline.set_duration(ms)
        self._show_time(self.player.position())

    def _on_position(self, ms: int) -> None:
        self.timeline.set_position(ms)
        self._show_time(ms)
        in_ms, out_ms = self.timeline.trim()
        playing = self.player.playbackState() == QMediaPlayer.PlaybackState.PlayingState
        if playing and self.loop_box.isChecked() and 0 < out_ms < self.timeline.duration() and ms >= out_ms:
            self.seek(in_ms)  # loop the trimmed span, the way it will be exported

    def _on_status(self, status) -> None:
        if status == QMediaPlayer.MediaStatus.LoadedMedia and self.player.playbackState() == \
                QMediaPlayer.PlaybackState.StoppedState:
            self.player.pause()  # paused (not stopped) shows the first frame instead of a blank screen

    def _on_state(self, state) -> None:
        playing = state == QMediaPlayer.PlaybackState.PlayingState
        self.play_button.setIcon(self._icons["pause" if playing else "play"])
        self.play_button.setToolTip("Pause (Space)" if playing else "Play (Space)")

    def _show_time(self, ms: int) -> None:
        frame = int(math.floor(ms / self.frame_ms() + 1e-6))
        total = self.frames or round(self.player.duration() / self.frame_ms())
        self.time_label.setText(f"{ms / 1000:.3f} s · frame {min(frame, max(total - 1, 0))} / {total}")

    def _on_analysed(self, path: str, info, thumbs, peaks, poster=None) -> None:
        if self.path is None or path != str(self.path):
            return  # a clip that was replaced meanwhile
        self.fps, self.frames = float(info.fps), info.frames
        portrait = info.height > info.width
        self.zone_box.setEnabled(portrait)
        if not portrait:
            self.zone_box.setCurrentIndex(0)
        self.timeline.set_thumbnails(thumbs)
        if poster is not None:
            self.view.set_poster(poster)
        self.timeline.set_waveform(peaks)
        self._show_time(self.player.position())
        self.loaded.emit(path)
