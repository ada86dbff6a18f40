"""The job queue: accepts jobs at any time, runs them on a render backend, persists every step.

Render backends (why a seam): the local backend is the worker thread and its one GPU, one job at a time
(the default); the Ray backend (`ClusterWorker`) runs as many jobs at once as the cluster has workers.
Both report through the same signals, so queue order, history, previews, cancel and the plan line do not
depend on where a job runs. A lost cluster pauses the queue (waiting jobs stay waiting) and says so;
switching back to local (`set_backend("local")`) and resuming runs them here.

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

import model_runtime.api as api
from ltx_studio.cluster_worker import ClusterWorker
from ltx_studio.jobs import GenerationJob, JobOutput, JobSpec, JobState
from ltx_studio.runtime_api import ModelChoice, RuntimeFactory
from ltx_studio.store import JobStore
from ltx_studio.threads import WorkerThread
from ltx_studio.worker import JobSignals, Worker
from model_runtime.api import ProgressEvent

log = logging.getLogger(__name__)


class JobQueue(QObject):
    jobAdded = Signal(object)        # GenerationJob
    jobEnded = Signal(object)        # GenerationJob, in a final state
    pausedChanged = Signal(bool)
    modelStatus = Signal(str)
    backendProblem = Signal(str)     # the cluster is unreachable or was lost: one sentence for the user
    workersChanged = Signal(object)  # list[str]: the cluster's workers, one line each
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
        self.running: dict[int, GenerationJob] = {}  # in start order
        self.paused = False
        self.preparing = False
        self.closed = False  # after shutdown: reports still queued from the worker are dropped
        self.supersede_drafts = False  # an explicit option (Queue tab), off by default: drafts are variants
        self.worker = Worker(factory, choice, cache_dir, outputs, threads)
        self.cluster: ClusterWorker | None = None  # the Ray backend when chosen (set_backend)
        self._cluster_args = (choice, cache_dir, outputs)
        self._retired: list[ClusterWorker] = []  # backends switched away from while their jobs ran
        self._host = WorkerThread(self.worker, "generation-worker")
        self.engine_ready = not self.worker.can_prepare
        self._run.connect(self.worker.run)
        self._setModel.connect(self.worker.set_model)
        self._prepare.connect(self.worker.prepare)
        self._predict.connect(self.worker.predict_duration)
        self._duration_request = 0
        self._connect_reports(self.worker)
        self.worker.engineReady.connect(self._on_engine_ready)
        self.worker.durationPredicted.connect(self.durationPredicted)
        self.worker.durationFailed.connect(self.durationFailed)
        self._host.start()

    def _connect_reports(self, w: JobSignals) -> None:
        w.jobStarted.connect(self._on_started)
        w.jobProgress.connect(self._on_progress)
        w.jobPreview.connect(self._on_preview)
        w.jobFinished.connect(self._on_finished)
        w.jobFailed.connect(self._on_failed)
        w.jobCancelled.connect(self._on_cancelled)
        w.jobNotice.connect(self._on_notice)
        w.modelStatus.connect(self.modelStatus)

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
        elif job.id in self.running:
            job.cancel(reason)  # the worker stops at its next step and reports cancelled

    def set_paused(self, paused: bool) -> None:
        if paused != self.paused:
            self.paused = paused
            self.pausedChanged.emit(paused)
        if not paused:
            self._dispatch()

    def set_model(self, choice: ModelChoice) -> None:
        self._setModel.emit(choice)
        self._cluster_args = (choice, *self._cluster_args[1:])
        if self.cluster is not None:
            self.cluster.set_model(choice)

    def set_backend(self, backend: str) -> None:
        """"local", "auto" or "ray://host:port" (`api.backend_address` has checked it). Jobs already running
        finish where they are; the next ones go to the chosen backend. Choosing a cluster connects on a
        thread right away, so a wrong address is reported before the first job."""
        address = api.backend_address(backend)
        if address == (self.cluster.address if self.cluster is not None else None):
            return
        if self.cluster is not None:  # its running jobs finish there (it stays connected until shutdown)
            self._retired.append(self.cluster)
            self.cluster = None
        if address is not None:
            self.cluster = ClusterWorker(address, *self._cluster_args)
            self._connect_reports(self.cluster)
            self.cluster.clusterLost.connect(self._on_cluster_lost)
            self.cluster.connected.connect(self._on_cluster_connected)
            self.cluster.workersChanged.connect(self.workersChanged)
            self.cluster.connect_later()
        self._dispatch()

    @property
    def current(self) -> GenerationJob | None:
        """The job started last among those running (what the preview shows)."""
        return next(reversed(self.running.values()), None)

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
        return bool(self.running)

    def shutdown(self) -> None:
        """Stop by request: cancel the running job (it stops at its next step), stop the warm-up (between
        import groups), end the worker thread and wait for it. Waiting jobs stay queued in the store; the
        running one is recorded as interrupted by `store.recover` at the next start, like after a crash."""
        self.closed = True
        for cluster in [*self._retired, *([self.cluster] if self.cluster is not None else [])]:
            cluster.stop(self._cancel_running)
        if self._host.is_running():
            self._host.stop(self._request_stop)

    def _cancel_running(self) -> None:
        for job in list(self.running.values()):
            job.cancel("the app is closing")

    def _request_stop(self) -> None:
        self.worker.request_stop()
        self._cancel_running()

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
        """Start waiting jobs while the backend has room: one locally, one per live cluster worker."""
        while not self.closed and not self.paused and self.pending:
            if self.cluster is None:
                if self.running:
                    return
                if not self.engine_ready:
                    self.prepare_engine()  # no-op while it runs: _on_engine_ready dispatches
                    return
            elif len(self.running) >= self.cluster.capacity:
                return
            job = self.pending.pop(0)
            self.running[job.id] = job
            job.transition(JobState.RUNNING)
            if self.cluster is None:
                self._run.emit(job.id, job.spec, job.token)
            else:
                self.cluster.run(job.id, job.spec, job.token)

    def _job(self, job_id: int) -> GenerationJob | None:
        return None if self.closed else self.running.get(job_id)

    def _on_cluster_connected(self, workers: int) -> None:
        log.info("render cluster connected: %d worker(s)", workers)
        self._dispatch()

    def _on_cluster_lost(self, message: str) -> None:
        """Waiting jobs stay waiting: the queue pauses until the user resumes (after switching to local, or
        once the cluster is back)."""
        if self.closed:
            return
        self.set_paused(True)
        self.backendProblem.emit(f"{message}. The queue is paused; switch Settings → Render backend to local "
                                 "(or fix the cluster) and resume.")

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
        self.running.pop(job.id, None)
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
