"""The Ray render backend's side of the app: the same job signals as the local `Worker`, from a cluster.

Why threads and not the worker QThread: several jobs run at once (one per cluster worker), and each one
mostly waits on the network. So each job gets a plain Python thread that drives `api.Cluster.run` and
emits this object's signals; Qt queues them onto the GUI thread (this QObject lives there), exactly as
the local worker's. The GUI thread never waits on the network: connecting, listing workers and every
job run on those threads. A lost or unreachable cluster fails the running job with one sentence and
emits `clusterLost`, so the queue pauses (waiting jobs stay waiting) and the user can switch to local.
"""

from __future__ import annotations

import logging
import threading
import traceback
import uuid
from pathlib import Path

from PySide6.QtCore import Signal

import model_runtime.api as api
from ltx_studio.jobs import JobOutput, JobSpec
from ltx_studio.runtime_api import ModelChoice, describe_error, model_paths
from ltx_studio.worker import EventRouter, JobSignals, save_thumbnail

log = logging.getLogger(__name__)

#: how long closing the app waits for a job thread after cancelling it (a cancel lands within a step; a
#: dead connection makes Ray Client retry for up to its grace period, then the daemon thread is left)
JOIN_TIMEOUT_S = 10.0


class ClusterWorker(JobSignals):
    connected = Signal(int)          # live workers
    clusterLost = Signal(str)        # one sentence: unreachable at start, or lost mid-job
    workersChanged = Signal(object)  # list[str]: one line per worker (GPU, free VRAM, model, current job)

    def __init__(self, address: str, choice: ModelChoice, cache_dir: Path, outputs: Path) -> None:
        super().__init__()
        self.address = address
        self._choice = choice
        self._cache = cache_dir
        self._outputs = outputs
        self._cluster: api.Cluster | None = None
        self._connecting = threading.Lock()
        self._threads: dict[int, threading.Thread] = {}

    @property
    def capacity(self) -> int:
        """Jobs that can run at once: the live workers, 1 until connected (the first job connects)."""
        return self._cluster.capacity if self._cluster is not None else 1

    def set_model(self, choice: ModelChoice) -> None:
        self._choice = choice

    def connect_later(self) -> None:
        """Connect on a thread (`connected` or `clusterLost` tells how it went)."""
        threading.Thread(target=self._connect_quietly, name="cluster-connect", daemon=True).start()

    def _connect_quietly(self) -> None:
        try:
            self._connect()
        except api.RuntimeErrorBase as exc:
            self.clusterLost.emit(str(exc))

    def _connect(self) -> api.Cluster:
        with self._connecting:
            if self._cluster is None:
                self.modelStatus.emit(f"connecting to {self.address}…")
                self._cluster = api.Cluster.connect(self.address)
                self.modelStatus.emit(f"{self._cluster.capacity} cluster worker(s) at {self.address}")
                self.connected.emit(self._cluster.capacity)
                self._refresh_workers()
            return self._cluster

    def refresh_workers(self) -> None:
        threading.Thread(target=self._refresh_workers, name="cluster-workers", daemon=True).start()

    def _refresh_workers(self) -> None:
        if self._cluster is not None:
            self.workersChanged.emit([w.line() for w in self._cluster.workers()])

    def run(self, job_id: int, spec: JobSpec, token: api.CancelToken) -> None:
        """Start one job on its own thread (called on the GUI thread; returns at once)."""
        t = threading.Thread(target=self._run, args=(job_id, spec, token), name=f"cluster-job-{job_id}",
                             daemon=True)
        self._threads[job_id] = t
        t.start()

    def _run(self, job_id: int, spec: JobSpec, token: api.CancelToken) -> None:
        """Exactly one of finished / failed / cancelled, as the local worker."""
        self.jobStarted.emit(job_id)
        try:
            self.jobProgress.emit(job_id, api.ProgressEvent("waiting for a cluster worker", 0, 1, 0.0))
            cluster = self._connect()
            router = EventRouter(self, job_id)
            result = api.drive(cluster.run(self._remote_job(spec), token), router.route)
            token.raise_if_cancelled()
            output = self._write_outputs(job_id, spec, result)
        except api.GenerationCancelled as exc:
            self.jobCancelled.emit(job_id, str(exc) or "cancelled")
        except api.ClusterError as exc:
            self.jobFailed.emit(job_id, f"Render cluster: {exc}")
            if not isinstance(exc, api.VersionSkewError):
                self._cluster = None  # the next job (after the user resumes) connects again
                self.clusterLost.emit(str(exc))
        except BaseException as exc:  # noqa: BLE001 - every failure must reach the UI
            log.error("cluster job %d failed:\n%s", job_id, traceback.format_exc())
            self.jobFailed.emit(job_id, describe_error(exc))
        else:
            self.jobFinished.emit(job_id, output)
            self._refresh_workers()
        finally:
            self._threads.pop(job_id, None)

    def _remote_job(self, spec: JobSpec) -> api.RemoteJob:
        choice = self._choice
        model = (api.WorkerModel(demo=True) if choice.demo
                 else api.WorkerModel(paths=model_paths(choice, self._cache)))
        latents = Path(spec.request.draft_latents).read_bytes() if spec.request.draft_latents else None
        draft = spec.kind == api.Stage.DRAFT
        return api.RemoteJob(uuid.uuid4().hex[:12], spec.request.to_dict(), model, _app_version(),
                             extra={"job": spec.to_dict(), "generator": "ltx-studio"},
                             draft_latents=latents, keep_latents=draft,
                             cpu_threads=api.cpu_threads())  # a CPU worker runs it as the local Worker would

    def _write_outputs(self, job_id: int, spec: JobSpec, result: api.RemoteResult) -> JobOutput:
        """The same files as a local job: MP4 + sidecar, thumbnail, a draft's latents (each atomically)."""
        self._outputs.mkdir(parents=True, exist_ok=True)
        stem = self._outputs / f"{job_id:06d}-{spec.kind}-{spec.request.seed}"
        self.jobProgress.emit(job_id, api.ProgressEvent("saving", 0, 1, 0.0))
        latents = None
        if result.latents is not None:
            latents = api.atomic_write(stem.with_suffix(".latents.safetensors"),
                                       lambda tmp: tmp.write_bytes(result.latents))
        thumb = save_thumbnail([result.middle_frame], stem.with_suffix(".png"))
        video = api.save_result(result, stem.with_suffix(".mp4"))
        settings = {"job": spec.to_dict(), "runtime": dict(result.settings), "worker": result.worker}
        return JobOutput(video, thumb, latents, settings)

    def stop(self, cancel_all) -> None:
        """Cancel the running jobs (`cancel_all`), wait a little for their threads, disconnect."""
        cancel_all()
        for t in list(self._threads.values()):
            t.join(JOIN_TIMEOUT_S)
            if t.is_alive():
                log.warning("%s still waiting on the cluster at exit", t.name)
        if self._cluster is not None:
            self._cluster.close()


def _app_version() -> str:
    from ltx_studio import __version__

    return __version__
