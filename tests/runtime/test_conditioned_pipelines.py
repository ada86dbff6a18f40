"""Conditioned pipelines with the hand-written fake engine (no weights): what each kind of direction keeps
and changes. The numbers against the reference are in test_golden_conditioning.py."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from model_runtime.conditioning.items import (
    AudioTrack,
    Conditioning,
    Extend,
    ImageKeyframe,
    Retake,
    TimeSpan,
    extend_plan,
)
from model_runtime.conditioning.media_input import read_frames, read_sound
from model_runtime.errors import InvalidRequestError
from model_runtime.media.mux import write_mp4
from model_runtime.media.probe import probe
from model_runtime.pipelines.types import GenerationRequest, StageLatents
from tests.runtime.test_pipeline_behaviour import FakeEngine, generate


@pytest.fixture(scope="module")
def images(tiny_dir) -> tuple[Path, Path, Path]:
    return tiny_dir / "cond_image.png", tiny_dir / "cond_mid.png", tiny_dir / "cond_last.png"


def request(**kw) -> GenerationRequest:
    args = dict(prompt="a fox in the snow", width=64, height=64, frames=17, fps=24.0, seed=7, previews=False)
    return GenerationRequest(**(args | kw))


def test_first_frame_is_kept_exactly(images):
    engine = FakeEngine()
    c = Conditioning(images=(ImageKeyframe(images[0], 0, 1.0),))
    result = generate(request(conditioning=c), engine)
    tokens = engine.tokens[0]
    assert tokens is not None and (tokens.video_mask[0, :4, 0] == 0).all() and (tokens.video_mask[0, 4:] == 1).all()
    image_latent = FakeEngine().encode_video(torch.zeros(1, 3, 1, 64, 64))  # shape only
    assert result.latents["stage1"].video.shape[2:] == (3, 2, 2)
    assert engine.encoded_videos == [(1, 3, 1, 64, 64)] and image_latent.shape == (1, 128, 1, 2, 2)
    plain = generate(request(), FakeEngine())
    assert not torch.equal(result.frames, plain.frames)


def test_keyframes_append_guide_tokens_and_stay_out_of_the_result(images):
    engine = FakeEngine()
    c = Conditioning(images=(ImageKeyframe(images[0], 0), ImageKeyframe(images[1], 8, 0.8),
                             ImageKeyframe(images[2], 16)))
    result = generate(request(conditioning=c), engine)
    tokens = engine.tokens[0]
    grid = 3 * 2 * 2
    assert tokens.video_positions.shape == (1, 3, grid + 8, 2)  # two guides of one 2x2-token latent frame
    assert torch.allclose(tokens.video_mask[0, grid:grid + 4, 0], torch.full((4,), 0.2))
    assert (tokens.video_mask[0, grid + 4:, 0] == 0).all()
    assert tokens.video_positions[0, 0, grid, 0].item() == pytest.approx(8 / 24)  # no causal shift
    assert result.latents["stage1"].video.shape == (1, 128, 3, 2, 2)
    assert result.frames.shape[0] == 17 and result.settings["conditioning"]["images"][1]["frame"] == 8


def test_promoted_draft_keeps_the_conditioning(images):
    """A render promoted from a keyframed draft equals the direct render (same guide-token noise draws)."""
    c = Conditioning(images=(ImageKeyframe(images[0], 0), ImageKeyframe(images[2], 16)))
    direct = generate(request(width=128, height=128, stage="render", conditioning=c))
    draft = generate(request(conditioning=c))
    promoted = generate(request(width=128, height=128, stage="render", conditioning=c,
                                draft_latents=StageLatents(draft.latents["stage1"].video,
                                                           draft.latents["stage1"].audio)))
    assert torch.equal(promoted.frames, direct.frames) and torch.equal(promoted.waveform, direct.waveform)


def test_soundtrack_drives_and_is_the_result_sound(tiny_dir):
    engine = FakeEngine()
    c = Conditioning(audio=AudioTrack(tiny_dir / "cond_audio.wav"))
    result = generate(request(conditioning=c), engine)
    assert engine.audio_decodes == 0 and result.sample_rate == 48000
    assert result.waveform.shape == (2, round(17 / 24 * 48000))
    tokens = engine.tokens[0]
    assert (tokens.audio_mask == 0).all() and (tokens.video_mask == 1).all()


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    """A 64x64, 17-frame clip with sound, written by the runtime's own muxer."""
    path = tmp_path_factory.mktemp("clip") / "source.mp4"
    frames = np.zeros((17, 64, 64, 3), np.uint8)
    frames[:, :, :, 0] = np.arange(17, dtype=np.uint8)[:, None, None] * 12
    t = np.arange(round(17 / 24 * 48000)) / 48000
    wave = np.stack([0.3 * np.sin(2 * np.pi * 440 * t)] * 2).astype(np.float32)
    write_mp4(path, frames, 24.0, wave, 48000, {"test": True})
    return path


def test_retake_keeps_everything_outside_the_span(clip):
    engine = FakeEngine()
    c = Conditioning(retake=Retake(clip, TimeSpan(0.1, 0.3)))
    result = generate(request(conditioning=c), engine)
    source = engine.encode_video(torch.zeros(1, 3, 17, 64, 64))  # shape reference
    mask = engine.tokens[0].video_mask[0, :, 0].reshape(3, 4)
    assert mask[:, 0].tolist() == [0.0, 1.0, 0.0]  # only latent frame 1 ([2/24, 9/24) s) overlaps 0.1..0.3 s
    assert (engine.tokens[0].audio_mask[0, :, 0] > 0).any() and (engine.tokens[0].audio_mask == 0).any()
    assert result.latents["stage1"].video.shape == source.shape
    assert result.settings["mode"] == "retake"


def test_retake_span_outside_the_clip_is_refused(clip):
    with pytest.raises(InvalidRequestError, match="after the clip's end"):
        request(conditioning=Conditioning(retake=Retake(clip, TimeSpan(0.5, 2.0))))


def test_extend_appends_new_frames_after_the_source(clip):
    info = probe(clip)
    plan = extend_plan(info.frames, info.fps, 0.5)
    assert plan.context == 17 and plan.new == 16
    engine = FakeEngine()
    c = Conditioning(extend=Extend(clip, 0.5))
    result = generate(request(frames=plan.total, conditioning=c), engine)
    assert result.frames.shape[0] == 17 + 16
    assert torch.equal(result.frames[:17], read_frames(clip, 17))  # the source is kept as it was
    kept = read_sound(clip, 0.0, 17 / 24).samples[0]
    assert torch.equal(result.waveform[:, :kept.shape[1]], kept)  # and so is its sound
    assert result.waveform.shape[1] > kept.shape[1] + 0.5 * 48000
    mask = engine.tokens[0].video_mask[0, :, 0].reshape(-1, 4)[:, 0]
    assert mask.tolist() == [0.0, 0.0, 0.0, 1.0, 1.0]


def test_extend_needs_a_source_with_sound(tmp_path):
    silent = tmp_path / "silent.mp4"
    write_mp4(silent, np.zeros((9, 64, 64, 3), np.uint8), 24.0, None)
    c = Conditioning(extend=Extend(silent, 0.5))
    with pytest.raises(InvalidRequestError, match="no audio track"):
        generate(request(frames=extend_plan(9, 24.0, 0.5).total, conditioning=c))
