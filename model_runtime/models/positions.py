"""Token positions the transformer's RoPE consumes: `[start, end)` bounds per token, as the reference has them.

Video (`[B, 3, F'*H'*W', 2]`, axes time/height/width, token order f-major): each latent voxel covers
pixels `[32h, 32(h+1))` and `[32w, 32(w+1))`; in time it covers frames `[8f, 8(f+1))` shifted by the
causal VAE's first frame (`+1 - 8`, clamped at 0, so frame 0 alone is latent frame 0), then divided by
fps, i.e. seconds. Audio (`[B, 1, T, 2]`): latent frame k covers mel frames `max(0, 4k + 1 - 4)` ..
`4(k+1) + 1 - 4`, in seconds (hop / sample rate). The transformer uses the midpoints; the float32 values
here are what the reference passes (the bf16 production pipeline would round them, the goldens don't).
"""

from __future__ import annotations

import torch

from model_runtime.models.latents import AUDIO_TIMING, VIDEO_SCALE, AudioTiming, VideoScale

#: the causal VAEs encode the first pixel/mel frame alone: bounds shift by (1 - scale), clamped at 0
CAUSAL_OFFSET = 1


def video_positions(frames: int, height: int, width: int, fps: float, *, batch: int = 1,
                    scale: VideoScale = VIDEO_SCALE, device: torch.device | str | None = None) -> torch.Tensor:
    """Bounds `[B, 3, frames*height*width, 2]` (float32) of a `[frames, height, width]` latent grid."""
    grid = torch.meshgrid(
        torch.arange(frames, dtype=torch.float32, device=device),
        torch.arange(height, dtype=torch.float32, device=device),
        torch.arange(width, dtype=torch.float32, device=device),
        indexing="ij",
    )
    start = torch.stack(grid, dim=0).flatten(1)  # [3, T] latent indices
    bounds = torch.stack([start, start + 1], dim=-1)  # [3, T, 2]
    factors = torch.tensor([scale.time, scale.height, scale.width], dtype=torch.float32, device=device)
    pixels = bounds * factors.view(3, 1, 1)
    time = (pixels[0] + CAUSAL_OFFSET - scale.time).clamp(min=0) / fps
    pixels = torch.cat([time.unsqueeze(0), pixels[1:]], dim=0)
    return pixels.unsqueeze(0).expand(batch, -1, -1, -1).contiguous()


def audio_positions(frames: int, *, batch: int = 1, timing: AudioTiming = AUDIO_TIMING,
                    device: torch.device | str | None = None) -> torch.Tensor:
    """Bounds `[B, 1, frames, 2]` (float32, seconds) of `frames` audio latent frames."""
    k = torch.arange(frames, dtype=torch.float32, device=device)
    bounds = torch.stack([k, k + 1], dim=-1) * timing.downsample  # [T, 2] in mel frames
    mel = (bounds + CAUSAL_OFFSET - timing.downsample).clamp(min=0)
    seconds = mel * timing.hop_length / timing.sample_rate
    return seconds.view(1, 1, frames, 2).expand(batch, -1, -1, -1).contiguous()


def keyframes_mask(frames: int, height: int, width: int, *, batch: int = 1,
                   device: torch.device | str | None = None) -> torch.Tensor:
    """`[B, frames*height*width, 1]` float32: 1 on the tokens of latent frames that encode ONE pixel frame.

    With the causal VAE that is always latent frame 0 (pixel frame 0 alone); LTX-2.5 adds its learned
    `keyframes_abs_pos_embedding` to these tokens in every generation, text-to-video included (ltx-core
    1.2.0 `VideoLatentTools`). Keyframe-conditioning slots would mark more frames; none are generated here.
    """
    mask = torch.zeros(batch, frames, height * width, 1, dtype=torch.float32, device=device)
    mask[:, 0] = 1.0
    return mask.reshape(batch, frames * height * width, 1)
