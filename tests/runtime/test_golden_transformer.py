"""Transformer (golden section b), its key map, config checks, positions, latent layouts and the denoiser API."""

from __future__ import annotations

import copy
import gzip
import json

import pytest
import torch

from model_runtime.errors import InvalidRequestError, UnsupportedModelError
from model_runtime.loading import build_on_meta
from model_runtime.models import latents as L
from model_runtime.models.transformer import FOREIGN_MARKER, PREFIX, TRANSFORMER_SPEC, diffusers_kwargs


# --- golden section (b) ------------------------------------------------------------------------------
def test_transformer_goldens_all_pass(golden_ctx):
    from model_runtime.goldens import transformer as section

    results = section.run(golden_ctx)
    expected = {n for n in golden_ctx.names("transformer.") if golden_ctx.tolerances.get(n, "input") != "input"}
    assert {c.name for c in results} == expected, "every transformer golden with a tolerance must be compared"
    failed = [f"{c.name}: {c.max_abs_error:.3e} > {c.tolerance} {c.detail}" for c in results if not c.passed]
    assert not failed, "\n".join(failed)


def test_cases_come_from_tensor_names(golden_ctx):
    from model_runtime.goldens.transformer import cases

    found = cases(golden_ctx)
    n_sigmas = golden_ctx.tensor("transformer.sigmas").numel()
    assert found[:n_sigmas] == [f"s{i}" for i in range(n_sigmas)]
    assert all(golden_ctx.has(f"transformer.{c}.video_velocity") for c in found)


# --- full-size layout (meta build only, no weights) ---------------------------------------------------
@pytest.fixture(scope="module")
def full_layout(layout_full):
    with gzip.open(layout_full, "rt") as fh:
        return json.load(fh)


def test_full_size_transformer_matches_layout_on_meta(full_layout):
    module = build_on_meta(TRANSFORMER_SPEC, full_layout["config"])
    built = {k: tuple(v.shape) for k, v in module.state_dict().items()}
    assert all(v.is_meta for v in module.state_dict().values())
    layout = {
        k[len(PREFIX):]: tuple(v["shape"])
        for k, v in full_layout["checkpoint"]["tensors"].items()
        if k.startswith(PREFIX) and TRANSFORMER_SPEC.rename(k[len(PREFIX):]) is not None
    }
    assert len(layout) == full_layout["checkpoint"]["components"]["transformer"]["tensors"]
    renamed = {TRANSFORMER_SPEC.rename(k): shape for k, shape in layout.items()}
    assert set(renamed) == set(built)
    assert {k: s for k, s in built.items() if renamed[k] != s} == {}
    assert {TRANSFORMER_SPEC.unrename(k) for k in built} == set(layout)


def test_rename_is_a_bijection_on_official_keys(full_layout):
    keys = [k[len(PREFIX):] for k in full_layout["checkpoint"]["tensors"] if k.startswith(PREFIX)]
    connector = [k for k in keys if k.startswith(("video_embeddings_connector.", "audio_embeddings_connector."))]
    assert connector and all(TRANSFORMER_SPEC.rename(k) is None for k in connector)
    own = [k for k in keys if k not in set(connector)]
    mapped = [TRANSFORMER_SPEC.rename(k) for k in own]
    assert len(set(mapped)) == len(own)
    assert all(TRANSFORMER_SPEC.unrename(m) == k for k, m in zip(own, mapped, strict=True))
    assert TRANSFORMER_SPEC.rename("prompt_adaln_single.linear.weight") == "prompt_adaln.linear.weight"
    assert TRANSFORMER_SPEC.rename("transformer_blocks.3.attn1.q_norm.weight") == "transformer_blocks.3.attn1.norm_q.weight"


def test_diffusers_names_in_a_file_are_not_official():
    """A key already spelled the diffusers way must not shadow the official tensor."""
    assert TRANSFORMER_SPEC.rename("proj_in.weight").startswith(FOREIGN_MARKER)
    assert TRANSFORMER_SPEC.rename("transformer_blocks.0.attn2.norm_k.weight").startswith(FOREIGN_MARKER)


