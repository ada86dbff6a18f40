"""The lean forward's fast path (`LeanRun.fast`: one-chunk shortcuts, RoPE tables once per stage, LTX-2.5's
prompt K/V kept per stage) gives bit-identical outputs to the plain chunked path, and really skips the work."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from model_runtime.models.denoiser import AVDenoiser, ModalityInput, PassOptions
from model_runtime.models.lean_block import lean_transformer
from model_runtime.models.positions import audio_positions, video_positions

sys.path.insert(0, str(Path(__file__).parent))
from test_memory_lean import LARGER, _inputs  # noqa: E402
from test_memory_measure import _build, _tiny_config  # noqa: E402

ONE_CHUNK = 4096  # more than the test shapes' tokens: the fast path's case


def _run(model, inputs: dict, fast: bool, **kw) -> tuple[torch.Tensor, ...]:
    with torch.no_grad(), lean_transformer(model, ONE_CHUNK, fast=fast):
        return model(**inputs, **kw)


@pytest.mark.parametrize(("dtype", "per_token"), [(torch.float32, False), (torch.float32, True),
                                                   (torch.bfloat16, False)])
def test_fast_path_is_bit_identical_to_the_chunked_path(tiny_dir, dtype, per_token):
    cfg = {**_tiny_config(tiny_dir)["transformer"], **LARGER}
    model = _build(cfg).to(dtype)
    inputs = _inputs(cfg, dtype, per_token)
    for kw in ({}, {"spatio_temporal_guidance_blocks": [1], "isolate_modalities": True}):
        fast, plain = _run(model, inputs, True, **kw), _run(model, inputs, False, **kw)
        for a, b in zip(fast, plain, strict=True):
            assert torch.equal(a, b)


def _count_calls(module: torch.nn.Module, counts: dict, name: str) -> None:
    orig = module.forward

    def forward(*args, **kwargs):
        counts[name] = counts.get(name, 0) + 1
        return orig(*args, **kwargs)
    module.forward = forward


def _modalities(cfg: dict, video_ctx: torch.Tensor, audio_ctx: torch.Tensor, sigma: float):
    g = torch.Generator().manual_seed(3)
    f, h, w, n_audio = 2, 2, 3, 5
    video = ModalityInput(torch.randn(1, f * h * w, cfg["in_channels"], generator=g), sigma, video_ctx,
                          video_positions(f, h, w, 24.0))
    audio = ModalityInput(torch.randn(1, n_audio, cfg["audio_in_channels"], generator=g), sigma, audio_ctx,
                          audio_positions(n_audio))
    return video, audio


def _steps(model, cfg: dict, fast: bool, options: PassOptions = PassOptions()) -> list:
    """Three evaluations at different sigmas with one prompt, as a stage runs them."""
    g = torch.Generator().manual_seed(2)
    ctx = torch.randn(1, 40, cfg["cross_attention_dim"], generator=g)
    actx = torch.randn(1, 40, cfg["audio_cross_attention_dim"], generator=g)
    denoiser = AVDenoiser(model)
    with lean_transformer(model, ONE_CHUNK, fast=fast):
        return [denoiser(*_modalities(cfg, ctx, actx, s), options) for s in (0.9, 0.6, 0.3)]


def test_rope_tables_are_built_once_per_stage(tiny_dir):
    cfg = _tiny_config(tiny_dir)["transformer"]
    model = _build(cfg)
    counts: dict[str, int] = {}
    for name in ("rope", "audio_rope", "cross_attn_rope", "cross_attn_audio_rope"):
        _count_calls(getattr(model, name), counts, name)
    _steps(model, cfg, fast=True)
    assert counts == dict.fromkeys(counts, 1) and len(counts) == 4  # three steps, every layer: one table each
    counts.clear()
    _steps(model, cfg, fast=False)
    assert counts["rope"] >= 3 * 2 * cfg["num_layers"]  # the chunked path rebuilds per attention call


def test_ltx25_prompt_kv_kept_per_stage_is_bit_identical(golden25_ctx):
    """LTX-2.5's prompt keys/values are step-independent: with the cache the text K/V projections run once
    per stage instead of once per step, and every output is the same, bit for bit."""
    from model_runtime.models.transformer import TRANSFORMER_SPEC

    model = golden25_ctx.module(TRANSFORMER_SPEC)
    assert not model.config.use_prompt_adaln_single
    cfg = dict(model.config)
    counts: dict[str, int] = {}
    blocks = model.transformer_blocks
    try:
        for i, blk in enumerate(blocks):
            _count_calls(blk.attn2.to_k, counts, f"video{i}")
            _count_calls(blk.audio_attn2.to_k, counts, f"audio{i}")
        for options in (PassOptions(), PassOptions(stg_blocks=(0,), isolate_modalities=True)):
            counts.clear()
            cached = _steps(model, cfg, fast=True, options=options)
            assert counts == dict.fromkeys(counts, 1) and len(counts) == 2 * len(blocks)
            counts.clear()
            plain = _steps(model, cfg, fast=False, options=options)
            assert counts == dict.fromkeys(counts, 3)
            for a, b in zip(cached, plain, strict=True):
                for x, y in ((a.video.x0, b.video.x0), (a.audio.x0, b.audio.x0)):
                    assert torch.equal(x, y)
    finally:
        for blk in blocks:
            del blk.attn2.to_k.forward, blk.audio_attn2.to_k.forward


def test_ltx23_prompt_kv_is_not_kept(tiny_dir):
    """LTX-2.3's per-sigma prompt AdaLN changes the context every step: nothing may be kept."""
    cfg = _tiny_config(tiny_dir)["transformer"]
    model = _build(cfg)
    assert model.config.use_prompt_adaln_single
    counts: dict[str, int] = {}
    _count_calls(model.transformer_blocks[0].attn2.to_k, counts, "video0")
    _steps(model, cfg, fast=True)
    assert counts == {"video0": 3}
