"""The planner's diffusion-decoder cost is the arithmetic the runtime really does.

`torch.utils.flop_counter` counts the matmuls of the tiny 2.5 diffusion decoder (random weights: the cost does
not depend on them) with SDPA on its math backend, so the attention's QK^T and AV appear as `bmm`, at shapes
with ragged tiles and W slabs; `estimates.diffusion_decode_flops` on the same config must give that count.
The margin is float64 rounding of a sum of ~50 exact integer terms (< 1e-12 relative), so 1e-9 is generous
and any modelling difference (a missed projection, the window instead of the scored key block, the wrong
hidden width or grid) fails it by far more: the smallest term, the timestep MLP, is ~1e-4 of the total.
The neighbourhood attention is checked against a dense reference (NATTEN windows as an explicit mask)."""

from __future__ import annotations

import json

import pytest
import torch

from model_runtime.memory import estimates as est

VAE = "vae/ltx-2.5-video-vae-bf16.safetensors"
REL_MARGIN = 1e-9


@pytest.fixture(scope="module")
def diff_cfg(tiny25_dir) -> dict:
    from safetensors import safe_open

    with safe_open(str(tiny25_dir / VAE), "pt") as f:
        return json.loads(f.metadata()["config"])["vae"]


@pytest.mark.parametrize("pixels", [(96, 64, 9), (160, 96, 17)])
def test_diffusion_decode_flops_match_the_counted_matmuls(diff_cfg, pixels):
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.utils.flop_counter import FlopCounterMode

    from model_runtime.models.diffusion_decoder import build_diffusion_decoder

    torch.manual_seed(0)
    decoder = build_diffusion_decoder(diff_cfg).eval()
    shape = est.LatentShape.for_pixels(*pixels, 24.0)
    latent = torch.randn(1, 128, shape.frames, shape.height, shape.width)
    with FlopCounterMode(display=False) as counter, sdpa_kernel(SDPBackend.MATH):
        decoder.decode(latent, generator=torch.Generator().manual_seed(0))
    counted = counter.get_total_flops()
    assert counted > 0
    assert est.diffusion_decode_flops(diff_cfg, shape) == pytest.approx(counted, rel=REL_MARGIN)


@pytest.mark.parametrize(("grid", "kernel"), [((5, 9, 11), (3, 5, 5)), ((3, 7, 13), (3, 7, 7)), ((4, 3, 3), (3, 3, 3))])
def test_neighborhood_attention_equals_dense_windowed_attention(grid, kernel):
    from model_runtime.models.diffusion_decoder import _windows, neighborhood_attention

    torch.manual_seed(1)
    q, k, v = (torch.randn(1, *grid, 2, 8, dtype=torch.float64) for _ in range(3))
    ids = [torch.arange(d) for d in grid]
    starts = [_windows(d, kk)[0] for d, kk in zip(grid, kernel, strict=True)]
    inside = [(i[None, :] >= s[:, None]) & (i[None, :] < s[:, None] + min(kk, len(i)))
              for i, s, kk in zip(ids, starts, kernel, strict=True)]
    vis = (inside[0][:, None, None, :, None, None] & inside[1][None, :, None, None, :, None]
           & inside[2][None, None, :, None, None, :]).reshape(q[0, ..., 0, 0].numel(), -1)
    flat = [x.reshape(1, -1, 2, 8).transpose(1, 2) for x in (q, k, v)]
    dense = torch.nn.functional.scaled_dot_product_attention(*flat, attn_mask=vis, scale=1.0)
    got = neighborhood_attention(q, k, v, kernel)
    torch.testing.assert_close(got, dense.transpose(1, 2).reshape(got.shape), rtol=0, atol=1e-12)