# --- config validation ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("key", "value"),
    [("qk_norm", "layer_norm"), ("attention_bias", False), ("share_ff", True), ("dropout", 0.1),
     ("use_audio_video_cross_attention", False), ("num_vector_embeds", 4)],
)
def test_config_values_the_reference_refuses(golden_ctx, key, value):
    cfg = copy.deepcopy(golden_ctx.config["transformer"])
    cfg[key] = value
    with pytest.raises(UnsupportedModelError, match=key):
        diffusers_kwargs(cfg)


def test_absent_required_key_is_refused_but_absent_num_vector_embeds_is_not(golden_ctx):
    cfg = copy.deepcopy(golden_ctx.config["transformer"])
    del cfg["num_vector_embeds"]
    diffusers_kwargs(cfg)
    del cfg["av_cross_ada_norm"]
    with pytest.raises(UnsupportedModelError, match="av_cross_ada_norm"):
        diffusers_kwargs(cfg)


def test_config_maps_to_23_features(golden_ctx):
    cfg = golden_ctx.config["transformer"]
    kw = diffusers_kwargs(cfg)
    assert kw["rope_double_precision"] is (cfg["frequencies_precision"] == "float64")
    assert kw["rope_type"] == cfg["rope_type"]
    assert kw["use_prompt_embeddings"] is (not cfg["caption_proj_before_connector"])
    assert kw["cross_attn_mod"] is cfg["cross_attention_adaln"] and kw["gated_attn"] is cfg["apply_gated_attention"]
    assert (kw["pos_embed_max_pos"], kw["base_height"], kw["base_width"]) == tuple(cfg["positional_embedding_max_pos"])


# --- latents and positions -----------------------------------------------------------------------------
def test_token_layouts_follow_the_reference_order():
    b, c, f, h, w = 2, 5, 3, 4, 6
    video = torch.arange(b * c * f * h * w, dtype=torch.float32).reshape(b, c, f, h, w)
    tokens = L.video_to_tokens(video)
    assert tokens.shape == (b, f * h * w, c)
    assert tokens[1, 2 * h * w + 3 * w + 5, 4] == video[1, 4, 2, 3, 5]
    assert torch.equal(L.video_from_tokens(tokens, f, h, w), video)
    audio = torch.arange(b * 8 * 7 * 16, dtype=torch.float32).reshape(b, 8, 7, 16)
    atok = L.audio_to_tokens(audio)
    assert atok.shape == (b, 7, 128)
    assert atok[1, 6, 3 * 16 + 9] == audio[1, 3, 6, 9]
    assert torch.equal(L.audio_from_tokens(atok, 8), audio)


def test_latent_shape_arithmetic_matches_the_golden_set(golden_ctx):
    s = golden_ctx.settings
    video, audio = golden_ctx.tensor("transformer.video_latent"), golden_ctx.tensor("transformer.audio_latent")
    shape = L.VideoLatentShape.from_pixels(s["num_frames"], s["height"], s["width"], channels=video.shape[1])
    assert shape.natural == tuple(video.shape)
    assert L.audio_latent_frames(s["num_frames"], s["fps"], L.AudioTiming.from_config(golden_ctx.config)) == audio.shape[2]
    assert L.pixel_frames(shape.frames) == s["num_frames"]
    with pytest.raises(InvalidRequestError):
        L.latent_frames(s["num_frames"] + 1)
    with pytest.raises(InvalidRequestError):
        L.latent_size(s["width"] + 1)
    assert L.audio_latent_frames(1, 8.0) == round(1 / 8.0 * 25)  # Python's round: 3.125 -> 3


