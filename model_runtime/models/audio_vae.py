"""LTX-2.x audio VAE: log-mel spectrogram <-> normalized audio latent, built from the checkpoint's config.

The convolutional trunks are diffusers' `LTX2AudioEncoder` / `LTX2AudioDecoder` (the pieces of
`AutoencoderKLLTX2Audio`), which reproduce the official layout and operation order exactly (causal
convs padded on the time axis, pixel norm, nearest x2 upsampling with the causal first-row drop). We
do not use `AutoencoderKLLTX2Audio` itself because the official file stores ONE
`per_channel_statistics` pair shared by an encoder and a decoder that are loaded separately, and
because the official normalization happens inside the encode/decode (in token layout), which
diffusers leaves to its pipeline. So each direction is a thin wrapper: `encoder.*` or `decoder.*`
plus `per_channel_statistics.{mean-of-means,std-of-means}` under the same names as in the file,
which makes the key map an identity on `audio_vae.`-stripped keys (diffusers'
`convert_ltx2_audio_vae_to_diffusers` would rename the statistics to `latents_mean/std`; keeping
the official names keeps rename/unrename trivial and the file writable in the official layout).

Token layout: a latent `[B, C, T, M]` is seen as `[B, T, C*M]` with feature index `c*M + m`; the
statistics have C*M entries (8 x 16 = 128 in 2.3, which is why the config's `ch` must equal C*M).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from model_runtime.errors import UnsupportedModelError
from model_runtime.loading import ComponentSpec

#: time compression of the audio VAE (4 mel frames per latent frame); fixed by the architecture
LATENT_DOWNSAMPLE_FACTOR = 4
PREFIX = "audio_vae."
_STATS = "per_channel_statistics."


@dataclass(frozen=True)
class AudioVAEConfig:
    """The `audio_vae` section of the embedded config, with ltx-core's defaults for absent keys."""

    ch: int
    out_ch: int
    in_channels: int
    ch_mult: tuple[int, ...]
    num_res_blocks: int
    attn_resolutions: tuple[int, ...]
    resolution: int
    z_channels: int
    double_z: bool
    norm_type: str
    causality_axis: str | None
    dropout: float
    mid_block_add_attention: bool
    mel_bins: int | None
    sample_rate: int
    mel_hop_length: int
    is_causal: bool

    @classmethod
    def from_section(cls, section: dict) -> AudioVAEConfig:
        params = section.get("model", {}).get("params", {})
        dd = params.get("ddconfig", {})
        pre = section.get("preprocessing", {})
        stft = pre.get("stft", {})
        mel_bins = dd.get("mel_bins") or pre.get("mel", {}).get("n_mel_channels") or section.get(
            "variables", {}).get("mel_bins")
        if dd.get("attn_type", "vanilla") != "vanilla":
            raise UnsupportedModelError(f"audio VAE attention type {dd.get('attn_type')!r} is not supported")
        if not dd.get("resamp_with_conv", True):
            raise UnsupportedModelError("audio VAE without convolutional resampling is not supported")
        return cls(
            ch=dd.get("ch", 128),
            out_ch=dd.get("out_ch", 2),
            in_channels=dd.get("in_channels", 2),
            ch_mult=tuple(dd.get("ch_mult", (1, 2, 4))),
            num_res_blocks=dd.get("num_res_blocks", 2),
            attn_resolutions=tuple(dd.get("attn_resolutions", (8, 16, 32))),
            resolution=dd.get("resolution", 256),
            z_channels=dd.get("z_channels", 8),
            double_z=dd.get("double_z", True),
            norm_type=dd.get("norm_type", "pixel"),
            causality_axis=dd.get("causality_axis", "height"),
            dropout=dd.get("dropout", 0.0),
            mid_block_add_attention=dd.get("mid_block_add_attention", True),
            mel_bins=mel_bins,
            sample_rate=params.get("sampling_rate", 16000),
            mel_hop_length=stft.get("hop_length", 160),
            is_causal=stft.get("causal", True),
        )

    def trunk_kwargs(self) -> dict:
        """Arguments shared by diffusers' LTX2AudioEncoder and LTX2AudioDecoder."""
        return dict(
            base_channels=self.ch, output_channels=self.out_ch, num_res_blocks=self.num_res_blocks,
            attn_resolutions=set(self.attn_resolutions) or None, in_channels=self.in_channels,
            resolution=self.resolution, latent_channels=self.z_channels, ch_mult=self.ch_mult,
            norm_type=self.norm_type, causality_axis=self.causality_axis, dropout=self.dropout,
            mid_block_add_attention=self.mid_block_add_attention, sample_rate=self.sample_rate,
            mel_hop_length=self.mel_hop_length, is_causal=self.is_causal, mel_bins=self.mel_bins,
        )


