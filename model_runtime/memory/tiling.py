"""Tiled decoding: decode a latent video tile by tile so only one tile's activations exist at a time.

Each tile is decoded with a halo of neighbouring latent cells and only its core is kept, so wherever the
halo covers the decoder's receptive field the stitched result equals the untiled decode exactly (no
blending needed; the test proves it on a conv decoder). With a smaller halo the seams are approximate,
which is what the video VAE's own blended tiling is for: `TileSpec` carries the sizes for both.

Time follows the causal VAE convention: n latent frames decode to `t_scale * (n - 1) + 1` frames, latent
frame 0 to pixel frame 0 and latent frame f > 0 to pixel frames `t_scale*(f-1)+1 .. t_scale*f`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

import torch

from model_runtime.memory.estimates import TileSpec

log = logging.getLogger(__name__)


def _spans(length: int, core: int, halo: int) -> Iterator[tuple[int, int, int, int]]:
    """(tile start, tile end, core start, core end) along one axis, in latent cells."""
    for c0 in range(0, length, core):
        c1 = min(length, c0 + core)
        yield max(0, c0 - halo), min(length, c1 + halo), c0, c1


def _time_px(f: int, ts: int) -> int:
    """First pixel frame owned by latent frame f."""
    return 0 if f == 0 else ts * (f - 1) + 1


def tiled_decode(decode: Callable[[torch.Tensor], torch.Tensor], latent: torch.Tensor, tile: TileSpec, *,
                 spatial_scale: int, temporal_scale: int, out_device: torch.device | str = "cpu",
                 out_dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Decode `latent` [B, C, F', H', W'] with `decode` tile by tile into [B, 3, F, H, W] on `out_device`."""
    b, _, f_lat, h_lat, w_lat = latent.shape
    ts, ss = temporal_scale, spatial_scale
    out: torch.Tensor | None = None
    n = 0
    for t0, t1, ct0, ct1 in _spans(f_lat, tile.frames, tile.halo_frames):
        for h0, h1, ch0, ch1 in _spans(h_lat, tile.size, tile.halo):
            for w0, w1, cw0, cw1 in _spans(w_lat, tile.size, tile.halo):
                px = decode(latent[:, :, t0:t1, h0:h1, w0:w1])
                if out is None:
                    shape = (b, px.shape[1], ts * (f_lat - 1) + 1, ss * h_lat, ss * w_lat)
                    out = torch.empty(shape, device=out_device, dtype=out_dtype)
                p0, p1 = _time_px(ct0, ts), ts * (ct1 - 1) + 1
                off = ts * t0  # pixel frame of the tile's first output frame
                core = px[:, :, p0 - off:p1 - off, ss * (ch0 - h0):ss * (ch1 - h0), ss * (cw0 - w0):ss * (cw1 - w0)]
                out[:, :, p0:p1, ss * ch0:ss * ch1, ss * cw0:ss * cw1] = core.to(out_device, out_dtype)
                del px, core
                n += 1
    log.info("decoded %d tiles of %s", n, tile.label())
    assert out is not None
    return out
