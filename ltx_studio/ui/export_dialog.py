"""Export dialog: pick a preset and a file, watch progress with an ETA, cancel cleanly.

The export runs on a `threads.TaskWorker` (the GUI thread is never blocked); progress comes back as
queued signals to this dialog's methods. Cancel sets the runtime's CancelToken: the export stops between frames and deletes its partial
file. A duration over the platform's limit is reported as soon as the preset is chosen, before any work.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QRectF, Qt, QUrl, Signal
from PySide6.QtGui import QColor, QDesktopServices, QImage, QPainter, QPixmap
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

import model_runtime.api as api
from ltx_studio.export_choice import default_preset, framing_note, placement, same_aspect
from ltx_studio.threads import TaskWorker
from ltx_studio.ui.theme import current_colours

log = logging.getLogger(__name__)
FRAMING_BOX = 120  # px: the framing preview's longer side


def _poster(source: Path) -> QImage | None:
    """The clip's thumbnail (the app writes one beside every clip), for the framing preview."""
    thumb = source.with_suffix(".png")
    img = QImage(str(thumb)) if thumb.is_file() else QImage()
    if img.isNull():  # a clip from elsewhere: decode one small frame (short clips: milliseconds)
        try:
            frame = api.thumbnails(source, 1, FRAMING_BOX)[0]
        except (api.RuntimeErrorBase, OSError, IndexError) as exc:
            log.info("no poster frame for %s: %s", source, exc)
            return None
        h, w = frame.shape[:2]
        img = QImage(frame.tobytes(), w, h, 3 * w, QImage.Format.Format_RGB888).copy()
    return None if img.isNull() else img


