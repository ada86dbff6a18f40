"""Prompt editor: prompt with a character/token counter, negative prompt, seed (random/locked/copy), Advanced drawer."""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ltx_studio.formats import Presets
from ltx_studio.jobs import MAX_SEED, random_seed
from model_runtime.api import Pipeline

log = logging.getLogger(__name__)

MAX_PROMPT_TOKENS = 1024  # the text encoder pads/truncates to 1024 tokens
MODEL_DEFAULT = "model default"
#: LTX-2.5's video decoders (label, RequestSpec.decoder); "auto" is the runtime's rule: Fast (conv) for
#: drafts, Sharp (diffusion) for renders when it fits the machine (untiled on a CPU plan, tiled on a GPU plan)
DECODERS = (("Default: Fast for drafts, Sharp for renders", "auto"), ("Fast (conv decoder)", "conv"),
            ("Sharp (diffusion decoder, slower)", "diffusion"))
DECODER_TIP = ("LTX-2.5 decodes video with a diffusion decoder (Sharp, slower) or a conv decoder (Fast); the "
               "times are the memory planner's estimates for the current draft and render formats")
VARIANTS = 4  # the "4 variants" button
PACKED_TOKENIZER_KEY = "tokenizer_json"  # LTX-2.5's packed text encoder file stores its tokenizer.json here


class TokenCounter:
    """Exact token counts with the configured Gemma tokenizer (tokenizers library, no torch), else an estimate."""

    def __init__(self) -> None:
        self._tok = None
        self._path: Path | None = None

    def use_folder(self, folder: str | Path | None) -> None:
        """Parse the tokenizer (GUI thread: a real one is ~30 MB), once per source: a Gemma-3 folder's
        tokenizer.json, or LTX-2.5's packed Gemma-4 file, which carries it as the uint8 tensor
        `tokenizer_json` (read with safetensors' numpy backend: no torch on the GUI thread)."""
        source = Path(folder) if folder else None
        path = source if source is not None and source.suffix == ".safetensors" else (
            source / "tokenizer.json" if source is not None else None)
        if self._tok is not None and path == self._path:
            return
        self._tok, self._path = None, path
        if path is not None and path.is_file():
            try:
                from tokenizers import Tokenizer

                if path.suffix == ".safetensors":
                    from safetensors import safe_open

                    with safe_open(str(path), framework="numpy") as fh:
                        self._tok = Tokenizer.from_buffer(fh.get_tensor(PACKED_TOKENIZER_KEY).tobytes())
                else:
                    self._tok = Tokenizer.from_file(str(path))
            except Exception as exc:  # noqa: BLE001 - a broken tokenizer file only costs the exact count
                log.warning("tokenizer %s unusable for counting: %s", path, exc)

    def count(self, text: str) -> tuple[int, bool]:
        """(tokens, exact)."""
        if self._tok is not None:
            return len(self._tok.encode(text).ids) + 1, True  # + <bos>
        return int(len(text.split()) * 1.35 + 0.5) + 1, False


