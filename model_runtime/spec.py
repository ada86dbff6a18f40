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

from model_runtime.loras.spec import LoraSpec


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
    """The user's model files. LTX-2.3: the single file (`checkpoint`), the x2 spatial upscaler, the Gemma-3
    folder (`text_encoder_dir`) and the distilled LoRA the dev two-stage render refines with (ltx-pipelines'
    `--distilled-lora`). LTX-2.5: the split files (`transformer`, `text_encoder` = the packed Gemma-4 file,
    `video_vae` = the diffusion VAE, `video_vae_conv`, `audio_vae`, `duration_head`) and the upscaler. Which
    family it is comes from the files' headers (`model_files`)."""

    checkpoint: Path | None = None
    upsampler: Path | None = None
    text_encoder_dir: Path | None = None
    distilled_lora: LoraSpec | None = None
    transformer: Path | None = None
    text_encoder: Path | None = None
    video_vae: Path | None = None
    video_vae_conv: Path | None = None
    audio_vae: Path | None = None
    duration_head: Path | None = None

    def model_files(self):
        """The identified, cross-checked `families.ModelFiles` (headers only; one sentence for a wrong file)."""
        from model_runtime.errors import InvalidRequestError
        from model_runtime.families import ModelFiles

        if self.checkpoint is not None and self.transformer is not None:
            raise InvalidRequestError("give either an LTX-2.3 single checkpoint or LTX-2.5 split files, not both")
        if self.checkpoint is not None:
            return ModelFiles.single(self.checkpoint, self.upsampler, self.text_encoder_dir)
        if self.transformer is None:
            raise InvalidRequestError("no model given: an LTX-2.3 checkpoint file or an LTX-2.5 transformer file")
        return ModelFiles.split(self.transformer, text_encoder=self.text_encoder or self.text_encoder_dir,
                                video_vae=self.video_vae, video_vae_conv=self.video_vae_conv,
                                audio_vae=self.audio_vae, upsampler=self.upsampler, duration_head=self.duration_head)


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
    decoder: str = "auto"  # LTX-2.5 video decoder: "diffusion" (Sharp), "conv" (Fast), auto = by stage
    loras: tuple[LoraSpec, ...] = ()  # in application order; sha256 pins the exact file for a re-run
    lora_mode: str = "live"

    def __post_init__(self) -> None:
        # a spec read back from JSON carries plain strings: make them the enums (a bad name raises ValueError)
        object.__setattr__(self, "stage", Stage(self.stage))
        object.__setattr__(self, "pipeline", Pipeline(self.pipeline))
        object.__setattr__(self, "loras", tuple(x if isinstance(x, LoraSpec) else LoraSpec.from_dict(x)
                                                for x in self.loras))

    def guidance_overrides(self) -> tuple[dict[str, float], dict[str, float]]:
        """The user's guidance values per modality (video, audio), only those that were set."""
        shared = {k: v for k, v in (("stg", self.stg), ("modality", self.modality)) if v is not None}
        video = shared | ({"cfg": self.video_cfg} if self.video_cfg is not None else {})
        audio = shared | ({"cfg": self.audio_cfg} if self.audio_cfg is not None else {})
        return video, audio

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["stage"], d["pipeline"] = str(self.stage), str(self.pipeline)
        d["loras"] = [x.to_dict() for x in self.loras]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RequestSpec:
        """Read a spec back, ignoring keys this version does not know (metadata from other versions)."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})

    def with_changes(self, **kw: Any) -> RequestSpec:
        return replace(self, **kw)
