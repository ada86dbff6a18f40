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
from torch.utils._python_dispatch import TorchDispatchMode

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
    from model_runtime.models.diffusion_decoder import dense_neighborhood_attention, neighborhood_attention

    torch.manual_seed(1)
    q, k, v = (torch.randn(1, *grid, 2, 8, dtype=torch.float64) for _ in range(3))
    torch.testing.assert_close(neighborhood_attention(q, k, v, kernel), dense_neighborhood_attention(q, k, v, kernel),
                               rtol=0, atol=1e-12)


class _Writes(TorchDispatchMode):
    """Bytes every aten op writes, in float32 elements (the decoders run in float32 here; index and bool
    tensors count by their bytes): its outputs that are new tensors or written in place (views skipped)."""

    def __init__(self) -> None:
        super().__init__()
        self.elements = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        outs = out if isinstance(out, (tuple, list)) else (out,)
        for ret, o in zip(func._schema.returns, outs, strict=False):
            if isinstance(o, torch.Tensor) and (ret.alias_info is None or ret.alias_info.is_write):
                self.elements += o.numel() * o.element_size() / 4
        return out


#: the largest residual of the fitted write constants (estimates.py) over the shapes counted of at least
#: 160x96 px: conv 20.33-20.68 per channel-voxel against 20.5 (0.9%); diffusion 1.17% at 224x160x25 (smaller
#: shapes carry relatively more fixed per-call work, padding and ghost frames: 3.5% at 96x64x9, not tested)
CONV_MARGIN, DIFF_MARGIN = 0.009, 0.0117


@pytest.fixture(scope="module")
def conv_layout_and_cfg(tiny25_dir):
    from safetensors import safe_open

    from model_runtime.families import ModelFiles
    from model_runtime.memory.layout import ModelLayout

    conv = tiny25_dir / "vae/ltx-2.5-video-vae-conv-bf16.safetensors"
    files = ModelFiles.split(tiny25_dir / "diffusion_models/ltx-2.5-22b-distilled-transformer-bf16.safetensors",
                             video_vae=conv)
    with safe_open(str(conv), "pt") as f:
        return ModelLayout.from_model_files(files), json.loads(f.metadata()["config"])["vae"]


@pytest.mark.parametrize("pixels", [(224, 160, 25), (320, 192, 33)])
def test_decoder_writes_and_time_order_match_the_counted_ops(diff_cfg, conv_layout_and_cfg, pixels):
    """The traffic model at shapes it was not fitted on, and the order the time model gives: the diffusion
    decoder, with about the conv decoder's FLOPs, writes ~10x its elements, so it is the slower one (measured
    on the tiny decoders, CPU, 512x256x49: 5.9-9.2x the conv decoder's time)."""
    from model_runtime.memory.plan import DEVICE_PROFILES
    from model_runtime.models.diffusion_decoder import build_diffusion_decoder
    from model_runtime.models.video_vae import build_video_decoder

    layout, conv_cfg = conv_layout_and_cfg
    torch.manual_seed(0)
    conv, diff = build_video_decoder(conv_cfg).eval(), build_diffusion_decoder(diff_cfg).eval()
    shape = est.LatentShape.for_pixels(*pixels, 24.0)
    latent = torch.randn(1, 128, shape.frames, shape.height, shape.width)
    with _Writes() as conv_writes, torch.no_grad():
        conv(latent)
    with _Writes() as diff_writes:
        diff.decode(latent, generator=torch.Generator().manual_seed(0))
    assert est.vae_decode_writes(layout, shape) == pytest.approx(conv_writes.elements, rel=CONV_MARGIN)
    assert est.diffusion_decode_writes(diff_cfg, shape) == pytest.approx(diff_writes.elements, rel=DIFF_MARGIN)
    for profile in DEVICE_PROFILES.values():
        rates = (profile.tflops * 1e12, profile.mem_gbps * 1e9)
        sharp = est.diffusion_decode_seconds(diff_cfg, shape, None, 2, *rates)
        fast = est.conv_decode_seconds(layout, shape, None, 2, *rates)
        assert sharp > 3 * fast
