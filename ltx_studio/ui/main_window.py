"""The main window: prompt + format on the left, player/previews/drafts in the middle, queue/history on the right.

It wires the panels to the job queue and the history store; it holds no generation logic of its own.

Start-up is progressive (why: the window must appear about as fast as a bare Qt window). The constructor
builds only the frame: the four regions (objectNames promptPanel / presetsPanel / previewArea / queuePanel,
as placeholders of the final layout), the menus and the status bar. Its first paint starts the build:
presets, job store, queue, left panels, right panels, one step per event-loop turn (each ~5-15 ms, so
input and paints interleave with it), each panel swapped in where its placeholder was. Anything that
needs the contents earlier (a test reading `window.prompt_panel` right after construction, a menu action)
runs the remaining steps synchronously: `ensure_built()` is idempotent. After the build come the player,
RAM probe and token counter (PLAYER_DELAY_MS later), then the engine warm-up on the worker thread (torch
and the runtime's modules, so that no job imports them while the UI waits on the GIL).
"""

from __future__ import annotations

import logging
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import (
    QApplication,
    QGroupBox,
    QLabel,
    QMainWindow,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ltx_studio import __version__

if TYPE_CHECKING:
    from ltx_studio.context import AppContext
    from ltx_studio.jobs import GenerationJob, JobSpec
    from ltx_studio.runtime_api import ModelChoice, RuntimeFactory
    from model_runtime.api import MachineInfo

log = logging.getLogger(__name__)
#: the placeholders' minimum widths (left, centre, right), about the built panels' own minimums, which
#: together fit a 1366-px screen (tests/app/test_screenshots.py checks the built window)
MIN_COLUMNS = (330, 560, 300)
DEFAULT_COLUMNS = (380, 720, 320)
PLAYER_DELAY_MS = 250  # the player (Qt Multimedia init, audio device probe, numpy) is built after first paint
# attributes that exist only once the contents are built: reading one before builds them (see __getattr__)
_CONTENTS = frozenset({"presets", "store", "queue", "prompt_panel", "presets_panel", "preview", "queue_panel",
                       "_prompt_timer", "auto_duration"})

__all__ = ["MainWindow", "model_choice"]


def model_choice(ctx: AppContext) -> ModelChoice:
    from ltx_studio.runtime_api import ModelChoice
    from ltx_studio.settings import SPLIT_FIELDS

    s = ctx.settings
    if s.family == "2.5":
        split = tuple((name, getattr(s, field)) for field, name in SPLIT_FIELDS.items() if getattr(s, field))
        return ModelChoice(s.use_demo_model or not s.transformer, family="2.5", split=split)
    demo = s.use_demo_model or not s.checkpoint
    return ModelChoice(demo, s.checkpoint, s.upsampler, s.text_encoder, s.distilled_lora)


class MainWindow(QMainWindow):
    def __init__(self, ctx: AppContext, runtime_factory: RuntimeFactory | None = None) -> None:
        super().__init__()
        self.ctx = ctx
        self._factory = runtime_factory
        self._shut = False
        self._player_installed = False
        self._settled = False  # True once _after_first_paint ran: deferred start-up checks may run directly
        self.welcome = None  # the first-run card while it is shown (ltx_studio.ui.welcome)
        self.setWindowTitle(f"LTX Studio {__version__}")
        from ltx_studio.ui.theme import app_icon, apply_theme, follow_system
        from ltx_studio.ui.ui_state import UiState

        self.ui_state = UiState(ctx.paths.config)
        apply_theme(QApplication.instance(), self.ui_state.theme())
        follow_system(QApplication.instance(), self.ui_state.theme)
        self.setWindowIcon(app_icon())
        self._build_frame()
        self._restore_geometry()

    def _restore_geometry(self) -> None:
        """The last geometry and splitter sizes, else a size that fits the screen (at most 1400×860)."""
        geometry = self.ui_state.geometry()
        if geometry is None or not self.restoreGeometry(geometry):
            screen = QApplication.primaryScreen()
            avail = screen.availableGeometry() if screen is not None else None
            w, h = (1400, 860) if avail is None else (min(1400, avail.width()), min(860, avail.height()))
            self.resize(w, h)
        splitter = self.ui_state.splitter()
        if splitter is not None:
            self._split.restoreState(splitter)

    # --- progressive construction ----------------------------------------------------------------------
    def _build_frame(self) -> None:
        """The final layout with light placeholders in the four regions (cheap: plain Qt widgets only;
        the `Qt` namespace alone costs ~12 ms to materialise, so the frame does not touch it)."""
        left = QWidget()
        self._left_lay = QVBoxLayout(left)
        prompt, fmt = QGroupBox("Prompt"), QGroupBox("Format")
        fmt.setMinimumHeight(260)  # about the Format panel's height: the swap does not shift the layout
        self._left_lay.addWidget(prompt, 1)
        self._left_lay.addWidget(fmt)
        preview = QLabel("Starting…")
        preview.setStyleSheet("background:#111; color:#bbb; font-size:15px; qproperty-alignment:AlignCenter;")
        queue = QTabWidget()
        queue.addTab(QWidget(), "Queue")
        queue.addTab(QWidget(), "History")
        self._slots = {"promptPanel": prompt, "presetsPanel": fmt, "previewArea": preview, "queuePanel": queue}
        for name, w in self._slots.items():
            w.setObjectName(name)
        self._split = QSplitter()  # horizontal
        self._split.setChildrenCollapsible(False)  # a dragged splitter never hides a whole column
        for w, least in zip((left, preview, queue), MIN_COLUMNS, strict=True):
            self._split.addWidget(w)
            w.setMinimumWidth(least)
        self._split.setStretchFactor(1, 1)  # the player takes the spare width
        self._split.setSizes(list(DEFAULT_COLUMNS))
        central = QWidget()
        column = QVBoxLayout(central)
        column.setContentsMargins(0, 0, 0, 0)
        self.banner = QLabel()
        self.banner.setObjectName("startupBanner")
        self.banner.setWordWrap(True)
        self.banner.setStyleSheet("background:#5a4a00; color:#fff; padding:6px;")
        self.banner.hide()
        column.addWidget(self.banner)
        column.addWidget(self._split, 1)
        self.setCentralWidget(central)
        from ltx_studio.ui.widgets import ElidedLabel

        self.model_label = ElidedLabel(min_chars=20)
        self.model_label.setMaximumWidth(320)
        self.statusBar().addPermanentWidget(self.model_label)
        self.statusBar().showMessage("Starting…")
        file_menu = self.menuBar().addMenu("&File")
        self.export_action = file_menu.addAction("&Export current clip…")  # its Ctrl+E comes with the build
        self.requeue_file_action = file_menu.addAction("&Queue again from a clip file…")
        self.requeue_file_action.triggered.connect(self._pick_clip_to_requeue)
        file_menu.addSeparator()
        self.quit_action = file_menu.addAction("&Quit")
        self.quit_action.setMenuRole(self.quit_action.MenuRole.QuitRole)
        self.quit_action.triggered.connect(self.close)
        settings_menu = self.menuBar().addMenu("&Settings")
        self.models_action = settings_menu.addAction("&Models…")
        self.models_action.triggered.connect(self.open_models_page)
        self.loras_action = settings_menu.addAction("&LoRA library…")
        self.loras_action.triggered.connect(self.open_lora_library)
        theme_menu = settings_menu.addMenu("&Theme")
        self.theme_actions = {}
        for scheme, label in (("dark", "&Dark"), ("light", "&Light"), ("system", "Follow the &system")):
            action = theme_menu.addAction(label)
            action.setCheckable(True)
            action.setChecked(scheme == self.ui_state.theme())
            action.triggered.connect(lambda _=False, sc=scheme: self.set_theme(sc))
            self.theme_actions[scheme] = action
        help_menu = self.menuBar().addMenu("&Help")
        self.welcome_action = help_menu.addAction("&Getting started")
        self.welcome_action.triggered.connect(lambda: self.show_welcome(force=True))
        self.about_action = help_menu.addAction("&About LTX Studio")
        self.about_action.triggered.connect(self._about)
        self.export_action.triggered.connect(self.open_export)
        self._steps = [self._build_presets, self._build_store, self._build_queue, self._build_left,
                       self._build_right]
        self._in_step = False
        self._build_scheduled = False

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().paintEvent(event)
        if self._steps and not self._build_scheduled:
            self._build_scheduled = True  # the frame is on screen: build the contents from the next loop turn
            QTimer.singleShot(0, self._build_next)

    def __getattr__(self, name: str):
        """Contents read before the deferred build (tests, early signals) build them now, synchronously."""
        d = self.__dict__
        if name in _CONTENTS and d.get("_steps") and not d.get("_in_step") and not d.get("_shut"):
            self.ensure_built()
            return getattr(self, name)
        raise AttributeError(f"{type(self).__name__!s} has no attribute {name!r}")

    @property
    def is_built(self) -> bool:
        return not self._steps

    def ensure_built(self) -> None:
        """Run what is left of the deferred build now (idempotent)."""
        while self._steps and not self._shut and not self._in_step:
            self._run_step()

    def _build_next(self) -> None:
        """One build step per event-loop turn (~5-15 ms each), so input and paints interleave with it."""
        if self._steps and not self._shut and not self._in_step:
            self._run_step()
            if self._steps:
                QTimer.singleShot(0, self._build_next)

    def _run_step(self) -> None:
        step = self._steps.pop(0)
        self._in_step = True
        try:
            step()
        except Exception as exc:  # noqa: BLE001 - a failed step must not leave the window on "Starting…"
            self._steps.clear()  # later steps need this one's result
            log.exception("start-up step %s failed", step.__name__)
            from ltx_studio.crash_report import one_line

            self.show_notice(f"Start-up failed: {one_line(exc)}. The details are in the log: "
                             f"{self.ctx.paths.log_file}")
            self.statusBar().showMessage("Start-up failed (see the banner)")
            reporter = self.ctx.extras.get("crash_reporter")
            if reporter is not None:
                reporter.report(exc, where="starting up")
        finally:
            self._in_step = False

    def show_notice(self, text: str) -> None:
        """Add a sentence to the banner above the panels (start-up repairs, start-up failures)."""
        lines = [t for t in self.banner.text().split("\n") if t]
        self.banner.setText("\n".join([*lines, text]))
        self.banner.show()

    def _build_presets(self) -> None:
        from ltx_studio.formats import load_presets

        self.presets = load_presets()

    def _build_store(self) -> None:
        from ltx_studio.jobs import JobSpec
        from ltx_studio.store import JobStore, check_field_types

        self.store, notices = JobStore.open_or_heal(self.ctx.paths.database,
                                                    lambda d: check_field_types(JobSpec.from_dict(d)))
        self.store.recover(self.ctx.paths.outputs)
        for text in [*self.ctx.notices, *notices]:
            self.show_notice(text)

    def _build_queue(self) -> None:
        from ltx_studio.job_queue import JobQueue
        from ltx_studio.runtime_api import open_runtime

        ctx = self.ctx
        self.queue = JobQueue(self.store, self._factory or open_runtime, model_choice(ctx), ctx.paths.cache,
                              ctx.paths.outputs, self)
        self.cluster_workers: list[str] = []  # the Settings page shows them
        self.queue.workersChanged.connect(self._on_workers)
        self.queue.backendProblem.connect(self.show_notice)
        self._apply_backend()

    def _on_workers(self, lines: list[str]) -> None:
        self.cluster_workers = list(lines)

    def _apply_backend(self) -> None:
        """The render backend from Settings; a value that is not one (a hand-edited file) falls back to local
        with a notice."""
        from model_runtime.api import InvalidRequestError

        try:
            self.queue.set_backend(self.ctx.settings.render_backend)
        except InvalidRequestError as exc:
            self.show_notice(f"Settings: {exc}; rendering on this machine")
            self.queue.set_backend("local")

    def _build_left(self) -> None:
        from ltx_studio.ui.presets_panel import PresetsPanel
        from ltx_studio.ui.prompt_panel import PromptPanel

        self.prompt_panel = PromptPanel(self.presets)
        self.presets_panel = PresetsPanel(self.presets)
        self._swap(self._left_lay.replaceWidget, "promptPanel", self.prompt_panel)
        self._left_lay.setStretchFactor(self.prompt_panel, 1)
        self._swap(self._left_lay.replaceWidget, "presetsPanel", self.presets_panel)
        # the placeholder minimum goes: the built panels' own minimums hold (an explicit smaller one would
        # let the splitter squeeze them below their text, e.g. "Cance")
        self._left_lay.parentWidget().setMinimumWidth(0)

    def _build_right(self) -> None:
        from ltx_studio.ui.preview_area import PreviewArea
        from ltx_studio.ui.queue_panel import QueuePanel

        self.preview = PreviewArea()
        self.preview.direction.track.paste_dir = self.ctx.paths.cache / "keyframes"  # pasted images live here
        self.queue_panel = QueuePanel()
        sizes = self._split.sizes()
        self._swap(lambda _old, new: self._split.replaceWidget(1, new), "previewArea", self.preview)
        self._swap(lambda _old, new: self._split.replaceWidget(2, new), "queuePanel", self.queue_panel)
        self._split.setSizes(sizes)
        self._prompt_timer = QTimer(self, singleShot=True, interval=400)
        from ltx_studio.ui.auto_duration import AutoDuration

        self.auto_duration = AutoDuration(self.queue, self.presets_panel, self.prompt_panel.prompt.toPlainText, self)
        self.export_action.setShortcut("Ctrl+E")  # not in the frame: the first key sequence costs ~13 ms
        self.quit_action.setShortcut("Ctrl+Q")
        last = self.ui_state.format()
        if last is not None and self.presets_panel.aspect.findData(last.aspect) >= 0 \
                and self.presets_panel.tier.findData(last.tier) >= 0:
            self.presets_panel.set_choice(last)  # the aspect (and the rest) as the user left it
        self.queue.supersede_drafts = self.queue_panel.supersede_box.isChecked()
        self._connect()
        self._apply_model_choice()
        restored = self.queue.restore()
        self.refresh_history()
        for row in reversed(self.store.history(kind="draft", states=("done",), limit=PreviewArea.MAX_DRAFT_CARDS)):
            self._add_draft_card(row.id)
        self.statusBar().showMessage(f"{restored} job(s) from the last session are waiting: Resume queue"
                                     if restored else "Ready")
        self.show_welcome()
        QTimer.singleShot(PLAYER_DELAY_MS, self._after_first_paint)

    def _swap(self, replace, name: str, widget: QWidget) -> None:
        """Put a built panel where its placeholder was; the placeholder goes (and gives up its name)."""
        old = self._slots.pop(name)
        replace(old, widget)
        old.hide()
        old.setObjectName("")
        old.deleteLater()

    def _install_player(self) -> None:
        """Use the Qt Multimedia player when it is installed (ltx_studio.player), else the still fallback."""
        if self._player_installed:
            return
        self._player_installed = True
        try:
            from ltx_studio.player import PlayerWidget  # type: ignore[import-not-found]
        except ImportError:
            return
        player = PlayerWidget()
        player.retakeRequested.connect(self.retake)
        player.extendRequested.connect(self.extend)
        self.preview.set_player(player)

    def _connect(self) -> None:
        p, q, qp = self.prompt_panel, self.queue, self.queue_panel
        p.loraLibraryRequested.connect(self.open_lora_library)
        p.draftRequested.connect(self.draft)
        p.variantsRequested.connect(self.draft_variants)
        p.renderRequested.connect(self.render_prompt)
        p.promptChanged.connect(lambda _t: self._prompt_timer.start())
        self._prompt_timer.timeout.connect(lambda: self.presets_panel.apply_prompt(p.prompt.toPlainText()))
        p.promptChanged.connect(lambda _t: self.auto_duration.prompt_changed())
        self._prompt_timer.timeout.connect(self.auto_duration.refresh)
        self.presets_panel.formatChanged.connect(self._refresh_decoder_costs)
        q.jobAdded.connect(self._on_job_added)
        q.jobEnded.connect(self._on_job_ended)
        q.pausedChanged.connect(qp.set_paused)
        q.modelStatus.connect(self._on_model_status)
        self.preview.cancelRequested.connect(lambda: q.current and q.cancel(q.current))
        self.preview.playRequested.connect(self.play)
        self.preview.renderRequested.connect(self.render_draft)
        qp.cancel_button.clicked.connect(self._cancel_selected)
        qp.resumeRequested.connect(lambda: q.set_paused(False))
        qp.playRequested.connect(self.play)
        qp.renderRequested.connect(self.render_draft)
        qp.requeueRequested.connect(self.requeue)
        qp.deleteRequested.connect(self.delete)
        qp.filterChanged.connect(self.refresh_history)
        self.presets_panel.formatChanged.connect(self._sync_direction)
        self.preview.direction.changed.connect(self._sync_direction)
        self.preview.direction.message.connect(self.statusBar().showMessage)
        self._sync_direction()
        qp.supersede_box.setChecked(self.ui_state.supersede_drafts())
        qp.supersede_box.toggled.connect(self._set_supersede)
        self.presets_panel.formatChanged.connect(self.ui_state.save_format)

    def _on_model_status(self, message: str) -> None:
        self.statusBar().showMessage(f"Model: {message}")
        if message.endswith(("loaded", "ready")):  # the demo's tokenizer exists once the demo model was built
            self._use_tokenizer(model_choice(self.ctx))
            self.presets_panel.set_planner(self._planner(model_choice(self.ctx)))  # the files are there now

    def _use_tokenizer(self, choice: ModelChoice) -> None:
        folder = (self.ctx.paths.cache / "demo-model" / "text_encoder" if choice.demo
                  else dict(choice.split).get("text_encoder") if choice.family == "2.5" else choice.text_encoder)
        self.prompt_panel.counter.use_folder(folder)
        self.prompt_panel.refresh_count()

    def _apply_model_choice(self) -> None:
        from ltx_studio.runtime_api import model_facts

        choice = model_choice(self.ctx)
        self.model_label.setText("Model: demo (random weights)" if choice.demo else f"Model: {choice.describe()}")
        self.queue.set_model(choice)
        self.model_facts = facts = model_facts(choice, self.ctx.paths.cache)  # headers only
        self.presets_panel.set_auto_available(facts.auto_duration)
        self.prompt_panel.set_decoder_choice(facts.decoder_choice)
        self.auto_duration.reset()
        self._refresh_decoder_costs()
        if self._settled:  # at start-up this waits for the first paint (_after_first_paint)
            self._check_machine_and_tokenizer(choice)

    def _check_machine_and_tokenizer(self, choice: ModelChoice) -> None:
        """The fit check's RAM reading and the exact token counter (a real Gemma tokenizer.json is
        ~30 MB to parse): neither is needed to show the window, so start-up defers them."""
        # totals, not free memory: the advice must not flicker with load
        self.presets_panel.set_machine(self.machine.capacity(), choice.demo)
        self.presets_panel.set_planner(self._planner(choice))
        self._use_tokenizer(choice)

    @cached_property
    def machine(self) -> MachineInfo:
        """This machine, read once by the runtime's detection without torch (`nvidia-smi` answers for NVIDIA
        cards): the welcome card and the fit advice describe the same hardware, and the GUI thread asks
        the driver once, not on every model change."""
        import model_runtime.api as api

        return api.detect_machine()

    def _planner(self, choice: ModelChoice):
        """The memory plan of a job of a given format for these files on this machine, as one line (headers
        and the planner's arithmetic only: no torch on the GUI thread, so the machine is read from RAM;
        the worker plans the job itself for the device it really runs on)."""
        import model_runtime.api as api

        paths, machine = self._plan_inputs(choice)

        def plan(fmt) -> str:
            return api.plan_line(paths, fmt.width, fmt.height, fmt.frames, fmt.fps, fmt.stage, machine)

        return plan

    def _plan_inputs(self, choice: ModelChoice):
        """(model paths, machine) the GUI thread plans with: the files' headers and this machine's RAM."""
        import model_runtime.api as api
        from ltx_studio.runtime_api import model_paths

        return model_paths(choice, self.ctx.paths.cache), api.plan_machine("cpu")

    def _refresh_decoder_costs(self, *_) -> None:
        """The Sharp / Fast decode times for the current draft and render formats, in the Advanced choice's
        labels: the planner's estimates from the file headers (no torch), like the plan line."""
        if self._shut or not self.prompt_panel.decoder_offered:
            return
        import model_runtime.api as api

        paths, machine = self._plan_inputs(model_choice(self.ctx))
        costs = []
        try:
            for fmt in (self.presets_panel.draft_format(), self.presets_panel.render_format()):
                secs = api.decoder_seconds(paths, fmt.width, fmt.height, fmt.frames, fmt.fps, fmt.stage, machine)
                costs.append({d: _short_time(s) for d, s in secs.items()})
        except Exception as exc:  # noqa: BLE001 - a file that went away: no estimate, the job will say why
            log.info("decoder time estimate unavailable: %s", exc)
            costs = [{}, {}]
        self.prompt_panel.set_decoder_costs(*costs)

    def _after_first_paint(self) -> None:
        if self._shut:
            return
        self._settled = True
        self._install_player()
        self._check_machine_and_tokenizer(model_choice(self.ctx))
        self.queue.prepare_engine()  # the worker imports torch + the runtime now, while the user writes

    # --- actions ---------------------------------------------------------------------------------------
    def _spec(self, kind: str, fmt, seed: int) -> JobSpec | None:
        from ltx_studio.jobs import JobSpec

        prompt = self.prompt_panel.prompt.toPlainText().strip()
        if not prompt:
            self.statusBar().showMessage("Write a prompt first: describe the shot, the motion and the sound")
            return None
        from model_runtime.api import RequestSpec

        c = fmt.choice
        ok, conditioning = self._conditioning(fmt.frames, fmt.fps)
        if not ok:
            return None
        request = RequestSpec(prompt=prompt, seed=seed, width=fmt.width, height=fmt.height, frames=fmt.frames,
                              fps=fmt.fps, stage=kind,
                              negative_prompt=self.prompt_panel.negative.toPlainText().strip() or None,
                              conditioning=conditioning, loras=self.prompt_panel.loras.specs(),
                              **self.prompt_panel.advanced_values())
        return JobSpec(request, aspect=c.aspect, tier=c.tier, seconds=c.seconds)

    # --- direction (conditioning of the next job) -------------------------------------------------------
    def _direction(self):
        from ltx_studio.direction import Direction

        bar = self.preview.direction
        return Direction(bar.track.keyframes(), bar.soundtrack, bar.fit())

    def _conditioning(self, frames: int, fps: float) -> tuple[bool, dict | None]:
        """(ok, conditioning settings) of the direction bar for a job of `frames` at `fps`; a combination the
        runtime refuses is shown in the status bar and no job is made (ok False)."""
        from ltx_studio.direction import conditioning_for
        from model_runtime.api import conditioning_problems

        c = conditioning_for(self._direction(), frames, fps)
        problems = conditioning_problems(c, frames, fps) if c is not None else []
        if problems:
            self.statusBar().showMessage(f"Not queued: {problems[0]}")
            return False, None
        return True, (c.as_settings() if c is not None else None)

    def _sync_direction(self, *_) -> None:
        """The track spans the chosen format; the prompt panel says what the next job carries."""
        from ltx_studio.direction import conditioning_for, summary

        fmt = self.presets_panel.draft_format()
        self.preview.direction.set_length(fmt.frames / fmt.fps)
        self.prompt_panel.set_conditioning_summary(summary(conditioning_for(self._direction(), fmt.frames,
                                                                            fmt.fps), fmt.fps))

    def _clip_job(self, clip: str, conditioning, frames: int | None = None) -> GenerationJob | None:
        """A retake or an extension of `clip`: its format, the prompt panel's prompt (else the clip's own)."""
        from ltx_studio.jobs import JobSpec
        from model_runtime.api import MediaError, RequestSpec, conditioning_problems, probe, read_request

        try:
            info = probe(clip)
        except MediaError as exc:
            self.statusBar().showMessage(str(exc))
            return None
        fps = float(info.fps)
        frames = frames or info.frames
        problems = conditioning_problems(conditioning, info.frames, fps)
        if conditioning.extend is not None and not info.has_audio:
            problems.append(f"{Path(clip).name} has no sound: extending continues a clip's sound too")
        if problems:
            self.statusBar().showMessage(f"Not queued: {problems[0]}")
            return None
        prompt = self.prompt_panel.prompt.toPlainText().strip()
        if not prompt:
            try:
                prompt = read_request(clip).prompt
            except MediaError:
                self.statusBar().showMessage("Write a prompt first: describe what the new part shows")
                return None
        request = RequestSpec(prompt=prompt, seed=self.prompt_panel.next_seed(), width=info.width,
                              height=info.height, frames=frames, fps=fps, stage="draft",
                              conditioning=conditioning.as_settings())
        return self._submit(JobSpec(request, aspect=f"{info.width}:{info.height}", tier="Draft",
                                    seconds=frames / fps))

    def retake(self, clip: str, start: float, end: float) -> GenerationJob | None:
        """Regenerate [start, end) of `clip`, keeping the rest ("Retake this part")."""
        from model_runtime.api import Conditioning, Retake, TimeSpan

        return self._clip_job(clip, Conditioning(retake=Retake(Path(clip), TimeSpan(start, end))))

    def extend(self, clip: str, seconds: float) -> GenerationJob | None:
        """Continue `clip` by `seconds` from its last frames ("Extend by N s")."""
        from model_runtime.api import Conditioning, Extend, extend_plan, probe

        info = probe(clip)
        plan = extend_plan(info.frames, float(info.fps), seconds)
        return self._clip_job(clip, Conditioning(extend=Extend(Path(clip), seconds)), plan.total)

    def restore_direction(self, job_id: int) -> None:
        """Put a job's keyframes, soundtrack and fit back on the direction bar (history)."""
        from ltx_studio.direction import direction_from
        from ltx_studio.jobs import JobSpec

        r = JobSpec.from_dict(self.store.get(job_id).spec).request
        c = r.conditioning_items()
        if c is None or (not c.images and c.audio is None):
            return
        d = direction_from(c, r.fps)
        self.preview.direction.restore(d.keys, d.soundtrack, d.fit)

    def _wait_for_duration(self, retry) -> bool:
        """Auto duration on and the prompt's length not known yet: `retry` runs once it is (True)."""
        if not self.auto_duration.defer(retry):
            return False
        self.statusBar().showMessage("Auto duration: predicting the clip length; the job is queued once it is known")
        return True

    def draft(self) -> GenerationJob | None:
        if self._wait_for_duration(self.draft):
            return None
        spec = self._spec("draft", self.presets_panel.draft_format(), self.prompt_panel.next_seed())
        return self._submit(spec) if spec else None

    def draft_variants(self, n: int) -> list[GenerationJob]:
        """Draft `n` seeds of the same prompt in one go (the locked seed and the next ones, else random);
        their cards sit side by side in the strip."""
        from ltx_studio.jobs import MAX_SEED, random_seed

        if self._wait_for_duration(lambda: self.draft_variants(n)):
            return []
        fmt = self.presets_panel.draft_format()
        first = self.prompt_panel.next_seed()
        locked = self.prompt_panel.seed_lock.isChecked()
        seeds = [(first + i) % (MAX_SEED + 1) if locked else (first if i == 0 else random_seed()) for i in range(n)]
        jobs = []
        for seed in seeds:
            spec = self._spec("draft", fmt, seed)
            if spec is None:
                break
            jobs.append(self._submit(spec))
        if jobs:
            self.statusBar().showMessage(f"{len(jobs)} variants queued: seeds {', '.join(map(str, seeds))}")
        return jobs

    def render_prompt(self) -> GenerationJob | None:
        if self._wait_for_duration(self.render_prompt):
            return None
        spec = self._spec("render", self.presets_panel.render_format(), self.prompt_panel.seed.value())
        return self._submit(spec) if spec else None

    def render_draft(self, draft_id: int) -> GenerationJob | None:
        """Promote a finished draft: same prompt, seed, clip length; its stage-1 latents when the sizes fit.
        The video decoder is the Advanced choice for renders (by default LTX-2.5's Sharp one), not the
        draft's (a draft decodes Fast)."""
        from ltx_studio.formats import FormatChoice, can_promote, render_target
        from ltx_studio.jobs import JobSpec

        row = self.store.get(draft_id)
        if row.kind != "draft" or row.state != "done":
            self.statusBar().showMessage(f"Job {draft_id} is not a finished draft")
            return None
        d = JobSpec.from_dict(row.spec)
        r = d.request
        target = render_target(FormatChoice(d.aspect, self.presets_panel.choice().tier, r.fps, d.seconds))
        promote = bool(row.latents) and can_promote((r.width, r.height), (target.width, target.height))
        request = r.with_changes(stage="render", width=target.width, height=target.height,
                                 draft_latents=row.latents if promote else None,
                                 decoder=self.prompt_panel.decoder_value())
        spec = JobSpec(request, aspect=d.aspect, tier=target.choice.tier, seconds=d.seconds, parent_id=draft_id)
        if not promote:
            self.statusBar().showMessage(f"{target.choice.tier} is not twice the draft's size: a full two-stage "
                                         "render with the same prompt and seed")
        return self._submit(spec)

    def requeue(self, job_id: int) -> GenerationJob:
        from ltx_studio.jobs import JobSpec

        spec = JobSpec.from_dict(self.store.get(job_id).spec)
        self.prompt_panel.loras.set_specs(spec.request.loras)  # its LoRAs come back for the next job too
        return self._submit(spec)

    def requeue_file(self, path: str | Path) -> GenerationJob | None:
        """Queue again the request a clip was made from (by this app or by `ltx-studio-cli generate`)."""
        from ltx_studio.jobs import JobSpec
        from model_runtime.api import MediaError, read_request

        try:
            request = read_request(path)
        except MediaError as exc:
            self.statusBar().showMessage(str(exc))
            return None
        self.prompt_panel.loras.set_specs(request.loras)
        return self._submit(JobSpec.from_request(request))

    def _pick_clip_to_requeue(self) -> None:
        from PySide6.QtWidgets import QFileDialog

        path, _ = QFileDialog.getOpenFileName(self, "Queue again from a clip", str(self.ctx.paths.outputs),
                                              "Video (*.mp4)")
        if path:
            self.requeue_file(path)

    def _submit(self, spec: JobSpec) -> GenerationJob:
        job = self.queue.submit(spec)
        self.queue.set_paused(False)  # a user action resumes a queue paused after a restart
        return job

    def play(self, job_id: int) -> None:
        row = self.store.get(job_id)
        self.restore_direction(job_id)
        if row.video and Path(row.video).is_file():
            self._put_welcome_away()
            self._install_player()
            self.preview.show_clip(row.video)
        else:
            self.statusBar().showMessage(f"Job {job_id} has no video ({row.state})")

    def delete(self, job_id: int) -> None:
        if self.store.get(job_id).state not in ("queued", "running"):
            self.store.delete(job_id)
            card = self.preview.cards.pop(job_id, None)
            if card is not None:
                card.deleteLater()
            self.refresh_history()

    def _cancel_selected(self) -> None:
        job_id = self.queue_panel.selected_queue_job()
        if job_id is not None and job_id in self.queue.jobs:
            self.queue.cancel(self.queue.jobs[job_id])

    def refresh_history(self) -> None:
        if self._shut:
            return
        text, kind = self.queue_panel.filters()
        self.queue_panel.show_history(self.store.history(text, kind))

    def _set_supersede(self, on: bool) -> None:
        self.queue.supersede_drafts = on
        self.ui_state.set_supersede_drafts(on)

    def set_theme(self, scheme: str) -> None:
        from ltx_studio.ui.theme import apply_theme

        self.ui_state.set_theme(scheme)
        apply_theme(QApplication.instance(), scheme)
        for name, action in self.theme_actions.items():
            action.setChecked(name == scheme)

    def _about(self) -> None:
        from PySide6.QtWidgets import QMessageBox

        QMessageBox.about(self, "About LTX Studio",
                          f"<b>LTX Studio {__version__}</b><p>Local text-to-video with sound, on Lightricks' "
                          "LTX-2 models. Drafts are quick previews; Render promotes one to full quality. "
                          "Help → Getting started explains the demo model and how to get the real one.</p>")

    def show_welcome(self, force: bool = False):
        """The first-run card (ltx_studio.ui.welcome) above the player, until dismissed; Help brings it back."""
        if self.welcome is not None:
            return self.welcome
        if not force and (self.ui_state.welcomed() or not model_choice(self.ctx).demo):
            return None
        from ltx_studio.ui.welcome import WelcomeCard, describe_machine

        card = self.welcome = WelcomeCard(describe_machine(self.machine, self.presets.capacity.real_weights_gb))
        card.getModelRequested.connect(self.open_models_page)
        card.haveFilesRequested.connect(self.open_models_page)
        card.dismissed.connect(self.dismiss_welcome)
        self.preview.show_card(card)  # in the player's place: on a first run there is nothing to play yet
        return card

    def _put_welcome_away(self) -> None:
        """A clip takes the player's place: the card goes (not remembered as dismissed, so it comes back
        next start until the user closes it). Kept in the stack, its height would set the window's."""
        card, self.welcome = self.welcome, None
        if card is not None:
            self.preview.remove_card(card)

    def dismiss_welcome(self) -> None:
        """The user closed the card: not shown again on start (Help → Getting started still shows it)."""
        self.ui_state.set_welcomed(True)
        self._put_welcome_away()

    def open_lora_library(self):
        """The LoRA library: a folder's LoRA files (headers only: no torch on the GUI thread), one click
        to add one to the next job's chips."""
        from PySide6.QtWidgets import QDialog, QVBoxLayout

        from ltx_studio.ui.lora_widgets import LoraLibraryPage
        from model_runtime.api import LoraError, scan_lora_folder

        dialog = QDialog(self)
        dialog.setWindowTitle("LoRA library")
        dialog.resize(760, 420)
        page = LoraLibraryPage(dialog)
        QVBoxLayout(dialog).addWidget(page)
        def scan(folder: str) -> None:
            if not folder:
                return
            if folder != self.ctx.settings.lora_folder:
                self.ctx.save_settings(self.ctx.settings.with_changes(lora_folder=folder))
            try:
                page.set_entries(scan_lora_folder(folder))
            except LoraError as exc:
                page.show_error(str(exc))

        page.folderChosen.connect(scan)
        page.addRequested.connect(self.prompt_panel.loras.add)
        page.folder.setText(self.ctx.settings.lora_folder)
        scan(page.folder.text())
        self.lora_library = page
        dialog.show()
        return dialog

    def open_models_page(self) -> bool:
        """Settings → Models (modal); True when the user saved new model settings."""
        from ltx_studio.ui.models_page import ModelsDialog

        dlg = ModelsDialog(self.ctx.settings, self, self.cluster_workers)
        saved = bool(dlg.exec())
        if saved:
            self.ctx.save_settings(dlg.result_settings())
            self._apply_model_choice()
            self._apply_backend()
        dlg.deleteLater()  # closed for good: its catalogue panel and connections go now, not at exit
        return saved

    def open_export(self):
        """The export dialog (ltx_studio.ui.export_dialog) on the clip in the player, with its trim points."""
        self._install_player()
        player = self.preview.player
        path = getattr(player, "path", None)
        if not path:
            self.statusBar().showMessage("Nothing to export yet: play a clip first")
            return None
        from ltx_studio.ui.export_dialog import ExportDialog

        trim = player.trim_seconds() if hasattr(player, "trim_seconds") else (None, None)
        folder = self.ctx.paths.exports
        folder.mkdir(parents=True, exist_ok=True)
        dlg = ExportDialog(path, *trim, parent=self, folder=folder)
        dlg.open()
        return dlg

    # --- job events ------------------------------------------------------------------------------------
    def _on_job_added(self, job: GenerationJob) -> None:
        from ltx_studio.formats import ResolvedFormat

        r = job.spec.request
        fmt = ResolvedFormat(r.width, r.height, r.frames, r.fps, str(r.stage), self.presets_panel.choice())
        self.queue_panel.add_job(job, plan=self.presets_panel.plan_text(fmt))  # the card keeps its plan
        job.started.connect(lambda j=job: self.preview.follow(j))
        job.notice.connect(self.statusBar().showMessage)  # e.g. an out-of-memory retry on a smaller plan

    def _add_draft_card(self, job_id: int) -> None:
        from ltx_studio.jobs import JobSpec

        row = self.store.get(job_id)
        s = JobSpec.from_dict(row.spec).request
        prompt = s.prompt if len(s.prompt) <= 26 else s.prompt[:25] + "…"  # one line: the card keeps its height
        caption = f"#{row.id} seed {s.seed}\n{s.width}×{s.height} · {s.frames / s.fps:.1f} s\n{prompt}"
        self.preview.add_draft(row.id, row.thumbnail or "", caption)

    def _on_job_ended(self, job: GenerationJob) -> None:
        if self._shut:  # signals still queued while the app closes: the store is gone
            return
        if job.state == "done":
            self._put_welcome_away()
            if job.spec.kind == "draft":
                self._add_draft_card(job.id)
            self._install_player()
            self.preview.show_clip(job.output.video)
            self.statusBar().showMessage(f"Job {job.id} done in {job.elapsed():.1f} s: {job.output.video.name}")
        elif job.state == "failed":
            self.statusBar().showMessage(f"Job {job.id} failed: {job.message}")
            log.error("job %d failed: %s", job.id, job.message)
        else:
            self.statusBar().showMessage(f"Job {job.id} {job.state}: {job.message}")
        if job.started_at is not None:
            self.preview.job_ended(job)
        self.refresh_history()

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt override
        self.ui_state.save_window(self.saveGeometry(), self._split.saveState())
        self.ui_state.sync()
        self.shutdown()
        super().closeEvent(event)

    def shutdown(self) -> None:
        if self._shut:
            return
        self._shut = True
        from ltx_studio.player.analysis import ClipAnalyser
        from ltx_studio.ui.export_dialog import ExportDialog

        for dialog in self.findChildren(ExportDialog):  # an export still running stops and is joined
            dialog.stop()
        for analyser in self.findChildren(ClipAnalyser):  # so does a timeline analysis
            analyser.stop()
        # a window closed before (part of) its contents were built has no queue or store yet
        if "queue" in self.__dict__:
            self.queue.shutdown()
        if "store" in self.__dict__:
            self.store.close()


def _short_time(seconds: float) -> str:
    if seconds < 1:
        return "<1 s"
    return f"~{seconds:.0f} s" if seconds < 90 else f"~{seconds / 60:.0f} min"
