"""Audio VAE + vocoder/BWE: full-size layout on meta, key maps, and the (d) goldens of set A."""

from __future__ import annotations

import gzip
import json

import pytest
import torch
from safetensors import safe_open

from model_runtime.loading import build_on_meta, load_component, plan_keys
from model_runtime.models.audio_vae import (
    AUDIO_DECODER_SPEC,
    AUDIO_ENCODER_SPEC,
    AudioOutput,
    decode_audio,
    decoded_mel_frames,
)
from model_runtime.models.vocoder import VOCODER_SPEC, rename_vocoder_key, unrename_vocoder_key

SPECS = (AUDIO_ENCODER_SPEC, AUDIO_DECODER_SPEC, VOCODER_SPEC)


@pytest.fixture(scope="module")
def full_layout(layout_full):
    with gzip.open(layout_full, "rt") as fh:
        data = json.load(fh)
    return data["config"], data["checkpoint"]["tensors"]


def _file_shapes(spec, config) -> dict[str, tuple[int, ...]]:
    """Build `spec` on meta and name every state-dict entry the way the official file does."""
    module = build_on_meta(spec, config)
    return {spec.prefix + spec.unrename(k): tuple(v.shape) for k, v in module.state_dict().items()}


@pytest.mark.parametrize("prefix", ["audio_vae.", "vocoder."])
def test_full_size_layout_matches(full_layout, prefix):
    config, tensors = full_layout
    expected = {k: tuple(v["shape"]) for k, v in tensors.items() if k.startswith(prefix)}
    built: dict[str, tuple[int, ...]] = {}
    for spec in (s for s in SPECS if s.prefix == prefix):
        built.update(_file_shapes(spec, config))
    assert expected, f"layout has no {prefix} keys"
    assert sorted(set(expected) - set(built)) == [], "keys in the full file that the runtime does not build"
    assert sorted(set(built) - set(expected)) == [], "keys the runtime builds that the full file lacks"
    wrong = {k: (built[k], expected[k]) for k in expected if built[k] != expected[k]}
    assert wrong == {}


def test_full_size_specs_claim_their_keys(full_layout):
    """Through the loader's own planner: every full-size key maps, nothing is unexpected or missing."""
    config, tensors = full_layout
    for spec in SPECS:
        expected = set(build_on_meta(spec, config).state_dict())
        mapping, unexpected = plan_keys(spec, tensors.keys(), expected)
        assert unexpected == [], spec.name
        assert set(mapping.values()) == expected, spec.name
    enc = {k for k in tensors if k.startswith("audio_vae.") and AUDIO_ENCODER_SPEC.rename(k[10:]) is not None}
    dec = {k for k in tensors if k.startswith("audio_vae.") and AUDIO_DECODER_SPEC.rename(k[10:]) is not None}
    assert enc & dec == {"audio_vae.per_channel_statistics.mean-of-means", "audio_vae.per_channel_statistics.std-of-means"}


def test_vocoder_key_maps_are_inverse_bijections(full_layout):
    _, tensors = full_layout
    official = [k[len("vocoder."):] for k in tensors if k.startswith("vocoder.")]
    renamed = [rename_vocoder_key(k) for k in official]
    assert len(set(renamed)) == len(official)
    assert [unrename_vocoder_key(k) for k in renamed] == official
    assert rename_vocoder_key("vocoder.resblocks.4.acts2.1.downsample.lowpass.filter") == (
        "vocoder.resnets.4.acts2.1.downsample.filter")
    assert rename_vocoder_key("bwe_generator.conv_post.weight") == "bwe_generator.conv_out.weight"


def test_buffers_loaded_from_file_and_resampler_computed(golden_ctx):
    voc = golden_ctx.module(VOCODER_SPEC)
    with safe_open(str(golden_ctx.checkpoint_path), framework="pt") as fh:
        for fk in ("vocoder.vocoder.resblocks.0.acts1.0.upsample.filter",
                   "vocoder.bwe_generator.act_post.downsample.lowpass.filter",
                   "vocoder.mel_stft.mel_basis", "vocoder.mel_stft.stft_fn.forward_basis"):
            mk = rename_vocoder_key(fk[len("vocoder."):])
            assert torch.equal(voc.get_buffer(mk), fh.get_tensor(fk).float()), fk
    filt = voc.resampler.filter
    assert not filt.is_meta and filt.dtype == torch.float32
    assert "resampler.filter" not in voc.state_dict()
    # a Hann-sinc interpolator whose taps sum to ~1 per output phase times 1/ratio (unit DC gain overall)
    assert abs(float(filt.sum()) - 1.0) < 1e-2



