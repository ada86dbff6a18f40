"""Pipeline behaviour with a hand-written fake engine (no weights): determinism, promotion, cancel,
progress order, request validation. The numbers against the reference are in test_golden_e2e.py."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
import torch

from model_runtime.errors import GenerationCancelled, InvalidRequestError, RuntimeErrorBase
from model_runtime.pipelines import collect
from model_runtime.pipelines import run as run_pipeline
from model_runtime.pipelines.engine import NO_PERTURBATION, DecodedAudio, Perturbation, PromptContexts
from model_runtime.pipelines.types import GenerationRequest, GenerationResult, PreviewEvent, ProgressEvent
from model_runtime.runtime import Runtime
from model_runtime.sampling.control import CancelToken
from model_runtime.sampling.guidance import GuidanceParams
from tests.events import drain


@dataclass
class FakeEngine:
    """Cheap deterministic stand-ins for the model operations; counts what ran."""

    config: dict = field(default_factory=dict)  # geometry falls back to the LTX-2.x latent layout
    model_version: str = "2.3.0"
    device: torch.device = torch.device("cpu")
    denoise_calls: list = field(default_factory=list)
    upsample_calls: int = 0
    video_decodes: int = 0
    audio_decodes: int = 0
    on_denoise: object = None  # optional hook(call_index) to cancel from "inside" a step
    distilled_lora: object = None
    lora_calls: list = field(default_factory=list)  # (loras, mode, denoise calls made before)

    def use_loras(self, loras, mode):
        self.lora_calls.append((tuple(loras), mode, len(self.denoise_calls)))
        return tuple({"name": s.path.name, "strength": s.strength} for s in loras)

    def encode_prompts(self, prompts):
        return tuple(PromptContexts(torch.full((1, 4, 8), len(p) / 100), torch.full((1, 4, 4), len(p) / 50))
                     for p in prompts)

    def denoise(self, video, audio, sigma, geometry, contexts, perturbation: Perturbation = NO_PERTURBATION):
        self.denoise_calls.append((float(sigma), perturbation, contexts))
        if self.on_denoise is not None:
            self.on_denoise(len(self.denoise_calls))
        shift = contexts.video.mean() + 0.1 * perturbation.isolate_modalities + 0.05 * len(perturbation.video_stg_blocks)
        return torch.tanh(video) * 0.5 + shift, torch.tanh(audio) * 0.5 - shift

    def upsample(self, latent):
        self.upsample_calls += 1
        return latent.repeat_interleave(2, dim=-1).repeat_interleave(2, dim=-2) * 0.9

    def decode_video(self, latent, tiled):
        self.video_decodes += 1
        f = latent.shape[2]
        pixels = torch.tanh(latent[:, :3]).repeat_interleave(32, dim=-1).repeat_interleave(32, dim=-2)
        index = torch.tensor([0] + [1 + i // 8 for i in range(8 * (f - 1))])
        yield pixels[:, :, index]

    def decode_audio(self, latent):
        self.audio_decodes += 1
        return DecodedAudio(torch.tanh(latent.mean()) * torch.ones(2, latent.shape[2] * 1920), 48000)


def draft(**kw) -> GenerationRequest:
    args = dict(prompt="a fox in the snow", width=64, height=64, frames=9, fps=24.0, seed=7, previews=False)
    return GenerationRequest(**(args | kw))


def render(**kw) -> GenerationRequest:
    return draft(width=128, height=128, stage="render", **kw)


def generate(request, engine=None, cancel=None) -> GenerationResult:
    return collect(run_pipeline(engine or FakeEngine(), request, cancel))


# --- determinism and promotion -------------------------------------------------------------------
@pytest.mark.parametrize("make", [draft, render])
def test_same_seed_same_frames(make):
    a, b = generate(make()), generate(make())
    assert a.frames.dtype == torch.uint8 and a.frames.shape[-1] == 3
    assert a.frames.numpy().tobytes() == b.frames.numpy().tobytes()
    assert torch.equal(a.waveform, b.waveform)
    assert generate(make(seed=8)).frames.numpy().tobytes() != a.frames.numpy().tobytes()


def test_result_shapes_and_latents():
    r = generate(render())
    assert tuple(r.frames.shape) == (9, 128, 128, 3)
    assert r.waveform.shape[0] == 2 and r.sample_rate == 48000 and r.fps == 24.0
    assert tuple(r.latents["stage1"].video.shape) == (1, 128, 2, 2, 2)
    assert tuple(r.latents["stage2"].video.shape) == (1, 128, 2, 4, 4)
    assert r.latents["stage1"].audio.shape == r.latents["stage2"].audio.shape
    assert r.video is None  # not kept unless asked
    assert r.settings["stage"] == "render" and r.settings["seed"] == 7


def test_promoted_draft_equals_direct_render():
    """Promotion skips stage 1 but keeps the seeded stage-2 noise: same frames as a direct render."""
    d = generate(draft())
    engine = FakeEngine()
    promoted = generate(render(draft_latents=d.latents["stage1"]), engine)
    direct = generate(render())
    assert len(engine.denoise_calls) == 3  # only the refinement ran
    assert promoted.frames.numpy().tobytes() == direct.frames.numpy().tobytes()
    assert promoted.settings["promoted_from_draft"] is True


def test_promoting_a_draft_of_the_wrong_size_is_refused():
    d = generate(draft(width=96))
    with pytest.raises(InvalidRequestError, match="promote a draft of 64x64"):
        generate(render(draft_latents=d.latents["stage1"]))


def test_explicit_noise_replaces_the_seeded_draw():
    noise = torch.zeros(1, 8, 128)
    a, b = generate(draft()), generate(draft(initial_noise={"stage1_video": noise}))
    assert a.frames.numpy().tobytes() != b.frames.numpy().tobytes()
    with pytest.raises(InvalidRequestError, match="shape"):
        generate(draft(initial_noise={"stage1_video": torch.zeros(1, 9, 128)}))


# --- cancel ----------------------------------------------------------------------------------------
def test_cancel_mid_stage_raises_and_nothing_runs_after():
    engine, token, seen = FakeEngine(), CancelToken(), []
    events = run_pipeline(engine, render(), token)
    with pytest.raises(GenerationCancelled):
        for ev in events:
            seen.append(ev)
            if isinstance(ev, ProgressEvent) and ev.stage == "stage1" and ev.step == 3:
                token.cancel()
    assert len(engine.denoise_calls) == 3
    assert engine.upsample_calls == engine.video_decodes == engine.audio_decodes == 0
    assert not any(isinstance(ev, ProgressEvent) and ev.stage == "decode" for ev in seen)


def test_cancel_during_the_last_step_prevents_decode():
    token = CancelToken()
    engine = FakeEngine(on_denoise=lambda n: token.cancel() if n == 8 else None)
    with pytest.raises(GenerationCancelled):
        generate(draft(), engine, token)
    assert len(engine.denoise_calls) == 8
    assert engine.video_decodes == engine.audio_decodes == 0


def test_cancel_before_start():
    engine, token = FakeEngine(), CancelToken()
    token.cancel("user closed the window")
    with pytest.raises(GenerationCancelled, match="closed the window"):
        generate(draft(), engine, token)
    assert engine.denoise_calls == []


# --- progress --------------------------------------------------------------------------------------
def test_progress_events_in_order_and_result_last():
    runtime = Runtime(FakeEngine())
    events, result = drain(runtime.generate(render(previews=True)))
    assert isinstance(result, GenerationResult)
    assert all(isinstance(e, ProgressEvent | PreviewEvent) for e in events)  # events only: the result is returned
    progress = [(e.stage, e.step, e.total) for e in events if isinstance(e, ProgressEvent)]
    expected = ([("text", 0, 1), ("text", 1, 1)] + [("stage1", i, 8) for i in range(9)]
                + [("upsample", 0, 1), ("upsample", 1, 1)] + [("stage2", i, 3) for i in range(4)]
                + [("decode", 0, 2), ("decode", 1, 2), ("decode", 2, 2)])
    assert progress == expected
    elapsed = [e.elapsed_s for e in events if isinstance(e, ProgressEvent)]
    assert elapsed == sorted(elapsed)
    steps = [e for e in events if isinstance(e, ProgressEvent) and e.stage.startswith("stage") and e.step]
    assert all(e.eta_s is not None and e.eta_s >= 0 for e in steps)
    assert steps[-1].eta_s == 0
    previews = [e for e in events if isinstance(e, PreviewEvent)]
    assert [(p.stage, p.step) for p in previews] == [(s, i) for s, n in (("stage1", 8), ("stage2", 3))
                                                     for i in range(1, n + 1)]
    assert previews[0].image.dtype == torch.uint8 and tuple(previews[0].image.shape) == (2, 2, 2, 3)
    # each preview directly follows the progress event of its step
    for i, e in enumerate(events):
        if isinstance(e, PreviewEvent):
            before = events[i - 1]
            assert isinstance(before, ProgressEvent) and (before.stage, before.step) == (e.stage, e.step)


def test_runtime_runs_one_job_at_a_time():
    runtime = Runtime(FakeEngine())
    first = runtime.generate(draft())
    next(first)
    with pytest.raises(RuntimeErrorBase, match="already running"):
        next(runtime.generate(draft()))
    first.close()  # abandoning a job frees the runtime
    assert isinstance(drain(runtime.generate(draft()))[1], GenerationResult)


# --- dev pipeline ----------------------------------------------------------------------------------
def test_dev_pipeline_runs_the_guidance_passes():
    engine = FakeEngine()
    g = GuidanceParams(cfg=3.0, stg=1.0, modality=3.0, rescale=0.7, stg_blocks=(1,))
    r = generate(draft(pipeline="dev", steps=3, video_guidance=g, audio_guidance=g), engine)
    assert len(engine.denoise_calls) == 3 * 4  # cond, uncond, perturbed, isolated per step
    assert r.settings["steps"] == 3 and r.settings["video_guidance"]["stg_blocks"] == [1]
    assert "blurry" in r.settings["negative_prompt"]  # the default negative prompt


def test_dev_pipeline_with_neutral_guidance_runs_one_pass():
    engine = FakeEngine()
    neutral = GuidanceParams()
    generate(draft(pipeline="dev", steps=2, video_guidance=neutral, audio_guidance=neutral), engine)
    assert len(engine.denoise_calls) == 2


# --- validation ------------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, message", [
    (dict(prompt="   "), "prompt is empty"),
    (dict(frames=10), r"8k\+1"),
    (dict(width=100), "multiple of 32"),
    (dict(height=0), "multiple of 32"),
    (dict(width=96, stage="render"), "multiple of 64"),
    (dict(fps=0), "fps"),
    (dict(fps=float("nan")), "fps"),
    (dict(stage="final"), "stage"),
    (dict(steps=20), "fixed schedule"),
    (dict(pipeline="dev", steps=0), "steps"),
    (dict(initial_noise={"stage3_video": torch.zeros(1)}), "unknown initial-noise"),
])
def test_invalid_requests_are_rejected_with_a_message(kwargs, message):
    with pytest.raises(InvalidRequestError, match=message):
        draft(**kwargs)


def test_frames_message_suggests_the_nearest_valid_count():
    with pytest.raises(InvalidRequestError, match="nearest: 121"):
        draft(frames=120)


def test_every_problem_is_reported_at_once():
    with pytest.raises(InvalidRequestError) as err:
        draft(width=100, frames=10)
    assert "width 100" in str(err.value) and "frames 10" in str(err.value)


# --- the real runtime on the tiny checkpoint ---------------------------------------------------------
@pytest.mark.slow
def test_real_runtime_draft_is_deterministic_and_loads_lazily(tiny_dir):
    from model_runtime.runtime import ModelPaths

    paths = ModelPaths(tiny_dir / "checkpoint.safetensors", tiny_dir / "spatial_upscaler_x2.safetensors",
                       tiny_dir / "text_encoder")
    runtime = Runtime.open(paths, device="cpu", dtype=torch.float32)
    assert runtime.engine.loaded() == ()  # opening reads headers only
    request = draft(width=96, height=64)
    first = drain(runtime.generate(request))[1]
    assert "upsampler" not in runtime.engine.loaded()  # a draft never needs the upscaler
    second = drain(runtime.generate(request))[1]
    assert isinstance(first, GenerationResult) and tuple(first.frames.shape) == (9, 64, 96, 3)
    assert first.frames.numpy().tobytes() == second.frames.numpy().tobytes()
    assert torch.equal(first.waveform, second.waveform) and first.sample_rate == 48000
