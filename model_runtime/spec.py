"""The serialisable form of a generation request: what a job record, a queue or an MP4's metadata holds.

A `RequestSpec` is a `GenerationRequest` without tensors and without defaults: guidance and steps are
the user's overrides (None = the runtime's default for the loaded model), draft latents are a file path.
`Runtime.request(spec)` turns it into the `GenerationRequest` a pipeline runs, filling the defaults from
the model (`pipelines.dev.defaults_for`), so no caller keeps its own copy of them. Torch-free on purpose:
the app's GUI thread builds and stores specs without importing torch.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from enum import StrEnum
from pathlib import Path
from typing import Any


class Stage(StrEnum):
    """One stage at the requested size (a fast draft), or two stages with a x2 upsample (a render)."""

    DRAFT = "draft"
    RENDER = "render"


class Pipeline(StrEnum):
    """The distilled weights' fixed 8-step schedule, or the dev weights with multi-modal guidance."""

    DISTILLED = "distilled"
    DEV = "dev"


class Device(StrEnum):
    """Where a job runs: an NVIDIA GPU, Apple silicon, or the CPU."""

    CUDA = "cuda"
    MPS = "mps"
    CPU = "cpu"


#: pixel grid a size must sit on: one stage decodes at the latent grid (32 px); a two-stage render runs
#: its first stage at half size, so its size must be a multiple of twice the grid
SIZE_MULTIPLE: dict[Stage, int] = {Stage.DRAFT: 32, Stage.RENDER: 64}
#: frames = TEMPORAL_STRIDE * k + 1 (the video VAE compresses time 8x and keeps the first frame alone)
TEMPORAL_STRIDE = 8


@dataclass(frozen=True)
class ModelPaths:
    """The user's model files: the LTX-2.3 single file, the x2 spatial upscaler, the Gemma-3 folder."""

    checkpoint: Path
    upsampler: Path | None = None
    text_encoder_dir: Path | None = None


@dataclass(frozen=True)
class RequestSpec:
    """What to generate, as plain data (JSON round-trip). Overrides left None take the model's defaults."""

    prompt: str
    width: int
    height: int
    frames: int
    fps: float
    seed: int = 0
    negative_prompt: str | None = None
    stage: Stage = Stage.DRAFT
    pipeline: Pipeline = Pipeline.DISTILLED
    steps: int | None = None
    video_cfg: float | None = None
    audio_cfg: float | None = None
    stg: float | None = None
    modality: float | None = None
    draft_latents: str | None = None   # a draft's stage-1 latents file (safetensors): promotion to a render
    tiled_decode: bool = False
    previews: bool = True

    def __post_init__(self) -> None:
        # a spec read back from JSON carries plain strings: make them the enums (a bad name raises ValueError)
        object.__setattr__(self, "stage", Stage(self.stage))
        object.__setattr__(self, "pipeline", Pipeline(self.pipeline))

    def guidance_overrides(self) -> tuple[dict[str, float], dict[str, float]]:
        """The user's guidance values per modality (video, audio), only those that were set."""
        shared = {k: v for k, v in (("stg", self.stg), ("modality", self.modality)) if v is not None}
        video = shared | ({"cfg": self.video_cfg} if self.video_cfg is not None else {})
        audio = shared | ({"cfg": self.audio_cfg} if self.audio_cfg is not None else {})
        return video, audio

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["stage"], d["pipeline"] = str(self.stage), str(self.pipeline)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RequestSpec:
        """Read a spec back, ignoring keys this version does not know (metadata from other versions)."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})

    def with_changes(self, **kw: Any) -> RequestSpec:
        return replace(self, **kw)
