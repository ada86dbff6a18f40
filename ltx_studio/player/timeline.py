"""The timeline under the picture: thumbnail strip, audio waveform, in/out trim points and a playhead.

Click or drag anywhere to seek; drag near an in/out marker to move it. The widget only paints and
reports (`seekRequested`, `trimChanged`); the player owns the media and the time.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPen, QPolygonF
from PySide6.QtWidgets import QWidget

BACKGROUND = QColor("#1d1f24")
WAVEFORM = QColor(90, 200, 140)
PLAYHEAD = QColor(255, 210, 60)
TRIM = QColor(80, 160, 255)
OUTSIDE_TRIM = QColor(0, 0, 0, 150)
_GRAB_PX = 6


class TimelineWidget(QWidget):
    seekRequested = Signal(int)        # ms  # noqa: N815 - Qt signal naming
    trimChanged = Signal(int, int)     # in ms, out ms (out = duration when not set)  # noqa: N815

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("timeline")
        self.setMinimumHeight(96)
        self.setMouseTracking(True)
        self._duration = 0
        self._position = 0
        self._thumbs: list[QImage] = []
        self._peaks = np.zeros((0, 2), dtype=np.float32)
        self._in = 0
        self._out = 0
        self._drag: str | None = None  # "seek", "in" or "out"

    # --- data -------------------------------------------------------------------------------------
    def clear(self) -> None:
        self._thumbs, self._peaks = [], np.zeros((0, 2), dtype=np.float32)
        self._duration = self._position = self._in = self._out = 0
        self.update()

    def set_duration(self, ms: int) -> None:
        self._duration = max(0, int(ms))
        self._in, self._out = 0, self._duration
        self.update()

    def duration(self) -> int:
        return self._duration

    def set_position(self, ms: int) -> None:
        self._position = int(ms)
        self.update()

    def set_thumbnails(self, frames: list[np.ndarray]) -> None:
        """RGB uint8 [h, w, 3] arrays -> images (copied: QImage must not outlive the numpy buffer)."""
        self._thumbs = [QImage(f.data, f.shape[1], f.shape[0], f.strides[0], QImage.Format.Format_RGB888).copy()
                        for f in (np.ascontiguousarray(x) for x in frames)]
        self.update()

    def set_waveform(self, peaks: np.ndarray) -> None:
        self._peaks = np.asarray(peaks, dtype=np.float32).reshape(-1, 2)
        self.update()

    def thumbnail_count(self) -> int:
        return len(self._thumbs)

    def trim(self) -> tuple[int, int]:
        return self._in, self._out

    def set_trim(self, in_ms: int, out_ms: int) -> None:
        in_ms, out_ms = max(0, int(in_ms)), min(self._duration, int(out_ms))
        if out_ms <= in_ms:
            return
        if (in_ms, out_ms) != (self._in, self._out):
            self._in, self._out = in_ms, out_ms
            self.trimChanged.emit(in_ms, out_ms)
            self.update()

    # --- geometry ---------------------------------------------------------------------------------
    def _x(self, ms: int) -> float:
        return 0.0 if not self._duration else ms / self._duration * (self.width() - 1)

    def _ms(self, x: float) -> int:
        if not self._duration or self.width() <= 1:
            return 0
        return int(round(min(max(x / (self.width() - 1), 0.0), 1.0) * self._duration))

    def thumb_rect(self) -> QRectF:
        return QRectF(0, 0, self.width(), self.height() * 0.55)

    def wave_rect(self) -> QRectF:
        top = self.height() * 0.55
        return QRectF(0, top, self.width(), self.height() - top)

    # --- painting ---------------------------------------------------------------------------------
    def paintEvent(self, event) -> None:  # noqa: N802 - Qt's name
        p = QPainter(self)
        p.fillRect(self.rect(), BACKGROUND)
        self._paint_thumbs(p, self.thumb_rect())
        self._paint_wave(p, self.wave_rect())
        if self._duration:
            self._paint_marks(p)

    def _paint_thumbs(self, p: QPainter, r: QRectF) -> None:
        if not self._thumbs:
            return
        step = r.width() / len(self._thumbs)
        for i, img in enumerate(self._thumbs):
            cell = QRectF(r.left() + i * step, r.top(), step, r.height())
            src = img.rect()
            scaled = img.size().scaled(cell.size().toSize(), Qt.AspectRatioMode.KeepAspectRatioByExpanding)
            # crop the centre of the thumbnail to the cell (a strip, like an editor's)
            sx = (scaled.width() - cell.width()) / 2 * src.width() / max(scaled.width(), 1)
            sy = (scaled.height() - cell.height()) / 2 * src.height() / max(scaled.height(), 1)
            p.drawImage(cell, img, QRectF(sx, sy, src.width() - 2 * sx, src.height() - 2 * sy))

    def _paint_wave(self, p: QPainter, r: QRectF) -> None:
        mid = r.center().y()
        p.setPen(QPen(QColor(70, 70, 80), 1))
        p.drawLine(QPointF(r.left(), mid), QPointF(r.right(), mid))
        n = len(self._peaks)
        if not n:
            return
        half = r.height() / 2 - 1
        xs = np.linspace(r.left(), r.right(), n)
        top = [QPointF(x, mid - float(hi) * half) for x, hi in zip(xs, self._peaks[:, 1], strict=True)]
        bottom = [QPointF(x, mid - float(lo) * half) for x, lo in zip(xs[::-1], self._peaks[::-1, 0], strict=True)]
        p.setPen(QPen(WAVEFORM, 1))
        p.setBrush(WAVEFORM)
        p.drawPolygon(QPolygonF(top + bottom))

    def _paint_marks(self, p: QPainter) -> None:
        h = self.height()
        x_in, x_out = self._x(self._in), self._x(self._out)
        p.fillRect(QRectF(0, 0, x_in, h), OUTSIDE_TRIM)
        p.fillRect(QRectF(x_out, 0, self.width() - x_out, h), OUTSIDE_TRIM)
        p.setPen(QPen(TRIM, 2))
        p.drawLine(QPointF(x_in, 0), QPointF(x_in, h))
        p.drawLine(QPointF(x_out, 0), QPointF(x_out, h))
        x = self._x(self._position)
        p.setPen(QPen(PLAYHEAD, 2))
        p.drawLine(QPointF(x, 0), QPointF(x, h))

    # --- mouse ------------------------------------------------------------------------------------
    def mousePressEvent(self, event) -> None:  # noqa: N802
        if event.button() != Qt.MouseButton.LeftButton or not self._duration:
            return
        x = event.position().x()
        trimmed = (self._in, self._out) != (0, self._duration)
        if trimmed and abs(x - self._x(self._in)) <= _GRAB_PX:
            self._drag = "in"
        elif trimmed and abs(x - self._x(self._out)) <= _GRAB_PX:
            self._drag = "out"
        else:
            self._drag = "seek"
            self.seekRequested.emit(self._ms(x))

    def mouseMoveEvent(self, event) -> None:  # noqa: N802
        if self._drag is None:
            return
        ms = self._ms(event.position().x())
        if self._drag == "seek":
            self.seekRequested.emit(ms)
        elif self._drag == "in":
            self.set_trim(min(ms, self._out - 1), self._out)
        else:
            self.set_trim(self._in, max(ms, self._in + 1))

    def mouseReleaseEvent(self, event) -> None:  # noqa: N802
        self._drag = None
