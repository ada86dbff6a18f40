"""Settings → Models: download what fits this machine, adopt files already on disk, or point the app at
the LTX-2.3 checkpoint, the upsampler and the Gemma folder (or a folder with them)."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ltx_studio.model_setup import check_all, save_refusal, scan_folder
from ltx_studio.settings import Settings
from ltx_studio.ui.catalogue_panel import CataloguePanel
from ltx_studio.ui.theme import current_colours
from model_runtime.api import InvalidRequestError, backend_address, default_models_dir

#: catalogue role -> the Settings field it fills
ROLE_FIELDS = {"checkpoint": "checkpoint", "upscaler": "upsampler", "text_encoder": "text_encoder"}


class ModelsDialog(QDialog):
    """Edits the model paths of a Settings value; `result_settings()` returns the edited copy."""

    def __init__(self, settings: Settings, parent: QWidget | None = None, workers: list[str] | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("modelsDialog")
        self.setWindowTitle("Settings — Models")
        self.resize(1180, 760)
        self._settings = settings
        lay = QVBoxLayout(self)
        self.catalogue = CataloguePanel(settings.models_dir or str(default_models_dir()), self)
        self.catalogue.paths_ready.connect(self.apply_ready_paths)
        lay.addWidget(self.catalogue, 2)
        self.demo = QCheckBox("Use the built-in demo model (tiny, random weights: for trying the app, not for results)")
        self.demo.setChecked(settings.use_demo_model)
        lay.addWidget(self.demo)
        form = QFormLayout()
        self.checkpoint = self._path_row(form, "LTX-2.3 checkpoint", settings.checkpoint, folder=False)
        self.upsampler = self._path_row(form, "Spatial upscaler x2", settings.upsampler, folder=False)
        self.text_encoder = self._path_row(form, "Gemma-3 folder", settings.text_encoder, folder=True)
        self.distilled_lora = self._path_row(form, "Distilled LoRA (dev renders)", settings.distilled_lora,
                                             folder=False)
        self.backend = QLineEdit(settings.render_backend)
        self.backend.setObjectName("renderBackend")
        self.backend.setPlaceholderText("local, auto (a Ray cluster on this machine) or ray://HOST:10001")
        self.backend.setToolTip("Where jobs run: this machine, or the GPU workers of a Ray cluster "
                                "(set one up with `ltx-studio-cli worker`)")
        form.addRow("Render backend", self.backend)
        self.workers = QLabel("<br>".join(workers) if workers else "no cluster workers connected")
        self.workers.setObjectName("clusterWorkers")
        self.workers.setWordWrap(True)
        form.addRow("Cluster workers", self.workers)
        lay.addLayout(form)
        scan = QPushButton("Find them in a folder… (e.g. a ComfyUI models folder)")
        scan.clicked.connect(self._scan)
        lay.addWidget(scan)
        self.report = QLabel()
        self.report.setObjectName("modelsReport")
        self.report.setWordWrap(True)
        lay.addWidget(self.report, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        self.refusal = QLabel()
        self.refusal.setObjectName("modelsRefusal")
        self.refusal.setWordWrap(True)
        self.refusal.setStyleSheet(f"color:{current_colours().error};")
        lay.addWidget(self.refusal)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)
        for e in (self.checkpoint, self.upsampler, self.text_encoder):
            e.editingFinished.connect(self.refresh)
        self.demo.toggled.connect(self.refresh)
        self.refresh()

    def _path_row(self, form: QFormLayout, label: str, value: str, folder: bool) -> QLineEdit:
        edit = QLineEdit(value)
        browse = QPushButton("Browse…")

        def pick() -> None:
            path = (QFileDialog.getExistingDirectory(self, label) if folder else
                    QFileDialog.getOpenFileName(self, label, filter="safetensors (*.safetensors)")[0])
            if path:
                edit.setText(path)
                self.refresh()

        browse.clicked.connect(pick)
        row = QHBoxLayout()
        row.addWidget(edit, 1)
        row.addWidget(browse)
        form.addRow(label, row)
        return edit

    def _scan(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder containing the model files")
        if folder:
            self.apply_scan(folder)

    def apply_scan(self, folder: str) -> None:
        found = scan_folder(folder)
        for edit, value in ((self.checkpoint, found.checkpoint), (self.upsampler, found.upsampler),
                            (self.text_encoder, found.text_encoder)):
            if value:
                edit.setText(value)
        self.refresh()

    def apply_ready_paths(self, paths: dict) -> None:
        """Downloaded or adopted files fill the path fields that are empty or do not check out."""
        edits = {"checkpoint": self.checkpoint, "upsampler": self.upsampler, "text_encoder": self.text_encoder}
        bad = {s.role for s in getattr(self, "statuses", []) if not s.ok}
        for role, path in paths.items():
            field = ROLE_FIELDS.get(role)
            if field and (not edits[field].text().strip() or field in bad):
                edits[field].setText(path)
        self.refresh()

    def done(self, result: int) -> None:
        self.catalogue.shutdown()
        super().done(result)

    def refresh(self) -> None:
        """Inspect each path (headers only) and say what is present, what is missing and what it is for."""
        lines = []
        statuses = check_all(self.checkpoint.text().strip(), self.upsampler.text().strip(),
                             self.text_encoder.text().strip())
        demo = self.demo.isChecked()
        for s in statuses:
            if not s.path and demo:  # nothing set while the demo runs: not an error, just what it is for
                lines.append(f"<p><b>○ {s.role.replace('_', ' ')}</b>: not set (the demo model is in use); "
                             f"{s.purpose}</p>")
                continue
            mark = "✔" if s.ok else "✘"
            lines.append(f"<p><b>{mark} {s.role.replace('_', ' ')}</b>: {s.message}</p>")
        self.statuses = statuses
        self.report.setText("".join(lines))

    def accept(self) -> None:
        """Save only paths that are what they claim to be; otherwise say why and stay open."""
        self.refresh()
        reason = save_refusal(self.statuses, self.demo.isChecked()) or self._backend_refusal()
        self.refusal.setText(f"Not saved: {reason}" if reason else "")
        if reason is None:
            super().accept()

    def _backend_refusal(self) -> str | None:
        try:
            backend_address(self.backend.text().strip() or "local")
        except InvalidRequestError as exc:
            return str(exc)
        return None

    def result_settings(self) -> Settings:
        return self._settings.with_changes(
            checkpoint=self.checkpoint.text().strip(), upsampler=self.upsampler.text().strip(),
            text_encoder=self.text_encoder.text().strip(), use_demo_model=self.demo.isChecked(),
            distilled_lora=self.distilled_lora.text().strip(),
            models_dir=self.catalogue.folder.text().strip(), render_backend=self.backend.text().strip() or "local")
