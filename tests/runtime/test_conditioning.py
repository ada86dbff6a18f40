"""Conditioning mechanisms and media preprocessing, fast: each against the reference's stored numbers where
the conditioning goldens have them (no model weights), the rules of the items (bad input) otherwise.
The whole conditioned pipelines against the reference are in test_golden_conditioning.py."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors import safe_open

from model_runtime.conditioning.image import h264_roundtrip, image_pixels, load_conditioning_image, read_image
from model_runtime.conditioning.items import (
    AudioTrack,
    Conditioning,
    Extend,
    ImageKeyframe,
    Retake,
    TimeSpan,
    conditioning_problems,
    latent_frame_of,
)
from model_runtime.conditioning.media_input import (
    MelParams,
    Waveform,
    read_frames,
    read_sound,
    read_soundtrack,
    waveform_to_mel,
)
from model_runtime.conditioning.state import (
    TokenState,
    append_guide,
    blend,
    noised,
    replace_latent_frames,
    span_mask,
)
from model_runtime.errors import InvalidRequestError
from model_runtime.media.probe import probe
from model_runtime.models.positions import guide_positions, video_positions
from model_runtime.pipelines.types import GenerationRequest


@pytest.fixture(scope="module")
def cond(tiny_dir):
    path = tiny_dir / "golden_conditioning.safetensors"
    if not path.is_file():
        pytest.skip(f"{path} missing (conditioning goldens)")
    with safe_open(str(path), framework="pt") as fh:
        return {k: fh.get_tensor(k) for k in fh.keys() if not k.startswith(("lora", "kf.stage2.denoised"))}


# --- image preprocessing (the reference's load_image_conditioning) ----------------------------------------
@pytest.mark.parametrize("name,file", [("i2v.image0", "cond_image.png"), ("kf.image1", "cond_mid.png"),
                                       ("kf.image2", "cond_last.png")])
def test_h264_reencode_matches_reference(cond, tiny_dir, name, file):
    ours = h264_roundtrip(read_image(tiny_dir / file), 33)
    assert torch.equal(torch.from_numpy(ours), cond[f"{name}.crf_uint8"])  # same libx264: bit-exact


@pytest.mark.parametrize("stage", ["stage1", "stage2"])
def test_fill_resize_matches_reference(cond, stage):
    ref = cond[f"i2v.{stage}.image0.pixels"]
    ours = image_pixels(cond["i2v.image0.crf_uint8"].numpy(), ref.shape[-2], ref.shape[-1])
    assert ours.shape == ref.shape and (ours - ref).abs().max() <= 1e-5


def test_fit_letterboxes_instead_of_stretching(tiny_dir):
    """A 203x149 image into a 9:16 frame: "fit" keeps the whole picture with black bars, "fill" crops."""
    fit = load_conditioning_image(tiny_dir / "cond_image.png", 192, 96, 0, "fit")
    fill = load_conditioning_image(tiny_dir / "cond_image.png", 192, 96, 0, "fill")
    assert fit.shape == fill.shape == (1, 3, 1, 192, 96)
    assert (fit[..., :40, :] == -1).all() and (fit[..., -40:, :] == -1).all()  # bars top and bottom
    assert (fill[..., :40, :] != -1).any()


def test_unreadable_image_is_a_clear_error(tmp_path):
    bad = tmp_path / "photo.png"
    bad.write_bytes(b"not a png")
    with pytest.raises(InvalidRequestError, match="not a readable image"):
        read_image(bad)
    with pytest.raises(InvalidRequestError, match="no such file"):
        read_image(tmp_path / "missing.png")


# --- media input ----------------------------------------------------------------------------------------
def test_clip_frames_and_sound_decode_like_reference(cond, tiny_dir):
    clip = tiny_dir / "cond_video.mp4"
    info = probe(clip)
    assert (info.width, info.height, info.frames, info.fps, info.has_audio) == (192, 128, 17, 24.0, True)
    assert torch.equal(read_frames(clip, info.frames), cond["retake.source_frames_uint8"])
    assert torch.equal(read_sound(clip).samples, cond["retake.source_audio_waveform"])


@pytest.mark.parametrize("prefix", ["a2v", "retake"])
def test_log_mel_matches_reference(cond, tiny_dir, prefix):
    """Resample 48 -> 16 kHz + Slaney mel, written out in torch (no torchaudio), against the reference."""
    if prefix == "a2v":
        wave = read_sound(tiny_dir / "cond_audio.wav", 0.0, 17 / 24)
    else:
        wave = Waveform(cond["retake.source_audio_waveform"], 48000)
    mel = waveform_to_mel(wave, MelParams())
    ref = cond[f"{prefix}.source_audio_mel"]
    assert mel.shape == ref.shape and (mel - ref).abs().max() <= 1e-4


def test_soundtrack_too_short_or_wrong_format(tiny_dir, tmp_path):
    with pytest.raises(InvalidRequestError, match="too short"):
        read_soundtrack(tiny_dir / "cond_audio.wav", 0.0, 5.0)
    text = tmp_path / "song.wav"
    text.write_text("not audio")
    with pytest.raises(InvalidRequestError, match="not a readable media file"):
        read_soundtrack(text, 0.0, 1.0)
    with pytest.raises(InvalidRequestError, match="has no audio stream"):
        read_soundtrack(tiny_dir / "cond_image.png", 0.0, 1.0)


# --- latent-state mechanisms ----------------------------------------------------------------------------
def test_guide_positions_match_reference(cond):
    """kf stage 1: 18 grid tokens, then frame 8 and frame 16 guides (no causal shift) / fps."""
    ref = cond["kf.stage1.video_positions"]
    grid = video_positions(3, 2, 3, 24.0)
    guides = [guide_positions(1, 2, 3, k, 24.0) for k in (8, 16)]
    assert torch.equal(torch.cat([grid, *guides], dim=2), ref)


def test_attention_strength_mask_matches_reference(cond):
    ref = cond["kf.attn.attention_mask"]  # 72 grid tokens + 24 guide tokens at strength 0.5
    state = TokenState.initial(torch.zeros(1, 72, 4), torch.zeros(1, 3, 72, 2))
    state = append_guide(state, torch.zeros(1, 24, 4), torch.zeros(1, 3, 24, 2), 1.0, attention=0.5)
    assert torch.equal(state.attention, ref)
    assert torch.equal(state.mask, cond["kf.attn.denoise_mask"])


def test_first_frame_replacement_and_mask():
    state = TokenState.initial(torch.zeros(1, 12, 2), torch.zeros(1, 3, 12, 2))
    image = torch.ones(1, 4, 2)
    out = replace_latent_frames(state, image, 0, 0.75)
    assert torch.equal(out.latent[:, :4], image) and torch.equal(out.clean[:, :4], image)
    assert torch.allclose(out.mask[0, :4, 0], torch.full((4,), 0.25)) and (out.mask[0, 4:] == 1).all()
    assert (state.latent == 0).all()  # the input state is not changed
    noise = torch.randn(1, 12, 2)
    n = noised(out, noise, 1.0)
    assert torch.allclose(n.latent[:, :4], noise[:, :4] * 0.25 + 0.75)  # partly noised by its mask
    assert torch.equal(n.latent[:, 4:], noise[:, 4:])
    x0 = torch.full((1, 12, 2), 5.0)
    blended = blend(x0, out)
    assert torch.allclose(blended[:, :4], torch.full((1, 4, 2), 5.0 * 0.25 + 0.75)) and (blended[:, 4:] == 5).all()


def test_span_mask_keeps_outside_exactly():
    positions = video_positions(3, 1, 1, 24.0)  # latent frames cover [0,1/24), [2/24, 9/24), [10/24, 17/24)
    state = TokenState.initial(torch.randn(1, 3, 2), positions)
    masked = span_mask(state, positions[0, 0], 0.1, 0.3)
    assert masked.mask[0, :, 0].tolist() == [0.0, 1.0, 0.0]
    n = noised(masked, torch.randn(1, 3, 2), 1.0)
    assert torch.equal(n.latent[:, [0, 2]], state.latent[:, [0, 2]])


# --- request rules (bad input: a clear message, no job) ----------------------------------------------------
def _req(c: Conditioning, frames: int = 17) -> GenerationRequest:
    return GenerationRequest(prompt="a fox", width=64, height=64, frames=frames, fps=24.0, conditioning=c)


@pytest.mark.parametrize("c,message", [
    (Conditioning(images=(ImageKeyframe(Path("a.png"), 17),)), "past the clip's end"),
    (Conditioning(images=(ImageKeyframe(Path("a.png"), 9), ImageKeyframe(Path("b.png"), 16))), "same latent frame"),
    (Conditioning(images=(ImageKeyframe(Path("a.png"), 0, 1.5),)), "strength must be between 0 and 1"),
    (Conditioning(retake=Retake(Path("c.mp4"), TimeSpan(0.5, 0.9))), "ends after the clip's end"),
    (Conditioning(retake=Retake(Path("c.mp4"), TimeSpan(0.3, 0.1))), "0 <= start < end"),
    (Conditioning(extend=Extend(Path("c.mp4"), -1.0)), "positive number of seconds"),
    (Conditioning(retake=Retake(Path("c.mp4"), TimeSpan(0.1, 0.2)), extend=Extend(Path("c.mp4"), 1.0)), "not both"),
])
def test_bad_conditioning_is_refused(c, message):
    with pytest.raises(InvalidRequestError, match=message):
        _req(c)


def test_keyframes_on_distinct_latent_frames_are_fine():
    assert [latent_frame_of(k) for k in (0, 1, 8, 9, 16)] == [0, 1, 1, 2, 2]
    c = Conditioning(images=(ImageKeyframe(Path("a.png"), 0), ImageKeyframe(Path("b.png"), 8),
                             ImageKeyframe(Path("c.png"), 16, 0.8)))
    assert conditioning_problems(c, 17, 24.0) == []
    assert _req(c).images == c.images


def test_settings_round_trip():
    c = Conditioning(images=(ImageKeyframe(Path("/x/a.png"), 8, 0.5, fit="fit"),),
                     audio=AudioTrack(Path("/x/s.wav"), 1.5))
    assert Conditioning.from_settings(c.as_settings()) == c
    r = Conditioning(retake=Retake(Path("/x/c.mp4"), TimeSpan(0.25, 0.5)))
    assert Conditioning.from_settings(r.as_settings()) == r


def test_memory_planner_counts_guide_tokens():
    """Each keyframe at a frame other than 0 appends one latent frame of tokens to every stage."""
    from model_runtime.memory.plan import RequestShape

    plain = RequestShape(1280, 704, 121, 24.0)
    keyed = RequestShape(1280, 704, 121, 24.0, per_token_timestep=True, guide_frames=2)
    grid = plain.latent().video_tokens
    assert keyed.latent().video_tokens == grid + 2 * 22 * 40
    assert keyed.latent().halved().video_tokens == (16 + 2) * 11 * 20