class PerChannelStatistics(nn.Module):
    """Dataset statistics of the latent in token layout; buffer names are the file's (with hyphens)."""

    def __init__(self, features: int) -> None:
        super().__init__()
        self.register_buffer("mean-of-means", torch.zeros(features))
        self.register_buffer("std-of-means", torch.ones(features))

    def normalize(self, tokens: torch.Tensor) -> torch.Tensor:
        mean, std = self.get_buffer("mean-of-means"), self.get_buffer("std-of-means")
        return (tokens - mean.to(tokens)) / std.to(tokens)

    def un_normalize(self, tokens: torch.Tensor) -> torch.Tensor:
        mean, std = self.get_buffer("mean-of-means"), self.get_buffer("std-of-means")
        return tokens * std.to(tokens) + mean.to(tokens)


def latent_to_tokens(latent: torch.Tensor) -> torch.Tensor:
    """[B, C, T, M] -> [B, T, C*M] (feature index c*M + m)."""
    b, c, t, m = latent.shape
    return latent.permute(0, 2, 1, 3).reshape(b, t, c * m)


def tokens_to_latent(tokens: torch.Tensor, channels: int, mel_bins: int) -> torch.Tensor:
    """[B, T, C*M] -> [B, C, T, M]."""
    b, t, _ = tokens.shape
    return tokens.reshape(b, t, channels, mel_bins).permute(0, 2, 1, 3)


class AudioVAEEncoder(nn.Module):
    """Stereo log-mel [B, in_ch, T_mel, mel] -> normalized latent means [B, z, T_mel/4, mel/4]."""

    def __init__(self, cfg: AudioVAEConfig) -> None:
        super().__init__()
        from diffusers.models.autoencoders.autoencoder_kl_ltx2_audio import LTX2AudioEncoder

        self.cfg = cfg
        self.encoder = LTX2AudioEncoder(**cfg.trunk_kwargs(), double_z=cfg.double_z)
        self.per_channel_statistics = PerChannelStatistics(cfg.ch)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        moments = self.encoder(mel)
        means = torch.chunk(moments, 2, dim=1)[0] if self.cfg.double_z else moments
        tokens = self.per_channel_statistics.normalize(latent_to_tokens(means))
        return tokens_to_latent(tokens, means.shape[1], means.shape[3])


class AudioVAEDecoder(nn.Module):
    """Normalized latent [B, z, T, M] -> stereo log-mel [B, out_ch, 4T-3 (causal), mel_bins], unclamped."""

    def __init__(self, cfg: AudioVAEConfig) -> None:
        super().__init__()
        from diffusers.models.autoencoders.autoencoder_kl_ltx2_audio import LTX2AudioDecoder

        self.cfg = cfg
        self.decoder = LTX2AudioDecoder(**cfg.trunk_kwargs())
        self.per_channel_statistics = PerChannelStatistics(cfg.ch)

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        _, c, _, m = latent.shape
        tokens = self.per_channel_statistics.un_normalize(latent_to_tokens(latent))
        # diffusers' decoder crops/pads to 4T-3 frames (causal) and mel_bins itself, as the reference does
        return self.decoder(tokens_to_latent(tokens, c, m))


