"""Preview area: the player slot, live sampling previews and progress of the running job, and the drafts strip.

The player slot takes any widget with a `load(path)` method (the Qt Multimedia player with its timeline
lives in `ltx_studio.player`); until one is installed, `StillPlayer` shows the clip's thumbnail so the
flow works without it.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QStackedLayout,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ltx_studio.jobs import GenerationJob
from ltx_studio.progress import JobProgress, format_seconds, job_stages, stage_name
from ltx_studio.ui.direction_bar import DirectionBar
from ltx_studio.ui.widgets import ElidedLabel, fixed_width_for
from model_runtime.api import ProgressEvent


class StillPlayer(QLabel):
    """Fallback player: shows the clip's thumbnail (its sidecar PNG) and its name."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("No clip yet: write a prompt and press Draft", parent)
        self.setObjectName("player")
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setMinimumSize(480, 270)
        self.setStyleSheet("background:#111; color:#bbb; font-size:15px;")
        self.path: Path | None = None

    def load(self, path: str | Path) -> None:
        self.path = Path(path)
        thumb = self.path.with_suffix(".png")
        pix = QPixmap(str(thumb)) if thumb.is_file() else QPixmap()
        if pix.isNull():
            self.setText(self.path.name)
        else:
            self.setPixmap(pix.scaled(self.size() * 0.95, Qt.AspectRatioMode.KeepAspectRatio,
                                      Qt.TransformationMode.SmoothTransformation))
        self.setToolTip(str(self.path))


