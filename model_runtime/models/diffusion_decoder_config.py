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


#: query tile (T, H, W) of the batched neighbourhood attention (`diffusion_decoder.neighborhood_attention`).
#: A tile of `b` positions on an axis with kernel `k` scores `b + k - 1` keys per query where the window has
#: `k` (waste), and gathers each key block once per tile (copies): small tiles waste fewer scores, large ones
#: copy more rarely. 2 x 4 x 4 scores 1.3-2.7x the window for the 3x3x3-3x7x7 kernels; on the tiny decoder
#: (CPU) it ran within timing noise of the fastest of the tiles tried (1x1x1 to 3x8x8), where the former
#: whole-volume tiles scored up to ~100x the window and built a mask as large.
NA_TILE: Kernel = (2, 4, 4)
#: ltx-core 1.2.0's default decode mode (CHUNKED_EAGER) runs stage-5 attention on 4 W slabs (`w_chunked`)
STAGE5_W_CHUNKS = 4


@dataclass(frozen=True)
class AxisBlocks:
    """One axis of the batched neighbourhood attention: `count` query tiles of `size` positions (the last
    padded by repeating the final position), each scoring a key block of `keys` positions that holds every
    window of its queries. Torch-free, so the planner counts the attention the runtime really computes."""

    count: int
    size: int
    keys: int

    @classmethod
    def of(cls, length: int, kernel: int, tile: int) -> AxisBlocks:
        size = min(tile, length)
        return cls(-(-length // size), size, min(length, size + min(kernel, length) - 1))


def na_score_pairs(grid: tuple[int, int, int], kernel: Kernel) -> int:
    """(query, key) pairs the batched neighbourhood attention scores on a `grid`: padded queries x key block."""
    blocks = [AxisBlocks.of(d, k, b) for d, k, b in zip(grid, kernel, NA_TILE, strict=True)]
    return math.prod(a.count * a.size for a in blocks) * math.prod(a.keys for a in blocks)


def w_slabs(width: int, chunks: int = STAGE5_W_CHUNKS) -> list[tuple[int, int]]:
    """(start, end) of the kept columns of each stage-5 W slab; every slab is `ceil(W / chunks) + 2 * halo`
    wide (`kernel_w // 2` halo columns each side, edge copies at the volume's borders)."""
    chunk = -(-width // chunks)
    return [(i * chunk, min(width, (i + 1) * chunk)) for i in range(chunks) if i * chunk < width]
