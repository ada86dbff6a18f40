"""Small widgets that keep the layout steady: text that elides instead of widening its panel, empty states.

Why: a QLabel's minimum width is its text's width, so one long error message or prompt used to push
the window past the screen (2003 px after an error). These labels have a small minimum, show what fits
with an ellipsis, and carry the whole text in their tooltip.
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QFontMetrics
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget


class ElidedLabel(QLabel):
    """One line of text, elided at the right; the full text is the tooltip."""

    def __init__(self, text: str = "", parent: QWidget | None = None, min_chars: int = 12) -> None:
        super().__init__(parent)
        self._full = ""
        self._min_chars = min_chars
        # Preferred: it asks for its whole text (sizeHint) but may shrink to a few characters (minimumSizeHint)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        self.setText(text)

    def setText(self, text: str) -> None:  # noqa: N802 - Qt's name
        self._full = text
        self.setToolTip(text if text else "")
        self._elide()
        self.updateGeometry()

    def text(self) -> str:
        return self._full

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt's name
        first = self._full.splitlines()[0] if self._full else ""
        width = QFontMetrics(self.font()).horizontalAdvance(first) + 8
        return QSize(max(width, self.minimumSizeHint().width()), super().sizeHint().height())

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt's name
        fm = QFontMetrics(self.font())
        return QSize(fm.averageCharWidth() * self._min_chars, super().minimumSizeHint().height())

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt's name
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        first = self._full.splitlines()[0] if self._full else ""
        width = max(self.width() - 2, 10)
        shown = QFontMetrics(self.font()).elidedText(first, Qt.TextElideMode.ElideRight, width)
        if first != self._full and not shown.endswith("…"):
            shown += " …"
        super().setText(shown)


def empty_state(text: str, parent: QWidget | None = None) -> QLabel:
    """A centred, wrapped explanation shown where a list has nothing in it yet."""
    label = QLabel(text, parent)
    label.setObjectName("emptyState")
    label.setWordWrap(True)
    label.setAlignment(Qt.AlignmentFlag.AlignCenter)
    return label


def fixed_width_for(label: QLabel, sample: str) -> None:
    """Fix a label's width to a sample text's width, so a ticking value never shifts its neighbours."""
    label.setFixedWidth(QFontMetrics(label.font()).horizontalAdvance(sample) + 8)
