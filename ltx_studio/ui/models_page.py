"""Settings → Models: download what fits this machine, adopt files already on disk, or point the app at the
model files: LTX-2.3 (the checkpoint, the upsampler and the Gemma folder) or LTX-2.5 (one file per
component), or at a folder holding them. The page says which family is chosen, which components are there
and, for a wrong file, what it is and what it should be."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
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

from ltx_studio.model_setup import check_all, check_split, present_and_missing, save_refusal, scan_folder
from ltx_studio.settings import Settings
from ltx_studio.ui.catalogue_panel import CataloguePanel
from ltx_studio.ui.theme import current_colours
from model_runtime.api import InvalidRequestError, backend_address, default_models_dir

#: catalogue role -> the Settings field it fills
ROLE_FIELDS = {"checkpoint": "checkpoint", "upscaler": "upsampler", "text_encoder": "text_encoder"}
FAMILY_LABELS = {"2.3": "LTX-2.3 (one checkpoint file + Gemma-3 folder)", "2.5": "LTX-2.5 (split files)"}
#: the LTX-2.5 rows: Settings field -> label
SPLIT_LABELS = {"transformer": "Transformer", "text_encoder_file": "Gemma-4 text encoder file",
                "video_vae": "Video VAE, diffusion (Sharp)", "video_vae_conv": "Video VAE, conv (Fast)",
                "audio_vae": "Audio VAE", "duration_head": "Duration head (Auto length)",
                "upsampler_25": "Spatial upscaler x2"}


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
        row = QHBoxLayout()
        row.addWidget(QLabel("Model family"))
        self.family = QComboBox()
        self.family.setObjectName("modelFamily")
        for family, label in FAMILY_LABELS.items():
            self.family.addItem(label, family)
        self.family.setCurrentIndex(max(0, self.family.findData(settings.family)))
        row.addWidget(self.family, 1)
        lay.addLayout(row)
        self.single_box, self.split_box = QWidget(), QWidget()
        form = QFormLayout(self.single_box)
        self.checkpoint = self._path_row(form, "LTX-2.3 checkpoint", settings.checkpoint, folder=False)
        self.upsampler = self._path_row(form, "Spatial upscaler x2", settings.upsampler, folder=False)
        self.text_encoder = self._path_row(form, "Gemma-3 folder", settings.text_encoder, folder=True)
        self.distilled_lora = self._path_row(form, "Distilled LoRA (dev renders)", settings.distilled_lora,
                                             folder=False)
        split_form = QFormLayout(self.split_box)
        self.split = {field: self._path_row(split_form, label, getattr(settings, field), folder=False)
                      for field, label in SPLIT_LABELS.items()}
        lay.addWidget(self.single_box)
        lay.addWidget(self.split_box)
        backend_form = QFormLayout()
        self.backend = QLineEdit(settings.render_backend)
        self.backend.setObjectName("renderBackend")
        self.backend.setPlaceholderText("local, auto (a Ray cluster on this machine) or ray://HOST:10001")
        self.backend.setToolTip("Where jobs run: this machine, or the GPU workers of a Ray cluster "
                                "(set one up with `ltx-studio-cli worker`)")
        backend_form.addRow("Render backend", self.backend)
        self.workers = QLabel("<br>".join(workers) if workers else "no cluster workers connected")
        self.workers.setObjectName("clusterWorkers")
        self.workers.setWordWrap(True)
        backend_form.addRow("Cluster workers", self.workers)
        lay.addLayout(backend_form)
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
        for e in (self.checkpoint, self.upsampler, self.text_encoder, *self.split.values()):
            e.editingFinished.connect(self.refresh)
        self.demo.toggled.connect(self.refresh)
        self.family.currentIndexChanged.connect(self.refresh)
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

    def current_family(self) -> str:
        return self.family.currentData()

    def _scan(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder containing the model files")
        if folder:
            self.apply_scan(folder)

    def apply_scan(self, folder: str) -> None:
        """Fill every field the scan found; switch family when only the other family's files are there."""
        found = scan_folder(folder)
        edits = {"checkpoint": self.checkpoint, "upsampler": self.upsampler, "text_encoder": self.text_encoder,
                 **self.split}
        for field, edit in edits.items():
            if value := getattr(found, field):
                edit.setText(value)
        main = {"2.3": found.checkpoint, "2.5": found.transformer}
        if found.family is not None and not main[self.current_family()]:
            self.family.setCurrentIndex(self.family.findData(found.family))
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
        """Inspect each path of the chosen family (headers only) and say what is present, what is missing and
        what it is for, under one line naming the family and its components."""
        family = self.current_family()
        self.single_box.setVisible(family == "2.3")
        self.split_box.setVisible(family == "2.5")
        if family == "2.5":
            statuses = check_split({field: edit.text().strip() for field, edit in self.split.items()})
        else:
            statuses = check_all(self.checkpoint.text().strip(), self.upsampler.text().strip(),
                                 self.text_encoder.text().strip())
        demo = self.demo.isChecked()
        present, missing = present_and_missing(statuses)
        lines = [f"<p><b>Family: LTX-{family}</b>{' (not in use: the demo model is on)' if demo else ''} — "
                 f"present: {', '.join(present) or 'none'}; missing or wrong: {', '.join(missing) or 'none'}</p>"]
        for s in statuses:
            if not s.path and demo:  # nothing set while the demo runs: not an error, just what it is for
                lines.append(f"<p><b>○ {s.label}</b>: not set (the demo model is in use); {s.purpose}</p>")
                continue
            mark = "✔" if s.ok else "✘"
            lines.append(f"<p><b>{mark} {s.label}</b>: {s.message}</p>")
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
        split = {field: edit.text().strip() for field, edit in self.split.items()}
        return self._settings.with_changes(
            checkpoint=self.checkpoint.text().strip(), upsampler=self.upsampler.text().strip(),
            text_encoder=self.text_encoder.text().strip(), use_demo_model=self.demo.isChecked(),
            distilled_lora=self.distilled_lora.text().strip(), family=self.current_family(), **split,
            models_dir=self.catalogue.folder.text().strip(), render_backend=self.backend.text().strip() or "local")