class DraftCard(QFrame):
    """One finished draft in the comparison strip: thumbnail, seed and settings, Play and Render."""

    playRequested = Signal(int)
    renderRequested = Signal(int)

    def __init__(self, job_id: int, thumbnail: str, caption: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.job_id = job_id
        self.setObjectName("draftCard")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        img = QLabel()
        img.setPixmap(QPixmap(thumbnail).scaled(160, 72, Qt.AspectRatioMode.KeepAspectRatio,
                                                Qt.TransformationMode.SmoothTransformation))
        img.setAlignment(Qt.AlignmentFlag.AlignCenter)
        text = QLabel(caption)
        text.setWordWrap(True)
        text.setToolTip(caption)
        text.setStyleSheet("font-size:11px;")
        row = QHBoxLayout()
        play = QToolButton(text="Play")
        self.render_button = QPushButton("Render")
        self.render_button.setObjectName("renderDraftButton")
        play.clicked.connect(lambda: self.playRequested.emit(self.job_id))
        self.render_button.clicked.connect(lambda: self.renderRequested.emit(self.job_id))
        row.addWidget(play)
        row.addWidget(self.render_button)
        lay.addWidget(img)
        lay.addWidget(text)
        lay.addLayout(row)
        self.setFixedWidth(180)


class PreviewArea(QFrame):
    playRequested = Signal(int)
    renderRequested = Signal(int)
    cancelRequested = Signal()

    MAX_DRAFT_CARDS = 8

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("previewArea")
        lay = QVBoxLayout(self)
        self.stack_host = QWidget()
        self.stack = QStackedLayout(self.stack_host)
        self.player: QWidget = StillPlayer()
        self.live = QLabel()
        self.live.setObjectName("livePreview")
        self.live.setAlignment(Qt.AlignmentFlag.AlignCenter)
        # a QLabel's minimum is its pixmap's size: each preview is scaled to the area, so without this the
        # window could only grow (the self-test window came out 974 px tall on a 768-px screen)
        self.live.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self.live.setStyleSheet("background:#0b0b0d;")
        self.stack.addWidget(self.player)
        self.stack.addWidget(self.live)
        lay.addWidget(self.stack_host, 1)
        self.direction = DirectionBar()
        lay.addWidget(self.direction)
        lay.addWidget(self._progress_row())
        self.strip = QWidget()
        self.strip_lay = QHBoxLayout(self.strip)
        self.strip_lay.addStretch(1)
        scroll = QScrollArea()
        scroll.setObjectName("draftStrip")
        scroll.setWidget(self.strip)
        scroll.setWidgetResizable(True)
        scroll.setFixedHeight(200)
        scroll.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)  # cards fit its height
        scroll.setVisible(False)  # shown with the first draft card: until then the player has the room
        self.strip_scroll = scroll
        lay.addWidget(scroll)
        self.cards: dict[int, DraftCard] = {}

    def _progress_row(self) -> QWidget:
        """One bar for the whole job (see ltx_studio.progress), the stage in words, elapsed and remaining
        time ticking every second, and Cancel (which answers at once: "Cancelling…")."""
        row = QWidget()
        v = QVBoxLayout(row)
        v.setContentsMargins(0, 0, 0, 0)
        v.setSpacing(2)
        h = QHBoxLayout()
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.bar.setTextVisible(True)
        self.bar.setFormat("%p%")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self._cancel_clicked)
        self.time_label = QLabel("")
        self.time_label.setObjectName("etaLabel")
        fixed_width_for(self.time_label, "00:00 elapsed · about 00:00 left")
        self.time_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        h.addWidget(self.bar, 1)
        h.addWidget(self.time_label)
        h.addWidget(self.cancel_button)
        self.stage_label = ElidedLabel("Idle")
        self.stage_label.setObjectName("stageLabel")
        v.addLayout(h)
        v.addWidget(self.stage_label)
        self._tracker: JobProgress | None = None
        self._job: GenerationJob | None = None
        self._tick = QTimer(self, interval=1000)
        self._tick.timeout.connect(self._show_progress)
        return row

    def _cancel_clicked(self) -> None:
        self.cancel_button.setEnabled(False)
        self.stage_label.setText(f"{self.stage_label.text().split(' — ')[0]} — cancelling…")
        self.cancelRequested.emit()

    def set_player(self, widget: QWidget) -> None:
        """Install the real player (a widget with `load(path)`) in the slot."""
        current = self.stack.currentWidget()
        showing_card = current not in (self.player, self.live)  # a card (the welcome) stays until a clip comes
        self.stack.removeWidget(self.player)
        self.player.deleteLater()
        self.player = widget
        self.stack.insertWidget(0, widget)
        self.stack.setCurrentWidget(current if showing_card else widget)

    def show_card(self, card: QWidget) -> None:
        """Show a card (the first-run welcome) where the picture goes, until a clip or a preview comes."""
        self.stack.addWidget(card)
        self.stack.setCurrentWidget(card)

    def remove_card(self, card: QWidget) -> None:
        if self.stack.currentWidget() is card:
            self.stack.setCurrentWidget(self.player)
        self.stack.removeWidget(card)
        card.deleteLater()

    def show_clip(self, path: str | Path) -> None:
        self.stack.setCurrentWidget(self.player)
        if getattr(self.player, "path", None) != Path(path):  # reloading a playing clip only restarts it
            self.player.load(path)  # type: ignore[attr-defined]

    # --- the running job -------------------------------------------------------------------------------
    def follow(self, job: GenerationJob) -> None:
        r = job.spec.request
        self._job = job
        self._tracker = JobProgress(job_stages(str(r.stage), bool(r.draft_latents)))
        self.cancel_button.setEnabled(True)
        self.stage_label.setText(f"Job {job.id}: {job.spec.summary()} — starting")
        self.bar.setValue(0)
        self._tick.start()
        self._show_progress()
        job.progress.connect(lambda p, j=job: self._on_progress(j, p))
        job.preview.connect(self._on_preview)

    def _on_progress(self, job: GenerationJob, p: ProgressEvent) -> None:
        if job is not self._job or self._tracker is None:
            return
        self._tracker.report(p.stage, p.step, p.total)
        steps = f" {p.step}/{p.total}" if p.total > 1 else ""
        cancelling = " — cancelling…" if job.token.cancelled else ""
        self.stage_label.setText(f"Job {job.id} ({job.spec.kind}): {stage_name(p.stage)}{steps}{cancelling}")
        self._show_progress()

    def _show_progress(self) -> None:
        t = self._tracker
        if t is None:
            return
        self.bar.setValue(int(t.fraction() * 1000))
        self.time_label.setText(f"{format_seconds(t.elapsed_s())} elapsed · about "
                                f"{format_seconds(t.remaining_s())} left")

    def _on_preview(self, img: QImage) -> None:
        size = self.stack_host.size()
        self.live.setPixmap(QPixmap.fromImage(img).scaled(size, Qt.AspectRatioMode.KeepAspectRatio,
                                                          Qt.TransformationMode.FastTransformation))
        self.stack.setCurrentWidget(self.live)

    def job_ended(self, job: GenerationJob) -> None:
        if job is self._job:
            self._tick.stop()
            self._tracker = self._job = None
            self.time_label.setText(f"{format_seconds(job.elapsed())} in all")
        self.cancel_button.setEnabled(False)
        self.bar.setValue(1000 if job.state == "done" else 0)
        text = {"done": "done", "failed": f"failed — {job.message}", "cancelled": f"cancelled — {job.message}"}
        self.stage_label.setText(f"Job {job.id} {text.get(job.state, job.state)} ({job.elapsed():.1f} s)")
        if job.state != "done":
            self.stack.setCurrentWidget(self.player)

    # --- drafts comparison -----------------------------------------------------------------------------
    def add_draft(self, job_id: int, thumbnail: str, caption: str) -> DraftCard:
        card = DraftCard(job_id, thumbnail, caption)
        card.playRequested.connect(self.playRequested)
        card.renderRequested.connect(self.renderRequested)
        self.strip_lay.insertWidget(0, card)
        self.cards[job_id] = card
        self.strip_scroll.setVisible(True)
        while len(self.cards) > self.MAX_DRAFT_CARDS:
            oldest = min(self.cards)
            self.cards.pop(oldest).deleteLater()
        return card
