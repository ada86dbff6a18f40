"""The lean forward's fast path (`LeanRun.fast`: one-chunk shortcuts, in-place modulation, gates and GELU,
RoPE tables once per stage) gives bit-identical outputs to the plain chunked path, and really skips the work."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from model_runtime.models.denoiser import AVDenoiser, ModalityInput
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


def _steps(model, cfg: dict, fast: bool) -> list:
    """Three evaluations at different sigmas with one prompt, as a stage runs them."""
    g = torch.Generator().manual_seed(2)
    ctx = torch.randn(1, 40, cfg["cross_attention_dim"], generator=g)
    actx = torch.randn(1, 40, cfg["audio_cross_attention_dim"], generator=g)
    denoiser = AVDenoiser(model)
    with lean_transformer(model, ONE_CHUNK, fast=fast):
        return [denoiser(*_modalities(cfg, ctx, actx, s)) for s in (0.9, 0.6, 0.3)]


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


def test_rope_table_is_kept_only_when_one_chunk_covers_every_token(tiny_dir):
    """With several chunks the tables stay per chunk (the lean path's memory saving at 4K)."""
    cfg = _tiny_config(tiny_dir)["transformer"]
    model = _build(cfg)
    counts: dict[str, int] = {}
    _count_calls(model.rope, counts, "rope")
    g = torch.Generator().manual_seed(2)
    ctx = torch.randn(1, 40, cfg["cross_attention_dim"], generator=g)
    actx = torch.randn(1, 40, cfg["audio_cross_attention_dim"], generator=g)
    video, audio = _modalities(cfg, ctx, actx, 0.5)  # 12 video tokens
    with lean_transformer(model, 5, fast=True):
        AVDenoiser(model)(video, audio)
    assert counts["rope"] >= 3 * 2 * cfg["num_layers"]  # 3 chunks of queries and of keys per self-attention
