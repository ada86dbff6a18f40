"""Distilled text-to-audio+video: a one-stage draft, a two-stage render, and a draft promoted to a render.

draft:   8 fixed sigmas at the requested size (what stage 1 of a render would do at that size).
render:  stage 1 at half size (8 sigmas), x2 latent upsample, re-noise video AND audio to the first
         stage-2 sigma, 3 refinement sigmas at full size, decode.
promote: a render whose request carries a finished draft's stage-1 latents: stage 1 is skipped (its
         noise is still drawn so the stage-2 noise equals that of a direct render with the same seed:
         promoting a draft gives the render you would have got).
This follows ltx-pipelines' DistilledPipeline step for step, images included: at each stage an image at
frame 0 replaces the first latent frame, any other frame appends guide tokens (`pipelines.conditioned`);
the request's LoRAs apply to both stages, as its ModelLedger applies `loras` to the one transformer.
"""

from __future__ import annotations

from collections.abc import Generator

from model_runtime.errors import InvalidRequestError
from model_runtime.pipelines.conditioned import (
    X0Factory,
    attach_images,
    guide_token_count,
    initial_states,
    noise_states,
    run_states,
    skip_stage_noise,
    soundtrack_output,
)
from model_runtime.pipelines.engine import Engine, PromptContexts
from model_runtime.pipelines.geometry import Geometry, geometry
from model_runtime.pipelines.stages import Job, decode, decoder_kind, encode_prompts, plain_x0, use_loras
from model_runtime.pipelines.types import Event, GenerationRequest, GenerationResult, StageLatents, VideoSink
from model_runtime.sampling.control import CancelToken
from model_runtime.sampling.schedules import distilled_sigmas


def stage_geometries(engine: Engine, request: GenerationRequest) -> tuple[Geometry, Geometry]:
    """(first-stage geometry, output geometry): equal for a draft, half size then full for a render."""
    full = geometry(engine.config, request.width, request.height, request.frames, request.fps)
    if request.stage == "draft":
        return full, full
    half = geometry(engine.config, request.width // 2, request.height // 2, request.frames, request.fps)
    return half, full


def first_stage(job: Job, geom: Geometry, sigmas, make_x0: X0Factory) -> Generator[Event, None, StageLatents]:
    """Stage 1 from pure noise with the request's images attached at this size (or skipped for a promoted
    draft, whose latents are checked instead; its noise, guide tokens included, is still drawn)."""
    draft = job.request.draft_latents
    images = job.request.images
    if draft is not None:
        _check_draft(draft, geom)
        skip_stage_noise(job, "stage1", geom, guide_token_count(geom, images))
        return StageLatents(draft.video.detach(), draft.audio.detach())
    states = attach_images(job, geom, initial_states(job, geom), images)
    states = noise_states(job, "stage1", states, 1.0)
    ancestral = bool(getattr(job.engine, "ancestral_stage1", False))  # LTX-2.5: Euler-ancestral stage 1
    out = yield from run_states(job, "stage1", geom, sigmas, states, make_x0, ancestral=ancestral)
    return StageLatents(geom.video_latent(out.video.cleared()), geom.audio_latent(out.audio.cleared()))


def refine(job: Job, full: Geometry, contexts: PromptContexts, s1: StageLatents
           ) -> Generator[Event, None, StageLatents]:
    """Upsample the stage-1 video x2, attach the images at full size, re-noise video and audio to the first
    stage-2 sigma (by mask), refine."""
    job.check()
    yield job.event("upsample", 0, 1)
    upsampled = job.engine.upsample(s1.video.to(job.engine.device))
    yield job.event("upsample", 1, 1)
    sigmas = distilled_sigmas(2)
    states = initial_states(job, full, full.video_tokens(upsampled), full.audio_tokens(s1.audio))
    states = attach_images(job, full, states, job.request.images)
    states = noise_states(job, "stage2", states, sigmas[0])
    out = yield from run_states(job, "stage2", full, sigmas, states,
                                lambda tokens: plain_x0(job.engine, full, contexts, tokens))
    return StageLatents(full.video_latent(out.video.cleared()), full.audio_latent(out.audio.cleared()))


def finish(job: Job, latents: dict[str, StageLatents], settings: dict) -> Generator[Event, None, GenerationResult]:
    """Decode the last stage's latents and assemble the result (latents moved to the CPU)."""
    last = latents["stage2" if "stage2" in latents else "stage1"]
    decoded = yield from decode(job, last.video, last.audio, soundtrack_output(job))
    cpu = {k: StageLatents(v.video.detach().cpu(), v.audio.detach().cpu()) for k, v in latents.items()}
    return GenerationResult(frames=decoded.frames, waveform=decoded.waveform, fps=job.request.fps,
                            sample_rate=decoded.sample_rate, latents=cpu, settings=settings, video=decoded.video)


def base_settings(job: Job, pipeline: str) -> dict:
    r = job.request
    return {
        "pipeline": pipeline, "stage": r.stage, "prompt": r.prompt, "seed": r.seed, "width": r.width,
        "height": r.height, "frames": r.frames, "fps": r.fps, "model_version": job.engine.model_version,
        "promoted_from_draft": r.draft_latents is not None, "explicit_noise": sorted(r.initial_noise or ()),
        "tiled_decode": r.tiled_decode, "decoder": decoder_kind(job), "lora_mode": r.lora_mode,
    } | ({"conditioning": r.conditioning.as_settings()} if r.conditioning is not None else {})


def run(engine: Engine, request: GenerationRequest, cancel: CancelToken | None = None,
        on_video: VideoSink | None = None) -> Generator[Event, None, GenerationResult]:
    """The distilled pipeline as a generator of events returning the result."""
    job = Job(engine, request, cancel, on_video)
    first, full = stage_geometries(engine, request)
    loras = yield from use_loras(job)  # the distilled model: the same LoRAs in both stages
    contexts, _ = yield from encode_prompts(job)
    s1_sigmas = distilled_sigmas(1)
    make_x0 = lambda tokens: plain_x0(engine, first, contexts, tokens)  # noqa: E731
    latents = {"stage1": (yield from first_stage(job, first, s1_sigmas, make_x0))}
    settings = base_settings(job, "distilled") | {"sigmas": {"stage1": s1_sigmas.tolist()}, "loras": loras}
    if request.stage == "render":
        latents["stage2"] = yield from refine(job, full, contexts, latents["stage1"])
        settings["sigmas"]["stage2"] = distilled_sigmas(2).tolist()
    return (yield from finish(job, latents, settings))


def _check_draft(draft: StageLatents, geom: Geometry) -> None:
    if tuple(draft.video.shape) != geom.video_shape or tuple(draft.audio.shape) != geom.audio_shape:
        raise InvalidRequestError(
            f"the draft's latents (video {tuple(draft.video.shape)}, audio {tuple(draft.audio.shape)}) do not "
            f"match this render's first stage (video {geom.video_shape}, audio {geom.audio_shape}): promote a "
            f"draft of {geom.width}x{geom.height}, {geom.frames} frames at {geom.fps:g} fps"
        )
