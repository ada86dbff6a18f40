"""The job queue: accepts jobs at any time, runs them one at a time on the worker thread, persists every step.

Ordering policy (why): the creator waits on drafts, so a queued draft runs before queued renders; every
draft is kept (drafts are variants to compare: three quick clicks make three cards), unless the user
turns on `supersede_drafts`, then a new draft cancels drafts still waiting (never the running one);
renders run in the order they were asked for. Every transition is written to the JobStore first, so a crash leaves
the queue recoverable: waiting jobs come back as waiting (the queue starts paused so a job that crashed
the app is not re-run blindly), a job that was running comes back as interrupted.

Engine warm-up (why): the first use of torch and the runtime's modules imports ~1,700 modules on the worker
thread, and C-extension initialisation holds the GIL for up to ~150 ms at a time, which freezes the UI.
`prepare_engine()` does that once, right after start-up, while the user is still writing a prompt (or at
the first job, if that comes sooner); jobs submitted meanwhile stay queued (cancellable, shown as
"queued") and are handed to the worker when it reports ready, so no job runs while those imports stall
the UI. A factory without `prepare` (a test fake) needs no warm-up.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QImage

from ltx_studio.jobs import GenerationJob, JobOutput, JobSpec, JobState
from ltx_studio.runtime_api import ModelChoice, RuntimeFactory
from ltx_studio.store import JobStore
from ltx_studio.threads import WorkerThread
from ltx_studio.worker import Worker
from model_runtime.api import ProgressEvent

log = logging.getLogger(__name__)


class JobQueue(QObject):
    jobAdded = Signal(object)        # GenerationJob
    jobEnded = Signal(object)        # GenerationJob, in a final state
    pausedChanged = Signal(bool)
    modelStatus = Signal(str)
    engineReady = Signal()
    durationPredicted = Signal(int, object)  # request id, api.DurationPrediction (see predict_duration)
    durationFailed = Signal(int, str)
    _run = Signal(int, object, object)
    _predict = Signal(int, str, float, float, float)
    _setModel = Signal(object)
    _prepare = Signal()

    def __init__(self, store: JobStore, factory: RuntimeFactory, choice: ModelChoice, cache_dir: Path,
                 outputs: Path, parent: QObject | None = None, threads: int | None = None) -> None:
        super().__init__(parent)
        self.store = store
        self.jobs: dict[int, GenerationJob] = {}
        self.pending: list[GenerationJob] = []
        self.current: GenerationJob | None = None
        self.paused = False
        self.preparing = False
        self.closed = False  # after shutdown: reports still queued from the worker are dropped
        self.supersede_drafts = False  # an explicit option (Queue tab), off by default: drafts are variants
        self.worker = Worker(factory, choice, cache_dir, outputs, threads)
        self._host = WorkerThread(self.worker, "generation-worker")
        self.engine_ready = not self.worker.can_prepare
        self._run.connect(self.worker.run)
        self._setModel.connect(self.worker.set_model)
        self._prepare.connect(self.worker.prepare)
        self._predict.connect(self.worker.predict_duration)
        self._duration_request = 0
        w = self.worker
        w.jobStarted.connect(self._on_started)
        w.jobProgress.connect(self._on_progress)
        w.jobPreview.connect(self._on_preview)
        w.jobFinished.connect(self._on_finished)
        w.jobFailed.connect(self._on_failed)
        w.jobCancelled.connect(self._on_cancelled)
        w.jobNotice.connect(self._on_notice)
        w.modelStatus.connect(self.modelStatus)
        w.engineReady.connect(self._on_engine_ready)
        w.durationPredicted.connect(self.durationPredicted)
        w.durationFailed.connect(self.durationFailed)
        self._host.start()

    # --- public API ------------------------------------------------------------------------------------
    def restore(self) -> int:
        """Reload jobs left waiting by a previous run (after `store.recover`); the queue starts paused."""
        rows = self.store.pending()
        for row in rows:
            self._enqueue(GenerationJob(row.id, JobSpec.from_dict(row.spec), self.store, self))
        if rows:
            self.set_paused(True)
        return len(rows)

    def submit(self, spec: JobSpec) -> GenerationJob:
        """Queue a job (persisted first); with `supersede_drafts` a draft cancels waiting drafts. A paused
        queue stays paused."""
        if spec.kind == "draft" and self.supersede_drafts:
            for old in [j for j in self.pending if j.spec.kind == "draft"]:
                self._drop_pending(old, "superseded by a newer draft")
        job_id = self.store.add(str(spec.kind), spec.to_dict(), spec.parent_id)
        job = GenerationJob(job_id, spec, self.store, self)
        self._enqueue(job)
        self._dispatch()
        return job

    def cancel(self, job: GenerationJob, reason: str = "cancelled by the user") -> None:
        if job in self.pending:
            self._drop_pending(job, reason)
        elif job is self.current:
            job.cancel(reason)  # the worker stops at its next step and reports cancelled

    def set_paused(self, paused: bool) -> None:
        if paused != self.paused:
            self.paused = paused
            self.pausedChanged.emit(paused)
        if not paused:
            self._dispatch()

    def set_model(self, choice: ModelChoice) -> None:
        self._setModel.emit(choice)

    def prepare_engine(self) -> bool:
        """Warm the engine on the worker thread (see the module doc); False when the factory needs none."""
        if self.preparing or self.engine_ready:
            return False
        self.preparing = True
        self._prepare.emit()
        return True

    def predict_duration(self, prompt: str, fps: float, min_seconds: float, max_seconds: float) -> int:
        """Ask the worker for LTX-2.5's predicted clip length of `prompt` (answered by durationPredicted /
        durationFailed with the returned id); a newer request supersedes the ones still waiting."""
        self._duration_request += 1
        self.worker.latest_duration_request = self._duration_request
        self._predict.emit(self._duration_request, prompt, fps, min_seconds, max_seconds)
        return self._duration_request

    @property
    def busy(self) -> bool:
        return self.current is not None

    def shutdown(self) -> None:
        """Stop by request: cancel the running job (it stops at its next step), stop the warm-up (between
        import groups), end the worker thread and wait for it. Waiting jobs stay queued in the store; the
        running one is recorded as interrupted by `store.recover` at the next start, like after a crash."""
        self.closed = True
        if self._host.is_running():
            self._host.stop(self._request_stop)

    def _request_stop(self) -> None:
        self.worker.request_stop()
        if self.current is not None:
            self.current.cancel("the app is closing")

    # --- internals -------------------------------------------------------------------------------------
    def _enqueue(self, job: GenerationJob) -> None:
        self.jobs[job.id] = job
        if job.spec.kind == "draft":  # drafts go ahead of waiting renders, after earlier drafts
            idx = next((i for i, j in enumerate(self.pending) if j.spec.kind != "draft"), len(self.pending))
        else:
            idx = len(self.pending)
        self.pending.insert(idx, job)
        self.jobAdded.emit(job)

    def _drop_pending(self, job: GenerationJob, reason: str) -> None:
        self.pending.remove(job)
        job.transition(JobState.CANCELLED, reason)
        self.jobEnded.emit(job)

    def _dispatch(self) -> None:
        if self.closed or self.current is not None or self.paused or not self.pending:
            return
        if not self.engine_ready:
            self.prepare_engine()  # no-op while it runs: _on_engine_ready dispatches
            return
        job = self.pending.pop(0)
        self.current = job
        job.transition(JobState.RUNNING)
        self._run.emit(job.id, job.spec, job.token)

    def _job(self, job_id: int) -> GenerationJob | None:
        job = self.jobs.get(job_id)
        return job if job is not None and job is self.current and not self.closed else None

    def _on_engine_ready(self) -> None:
        if self.closed:
            return
        self.preparing, self.engine_ready = False, True
        self.engineReady.emit()
        self._dispatch()

    def _on_started(self, job_id: int) -> None:
        log.info("job %d started", job_id)

    def _on_progress(self, job_id: int, p: ProgressEvent) -> None:
        if job := self._job(job_id):
            job.report_progress(p)

    def _on_notice(self, job_id: int, message: str) -> None:
        if job := self._job(job_id):
            job.notice.emit(message)

    def _on_preview(self, job_id: int, img: QImage) -> None:
        if job := self._job(job_id):
            job.preview.emit(img)

    def _end(self, job: GenerationJob) -> None:
        self.current = None
        self.jobEnded.emit(job)
        self._dispatch()

    def _on_finished(self, job_id: int, out: JobOutput) -> None:
        if job := self._job(job_id):
            job.transition(JobState.DONE, output=out)
            self._end(job)

    def _on_failed(self, job_id: int, message: str) -> None:
        if job := self._job(job_id):
            job.transition(JobState.FAILED, message)
            self._end(job)

    def _on_cancelled(self, job_id: int, reason: str) -> None:
        if job := self._job(job_id):
            job.transition(JobState.CANCELLED, reason)
            self._end(job)
