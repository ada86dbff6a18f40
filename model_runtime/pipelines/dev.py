"""Dev (non-distilled) text-to-audio+video with multi-modal guidance.

Stage 1 runs the token-shifted schedule (30 steps for 2.3, 40 for 2.0; the shift uses the 4096-token
default like ltx-pipelines, so the schedule does not depend on the size) with CFG, STG, modality
guidance and rescale per modality. A draft stops there; a render runs stage 1 at half size and then
the distilled x2 upsample + 3-step refinement with the install's distilled LoRA added to the request's
LoRAs, as ltx-pipelines 1.0.0's TI2VidTwoStagesPipeline does (its stage-2 ModelLedger is the stage-1
ledger `.with_loras(distilled_lora)`, which appends). Without a distilled LoRA the refinement runs on the
dev weights (recorded in the settings: the reference's a2v goldens run stage 2 that way).
"""

from __future__ import annotations

import logging
from collections.abc import Generator
from dataclasses import dataclass

from model_runtime.pipelines.distilled import base_settings, finish, first_stage, refine, stage_geometries
from model_runtime.pipelines.engine import Engine, PromptContexts
from model_runtime.pipelines.stages import Job, encode_prompts, guided_x0, use_loras
from model_runtime.pipelines.types import Event, GenerationRequest, GenerationResult, VideoSink
from model_runtime.sampling.control import CancelToken
from model_runtime.sampling.guidance import GuidanceParams
from model_runtime.sampling.schedules import distilled_sigmas, shifted_sigmas

log = logging.getLogger(__name__)

#: ltx-pipelines' DEFAULT_NEGATIVE_PROMPT (1.0.0)
DEFAULT_NEGATIVE_PROMPT = (
    "blurry, out of focus, overexposed, underexposed, low contrast, washed out colors, excessive noise, "
    "grainy texture, poor lighting, flickering, motion blur, distorted proportions, unnatural skin tones, "
    "deformed facial features, asymmetrical face, missing facial features, extra limbs, disfigured hands, "
    "wrong hand count, artifacts around text, inconsistent perspective, camera shake, incorrect depth of "
    "field, background too sharp, background clutter, distracting reflections, harsh shadows, inconsistent "
    "lighting direction, color banding, cartoonish rendering, 3D CGI look, unrealistic materials, uncanny "
    "valley effect, incorrect ethnicity, wrong gender, exaggerated expressions, wrong gaze direction, "
    "mismatched lip sync, silent or muted audio, distorted voice, robotic voice, echo, background noise, "
    "off-sync audio, incorrect dialogue, added dialogue, repetitive speech, jittery movement, awkward "
    "pauses, incorrect timing, unnatural transitions, inconsistent framing, tilted camera, flat lighting, "
    "inconsistent tone, cinematic oversaturation, stylized filters, or AI artifacts."
)


@dataclass(frozen=True)
class DevDefaults:
    steps: int
    video: GuidanceParams
    audio: GuidanceParams


def _defaults(steps: int, stg_block: int) -> DevDefaults:
    return DevDefaults(steps, GuidanceParams(cfg=3.0, stg=1.0, modality=3.0, rescale=0.7, stg_blocks=(stg_block,)),
                       GuidanceParams(cfg=7.0, stg=1.0, modality=3.0, rescale=0.7, stg_blocks=(stg_block,)))


#: model_version prefix -> defaults (ltx-pipelines LTX_2_PARAMS / LTX_2_3_PARAMS); newest first
DEV_DEFAULTS: tuple[tuple[str, DevDefaults], ...] = (("2.3", _defaults(30, 28)), ("", _defaults(40, 29)))


def defaults_for(model_version: str) -> DevDefaults:
    return next(d for prefix, d in DEV_DEFAULTS if model_version.startswith(prefix))


def run(engine: Engine, request: GenerationRequest, cancel: CancelToken | None = None,
        on_video: VideoSink | None = None) -> Generator[Event, None, GenerationResult]:
    """The dev pipeline as a generator of events returning the result."""
    job = Job(engine, request, cancel, on_video)
    d = defaults_for(engine.model_version)
    video_g, audio_g = request.video_guidance or d.video, request.audio_guidance or d.audio
    negative = request.negative_prompt if request.negative_prompt is not None else DEFAULT_NEGATIVE_PROMPT
    first, full = stage_geometries(engine, request)
    distilled = engine.distilled_lora if request.stage == "render" else None
    if distilled is not None:
        yield from use_loras(job, (distilled,))  # check the stage-2 set now, not after stage 1
    loras = yield from use_loras(job)
    positive, neg = yield from encode_prompts(job, negative)
    if request.conditioning is not None and request.conditioning.audio is not None:
        # audio-to-video (ltx-pipelines A2VidPipelineTwoStage): the given sound is not generated, so it is
        # not guided (neutral audio guidance) and the unconditional pass keeps the positive audio context
        audio_g = request.audio_guidance or GuidanceParams()
        neg = PromptContexts(neg.video, positive.audio)
    sigmas = shifted_sigmas(request.steps or d.steps)
    make_x0 = lambda tokens: guided_x0(engine, first, positive, neg, video_g, audio_g, tokens)  # noqa: E731
    latents = {"stage1": (yield from first_stage(job, first, sigmas, make_x0))}
    settings = base_settings(job, "dev") | {
        "negative_prompt": negative, "steps": len(sigmas) - 1, "sigmas": {"stage1": sigmas.tolist()},
        "video_guidance": _as_dict(video_g), "audio_guidance": _as_dict(audio_g), "loras": loras,
    }
    if request.stage == "render":
        if distilled is None:
            log.warning("dev render without a distilled LoRA: stage 2 refines with the dev weights")
        stage2 = yield from use_loras(job, (distilled,) if distilled is not None else ())
        settings["distilled_lora"] = stage2[-1] if distilled is not None else None
        latents["stage2"] = yield from refine(job, full, positive, latents["stage1"])
        settings["sigmas"]["stage2"] = distilled_sigmas(2).tolist()
    return (yield from finish(job, latents, settings))


def _as_dict(g: GuidanceParams) -> dict:
    return {"cfg": g.cfg, "stg": g.stg, "modality": g.modality, "rescale": g.rescale, "stg_blocks": list(g.stg_blocks)}
