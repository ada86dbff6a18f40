"""Export dialog: pick a preset and a file, watch progress with an ETA, cancel cleanly.

The export runs on a `threads.TaskWorker` (the GUI thread is never blocked); progress comes back as
queued signals to this dialog's methods. Cancel sets the runtime's CancelToken: the export stops between frames and deletes its partial
file. A duration over the platform's limit is reported as soon as the preset is chosen, before any work.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import Signal
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

from ltx_studio.threads import TaskWorker
from model_runtime import api

log = logging.getLogger(__name__)


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
        self._build()
        self._preset_changed()

    def _build(self) -> None:
        self.preset_box = QComboBox()
        for p in self.presets.values():
            self.preset_box.addItem(p.label, p.name)
        self.fit_box = QComboBox()
        self.fit_box.addItem("Fill the frame (crop)", "crop")
        self.fit_box.addItem("Fit inside (bars)", "pad")
        self.path_edit = QLineEdit()
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        path_row = QHBoxLayout()
        path_row.addWidget(self.path_edit, 1)
        path_row.addWidget(browse)
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
        self.buttons = QDialogButtonBox()
        self.export_button = self.buttons.addButton("Export", QDialogButtonBox.ButtonRole.AcceptRole)
        self.cancel_button = self.buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.export_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.cancel)
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

    def _browse(self) -> None:
        suffix = self.preset().suffix
        name, _ = QFileDialog.getSaveFileName(self, "Export to", self.path_edit.text(), f"*{suffix}")
        if name:
            self.path_edit.setText(name if name.endswith(suffix) else name + suffix)

    def _show(self, text: str, error: bool = False) -> None:
        self.message.setText(text)
        self.message.setStyleSheet("color:#e05050;" if error else "")

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
        else:
            self.reject()

    def _on_progress(self, ev) -> None:
        self.bar.setValue(round(ev.fraction * 1000))
        if ev.stage == "audio":
            self.eta_label.setText("Measuring and normalising the sound…")
        else:
            eta = f"{ev.eta_s:.0f} s left" if ev.eta_s is not None else "estimating…"
            self.eta_label.setText(f"Frame {ev.done} / {ev.total} · {eta}")

    def _on_finished(self, result) -> None:
        self.bar.setValue(1000)
        self._done(f"Saved {result.path} ({result.width}×{result.height}, {result.duration_s:.2f} s).")
        self.exported.emit(str(result.path))

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
