"""The keyframe track under the timeline: images placed at times, that the next job must show there.

Drop image files onto the track (or paste one: Ctrl+V puts the clipboard's image at the playhead), drag a
keyframe to move it, turn the wheel over it (or use its menu) to set its strength, Delete removes the
selected one. An audio file dropped on the track becomes the soundtrack that drives the clip. The widget
holds plain data (`TrackKey`: image path, time in ms, strength) and reports changes; the window turns it
into the job's conditioning (times -> frames at the job's rate). An image Qt cannot read is refused with a
message, never placed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QGuiApplication, QImage, QKeySequence, QPainter, QPen, QShortcut
from PySide6.QtWidgets import QInputDialog, QMenu, QWidget

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"})
AUDIO_SUFFIXES = frozenset({".wav", ".flac", ".mp3", ".m4a", ".aac", ".ogg", ".opus"})
BACKGROUND = QColor("#17191d")
KEY = QColor(255, 170, 60)
SELECTED = QColor(255, 230, 120)
STRENGTH_STEP = 0.1


@dataclass(frozen=True)
class TrackKey:
    """One keyframe: the image at `path` shown at `ms` (from the clip's start) with `strength` 0..1."""

    path: str
    ms: int
    strength: float = 1.0


class KeyframeTrack(QWidget):
    keyframesChanged = Signal()          # noqa: N815 - Qt signal naming
    audioDropped = Signal(str)           # noqa: N815
    message = Signal(str)                # a sentence for the status bar (a refused file, ...)

    def __init__(self, paste_dir: Path | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("keyframeTrack")
        self.setMinimumHeight(52)
        self.setAcceptDrops(True)
        self.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self.setToolTip("Keyframes: drop or paste images here; drag to move, wheel for strength, Delete removes")
        self.paste_dir = paste_dir
        self._duration = 0
        self._position = 0
        self._keys: list[TrackKey] = []
        self._thumbs: dict[str, QImage] = {}
        self._selected: int | None = None
        self._dragging = False
        QShortcut(QKeySequence.StandardKey.Paste, self, self.paste)
        QShortcut(QKeySequence.StandardKey.Delete, self, self.remove_selected)

    # --- data -------------------------------------------------------------------------------------
    def set_duration(self, ms: int) -> None:
        self._duration = max(0, int(ms))
        self._keys = [replace(k, ms=min(k.ms, self._duration)) for k in self._keys]
        self.update()

    def duration(self) -> int:
        return self._duration

    def set_position(self, ms: int) -> None:
        self._position = max(0, int(ms))

    def keyframes(self) -> tuple[TrackKey, ...]:
        return tuple(sorted(self._keys, key=lambda k: k.ms))

    def set_keyframes(self, keys: tuple[TrackKey, ...] | list[TrackKey]) -> None:
        """Restore a job's keyframes (history); unreadable images are dropped with a message."""
        self._keys, self._selected = [], None
        for k in keys:
            self.add_image(k.path, k.ms, k.strength, notify=False)
        self.keyframesChanged.emit()
        self.update()

    def clear(self) -> None:
        self.set_keyframes(())

    def thumbnail(self, path: str) -> QImage | None:
        return self._thumbs.get(path)

    def add_image(self, path: str | Path, ms: int, strength: float = 1.0, *, notify: bool = True) -> bool:
        """Place an image at `ms`; False (and a message) when it is not a readable image."""
        path = str(path)
        image = QImage(path)
        if image.isNull():
            self.message.emit(f"{Path(path).name}: not a readable image; keyframe not added")
            return False
        self._thumbs[path] = image.scaledToHeight(96, Qt.TransformationMode.SmoothTransformation)
        ms = min(max(0, int(ms)), self._duration) if self._duration else max(0, int(ms))
        self._keys.append(TrackKey(path, ms, min(max(float(strength), 0.0), 1.0)))
        self._selected = len(self._keys) - 1
        if notify:
            self.keyframesChanged.emit()
        self.update()
        return True

    def move(self, index: int, ms: int) -> None:
        limit = self._duration if self._duration else ms
        self._keys[index] = replace(self._keys[index], ms=min(max(0, int(ms)), limit))
        self.keyframesChanged.emit()
        self.update()

    def set_strength(self, index: int, strength: float) -> None:
        self._keys[index] = replace(self._keys[index], strength=round(min(max(float(strength), 0.0), 1.0), 3))
        self.keyframesChanged.emit()
        self.update()

    def remove(self, index: int) -> None:
        del self._keys[index]
        self._selected = None
        self.keyframesChanged.emit()
        self.update()

    def remove_selected(self) -> None:
        if self._selected is not None:
            self.remove(self._selected)

    def selected(self) -> int | None:
        return self._selected

    def paste(self) -> bool:
        """The clipboard's image file (or image data, saved as a PNG in `paste_dir`) at the playhead."""
        data = QGuiApplication.clipboard().mimeData()
        if data is not None and data.hasUrls():
            for url in data.urls():
                if url.isLocalFile() and Path(url.toLocalFile()).suffix.lower() in IMAGE_SUFFIXES:
                    return self.add_image(url.toLocalFile(), self._position)
        image = QGuiApplication.clipboard().image()
        if image.isNull() or self.paste_dir is None:
            self.message.emit("The clipboard holds no image to paste as a keyframe")
            return False
        self.paste_dir.mkdir(parents=True, exist_ok=True)
        target = self.paste_dir / f"pasted-{time.strftime('%Y%m%d-%H%M%S')}-{len(self._keys)}.png"
        if not image.save(str(target), "PNG"):
            self.message.emit(f"Could not save the pasted image to {target}")
            return False
        return self.add_image(target, self._position)

    # --- geometry ---------------------------------------------------------------------------------
    def x_of(self, ms: int) -> float:
        return 0.0 if not self._duration else ms / self._duration * (self.width() - 1)

    def ms_at(self, x: float) -> int:
        if not self._duration or self.width() <= 1:
            return 0
        return int(round(min(max(x / (self.width() - 1), 0.0), 1.0) * self._duration))

    def key_rect(self, key: TrackKey) -> QRectF:
        h = self.height() - 8
        thumb = self._thumbs.get(key.path)
        w = h * thumb.width() / max(thumb.height(), 1) if thumb is not None else h
        x = min(max(self.x_of(key.ms) - w / 2, 0.0), max(self.width() - w, 0.0))
        return QRectF(x, 4, w, h)

    def key_at(self, x: float, y: float) -> int | None:
        for i in sorted(range(len(self._keys)), key=lambda i: -self._keys[i].ms):
            if self.key_rect(self._keys[i]).contains(QPointF(x, y)):
                return i
        return None

    # --- painting ---------------------------------------------------------------------------------
    def paintEvent(self, event) -> None:  # noqa: N802 - Qt's name
        p = QPainter(self)
        p.fillRect(self.rect(), BACKGROUND)
        if not self._keys:
            p.setPen(QColor(140, 140, 150))
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "Drop or paste images here to place keyframes")
            return
        for i, key in enumerate(self._keys):
            r = self.key_rect(key)
            thumb = self._thumbs.get(key.path)
            if thumb is not None:
                p.drawImage(r, thumb)
            p.fillRect(QRectF(r.left(), r.bottom() - 4, r.width() * key.strength, 4), KEY)  # strength bar
            p.setPen(QPen(SELECTED if i == self._selected else KEY, 2))
            p.drawRect(r)
            x = self.x_of(key.ms)
            p.drawLine(QPointF(x, 0), QPointF(x, 4))

    # --- mouse, wheel, menu -------------------------------------------------------------------------
    def mousePressEvent(self, event) -> None:  # noqa: N802
        i = self.key_at(event.position().x(), event.position().y())
        self._selected = i
        if event.button() == Qt.MouseButton.LeftButton and i is not None:
            self._dragging = True
        elif event.button() == Qt.MouseButton.RightButton and i is not None:
            self._menu(i, event.globalPosition().toPoint())
        self.update()

    def mouseMoveEvent(self, event) -> None:  # noqa: N802
        if self._dragging and self._selected is not None:
            self._keys[self._selected] = replace(self._keys[self._selected], ms=self.ms_at(event.position().x()))
            self.update()

    def mouseReleaseEvent(self, event) -> None:  # noqa: N802
        if self._dragging and self._selected is not None:
            self._dragging = False
            self.move(self._selected, self._keys[self._selected].ms)

    def wheelEvent(self, event) -> None:  # noqa: N802
        i = self.key_at(event.position().x(), event.position().y())
        if i is None:
            return
        step = STRENGTH_STEP if event.angleDelta().y() > 0 else -STRENGTH_STEP
        self.set_strength(i, self._keys[i].strength + step)

    def _menu(self, index: int, where) -> None:
        menu = QMenu(self)
        menu.addAction("Strength…", lambda: self._ask_strength(index))
        menu.addAction("Remove", lambda: self.remove(index))
        menu.exec(where)

    def _ask_strength(self, index: int) -> None:
        value, ok = QInputDialog.getDouble(self, "Keyframe strength", "Strength (0 = a hint, 1 = exactly this)",
                                           self._keys[index].strength, 0.0, 1.0, 2)
        if ok:
            self.set_strength(index, value)

    # --- drag and drop ------------------------------------------------------------------------------
    def _paths(self, event) -> list[Path]:
        data = event.mimeData()
        return [Path(u.toLocalFile()) for u in data.urls() if u.isLocalFile()] if data.hasUrls() else []

    def dragEnterEvent(self, event) -> None:  # noqa: N802
        if any(p.suffix.lower() in IMAGE_SUFFIXES | AUDIO_SUFFIXES for p in self._paths(event)):
            event.acceptProposedAction()

    def dragMoveEvent(self, event) -> None:  # noqa: N802
        event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802
        ms = self.ms_at(event.position().x())
        for path in self._paths(event):
            suffix = path.suffix.lower()
            if suffix in IMAGE_SUFFIXES:
                self.add_image(path, ms)
            elif suffix in AUDIO_SUFFIXES:
                self.audioDropped.emit(str(path))
            else:
                self.message.emit(f"{path.name}: drop an image (keyframe) or an audio file (soundtrack)")
        event.acceptProposedAction()
