"""Tiled decode of LTX-2.5's diffusion video decoder, on the tiny 2.5 files.

Tiling changes pixels only where tiles overlap (the last deterministic stage and stage 5 see a tile's
border there); everywhere else a tiled decode is the untiled one up to float rounding, because x_T is cut
from the same full-canvas draw. The bound outside the bands is the golden tolerance of the untiled
decode (`vae.diff_decode.output`); inside them the difference is reported, not bounded (random weights
make the decoder's output noise-like, so two tiles' estimates of one seam pixel differ by O(0.1-0.6)).
"""

from __future__ import annotations

import pytest
import torch

from model_runtime.models.diffusion_tiling import TileGrid, TileSchedule
from model_runtime.models.tiling_config import TilingConfig


@pytest.fixture(scope="module")
def decoder(golden25_ctx):
    from model_runtime.models.diffusion_decoder import VIDEO_DIFFUSION_DECODER_SPEC

    return golden25_ctx.module(VIDEO_DIFFUSION_DECODER_SPEC)


@pytest.fixture(scope="module")
def untiled(decoder, golden25_ctx):
    latent = golden25_ctx.tensor("vae.diff_decode.latent")
    noise = golden25_ctx.tensor("vae.diff_decode.noise")
    with torch.inference_mode():
        return latent, noise, decoder.decode(latent, noise=noise)


def _tiled(decoder, latent, noise, tiling: TilingConfig, store=None) -> tuple[torch.Tensor, list[int]]:
    with torch.inference_mode():
        chunks = list(decoder.decode_tiled(latent, tiling, noise=noise, store=store))
    return torch.cat(chunks, dim=2), [c.shape[2] for c in chunks]


def test_one_tile_is_the_untiled_decode_bit_for_bit(decoder, untiled, monkeypatch):
    """Also with the features kept in a separate store (how a GPU decode keeps them in RAM), their last
    upsample made in slabs of 2 frames: the same bits."""
    import model_runtime.models.diffusion_decoder as dd

    monkeypatch.setattr(dd, "FEATURE_SLAB_FRAMES", 2)
    latent, noise, reference = untiled
    video, chunks = _tiled(decoder, latent, noise, TilingConfig(4096, 32, 1024, 8), store=torch.device("cpu"))
    assert chunks == [reference.shape[2]]
    assert torch.equal(video, reference)


def _bands(tiles, content: int, before: int = 0) -> torch.Tensor:
    """Content positions where two tiles overlap (the blend seams)."""
    hit = torch.zeros(max(a.px_stop for a in tiles), dtype=torch.int32)
    for a in tiles:
        hit[a.px_start:a.px_stop] += 1
    return (hit > 1)[before: before + content]


def test_tiling_changes_only_the_overlap_bands(decoder, untiled, golden25_ctx):
    latent, noise, reference = untiled
    tiling = TilingConfig(64, 32, 16, 8)  # the tiny decoder's smallest legal overlaps (TileGrid)
    video, chunks = _tiled(decoder, latent, noise, tiling)
    schedule = TileSchedule.plan(decoder.cfg, tuple(latent.shape[2:]), tiling)
    assert (len(schedule.temporal), len(schedule.cols)) == (2, 2) and len(chunks) == 2
    assert video.shape == reference.shape
    padded = decoder.pad(latent)
    seam_t = _bands(schedule.temporal, reference.shape[2])
    seam_h = _bands(schedule.rows, reference.shape[3], padded.h_before)
    seam_w = _bands(schedule.cols, reference.shape[4], padded.w_before)
    seam = seam_t.view(-1, 1, 1) | seam_h.view(1, -1, 1) | seam_w.view(1, 1, -1)
    diff = (video - reference).abs()[0].amax(dim=0)
    tol = float(golden25_ctx.tolerances["vae.diff_decode.output"])
    inside, outside = diff[seam], diff[~seam]
    print(f"tiled vs untiled: outside seams max {outside.max():.2e} ({outside.numel()} px), "
          f"in seams max {inside.max():.3f} mean {inside.mean():.3f} ({inside.numel()} px)")
    assert outside.numel() > 0 and inside.numel() > 0
    assert outside.max() <= tol
    assert inside.max() > tol  # the tiles really were decoded apart


def test_tile_grid_follows_the_receptive_field(decoder):
    """Overlaps below the tiled stages' one-sided receptive field are raised; tiles fit both ramps."""
    grid = TileGrid.of(decoder.cfg)
    assert grid.scale == (2, 8, 8) and grid.min_cells == (3, 3, 3)
    assert (grid.overlap_frames, grid.overlap_px) == (8, 32)
    fitted = grid.fit(TilingConfig(40, 0, 4, 0))
    assert fitted == TilingConfig(64, 32, 16, 8)


def test_short_last_tile_starts_earlier(decoder):
    """A remnant below the kernel floor is not decoded alone: the last tile grows back into its neighbour."""
    schedule = TileSchedule.plan(decoder.cfg, (3, 4, 7), TilingConfig(96, 32, None, 0))  # W4 = 28 cells
    assert min(c.cells for c in schedule.cols) >= 3 and schedule.cols[-1].stop == 28
    total = torch.zeros(schedule.cols[-1].px_stop)
    for c in schedule.cols:
        span = c.span(alone=False)
        total[span.dst] += span.weights
    assert torch.allclose(total, torch.ones_like(total))  # the ramps still sum to one


def test_tile_schedule_imports_no_torch():
    """The planner builds schedules from headers on the app's GUI thread: no torch import for that."""
    import subprocess
    import sys

    code = ("import sys\nfrom model_runtime.models.diffusion_tiling import TileSchedule\n"
            "from model_runtime.memory import estimates\nprint('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "False", out.stderr
