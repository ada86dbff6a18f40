"""The small surface the app uses of model_runtime, as a Protocol, and the one factory that opens it.

Everything here that touches torch is called on the worker thread only (the GUI thread never imports
torch). Tests hand the queue a different factory that returns a hand-written fake obeying the same
protocol; the product code has no test switches.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import model_runtime.api as api

log = logging.getLogger(__name__)


class GenerationRuntime(Protocol):
    """What the worker needs: a loaded model that turns a request into events and returns a result.

    `generate` yields ProgressEvent / PreviewEvent / NoticeEvent and returns the GenerationResult; a
    cancelled token makes it raise GenerationCancelled. `api.Runtime` is the production implementation.
    """

    def generate(self, request: api.RequestSpec, cancel: api.CancelToken | None = None
                 ) -> Generator[api.ProgressEvent | api.PreviewEvent | api.NoticeEvent, None, api.GenerationResult]: ...


@dataclass(frozen=True)
class ModelChoice:
    """Which weights to open: the demo model, or the user's three official files/folders."""

    demo: bool
    checkpoint: str = ""
    upsampler: str = ""
    text_encoder: str = ""
    distilled_lora: str = ""  # the dev two-stage render refines with it (stage 2), as ltx-pipelines does

    def describe(self) -> str:
        return "demo model (random weights)" if self.demo else Path(self.checkpoint).name or "no checkpoint"


RuntimeFactory = Callable[[ModelChoice, Path], GenerationRuntime]


def model_paths(choice: ModelChoice, cache_dir: Path) -> api.ModelPaths:
    """The files of a model choice (the demo's live in the cache folder once built)."""
    if choice.demo:
        return api.demo_model_paths(cache_dir / "demo-model")
    return api.ModelPaths(Path(choice.checkpoint), Path(choice.upsampler) if choice.upsampler else None,
                          Path(choice.text_encoder),
                          api.LoraSpec(Path(choice.distilled_lora)) if choice.distilled_lora else None)


class RuntimeOpener:
    """The production RuntimeFactory: `opener(choice, cache_dir)` opens the runtime; `prepare` warms it.

    `prepare` (worker thread, once, before any job) imports torch and everything a job would import on
    first use, and builds the demo files when the demo model is chosen: import-time C-extension
    initialisation holds the GIL for long stretches, so doing it before a job keeps jobs from freezing
    the UI. It loads no weights: those load when a job needs them, so memory is only taken for real work.
    """

    def __call__(self, choice: ModelChoice, cache_dir: Path) -> GenerationRuntime:
        if choice.demo:
            api.ensure_demo_model(cache_dir / "demo-model")
        paths = model_paths(choice, cache_dir)
        device, dtype = api.pick_device()
        machine = api.plan_machine(str(device))  # every job is planned for it and runs under the OOM ladder
        log.info("opening runtime %s on %s (%s), planning for %s", choice.describe(), device, dtype, machine)
        return api.Runtime.open(paths, str(device), dtype, memory=machine)

    def prepare(self, choice: ModelChoice, cache_dir: Path, stop: Callable[[], bool] = lambda: False) -> None:
        """The warm-up; `stop()` is polled between import groups (the app is closing: end early)."""
        import time

        started = time.monotonic()
        if not api.warm_up(stop, after_step=_freeze_heap):
            log.info("engine warm-up stopped early (the app is closing)")
            return
        if choice.demo:
            api.ensure_demo_model(cache_dir / "demo-model")
        _freeze_heap()
        log.info("engine warm-up done in %.1f s", time.monotonic() - started)


def _freeze_heap() -> None:
    """Move every object alive now out of the cyclic GC's reach (`gc.freeze`), after a young collection.

    Why: after the warm-up the heap holds ~2 million objects (torch, transformers, diffusers, sympy: code,
    classes, module dicts). A full (generation 2) collection walks all of them with the GIL held, measured
    at 20-215 ms, growing with the heap, and happening at arbitrary points of a job: a frozen UI. These
    objects live as long as the process, so freezing them loses nothing; later collections only walk what
    was made since. Only called while nothing but imports has happened (no model weights are frozen:
    dropping a model must still free it).
    """
    import gc

    gc.collect(1)
    gc.freeze()


open_runtime = RuntimeOpener()


def describe_error(exc: BaseException) -> str:
    """One line a creator can act on, for every way a job can fail (the traceback goes to the log)."""
    name = type(exc).__name__
    if isinstance(exc, api.CheckpointError):
        return f"Model files: {exc}. Open Settings → Models to fix the paths."
    if isinstance(exc, api.InvalidRequestError):
        return f"Invalid settings: {exc}"
    if isinstance(exc, api.MediaError):
        return f"Could not write the video: {exc}"
    if isinstance(exc, MemoryError) or "OutOfMemory" in name or "out of memory" in str(exc).lower():
        return ("Out of memory: choose a lower tier or a shorter clip (the model stays loaded; "
                "nothing else was lost)")
    if isinstance(exc, OSError) and getattr(exc, "errno", None) in (28, 27, 122):
        return f"Disk full while saving the result: free some space ({exc.filename or ''})"
    if isinstance(exc, FileNotFoundError):
        return f"File not found: {exc.filename or exc}"
    return f"Unexpected error ({name}): {exc}. Details are in the log."
