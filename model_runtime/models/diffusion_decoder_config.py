"""The diffusion video decoder's config (`vae.decoder` of a `CausalDiffusionVAE` file), apart from its torch
module (`diffusion_decoder`) so that planning a job from file headers (the memory planner, the app's GUI
thread) reads it without importing torch."""

from __future__ import annotations

import math
from dataclasses import dataclass

from model_runtime.errors import UnsupportedModelError

Kernel = tuple[int, int, int]


@dataclass(frozen=True)
class DiffusionDecoderConfig:
    """`vae.decoder` of a `CausalDiffusionVAE` file, with ltx-core 1.2.0's class defaults for absent keys."""

    in_channels: int = 128
    out_channels: int = 3
    patch_size: int = 4
    head_dim: int = 64
    stage_channels: tuple[int, ...] = (1024, 512, 256, 256, 128)
    stage_depths: tuple[int, ...] = (4, 6, 4, 2, 8)
    stage_kernels: tuple[Kernel, ...] = ((3, 7, 7), (3, 7, 7), (3, 5, 5), (3, 5, 5), (3, 3, 3))
    upsamples: tuple[tuple[Kernel, int], ...] = (((1, 2, 2), 2), ((2, 1, 1), 2), ((2, 2, 2), 1), ((2, 2, 2), 2))
    stage5_kernel: Kernel = (3, 7, 7)
    stage5_channels: int | None = None
    t_emb_dim: int = 384
    num_inference_steps: int = 2
    timestep_scale_multiplier: float = 1.0
    model_output_type: str = "v"

    @classmethod
    def from_vae_section(cls, vae: dict) -> DiffusionDecoderConfig:
        d = vae.get("decoder", vae)
        kw: dict = {}
        if "stage_channels" in d:
            kw["stage_channels"] = tuple(int(c) for c in d["stage_channels"])
        if "stage_depths" in d:
            kw["stage_depths"] = tuple(int(c) for c in d["stage_depths"])
        if "stage_kernels" in d:
            kw["stage_kernels"] = tuple(tuple(int(k) for k in kern) for kern in d["stage_kernels"])
        if "upsamples" in d:
            kw["upsamples"] = tuple((tuple(int(s) for s in stride), int(red)) for stride, red in d["upsamples"])
        if "stage5_kernel" in d:
            kw["stage5_kernel"] = tuple(int(k) for k in d["stage5_kernel"])
        cfg = cls(
            in_channels=int(d.get("in_channels", vae.get("latent_channels", 128))),
            out_channels=int(d.get("out_channels", 3)), patch_size=int(d.get("patch_size", 4)),
            head_dim=int(d.get("head_dim", d.get("na_head_dim", 64))), stage5_channels=d.get("stage5_channels"),
            t_emb_dim=int(d.get("t_emb_dim", 384)), num_inference_steps=int(d.get("default_num_inference_steps", 2)),
            timestep_scale_multiplier=float(d.get("timestep_scale_multiplier", 1.0)),
            model_output_type=str(vae.get("model_output_type", "v")), **kw)
        cfg._check()
        return cfg

    def _check(self) -> None:
        problems = []
        n = len(self.stage_channels)
        if not (len(self.stage_depths) == len(self.stage_kernels) == n and len(self.upsamples) == n - 1):
            problems.append("stage_channels / stage_depths / stage_kernels / upsamples lengths disagree")
        if any(c % self.head_dim for c in (*self.stage_channels, self.c5)):
            problems.append(f"stage widths must be multiples of head_dim={self.head_dim}")
        if self.model_output_type not in ("v", "x0"):
            problems.append(f"model_output_type={self.model_output_type!r}")
        if self.num_inference_steps < 1:
            problems.append(f"default_num_inference_steps={self.num_inference_steps}")
        if problems:
            raise UnsupportedModelError("diffusion video decoder config not supported: " + "; ".join(problems))

    @property
    def c5(self) -> int:
        return int(self.stage5_channels or self.stage_channels[-1])

    @property
    def trailing_pad_frames(self) -> int:
        return (self.stage_kernels[0][0] // 2) * 2

    @property
    def time_scale(self) -> int:
        return math.prod(s[0] for s, _ in self.upsamples)

    @property
    def space_scale(self) -> tuple[int, int]:
        return (math.prod(s[1] for s, _ in self.upsamples) * self.patch_size,
                math.prod(s[2] for s, _ in self.upsamples) * self.patch_size)

    def canvas_shape(self, latent_shape: tuple[int, ...]) -> tuple[int, ...]:
        """Pixel noise shape for a latent `[B, C, F', H', W']`: the latent padded to `min_latent_grid`,
        upscaled (what x_T is drawn on)."""
        b, _, f, h, w = latent_shape
        mt, mh, mw = self.min_latent_grid()
        sh, sw = self.space_scale
        return (b, self.out_channels, self.time_scale * (max(f, mt) - 1) + 1, max(h, mh) * sh, max(w, mw) * sw)

    def min_latent_grid(self) -> tuple[int, int, int]:
        """Smallest latent (T, H, W) on which every stage's window fits (ltx-core `all_stages_min_tile_size`)."""
        mins, cum = [1, 1, 1], [1, 1, 1]
        for i, (stride, _) in enumerate(self.upsamples):
            for a in range(3):
                mins[a] = max(mins[a], -(-self.stage_kernels[i][a] // cum[a]))
            cum = [cum[a] * stride[a] for a in range(3)]
        for a in range(3):
            mins[a] = max(mins[a], -(-self.stage5_kernel[a] // cum[a]))
        return mins[0], mins[1], mins[2]
