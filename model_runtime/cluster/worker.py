"""The body of one Ray worker actor: one `Runtime` resident on one GPU (or the CPU), one job at a time.

Why jobs are polled rather than streamed: Ray's streaming generators do not work through Ray Client, and
the app is always a Ray Client (see `protocol.backend_address`). So `start` runs the job on a thread of
this (threaded) actor and buffers its events; `poll` long-polls for the events since the last call and,
at the end, the result; `cancel` sets the job's `CancelToken`, which the runtime checks every denoising
step. The finished MP4 is written with the same `write_result` as a local job and sent back as bytes.

The class imports neither Ray nor torch at module level: the client wraps it with `ray.remote` and the
worker process imports torch when its first job opens the model.
"""

from __future__ import annotations

import contextlib
import logging
import os
import platform
import tempfile
import threading
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from model_runtime import __version__
from model_runtime.cluster.protocol import (
    JobState,
    JobUpdate,
    RemoteJob,
    RemoteResult,
    WorkerInfo,
    WorkerModel,
    check_version,
)
from model_runtime.errors import CheckpointError, GenerationCancelled, RuntimeErrorBase
from model_runtime.sampling.control import CancelToken
from model_runtime.spec import ModelPaths, RequestSpec

log = logging.getLogger(__name__)

#: previews kept for a slow poller: older ones are dropped (a preview is only worth its freshness)
MAX_BUFFERED_PREVIEWS = 1


@dataclass
class _Run:
    """One job on this worker: its token, its buffered events and, once ended, its outcome."""

    job: RemoteJob
    token: CancelToken = field(default_factory=CancelToken)
    events: list[Any] = field(default_factory=list)
    state: JobState = JobState.RUNNING
    result: RemoteResult | None = None
    error_kind: str = ""
    error: str = ""


class RenderWorker:
    """A Ray actor body (`ray.remote(RenderWorker)`, threaded: `max_concurrency` >= 3 so `poll` and
    `cancel` are served while a job runs)."""

    def __init__(self, name: str, cache_dir: str = "", models_dir: str = "", device: str = "auto") -> None:
        self.name = name
        self._cache = Path(cache_dir) if cache_dir else _default_cache()
        self._models_dir = models_dir
        self._device = device
        self._runtime = None
        self._model_key = ""
        self._model_label = ""
        self._runs: dict[str, _Run] = {}
        self._current = ""
        self._cond = threading.Condition()
        # import torch and the runtime's modules now, not in the first job (seconds, more on a busy machine);
        # a job waits for it: two threads importing transformers at once see half-initialised modules
        self._warming = threading.Thread(target=_warm_up, name="warm-up", daemon=True)
        self._warming.start()

    # --- facts -----------------------------------------------------------------------------------
    def version(self) -> str:
        return __version__

    def info(self) -> WorkerInfo:
        device, gpu, free = _device_facts(self._runtime)
        return WorkerInfo(self.name, platform.node(), __version__, device, gpu, free, self._model_label,
                          self._current, self._model_key)

    def pid(self) -> int:
        """The worker process (the fault tests kill it)."""
        return os.getpid()

    # --- jobs ------------------------------------------------------------------------------------
    def start(self, job: RemoteJob) -> None:
        """Begin `job` on a thread of this actor; refuses another version's app and a second job."""
        check_version(self.name, __version__, job.app_version)
        with self._cond:
            if self._current:
                raise RuntimeErrorBase(f"worker {self.name} is busy with job {self._current}")
            # an ended job still here was never collected (its client went away): drop it and its bytes
            self._runs = {k: r for k, r in self._runs.items() if r.state == JobState.RUNNING}
            self._current = job.job_id
            self._runs[job.job_id] = run = _Run(job)
        threading.Thread(target=self._run, args=(run,), name=f"job-{job.job_id}", daemon=True).start()

    def poll(self, job_id: str, wait_s: float = 0.2) -> JobUpdate:
        """The events since the last poll (waiting up to `wait_s` for one) and the state; the result or
        error once the job ended (then the job is forgotten)."""
        with self._cond:
            run = self._runs.get(job_id)
            if run is None:
                raise RuntimeErrorBase(f"worker {self.name} has no job {job_id}")
            if not run.events and run.state == JobState.RUNNING:
                self._cond.wait(wait_s)
            events, run.events = tuple(run.events), []
            if run.state != JobState.RUNNING:
                del self._runs[job_id]
            return JobUpdate(events, run.state, run.result, run.error_kind, run.error)

    def cancel(self, job_id: str, reason: str = "cancelled by the user") -> None:
        """Stops the job at its next denoising step (or before its first)."""
        with self._cond:
            run = self._runs.get(job_id)
        if run is not None:
            run.token.cancel(reason)

    def _emit(self, run: _Run, event: Any) -> None:
        from model_runtime.pipelines.types import PreviewEvent

        if isinstance(event, PreviewEvent):  # numpy travels without torch's pickling, and is smaller
            event = replace(event, image=event.image.cpu().numpy())
            previews = [i for i, e in enumerate(run.events) if isinstance(e, PreviewEvent)]
            for i in reversed(previews[:len(previews) + 1 - MAX_BUFFERED_PREVIEWS]):
                del run.events[i]
        with self._cond:
            run.events.append(event)
            self._cond.notify_all()

    def _run(self, run: _Run) -> None:
        try:
            result = self._generate(run)
        except GenerationCancelled as exc:
            outcome = {"state": JobState.CANCELLED, "error": str(exc) or "cancelled"}
        except BaseException as exc:  # noqa: BLE001 - every failure goes back to the app as one line
            log.error("job %s failed:\n%s", run.job.job_id, traceback.format_exc())
            outcome = {"state": JobState.FAILED, "error_kind": type(exc).__name__, "error": str(exc)}
        else:
            outcome = {"state": JobState.DONE, "result": result}
        with self._cond:
            for k, v in outcome.items():
                setattr(run, k, v)
            self._current = ""
            self._cond.notify_all()

    def _generate(self, run: _Run) -> RemoteResult:
        from model_runtime.cluster.serve import generate_job
        from model_runtime.cpu_threads import cpu_threads, pin_cpu_threads

        run.token.raise_if_cancelled()
        runtime = self._ensure_runtime(run.job.model)
        # Ray gives a 1-CPU actor one thread (OMP_NUM_THREADS=1): a CPU job runs on its client's local thread
        # count instead (at most this machine's cores), so the cluster's frames are the local backend's
        asked = run.job.cpu_threads
        pin_cpu_threads(runtime.engine.device, min(asked, cpu_threads(ui=False)) if asked else None)
        with tempfile.TemporaryDirectory(prefix="ltx-job-") as tmp:
            spec = RequestSpec.from_dict(run.job.spec)
            if run.job.draft_latents is not None:
                latents = Path(tmp) / "draft.latents.safetensors"
                latents.write_bytes(run.job.draft_latents)
                spec = spec.with_changes(draft_latents=str(latents))
            return generate_job(runtime, spec, run.job, Path(tmp), run.token, lambda e: self._emit(run, e),
                                self.name)

    def _ensure_runtime(self, model: WorkerModel):
        """The resident runtime for `model` (kept between jobs; another model replaces it)."""
        if self._runtime is not None and self._model_key == model.key:
            return self._runtime
        from model_runtime.cluster.serve import open_runtime

        self._warming.join()
        self._runtime = None  # drop the old model before the new one loads (memory)
        paths = self._resolve(model)
        self._runtime = open_runtime(paths, self._device)
        self._model_key = model.key
        self._model_label = "demo model" if model.demo else (paths.checkpoint or paths.transformer).name
        return self._runtime

    def _resolve(self, model: WorkerModel) -> ModelPaths:
        if model.demo:
            from model_runtime.demo import ensure_demo_model

            with _folder_lock(self._cache / "demo-model.lock"):  # workers of one machine share the cache
                return ensure_demo_model(self._cache / "demo-model").model_paths()
        if model.paths is None:
            raise CheckpointError("the job names no model files")
        return resolve_paths(model.paths, self._models_folder())

    def _models_folder(self) -> Path:
        if self._models_dir:
            return Path(self._models_dir)
        from model_runtime.hub.store import default_models_dir

        return default_models_dir()


