"""Latent layouts and latent shape arithmetic for LTX-2.x video and audio.

Two layouts of the same numbers: the natural one the VAEs use (video `[B, C, F', H', W']`, audio
`[B, C, T, M]`) and the token one the transformer sees (video `[B, F'*H'*W', C]` with token index
`f*H'*W' + h*W' + w`; audio `[B, T, C*M]` with feature index `c*M + m`). Keeping the conversions in one
place means the sampler, the goldens and the previews all agree on the order.

The compression factors are properties of the VAEs (video: 8x time with a causal first frame, 32x space;
audio: 16 kHz mel with hop 160, 4x time), passed in as data with the LTX-2.x values as defaults.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from model_runtime.errors import InvalidRequestError


@dataclass(frozen=True)
class VideoScale:
    """Pixel frames / pixels per latent voxel along (time, height, width)."""

    time: int = 8
    height: int = 32
    width: int = 32


@dataclass(frozen=True)
class AudioTiming:
    """How audio latent frames map to time: mel frames of `hop_length` samples, `downsample` per latent."""

    sample_rate: int = 16000
    hop_length: int = 160
    downsample: int = 4

    @property
    def latents_per_second(self) -> float:
        return self.sample_rate / self.hop_length / self.downsample

    @classmethod
    def from_config(cls, config: dict) -> AudioTiming:
        """Read the audio VAE's preprocessing section of the embedded config (defaults where absent)."""
        pre = config.get("audio_vae", {}).get("preprocessing", {})
        rate = pre.get("audio", {}).get("sampling_rate", cls.sample_rate)
        hop = pre.get("stft", {}).get("hop_length", cls.hop_length)
        return cls(sample_rate=int(rate), hop_length=int(hop))


VIDEO_SCALE = VideoScale()
AUDIO_TIMING = AudioTiming()


# --- shape arithmetic -------------------------------------------------------------------------------
def latent_frames(frames: int, scale: VideoScale = VIDEO_SCALE) -> int:
    """Pixel frames (k*time + 1: the causal VAE keeps the first frame alone) -> latent frames."""
    if frames < 1 or (frames - 1) % scale.time:
        raise InvalidRequestError(f"frame count {frames} is not {scale.time}k+1 (e.g. {scale.time * 3 + 1})")
    return (frames - 1) // scale.time + 1


def pixel_frames(latent_count: int, scale: VideoScale = VIDEO_SCALE) -> int:
    """Latent frames -> the pixel frames the decoder returns."""
    return (latent_count - 1) * scale.time + 1


def latent_size(pixels: int, factor: int = VIDEO_SCALE.height) -> int:
    """Pixel height or width (a multiple of `factor`) -> latent height or width."""
    if pixels < factor or pixels % factor:
        raise InvalidRequestError(f"size {pixels} px is not a positive multiple of {factor}")
    return pixels // factor


def audio_latent_frames(frames: int, fps: float, timing: AudioTiming = AUDIO_TIMING) -> int:
    """Audio latent frames covering `frames` video frames at `fps`: Python round, as the reference does."""
    return round(frames / fps * timing.latents_per_second)


@dataclass(frozen=True)
class VideoLatentShape:
    batch: int
    channels: int
    frames: int
    height: int
    width: int

    @classmethod
    def from_pixels(cls, frames: int, height: int, width: int, *, channels: int = 128, batch: int = 1,
                    scale: VideoScale = VIDEO_SCALE) -> VideoLatentShape:
        return cls(batch, channels, latent_frames(frames, scale), latent_size(height, scale.height),
                   latent_size(width, scale.width))

    @property
    def natural(self) -> tuple[int, int, int, int, int]:
        return (self.batch, self.channels, self.frames, self.height, self.width)

    @property
    def tokens(self) -> int:
        return self.frames * self.height * self.width


@dataclass(frozen=True)
class AudioLatentShape:
    batch: int
    channels: int
    frames: int
    mel_bins: int

    @classmethod
    def from_video(cls, frames: int, fps: float, *, channels: int = 8, mel_bins: int = 16, batch: int = 1,
                   timing: AudioTiming = AUDIO_TIMING) -> AudioLatentShape:
        return cls(batch, channels, audio_latent_frames(frames, fps, timing), mel_bins)

    @property
    def natural(self) -> tuple[int, int, int, int]:
        return (self.batch, self.channels, self.frames, self.mel_bins)

    @property
    def features(self) -> int:
        return self.channels * self.mel_bins


# --- layouts ---------------------------------------------------------------------------------------
def video_to_tokens(latent: torch.Tensor) -> torch.Tensor:
    """`[B, C, F, H, W]` -> `[B, F*H*W, C]` (f-major, then h, then w)."""
    if latent.ndim != 5:
        raise ValueError(f"video latent must be [B, C, F, H, W], got {tuple(latent.shape)}")
    return latent.flatten(2).transpose(1, 2).contiguous()


def video_from_tokens(tokens: torch.Tensor, frames: int, height: int, width: int) -> torch.Tensor:
    """`[B, F*H*W, C]` -> `[B, C, F, H, W]`."""
    b, t, c = tokens.shape
    if t != frames * height * width:
        raise ValueError(f"{t} video tokens do not fill a {frames}x{height}x{width} latent")
    return tokens.transpose(1, 2).reshape(b, c, frames, height, width).contiguous()


def audio_to_tokens(latent: torch.Tensor) -> torch.Tensor:
    """`[B, C, T, M]` -> `[B, T, C*M]` with feature index `c*M + m`."""
    if latent.ndim != 4:
        raise ValueError(f"audio latent must be [B, C, T, M], got {tuple(latent.shape)}")
    return latent.permute(0, 2, 1, 3).flatten(2).contiguous()


def audio_from_tokens(tokens: torch.Tensor, channels: int) -> torch.Tensor:
    """`[B, T, C*M]` -> `[B, C, T, M]`."""
    b, t, f = tokens.shape
    if f % channels:
        raise ValueError(f"{f} audio features are not a multiple of {channels} channels")
    return tokens.reshape(b, t, channels, f // channels).permute(0, 2, 1, 3).contiguous()
