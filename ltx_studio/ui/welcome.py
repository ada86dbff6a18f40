"""The first-run welcome card: what the demo model is, what the real model needs here, how to get it.

Why: on a first start the app runs a tiny model with random weights, so every clip is noise. Before,
the only sign of that was a status-bar label that sat off screen; nothing said how to get real
weights. The card sits above the player until the user dismisses it (remembered in the UI state), and
comes back from Help → Getting started.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from ltx_studio.model_setup import PURPOSE

if TYPE_CHECKING:
    from model_runtime.api import MachineInfo


@dataclass(frozen=True)
class MachineSummary:
    """What the card says about this machine: the device it would run on and its memory."""

    device: str         # "CUDA (NVIDIA …)", "CPU"
    memory_gb: float    # accelerator memory, or RAM on CPU
    weights_gb: float   # what the real model's weights take (presets' capacity: fp8, text encoder offloaded)

    def advice(self) -> str:
        need = f"its weights take about {self.weights_gb:.0f} GB"
        if self.device.upper().startswith("CPU"):
            return (f"This machine has no supported GPU: the real model would run on the CPU ({self.memory_gb:.0f} GB "
                    f"of RAM; {need}), very slowly. A CUDA GPU is what it is made for.")
        enough = "room for it" if self.memory_gb > self.weights_gb else "less than that: expect heavy offloading"
        return f"This machine has {self.device} with {self.memory_gb:.0f} GB; {need}, so there is {enough}."


def describe_machine(info: MachineInfo, weights_gb: float) -> MachineSummary:
    """What the card says about the machine the runtime detected (`api.detect_machine`, without torch:
    start-up must stay light): the accelerator and its memory, otherwise the CPU and its RAM."""
    if info.kind == "cpu":
        return MachineSummary("CPU", info.ram_total_gb, weights_gb)
    return MachineSummary(f"{info.kind.upper()} ({info.name})", info.vram_total_gb, weights_gb)


class WelcomeCard(QFrame):
    """Dismissable card; `getModelRequested` opens Settings → Models, `haveFilesRequested` too (to point at them)."""

    getModelRequested = Signal()
    haveFilesRequested = Signal()
    dismissed = Signal()

    def __init__(self, machine: MachineSummary, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("welcomeCard")
        lay = QVBoxLayout(self)
        title = QLabel("<b>Welcome to LTX Studio</b>")
        files = "".join(f"<li>{text}</li>" for text in PURPOSE.values())
        self.body = QLabel(
            "You are using the <b>demo model</b>: a tiny model with random weights, so every clip is "
            "<b>noise</b>. It is there to try the whole workflow (prompt, draft, play, render, export) "
            f"before you download anything.<br>The real model needs:<ul>{files}</ul>{machine.advice()}")
        self.body.setObjectName("welcomeText")
        self.body.setWordWrap(True)
        row = QHBoxLayout()
        self.get_button = QPushButton("Get the model")
        self.get_button.setObjectName("primaryButton")
        self.get_button.setToolTip("Settings → Models: where to download the files and where to put them")
        self.have_button = QPushButton("I have the files")
        self.have_button.setToolTip("Settings → Models: point the app at the files you already have")
        self.close_button = QPushButton("Keep trying the demo")
        row.addWidget(self.get_button)
        row.addWidget(self.have_button)
        row.addStretch(1)
        row.addWidget(self.close_button)
        lay.addWidget(title)
        lay.addWidget(self.body)
        lay.addLayout(row)
        lay.addStretch(1)
        self.get_button.clicked.connect(self.getModelRequested)
        self.have_button.clicked.connect(self.haveFilesRequested)
        self.close_button.clicked.connect(self.dismissed)
