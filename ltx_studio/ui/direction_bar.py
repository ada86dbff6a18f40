"""The direction bar under the picture: the keyframe track of the next job, how its images meet the format
(fill or fit, never stretched) and its soundtrack. Always visible (a clip need not exist yet: a dropped
image becomes a draft's first frame); the track spans the chosen format's length."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QPushButton, QVBoxLayout, QWidget

from ltx_studio.player.keyframe_track import KeyframeTrack, TrackKey
from ltx_studio.ui.widgets import ElidedLabel

NO_SOUNDTRACK = "No soundtrack (drop an audio file on the track)"


class DirectionBar(QWidget):
    changed = Signal()  # keyframes, soundtrack or fit changed
    message = Signal(str)

    def __init__(self, paste_dir: Path | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("directionBar")
        self.track = KeyframeTrack(paste_dir)
        self.soundtrack: str | None = None
        self.fit_box = QComboBox()
        self.fit_box.setObjectName("fitBox")
        self.fit_box.addItem("Images: fill (crop)", "fill")
        self.fit_box.addItem("Images: fit (bars)", "fit")
        self.fit_box.setToolTip("An image of another aspect ratio is cropped to the format (fill) or letterboxed "
                                "with black bars (fit), never stretched")
        self.soundtrack_label = ElidedLabel(NO_SOUNDTRACK)  # elided: the bar must fit a 1366-px window
        self.soundtrack_label.setObjectName("soundtrackLabel")
        self.clear_sound_button = QPushButton("Remove soundtrack")
        self.clear_sound_button.setEnabled(False)
        self.clear_keys_button = QPushButton("Clear keyframes")
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        for w in (self.fit_box, self.soundtrack_label):
            row.addWidget(w)
        row.addStretch(1)
        row.addWidget(self.clear_sound_button)
        row.addWidget(self.clear_keys_button)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.track)
        lay.addLayout(row)
        self.track.keyframesChanged.connect(self.changed)
        self.track.audioDropped.connect(self.set_soundtrack)
        self.track.message.connect(self.message)
        self.fit_box.currentIndexChanged.connect(lambda _i: self.changed.emit())
        self.clear_sound_button.clicked.connect(lambda: self.set_soundtrack(None))
        self.clear_keys_button.clicked.connect(self.track.clear)

    def fit(self) -> str:
        return str(self.fit_box.currentData())

    def set_fit(self, fit: str) -> None:
        self.fit_box.setCurrentIndex(max(0, self.fit_box.findData(fit)))

    def set_soundtrack(self, path: str | None) -> None:
        self.soundtrack = path
        self.soundtrack_label.setText(f"Soundtrack: {Path(path).name}" if path else NO_SOUNDTRACK)
        self.clear_sound_button.setEnabled(path is not None)
        self.changed.emit()

    def set_length(self, seconds: float) -> None:
        self.track.set_duration(round(seconds * 1000))

    def restore(self, keys: tuple[TrackKey, ...], soundtrack: str | None, fit: str) -> None:
        """Put back what a job carried (history)."""
        self.set_fit(fit)
        self.track.set_keyframes(keys)
        self.set_soundtrack(soundtrack)
