"""Format panel: aspect x tier, fps, duration; shows the exact snapped output and whether it fits the machine.

On an LTX-2.5 model with its duration head the duration can be "Auto": the model predicts the clip length
from the prompt (`ltx_studio.ui.auto_duration` asks the worker); the panel shows it and the formats it
returns use its frame count, so the job makes what was shown.

A prompt that names its format ("vertical", "9:16", "4K", "10 seconds") sets the matching choice; the
change is announced in a banner with an Undo button, and the same words are not applied twice (so an
undo sticks while the user keeps typing).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QWidget,
)

from ltx_studio.formats import (
    FormatChoice,
    Presets,
    ResolvedFormat,
    detect_format,
    fit_advice,
    render_target,
    resolve,
)

if TYPE_CHECKING:
    from model_runtime.api import Machine

Planner = Callable[[ResolvedFormat], str]
AUTO_UNAVAILABLE = ("Auto duration needs an LTX-2.5 model with its duration head file "
                    "(Settings → Models); this model's clips are as long as set here")
AUTO_TIP = "Auto: the model predicts the clip length from the prompt (LTX-2.5 duration head)"


class PresetsPanel(QGroupBox):
    formatChanged = Signal(object)  # FormatChoice
    autoChanged = Signal(bool)  # the "Auto" duration was switched on / off

    def __init__(self, presets: Presets, parent: QWidget | None = None) -> None:
        super().__init__("Format", parent)
        self.setObjectName("presetsPanel")
        self.presets = presets
        self.machine: Machine | None = None  # no fit advice until the machine is read (after the first paint)
        self.demo = True
        self._undo: FormatChoice | None = None
        self._applied_words: dict = {}
        form = QFormLayout(self)
        self.aspect = QComboBox()
        for a in presets.aspects:
            self.aspect.addItem(a.label, a.name)
        self.tier = QComboBox()
        for t in presets.tiers:
            self.tier.addItem(t.name, t.name)
        self.tier.setCurrentIndex(1)  # the render target; drafts always use the draft tier
        self.fps = QComboBox()
        for f in presets.limits.fps:
            self.fps.addItem(f"{f:g} fps", f)
        self.seconds = QDoubleSpinBox(minimum=presets.limits.min_seconds, maximum=presets.limits.max_seconds,
                                      singleStep=1.0, suffix=" s", decimals=1)
        self.seconds.setValue(presets.limits.default_seconds)
        self.auto = QCheckBox("Auto")
        self.auto.setObjectName("autoDuration")
        self.auto_label = QLabel()
        self.auto_label.setObjectName("autoDurationLabel")
        self.auto_label.setWordWrap(True)
        self.auto_label.setVisible(False)
        self._auto_frames: int | None = None
        duration = QHBoxLayout()
        duration.addWidget(self.seconds, 1)
        duration.addWidget(self.auto)
        form.addRow("Aspect", self.aspect)
        form.addRow("Render tier", self.tier)
        form.addRow("Frame rate", self.fps)
        form.addRow("Duration", duration)
        form.addRow(self.auto_label)
        self.set_auto_available(False)
        self.auto.toggled.connect(self._auto_toggled)
        self.exact = QLabel()
        self.exact.setObjectName("exactFormat")
        self.exact.setWordWrap(True)
        self.fit = QLabel()
        self.fit.setObjectName("fitAdvice")
        self.fit.setWordWrap(True)
        self.fit.setStyleSheet("color:#d35400;")
        self.plan = QLabel("Plan: reading the model files…")
        self.plan.setObjectName("planLine")
        self.plan.setWordWrap(True)
        self._planner: Planner | None = None
        form.addRow(self.exact)
        form.addRow(self.plan)
        form.addRow(self.fit)
        form.addRow(self._banner())
        for combo in (self.aspect, self.tier, self.fps):
            combo.currentIndexChanged.connect(self._changed)
        self.seconds.valueChanged.connect(self._changed)
        self._changed()

    def _banner(self) -> QFrame:
        self.banner = QFrame()
        self.banner.setObjectName("formatBanner")
        self.banner.setStyleSheet("#formatBanner{background:#24425e;border-radius:4px;} QLabel{color:#dde;}")
        row = QHBoxLayout(self.banner)
        row.setContentsMargins(6, 2, 6, 2)
        self.banner_text = QLabel()
        self.banner_text.setWordWrap(True)
        self.undo_button = QPushButton("Undo")
        self.undo_button.clicked.connect(self.undo_detection)
        row.addWidget(self.banner_text, 1)
        row.addWidget(self.undo_button)
        self.banner.setVisible(False)
        return self.banner

    # --- the choice ------------------------------------------------------------------------------------
    def choice(self) -> FormatChoice:
        return FormatChoice(self.aspect.currentData(), self.tier.currentData(), float(self.fps.currentData()),
                            float(self.seconds.value()))

    def set_choice(self, c: FormatChoice) -> None:
        widgets = (self.aspect, self.tier, self.fps, self.seconds)
        for w in widgets:
            w.blockSignals(True)
        self.aspect.setCurrentIndex(self.aspect.findData(c.aspect))
        self.tier.setCurrentIndex(self.tier.findData(c.tier))
        self.fps.setCurrentIndex(max(0, self.fps.findData(c.fps)))
        self.seconds.setValue(c.seconds)
        for w in widgets:
            w.blockSignals(False)
        self._changed()

    def draft_format(self) -> ResolvedFormat:
        c = self.choice()
        return self._with_auto(resolve(FormatChoice(c.aspect, self.presets.draft_tier.name, c.fps, c.seconds),
                                       self.presets))

    def render_format(self) -> ResolvedFormat:
        return self._with_auto(render_target(self.choice(), self.presets))

    # --- "Auto" duration (LTX-2.5) ---------------------------------------------------------------------
    def set_auto_available(self, available: bool) -> None:
        """Offer "Auto" (an LTX-2.5 model with its duration head) or show it disabled with the reason."""
        self.auto.setEnabled(available)
        self.auto.setToolTip(AUTO_TIP if available else AUTO_UNAVAILABLE)
        if not available:
            self.auto.setChecked(False)

    def auto_on(self) -> bool:
        return self.auto.isEnabled() and self.auto.isChecked()

    def show_auto(self, text: str, frames: int | None) -> None:
        """What Auto says now, and the predicted frame count the formats use (None: not known yet)."""
        self.auto_label.setText(text)
        if frames != self._auto_frames:
            self._auto_frames = frames
            self._changed()

    def _with_auto(self, fmt: ResolvedFormat) -> ResolvedFormat:
        if not self.auto_on() or self._auto_frames is None:
            return fmt
        frames = self._auto_frames  # already on the 8k+1 grid (the runtime snaps the prediction)
        return replace(fmt, frames=frames, choice=replace(fmt.choice, seconds=frames / fmt.fps))

    def _describe(self, fmt: ResolvedFormat) -> str:
        if self.auto_on() and self._auto_frames is None:  # the length is not known yet: do not show the box's
            return f"{fmt.width}×{fmt.height} · length from the prompt (Auto) @ {fmt.fps:g} fps"
        return fmt.describe()

    def _auto_toggled(self, on: bool) -> None:
        self.seconds.setEnabled(not on)
        self.auto_label.setVisible(on)
        if not on:
            self._auto_frames = None
            self.auto_label.clear()
        self._changed()
        self.autoChanged.emit(on)

    def set_machine(self, machine: Machine, demo: bool) -> None:
        """The machine as built (`MachineInfo.capacity()`) and whether the model is the demo (no advice)."""
        self.machine, self.demo = machine, demo
        self._changed()

    def set_planner(self, planner: Planner | None) -> None:
        """`planner(fmt)` -> the memory plan line of a job of that format on this machine (see
        `plan_text`); shown for the draft and the render, refreshed on every format change."""
        self._planner = planner
        self._changed()

    def plan_text(self, fmt: ResolvedFormat) -> str:
        """The plan line for one format, or why there is none yet (the model files are not there)."""
        if self._planner is None:
            return "reading the model files…"
        try:
            return self._planner(fmt)
        except Exception as exc:  # noqa: BLE001 - a missing/unreadable file: say so, the job will too
            return f"not available yet ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"

    def _changed(self, *_) -> None:
        d, r = self.draft_format(), self.render_format()
        self.exact.setText(f"Draft: {self._describe(d)}\nRender: {self._describe(r)}")
        self.plan.setText(f"Draft plan: {self.plan_text(d)}\nRender plan: {self.plan_text(r)}")
        advice = None if self.machine is None else fit_advice(r, self.machine, self.demo, self.presets)
        self.fit.setText(f"Render may not fit: {advice}" if advice else "")
        self.fit.setVisible(bool(advice))
        self.formatChanged.emit(self.choice())

    # --- prompt words ----------------------------------------------------------------------------------
    def apply_prompt(self, prompt: str) -> bool:
        """Set the format a prompt names; returns True when something changed (announced, undoable)."""
        found = detect_format(prompt, self.presets)
        words = {k: v for k, v in found.items() if not k.endswith("_why")}
        new = {k: v for k, v in words.items() if self._applied_words.get(k) != v}
        self._applied_words = words
        if not new:
            return False
        before = self.choice()
        after = FormatChoice(new.get("aspect", before.aspect), new.get("tier", before.tier),
                             new.get("fps", before.fps), new.get("seconds", before.seconds))
        if after == before:
            return False
        self._undo = before
        self.set_choice(after)
        why = ", ".join(f"{new[k]:g} s" if k == "seconds" else f"{new[k]:g} fps" if k == "fps" else str(new[k])
                        for k in new) + " — from \u201c" + "\u201d, \u201c".join(found[f"{k}_why"] for k in new) + "\u201d"
        self.banner_text.setText(f"Format set from the prompt: {why}")
        self.banner.setVisible(True)
        return True

    def undo_detection(self) -> None:
        if self._undo is not None:
            self.set_choice(self._undo)
            self._undo = None
        self.banner.setVisible(False)