class ExportDialog(QDialog):
    """`ExportDialog(source, in_s, out_s, parent)`; `exported(path)` is emitted when a file is complete."""

    exported = Signal(str)

    def __init__(self, source: str | Path, in_s: float | None = None, out_s: float | None = None,
                 parent: QWidget | None = None, folder: str | Path | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export")
        self.setObjectName("exportDialog")
        self.source, self.in_s, self.out_s = Path(source), in_s, out_s
        self.folder = Path(folder) if folder else self.source.parent
        self.info = api.probe(self.source)
        self.presets = {p.name: p for p in api.list_presets()}
        self._worker: TaskWorker | None = None
        self._token: api.CancelToken | None = None
        self.poster = _poster(self.source)
        self._build()
        self.select_preset(default_preset(self.info.width, self.info.height, self.presets.values()))
        self._preset_changed()

    def _build(self) -> None:
        self.preset_box = QComboBox()
        for p in self.presets.values():
            self.preset_box.addItem(p.label, p.name)
        self.fit_box = QComboBox()
        self.fit_box.addItem("Fill the frame (crop)", "crop")
        self.fit_box.addItem("Fit inside (bars)", "pad")
        self.path_edit = QLineEdit()
        self.path_edit.setMinimumWidth(self.fontMetrics().horizontalAdvance("M" * 44))  # the whole file name shows
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        path_row = QHBoxLayout()
        path_row.addWidget(self.path_edit, 1)
        path_row.addWidget(browse)
        self.framing = QLabel()
        self.framing.setObjectName("framingPreview")
        self.framing.setFixedSize(FRAMING_BOX, FRAMING_BOX)
        self.framing.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.framing_note = QLabel()
        self.framing_note.setWordWrap(True)
        self.framing_note.setObjectName("framingNote")
        self.fit_box.currentIndexChanged.connect(self._show_framing)
        self.span_label = QLabel()
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setObjectName("exportMessage")
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.eta_label = QLabel("")
        form = QFormLayout()
        form.addRow("Preset", self.preset_box)
        form.addRow("Framing", self.fit_box)
        form.addRow("File", path_row)
        form.addRow("Span", self.span_label)
        framing_row = QHBoxLayout()
        framing_row.addWidget(self.framing)
        framing_row.addWidget(self.framing_note, 1)
        self.framing_host = QWidget()
        self.framing_host.setLayout(framing_row)
        form.addRow("Preview", self.framing_host)
        self.buttons = QDialogButtonBox()
        self.export_button = self.buttons.addButton("Export", QDialogButtonBox.ButtonRole.AcceptRole)
        self.show_button = self.buttons.addButton("Show in folder", QDialogButtonBox.ButtonRole.ActionRole)
        self.show_button.setVisible(False)
        self.show_button.clicked.connect(self.show_in_folder)
        self.cancel_button = self.buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.exported_path: Path | None = None
        self.export_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.cancel)
        self.setMinimumWidth(640)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(self.message)
        lay.addWidget(self.bar)
        lay.addWidget(self.eta_label)
        lay.addWidget(self.buttons)
        self.preset_box.currentIndexChanged.connect(self._preset_changed)

    def preset(self) -> api.ExportPreset:
        return self.presets[self.preset_box.currentData()]

    def select_preset(self, name: str) -> None:
        self.preset_box.setCurrentIndex(self.preset_box.findData(name))

    def span_seconds(self) -> float:
        start = self.in_s or 0.0
        end = self.out_s if self.out_s is not None else self.info.duration_s
        return max(0.0, min(end, self.info.duration_s) - start)

    def _preset_changed(self) -> None:
        preset = self.preset()
        self.fit_box.setEnabled(preset.width is not None)
        self.path_edit.setText(str(self.folder / f"{self.source.stem}_{preset.name}{preset.suffix}"))
        seconds = self.span_seconds()
        self.span_label.setText(f"{self.in_s or 0:.3f} s → {(self.in_s or 0) + seconds:.3f} s ({seconds:.2f} s)")
        try:
            preset.check_duration(seconds)
        except api.RuntimeErrorBase as exc:
            self._show(str(exc), error=True)
            self.export_button.setEnabled(False)
        else:
            self._show(preset.description)
            self.export_button.setEnabled(self._worker is None)
        self.preset_box.setToolTip(preset.description)
        self._show_framing()

    def _show_framing(self) -> None:
        """The clip's poster frame inside the preset's frame, filled (cropped) or fitted (bars), with a note;
        shown only when the preset changes the aspect."""
        preset, src = self.preset(), (self.info.width, self.info.height)
        changes = preset.width is not None and not same_aspect(*src, preset.width, preset.height)
        self.framing_host.setVisible(changes)
        if not changes:
            return
        fit = self.fit_box.currentData()
        self.framing_note.setText(framing_note(*src, preset.width, preset.height, fit))
        scale = FRAMING_BOX / max(preset.width, preset.height)
        fw, fh = round(preset.width * scale), round(preset.height * scale)
        r = placement(*src, fw, fh, fit)
        pix = QPixmap(fw, fh)
        pix.fill(QColor("#000000"))
        painter = QPainter(pix)
        if self.poster is not None and not self.poster.isNull():
            painter.drawImage(QRectF(r.x, r.y, r.w, r.h), self.poster)
        else:
            painter.fillRect(QRectF(r.x, r.y, r.w, r.h), QColor("#6a6d78"))
        painter.end()
        self.framing.setPixmap(pix)

    def _browse(self) -> None:
        suffix = self.preset().suffix
        name, _ = QFileDialog.getSaveFileName(self, "Export to", self.path_edit.text(), f"*{suffix}")
        if name:
            self.path_edit.setText(name if name.endswith(suffix) else name + suffix)

    def _show(self, text: str, error: bool = False) -> None:
        self.message.setText(text)
        self.message.setStyleSheet(f"color:{current_colours().error};" if error else "")

    def running(self) -> bool:
        return self._worker is not None

    def start(self) -> None:
        """Export on a worker thread; the dialog stays responsive and can cancel."""
        if self._worker is not None:
            return
        token = self._token = api.CancelToken()
        source, preset, out = self.source, self.preset(), Path(self.path_edit.text())
        in_s, out_s, fit = self.in_s, self.out_s, self.fit_box.currentData()

        def task(report):
            return api.export(source, preset, out, in_s=in_s, out_s=out_s, fit=fit, cancel=token, progress=report)

        self._worker = TaskWorker(task, "export-worker", cancelled_by=(api.ExportCancelled,))
        self._worker.progressed.connect(self._on_progress)
        self._worker.returned.connect(self._on_finished)
        self._worker.failed.connect(self._on_failed)
        self._worker.cancelled.connect(self._on_cancelled)
        self.export_button.setEnabled(False)
        self.bar.setValue(0)
        self._show("Exporting…")
        self._worker.start()

    def cancel(self) -> None:
        if self._token is not None and self._worker is not None:
            self._token.cancel()
            self.cancel_button.setEnabled(False)  # answered at once; the export stops at its next frame
            self._show("Cancelling…")
        else:
            self.reject()

    def _on_progress(self, ev) -> None:
        self.bar.setValue(round(ev.fraction * 1000))
        if ev.stage == "audio":
            self.eta_label.setText("Measuring and normalising the sound…")
        else:
            eta = f"{ev.eta_s:.0f} s left" if ev.eta_s is not None else "estimating…"
            self.eta_label.setText(f"Frame {ev.step} / {ev.total} · {eta}")

    def _on_finished(self, result) -> None:
        self.bar.setValue(1000)
        self._done(f"Saved {result.path} ({result.width}×{result.height}, {result.duration_s:.2f} s).")
        self.exported_path = Path(result.path)
        self.show_button.setVisible(True)
        self.cancel_button.setText("Close")  # nothing left to cancel
        self.exported.emit(str(result.path))

    def show_in_folder(self) -> None:
        if self.exported_path is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.exported_path.parent)))

    def _on_failed(self, exc: BaseException) -> None:
        self._done(str(exc) if isinstance(exc, api.RuntimeErrorBase) else f"{type(exc).__name__}: {exc}", error=True)

    def _on_cancelled(self, _reason: str) -> None:
        self._done("Export cancelled; no file was written.")

    def _done(self, text: str, error: bool = False) -> None:
        """The task ended (GUI thread, its last report): join its thread (it is only finishing now)."""
        self.stop()
        self._show(text, error)
        self.eta_label.setText("")
        self.export_button.setEnabled(True)
        self.cancel_button.setEnabled(True)

    def stop(self) -> None:
        """Cancel a running export and wait for its thread (the partial file is deleted by the export)."""
        worker, token = self._worker, self._token
        self._worker = self._token = None
        if worker is not None:
            worker.stop(token.cancel if token is not None else lambda: None)

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt's name
        self.stop()  # never leave a worker writing after the dialog is gone
        super().closeEvent(event)

    def done(self, result: int) -> None:  # noqa: D102 - Qt's name: accept/reject/Escape end here too
        self.stop()
        super().done(result)