def test_meta_build_skips_the_kaiser_filters_a_real_build_computes_them(tiny_dir):
    """On meta the vocoder's kaiser filters are placeholders (the strict load assigns every one from the
    file, as above); a real build (the demo-model writer) still gets diffusers' computed filters, and the
    loaded vocoder is the same either way."""
    from contextlib import nullcontext

    from diffusers.pipelines.ltx2 import vocoder as diffusers_vocoder

    from model_runtime.checkpoints import inspect_checkpoint
    from model_runtime.models import vocoder

    info = inspect_checkpoint(tiny_dir / "checkpoint.safetensors")
    computed = diffusers_vocoder.kaiser_sinc_filter1d
    calls = []
    diffusers_vocoder.kaiser_sinc_filter1d = lambda *a, **k: calls.append(a) or computed(*a, **k)
    try:
        build_on_meta(VOCODER_SPEC, info.config)
        assert calls == []
        with torch.device("cpu"):
            real = VOCODER_SPEC.build(info.config["vocoder"])
        assert calls
    finally:
        diffusers_vocoder.kaiser_sinc_filter1d = computed
    filt = real.get_buffer("vocoder.resnets.0.acts1.0.upsample.filter")
    assert torch.equal(filt, computed(0.25, 0.3, 12).view(1, 1, -1))
    fast = load_component(info.header, VOCODER_SPEC, info.config)[0].state_dict()
    placeholders = vocoder._kaiser_filters_as_placeholders
    vocoder._kaiser_filters_as_placeholders = nullcontext
    try:
        slow = load_component(info.header, VOCODER_SPEC, info.config)[0].state_dict()
    finally:
        vocoder._kaiser_filters_as_placeholders = placeholders
    assert fast.keys() == slow.keys() and all(torch.equal(fast[k], slow[k]) for k in fast)

def test_decode_audio_api(golden_ctx):
    dec, voc = golden_ctx.module(AUDIO_DECODER_SPEC), golden_ctx.module(VOCODER_SPEC)
    latent = golden_ctx.tensor("audio.decode.latent")[..., :3, :]
    out = decode_audio(latent, dec, voc)
    assert isinstance(out, AudioOutput)
    mel_frames = decoded_mel_frames(3)
    assert mel_frames == 4 * 3 - 3  # causal: the first latent frame covers one mel frame
    hop = golden_ctx.config["audio_vae"]["preprocessing"]["stft"]["hop_length"]
    bwe = golden_ctx.config["vocoder"]["bwe"]
    ratio = bwe["output_sampling_rate"] // bwe["input_sampling_rate"]
    assert out.waveform.shape == (2, mel_frames * hop * ratio)
    assert out.waveform.dtype == torch.float32 and out.sample_rate == bwe["output_sampling_rate"]
    assert float(out.waveform.abs().max()) <= 1.0
    with pytest.raises(ValueError):
        decode_audio(torch.cat([latent, latent]), dec, voc)


def test_decode_audio_with_bf16_vocoder_computes_in_float32(golden_ctx):
    """bf16-resident weights: the vocoder is upcast for the call (as the reference computes it) and restored."""
    voc, _ = load_component(golden_ctx.checkpoint_path, VOCODER_SPEC, golden_ctx.config, dtype=torch.bfloat16,
                            strict=True)
    dec = golden_ctx.module(AUDIO_DECODER_SPEC)
    out = decode_audio(golden_ctx.tensor("audio.decode.latent"), dec, voc)
    err = (out.waveform - golden_ctx.tensor("audio.decode.waveform_48k")[0]).abs().max().item()
    assert err <= float(golden_ctx.tolerances["audio.decode.waveform_48k"])
    assert next(voc.parameters()).dtype == torch.bfloat16
    assert voc.mel_stft.mel_basis.dtype == torch.bfloat16 and voc.resampler.filter.dtype == torch.float32


def test_audio_goldens(golden_ctx):
    from model_runtime.goldens import audio

    results = audio.run(golden_ctx)
    compared = {r.name for r in results}
    for name, tol in golden_ctx.tolerances.items():
        if name.startswith("audio.") and tol != "input":
            assert name in compared, f"golden {name} is not compared"
    failed = [f"{r.name}: {r.max_abs_error:.3g} > {r.tolerance} {r.detail}" for r in results if not r.passed]
    assert failed == []
