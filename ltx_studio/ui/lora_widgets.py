"""LoRA widgets: the per-job chips with strength sliders (prompt panel) and the library page.

Both are views over plain runtime data (`model_runtime.api.LoraSpec`, `LibraryEntry`): they never read a
file themselves. The chips say which LoRAs the next job uses and at what strength; the library lists a
folder's LoRA files (name, family, rank, size, whether each fits the loaded model) and adds one to the job.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDoubleSpinBox,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSlider,
    QTableWidget,
    QTableWidgetItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from model_runtime.api import STRENGTH_RANGE, LoraSpec, format_size

log = logging.getLogger(__name__)

SLIDER_STEPS = 100  # slider units per 1.0 of strength


class LoraChip(QFrame):
    """One LoRA of the job: its name, a strength slider + spin box in [-2, 2], and a remove button."""

    changed = Signal()
    removeRequested = Signal(object)  # self

    def __init__(self, spec: LoraSpec, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.path, self.sha256 = spec.path, spec.sha256
        lo, hi = STRENGTH_RANGE
        self.name = QLabel(spec.path.stem)
        self.name.setToolTip(str(spec.path) + (f"\nsha256 {spec.sha256}" if spec.sha256 else ""))
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(round(lo * SLIDER_STEPS), round(hi * SLIDER_STEPS))
        self.spin = QDoubleSpinBox()
        self.spin.setRange(lo, hi)
        self.spin.setSingleStep(0.05)
        self.spin.setDecimals(2)
        self.remove = QToolButton()
        self.remove.setText("×")
        self.remove.setToolTip("remove this LoRA from the job")
        row = QHBoxLayout(self)
        row.setContentsMargins(4, 2, 4, 2)
        for w in (self.name, self.slider, self.spin, self.remove):
            row.addWidget(w)
        self.slider.valueChanged.connect(lambda v: self.spin.setValue(v / SLIDER_STEPS))
        self.spin.valueChanged.connect(self._on_spin)
        self.remove.clicked.connect(lambda: self.removeRequested.emit(self))
        self.spin.setValue(spec.strength)

    def _on_spin(self, value: float) -> None:
        self.slider.blockSignals(True)
        self.slider.setValue(round(value * SLIDER_STEPS))
        self.slider.blockSignals(False)
        self.changed.emit()

    def spec(self) -> LoraSpec:
        return LoraSpec(self.path, round(self.spin.value(), 2), self.sha256)


class LoraChips(QWidget):
    """The LoRAs of the next job, in application order."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._chips: list[LoraChip] = []
        self._box = QVBoxLayout(self)
        self._box.setContentsMargins(0, 0, 0, 0)
        self.empty = QLabel("No LoRA: add one from the LoRA library")
        self._box.addWidget(self.empty)

    def specs(self) -> tuple[LoraSpec, ...]:
        return tuple(c.spec() for c in self._chips)

    def add(self, spec: LoraSpec) -> None:
        """Add a LoRA (a second add of the same file only sets its strength)."""
        for chip in self._chips:
            if chip.path == spec.path:
                chip.spin.setValue(spec.strength)
                return
        chip = LoraChip(spec, self)
        chip.changed.connect(self.changed)
        chip.removeRequested.connect(self._remove)
        self._chips.append(chip)
        self._box.addWidget(chip)
        self.empty.setVisible(False)
        self.changed.emit()

    def set_specs(self, specs) -> None:
        """Show exactly `specs` (a re-queued job brings its LoRAs back)."""
        for chip in list(self._chips):
            self._remove(chip, emit=False)
        for spec in specs:
            self.add(spec)
        self.changed.emit()

    def _remove(self, chip: LoraChip, emit: bool = True) -> None:
        self._chips.remove(chip)
        chip.setParent(None)
        chip.deleteLater()
        self.empty.setVisible(not self._chips)
        if emit:
            self.changed.emit()


class LoraLibraryPage(QWidget):
    """A folder of LoRA files: one row each (name, family, rank, modules, size, status); double-click or
    'Add to job' puts the selected usable one into the prompt panel's chips."""

    folderChosen = Signal(str)
    addRequested = Signal(object)  # LoraSpec
    COLUMNS = ("Name", "Family", "Rank", "Modules", "Size", "Status")

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.folder = QLineEdit()
        self.folder.setPlaceholderText("folder with your LoRA .safetensors files")
        browse, rescan = QPushButton("Browse…"), QPushButton("Rescan")
        self.add = QPushButton("Add to job")
        self.table = QTableWidget(0, len(self.COLUMNS))
        self.table.setHorizontalHeaderLabels(self.COLUMNS)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.summary = QLabel("")
        top = QHBoxLayout()
        for w in (self.folder, browse, rescan):
            top.addWidget(w)
        col = QVBoxLayout(self)
        col.addLayout(top)
        col.addWidget(self.table)
        bottom = QHBoxLayout()
        bottom.addWidget(self.summary, 1)
        bottom.addWidget(self.add)
        col.addLayout(bottom)
        self._entries: list = []
        browse.clicked.connect(self._browse)
        rescan.clicked.connect(lambda: self.folderChosen.emit(self.folder.text()))
        self.folder.returnPressed.connect(lambda: self.folderChosen.emit(self.folder.text()))
        self.add.clicked.connect(self._add_selected)
        self.table.cellDoubleClicked.connect(lambda row, _col: self._add_row(row))

    def _browse(self) -> None:
        chosen = QFileDialog.getExistingDirectory(self, "LoRA folder", self.folder.text())
        if chosen:
            self.folder.setText(chosen)
            self.folderChosen.emit(chosen)

    def set_entries(self, entries) -> None:
        """Show `entries` (`LibraryEntry` items from the runtime's folder scan)."""
        self._entries = list(entries)
        self.table.setRowCount(len(self._entries))
        for row, e in enumerate(self._entries):
            i = e.info
            cells = (e.path.name, (i.family or "unknown") if i else "-", str(i.rank) if i else "-",
                     str(i.modules) if i else "-", format_size(i.size_bytes) if i else "-",
                     "usable" if e.usable else e.problem)
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(str(e.path) if col == 0 else text)
                self.table.setItem(row, col, item)
        usable = sum(e.usable for e in self._entries)
        self.summary.setText(f"{len(self._entries)} file(s), {usable} usable")

    def show_error(self, message: str) -> None:
        self.set_entries([])
        self.summary.setText(message)

    def _add_selected(self) -> None:
        rows = {i.row() for i in self.table.selectedIndexes()}
        for row in sorted(rows):
            self._add_row(row)

    def _add_row(self, row: int) -> None:
        entry = self._entries[row]
        if entry.usable:
            self.addRequested.emit(LoraSpec(Path(entry.path), 1.0, entry.sha256))

