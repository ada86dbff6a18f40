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
from typing import Any, Protocol

import model_runtime.api as api

log = logging.getLogger(__name__)


class GenerationRuntime(Protocol):
    """What the worker needs: a loaded model that turns a request into events and returns a result.

    `generate` yields ProgressEvent / PreviewEvent / NoticeEvent and returns the GenerationResult; a
    cancelled token makes it raise GenerationCancelled. `api.Runtime` is the production implementation.
    """

    def generate(self, request: api.RequestSpec, cancel: api.CancelToken | None = None,
                 on_video: Callable[[Any], None] | None = None
                 ) -> Generator[api.ProgressEvent | api.PreviewEvent | api.NoticeEvent, None, api.GenerationResult]: ...


    def predict_duration(self, prompt: str, fps: float, bounds: api.DurationBounds | None = None
                         ) -> api.DurationPrediction:
        """LTX-2.5 "Auto" duration: the clip length the model's duration head predicts for `prompt`."""
        ...


@dataclass(frozen=True)
class ModelChoice:
    """Which weights to open: the demo model, the user's LTX-2.3 files (single checkpoint, upscaler, Gemma-3
    folder) or the user's LTX-2.5 split files (`split`: `ModelPaths` field name -> path, upscaler included)."""

    demo: bool
    checkpoint: str = ""
    upsampler: str = ""
    text_encoder: str = ""
    distilled_lora: str = ""  # the dev two-stage render refines with it (stage 2), as ltx-pipelines does
    family: str = "2.3"
    split: tuple[tuple[str, str], ...] = ()  # LTX-2.5: (ModelPaths field, path) pairs, set ones only

    def describe(self) -> str:
        if self.demo:
            return "demo model (random weights)"
        if self.family == "2.5":
            return f"LTX-2.5 {Path(dict(self.split).get('transformer', '')).name or 'no transformer'}"
        return Path(self.checkpoint).name or "no checkpoint"


RuntimeFactory = Callable[[ModelChoice, Path], GenerationRuntime]


def model_paths(choice: ModelChoice, cache_dir: Path) -> api.ModelPaths:
    """The files of a model choice (the demo's live in the cache folder once built)."""
    if choice.demo:
        return api.demo_model_paths(cache_dir / "demo-model")
    if choice.family == "2.5":
        return api.ModelPaths(**{name: Path(path) for name, path in choice.split if path})
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


@dataclass(frozen=True)
class ModelFacts:
    """What the chosen files offer beyond a plain job, read from their headers (no torch): the family,
    LTX-2.5's "Auto" duration (a duration head was given) and the video decoders (both: Sharp/Fast choice)."""

    family: str = "2.3"
    auto_duration: bool = False
    decoders: tuple[str, ...] = ("conv",)

    @property
    def decoder_choice(self) -> bool:
        return {"conv", "diffusion"} <= set(self.decoders)


def model_facts(choice: ModelChoice, cache_dir: Path) -> ModelFacts:
    """The facts of a model choice; files that do not check out offer nothing extra (the job says why)."""
    if choice.demo or choice.family != "2.5":
        return ModelFacts()
    try:
        files = model_paths(choice, cache_dir).model_files()
    except (api.RuntimeErrorBase, OSError) as exc:
        log.info("model facts: %s", exc)
        return ModelFacts("2.5")
    decoders = tuple(d for d, role in (("conv", "video_vae_conv"), ("diffusion", "video_vae")) if files.has(role))
    return ModelFacts(files.family, files.has("duration_head"), decoders)


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
