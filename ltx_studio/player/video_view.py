"""The picture: frames from a QVideoSink painted to fit, with an optional platform safe-zone overlay.

Why a sink and our own paint instead of QVideoWidget: the overlay must sit on top of the picture, and a
QVideoWidget may be a native surface that child widgets cannot draw over; painting the sink's frame is
also what works under the offscreen platform the tests use.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QRect, QRectF, Qt
from PySide6.QtGui import QColor, QImage, QPainter
from PySide6.QtMultimedia import QVideoFrame, QVideoSink
from PySide6.QtWidgets import QWidget


@dataclass(frozen=True)
class SafeZone:
    """Margins (fractions of the frame) that the platform's own buttons and captions cover on a phone."""

    label: str
    top: float
    bottom: float
    left: float
    right: float


# Approximations of the platforms' creator guides for 1080x1920 (their UIs differ by app version and
# device): keep titles and faces inside the clear rectangle.
SAFE_ZONES: dict[str, SafeZone] = {
    "shorts": SafeZone("YouTube Shorts", top=0.08, bottom=0.20, left=0.05, right=0.15),
    "reels": SafeZone("Instagram Reels", top=0.14, bottom=0.35, left=0.06, right=0.06),
    "tiktok": SafeZone("TikTok", top=0.08, bottom=0.23, left=0.06, right=0.13),
}
OVERLAY = QColor(220, 40, 40, 90)


class VideoView(QWidget):
    """Shows the latest frame of `sink`, letterboxed in the widget, plus the chosen safe zone."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("videoView")
        self.setMinimumSize(240, 180)
        self.sink = QVideoSink(self)
        self.sink.videoFrameChanged.connect(self._on_frame)
        self._image = QImage()
        self._zone: str | None = None
        self.frames_shown = 0

    def _on_frame(self, frame: QVideoFrame) -> None:
        image = frame.toImage()
        if not image.isNull():
            self._image = image
            self.frames_shown += 1
            self.update()

    def set_poster(self, rgb) -> None:
        """Show `rgb` (uint8 [H, W, 3]) until the player's first frame arrives (a paused clip may not
        deliver one on every backend, and an empty black picture reads as a broken clip)."""
        if not self._image.isNull():
            return
        h, w, _ = rgb.shape
        self._image = QImage(rgb.tobytes(), w, h, 3 * w, QImage.Format.Format_RGB888).copy()
        self.update()

    def image(self) -> QImage:
        return self._image

    def clear(self) -> None:
        self._image = QImage()
        self.update()

    def set_safe_zone(self, name: str | None) -> None:
        """Show the overlay of `name` (a SAFE_ZONES key) on portrait pictures; None hides it."""
        self._zone = name if name in SAFE_ZONES else None
        self.update()

    def picture_rect(self) -> QRect:
        if self._image.isNull():
            return QRect()
        size = self._image.size().scaled(self.size(), Qt.AspectRatioMode.KeepAspectRatio)
        rect = QRect(0, 0, size.width(), size.height())
        rect.moveCenter(self.rect().center())
        return rect

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt's name
        p = QPainter(self)
        p.fillRect(self.rect(), QColor("#111"))
        if self._image.isNull():
            return
        target = self.picture_rect()
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        p.drawImage(target, self._image)
        if self._zone and self._image.height() > self._image.width():
            self._paint_zone(p, QRectF(target), SAFE_ZONES[self._zone])

    @staticmethod
    def _paint_zone(p: QPainter, r: QRectF, z: SafeZone) -> None:
        w, h = r.width(), r.height()
        inner = QRectF(r.left() + z.left * w, r.top() + z.top * h,
                       w * (1 - z.left - z.right), h * (1 - z.top - z.bottom))
        for band in (QRectF(r.left(), r.top(), w, inner.top() - r.top()),
                     QRectF(r.left(), inner.bottom(), w, r.bottom() - inner.bottom()),
                     QRectF(r.left(), inner.top(), inner.left() - r.left(), inner.height()),
                     QRectF(inner.right(), inner.top(), r.right() - inner.right(), inner.height())):
            p.fillRect(band, OVERLAY)
        p.setPen(QColor(255, 255, 255, 200))
        p.drawRect(inner)
        p.drawText(inner.adjusted(4, 2, -4, -2), Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft,
                   f"{z.label} safe zone")
