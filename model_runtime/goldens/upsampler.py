"""Golden section (e): spatial latent upsampler x2 with the pipeline's un-normalize / normalize.

The upsampler comes from its own file with its own `config` metadata; the statistics are the video
VAE's (`vae.per_channel_statistics`, taken from the loaded encoder as the reference does).
"""

from __future__ import annotations

import torch

from model_runtime.checkpoints import inspect_upsampler
from model_runtime.goldens import Comparison, GoldenContext
from model_runtime.models.upsampler import UPSAMPLER_SPEC, upsample_video_latent
from model_runtime.models.video_vae import VIDEO_ENCODER_SPEC

PREFIX = "upsampler."


def _compute(ctx: GoldenContext) -> dict[str, torch.Tensor]:
    info = inspect_upsampler(ctx.files.file_for(UPSAMPLER_SPEC.name).path)
    upsampler = ctx.module(UPSAMPLER_SPEC, path=info.path, config=info.config)
    stats = ctx.module(VIDEO_ENCODER_SPEC).per_channel_statistics
    latent = ctx.tensor("upsampler.latent")
    with torch.inference_mode():
        un_normalized = stats.un_normalize(latent)
        raw = upsampler(un_normalized)
        output = upsample_video_latent(latent, upsampler, stats)
    return {"upsampler.un_normalized": un_normalized, "upsampler.raw_output": raw, "upsampler.output": output}


def run(ctx: GoldenContext) -> list[Comparison]:
    return ctx.compare_all(PREFIX, _compute(ctx))

