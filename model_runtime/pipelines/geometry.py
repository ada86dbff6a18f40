"""Latent geometry of one stage: pixel size/frames/fps -> latent shapes, token layouts and positions.

The pipelines work on token layouts (what the transformer sees and how the reference draws noise):
video [1, F'*H'*W', C] with token index f*H'W' + h*W' + w, audio [1, T, C*M] with feature c*M + m.
Decoders and the upsampler take natural layouts. The arithmetic itself lives in `models.latents` /
`models.positions`; this module only binds it to one stage and to the checkpoint's config.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from model_runtime.models import latents as L
from model_runtime.models.positions import audio_positions, keyframes_mask, video_positions


@dataclass(frozen=True)
class Geometry:
    width: int
    height: int
    frames: int
    fps: float
    video: L.VideoLatentShape
    audio: L.AudioLatentShape
    timing: L.AudioTiming

    @property
    def video_shape(self) -> tuple[int, ...]:
        return self.video.natural

    @property
    def audio_shape(self) -> tuple[int, ...]:
        return self.audio.natural

    @property
    def video_token_shape(self) -> tuple[int, int, int]:
        return (self.video.batch, self.video.tokens, self.video.channels)

    @property
    def audio_token_shape(self) -> tuple[int, int, int]:
        return (self.audio.batch, self.audio.frames, self.audio.features)

    def video_tokens(self, latent: torch.Tensor) -> torch.Tensor:
        return L.video_to_tokens(latent)

    def video_latent(self, tokens: torch.Tensor) -> torch.Tensor:
        return L.video_from_tokens(tokens, self.video.frames, self.video.height, self.video.width)

    def audio_tokens(self, latent: torch.Tensor) -> torch.Tensor:
        return L.audio_to_tokens(latent)

    def audio_latent(self, tokens: torch.Tensor) -> torch.Tensor:
        return L.audio_from_tokens(tokens, self.audio.channels)

    def video_positions(self, device: torch.device | str | None = None) -> torch.Tensor:
        v = self.video
        return video_positions(v.frames, v.height, v.width, self.fps, device=device)

    def keyframes_mask(self, device: torch.device | str | None = None) -> torch.Tensor:
        """`[1, T, 1]`: the tokens that receive LTX-2.5's keyframe embedding (the first latent frame)."""
        return keyframes_mask(*self.video_shape[2:], device=device)

    def audio_positions(self, device: torch.device | str | None = None) -> torch.Tensor:
        return audio_positions(self.audio.frames, timing=self.timing, device=device)


def latent_channels(config: dict) -> tuple[int, int, int]:
    """(video latent channels, audio latent channels, audio latent mel bins) from the embedded config."""
    video = int(config.get("vae", {}).get("latent_channels", 128))
    dd = config.get("audio_vae", {}).get("model", {}).get("params", {}).get("ddconfig", {})
    audio = int(dd.get("z_channels", 8))
    mel_bins = int(dd.get("mel_bins", 64))
    downsample = 2 ** (len(dd.get("ch_mult", (1, 2, 4))) - 1)  # the audio VAE halves mel bins per level
    return video, audio, mel_bins // downsample


def geometry(config: dict, width: int, height: int, frames: int, fps: float) -> Geometry:
    """The latent geometry of a stage of `width` x `height` px, `frames` frames at `fps`."""
    vc, ac, mel = latent_channels(config)
    timing = L.AudioTiming.from_config(config)
    video = L.VideoLatentShape.from_pixels(frames, height, width, channels=vc)
    audio = L.AudioLatentShape.from_video(frames, fps, channels=ac, mel_bins=mel, timing=timing)
    return Geometry(width, height, frames, float(fps), video, audio, timing)


def video_latent_shape(config: dict, width: int, height: int, frames: int) -> tuple[int, ...]:
    return L.VideoLatentShape.from_pixels(frames, height, width, channels=latent_channels(config)[0]).natural
