"""The runtime's public data: requests, results and the events a generation yields.

Everything is a frozen dataclass so a request can be queued, logged, re-run and compared, and so the
GUI thread can never mutate what the worker thread is using. A request validates itself on
construction: an invalid request cannot exist, and its message says what to change.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import torch

from model_runtime.conditioning.items import Conditioning, ImageKeyframe, conditioning_problems
from model_runtime.errors import InvalidRequestError
from model_runtime.loras.spec import LoraSpec
from model_runtime.pipelines.envelope import (
    MAX_STEPS,
    ModelEnvelope,
    finite_problem,
    seed_problem,
    text_problem,
)
from model_runtime.sampling.ancestral import ANCESTRAL_NAMES
from model_runtime.sampling.control import CancelToken, ProgressEvent
from model_runtime.sampling.guidance import GuidanceParams
from model_runtime.sampling.noise import NOISE_ORDER
from model_runtime.spec import SIZE_MULTIPLE, TEMPORAL_STRIDE  # the grid, defined once (torch-free)

__all__ = [
    "CancelToken", "GenerationRequest", "GenerationResult", "LoraSpec", "NoticeEvent", "PreviewEvent",
    "ProgressEvent", "StageLatents", "LORA_MODES",
    "Event", "STAGES", "PIPELINES", "VideoSink",
]

Stage = Literal["draft", "render"]
Decoder = Literal["auto", "diffusion", "conv"]
DECODERS: tuple[str, ...] = ("auto", "diffusion", "conv")
Pipeline = Literal["distilled", "dev"]
STAGES: tuple[str, ...] = ("draft", "render")
PIPELINES: tuple[str, ...] = ("distilled", "dev")
#: "live": LoRA deltas built at compute time (a strength change reloads nothing; the default, for
#: iterating); "fused": merged into the weights once per change (no per-step cost). Same numbers.
LORA_MODES: tuple[str, ...] = ("live", "fused")



@dataclass(frozen=True)
class StageLatents:
    """The final latents of one stage, natural layouts: video [1, C, F', H', W'], audio [1, C, T, M]."""

    video: torch.Tensor
    audio: torch.Tensor


@dataclass(frozen=True)
class GenerationRequest:
    """What to generate.

    stage "draft": one stage at (width, height) with the distilled stage-1 schedule (fast preview).
    stage "render": two stages, the first at half size, x2 latent upsample, refinement at full size.
    `draft_latents` (the `latents["stage1"]` of a finished draft of the same prompt/seed at half this
    size) turns a render into a promotion: stage 1 is skipped.
    `initial_noise` maps names of `sampling.noise.NOISE_ORDER` to token-layout tensors (reproduction,
    golden tests); missing names are drawn from the seed.
    `decoder` (LTX-2.5): "diffusion" is the sharp, slower diffusion video decoder, "conv" the fast
    convolutional one; "auto" uses conv for drafts and diffusion for renders (when the model has it).
    `steps` / `video_guidance` / `audio_guidance` override the dev pipeline's defaults (the distilled
    schedule is fixed: it is what the distilled weights were trained for).
    `conditioning` directs the clip beyond its prompt (images at frames, retake, extend, a soundtrack);
    it is checked against `frames` / `fps` here, and a promoted draft keeps it (same request fields).
    `loras` apply to every stage, in order, each at its strength (`lora_mode`: see LORA_MODES); the dev
    render's stage 2 adds the install's distilled LoRA, as ltx-pipelines' two-stage pipeline does.
    """

    prompt: str
    width: int
    height: int
    frames: int
    fps: float
    seed: int = 0
    negative_prompt: str | None = None
    stage: Stage = "draft"
    pipeline: Pipeline = "distilled"
    steps: int | None = None
    video_guidance: GuidanceParams | None = None
    audio_guidance: GuidanceParams | None = None
    initial_noise: Mapping[str, torch.Tensor] | None = field(default=None, compare=False, repr=False)
    draft_latents: StageLatents | None = field(default=None, compare=False, repr=False)
    tiled_decode: bool = False
    decoder: Decoder = "auto"
    keep_float_video: bool = False
    previews: bool = True
    conditioning: Conditioning | None = None
    loras: tuple[LoraSpec, ...] = ()
    lora_mode: str = "live"

    def __post_init__(self) -> None:
        object.__setattr__(self, "loras", tuple(self.loras))
        problems = _request_problems(self)
        if problems:
            raise InvalidRequestError("; ".join(problems))

    @property
    def size_multiple(self) -> int:
        return SIZE_MULTIPLE[self.stage]

    @property
    def images(self) -> tuple[ImageKeyframe, ...]:
        return self.conditioning.images if self.conditioning is not None else ()


def _request_problems(r: GenerationRequest) -> list[str]:
    problems: list[str] = []
    if not isinstance(r.prompt, str) or not r.prompt.strip():
        problems.append("the prompt is empty: describe the video (and its sound) to generate")
    for name, text in (("prompt", r.prompt), ("negative prompt", r.negative_prompt)):
        if problem := text_problem(name, text):
            problems.append(problem)
    if problem := seed_problem(r.seed):
        problems.append(problem)
    if r.stage not in STAGES:
        problems.append(f"stage must be one of {STAGES}, got {r.stage!r}")
        return problems
    if r.pipeline not in PIPELINES:
        problems.append(f"pipeline must be one of {PIPELINES}, got {r.pipeline!r}")
    m = SIZE_MULTIPLE[r.stage]
    for name, value in (("width", r.width), ("height", r.height)):
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0 or value % m:
            finite = isinstance(value, int | float) and math.isfinite(value) and value > 0
            hint = f" (nearest: {max(m, round(value / m) * m)})" if finite else ""
            problems.append(f"{name} {value} must be a positive multiple of {m} px for a {r.stage}{hint}")
    if not isinstance(r.frames, int) or isinstance(r.frames, bool) or r.frames < 1 or (r.frames - 1) % TEMPORAL_STRIDE:
        finite = isinstance(r.frames, int | float) and math.isfinite(r.frames)
        k = max(0, round((r.frames - 1) / TEMPORAL_STRIDE)) if finite else 0
        problems.append(f"frames {r.frames} must be 8k+1 (1, 9, 17, ..., 121); nearest: {TEMPORAL_STRIDE * k + 1}")
    if isinstance(r.fps, bool) or not isinstance(r.fps, int | float) or not math.isfinite(r.fps) or r.fps <= 0:
        problems.append(f"fps must be a positive number, got {r.fps!r}")
    problems += ModelEnvelope().problems(r.width, r.height, r.frames, r.fps)
    if r.steps is not None and (not isinstance(r.steps, int) or not 1 <= r.steps <= MAX_STEPS):
        problems.append(f"steps must be a whole number from 1 to {MAX_STEPS}, got {r.steps!r}")
    for modality, params in (("video", r.video_guidance), ("audio", r.audio_guidance)):
        for name in ("cfg", "stg", "modality", "rescale"):
            if params is not None and (problem := finite_problem(f"{modality} guidance {name}", getattr(params, name))):
                problems.append(problem)
    if r.steps is not None and r.pipeline == "distilled":
        problems.append("the distilled pipeline has a fixed schedule: steps cannot be overridden")
    if r.initial_noise is not None:
        unknown = sorted(set(r.initial_noise) - set(NOISE_ORDER) - set(ANCESTRAL_NAMES))
        if unknown:
            problems.append(f"unknown initial-noise names {unknown}; expected some of {list(NOISE_ORDER)}")
    if r.decoder not in DECODERS:
        problems.append(f"decoder must be one of {DECODERS}, got {r.decoder!r}")
    problems.extend(_lora_problems(r))
    if r.draft_latents is not None and r.stage != "render":
        problems.append("draft_latents promote a draft to a render: use stage='render'")
    if r.conditioning is not None and not problems:
        problems.extend(conditioning_problems(r.conditioning, r.frames, float(r.fps)))
    return problems


def _lora_problems(r: GenerationRequest) -> list[str]:
    from model_runtime.errors import LoraError
    from model_runtime.loras.spec import check_strength

    problems = []
    if r.lora_mode not in LORA_MODES:
        problems.append(f"lora_mode must be one of {LORA_MODES}, got {r.lora_mode!r}")
    for spec in r.loras:
        if not isinstance(spec, LoraSpec):
            problems.append(f"loras must be LoraSpec items, got {type(spec).__name__}")
            continue
        try:
            check_strength(spec.strength, f"LoRA {spec.path.name}")
        except LoraError as exc:
            problems.append(str(exc))
    return problems


@dataclass(frozen=True)
class GenerationResult:
    """A finished generation.

    frames: uint8 [F, H, W, 3] (RGB); video: the decoder's float output [1, 3, F, H, W] when the request
    asked to keep it (it is 4x the size of the frames); waveform: float32 [2, N] at `sample_rate`;
    latents: the final latents of each stage that ran ("stage1", "stage2"), to promote a draft;
    settings: everything needed to re-run the job (JSON-serialisable).
    """

    frames: torch.Tensor
    waveform: torch.Tensor
    fps: float
    sample_rate: int
    latents: Mapping[str, StageLatents]
    settings: Mapping[str, Any]
    video: torch.Tensor | None = None

    @property
    def duration_s(self) -> float:
        return self.frames.shape[0] / self.fps


@dataclass(frozen=True)
class PreviewEvent:
    """A cheap look at the current x0 prediction: uint8 RGB [F', H', W', 3] at latent resolution."""

    stage: str
    step: int
    image: torch.Tensor


@dataclass(frozen=True)
class NoticeEvent:
    """Something the user should be told while the job goes on (e.g. it ran out of GPU memory and is
    being retried with a smaller memory plan): a sentence the UI can show as is."""

    message: str


Event = ProgressEvent | PreviewEvent | NoticeEvent

#: receives a job's decoded frames (uint8 [F, H, W, 3]) before its audio is decoded: a caller that writes
#: the clip starts the video encode then (`media.video_encode`). The tensor is the one the result carries
#: (no copy): nothing may change it in place afterwards (an extension builds new frames around it instead,
#: which the writer notices: it then encodes the result's frames itself)
VideoSink = Callable[[torch.Tensor], None]
