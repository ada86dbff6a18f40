"""Tiled decode for LTX-2.5's diffusion video decoder: bounded memory for long, large renders.

The scheme is ltx-core 1.2.0's (its `diffusion_tiling` schedule), built on our conv tiling's pieces:

* stages 1-3 run once on the whole (size-padded, ghost-padded) latent; they are cheap. The last
  deterministic stage and the diffusion stage 5, where the grid and the per-token work are largest, run
  per tile. Tiles live on the stage-4 input grid, where one cell is (2 frames, 8 x 8 px) in 2.5.
* sizes come from the same `TilingConfig` (pixels / frames) the conv decoder takes, split the same way
  (`video_tiling.split_intervals`), but without the conv decoder's aspect scaling and with a floor: a tile is
  at least the last two stages' kernels, a too-short last tile starts earlier, and every overlap is at
  least the stages' one-sided receptive field (`required_overlaps`, raised when the config asks for less).
* temporally a tile holding t=0 drops the upsample's duplicate leading frame; the others keep it, so
  their pixel range starts one frame earlier; the tile holding the end also carries the ghost frames.
  Ramps are symmetric trapezoids (the conv decoder's causal one-longer ramp does not apply).
* x_T is ONE draw of the whole canvas, exactly as the untiled decode draws it, and every tile cuts its
  x_T from it, so a seeded job gives the same pixels tiled or not except near seams. Tiles are blended by
  `video_tiling.blend_tiles`, in float16 when the decoder runs in bf16 (the reference's accum dtype).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from model_runtime.models.tiling_config import TilingConfig, split_intervals

if TYPE_CHECKING:
    import torch

    from model_runtime.models.diffusion_decoder import DiffusionDecoderConfig, DiffusionVideoDecoder
    from model_runtime.models.video_tiling import Span

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TileGrid:
    """Where tiles live: pixels per stage-4-input cell, the smallest tile and the smallest overlaps."""

    scale: tuple[int, int, int]  # (frames, px, px) per cell
    min_cells: tuple[int, int, int]
    overlap_frames: int
    overlap_px: int

    @classmethod
    def of(cls, cfg: DiffusionDecoderConfig) -> TileGrid:
        stride = cfg.upsamples[-1][0]
        k4, k5, d4, d5 = cfg.stage_kernels[-1], cfg.stage5_kernel, cfg.stage_depths[-2], cfg.stage_depths[-1]
        scale = (stride[0], stride[1] * cfg.patch_size, stride[2] * cfg.patch_size)
        min_cells = tuple(max(k4[a], -(-k5[a] // stride[a])) for a in range(3))
        # one-sided receptive field of the tiled stages, in cells: depth x half-kernel each
        halo = [max(d4 * (k4[a] // 2), -(-(d5 * (k5[a] // 2)) // stride[a])) for a in range(3)]
        return cls(scale, min_cells, _round_up(halo[0] * scale[0], 8), _round_up(max(halo[1], halo[2]) * scale[1], 32))

    def fit(self, tiling: TilingConfig) -> TilingConfig:
        """`tiling` with overlaps raised to the receptive field and tiles at least twice their overlap
        (so both ramps fit), every size a whole number of cells."""
        st, sp = self.scale[0], self.scale[1]
        fitted = tiling
        if tiling.spatial_tile_px is not None:
            overlap = max(tiling.spatial_overlap_px, self.overlap_px)
            tile = max(_round_up(tiling.spatial_tile_px, sp), 2 * overlap, self.min_cells[1] * sp)
            fitted = replace(fitted, spatial_tile_px=tile, spatial_overlap_px=overlap)
        if tiling.temporal_tile_frames is not None:
            overlap = max(tiling.temporal_overlap_frames, self.overlap_frames)
            tile = max(_round_up(tiling.temporal_tile_frames, st), 2 * overlap, self.min_cells[0] * st)
            fitted = replace(fitted, temporal_tile_frames=tile, temporal_overlap_frames=overlap)
        if fitted != tiling:
            log.info("diffusion decoder tiling adjusted to its receptive field: %s -> %s", tiling, fitted)
        return fitted


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


@dataclass(frozen=True)
class AxisTile:
    """One tile along one axis: stage-4 cells [start, stop), canvas pixels [px_start, px_stop) and the
    pixel lengths of its blend ramps (0 at the ends of the axis)."""

    start: int
    stop: int
    px_start: int
    px_stop: int
    ramp_left: int
    ramp_right: int

    @property
    def cells(self) -> int:
        return self.stop - self.start

    def span(self, alone: bool) -> Span:
        """As `video_tiling.blend_tiles` takes it: symmetric trapezoid weights (ones when `alone`)."""
        import torch

        from model_runtime.models.video_tiling import Span, trapezoid

        n = self.px_stop - self.px_start
        weights = torch.ones(1) if alone else trapezoid(n, self.ramp_left, self.ramp_right, False)
        return Span(slice(self.start, self.stop), slice(self.px_start, self.px_stop), weights)


def _axis_tiles(length: int, tile: int | None, overlap: int, scale: int, min_cells: int,
                causal: bool) -> tuple[AxisTile, ...]:
    """Tiles of one axis of the stage-4 grid."""
    if tile is None:
        ivs = [(0, length, 0, 0)]
    else:
        size, over = tile // scale, overlap // scale
        ivs = split_intervals(length, max(max(2, over + 1), size), over, min_cells)
    out = []
    for s, e, lr, rr in ivs:
        start, stop = s * scale, e * scale
        if causal and scale == 2:  # the upsample's duplicate leading frame: dropped at t=0, kept elsewhere
            start, stop = start - (1 if s else 0), stop - 1
        out.append(AxisTile(s, e, start, stop, lr * scale, rr * scale))
    return tuple(out)


def stage4_grid(cfg: DiffusionDecoderConfig, latent_thw: tuple[int, int, int]) -> tuple[int, int, int]:
    """Stage-4 input (T, H, W) of a size-padded latent, without ghost frames."""
    t, h, w = latent_thw
    for stride, _ in cfg.upsamples[:-1]:
        t, h, w = (2 * t - 1 if stride[0] == 2 else t * stride[0]), h * stride[1], w * stride[2]
    return t, h, w


@dataclass(frozen=True)
class TileSchedule:
    """The tiles of one decode: spans per axis of the stage-4 grid (`src` cells, `dst` canvas pixels)."""

    grid: tuple[int, int, int]  # stage-4 input (T, H, W) without ghost frames
    temporal: tuple[AxisTile, ...]
    rows: tuple[AxisTile, ...]
    cols: tuple[AxisTile, ...]
    tiling: TilingConfig  # as fitted to the decoder

    @classmethod
    def plan(cls, cfg: DiffusionDecoderConfig, latent_thw: tuple[int, int, int], tiling: TilingConfig) -> TileSchedule:
        """For a latent of `latent_thw` (before the size padding)."""
        g = TileGrid.of(cfg)
        tiling = g.fit(tiling)
        tiling.check(g.scale[1], g.scale[0])
        mins = cfg.min_latent_grid()
        t4, h4, w4 = stage4_grid(cfg, tuple(max(n, m) for n, m in zip(latent_thw, mins, strict=True)))
        spatial = (tiling.spatial_tile_px, tiling.spatial_overlap_px)
        return cls((t4, h4, w4),
                   _axis_tiles(t4, tiling.temporal_tile_frames, tiling.temporal_overlap_frames, g.scale[0],
                               g.min_cells[0], True),
                   _axis_tiles(h4, *spatial, g.scale[1], g.min_cells[1], False),
                   _axis_tiles(w4, *spatial, g.scale[2], g.min_cells[2], False), tiling)

    @property
    def count(self) -> int:
        return len(self.temporal) * len(self.rows) * len(self.cols)

    def largest_tile(self) -> tuple[int, int, int]:
        """Cells (T, H, W) of the largest tile (the trailing temporal tile also carries ghost frames)."""
        return tuple(max(a.cells for a in axis) for axis in (self.temporal, self.rows, self.cols))

    def recompute(self) -> float:
        """Cells the tiles process over the grid's cells (>= 1): the work the overlaps add."""
        done = math.prod(sum(a.cells for a in axis) for axis in (self.temporal, self.rows, self.cols))
        return done / math.prod(self.grid)


