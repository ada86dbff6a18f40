"""Export dialog: pick a preset and a file, watch progress with an ETA, cancel cleanly.

The export runs on its own QThread (the GUI thread is never blocked); progress comes back as queued
signals. Cancel sets the runtime's CancelToken: the export stops between frames and deletes its partial
file. A duration over the platform's limit is reported as soon as the preset is chosen, before any work.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QObject, QThread, Signal
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

from model_runtime.errors import RuntimeErrorBase
from model_runtime.media.export import ExportCancelled, export
from model_runtime.media.export_presets import ExportPreset, list_presets
from model_runtime.media.probe import probe
from model_runtime.sampling.control import CancelToken

log = logging.getLogger(__name__)


class _ExportWorker(QObject):
    progress = Signal(object)     # ExportProgress
    finished = Signal(object)     # ExportResult
    failed = Signal(str)
    cancelled = Signal()

    def __init__(self, source: Path, preset: ExportPreset, out: Path, in_s, out_s, fit, token) -> None:
        super().__init__()
        self.args = (source, preset, out)
        self.kwargs = {"in_s": in_s, "out_s": out_s, "fit": fit, "cancel": token}

    def run(self) -> None:
        try:
            result = export(*self.args, progress=self.progress.emit, **self.kwargs)
        except ExportCancelled:
            self.cancelled.emit()
        except RuntimeErrorBase as exc:
            self.failed.emit(str(exc))
        except Exception as exc:  # a worker reports every failure; it never dies silently
            log.exception("export failed")
            self.failed.emit(f"{type(exc).__name__}: {exc}")
        else:
            self.finished.emit(result)


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
        self.info = probe(self.source)
        self.presets = {p.name: p for p in list_presets()}
        self._thread: QThread | None = None
        self._worker: _ExportWorker | None = None
        self._token: CancelToken | None = None
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

    def preset(self) -> ExportPreset:
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
        except RuntimeErrorBase as exc:
            self._show(str(exc), error=True)
            self.export_button.setEnabled(False)
        else:
            self._show(preset.description)
            self.export_button.setEnabled(self._thread is None)

    def _browse(self) -> None:
        suffix = self.preset().suffix
        name, _ = QFileDialog.getSaveFileName(self, "Export to", self.path_edit.text(), f"*{suffix}")
        if name:
            self.path_edit.setText(name if name.endswith(suffix) else name + suffix)

    def _show(self, text: str, error: bool = False) -> None:
        self.message.setText(text)
        self.message.setStyleSheet("color:#e05050;" if error else "")

    def running(self) -> bool:
        return self._thread is not None

    def start(self) -> None:
        """Export on a worker thread; the dialog stays responsive and can cancel."""
        if self._thread is not None:
            return
        self._token = CancelToken()
        self._worker = _ExportWorker(self.source, self.preset(), Path(self.path_edit.text()), self.in_s,
                                     self.out_s, self.fit_box.currentData(), self._token)
        self._thread = QThread(self)
        self._worker.moveToThread(self._thread)
        self._thread.started.connect(self._worker.run)
        self._worker.progress.connect(self._on_progress)
        self._worker.finished.connect(self._on_finished)
        self._worker.failed.connect(lambda msg: self._done(msg, error=True))
        self._worker.cancelled.connect(lambda: self._done("Export cancelled; no file was written."))
        self.export_button.setEnabled(False)
        self.bar.setValue(0)
        self._show("Exporting…")
        self._thread.start()

    def cancel(self) -> None:
        if self._token is not None and self._thread is not None:
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

    def _done(self, text: str, error: bool = False) -> None:
        self._show(text, error)
        self.eta_label.setText("")
        if self._thread is not None:
            self._thread.quit()
            self._thread.wait()
            self._thread = self._worker = self._token = None
        self.export_button.setEnabled(True)

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt's name
        if self._thread is not None:  # never leave a worker writing after the dialog is gone
            self._token.cancel()
            self._thread.quit()
            self._thread.wait()
        super().closeEvent(event)
