"""One stage's conditioned latent states: build them, attach images, noise them, denoise them.

Every pipeline stage (text-to-video included) goes through these four steps, in the reference's order:
the states are created from zeros or a given latent (`initial_states`), the images are encoded at the
stage's size and attached (`attach_images`: frame 0 replaces latent frame 0, any other frame appends guide
tokens), noise is drawn for the conditioned shapes, video then audio, and mixed in by mask x scale
(`noise_states`), and the Euler loop runs with every x0 blended back to the clean latent where the mask is
below 1 (`run_states`). Without conditioning every mask is 1 and each step reduces to the plain one.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass, replace

import torch

from model_runtime.conditioning.image import load_conditioning_image
from model_runtime.conditioning.items import ImageKeyframe
from model_runtime.conditioning.media_input import (
    MelParams,
    Waveform,
    fit_audio_frames,
    read_soundtrack,
    waveform_to_mel,
)
from model_runtime.conditioning.state import TokenState, append_guide, blend, noised, replace_latent_frames
from model_runtime.models.positions import guide_positions
from model_runtime.pipelines.engine import DecodedAudio, TokenConditioning
from model_runtime.pipelines.geometry import Geometry
from model_runtime.pipelines.stages import Job, denoise_stage
from model_runtime.pipelines.types import Event
from model_runtime.sampling.euler import Latents, X0Function

#: builds a stage's x0 function for the conditioned tokens of its states (None: plain grid)
X0Factory = Callable[[TokenConditioning | None], X0Function]


@dataclass(frozen=True)
class StageStates:
    video: TokenState
    audio: TokenState

    def token_conditioning(self) -> TokenConditioning | None:
        """What the transformer must be told (None when nothing differs from a plain generation)."""
        if not (self.video.conditioned or self.audio.conditioned):
            return None
        return TokenConditioning(video_positions=self.video.positions, video_mask=self.video.mask,
                                 audio_mask=self.audio.mask, video_attention=self.video.attention)

    def blend(self, x0s: Latents) -> Latents:
        return blend(x0s[0], self.video), blend(x0s[1], self.audio)

    @property
    def latents(self) -> Latents:
        return self.video.latent, self.audio.latent


def initial_states(job: Job, geom: Geometry, video: torch.Tensor | None = None,
                   audio: torch.Tensor | None = None) -> StageStates:
    """Plain states of one stage from token-layout latents (zeros when None). A request with a soundtrack
    gets it as the audio state, frozen (mask 0: never noised, never changed: audio-to-video)."""
    device = job.engine.device
    v = video if video is not None else torch.zeros(geom.video_token_shape)
    track = soundtrack_tokens(job, geom)
    a = track if track is not None else audio if audio is not None else torch.zeros(geom.audio_token_shape)
    audio_state = TokenState.initial(a.to(device), geom.audio_positions(device))
    if track is not None:
        audio_state = replace(audio_state, mask=torch.zeros_like(audio_state.mask))
    return StageStates(TokenState.initial(v.to(device), geom.video_positions(device)), audio_state)


def soundtrack(job: Job) -> tuple[Waveform, torch.Tensor] | None:
    """The request's soundtrack for the clip's duration and its encoded latent (once per job), or None."""
    r = job.request
    track = r.conditioning.audio if r.conditioning is not None else None
    if track is None:
        return None
    if "soundtrack" not in job.cache:
        job.check()
        wave = read_soundtrack(track.path, track.start, r.frames / r.fps)
        latent = job.engine.encode_audio(waveform_to_mel(wave, MelParams.from_config(job.engine.config)))
        job.cache["soundtrack"] = (wave, latent)
    return job.cache["soundtrack"]


def soundtrack_output(job: Job) -> DecodedAudio | None:
    """The soundtrack as the result's sound (stereo, its own rate), as the reference returns it."""
    track = soundtrack(job)
    if track is None:
        return None
    samples = track[0].samples[0].float()
    stereo = samples.repeat(2, 1) if samples.shape[0] == 1 else samples[:2]
    return DecodedAudio(stereo.contiguous(), track[0].sample_rate)


def soundtrack_tokens(job: Job, geom: Geometry) -> torch.Tensor | None:
    """The encoded soundtrack trimmed (or zero-padded) to the stage's audio frames, token layout."""
    track = soundtrack(job)
    if track is None:
        return None
    return geom.audio_tokens(fit_audio_frames(track[1], geom.audio.frames))


def guide_token_count(geom: Geometry, images: tuple[ImageKeyframe, ...]) -> int:
    """Tokens the keyframes (images at frames other than 0) append at this stage's size."""
    return sum(geom.video.height * geom.video.width for image in images if image.frame != 0)


def attach_images(job: Job, geom: Geometry, states: StageStates, images: tuple[ImageKeyframe, ...]
                  ) -> StageStates:
    """Encode each image at this stage's size and attach it (ltx-pipelines' combined_image_conditionings)."""
    video = states.video
    for image in images:
        job.check()
        pixels = load_conditioning_image(image.path, geom.height, geom.width, image.crf, image.fit)
        latent = job.engine.encode_video(pixels)  # [1, C, 1, H', W']
        tokens = geom.video_tokens(latent)
        if image.frame == 0:
            video = replace_latent_frames(video, tokens, 0, image.strength)
        else:
            positions = guide_positions(latent.shape[2], latent.shape[3], latent.shape[4], image.frame, geom.fps,
                                        device=video.positions.device)
            video = append_guide(video, tokens, positions, image.strength)
    return replace(states, video=video)


def observe(job: Job, stage: str, label: str, states: StageStates) -> None:
    """Hand a stage's states to an engine that records them (the golden checks' recording engine has an
    `observe_states(stage, label, states)` method; production engines do not, and nothing is copied)."""
    recorder = getattr(job.engine, "observe_states", None)
    if recorder is not None:
        recorder(stage, label, states)


def noise_states(job: Job, stage: str, states: StageStates, scale: float | torch.Tensor) -> StageStates:
    """Draw `{stage}_video` then `{stage}_audio` noise of the conditioned shapes; mix by mask x scale."""
    observe(job, stage, "initial", states)
    v_noise = job.noise.draw(f"{stage}_video", tuple(states.video.latent.shape))
    a_noise = job.noise.draw(f"{stage}_audio", tuple(states.audio.latent.shape))
    out = StageStates(noised(states.video, v_noise, scale),
                      noised(states.audio, a_noise, scale))
    observe(job, stage, "noised", out)
    return out


def skip_stage_noise(job: Job, stage: str, geom: Geometry, guide_tokens: int) -> None:
    """Advance the generator past a stage that does not run (a promoted draft), guide tokens included."""
    b, t, c = geom.video_token_shape
    job.noise.skip(f"{stage}_video", (b, t + guide_tokens, c))
    job.noise.skip(f"{stage}_audio", geom.audio_token_shape)


def run_states(job: Job, stage: str, geom: Geometry, sigmas: torch.Tensor, states: StageStates,
               make_x0: X0Factory, *, ancestral: bool = False) -> Generator[Event, None, StageStates]:
    """The stage's Euler (or, `ancestral`, Euler-ancestral) loop on conditioned states; returns the final
    states (guide tokens included)."""
    tokens = states.token_conditioning()
    post = states.blend if tokens is not None else None
    video, audio = yield from denoise_stage(job, stage, geom, sigmas, states.latents, make_x0(tokens), post,
                                            ancestral=ancestral)
    return StageStates(states.video.with_latent(video), states.audio.with_latent(audio))
