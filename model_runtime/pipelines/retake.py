"""Retake a span of a clip, or extend a clip: regenerate part of an encoded source, keep the rest exactly.

retake (ltx-pipelines RetakePipeline): the source's frames and sound are encoded at its own size; the
denoise mask is 1 on the video and audio tokens whose time bounds overlap [t0, t1) and 0 elsewhere, so
noise only enters the span and every model output outside it is blended back to the source latent; one
stage at the clip's size (distilled: its 8 sigmas; dev: the guided schedule).
extend: the same mechanism on a longer clip: the source's last frames (at most `items.EXTEND_CONTEXT_S`, as
8k+1 frames) and their sound are encoded and kept, the new seconds after them are generated (mask 1),
and the result is the whole source followed by the generated frames and sound.
Noise is drawn as the reference's retake draws it: video, then audio, of the (one) stage.
"""

from __future__ import annotations

from collections.abc import Generator

import torch

from model_runtime.conditioning.image import fit_to_format, to_model_range
from model_runtime.conditioning.items import Extend, Retake, extend_plan
from model_runtime.conditioning.media_input import (
    MelParams,
    Waveform,
    fit_audio_frames,
    read_frames,
    read_sound,
    resample,
    waveform_to_mel,
)
from model_runtime.conditioning.state import span_mask
from model_runtime.errors import InvalidRequestError
from model_runtime.media.probe import MediaInfo, probe
from model_runtime.pipelines.conditioned import StageStates, initial_states, noise_states, run_states
from model_runtime.pipelines.engine import Engine
from model_runtime.pipelines.geometry import Geometry, geometry
from model_runtime.pipelines.stages import Decoded, Job, decode, encode_prompts, guided_x0, plain_x0
from model_runtime.pipelines.types import Event, GenerationRequest, GenerationResult, StageLatents, VideoSink
from model_runtime.sampling.control import CancelToken
from model_runtime.sampling.schedules import distilled_sigmas, shifted_sigmas


def check_source(info: MediaInfo, request: GenerationRequest, frames: int, what: str) -> None:
    """The request must describe the source clip (the CLI and the app fill it in from `probe_clip`)."""
    if (request.width, request.height, request.frames) != (info.width, info.height, frames) or \
            abs(request.fps - float(info.fps)) > 1e-6:
        raise InvalidRequestError(
            f"{what} of a {info.width}x{info.height} clip of {info.frames} frames at {float(info.fps):g} fps needs a request "
            f"of {info.width}x{info.height}, {frames} frames at {float(info.fps):g} fps; got {request.width}x"
            f"{request.height}, {request.frames} frames at {request.fps:g} fps")


def _encode_frames(job: Job, geom: Geometry, frames: torch.Tensor) -> torch.Tensor:
    """uint8 [F, H, W, 3] -> token-layout latent, through the reference's fill + x / 127.5 - 1."""
    pixels = to_model_range(fit_to_format(frames.float(), geom.height, geom.width, "fill"))
    return geom.video_tokens(job.engine.encode_video(pixels))


def _encode_sound(job: Job, geom: Geometry, wave: Waveform) -> torch.Tensor:
    mel = waveform_to_mel(wave, MelParams.from_config(job.engine.config))
    return geom.audio_tokens(fit_audio_frames(job.engine.encode_audio(mel), geom.audio.frames))


def _masked(states: StageStates, start: float, end: float, audio_too: bool) -> StageStates:
    video = span_mask(states.video, states.video.positions[0, 0, :states.video.grid_tokens], start, end)
    audio = span_mask(states.audio, states.audio.positions[0, 0], start, end) if audio_too else states.audio
    return StageStates(video, audio)


def _regenerate(job: Job, geom: Geometry, states: StageStates) -> Generator[Event, None, StageLatents]:
    """Prompt encoding, the masked noise and one denoising stage at the clip's size."""
    r = job.request
    if r.pipeline == "dev":
        from model_runtime.pipelines.dev import DEFAULT_NEGATIVE_PROMPT, defaults_for

        d = defaults_for(job.engine.model_version)
        negative = r.negative_prompt if r.negative_prompt is not None else DEFAULT_NEGATIVE_PROMPT
        positive, neg = yield from encode_prompts(job, negative)
        sigmas = shifted_sigmas(r.steps or d.steps)
        vg, ag = r.video_guidance or d.video, r.audio_guidance or d.audio

        def make_x0(tokens):
            return guided_x0(job.engine, geom, positive, neg, vg, ag, tokens)
    else:
        positive, _ = yield from encode_prompts(job)
        sigmas = distilled_sigmas(1)

        def make_x0(tokens):
            return plain_x0(job.engine, geom, positive, tokens)
    states = noise_states(job, "stage1", states, 1.0)
    out = yield from run_states(job, "stage1", geom, sigmas, states, make_x0)
    return StageLatents(geom.video_latent(out.video.cleared()), geom.audio_latent(out.audio.cleared()))


