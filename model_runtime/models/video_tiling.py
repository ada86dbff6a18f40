"""Tiled video decoding: decode a large latent tile by tile and blend, yielding frame chunks.

Reproduces the semantics of the reference's `VideoDecoder.tiled_decode` (ltx-core 1.0), which the
golden `vae.tiled_decode.video` pins down:

* Spatial tiles are chosen in latent cells: tile = px / scale, overlap = px / scale, but each axis's tile
  length is scaled by axis / long side (so a portrait frame gets narrower tiles across its short side)
  and kept >= max(2, overlap + 1). Tiles start every (tile - overlap) cells; the last one ends at the edge.
* Temporal tiles are chosen in latent frames the same way, then every tile after the first starts one
  latent frame earlier (causality: its first latent frame decodes to a single pixel frame) with a ramp one
  longer. Latent [s, e) maps to pixel frames [s*t, 1 + (e-1)*t).
* Each tile is weighted by a separable trapezoid (linear ramps over the overlaps); tiles of one temporal
  slice are summed into a buffer with their weights; consecutive temporal buffers are merged over their
  overlap, and everything before the next slice's start is emitted normalized by the summed weights.

Memory: only two temporal slices of pixels are alive at a time, so a caller can stream chunks to the
encoder instead of holding the whole video.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import torch

from model_runtime.models.tiling_config import TilingConfig, split_intervals


@dataclass(frozen=True)
class Span:
    """One tile along one axis: latent input range, output range, and its 1-D blend weights."""

    src: slice
    dst: slice
    weights: torch.Tensor


def trapezoid(length: int, ramp_left: int, ramp_right: int, left_from_zero: bool) -> torch.Tensor:
    """Ones with linear ramps; `left_from_zero` starts the left ramp at exactly 0 (temporal tiles)."""
    ramp_left, ramp_right = max(0, min(ramp_left, length)), max(0, min(ramp_right, length))
    mask = torch.ones(length)
    if ramp_left > 0:
        ramp = torch.linspace(0.0, 1.0, ramp_left + (1 if left_from_zero else 2))[:-1]
        mask[:ramp_left] *= ramp if left_from_zero else ramp[1:]
    if ramp_right > 0:
        mask[-ramp_right:] *= torch.linspace(1.0, 0.0, ramp_right + 2)[1:-1]
    return mask.clamp_(0, 1)


def spatial_spans(length: int, long_side: int, tile_px: int | None, overlap_px: int, scale: int) -> list[Span]:
    if tile_px is None:
        return [Span(slice(0, length), slice(0, length * scale), torch.ones(1))]
    size, overlap = tile_px // scale, overlap_px // scale
    size = max(max(2, overlap + 1), round(size * length / long_side))
    return [Span(slice(s, e), slice(s * scale, e * scale), trapezoid((e - s) * scale, lr * scale, rr * scale, False))
            for s, e, lr, rr in split_intervals(length, size, overlap)]


def temporal_spans(length: int, tile_frames: int | None, overlap_frames: int, scale: int) -> list[Span]:
    if tile_frames is None:
        return [Span(slice(0, length), slice(0, 1 + (length - 1) * scale), torch.ones(1))]
    size, overlap = tile_frames // scale, overlap_frames // scale
    spans = []
    for i, (s, e, lr, rr) in enumerate(split_intervals(length, size, overlap)):
        if i and length > size:  # causal shift: start one latent frame earlier, ramp one longer
            s, lr = s - 1, lr + 1
        start, stop = s * scale, 1 + (e - 1) * scale
        ramp_left = 0 if lr == 0 else 1 + (lr - 1) * scale
        spans.append(Span(slice(s, e), slice(start, stop), trapezoid(stop - start, ramp_left, rr * scale, True)))
    return spans


TileDecoder = Callable[[Span, Span, Span], torch.Tensor]
"""Decodes the tile at (temporal, row, column) spans to pixels `[B, C, f, h, w]` (f may exceed the span)."""


def _accumulate(decode_tile: TileDecoder, t: Span, rows: Sequence[Span], cols: Sequence[Span], out_hw, buffer_dtype):
    """Decode every spatial tile of one temporal slice into a weighted sum and its weights."""
    frames = t.dst.stop - t.dst.start
    buffer = weights = None
    for r, c in itertools.product(rows, cols):
        tile = decode_tile(t, r, c)
        if buffer is None:
            shape = (tile.shape[0], tile.shape[1], frames, *out_hw)
            buffer = torch.zeros(shape, device=tile.device, dtype=buffer_dtype or tile.dtype)
            weights = torch.zeros_like(buffer)
        mask = (t.weights.view(-1, 1, 1) * r.weights.view(1, -1, 1)) * c.weights.view(1, 1, -1)
        mask = mask.to(device=buffer.device, dtype=buffer.dtype)
        n = min(frames, tile.shape[2])
        mask = mask[:n] if mask.shape[0] > 1 else mask
        buffer[:, :, :n, r.dst, c.dst] += tile[:, :, :n] * mask
        weights[:, :, :n, r.dst, c.dst] += mask
    return buffer, weights


def blend_tiles(decode_tile: TileDecoder, temporal: Sequence[Span], rows: Sequence[Span], cols: Sequence[Span],
                out_hw: tuple[int, int], buffer_dtype: torch.dtype | None = None) -> Iterator[torch.Tensor]:
    """Decode tiles slice by slice and yield the blended frames in order (shared by the conv and the
    diffusion decoder: only how a tile decodes and where the spans lie differ).

    Tiles of one temporal slice are summed with their weights; consecutive slices merge over their
    overlap; everything before the next slice's start is emitted normalized by the summed weights.
    """
    prev = prev_w = prev_t = None
    for t in temporal:
        buffer, weights = _accumulate(decode_tile, t, rows, cols, out_hw, buffer_dtype)
        if prev is not None:
            overlap = prev_t.stop - t.dst.start
            if overlap > 0:  # merge the overlap into the earlier buffer, then carry it forward
                tail = slice(t.dst.start - prev_t.start, None)
                prev[:, :, tail] += buffer[:, :, :overlap]
                prev_w[:, :, tail] += weights[:, :, :overlap]
                buffer[:, :, :overlap] = prev[:, :, tail]
                weights[:, :, :overlap] = prev_w[:, :, tail]
            done = t.dst.start - prev_t.start  # frames no later tile touches
            if done > 0:  # the reference also yields empty chunks when two slices start together; we skip them
                yield (prev / prev_w.clamp(min=1e-8))[:, :, :done]
        prev, prev_w, prev_t = buffer, weights, t.dst
    if prev is not None:
        yield prev / prev_w.clamp(min=1e-8)


def tiled_decode(
    decode: Callable[[torch.Tensor], torch.Tensor],
    latent: torch.Tensor,
    tiling: TilingConfig,
    spatial_scale: int,
    temporal_scale: int,
) -> Iterator[torch.Tensor]:
    """Yield decoded pixel chunks [B, 3, f, H, W] in frame order; concatenated on dim 2 they are the video.

    `decode` maps a latent tile to pixels (the decoder module, which un-normalizes itself).
    """
    tiling.check(spatial_scale, temporal_scale)
    _, _, frames, height, width = latent.shape
    long_side = max(height, width)
    rows = spatial_spans(height, long_side, tiling.spatial_tile_px, tiling.spatial_overlap_px, spatial_scale)
    cols = spatial_spans(width, long_side, tiling.spatial_tile_px, tiling.spatial_overlap_px, spatial_scale)
    out_hw = (height * spatial_scale, width * spatial_scale)
    temporal = temporal_spans(frames, tiling.temporal_tile_frames, tiling.temporal_overlap_frames, temporal_scale)
    yield from blend_tiles(lambda t, r, c: decode(latent[:, :, t.src, r.src, c.src]), temporal, rows, cols, out_hw,
                           latent.dtype)


def count_chunks(latent_frames: int, tiling: TilingConfig | None, temporal_scale: int) -> int:
    """How many (non-empty) chunks `tiled_decode` yields for `latent_frames` (for progress reporting)."""
    if tiling is None or tiling.temporal_tile_frames is None:
        return 1
    spans = temporal_spans(latent_frames, tiling.temporal_tile_frames, tiling.temporal_overlap_frames,
                           temporal_scale)
    return 1 + sum(1 for a, b in itertools.pairwise(spans) if b.dst.start > a.dst.start)