class PromptPanel(QGroupBox):
    draftRequested = Signal()
    variantsRequested = Signal(int)  # draft this many seeds at once
    renderRequested = Signal()
    promptChanged = Signal(str)
    loraLibraryRequested = Signal()

    def __init__(self, presets: Presets, parent: QWidget | None = None) -> None:
        super().__init__("Prompt", parent)
        self.setObjectName("promptPanel")
        self.presets = presets
        self.counter = TokenCounter()
        lay = QVBoxLayout(self)
        self.prompt = QPlainTextEdit(placeholderText="Describe the shot, the motion and the sound…")
        self.prompt.setObjectName("promptEdit")
        self.count_label = QLabel()
        self.count_label.setObjectName("promptCounter")
        self.count_label.setAlignment(Qt.AlignmentFlag.AlignRight)
        self.negative = QPlainTextEdit(placeholderText="Negative prompt (optional)")
        self.negative.setMaximumHeight(60)
        self.conditioning_label = QLabel()
        self.conditioning_label.setObjectName("conditioningLabel")
        self.conditioning_label.setWordWrap(True)
        self.conditioning_label.setToolTip("What the next job carries besides the prompt (the keyframe track, "
                                           "a soundtrack)")
        self.set_conditioning_summary("Text only (drop images on the keyframe track to direct the clip)")
        self.prompt.document().contentsChanged.connect(self._fit_prompt)
        self._fit_prompt()
        lay.addWidget(self.prompt)
        lay.addWidget(self.count_label)
        lay.addWidget(self.conditioning_label)
        lay.addWidget(self.negative)
        lay.addLayout(self._lora_row())
        lay.addLayout(self._seed_row())
        self.advanced_toggle = QToolButton(text="Advanced ▸", checkable=True)
        self.advanced_toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.advanced = self._advanced_drawer()
        self.advanced.setVisible(False)
        self.advanced_toggle.toggled.connect(self._toggle_advanced)
        lay.addWidget(self.advanced_toggle)
        lay.addWidget(self.advanced)
        buttons = QHBoxLayout()
        self.draft_button = QPushButton("Draft")
        self.draft_button.setObjectName("draftButton")
        self.draft_button.setToolTip("Fast low-resolution draft (Ctrl+Enter)")
        self.draft_button.setShortcut("Ctrl+Return")
        self.variants_button = QPushButton(f"{VARIANTS} variants")
        self.variants_button.setObjectName("variantsButton")
        self.variants_button.setToolTip(f"Draft {VARIANTS} seeds at once; the cards sit side by side to compare")
        self.render_button = QPushButton("Render")
        self.render_button.setToolTip("Full two-stage render at the chosen tier")
        buttons.addWidget(self.draft_button, 2)
        buttons.addWidget(self.variants_button, 1)
        buttons.addWidget(self.render_button, 1)
        lay.addStretch(1)  # the prompt box is sized to its content; spare height stays below the buttons
        lay.addLayout(buttons)
        self.draft_button.clicked.connect(self.draftRequested)
        self.variants_button.clicked.connect(lambda: self.variantsRequested.emit(VARIANTS))
        self.render_button.clicked.connect(self.renderRequested)
        self.prompt.textChanged.connect(self._on_text)
        self._on_text()

    def set_conditioning_summary(self, text: str) -> None:
        self.conditioning_label.setText(f"Direction: {text}")

    def _fit_prompt(self) -> None:
        """Grow the prompt box with its text, from 4 to 14 lines (then it scrolls)."""
        doc = self.prompt.document()
        lines = 0
        block = doc.begin()
        while block.isValid():
            layout = block.layout()
            lines += max(1, layout.lineCount() if layout is not None else 1)
            block = block.next()
        lh = self.prompt.fontMetrics().lineSpacing()
        frame = 2 * self.prompt.frameWidth() + int(doc.documentMargin() * 2) + 4
        self.prompt.setFixedHeight(min(max(lines, 4), 14) * lh + frame)

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt's name: wrapping changes with the width
        super().resizeEvent(event)
        self._fit_prompt()

    def _lora_row(self) -> QVBoxLayout:
        """The job's LoRAs as chips with strength sliders, and the way to the library to add one."""
        from ltx_studio.ui.lora_widgets import LoraChips

        col = QVBoxLayout()
        head = QHBoxLayout()
        head.addWidget(QLabel("LoRAs"))
        head.addStretch(1)
        library = QToolButton(text="Library…")
        library.setObjectName("loraLibraryButton")
        library.setToolTip("Add a style, character or camera LoRA from your LoRA folder")
        library.clicked.connect(self.loraLibraryRequested)
        head.addWidget(library)
        self.loras = LoraChips()
        self.loras.setObjectName("loraChips")
        col.addLayout(head)
        col.addWidget(self.loras)
        return col

    def _seed_row(self) -> QHBoxLayout:
        row = QHBoxLayout()
        row.addWidget(QLabel("Seed"))
        self.seed = QSpinBox(minimum=0, maximum=MAX_SEED)
        self.seed.setValue(random_seed())
        self.seed_lock = QCheckBox("Lock")
        self.seed_lock.setToolTip("Locked: every job uses this seed. Unlocked: a new random seed per draft.")
        dice = QToolButton(text="Random")
        dice.setToolTip("New random seed")
        dice.clicked.connect(lambda: self.seed.setValue(random_seed()))
        copy = QToolButton(text="Copy")
        copy.clicked.connect(lambda: QGuiApplication.clipboard().setText(str(self.seed.value())))
        for w in (self.seed, self.seed_lock, dice, copy):
            row.addWidget(w)
        return row

    def _advanced_drawer(self) -> QWidget:
        # Each knob starts at "model default" (its minimum, one step below the real range): the app sends
        # only what the user changed, the runtime fills the rest from the loaded model's own defaults
        # (`Runtime.request`), so no copy of them lives here (a copy once dropped the STG blocks).
        box = QWidget()
        form = QFormLayout(box)
        self.pipeline = QComboBox()
        self.pipeline.addItems([str(p) for p in Pipeline])
        self.steps = QSpinBox(minimum=0, maximum=100)
        self.video_cfg = QDoubleSpinBox(minimum=0.5, maximum=20.0, singleStep=0.5)
        self.audio_cfg = QDoubleSpinBox(minimum=0.5, maximum=20.0, singleStep=0.5)
        self.stg = QDoubleSpinBox(minimum=-0.1, maximum=5.0, singleStep=0.1)
        self.modality = QDoubleSpinBox(minimum=0.5, maximum=10.0, singleStep=0.5)
        for knob in self._knobs():
            knob.setSpecialValueText(MODEL_DEFAULT)
        form.addRow("Sampler", self.pipeline)
        form.addRow("Steps", self.steps)
        form.addRow("Video guidance", self.video_cfg)
        form.addRow("Audio guidance", self.audio_cfg)
        form.addRow("STG", self.stg)
        form.addRow("Modality guidance", self.modality)
        self.decoder = QComboBox()
        self.decoder.setObjectName("decoderChoice")
        for label, value in DECODERS:
            self.decoder.addItem(label, value)
        self.decoder.setToolTip(DECODER_TIP)
        form.addRow("Video decoder", self.decoder)
        self._decoder_form = form
        self.set_decoder_choice(False)
        self.pipeline.currentTextChanged.connect(self.apply_defaults)
        self.apply_defaults(self.pipeline.currentText())
        return box

    def set_decoder_choice(self, offered: bool) -> None:
        """Offer Sharp / Fast only when the model files provide both decoders (LTX-2.5 with both VAEs)."""
        self._decoder_form.setRowVisible(self.decoder, offered)
        if not offered:
            self.decoder.setCurrentIndex(0)

    @property
    def decoder_offered(self) -> bool:
        return self._decoder_form.isRowVisible(self.decoder)

    def set_decoder_costs(self, draft: dict[str, str], render: dict[str, str]) -> None:
        """Each choice with its predicted decode time ("conv" / "diffusion" -> text such as "~40 s") for the
        current draft and render formats; empty dicts: the plain labels (no estimate)."""
        if not draft or not render:
            labels = [label for label, _ in DECODERS]
        else:
            labels = [f"Default: Fast for drafts ({draft['conv']}), Sharp for renders ({render['diffusion']})",
                      f"Fast (conv decoder): draft {draft['conv']}, render {render['conv']}",
                      f"Sharp (diffusion decoder): draft {draft['diffusion']}, render {render['diffusion']}"]
        for i, label in enumerate(labels):
            self.decoder.setItemText(i, label)

    def decoder_value(self) -> str:
        """The RequestSpec.decoder of the next job: the choice, or "auto" when there is none to make."""
        return self.decoder.currentData() if self.decoder_offered else "auto"

    def _knobs(self) -> tuple[QSpinBox | QDoubleSpinBox, ...]:
        return self.steps, self.video_cfg, self.audio_cfg, self.stg, self.modality

    def apply_defaults(self, pipeline: str) -> None:
        """Every knob back to "model default"; the distilled model has a fixed schedule, so its knobs are disabled."""
        for w in self._knobs():
            w.setValue(w.minimum())
            w.setEnabled(pipeline == Pipeline.DEV)

    def _toggle_advanced(self, on: bool) -> None:
        self.advanced.setVisible(on)
        self.advanced_toggle.setText("Advanced ▾" if on else "Advanced ▸")

    def refresh_count(self) -> None:
        self._on_text()

    def _on_text(self) -> None:
        text = self.prompt.toPlainText()
        n, exact = self.counter.count(text) if text.strip() else (0, True)
        over = n > MAX_PROMPT_TOKENS
        self.count_label.setText(f"{len(text)} chars · {'' if exact else '~'}{n} / {MAX_PROMPT_TOKENS} tokens"
                                 + (" — too long, the end is cut" if over else ""))
        self.count_label.setStyleSheet("color:#c0392b;" if over else "color:#888;")
        self.promptChanged.emit(text)

    def next_seed(self) -> int:
        """The seed for a new draft: the locked one, or a fresh random one (shown, so it can be copied)."""
        if not self.seed_lock.isChecked():
            self.seed.setValue(random_seed())
        return self.seed.value()

    def advanced_values(self) -> dict:
        """The pipeline, the video decoder and the user's overrides only (a knob left at "model default" is
        not sent)."""
        pipeline = Pipeline(self.pipeline.currentText())
        base = {"pipeline": pipeline, "decoder": self.decoder_value()}
        if pipeline != Pipeline.DEV:
            return base
        names = ("steps", "video_cfg", "audio_cfg", "stg", "modality")
        return base | {name: knob.value() for name, knob in zip(names, self._knobs(), strict=True)
                                         if knob.value() != knob.minimum()}
