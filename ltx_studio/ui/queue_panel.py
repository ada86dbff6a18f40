"""Queue and history tabs: active jobs with cancel; every past job with filter, play, re-queue, reveal, delete."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QIcon, QPixmap
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ltx_studio.jobs import GenerationJob, JobSpec
from ltx_studio.store import JobRow

ROLE_ID = Qt.ItemDataRole.UserRole
MAX_ICONS = 500  # the history shows at most this many rows (JobStore.history's default limit)


def _row_text(row: JobRow) -> str:
    s = JobSpec.from_dict(row.spec).request
    head = f"#{row.id} {row.kind} · {row.state}"
    body = f"{s.width}×{s.height} · {s.frames}f@{s.fps:g} · seed {s.seed}"
    prompt = s.prompt
    tail = f"\n{row.message}" if row.message and row.state != "done" else ""
    return f"{head}\n{body}\n{prompt[:70]}{'…' if len(prompt) > 70 else ''}{tail}"


class QueuePanel(QTabWidget):
    playRequested = Signal(int)
    requeueRequested = Signal(int)
    renderRequested = Signal(int)
    deleteRequested = Signal(int)
    filterChanged = Signal()
    resumeRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("queuePanel")
        self.addTab(self._queue_tab(), "Queue")
        self.addTab(self._history_tab(), "History")
        self._queue_items: dict[int, QListWidgetItem] = {}
        self._card_notes: dict[int, list[str]] = {}  # per queued job: its plan line, then any notices
        self._card_status: dict[int, str] = {}  # per queued job: its state or progress text
        self._icons: dict[str, QIcon] = {}  # thumbnail path -> decoded icon (see show_history)

    def _queue_tab(self) -> QWidget:
        w = QWidget()
        lay = QVBoxLayout(w)
        self.paused_label = QLabel("Jobs from the last session are waiting.")
        self.resume_button = QPushButton("Resume queue")
        self.resume_button.clicked.connect(self.resumeRequested)
        self.queue = QListWidget()
        self.queue.setObjectName("queueList")
        self.cancel_button = QPushButton("Cancel selected")
        lay.addWidget(self.paused_label)
        lay.addWidget(self.resume_button)
        lay.addWidget(self.queue, 1)
        lay.addWidget(self.cancel_button)
        self.set_paused(False)
        return w

    def _history_tab(self) -> QWidget:
        w = QWidget()
        lay = QVBoxLayout(w)
        filters = QHBoxLayout()
        self.filter_text = QLineEdit(placeholderText="Filter by prompt…")
        self.filter_kind = QComboBox()
        self.filter_kind.addItem("All", None)
        self.filter_kind.addItem("Drafts", "draft")
        self.filter_kind.addItem("Renders", "render")
        filters.addWidget(self.filter_text, 1)
        filters.addWidget(self.filter_kind)
        self.history = QListWidget()
        self.history.setObjectName("historyList")
        self.history.setIconSize(QSize(96, 64))
        self.history.setWordWrap(True)
        buttons = QHBoxLayout()
        self.history_buttons = {}
        for name, sig in (("Play", self.playRequested), ("Render", self.renderRequested),
                          ("Re-queue", self.requeueRequested), ("Reveal", None), ("Delete", self.deleteRequested)):
            b = QPushButton(name)
            b.clicked.connect(lambda _=False, s=sig, n=name: self._act(n, s))
            buttons.addWidget(b)
            self.history_buttons[name] = b
        lay.addLayout(filters)
        lay.addWidget(self.history, 1)
        lay.addLayout(buttons)
        self.filter_text.textChanged.connect(self.filterChanged)
        self.filter_kind.currentIndexChanged.connect(self.filterChanged)
        self.history.itemDoubleClicked.connect(lambda it: self.playRequested.emit(it.data(ROLE_ID)))
        self._rows: dict[int, JobRow] = {}
        return w

    def _act(self, name: str, signal) -> None:
        item = self.history.currentItem()
        if item is None:
            return
        job_id = item.data(ROLE_ID)
        if name == "Reveal":
            row = self._rows.get(job_id)
            if row and row.video:
                from pathlib import Path

                QDesktopServices.openUrl(QUrl.fromLocalFile(str(Path(row.video).parent)))
            return
        signal.emit(job_id)

    # --- queue -----------------------------------------------------------------------------------------
    def set_paused(self, paused: bool) -> None:
        self.paused_label.setVisible(paused)
        self.resume_button.setVisible(paused)

    def add_job(self, job: GenerationJob, plan: str = "") -> None:
        """A card for a queued job: its summary, state or progress, the memory plan it was queued with and
        any notice while it runs (an out-of-memory retry on a smaller plan)."""
        self._card_notes[job.id] = [f"plan: {plan}"] if plan else []
        item = QListWidgetItem()
        item.setData(ROLE_ID, job.id)
        self.queue.addItem(item)
        self._queue_items[job.id] = item
        self._set_item(job, str(job.state))
        job.stateChanged.connect(lambda st, j=job: self._job_state(j, st))
        job.progress.connect(lambda p, j=job: self._set_item(j, p.describe()))
        job.notice.connect(lambda message, j=job: self._notice(j, message))

    def _notice(self, job: GenerationJob, message: str) -> None:
        self._card_notes.setdefault(job.id, []).append(message)
        self._set_item(job, self._card_status.get(job.id, str(job.state)))

    def card_text(self, job_id: int) -> str:
        item = self._queue_items.get(job_id)
        return item.text() if item is not None else ""

    def _set_item(self, job: GenerationJob, text: str) -> None:
        item = self._queue_items.get(job.id)
        if item is not None:
            self._card_status[job.id] = text
            notes = "".join(f"\n{n}" for n in self._card_notes.get(job.id, []))
            item.setText(f"#{job.id} {job.spec.summary()} — {text}{notes}")

    def _job_state(self, job: GenerationJob, state: str) -> None:
        if state in ("queued", "running"):
            self._set_item(job, state)
            return
        item = self._queue_items.pop(job.id, None)
        if item is not None:
            self.queue.takeItem(self.queue.row(item))

    def selected_queue_job(self) -> int | None:
        item = self.queue.currentItem()
        return item.data(ROLE_ID) if item is not None else None

    # --- history ---------------------------------------------------------------------------------------
    def filters(self) -> tuple[str, str | None]:
        return self.filter_text.text().strip(), self.filter_kind.currentData()

    def show_history(self, rows: list[JobRow]) -> None:
        """Refill the list. Thumbnails are decoded once per file, at icon size, and kept: the history is
        refilled after every job and on every filter keystroke, and decoding up to 500 PNGs each time
        would freeze the UI."""
        self.history.clear()
        self._rows = {r.id: r for r in rows}
        if len(self._icons) > 4 * MAX_ICONS:  # deleted jobs' icons: drop them all now and then
            self._icons.clear()
        for r in rows:
            item = QListWidgetItem(_row_text(r))
            item.setData(ROLE_ID, r.id)
            if r.thumbnail:
                item.setIcon(self._icon(r.thumbnail))
            self.history.addItem(item)

    def _icon(self, path: str) -> QIcon:
        icon = self._icons.get(path)
        if icon is None:
            size = self.history.iconSize()
            pix = QPixmap(path)
            if not pix.isNull():
                pix = pix.scaled(size, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation)
            icon = self._icons[path] = QIcon(pix)
        return icon
