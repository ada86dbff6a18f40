"""The H.264 encode started before the audio decode (`media.video_encode`): the file is byte-identical to
encoding the frames straight into the MP4, a stale early encode is never used, and a job hands its frames
to the sink before it decodes the audio."""

from __future__ import annotations

import hashlib
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch

from model_runtime.media import mux
from model_runtime.media.mux import AUDIO_CODEC, AUDIO_RATE, fit_audio, video_settings, write_mp4
from model_runtime.media.video_encode import EarlyVideoEncode, VideoEncodeThread, add_video_stream
from model_runtime.pipelines import collect
from model_runtime.pipelines import run as run_pipeline

FPS = 24.0


def _clip(seed: int = 1, frames: int = 17) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (1, 64, 96, 3), dtype=np.uint8)
    video = np.concatenate([np.roll(base, i * 3, axis=2) for i in range(frames)])  # motion: P/B frames
    wave = (rng.standard_normal((2, int(frames / FPS * AUDIO_RATE))) * 0.2).astype(np.float32)
    return video, wave


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _direct_mp4(path: Path, frames: np.ndarray, wave: np.ndarray, tag: str) -> None:
    """The way the MP4 was written before the early encode existed: frames encoded into the file's stream."""
    import av

    settings = video_settings(FPS)
    with av.open(str(path), mode="w", format="mp4", options={"movflags": "+faststart"}) as container:
        container.metadata["comment"] = container.metadata["description"] = tag
        vstream = add_video_stream(container, frames.shape[2], frames.shape[1], settings)
        astream = container.add_stream(AUDIO_CODEC, rate=AUDIO_RATE)
        astream.layout, astream.bit_rate = "stereo", 192_000
        for i, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p", dst_colorspace="itu709")
            frame.pts = i
            container.mux(vstream.encode(frame))
        container.mux(vstream.encode(None))
        mux._encode_audio(container, astream, fit_audio(wave, round(len(frames) / Fraction(FPS) * AUDIO_RATE)), AUDIO_RATE)


def test_early_encode_writes_the_same_bytes_as_a_direct_encode(tmp_path):
    import json

    frames, wave = _clip()
    meta = {"seed": 1}
    write_mp4(tmp_path / "plain.mp4", frames, FPS, wave, AUDIO_RATE, meta)
    early = VideoEncodeThread(frames, video_settings(FPS))
    write_mp4(tmp_path / "early.mp4", frames, FPS, wave, AUDIO_RATE, meta, early=early)
    _direct_mp4(tmp_path / "direct.mp4", frames, wave, json.dumps(meta, sort_keys=True, ensure_ascii=False))
    assert _sha(tmp_path / "early.mp4") == _sha(tmp_path / "plain.mp4") == _sha(tmp_path / "direct.mp4")


def test_stale_early_encode_is_not_used(tmp_path):
    """Other frames (a result spliced after the decode) or other settings: the writer encodes again."""
    frames, wave = _clip()
    other, _ = _clip(seed=2)
    write_mp4(tmp_path / "plain.mp4", frames, FPS, wave, AUDIO_RATE, {"seed": 1})
    for early in (VideoEncodeThread(other, video_settings(FPS)), VideoEncodeThread(frames, video_settings(FPS, crf=30))):
        write_mp4(tmp_path / "x.mp4", frames, FPS, wave, AUDIO_RATE, {"seed": 1}, early=early)
        assert _sha(tmp_path / "x.mp4") == _sha(tmp_path / "plain.mp4")


def test_job_hands_its_frames_over_before_the_audio_decode():
    from tests.runtime.test_pipeline_behaviour import FakeEngine, draft, generate  # the fake-engine harness

    class Engine(FakeEngine):
        def decode_audio(self, latent):
            seen.append(("audio", sink.thread is not None))
            return super().decode_audio(latent)

    seen: list = []
    sink = EarlyVideoEncode(video_settings(FPS))
    result = collect(run_pipeline(Engine(), draft(), None, sink))
    assert seen == [("audio", True)]  # the encode was running when the audio decode began
    assert np.array_equal(sink.thread.frames, result.frames.numpy())
    assert sink.thread.take(result.frames.numpy(), video_settings(FPS)) is not None
    assert torch.equal(result.frames, generate(draft()).frames)  # the sink changes nothing in the job


def test_overlap_only_where_the_decode_leaves_a_core():
    from model_runtime.media.video_encode import encode_overlap_pays

    assert encode_overlap_pays("cuda", 2, 2) and encode_overlap_pays("mps", 8, 8)  # the decode runs on the device
    assert not encode_overlap_pays("cpu", 2, 2)  # torch's threads take every core
    assert encode_overlap_pays("cpu", 16, 8)


def test_runtime_passes_the_sink_only_where_it_pays(monkeypatch):
    """A CPU job whose torch threads take every core gets no sink (the writer encodes after the decode)."""
    from model_runtime.runtime import Runtime
    from tests.runtime.test_pipeline_behaviour import FakeEngine, draft

    sink = EarlyVideoEncode(video_settings(FPS))
    for cores, used in ((torch.get_num_threads(), False), (torch.get_num_threads() + 2, True)):
        monkeypatch.setattr("model_runtime.cpu_threads.cpu_threads", lambda ui=True, cores=cores: cores)
        sink.thread = None
        collect(Runtime(FakeEngine()).generate(draft(), on_video=sink))
        assert (sink.thread is not None) is used
