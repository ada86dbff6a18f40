"""LTX-2.x latent spatial upsampler (x2): the bridge between the half-resolution draft and the refinement.

The upsampler ships as its own safetensors file with bare keys and its own `config` metadata
(`_class_name: LatentUpsampler`). diffusers' `LTX2LatentUpsamplerModel` has the reference's layout
and operation order (initial conv -> GroupNorm(32) -> SiLU -> res blocks -> per-frame Conv2d + pixel
shuffle, or the rational resampler -> res blocks -> final conv), with the same parameter names, so the
key map is the identity; only two config keys are spelled differently (`spatial_scale` ->
`rational_spatial_scale`, `rational_resampler` -> `use_rational_resampler`).

The upsampler works on UN-normalized latents: `upsample_video_latent` un-normalizes with the VIDEO
VAE's per-channel statistics, upsamples and normalizes again, exactly as the reference pipelines do.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from torch import nn

from model_runtime.checkpoints import CheckpointInfo, inspect_upsampler
from model_runtime.errors import UnsupportedModelError
from model_runtime.loading import ComponentSpec, LoadReport, load_component
from model_runtime.models.video_vae import PerChannelStatistics

log = logging.getLogger(__name__)


def build_upsampler(config: dict) -> nn.Module:
    """Build from the upsampler file's own config, with ltx-core 1.0's defaults for absent keys."""
    from diffusers.pipelines.ltx2.latent_upsampler import LTX2LatentUpsamplerModel

    if config.get("_class_name", "LatentUpsampler") != "LatentUpsampler":
        raise UnsupportedModelError(f"not a latent upsampler config: {config.get('_class_name')!r}")
    dims = config.get("dims", 3)
    if dims not in (2, 3):
        raise UnsupportedModelError(f"latent upsampler dims={dims} is not supported")
    return LTX2LatentUpsamplerModel(
        in_channels=config.get("in_channels", 128),
        mid_channels=config.get("mid_channels", 512),
        num_blocks_per_stage=config.get("num_blocks_per_stage", 4),
        dims=dims,
        spatial_upsample=config.get("spatial_upsample", True),
        temporal_upsample=config.get("temporal_upsample", False),
        rational_spatial_scale=float(config.get("spatial_scale", 2.0)),
        use_rational_resampler=config.get("rational_resampler", False),
    )


def _identity(key: str) -> str:
    return key


UPSAMPLER_SPEC = ComponentSpec(name="spatial_upsampler", prefix="", build=build_upsampler,
                               rename=_identity, unrename=_identity)


def load_upsampler(
    path: str | Path, *, dtype: torch.dtype | None = torch.float32, device: torch.device | str = "cpu",
    strict: bool = True, mapped: bool = False, min_mapped_bytes: int | None = None,
) -> tuple[nn.Module, CheckpointInfo, LoadReport]:
    """Validate an upsampler file (refuses checkpoints and temporal-only upsamplers) and load it strictly.
    `mapped` (CPU): large weights stay in the mapped file, upcast per layer (`mapped`)."""
    from model_runtime.mapped import MappedFile

    info = inspect_upsampler(path)
    module, report = load_component(info.header, UPSAMPLER_SPEC, info.config, dtype=dtype, device=device,
                                    strict=strict, mapped=MappedFile(info.header) if mapped else None,
                                    min_mapped_bytes=min_mapped_bytes)
    return module, info, report


def upsample_video_latent(latent: torch.Tensor, upsampler: nn.Module, stats: PerChannelStatistics) -> torch.Tensor:
    """Normalized latent [B, C, F', H', W'] -> normalized latent [B, C, F', 2H', 2W'].

    `stats` is the video VAE's `per_channel_statistics` (the encoder's and decoder's are the same
    tensors in the file)."""
    return stats.normalize(upsampler(stats.un_normalize(latent)))
