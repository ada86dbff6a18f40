"""The worker: a QObject living in one long-lived QThread that owns the loaded model and runs one job at a time.

It is the only place torch runs. The model is opened lazily by the first job and kept between jobs
(a cancel or a failure leaves it loaded); a changed model choice drops it and the next job reopens.
Results are written under temporary names and renamed into place (MP4 and latents by the runtime's
`write_result` / `write_latents`, the thumbnail by `atomic_write`) before the GUI thread is told the job is done, so the history never points at
a half-written file. Previews are throttled so a fast sampler cannot flood the GUI event loop.
"""

from __future__ import annotations

import logging
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal, Slot
from PySide6.QtGui import QImage

import model_runtime.api as api
from ltx_studio.jobs import JobOutput, JobSpec
from ltx_studio.runtime_api import ModelChoice, RuntimeFactory, describe_error

log = logging.getLogger(__name__)

PREVIEW_MIN_INTERVAL_S = 0.25
PROGRESS_MIN_INTERVAL_S = 0.05


def save_thumbnail(frames: Any, path: Path, max_side: int = 320) -> Path:
    """Middle frame, scaled to `max_side`, saved as PNG atomically. QImage is safe off the GUI thread."""
    import numpy as np

    arr = np.ascontiguousarray(np.asarray(frames[len(frames) // 2], dtype=np.uint8))
    h, w = arr.shape[:2]
    img = QImage(arr.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
    img = img.scaled(max_side, max_side, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation)

    def write(tmp: Path) -> None:
        if not img.save(str(tmp), "PNG"):
            raise OSError(f"cannot write thumbnail {path}")

    return api.atomic_write(path, write)


def preview_image(image: Any) -> QImage:
    """PreviewEvent image uint8 [F', H', W', 3] -> the middle latent frame as a QImage (a deep copy)."""
    import numpy as np

    arr = np.asarray(image.cpu() if hasattr(image, "cpu") else image, dtype=np.uint8)
    frame = np.ascontiguousarray(arr[arr.shape[0] // 2] if arr.ndim == 4 else arr)
    h, w = frame.shape[:2]
    return QImage(frame.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


class JobSignals(QObject):
    """What a render backend reports about its jobs (the local `Worker`, the Ray `ClusterWorker`): the
    queue listens to either the same way."""

    jobStarted = Signal(int)
    jobProgress = Signal(int, object)
    jobPreview = Signal(int, QImage)
    jobFinished = Signal(int, object)
    jobFailed = Signal(int, str)
    jobNotice = Signal(int, str)
    jobCancelled = Signal(int, str)
    modelStatus = Signal(str)


class Worker(JobSignals):
    """Runs jobs on its own thread; reports through signals that Qt queues onto the GUI thread."""

    engineReady = Signal()
    durationPredicted = Signal(int, object)  # request id, api.DurationPrediction
    durationFailed = Signal(int, str)  # request id, one line

    def __init__(self, factory: RuntimeFactory, choice: ModelChoice, cache_dir: Path, outputs: Path,
                 threads: int | None = None) -> None:
        super().__init__()
        self._factory = factory
        self._choice = choice
        self._cache = cache_dir
        self._outputs = outputs
        self._threads = threads
        self._runtime = None
        self._runtime_choice: ModelChoice | None = None
        self._stopping = False  # set from the GUI thread by `request_stop`: the warm-up ends early
        self.latest_duration_request = 0  # set from the GUI thread: older predictions still queued are skipped

    def request_stop(self) -> None:
        """Thread-safe (a plain flag): the warm-up stops between import groups; jobs stop by their token."""
        self._stopping = True

    @Slot(object)
    def set_model(self, choice: ModelChoice) -> None:
        self._choice = choice

    @property
    def can_prepare(self) -> bool:
        """Whether the factory has a warm-up (`prepare(choice, cache_dir)`); test fakes have none."""
        return callable(getattr(self._factory, "prepare", None))

    @Slot()
    def prepare(self) -> None:
        """Engine warm-up before any job (see job_queue); always ends with engineReady, even on failure
        (the first job then meets the same problem and reports it to the user)."""
        try:
            self.modelStatus.emit("preparing the engine…")
            self._configure_torch()
            self._factory.prepare(self._choice, self._cache, lambda: self._stopping)  # type: ignore[attr-defined]
            self.modelStatus.emit("engine ready")
        except BaseException as exc:  # noqa: BLE001 - the thread must survive; the first job reports it
            log.warning("engine warm-up failed: %s", exc)
        finally:
            self.engineReady.emit()

    def _configure_torch(self) -> None:
        # Python-heavy phases of this thread (imports, model building) hold the GIL in slices of the
        # switch interval: 5 ms by default, shorter slices make the GUI thread's turns come sooner while
        # the worker imports and loads (measured with benchmarks/ui_latency.py)
        sys.setswitchinterval(min(sys.getswitchinterval(), 0.002))
        import torch

        # one core left to the GUI thread and the OS (a CPU run holding every core starves the UI): the count
        # every backend uses (`api.cpu_threads`), so a local job's frames are a cluster worker's
        torch.set_num_threads(self._threads or api.cpu_threads())

    def _ensure_runtime(self):
        if self._runtime is None or self._runtime_choice != self._choice:
            self._runtime = None  # drop the old model before opening the new one (memory)
            self._configure_torch()
            self.modelStatus.emit(f"loading {self._choice.describe()}…")
            self._runtime = self._factory(self._choice, self._cache)
            self._runtime_choice = self._choice
            self.modelStatus.emit(f"{self._choice.describe()} loaded")
        return self._runtime

    @Slot(int, object, object)
    def run(self, job_id: int, spec: JobSpec, token: api.CancelToken) -> None:
        """Run one job to its end; exactly one of finished / failed / cancelled is emitted."""
        self.jobStarted.emit(job_id)
        try:
            token.raise_if_cancelled()
            self.jobProgress.emit(job_id, api.ProgressEvent("loading model", 0, 1, 0.0))
            runtime = self._ensure_runtime()
            events = EventRouter(self, job_id)
            # the MP4's H.264 encode starts once the frames are decoded and runs while the audio decodes
            early = api.EarlyVideoEncode(api.video_settings(spec.request.fps, preset=api.encode_preset(spec.request.stage)))
            result = api.drive(runtime.generate(spec.request, cancel=token, on_video=early), events.route)
            token.raise_if_cancelled()  # a cancel that arrived after the last step still wins
            output = self._write_outputs(job_id, spec, result, token, early.thread)
        except api.GenerationCancelled as exc:
            log.info("job %d cancelled: %s", job_id, exc)
            self.jobCancelled.emit(job_id, str(exc) or "cancelled")
        except BaseException as exc:  # noqa: BLE001 - every failure must reach the UI, the thread must survive
            log.error("job %d failed:\n%s", job_id, traceback.format_exc())
            self.jobFailed.emit(job_id, describe_error(exc))
        else:
            self.jobFinished.emit(job_id, output)

    @Slot(int, str, float, float, float)
    def predict_duration(self, request_id: int, prompt: str, fps: float, min_s: float, max_s: float) -> None:
        """LTX-2.5 "Auto" duration for a prompt, on this thread because this thread owns the loaded model
        (the runtime runs one thing at a time: a prediction asked for during a job waits for its end here,
        in the thread's event queue). A request superseded while it waited (the user kept typing) is
        skipped; exactly one of durationPredicted / durationFailed answers the others."""
        if request_id != self.latest_duration_request:
            return
        try:
            runtime = self._ensure_runtime()
            prediction = runtime.predict_duration(prompt, fps, api.DurationBounds(min_s, max_s))
        except Exception as exc:  # noqa: BLE001 - the thread must survive; the panel shows the reason
            log.warning("auto duration failed: %s", exc)
            self.durationFailed.emit(request_id, describe_error(exc))
        else:
            self.durationPredicted.emit(request_id, prediction)

    def _write_outputs(self, job_id: int, spec: JobSpec, result: api.GenerationResult,
                       token: api.CancelToken, early: Any = None) -> JobOutput:
        self._outputs.mkdir(parents=True, exist_ok=True)
        stem = self._outputs / f"{job_id:06d}-{spec.kind}-{spec.request.seed}"
        self.jobProgress.emit(job_id, api.ProgressEvent("saving", 0, 1, 0.0))
        draft = spec.kind == api.Stage.DRAFT
        latents = api.write_latents(result, stem.with_suffix(".latents.safetensors")) if draft else None
        thumb = save_thumbnail(result.frames, stem.with_suffix(".png"))
        token.raise_if_cancelled()  # closing while saving: stop before the (slowest) write, the job is re-runnable
        extra = {"job": spec.to_dict(), "generator": "ltx-studio"}
        mux = api.write_result(result, stem.with_suffix(".mp4"), spec.request, extra=extra, early=early)
        settings = {"job": spec.to_dict(), "runtime": dict(result.settings or {})}
        return JobOutput(mux.path, thumb, latents, settings)


class EventRouter:
    """Turns the runtime's typed events into the worker's signals (`match` on the type), throttled so a
    fast sampler cannot flood the GUI event loop."""

    def __init__(self, worker: Worker, job_id: int) -> None:
        self.worker, self.job_id = worker, job_id
        self.last_preview = self.last_progress = 0.0

    def route(self, event: object) -> None:  # `worker`: anything with the job signals (Worker, ClusterWorker)
        now = time.monotonic()
        match event:
            case api.ProgressEvent(step=step, total=total):
                if now - self.last_progress >= PROGRESS_MIN_INTERVAL_S or step >= total:
                    self.last_progress = now
                    self.worker.jobProgress.emit(self.job_id, event)  # the runtime's event, as is
            case api.PreviewEvent(image=image):
                if now - self.last_preview >= PREVIEW_MIN_INTERVAL_S:
                    self.last_preview = now
                    self.worker.jobPreview.emit(self.job_id, preview_image(image))
            case api.NoticeEvent(message=message):
                log.warning("job %d: %s", self.job_id, message)
                self.worker.jobNotice.emit(self.job_id, message)
            case _:
                log.warning("job %d: unknown runtime event %r ignored", self.job_id, type(event).__name__)
