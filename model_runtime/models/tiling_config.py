"""Tile sizes of a tiled video decode, and how one axis splits into overlapping tiles (torch-free: the
memory planner computes tile schedules from headers on the app's GUI thread)."""

from __future__ import annotations

from dataclasses import dataclass

#: the reference's `TilingConfig.default()` (what the ltx-pipelines CLI passes)
DEFAULT_SPATIAL_TILE_PX = 512
DEFAULT_SPATIAL_OVERLAP_PX = 64
DEFAULT_TEMPORAL_TILE_FRAMES = 64
DEFAULT_TEMPORAL_OVERLAP_FRAMES = 24


@dataclass(frozen=True)
class TilingConfig:
    """Tile sizes in output units (pixels, frames); None disables tiling along that axis.

    Sizes and overlaps must be multiples of the VAE's scale factors (32 px, 8 frames in 2.x); that
    is checked when decoding, where the factors are known.
    """

    spatial_tile_px: int | None = DEFAULT_SPATIAL_TILE_PX
    spatial_overlap_px: int = DEFAULT_SPATIAL_OVERLAP_PX
    temporal_tile_frames: int | None = DEFAULT_TEMPORAL_TILE_FRAMES
    temporal_overlap_frames: int = DEFAULT_TEMPORAL_OVERLAP_FRAMES

    def __post_init__(self) -> None:
        for tile, overlap, what in ((self.spatial_tile_px, self.spatial_overlap_px, "spatial"),
                                    (self.temporal_tile_frames, self.temporal_overlap_frames, "temporal")):
            if tile is not None and not 0 <= overlap < tile:
                raise ValueError(f"{what} tiling: overlap {overlap} must be >= 0 and < the tile size {tile}")

    @classmethod
    def from_values(cls, values: list[int] | tuple[int, ...]) -> TilingConfig:
        """From `[spatial px, spatial overlap px, temporal frames, temporal overlap frames]` (golden layout)."""
        tile_px, overlap_px, tile_f, overlap_f = (int(v) for v in values)
        return cls(tile_px, overlap_px, tile_f, overlap_f)

    def check(self, spatial_scale: int, temporal_scale: int) -> None:
        for value, scale, what in ((self.spatial_tile_px, spatial_scale, "spatial tile"),
                                   (self.spatial_overlap_px, spatial_scale, "spatial overlap"),
                                   (self.temporal_tile_frames, temporal_scale, "temporal tile"),
                                   (self.temporal_overlap_frames, temporal_scale, "temporal overlap")):
            if value is not None and value % scale:
                raise ValueError(f"{what} {value} is not a multiple of the VAE's factor {scale}")


def split_intervals(length: int, size: int, overlap: int, min_size: int = 1) -> list[tuple[int, int, int, int]]:
    """(start, end, left ramp, right ramp) of symmetric overlapping tiles; one tile if it fits. A last tile
    shorter than `min_size` starts earlier (its overlap with the one before, and both ramps, grow)."""
    if length <= size or length < min_size:
        return [(0, length, 0, 0)]
    count = (length + size - 2 * overlap - 1) // (size - overlap)
    starts = [i * (size - overlap) for i in range(count)]
    ends = [s + size for s in starts[:-1]] + [length]
    out = [(s, e, overlap if i else 0, overlap if i < count - 1 else 0)
           for i, (s, e) in enumerate(zip(starts, ends, strict=True))]
    if len(out) > 1 and length - out[-1][0] < min_size:
        start = length - min_size
        grown = out[-2][1] - start
        out[-2:] = [(*out[-2][:3], grown), (start, length, grown, 0)]
    return out
