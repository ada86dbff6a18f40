"""The small surface the app uses of model_runtime, as a Protocol, and the one factory that opens it.

Everything here that touches torch is called on the worker thread only (the GUI thread never imports
torch). Tests hand the queue a different factory that returns a hand-written fake obeying the same
protocol; the product code has no test switches.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ltx_studio.jobs import JobSpec

log = logging.getLogger(__name__)


class GenerationRuntime(Protocol):
    """What the worker needs: a loaded model that turns a request into events and finally a result.

    `generate` yields ProgressEvent / PreviewEvent objects and then the GenerationResult (either as the
    last item or as the generator's return value); a cancelled token makes it raise GenerationCancelled.
    """

    def generate(self, request: Any, cancel: Any = None) -> Iterator[Any]: ...


@dataclass(frozen=True)
class ModelChoice:
    """Which weights to open: the demo model, or the user's three official files/folders."""

    demo: bool
    checkpoint: str = ""
    upsampler: str = ""
    text_encoder: str = ""

    def describe(self) -> str:
        return "demo model (random weights)" if self.demo else Path(self.checkpoint).name or "no checkpoint"


RuntimeFactory = Callable[[ModelChoice, Path], GenerationRuntime]


def pick_device() -> tuple[str, Any]:
    """CUDA (bf16) > Apple MPS (bf16) > CPU (float32: bf16 matmuls are slow and inexact on most CPUs)."""
    import torch

    if torch.cuda.is_available():
        return "cuda", torch.bfloat16
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return "mps", torch.bfloat16
    return "cpu", torch.float32


# What the runtime imports lazily on its first job (its own modules, and the Gemma / LTX-2 classes it builds
# from transformers and diffusers). `RuntimeOpener.prepare` imports them ahead of the first job. A stale entry
# only costs a debug line: the job then imports whatever it needs itself, as before.
WARM_IMPORTS: tuple[tuple[str, str | None], ...] = (
    ("model_runtime.runtime", None), ("model_runtime.components", None),
    ("model_runtime.pipelines.distilled", None), ("model_runtime.pipelines.stages", None),
    ("model_runtime.pipelines.preview", None), ("model_runtime.models.denoiser", None),
    ("model_runtime.models.transformer", None), ("model_runtime.models.upsampler", None),
    ("model_runtime.models.video_vae", None), ("model_runtime.models.audio_vae", None),
    ("model_runtime.models.vocoder", None), ("model_runtime.text.encoder", None),
    ("model_runtime.text.gemma", None), ("model_runtime.text.connectors", None),
    ("model_runtime.text.tokenizer", None), ("model_runtime.media.mux", None),
    ("model_runtime.pipelines.types", None), ("model_runtime.sampling.guidance", None),
    ("safetensors.torch", None),
    ("transformers", "Gemma3ForConditionalGeneration"), ("transformers", "Gemma3TextModel"),
    ("transformers", "AutoTokenizer"), ("transformers", "PreTrainedTokenizerFast"),
    ("diffusers", "LTX2VideoTransformer3DModel"),
    ("diffusers.models.autoencoders.autoencoder_kl_ltx2", None),
    ("diffusers.models.autoencoders.autoencoder_kl_ltx2_audio", None),
    ("diffusers.pipelines.ltx2.vocoder", None), ("diffusers.pipelines.ltx2.connectors", None),
    ("diffusers.pipelines.ltx2.latent_upsampler", None), ("diffusers.models.attention_dispatch", None),
)


class RuntimeOpener:
    """The production RuntimeFactory: `opener(choice, cache_dir)` opens the runtime; `prepare` warms it.

    `prepare` (worker thread, once, before any job) imports torch and everything a job would import on
    first use, and builds the demo files when the demo model is chosen: import-time C-extension
    initialisation holds the GIL for long stretches, so doing it before a job keeps jobs from freezing
    the UI. It loads no weights: those load when a job needs them, so memory is only taken for real work.
    """

    def __call__(self, choice: ModelChoice, cache_dir: Path) -> GenerationRuntime:
        from model_runtime.runtime import ModelPaths, Runtime

        if choice.demo:
            from model_runtime.demo import ensure_demo_model

            demo = ensure_demo_model(cache_dir / "demo-model")
            paths = ModelPaths(demo.checkpoint, demo.upsampler, demo.text_encoder_dir)
        else:
            paths = ModelPaths(Path(choice.checkpoint), Path(choice.upsampler) if choice.upsampler else None,
                               Path(choice.text_encoder))
        device, dtype = pick_device()
        log.info("opening runtime %s on %s (%s)", choice.describe(), device, dtype)
        return Runtime.open(paths, device, dtype)

    def prepare(self, choice: ModelChoice, cache_dir: Path) -> None:
        import importlib
        import time

        started = time.monotonic()
        import torch  # noqa: F401 - the point: the biggest first-use import

        _freeze_heap()
        for module, attr in WARM_IMPORTS:
            try:
                mod = importlib.import_module(module)
                if attr is not None:
                    getattr(mod, attr)
            except Exception as exc:  # noqa: BLE001 - a warm-up miss only means the job imports it later
                log.debug("warm-up import %s.%s skipped: %s", module, attr, exc)
            _freeze_heap()
        pick_device()
        if choice.demo:
            from model_runtime.demo import ensure_demo_model

            ensure_demo_model(cache_dir / "demo-model")
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


def build_request(spec: JobSpec) -> Any:
    """JobSpec -> GenerationRequest (worker thread: imports torch). Promotion latents are read from disk."""
    from model_runtime.pipelines.types import GenerationRequest, StageLatents
    from model_runtime.sampling.guidance import GuidanceParams

    draft = None
    if spec.kind == "render" and spec.draft_latents:
        from safetensors.torch import load_file

        t = load_file(spec.draft_latents)
        draft = StageLatents(video=t["video"], audio=t["audio"])
    video_g = audio_g = None
    if spec.pipeline == "dev":
        video_g = GuidanceParams(cfg=spec.video_cfg or 1.0, stg=spec.stg or 0.0, modality=spec.modality or 1.0)
        audio_g = GuidanceParams(cfg=spec.audio_cfg or 1.0, stg=spec.stg or 0.0, modality=spec.modality or 1.0)
    return GenerationRequest(
        prompt=spec.prompt, width=spec.width, height=spec.height, frames=spec.frames, fps=spec.fps,
        seed=spec.seed, negative_prompt=spec.negative_prompt or None, stage=spec.kind,  # type: ignore[arg-type]
        pipeline=spec.pipeline,  # type: ignore[arg-type]
        steps=spec.steps if spec.pipeline == "dev" else None,
        video_guidance=video_g, audio_guidance=audio_g, draft_latents=draft,
    )


def describe_error(exc: BaseException) -> str:
    """One line a creator can act on, for every way a job can fail (the traceback goes to the log)."""
    from model_runtime.errors import CheckpointError, InvalidRequestError, MediaError

    name = type(exc).__name__
    if isinstance(exc, CheckpointError):
        return f"Model files: {exc}. Open Settings → Models to fix the paths."
    if isinstance(exc, InvalidRequestError):
        return f"Invalid settings: {exc}"
    if isinstance(exc, MediaError):
        return f"Could not write the video: {exc}"
    if isinstance(exc, MemoryError) or "OutOfMemory" in name or "out of memory" in str(exc).lower():
        return ("Out of memory: choose a lower tier or a shorter clip (the model stays loaded; "
                "nothing else was lost)")
    if isinstance(exc, OSError) and getattr(exc, "errno", None) in (28, 27, 122):
        return f"Disk full while saving the result: free some space ({exc.filename or ''})"
    if isinstance(exc, FileNotFoundError):
        return f"File not found: {exc.filename or exc}"
    return f"Unexpected error ({name}): {exc}. Details are in the log."
