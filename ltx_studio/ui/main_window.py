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
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QGroupBox, QLabel, QMainWindow, QSplitter, QTabWidget, QVBoxLayout, QWidget

from ltx_studio import __version__

if TYPE_CHECKING:
    from ltx_studio.context import AppContext
    from ltx_studio.jobs import GenerationJob, JobSpec
    from ltx_studio.runtime_api import ModelChoice, RuntimeFactory

log = logging.getLogger(__name__)
PLAYER_DELAY_MS = 250  # the player (Qt Multimedia init, audio device probe, numpy) is built after first paint
# attributes that exist only once the contents are built: reading one before builds them (see __getattr__)
_CONTENTS = frozenset({"presets", "store", "queue", "prompt_panel", "presets_panel", "preview", "queue_panel",
                       "_prompt_timer"})

__all__ = ["MainWindow", "model_choice"]


def model_choice(ctx: AppContext) -> ModelChoice:
    from ltx_studio.runtime_api import ModelChoice

    s = ctx.settings
    demo = s.use_demo_model or not s.checkpoint
    return ModelChoice(demo, s.checkpoint, s.upsampler, s.text_encoder)


class MainWindow(QMainWindow):
    def __init__(self, ctx: AppContext, runtime_factory: RuntimeFactory | None = None) -> None:
        super().__init__()
        self.ctx = ctx
        self._factory = runtime_factory
        self._shut = False
        self._player_installed = False
        self._settled = False  # True once _after_first_paint ran: deferred start-up checks may run directly
        self.setWindowTitle(f"LTX Studio {__version__}")
        self.resize(1400, 860)
        self._build_frame()

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
        for w in (left, preview, queue):
            self._split.addWidget(w)
        self._split.setSizes([380, 720, 320])
        self.setCentralWidget(self._split)
        self.model_label = QLabel()
        self.statusBar().addPermanentWidget(self.model_label)
        self.statusBar().showMessage("Starting…")
        file_menu = self.menuBar().addMenu("&File")
        self.export_action = file_menu.addAction("&Export current clip…")  # its Ctrl+E comes with the build
        self.requeue_file_action = file_menu.addAction("&Queue again from a clip file…")
        self.requeue_file_action.triggered.connect(self._pick_clip_to_requeue)
        self.models_action = self.menuBar().addMenu("&Settings").addAction("&Models…")
        self.models_action.triggered.connect(self.open_models_page)
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
        finally:
            self._in_step = False

    def _build_presets(self) -> None:
        from ltx_studio.formats import load_presets

        self.presets = load_presets()

    def _build_store(self) -> None:
        from ltx_studio.store import JobStore

        self.store = JobStore(self.ctx.paths.database)
        self.store.recover(self.ctx.paths.outputs)

    def _build_queue(self) -> None:
        from ltx_studio.job_queue import JobQueue
        from ltx_studio.runtime_api import open_runtime

        ctx = self.ctx
        self.queue = JobQueue(self.store, self._factory or open_runtime, model_choice(ctx), ctx.paths.cache,
                              ctx.paths.outputs, self)

    def _build_left(self) -> None:
        from ltx_studio.ui.presets_panel import PresetsPanel
        from ltx_studio.ui.prompt_panel import PromptPanel

        self.prompt_panel = PromptPanel(self.presets)
        self.presets_panel = PresetsPanel(self.presets)
        self._swap(self._left_lay.replaceWidget, "promptPanel", self.prompt_panel)
        self._left_lay.setStretchFactor(self.prompt_panel, 1)
        self._swap(self._left_lay.replaceWidget, "presetsPanel", self.presets_panel)

    def _build_right(self) -> None:
        from ltx_studio.ui.preview_area import PreviewArea
        from ltx_studio.ui.queue_panel import QueuePanel

        self.preview = PreviewArea()
        self.queue_panel = QueuePanel()
        sizes = self._split.sizes()
        self._swap(lambda _old, new: self._split.replaceWidget(1, new), "previewArea", self.preview)
        self._swap(lambda _old, new: self._split.replaceWidget(2, new), "queuePanel", self.queue_panel)
        self._split.setSizes(sizes)
        self._prompt_timer = QTimer(self, singleShot=True, interval=400)
        self.export_action.setShortcut("Ctrl+E")  # not in the frame: the first key sequence costs ~13 ms
        self._connect()
        self._apply_model_choice()
        restored = self.queue.restore()
        self.refresh_history()
        for row in reversed(self.store.history(kind="draft", states=("done",), limit=PreviewArea.MAX_DRAFT_CARDS)):
            self._add_draft_card(row.id)
        self.statusBar().showMessage(f"{restored} job(s) from the last session are waiting: Resume queue"
                                     if restored else "Ready")
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
        self.preview.set_player(PlayerWidget())

    def _connect(self) -> None:
        p, q, qp = self.prompt_panel, self.queue, self.queue_panel
        p.draftRequested.connect(self.draft)
        p.renderRequested.connect(self.render_prompt)
        p.promptChanged.connect(lambda _t: self._prompt_timer.start())
        self._prompt_timer.timeout.connect(lambda: self.presets_panel.apply_prompt(p.prompt.toPlainText()))
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

    def _on_model_status(self, message: str) -> None:
        self.statusBar().showMessage(f"Model: {message}")
        if message.endswith(("loaded", "ready")):  # the demo's tokenizer exists once the demo model was built
            self._use_tokenizer(model_choice(self.ctx))
            self.presets_panel.set_planner(self._planner(model_choice(self.ctx)))  # the files are there now

    def _use_tokenizer(self, choice: ModelChoice) -> None:
        folder = self.ctx.paths.cache / "demo-model" / "text_encoder" if choice.demo else choice.text_encoder
        self.prompt_panel.counter.use_folder(folder)
        self.prompt_panel.refresh_count()

    def _apply_model_choice(self) -> None:
        choice = model_choice(self.ctx)
        self.model_label.setText("Model: demo (random weights)" if choice.demo else f"Model: {choice.describe()}")
        self.queue.set_model(choice)
        if self._settled:  # at start-up this waits for the first paint (_after_first_paint)
            self._check_machine_and_tokenizer(choice)

    def _check_machine_and_tokenizer(self, choice: ModelChoice) -> None:
        """The fit check's RAM reading and the exact token counter (a real Gemma tokenizer.json is
        ~30 MB to parse): neither is needed to show the window, so start-up defers them."""
        import psutil

        from ltx_studio.formats import Machine
        from model_runtime.api import Device

        ram = psutil.virtual_memory().available / 2**30
        self.presets_panel.set_machine(Machine(Device.CPU, ram, choice.demo))
        self.presets_panel.set_planner(self._planner(choice))
        self._use_tokenizer(choice)

    def _planner(self, choice: ModelChoice):
        """The memory plan of a job of a given format for these files on this machine, as one line (headers
        and the planner's arithmetic only: no torch on the GUI thread, so the machine is read from RAM;
        the worker plans the job itself for the device it really runs on)."""
        from ltx_studio.runtime_api import model_paths
        from model_runtime import api

        paths = model_paths(choice, self.ctx.paths.cache)
        machine = api.plan_machine("cpu")

        def plan(fmt) -> str:
            return api.plan_line(paths, fmt.width, fmt.height, fmt.frames, fmt.fps, fmt.stage, machine)

        return plan

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
        request = RequestSpec(prompt=prompt, seed=seed, width=fmt.width, height=fmt.height, frames=fmt.frames,
                              fps=fmt.fps, stage=kind,
                              negative_prompt=self.prompt_panel.negative.toPlainText().strip() or None,
                              **self.prompt_panel.advanced_values())
        return JobSpec(request, aspect=c.aspect, tier=c.tier, seconds=c.seconds)

    def draft(self) -> GenerationJob | None:
        spec = self._spec("draft", self.presets_panel.draft_format(), self.prompt_panel.next_seed())
        return self._submit(spec) if spec else None

    def render_prompt(self) -> GenerationJob | None:
        spec = self._spec("render", self.presets_panel.render_format(), self.prompt_panel.seed.value())
        return self._submit(spec) if spec else None

    def render_draft(self, draft_id: int) -> GenerationJob | None:
        """Promote a finished draft: same prompt, seed, clip length; its stage-1 latents when the sizes fit."""
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
                                 draft_latents=row.latents if promote else None)
        spec = JobSpec(request, aspect=d.aspect, tier=target.choice.tier, seconds=d.seconds, parent_id=draft_id)
        if not promote:
            self.statusBar().showMessage(f"{target.choice.tier} is not twice the draft's size: a full two-stage "
                                         "render with the same prompt and seed")
        return self._submit(spec)

    def requeue(self, job_id: int) -> GenerationJob:
        from ltx_studio.jobs import JobSpec

        return self._submit(JobSpec.from_dict(self.store.get(job_id).spec))

    def requeue_file(self, path: str | Path) -> GenerationJob | None:
        """Queue again the request a clip was made from (by this app or by `ltx-studio-cli generate`)."""
        from ltx_studio.jobs import JobSpec
        from model_runtime.api import MediaError, read_request

        try:
            request = read_request(path)
        except MediaError as exc:
            self.statusBar().showMessage(str(exc))
            return None
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
        if row.video and Path(row.video).is_file():
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

    def open_models_page(self):
        from ltx_studio.ui.models_page import ModelsDialog

        dlg = ModelsDialog(self.ctx.settings, self)
        if dlg.exec():
            self.ctx.save_settings(dlg.result_settings())
            self._apply_model_choice()
        return dlg

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
        dlg = ExportDialog(path, *trim, parent=self)
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
        caption = f"#{row.id} seed {s.seed}\n{s.width}×{s.height} · {s.frames / s.fps:.1f} s\n{s.prompt[:40]}"
        self.preview.add_draft(row.id, row.thumbnail or "", caption)

    def _on_job_ended(self, job: GenerationJob) -> None:
        if self._shut:  # signals still queued while the app closes: the store is gone
            return
        if job.state == "done":
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
