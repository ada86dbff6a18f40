"""Building blocks shared by the pipelines: prompt encoding, one denoising stage, decoding.

Each block is a generator that yields progress/preview events and returns its value, so a pipeline
reads as a short sequence of `x = yield from block(...)` lines and the whole job is one generator
the runtime can hand to the GUI worker. Cancellation is checked between steps (in the Euler loop) and
before every expensive block, so a cancelled job never reaches the decoder.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field

import torch

from model_runtime.models.video_vae import video_to_uint8
from model_runtime.pipelines.engine import (
    DecodedAudio,
    Engine,
    Perturbation,
    PromptContexts,
    TokenConditioning,
)
from model_runtime.pipelines.geometry import Geometry
from model_runtime.pipelines.preview import preview_rgb
from model_runtime.pipelines.types import (
    Event,
    GenerationRequest,
    NoticeEvent,
    PreviewEvent,
    ProgressEvent,
    VideoSink,
)
from model_runtime.sampling.ancestral import AncestralNoise, ancestral_loop
from model_runtime.sampling.control import CancelToken, StepClock
from model_runtime.sampling.euler import Latents, X0Function, euler_loop
from model_runtime.sampling.guidance import GuidanceParams, guide
from model_runtime.sampling.noise import NoiseSource

log = logging.getLogger(__name__)


@dataclass
class Job:
    """One running generation: its request, engine, noise source, cancel token and start time."""

    engine: Engine
    request: GenerationRequest
    cancel: CancelToken | None = None
    on_video: VideoSink | None = None  # given the uint8 frames once decoded, before the audio decode
    noise: NoiseSource = field(init=False)
    started: float = field(default_factory=time.monotonic)
    cache: dict = field(default_factory=dict)  # per-job results shared by its stages (an encoded soundtrack)

    def __post_init__(self) -> None:
        self.noise = NoiseSource(self.request.seed, self.request.initial_noise)
        self.ancestral = AncestralNoise(self.request.seed, self.request.initial_noise)

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def check(self) -> None:
        if self.cancel is not None:
            self.cancel.raise_if_cancelled()

    def event(self, stage: str, step: int, total: int, eta: float | None = None) -> ProgressEvent:
        return ProgressEvent(stage, step, total, self.elapsed(), eta)


def use_loras(job: Job, extra: tuple = ()) -> Generator[Event, None, list[dict]]:
    """Run the transformer with the request's LoRAs (plus `extra`, e.g. the distilled LoRA of a dev
    refinement) from the next step on; checked before anything heavy runs. A LoRA with keys that match
    nothing in this model is applied in part, so the user is told (NoticeEvent), not just the log.
    Returns each LoRA's provenance for the result's settings."""
    job.check()
    applied = list(job.engine.use_loras((*job.request.loras, *extra), job.request.lora_mode))
    for entry in applied:
        if entry.get("unmatched_keys"):
            examples = ", ".join(entry.get("unmatched_examples", []))
            yield NoticeEvent(f"{entry['name']}: {entry['unmatched_keys']} of its keys match nothing in this "
                              f"model and are not applied (e.g. {examples})")
    return applied


def encode_prompts(job: Job, negative: str | None = None
                   ) -> Generator[Event, None, tuple[PromptContexts, PromptContexts | None]]:
    """Encode the prompt (and a negative prompt for guidance) in one text-encoder residency."""
    job.check()
    yield job.event("text", 0, 1)
    prompts = (job.request.prompt,) if negative is None else (job.request.prompt, negative)
    encoded = job.engine.encode_prompts(prompts)
    yield job.event("text", 1, 1)
    return encoded[0], (encoded[1] if negative is not None else None)


def plain_x0(engine: Engine, geometry: Geometry, contexts: PromptContexts,
             tokens: TokenConditioning | None = None) -> X0Function:
    """The distilled model's x0: one transformer call with the prompt (and the conditioning's tokens)."""

    def x0(latents: Latents, sigma: torch.Tensor, index: int) -> Latents:
        return engine.denoise(latents[0], latents[1], sigma, geometry, contexts, tokens=tokens)

    return x0


def guided_x0(engine: Engine, geometry: Geometry, positive: PromptContexts, negative: PromptContexts,
              video: GuidanceParams, audio: GuidanceParams, tokens: TokenConditioning | None = None) -> X0Function:
    """The dev model's x0: cond, uncond (negative prompt), STG-perturbed and modality-isolated passes
    (each only when some modality's strength needs it), combined per modality by `guide`."""
    stg = Perturbation(video_stg_blocks=video.stg_blocks if video.needs_perturbed else (),
                       audio_stg_blocks=audio.stg_blocks if audio.needs_perturbed else ())
    isolated = Perturbation(isolate_modalities=True)

    def x0(latents: Latents, sigma: torch.Tensor, index: int) -> Latents:
        v, a = latents
        none = (None, None)
        cond = engine.denoise(v, a, sigma, geometry, positive, tokens=tokens)
        unc = (engine.denoise(v, a, sigma, geometry, negative, tokens=tokens)
               if video.needs_uncond or audio.needs_uncond else none)
        ptb = engine.denoise(v, a, sigma, geometry, positive, stg, tokens=tokens) if stg != Perturbation() else none
        iso = (engine.denoise(v, a, sigma, geometry, positive, isolated, tokens=tokens)
               if video.needs_isolated or audio.needs_isolated else none)
        return (guide(video, cond[0], unc[0], ptb[0], iso[0]), guide(audio, cond[1], unc[1], ptb[1], iso[1]))

    return x0


def denoise_stage(job: Job, stage: str, geometry: Geometry, sigmas: torch.Tensor, latents: Latents,
                  x0_fn: X0Function, post: Callable[[Latents], Latents] | None = None, *,
                  ancestral: bool = False) -> Generator[Event, None, Latents]:
    """Run the Euler (or, `ancestral`, Euler-ancestral) loop of one stage, yielding a ProgressEvent (and a
    preview) after every step. `post`: the conditioning's blend of each x0 (see `sampling.euler.euler_loop`)."""
    clock = StepClock(len(sigmas) - 1)
    log.info("%s: %d %ssteps at %dx%d, %d frames", stage, clock.total, "ancestral " if ancestral else "",
             geometry.width, geometry.height, geometry.frames)
    yield job.event(stage, 0, clock.total)
    sig = sigmas.to(job.engine.device)
    loop = (ancestral_loop(sig, latents, x0_fn, job.ancestral, job.cancel, post=post) if ancestral
            else euler_loop(sig, latents, x0_fn, job.cancel, post))
    for step in loop:
        latents = step.latents
        yield job.event(stage, step.done, step.total, clock.eta(step.done))
        if job.request.previews:
            grid = step.x0[0][:, :geometry.video.tokens]  # appended guide tokens are not part of the picture
            yield PreviewEvent(stage, step.done, preview_rgb(geometry.video_latent(grid)))
    return latents


def decoder_kind(job: Job) -> str:
    """"diffusion" or "conv": the request's choice, "auto" = conv for drafts, diffusion for renders; an
    engine without a diffusion decoder (LTX-2.3) always decodes with its conv decoder."""
    available = getattr(job.engine, "decoders", ("conv",))
    choice = job.request.decoder
    if choice == "auto":
        choice = "diffusion" if job.request.stage == "render" else "conv"
    if choice not in available:
        if job.request.decoder != "auto":
            from model_runtime.errors import InvalidRequestError

            raise InvalidRequestError(f"the {choice} video decoder is not available with these model files "
                                      f"(available: {', '.join(available)})")
        choice = available[0]
    return choice


@dataclass(frozen=True)
class Decoded:
    frames: torch.Tensor
    video: torch.Tensor | None
    waveform: torch.Tensor
    sample_rate: int


def decode(job: Job, video_latent: torch.Tensor, audio_latent: torch.Tensor,
           given_audio: DecodedAudio | None = None) -> Generator[Event, None, Decoded]:
    """Decode the final latents (untiled unless the request asks for tiling); checked for cancel first.

    Chunks are converted to uint8 as they come so a tiled decode never holds the whole float video,
    unless the request asked to keep it. `given_audio` (a soundtrack that drove the clip) is returned as
    is instead of decoding the audio latent.
    """
    job.check()
    yield job.event("decode", 0, 2)
    frames, floats = [], []
    kind = decoder_kind(job)
    if kind == "diffusion":  # the diffusion decoder denoises pixels: its noise is the job's next draw
        noise = job.noise.draw("decoder", job.engine.decoder_noise_shape(tuple(video_latent.shape)))
        chunks = job.engine.decode_video(video_latent, job.request.tiled_decode, decoder=kind, noise=noise)
    else:
        chunks = job.engine.decode_video(video_latent, job.request.tiled_decode)
    for chunk in chunks:
        job.check()
        frames.append(video_to_uint8(chunk))
        if job.request.keep_float_video:
            floats.append(chunk)
    rgb = torch.cat(frames, dim=0)
    if job.on_video is not None:  # e.g. the CLI starts the H.264 encode while the audio decodes
        job.on_video(rgb)
    yield job.event("decode", 1, 2)
    audio = given_audio if given_audio is not None else job.engine.decode_audio(audio_latent)
    yield job.event("decode", 2, 2)
    video = torch.cat(floats, dim=2) if floats else None
    return Decoded(rgb, video, audio.waveform, audio.sample_rate)
