"""Video VAE: full-size layout on meta, key maps, tiling semantics, pixel conversion and the (c) goldens."""

from __future__ import annotations

import gzip
import json
from dataclasses import replace

import pytest
import torch

from model_runtime.errors import UnsupportedModelError
from model_runtime.loading import build_on_meta, plan_keys
from model_runtime.models.video_tiling import count_chunks, temporal_spans, trapezoid
from model_runtime.models.video_vae import (
    VIDEO_DECODER_SPEC,
    VIDEO_ENCODER_SPEC,
    TilingConfig,
    VideoVAEConfig,
    decode_video,
    decode_video_frames,
    video_to_uint8,
)

SPECS = (VIDEO_ENCODER_SPEC, VIDEO_DECODER_SPEC)


@pytest.fixture(scope="module")
def full_layout(layout_full):
    with gzip.open(layout_full, "rt") as fh:
        data = json.load(fh)
    return data["config"], data["checkpoint"]["tensors"]


def test_full_size_layout_matches(full_layout):
    """Encoder + decoder built on meta from the full config name exactly the file's `vae.*` keys and shapes."""
    config, tensors = full_layout
    expected = {k: tuple(v["shape"]) for k, v in tensors.items() if k.startswith("vae.")}
    built: dict[str, tuple[int, ...]] = {}
    for spec in SPECS:
        module = build_on_meta(spec, config)
        built.update({spec.prefix + spec.unrename(k): tuple(v.shape) for k, v in module.state_dict().items()})
    assert len(expected) == 170
    assert sorted(set(expected) - set(built)) == []
    assert sorted(set(built) - set(expected)) == []
    assert {k: (built[k], expected[k]) for k in expected if built[k] != expected[k]} == {}


def test_full_size_specs_claim_their_keys_and_share_statistics(full_layout):
    config, tensors = full_layout
    stats = {"vae.per_channel_statistics.mean-of-means", "vae.per_channel_statistics.std-of-means"}
    for spec in SPECS:
        expected = set(build_on_meta(spec, config).state_dict())
        mapping, unexpected = plan_keys(spec, tensors.keys(), expected)
        assert unexpected == [], spec.name
        assert set(mapping.values()) == expected, spec.name
        assert stats <= set(mapping), f"{spec.name} must claim the shared statistics"
    enc = {k for k in tensors if k.startswith("vae.") and VIDEO_ENCODER_SPEC.rename(k[4:]) is not None}
    dec = {k for k in tensors if k.startswith("vae.") and VIDEO_DECODER_SPEC.rename(k[4:]) is not None}
    assert enc & dec == stats
    assert enc | dec == {k for k in tensors if k.startswith("vae.")}


def test_rename_unrename_are_inverse(full_layout):
    config, tensors = full_layout
    for spec in SPECS:
        for fk in (k[4:] for k in tensors if k.startswith("vae.")):
            mk = spec.rename(fk)
            if mk is not None:
                assert spec.unrename(mk) == fk
        for mk in build_on_meta(spec, config).state_dict():
            assert spec.rename(spec.unrename(mk)) == mk


def test_scale_factors_come_from_the_config(full_layout):
    cfg = VideoVAEConfig.from_section(full_layout[0]["vae"])
    assert (cfg.spatial_scale, cfg.temporal_scale) == (32, 8)


@pytest.mark.parametrize("change", [
    {"norm_layer": "group_norm"},
    {"timestep_conditioning": True},
    {"dims": 2},
    {"decoder_blocks": [["attn_res_x", {"num_layers": 1, "attention_head_dim": 8}]]},
    {"encoder_blocks": [["res_x_y", {"multiplier": 2}]]},
])
def test_unsupported_configs_are_refused(full_layout, change):
    with pytest.raises(UnsupportedModelError):
        VideoVAEConfig.from_section({**full_layout[0]["vae"], **change})


def test_causal_temporal_split_matches_the_reference_example():
    """ltx-core's documented example: size 24, overlap 8 over 56 -> [0,24) [15,40) [31,56), ramps 0/9/9."""
    spans = temporal_spans(56, 24, 8, 1)
    assert [(s.src.start, s.src.stop) for s in spans] == [(0, 24), (15, 40), (31, 56)]
    assert [float(s.weights[0]) for s in spans] == [1.0, 0.0, 0.0]  # ramps of later tiles start at 0
    assert trapezoid(4, 0, 2, False).tolist() == pytest.approx([1, 1, 2 / 3, 1 / 3])
    assert trapezoid(4, 2, 0, False).tolist() == pytest.approx([1 / 3, 2 / 3, 1, 1])


def test_tiling_config_validation():
    with pytest.raises(ValueError):
        TilingConfig(64, 64, 16, 8)
    with pytest.raises(ValueError):
        TilingConfig(64, 16).check(32, 8)
    assert TilingConfig.from_values([64, 32, 16, 8]) == TilingConfig(64, 32, 16, 8)


