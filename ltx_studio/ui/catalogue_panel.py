"""The Models page's catalogue: every downloadable item with its purpose, size and state (verified,
adopted, partial, missing), what fits this machine, and download progress with pause/resume/cancel.

Finding existing files (HF cache, ComfyUI, LTX-Desktop, a folder) adopts them in place. A pasted
Hugging Face token goes to the OS keyring. Slow work (planning, scanning, downloading) runs off the
GUI thread and comes back as signals.
"""

from __future__ import annotations

import logging
import threading

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ltx_studio.model_downloads import ModelDownloads
from model_runtime.api import (
    FileProgress,
    FileState,
    ItemRow,
    ModelStore,
    TokenStoreError,
    adopt,
    find_token,
    load_catalogue,
    overview,
    ready_paths,
    scan_everywhere,
    store_token,
)

log = logging.getLogger(__name__)

COLUMNS = ("", "Item", "Purpose", "Size", "State", "Progress")


def progress_text(p: FileProgress) -> str:
    pct = 100.0 * p.done_bytes / p.total_bytes if p.total_bytes else 100.0
    parts = [f"{p.path}: {p.state.value} {pct:.0f}%"]
    if p.state is FileState.DOWNLOADING and p.speed_bps:
        parts.append(f"{p.speed_bps / 1e6:.1f} MB/s")
        if p.eta_s is not None:
            parts.append(f"ETA {p.eta_s / 60:.0f} min" if p.eta_s >= 90 else f"ETA {p.eta_s:.0f} s")
    if p.message and p.state is not FileState.DOWNLOADING:
        parts.append(p.message)
    return " · ".join(parts)