def decoded_mel_frames(latent_frames: int, causal: bool = True) -> int:
    """Mel frames the decoder returns for `latent_frames` latent frames (the causal VAE drops 3)."""
    frames = latent_frames * LATENT_DOWNSAMPLE_FACTOR
    return max(frames - (LATENT_DOWNSAMPLE_FACTOR - 1), 1) if causal else frames


def _check_feature_count(cfg: AudioVAEConfig) -> None:
    """The statistics are sized `ch` but indexed by C*M features; a mismatch would silently broadcast."""
    if cfg.mel_bins is not None:
        latent_mel = cfg.mel_bins // (2 ** (len(cfg.ch_mult) - 1))
        if cfg.z_channels * latent_mel != cfg.ch:
            raise UnsupportedModelError(
                f"audio VAE: ch={cfg.ch} must equal z_channels x latent mel bins = {cfg.z_channels} x {latent_mel}"
            )


def build_audio_encoder(section: dict) -> AudioVAEEncoder:
    cfg = AudioVAEConfig.from_section(section)
    _check_feature_count(cfg)
    return AudioVAEEncoder(cfg)


def build_audio_decoder(section: dict) -> AudioVAEDecoder:
    cfg = AudioVAEConfig.from_section(section)
    _check_feature_count(cfg)
    return AudioVAEDecoder(cfg)


def _only(part: str):
    """Rename for one direction: keep `part.*` and the shared statistics, leave the other to its spec."""

    def rename(key: str) -> str | None:
        return key if key.startswith((part, _STATS)) else None

    return rename


def _same(key: str) -> str:
    return key


AUDIO_ENCODER_SPEC = ComponentSpec(
    name="audio_vae_encoder", prefix=PREFIX, build=build_audio_encoder,
    rename=_only("encoder."), unrename=_same, config_key="audio_vae",
)
AUDIO_DECODER_SPEC = ComponentSpec(
    name="audio_vae_decoder", prefix=PREFIX, build=build_audio_decoder,
    rename=_only("decoder."), unrename=_same, config_key="audio_vae",
)


@torch.no_grad()
def encode_audio_mel(mel: torch.Tensor, encoder: AudioVAEEncoder) -> torch.Tensor:
    """Log-mel [B, 2, T_mel, mel_bins] (as the reference's AudioProcessor makes it) -> normalized latent."""
    param = next(encoder.parameters())
    return encoder(mel.to(device=param.device, dtype=param.dtype))


@dataclass(frozen=True)
class AudioOutput:
    """A decoded soundtrack: `waveform` [channels=2, samples] float32 on the CPU, in [-1, 1]."""

    waveform: torch.Tensor
    sample_rate: int

    @property
    def duration_s(self) -> float:
        return self.waveform.shape[-1] / self.sample_rate


@torch.no_grad()
def decode_audio(latent: torch.Tensor, decoder: AudioVAEDecoder, vocoder: nn.Module) -> AudioOutput:
    """Normalized audio latent [1, C, T, M] (natural layout) -> 48 kHz stereo waveform.

    The decoder runs in its own dtype; the vocoder always computes in float32 (see
    `vocoder.float32_compute`). Batch size must be 1: the result is one soundtrack.
    """
    from model_runtime.models.vocoder import float32_compute, output_sample_rate

    if latent.dim() != 4 or latent.shape[0] != 1:
        raise ValueError(f"decode_audio expects one latent [1, C, T, M], got {tuple(latent.shape)}")
    param = next(decoder.parameters())
    mel = decoder(latent.to(device=param.device, dtype=param.dtype))
    voc_device = next(vocoder.parameters()).device
    with float32_compute(vocoder):
        waveform = vocoder(mel.to(device=voc_device, dtype=torch.float32))
    return AudioOutput(waveform=waveform.squeeze(0).float().cpu(), sample_rate=output_sample_rate(vocoder))