def tiled_decode(decoder: DiffusionVideoDecoder, latent: torch.Tensor, tiling: TilingConfig, *,
                 generator: torch.Generator | None = None, noise: torch.Tensor | None = None,
                 steps: int | None = None, store: torch.device | None = None) -> Iterator[torch.Tensor]:
    """Pixel chunks `[B, 3, f, H, W]` of the content in frame order (concatenated: the video).

    `store` (host RAM for a GPU decode): where the stage-4 features, the blend buffers and the chunks live;
    each tile's slice of them goes to the compute device and back. x_T stays where it was drawn (4K 20 s
    is 48 GB of float32 noise) and each tile's cut of it moves alone."""
    import torch

    from model_runtime.models.video_tiling import blend_tiles

    cfg = decoder.cfg
    plan = TileSchedule.plan(cfg, tuple(latent.shape[2:]), tiling)
    padded = decoder.pad(latent)
    noise = decoder.canvas_noise(padded.canvas, latent, generator, noise)
    device, dtype = latent.device, latent.dtype
    n = steps or cfg.num_inference_steps
    t4 = plan.grid[0]
    temporal, rows, cols = ([a.span(len(axis) == 1) for a in axis] for axis in (plan.temporal, plan.rows, plan.cols))
    log.info("diffusion decode in %d x %d x %d tiles", len(temporal), len(rows), len(cols))
    features = decoder.features(padded.latent, store)

    def decode_tile(t: Span, r: Span, c: Span) -> torch.Tensor:
        origin, trailing = t.src.start == 0, t.src.stop == t4
        stop = features.shape[1] if trailing else t.src.stop  # the tile holding the end takes the ghosts
        context = decoder.last_stage(features[:, t.src.start:stop, r.src, c.src].to(device),
                                     drop_leading_frame=origin, crop_ghost=trailing)
        x_t = decoder.stage5_noise(noise[:, :, t.dst, r.dst, c.dst].to(device, dtype), context)
        pixels = decoder.denoise(context, x_t, n)[:, :, : t.dst.stop - t.dst.start]
        return pixels if store is None else pixels.to(store)

    accum = torch.float16 if latent.dtype == torch.bfloat16 else latent.dtype
    first = 0
    for chunk in blend_tiles(decode_tile, temporal, rows, cols, tuple(padded.canvas[3:]), accum):
        out = padded.crop(chunk.to(latent.dtype), first)
        first += chunk.shape[2]
        if out.shape[2]:
            yield out