def test_uint8_conversion_truncates():
    v = torch.tensor([-2.0, -1.0, 0.0, 0.999, 1.0, 3.0]).view(1, 3, 1, 1, 2)
    frames = video_to_uint8(v)
    assert frames.shape == (1, 1, 2, 3) and frames.dtype == torch.uint8
    # 0.0 -> 127.5 -> 127 and 0.999 -> 254.87 -> 254 (truncation, not rounding)
    assert frames.permute(3, 0, 1, 2).flatten().tolist() == [0, 0, 127, 254, 255, 255]


@pytest.fixture(scope="module")
def decoder(golden_ctx):
    return golden_ctx.module(VIDEO_DECODER_SPEC)


def test_single_tile_decode_equals_untiled(decoder, golden_ctx):
    latent = golden_ctx.tensor("vae.decode.latent")
    with torch.inference_mode():
        full = decoder(latent)
        tiled = list(decode_video(decoder, latent, TilingConfig(1024, 64, 64, 24)))
    assert len(tiled) == 1
    assert torch.equal(tiled[0], full)


def test_in_place_decode_is_bit_identical_to_diffusers_blocks(decoder, monkeypatch):
    """The resnets' in-place SiLUs/residual add (and the final norm's in-place SiLU) give exactly the floats of
    diffusers' own block forwards and conv_act, causal and not; the in-place uint8 steps exactly the old
    expression's bytes."""
    from model_runtime.models import video_vae
    from model_runtime.models.video_vae import _plain_resnet, _ResStack, use_in_place

    calls = []
    in_place = video_vae._resnet_in_place
    monkeypatch.setattr(video_vae, "_resnet_in_place", lambda *a: calls.append(1) or in_place(*a))

    # odd sizes: elementwise loops end in scalar tails (a vectorised and a scalar kernel may round differently)
    latent = torch.randn(1, decoder.cfg.latent_channels, 3, 2, 3, generator=torch.Generator().manual_seed(0))
    resnets = [r for b in decoder.up_blocks if isinstance(b, _ResStack) for r in b.res_blocks]
    assert resnets and all(_plain_resnet(r) for r in resnets)
    cfg = decoder.cfg
    try:
        for causal in (False, True):
            decoder.cfg = replace(cfg, causal_decoder=causal)
            with torch.inference_mode():
                use_in_place(decoder, False)
                old = decoder(latent)
                assert calls == []  # really diffusers' forwards
                use_in_place(decoder, True)
                new = decoder(latent)
                assert len(calls) == len(resnets)
                calls.clear()
            assert torch.equal(new, old), causal
    finally:
        decoder.cfg = cfg
        use_in_place(decoder, True)
    v = torch.randn(1, 3, 9, 8, 8, generator=torch.Generator().manual_seed(1)) * 1.5  # some beyond [-1, 1]
    assert torch.equal(video_to_uint8(v), (((v[0] + 1.0) / 2.0).clamp(0.0, 1.0) * 255.0).to(torch.uint8)
                       .permute(1, 2, 3, 0))


def test_temporal_tiles_stream_in_order(decoder):
    """5 latent frames, 16-frame tiles with 8 overlap: chunks of 8, 8, 17 frames = 33 = 8*(5-1)+1."""
    tiling = TilingConfig(None, 0, 16, 8)
    latent = torch.randn(1, decoder.cfg.latent_channels, 5, 1, 1, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        chunks = list(decode_video(decoder, latent, tiling))
        frames = list(decode_video_frames(decoder, latent, tiling))
        full = decoder(latent)
    assert [c.shape[2] for c in chunks] == [8, 8, 17]
    assert count_chunks(5, tiling, decoder.cfg.temporal_scale) == 3
    assert [f.shape for f in frames] == [(8, 32, 32, 3), (8, 32, 32, 3), (17, 32, 32, 3)]
    video = torch.cat(chunks, dim=2)
    assert video.shape == full.shape
    # frame 0 has weight 1 only in the first tile [0, 2) and the last frame only in the last tile [2, 5)
    with torch.inference_mode():
        first, last = decoder(latent[:, :, 0:2]), decoder(latent[:, :, 2:5])
    assert torch.equal(video[:, :, 0], first[:, :, 0])
    assert torch.equal(video[:, :, -1], last[:, :, -1])
    assert not torch.allclose(video, full, atol=1e-3)  # the tiles really were decoded separately


def test_video_vae_goldens(golden_ctx):
    from model_runtime.goldens import video_vae

    results = video_vae.run(golden_ctx)
    names = {r.name for r in results}
    assert {"vae.decode.video", "vae.encode.latent", "vae.tiled_decode.video"} <= names
    failed = [r for r in results if not r.passed]
    for r in results:
        print(f"{r.name}: max abs error {r.max_abs_error:.3e} (tol {r.tolerance})")
    assert failed == []