def resolve_paths(paths: ModelPaths, models_dir: Path) -> ModelPaths:
    """Each file as given when it exists here (a shared path), else the file of the same name in this
    machine's models folder (searched recursively); a file found in neither is a one-line CheckpointError."""
    changes: dict[str, Path] = {}
    for name in ("checkpoint", "upsampler", "text_encoder_dir", "transformer", "text_encoder", "video_vae",
                 "video_vae_conv", "audio_vae", "duration_head"):
        given = getattr(paths, name)
        if given is None or Path(given).exists():
            continue
        found = next(iter(sorted(models_dir.rglob(Path(given).name))), None) if models_dir.is_dir() else None
        if found is None:
            raise CheckpointError(f"{Path(given).name}: not at {given} on worker machine {platform.node()}, "
                                  f"nor in its models folder {models_dir}")
        changes[name] = found
    return replace(paths, **changes)


@contextlib.contextmanager
def _folder_lock(path: Path) -> Iterator[None]:
    """An exclusive lock file (POSIX `flock`), so two workers on one machine do not build the same folder
    at once; where there is no `fcntl` (Windows) the build's own rename-into-place is all there is."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _warm_up() -> None:
    from model_runtime.warm import run_steps

    run_steps()


def _default_cache() -> Path:
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("ltx-studio")) / "cluster-worker"


def _device_facts(runtime) -> tuple[str, str, float | None]:
    """(device, GPU name, free VRAM GB): torch is asked only once a model is loaded (it is imported then)."""
    if runtime is None:
        return "not loaded", "", None
    import torch

    device = str(runtime.engine.device)
    if device.startswith("cuda"):
        free, _total = torch.cuda.mem_get_info(runtime.engine.device)
        return device, torch.cuda.get_device_name(runtime.engine.device), free / 2**30
    return device, "", None
