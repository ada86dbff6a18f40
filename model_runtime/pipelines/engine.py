"""What a pipeline needs from the models: a small protocol, so pipelines stay policy.

`runtime.ModelEngine` implements it over the real, lazily loaded LTX-2.3 components; tests implement it
with hand-written fakes (no mocks, no weights). Latents cross it in token layout for the transformer
and in natural layout for the upsampler and decoders (see `pipelines.geometry`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import torch

from model_runtime.pipelines.geometry import Geometry

if TYPE_CHECKING:
    from model_runtime.pipelines.types import LoraSpec


@dataclass(frozen=True)
class PromptContexts:
    """One prompt's text conditioning: what the video and audio text cross-attentions consume."""

    video: torch.Tensor
    audio: torch.Tensor


@dataclass(frozen=True)
class Perturbation:
    """A guidance pass's change to the transformer.

    video_stg_blocks / audio_stg_blocks: blocks whose video / audio self-attention is replaced by its
    value projection (STG; the gate still applies).
    isolate_modalities: skip the audio->video and video->audio cross-attention in every block.
    """

    video_stg_blocks: tuple[int, ...] = ()
    audio_stg_blocks: tuple[int, ...] = ()
    isolate_modalities: bool = False


NO_PERTURBATION = Perturbation()


@dataclass(frozen=True)
class DecodedAudio:
    waveform: torch.Tensor  # float32 [2, N] on the CPU
    sample_rate: int


class Engine(Protocol):
    """Model operations, each on one sample (batch 1)."""

    @property
    def config(self) -> dict:
        """The checkpoint's embedded config (latent channels, audio timing, ...)."""
        ...

    @property
    def model_version(self) -> str: ...

    @property
    def device(self) -> torch.device:
        """Where latents live during sampling (noise is drawn on the CPU and moved here)."""
        ...

    @property
    def distilled_lora(self) -> LoraSpec | None:
        """The install's distilled LoRA (the dev two-stage render refines with it), if it has one."""
        ...

    def use_loras(self, loras: tuple[LoraSpec, ...], mode: str) -> tuple[dict[str, Any], ...]:
        """Run the transformer with `loras` from the next `denoise` on. Each file is checked now (a bad
        one raises before anything heavy runs); returns each one's provenance (name, path, strength,
        sha256) for the result's settings."""
        ...

    def encode_prompts(self, prompts: tuple[str, ...]) -> tuple[PromptContexts, ...]:
        """Encode a job's prompts together (one text-encoder residency)."""
        ...

    def denoise(self, video: torch.Tensor, audio: torch.Tensor, sigma: torch.Tensor, geometry: Geometry,
                contexts: PromptContexts, perturbation: Perturbation = NO_PERTURBATION,
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """x0 predictions (float32 token layouts) for noisy token-layout latents at scalar `sigma`."""
        ...

    def upsample(self, video_latent: torch.Tensor) -> torch.Tensor:
        """Normalized natural video latent [1, C, F', H', W'] -> [1, C, F', 2H', 2W'] (normalized)."""
        ...

    def decode_video(self, video_latent: torch.Tensor, tiled: bool) -> Iterator[torch.Tensor]:
        """Normalized natural video latent -> float pixel chunks [1, 3, f, H, W] on the CPU (not clamped),
        in frame order (one chunk when untiled; tiling bounds the decoder's memory on long/large videos)."""
        ...

    def decode_audio(self, audio_latent: torch.Tensor) -> DecodedAudio: ...