def _result(job: Job, latents: StageLatents, decoded: Decoded, kind: str, frames=None, waveform=None,
            sample_rate: int | None = None) -> GenerationResult:
    from model_runtime.pipelines.distilled import base_settings

    r = job.request
    cpu = {"stage1": StageLatents(latents.video.detach().cpu(), latents.audio.detach().cpu())}
    return GenerationResult(
        frames=decoded.frames if frames is None else frames,
        waveform=decoded.waveform if waveform is None else waveform, fps=r.fps,
        sample_rate=decoded.sample_rate if sample_rate is None else sample_rate, latents=cpu,
        settings=base_settings(job, r.pipeline) | {"mode": kind}, video=decoded.video)


def run_retake(engine: Engine, request: GenerationRequest, cancel: CancelToken | None = None,
               on_video: VideoSink | None = None) -> Generator[Event, None, GenerationResult]:
    job = Job(engine, request, cancel, on_video)
    retake: Retake = request.conditioning.retake
    info = probe(retake.source)
    check_source(info, request, info.frames, "a retake")
    geom = geometry(engine.config, request.width, request.height, request.frames, request.fps)
    job.check()
    video = _encode_frames(job, geom, read_frames(retake.source, info.frames))
    wave = read_sound(retake.source)
    audio = _encode_sound(job, geom, wave) if wave is not None else None
    states = initial_states(job, geom, video, audio)
    states = _masked(states, retake.span.start, retake.span.end, audio_too=wave is not None)
    latents = yield from _regenerate(job, geom, states)
    decoded = yield from decode(job, latents.video, latents.audio)
    return _result(job, latents, decoded, "retake")


def run_extend(engine: Engine, request: GenerationRequest, cancel: CancelToken | None = None,
               on_video: VideoSink | None = None) -> Generator[Event, None, GenerationResult]:
    job = Job(engine, request, cancel, on_video)
    extend: Extend = request.conditioning.extend
    info = probe(extend.source)
    fps = float(info.fps)
    plan = extend_plan(info.frames, fps, extend.seconds)
    check_source(info, request, plan.total, f"extending by {extend.seconds:g} s")
    source_sound = read_sound(extend.source, 0.0, info.frames / fps)
    if source_sound is None:
        raise InvalidRequestError(f"{extend.source.name}: has no audio track; extending continues a clip's sound "
                                  "too, so the source needs one")
    geom = geometry(engine.config, request.width, request.height, request.frames, request.fps)
    job.check()
    frames = read_frames(extend.source, info.frames)
    context = frames[-plan.context:]
    ctx_geom = geometry(engine.config, request.width, request.height, plan.context, request.fps)
    context_tokens = _encode_frames(job, ctx_geom, context)
    video = torch.zeros(geom.video_token_shape)
    video[:, :context_tokens.shape[1]] = context_tokens.cpu()
    start = (info.frames - plan.context) / fps
    tail = read_sound(extend.source, start, plan.context / fps)
    audio = _encode_sound(job, geom, tail) if tail is not None else None
    states = initial_states(job, geom, video, audio)
    boundary = plan.context / fps
    states = _masked(states, boundary, plan.total / fps + 1.0, audio_too=audio is not None)
    latents = yield from _regenerate(job, geom, states)
    decoded = yield from decode(job, latents.video, latents.audio)
    out_frames = torch.cat([frames, decoded.frames[plan.context:]], dim=0)
    rate = decoded.sample_rate
    source = resample(source_sound.samples[0].float(), source_sound.sample_rate, rate)
    source = source.repeat(2, 1) if source.shape[0] == 1 else source[:2]
    source = source[:, :round(info.frames / fps * rate)]
    generated = decoded.waveform[:, round(boundary * rate):]
    return _result(job, latents, decoded, "extend", frames=out_frames,
                   waveform=torch.cat([source, generated], dim=1), sample_rate=rate)
