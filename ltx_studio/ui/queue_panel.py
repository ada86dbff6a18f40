"""Queue and history tabs: active jobs with cancel; every past job with filter, play, re-queue, reveal, delete."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, QUrl, Signal
from PySide6.QtGui import QColor, QDesktopServices, QIcon, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QStackedLayout,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ltx_studio.jobs import GenerationJob, JobSpec
from ltx_studio.store import JobRow
from ltx_studio.ui.theme import current_colours
from ltx_studio.ui.widgets import empty_state

ROLE_ID = Qt.ItemDataRole.UserRole
HISTORY_TIPS = {"Play": "Play the selected clip (double-click a row)", "Render": "Render the selected draft",
                "Re-queue": "Queue the same job again", "Reveal": "Show the clip's file in its folder",
                "Delete": "Delete the job and its files"}
FAILED_STATES = ("failed", "interrupted")
FAILED_MARK = "⚠ "
QUEUE_EMPTY = ("Nothing is waiting.\nDrafts and renders you start appear here while they wait and run; "
               "you can keep writing and queue more.")
HISTORY_EMPTY = ("No clips yet.\nEvery finished, failed or cancelled job is kept here: play it, render a "
                 "draft, queue it again or reveal the file.")
MAX_ICONS = 500  # the history shows at most this many rows (JobStore.history's default limit)


def _row_text(row: JobRow) -> str:
    s = JobSpec.from_dict(row.spec).request
    head = f"#{row.id} {row.kind} · {row.state}"
    body = f"{s.width}×{s.height} · {s.frames}f@{s.fps:g} · seed {s.seed}"
    prompt = s.prompt
    tail = f"\n{row.message}" if row.message and row.state != "done" else ""
    mark = FAILED_MARK if row.state in FAILED_STATES else ""
    loras = "".join(f"\nLoRA {x.path.name} @ {x.strength:g}" for x in s.loras)
    return f"{mark}{head}\n{body}\n{prompt[:70]}{'…' if len(prompt) > 70 else ''}{loras}{tail}"


def _provenance(row: JobRow) -> str:
    """The LoRAs a finished job actually used: file, strength and sha256 (from what the runtime returned)."""
    applied = ((row.settings or {}).get("runtime") or {}).get("loras") or []
    return "\n".join(f"{a['name']} @ {a['strength']:g} · sha256 {a['sha256']}" for a in applied)


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
        self._stacks: list[tuple[QStackedLayout, QListWidget, QLabel]] = []
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
        self.queue.setToolTip("Select a waiting or running job to cancel it")
        self.queue_empty = empty_state(QUEUE_EMPTY)
        self.cancel_button = QPushButton("Cancel selected")
        self.supersede_box = QCheckBox("A new draft replaces waiting drafts")
        self.supersede_box.setToolTip("Off (default): every Draft click makes its own card to compare. On: only "
                                      "the newest waiting draft runs; older waiting ones are cancelled.")
        lay.addWidget(self.paused_label)
        lay.addWidget(self.resume_button)
        lay.addLayout(self._with_empty_state(self.queue, self.queue_empty), 1)
        lay.addWidget(self.cancel_button)
        lay.addWidget(self.supersede_box)
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
        self.history_empty = empty_state(HISTORY_EMPTY)
        buttons = QGridLayout()  # two rows: the five actions fit a narrow right panel
        self.history_buttons = {}
        for i, (name, sig) in enumerate( (("Play", self.playRequested), ("Render", self.renderRequested),
                          ("Re-queue", self.requeueRequested), ("Reveal", None), ("Delete", self.deleteRequested))):
            b = QPushButton(name)
            b.setToolTip(HISTORY_TIPS[name])
            b.clicked.connect(lambda _=False, s=sig, n=name: self._act(n, s))
            buttons.addWidget(b, i // 3, i % 3)
            self.history_buttons[name] = b
        lay.addLayout(filters)
        lay.addLayout(self._with_empty_state(self.history, self.history_empty), 1)
        lay.addLayout(buttons)
        self.filter_text.textChanged.connect(self.filterChanged)
        self.filter_kind.currentIndexChanged.connect(self.filterChanged)
        self.history.itemDoubleClicked.connect(lambda it: self.playRequested.emit(it.data(ROLE_ID)))
        self._rows: dict[int, JobRow] = {}
        return w

    def _with_empty_state(self, view: QListWidget, empty: QLabel) -> QStackedLayout:
        """The list, or its explanation while it has no rows (`_update_empty` after every change)."""
        stack = QStackedLayout()
        stack.addWidget(empty)
        stack.addWidget(view)
        self._stacks.append((stack, view, empty))
        stack.setCurrentWidget(empty)
        return stack

    def _update_empty(self) -> None:
        for stack, view, empty in self._stacks:
            stack.setCurrentWidget(view if view.count() else empty)

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
        item.setToolTip(job.spec.request.prompt)
        self.queue.addItem(item)
        self._queue_items[job.id] = item
        self._set_item(job, str(job.state))
        self._update_empty()
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
        self._update_empty()

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
        error = QColor(current_colours().error)
        for r in rows:
            item = QListWidgetItem(_row_text(r))
            item.setData(ROLE_ID, r.id)
            if provenance := _provenance(r):
                item.setToolTip(provenance)
            # every row has an icon of the same size (a blank one without a thumbnail), so texts line up
            item.setIcon(self._icon(r.thumbnail) if r.thumbnail else self._blank_icon())
            if r.state in FAILED_STATES:
                item.setForeground(error)
            self.history.addItem(item)
        self._update_empty()

    def _blank_icon(self) -> QIcon:
        icon = self._icons.get("")
        if icon is None:
            pix = QPixmap(self.history.iconSize())
            pix.fill(Qt.GlobalColor.transparent)
            icon = self._icons[""] = QIcon(pix)
        return icon

    def _icon(self, path: str) -> QIcon:
        icon = self._icons.get(path)
        if icon is None:
            size = self.history.iconSize()
            pix = QPixmap(path)
            if not pix.isNull():
                pix = pix.scaled(size, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation)
            icon = self._icons[path] = QIcon(pix)
        return icon
