"""Cheap previews: a latent -> RGB projection at latent resolution (no VAE decode).

A VAE decode costs as much as several denoising steps at full size; a preview must cost nothing. The
projection averages three fixed channel groups of the x0 prediction and maps them through a soft
normalisation, which shows layout and motion (not true colours) one voxel per 32x32 pixels. A fitted
latent->RGB matrix can replace `_project` later without changing the event.
"""

from __future__ import annotations

import torch


def _project(latent: torch.Tensor) -> torch.Tensor:
    """[C, F, H, W] -> [3, F, H, W]: the means of three contiguous channel groups."""
    groups = torch.tensor_split(latent.float(), 3, dim=0)
    return torch.stack([g.mean(dim=0) for g in groups])


@torch.no_grad()
def preview_rgb(video_latent: torch.Tensor) -> torch.Tensor:
    """Natural video latent [1, C, F', H', W'] -> uint8 RGB [F', H', W', 3] on the CPU."""
    rgb = _project(video_latent[0].detach())
    rgb = rgb / (rgb.std() + 1e-6)
    rgb = torch.sigmoid(rgb) * 255.0
    return rgb.to(torch.uint8).permute(1, 2, 3, 0).contiguous().cpu()
