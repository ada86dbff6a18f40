"""The main window: the final layout's regions (prompt, presets, preview/timeline, queue/history, status)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QFrame,
    QGroupBox,
    QLabel,
    QListWidget,
    QMainWindow,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ltx_studio import __version__
from ltx_studio.context import AppContext


class PromptPanel(QGroupBox):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Prompt", parent)
        self.setObjectName("promptPanel")
        lay = QVBoxLayout(self)
        self.prompt = QPlainTextEdit(placeholderText="Describe the shot, the motion and the sound…")
        self.negative = QPlainTextEdit(placeholderText="Negative prompt (optional)")
        self.negative.setMaximumHeight(70)
        self.draft_button = QPushButton("Draft")
        lay.addWidget(self.prompt, 3)
        lay.addWidget(self.negative, 1)
        lay.addWidget(self.draft_button)


class PresetsPanel(QGroupBox):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Format", parent)
        self.setObjectName("presetsPanel")
        form = QFormLayout(self)
        self.aspect = QComboBox()
        self.aspect.addItems(["16:9", "9:16 (portrait)", "1:1", "4:5", "21:9"])
        self.tier = QComboBox()
        self.tier.addItems(["Draft", "720p", "1080p", "4K"])
        form.addRow("Aspect", self.aspect)
        form.addRow("Quality", self.tier)


class PreviewArea(QFrame):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("previewArea")
        lay = QVBoxLayout(self)
        self.screen = QLabel("No clip yet: write a prompt and press Draft")
        self.screen.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.screen.setMinimumSize(480, 270)
        self.screen.setStyleSheet("background:#111; color:#bbb; font-size:15px;")
        self.timeline = QLabel("Timeline")
        self.timeline.setObjectName("timeline")
        self.timeline.setFixedHeight(80)
        self.timeline.setStyleSheet("background:#1d1f24; color:#888;")
        lay.addWidget(self.screen, 1)
        lay.addWidget(self.timeline)


class QueuePanel(QTabWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("queuePanel")
        self.queue = QListWidget()
        self.history = QListWidget()
        self.addTab(self.queue, "Queue")
        self.addTab(self.history, "History")


class MainWindow(QMainWindow):
    def __init__(self, ctx: AppContext) -> None:
        super().__init__()
        self.ctx = ctx
        self.setWindowTitle(f"LTX Studio {__version__}")
        self.resize(1400, 860)
        left = QWidget()
        left_lay = QVBoxLayout(left)
        self.prompt_panel = PromptPanel()
        self.presets_panel = PresetsPanel()
        left_lay.addWidget(self.prompt_panel, 1)
        left_lay.addWidget(self.presets_panel)
        self.preview = PreviewArea()
        self.queue_panel = QueuePanel()
        split = QSplitter(Qt.Orientation.Horizontal)
        for w in (left, self.preview, self.queue_panel):
            split.addWidget(w)
        split.setSizes([360, 740, 300])
        self.setCentralWidget(split)
        self.model_label = QLabel("Model: demo (random weights)" if ctx.settings.use_demo_model else "Model: LTX-2.3")
        self.statusBar().addPermanentWidget(self.model_label)
        self.statusBar().showMessage("Ready")
