"""The worker: a QObject living in one long-lived QThread that owns the loaded model and runs one job at a time.

It is the only place torch runs. The model is opened lazily by the first job and kept between jobs
(a cancel or a failure leaves it loaded); a changed model choice drops it and the next job reopens.
Results are written under temporary names and renamed into place (MP4 via `write_mp4`, which is atomic;
thumbnail and latents here) before the GUI thread is told the job is done, so the history never points at
a half-written file. Previews are throttled so a fast sampler cannot flood the GUI event loop.
"""

from __future__ import annotations

import logging
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal, Slot
from PySide6.QtGui import QImage

from ltx_studio.jobs import JobOutput, JobSpec, Progress
from ltx_studio.runtime_api import ModelChoice, RuntimeFactory, build_request, describe_error

log = logging.getLogger(__name__)

PREVIEW_MIN_INTERVAL_S = 0.25
PROGRESS_MIN_INTERVAL_S = 0.05


def _tmp(path: Path) -> Path:
    return path.with_name(f".tmp-{os.getpid()}-{path.name}")


def save_thumbnail(frames: Any, path: Path, max_side: int = 320) -> Path:
    """Middle frame, scaled to `max_side`, saved as PNG atomically. QImage is safe off the GUI thread."""
    import numpy as np

    arr = np.ascontiguousarray(np.asarray(frames[len(frames) // 2], dtype=np.uint8))
    h, w = arr.shape[:2]
    img = QImage(arr.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
    img = img.scaled(max_side, max_side, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation)
    tmp = _tmp(path)
    if not img.save(str(tmp), "PNG"):
        tmp.unlink(missing_ok=True)
        raise OSError(f"cannot write thumbnail {path}")
    os.replace(tmp, path)
    return path


def preview_image(image: Any) -> QImage:
    """PreviewEvent image uint8 [F', H', W', 3] -> the middle latent frame as a QImage (a deep copy)."""
    import numpy as np

    arr = np.asarray(image.cpu() if hasattr(image, "cpu") else image, dtype=np.uint8)
    frame = np.ascontiguousarray(arr[arr.shape[0] // 2] if arr.ndim == 4 else arr)
    h, w = frame.shape[:2]
    return QImage(frame.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


def save_latents(result: Any, path: Path) -> Path | None:
    """The stage-1 latents of a draft (what promotion to a render starts from), atomically."""
    stage1 = getattr(result, "latents", {}).get("stage1") if getattr(result, "latents", None) else None
    if stage1 is None:
        return None
    from safetensors.torch import save_file

    tmp = _tmp(path)
    save_file({"video": stage1.video.contiguous().cpu(), "audio": stage1.audio.contiguous().cpu()}, str(tmp))
    os.replace(tmp, path)
    return path


class Worker(QObject):
    """Runs jobs on its own thread; reports through signals that Qt queues onto the GUI thread."""

    jobStarted = Signal(int)
    jobProgress = Signal(int, object)
    jobPreview = Signal(int, QImage)
    jobFinished = Signal(int, object)
    jobFailed = Signal(int, str)
    jobCancelled = Signal(int, str)
    modelStatus = Signal(str)
    engineReady = Signal()

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
            self._factory.prepare(self._choice, self._cache)  # type: ignore[attr-defined]
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

        if self._threads is None:
            # leave one core to the GUI thread and the OS: a CPU run holding every core starves the UI
            torch.set_num_threads(max(1, (os.cpu_count() or 2) - 1))
        else:
            torch.set_num_threads(self._threads)

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
    def run(self, job_id: int, spec: JobSpec, token: Any) -> None:
        """Run one job to its end; exactly one of finished / failed / cancelled is emitted."""
        from model_runtime.errors import GenerationCancelled

        self.jobStarted.emit(job_id)
        try:
            token.raise_if_cancelled()
            self.jobProgress.emit(job_id, Progress("loading model", 0, 1, 0.0, None))
            runtime = self._ensure_runtime()
            result = self._generate(job_id, runtime, spec, token)
            token.raise_if_cancelled()  # a cancel that arrived after the last step still wins
            output = self._write_outputs(job_id, spec, result)
        except GenerationCancelled as exc:
            log.info("job %d cancelled: %s", job_id, exc)
            self.jobCancelled.emit(job_id, str(exc) or "cancelled")
        except BaseException as exc:  # noqa: BLE001 - every failure must reach the UI, the thread must survive
            log.error("job %d failed:\n%s", job_id, traceback.format_exc())
            self.jobFailed.emit(job_id, describe_error(exc))
        else:
            self.jobFinished.emit(job_id, output)

    def _generate(self, job_id: int, runtime, spec: JobSpec, token: Any):
        request = build_request(spec)
        started = time.monotonic()
        last_preview = last_progress = 0.0
        gen = runtime.generate(request, cancel=token)
        result = None
        while True:
            try:
                ev = next(gen)
            except StopIteration as stop:
                result = stop.value if stop.value is not None else result
                break
            if hasattr(ev, "frames") and hasattr(ev, "waveform"):
                result = ev
                continue
            now = time.monotonic()
            if hasattr(ev, "image"):
                if now - last_preview >= PREVIEW_MIN_INTERVAL_S:
                    last_preview = now
                    self.jobPreview.emit(job_id, preview_image(ev.image))
            elif now - last_progress >= PROGRESS_MIN_INTERVAL_S or ev.step >= ev.total:
                last_progress = now
                self.jobProgress.emit(job_id, Progress(ev.stage, ev.step, ev.total, now - started, ev.eta_s))
        if result is None:
            raise RuntimeError("the runtime ended without a result")
        return result

    def _write_outputs(self, job_id: int, spec: JobSpec, result) -> JobOutput:
        from model_runtime.media.mux import write_mp4

        self._outputs.mkdir(parents=True, exist_ok=True)
        stem = self._outputs / f"{job_id:06d}-{spec.kind}-{spec.seed}"
        self.jobProgress.emit(job_id, Progress("saving", 0, 1, 0.0, None))
        latents = save_latents(result, stem.with_suffix(".latents.safetensors")) if spec.kind == "draft" else None
        thumb = save_thumbnail(result.frames, stem.with_suffix(".png"))
        settings = {"job": spec.to_dict(), "runtime": dict(getattr(result, "settings", {}) or {})}
        preset = "veryfast" if spec.kind == "draft" else "medium"
        mux = write_mp4(stem.with_suffix(".mp4"), result.frames, result.fps, result.waveform,
                        int(result.sample_rate), settings, preset=preset)
        return JobOutput(mux.path, thumb, latents, settings)
