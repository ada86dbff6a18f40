"""Golden section (c): video VAE decode, encode and tiled decode.

Every `vae.*` golden with a comparison tolerance is checked; one this module does not know how to
compute is reported as a failed comparison rather than skipped, so a golden set with more tensors
cannot pass silently.
"""

from __future__ import annotations

import logging

import torch

from model_runtime.goldens import Comparison, GoldenContext
from model_runtime.models.video_vae import VIDEO_DECODER_SPEC, VIDEO_ENCODER_SPEC, TilingConfig, decode_video

log = logging.getLogger(__name__)

PREFIX = "vae."


def _compute(ctx: GoldenContext) -> dict[str, torch.Tensor]:
    decoder = ctx.module(VIDEO_DECODER_SPEC)
    encoder = ctx.module(VIDEO_ENCODER_SPEC)
    out: dict[str, torch.Tensor] = {}
    with torch.inference_mode():
        if ctx.has("vae.decode.latent"):
            out["vae.decode.video"] = decoder(ctx.tensor("vae.decode.latent"))
        if ctx.has("vae.conv_decode.latent"):  # LTX-2.5: the conv decoder of the conv VAE file
            out["vae.conv_decode.video"] = decoder(ctx.tensor("vae.conv_decode.latent"))
        if ctx.has("vae.diff_decode.latent"):
            out.update(_diffusion_decode(ctx))
        if ctx.has("vae.encode.video"):
            out["vae.encode.latent"] = encoder(ctx.tensor("vae.encode.video"))
        if ctx.has("vae.tiled_decode.latent"):
            tiling = TilingConfig.from_values(ctx.tensor("vae.tiled_decode.tiling").tolist())
            chunks = list(decode_video(decoder, ctx.tensor("vae.tiled_decode.latent"), tiling))
            log.info("tiled decode %s: %d chunk(s) of %s frames", tiling, len(chunks), [c.shape[2] for c in chunks])
            out["vae.tiled_decode.video"] = torch.cat(chunks, dim=2)
    return out


def _diffusion_decode(ctx: GoldenContext) -> dict[str, torch.Tensor]:
    """LTX-2.5's diffusion decoder on the stored latent from the stored pixel noise (or the seed)."""
    from model_runtime.models.diffusion_decoder import VIDEO_DIFFUSION_DECODER_SPEC, DecodeTrace

    decoder = ctx.module(VIDEO_DIFFUSION_DECODER_SPEC)
    trace = DecodeTrace()
    noise = ctx.tensor("vae.diff_decode.noise") if ctx.has("vae.diff_decode.noise") else None
    seed = int(ctx.tensor("vae.diff_decode.seed")) if ctx.has("vae.diff_decode.seed") else 0
    generator = torch.Generator("cpu").manual_seed(seed)
    video = decoder.decode(ctx.tensor("vae.diff_decode.latent"), generator=generator, noise=noise, trace=trace)
    out = {"vae.diff_decode.output": video, "vae.diff_decode.timesteps": trace.timesteps}
    out.update({f"vae.diff_decode.velocity_step{i}": v for i, v in enumerate(trace.predictions)})
    return out


def run(ctx: GoldenContext) -> list[Comparison]:
    return ctx.compare_all(PREFIX, _compute(ctx))