# --- denoiser: the dev model's guidance passes ----------------------------------------------------------
@pytest.fixture(scope="module")
def guided_inputs(golden_ctx):
    """Stage-1 state of the guided-step goldens (h): pure noise (the stage-1 noiser scale is 1) at sigma_0."""
    from model_runtime.models.denoiser import AVDenoiser
    from model_runtime.models.positions import audio_positions, video_positions

    s = golden_ctx.settings
    stage1 = L.VideoLatentShape.from_pixels(s["num_frames"], s["height"] // 2, s["width"] // 2)
    vpos = video_positions(stage1.frames, stage1.height, stage1.width, s["fps"])
    apos = audio_positions(golden_ctx.tensor("e2e.noise.stage1_audio").shape[1])
    assert golden_ctx.compare("guided.video_positions", vpos).passed
    assert golden_ctx.compare("guided.audio_positions", apos).passed
    sigma = golden_ctx.tensor("guided.sigmas_used")[0]
    return AVDenoiser(golden_ctx.module(TRANSFORMER_SPEC)), vpos, apos, sigma


@pytest.mark.parametrize(
    ("name", "negative", "stg", "isolate"),
    [("cond", False, False, False), ("uncond", True, False, False),
     ("perturbed", False, True, False), ("isolated", False, False, True)],
)
def test_denoiser_guidance_passes_match_reference(golden_ctx, guided_inputs, name, negative, stg, isolate):
    from model_runtime.models.denoiser import ModalityInput, PassOptions

    denoiser, vpos, apos, sigma = guided_inputs
    neg = "negative." if negative else ""
    video = ModalityInput(golden_ctx.tensor("e2e.noise.stage1_video"), sigma,
                          golden_ctx.tensor(f"text.{neg}video_context"), vpos)
    audio = ModalityInput(golden_ctx.tensor("e2e.noise.stage1_audio"), sigma,
                          golden_ctx.tensor(f"text.{neg}audio_context"), apos)
    options = PassOptions(stg_blocks=(golden_ctx.settings["stg_block"],) if stg else (), isolate_modalities=isolate)
    pred = denoiser(video, audio, options)
    for modality, out in (("video", pred.video), ("audio", pred.audio)):
        cmp = golden_ctx.compare(f"guided.step0.{modality}_{name}", out.x0)
        assert cmp.passed, f"{cmp.name}: {cmp.max_abs_error:.3e} > {cmp.tolerance}"
        assert out.x0.dtype == torch.float32 and out.velocity.dtype == torch.float32


def test_denoiser_refuses_missing_stg_block(golden_ctx, guided_inputs):
    from model_runtime.models.denoiser import ModalityInput, PassOptions

    denoiser, vpos, apos, sigma = guided_inputs
    video = ModalityInput(golden_ctx.tensor("e2e.noise.stage1_video"), sigma, golden_ctx.tensor("text.video_context"), vpos)
    audio = ModalityInput(golden_ctx.tensor("e2e.noise.stage1_audio"), sigma, golden_ctx.tensor("text.audio_context"), apos)
    with pytest.raises(InvalidRequestError, match="STG block"):
        denoiser(video, audio, PassOptions(stg_blocks=(denoiser.num_blocks,)))


def test_unequal_head_counts_are_refused(golden_ctx):
    cfg = copy.deepcopy(golden_ctx.config["transformer"])
    cfg["audio_num_attention_heads"] = cfg["num_attention_heads"] * 2
    with pytest.raises(UnsupportedModelError, match="head counts"):
        diffusers_kwargs(cfg)


def test_denoiser_batches_passes_with_per_sample_sigma(golden_ctx, guided_inputs):
    """cond and uncond in one batch (different sigmas per sample) equal the two single calls."""
    from model_runtime.models.denoiser import ModalityInput

    denoiser, vpos, apos, _ = guided_inputs
    sigmas = golden_ctx.tensor("guided.sigmas_used")[:2]
    vn, an = golden_ctx.tensor("e2e.noise.stage1_video"), golden_ctx.tensor("e2e.noise.stage1_audio")
    ctxs = [("text.video_context", "text.audio_context"), ("text.negative.video_context", "text.negative.audio_context")]
    single = [
        denoiser(ModalityInput(vn, sigmas[i], golden_ctx.tensor(vc), vpos),
                 ModalityInput(an, sigmas[i], golden_ctx.tensor(ac), apos))
        for i, (vc, ac) in enumerate(ctxs)
    ]
    both = denoiser(
        ModalityInput(torch.cat([vn, vn]), sigmas, torch.cat([golden_ctx.tensor(c[0]) for c in ctxs]),
                      torch.cat([vpos, vpos])),
        ModalityInput(torch.cat([an, an]), sigmas, torch.cat([golden_ctx.tensor(c[1]) for c in ctxs]),
                      torch.cat([apos, apos])),
    )
    for i, one in enumerate(single):
        assert torch.allclose(both.video.x0[i], one.video.x0[0], atol=1e-5, rtol=0)
        assert torch.allclose(both.audio.velocity[i], one.audio.velocity[0], atol=1e-5, rtol=0)
    assert not torch.allclose(single[0].video.x0, single[1].video.x0, atol=1e-3)