class CataloguePanel(QWidget):
    paths_ready = Signal(dict)  # role -> path of ready items (checkpoint, upscaler, text_encoder)
    _recommended = Signal(object)  # Recommendation, from the planning thread
    _scanned = Signal(list)  # list[Found], from the scanning thread

    def __init__(self, models_dir: str, parent: QWidget | None = None, endpoint: str | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("cataloguePanel")
        self.catalogue = load_catalogue()
        self.recommendation = None
        self._endpoint = endpoint
        self._progress: dict[str, str] = {}
        lay = QVBoxLayout(self)
        self.machine = QLabel("checking what fits this machine…")
        self.machine.setObjectName("machineLabel")
        self.machine.setWordWrap(True)
        lay.addWidget(self.machine)
        row = QHBoxLayout()
        row.addWidget(QLabel("Models folder"))
        self.folder = QLineEdit(models_dir)
        self.folder.editingFinished.connect(self._folder_changed)
        row.addWidget(self.folder, 1)
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._pick_folder)
        row.addWidget(browse)
        lay.addLayout(row)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setObjectName("catalogueTable")
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.verticalHeader().setVisible(False)
        lay.addWidget(self.table, 1)
        buttons = QHBoxLayout()
        self.download_recommended = QPushButton("Download recommended")
        self.download_selected = QPushButton("Download selected")
        self.pause_button = QPushButton("Pause")
        self.resume_button = QPushButton("Resume")
        self.cancel_button = QPushButton("Cancel")
        self.find_button = QPushButton("Find files I already have")
        for b in (self.download_recommended, self.download_selected, self.pause_button, self.resume_button,
                  self.cancel_button, self.find_button):
            buttons.addWidget(b)
        lay.addLayout(buttons)
        tok = QHBoxLayout()
        self.token_status = QLabel()
        self.token = QLineEdit()
        self.token.setPlaceholderText("paste a Hugging Face token (hf_…) for the gated files")
        self.token.setEchoMode(QLineEdit.EchoMode.Password)
        save = QPushButton("Save to OS keyring")
        save.clicked.connect(self._save_token)
        tok.addWidget(self.token_status)
        tok.addWidget(self.token, 1)
        tok.addWidget(save)
        lay.addLayout(tok)
        self.message = QLabel()
        self.message.setObjectName("catalogueMessage")
        self.message.setWordWrap(True)
        lay.addWidget(self.message)
        self.downloads = self._make_downloads()
        self.download_recommended.clicked.connect(self.start_recommended)
        self.download_selected.clicked.connect(self.start_selected)
        self.pause_button.clicked.connect(lambda: self.downloads.pause())
        self.resume_button.clicked.connect(self.resume)
        self.cancel_button.clicked.connect(lambda: self.downloads.cancel())
        self.find_button.clicked.connect(self.find_existing)
        self._recommended.connect(self._on_recommended)
        self._scanned.connect(self._on_scanned)
        self._last_ids: list[str] = []
        self._busy = False
        self._show_token_status()
        self.refresh()
        threading.Thread(target=self._plan, daemon=True, name="recommend").start()

    # --- data -------------------------------------------------------------------------------------
    @property
    def store(self) -> ModelStore:
        return ModelStore(self.folder.text().strip())

    def rows(self) -> list[ItemRow]:
        return overview(self.catalogue, self.store, self.recommendation)

    def _make_downloads(self) -> ModelDownloads:
        d = ModelDownloads(self.catalogue, self.folder.text().strip(), self, endpoint=self._endpoint)
        d.progress.connect(self._on_progress)
        d.item_done.connect(lambda i, p: self._note(f"{i}: downloaded and verified ({p})"))
        d.paused.connect(lambda i: self._note(f"{i}: paused; the bytes so far are kept — Resume continues"))
        d.cancelled.connect(lambda i: self._note(f"{i}: cancelled; the partial file was deleted"))
        d.failed.connect(lambda i, m: self._note(m))
        d.idle.connect(self._on_idle)
        return d

    def _plan(self) -> None:
        from model_runtime.api import detect_machine, recommend

        try:
            self._recommended.emit(recommend(self.catalogue, detect_machine().capacity()))
        except Exception as exc:  # planning must never break the page: say so and carry on
            log.warning("recommendation failed: %s", exc)
            self._recommended.emit(None)

    # --- view -------------------------------------------------------------------------------------
    def refresh(self) -> None:
        rows = self.rows()
        self.table.setRowCount(len(rows))
        for r, row in enumerate(rows):
            cells = ("★" if row.recommended else "", row.item.title, row.item.purpose, row.size_label,
                     row.state + (f" ({row.partial_bytes / 1e9:.2f} GB here)" if row.partial_bytes else "")
                     + (f" — {row.path}" if row.path else ""), self._progress.get(row.item.id, ""))
            for c, text in enumerate(cells):
                cell = QTableWidgetItem(text)
                cell.setData(Qt.ItemDataRole.UserRole, row.item.id)
                cell.setToolTip(text)
                self.table.setItem(r, c, cell)
        self.table.resizeColumnsToContents()
        self._update_buttons()
        ready = ready_paths(rows)
        if ready:
            self.paths_ready.emit(ready)

    def _update_buttons(self) -> None:
        running = self._busy  # set on start, cleared by the run's `idle` signal (its thread may still be ending)
        self.pause_button.setEnabled(running)
        self.cancel_button.setEnabled(running)
        self.resume_button.setEnabled(not running and bool(self._last_ids))
        for b in (self.download_recommended, self.download_selected, self.find_button):
            b.setEnabled(not running)

    def _note(self, text: str) -> None:
        self.message.setText(text)

    def _on_recommended(self, rec) -> None:
        self.recommendation = rec
        if rec is None:
            self.machine.setText("could not work out what fits this machine (see the log)")
        else:
            gb = rec.download_bytes / 1e9
            self.machine.setText(f"This machine: {rec.weights} weights ({rec.plan_summary}). ★ = recommended"
                                 + (f", {gb:.0f} GB known so far" if gb else "")
                                 + "".join(f"<br><i>{n}</i>" for n in rec.notes))
        self.refresh()

    def _on_progress(self, p: FileProgress) -> None:
        self._progress[p.item_id] = progress_text(p)
        for r in range(self.table.rowCount()):
            cell = self.table.item(r, 0)
            if cell and cell.data(Qt.ItemDataRole.UserRole) == p.item_id:
                self.table.setItem(r, len(COLUMNS) - 1, QTableWidgetItem(self._progress[p.item_id]))

    def _on_idle(self) -> None:
        self._busy = False
        self.refresh()

    # --- actions ----------------------------------------------------------------------------------
    def start(self, item_ids: list[str]) -> bool:
        if not item_ids:
            self._note("nothing selected")
            return False
        self._last_ids = list(item_ids)
        ok = self.downloads.start(item_ids)
        self._busy = self._busy or ok
        self._update_buttons()
        return ok

    def start_recommended(self) -> bool:
        if self.recommendation is None:
            self._note("still working out what fits this machine; try again in a moment")
            return False
        return self.start([it.id for it in self.recommendation.items])

    def start_selected(self) -> bool:
        ids = sorted({self.table.item(i.row(), 0).data(Qt.ItemDataRole.UserRole)
                      for i in self.table.selectionModel().selectedRows()})
        return self.start(ids)

    def resume(self) -> bool:
        return self.start(self._last_ids)

    def find_existing(self, extra: list[str] | None = None) -> None:
        folders = list(extra or [])
        if extra is None:
            picked = QFileDialog.getExistingDirectory(self, "Also search this folder (Cancel: known places only)")
            folders = [picked] if picked else []
        self._note("searching the Hugging Face cache, ComfyUI and LTX-Desktop folders…")
        threading.Thread(target=lambda: self._scanned.emit(scan_everywhere(self.catalogue, folders)),
                         daemon=True, name="scan").start()

    def _on_scanned(self, found: list) -> None:
        installed = self.store.load()
        new = [f for f in found if f.item_id not in installed]
        for f in new:
            adopt(f, self.catalogue, self.store)
        self._note(f"found {len(found)} item(s); adopted in place (nothing copied): "
                   + (", ".join(f"{f.item_id} ({f.source})" for f in new) or "none new"))
        self.refresh()

    def _save_token(self) -> None:
        try:
            store_token(self.token.text())
        except TokenStoreError as exc:
            self._note(str(exc))
            return
        self.token.clear()
        self._note("token saved in the OS keyring")
        self._show_token_status()

    def _show_token_status(self) -> None:
        info = find_token()
        self.token_status.setText(f"Hugging Face token: {'yes, from ' + info.source if info.present else 'none'}")

    def _pick_folder(self) -> None:
        picked = QFileDialog.getExistingDirectory(self, "Models folder")
        if picked:
            self.folder.setText(picked)
            self._folder_changed()

    def _folder_changed(self) -> None:
        if self._busy:
            return
        self.downloads = self._make_downloads()
        self.refresh()

    def shutdown(self) -> None:
        """Pause a running download (its bytes stay) and wait for its thread: called when the page closes."""
        if self.downloads.running:
            self.downloads.pause()
            self.downloads.wait(10)
