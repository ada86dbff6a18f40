"""LTX-2.x video VAE: pixels [B, 3, F, H, W] in [-1, 1] <-> normalized latents [B, 128, F', H', W'].

Why our own containers around diffusers' blocks instead of `AutoencoderKLLTX2Video`:
the official file numbers its blocks by their position in the config's block lists
(`vae.encoder.down_blocks.{k}` / `vae.decoder.up_blocks.{k}`, every `res_x` and every `compress_*` is
one entry), while diffusers groups them into down/up blocks with mid blocks. diffusers'
`convert_ltx2_vae_to_diffusers` hard-codes the LTX-2.0 positions: it renames decoder blocks 0..6 only,
so the 2.3 decoder's blocks 7 and 8 (four upsamplers instead of three) stay unmapped, and its
substring replaces would also rewrite `up_blocks.1x`. diffusers' model also keeps one
`latents_mean/std` pair and leaves (un)normalization to its pipeline, while the official encoder and
decoder normalize inside and share ONE `vae.per_channel_statistics` pair.

So the trunks below are thin `ModuleList`s laid out exactly like the reference (ltx-core
`VideoEncoder` / `VideoDecoder`), filled with diffusers' LTX-2 blocks, whose arithmetic matches the
reference operation for operation: `LTX2VideoCausalConv3d` (first/last-frame replicate padding in time,
zeros/reflect in space), `LTX2VideoResnetBlock3d` (pixel norm, SiLU, no shortcut when channels agree),
`LTX2VideoDownsampler3d` (space-to-depth + grouped-mean residual) and `LTX2VideoUpsampler3d`
(depth-to-space, first frame dropped after temporal upsampling). Their parameter names equal the
file's, so the key map is an identity on `vae.`-stripped keys and rename/unrename are trivially inverse.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from model_runtime.errors import UnsupportedModelError
from model_runtime.loading import ComponentSpec
from model_runtime.models.video_tiling import TilingConfig, tiled_decode

__all__ = [
    "VIDEO_DECODER_SPEC", "VIDEO_ENCODER_SPEC", "PerChannelStatistics", "TilingConfig", "VideoDecoder",
    "VideoEncoder", "VideoVAEConfig", "decode_video", "decode_video_frames", "use_in_place", "video_to_uint8",
]

PREFIX = "vae."
_STATS = "per_channel_statistics."

#: encoder compress blocks: name -> (stride, space-to-depth residual block?, channels grow by `multiplier`?)
_ENCODER_COMPRESS = {
    "compress_time": ((2, 1, 1), False, False),
    "compress_space": ((1, 2, 2), False, False),
    "compress_all": ((2, 2, 2), False, False),
    "compress_all_x_y": ((2, 2, 2), False, True),
    "compress_time_res": ((2, 1, 1), True, True),
    "compress_space_res": ((1, 2, 2), True, True),
    "compress_all_res": ((2, 2, 2), True, True),
}
#: decoder upsample blocks: name -> stride (channels shrink by `multiplier`, default 1)
_DECODER_COMPRESS = {"compress_time": (2, 1, 1), "compress_space": (1, 2, 2), "compress_all": (2, 2, 2)}


def _blocks(raw: list) -> tuple[tuple[str, dict], ...]:
    """Block lists hold `[name, params]` where params is a dict or a bare `num_layers` int."""
    return tuple((name, {"num_layers": p} if isinstance(p, int) else dict(p)) for name, p in raw)


@dataclass(frozen=True)
class VideoVAEConfig:
    """The `vae` section of the embedded config, with ltx-core 1.0's defaults for absent keys.

    ltx-core reads no `encoder_base_channels` (the encoder's width starts at `latent_channels`) and
    hard-codes the decoder's starting width to 8 x `decoder_base_channels`; we do the same.
    """

    dims: int
    in_channels: int
    out_channels: int
    latent_channels: int
    encoder_blocks: tuple[tuple[str, dict], ...]
    decoder_blocks: tuple[tuple[str, dict], ...]
    patch_size: int
    norm_layer: str
    latent_log_var: str
    causal_decoder: bool
    timestep_conditioning: bool
    decoder_base_channels: int
    encoder_padding_mode: str
    decoder_padding_mode: str

    @classmethod
    def from_section(cls, section: dict) -> VideoVAEConfig:
        cfg = cls(
            dims=section.get("dims", 3),
            in_channels=section.get("in_channels", 3),
            out_channels=section.get("out_channels", 3),
            latent_channels=section.get("latent_channels", 128),
            encoder_blocks=_blocks(section.get("encoder_blocks", [])),
            decoder_blocks=_blocks(section.get("decoder_blocks", [])),
            patch_size=section.get("patch_size", 4),
            norm_layer=section.get("norm_layer", "pixel_norm"),
            latent_log_var=section.get("latent_log_var", "uniform"),
            causal_decoder=bool(section.get("causal_decoder", False)),
            timestep_conditioning=bool(section.get("timestep_conditioning", True)),
            decoder_base_channels=section.get("decoder_base_channels", 128),
            encoder_padding_mode=section.get("spatial_padding_mode", "zeros"),
            decoder_padding_mode=section.get("spatial_padding_mode", "reflect"),
        )
        cfg._check()
        return cfg

    def _check(self) -> None:
        """Refuse what this runtime does not implement, naming the key (LTX-Video 0.9.x options mostly)."""
        problems = []
        if self.dims != 3:
            problems.append(f"dims={self.dims} (only 3-D convolutions)")
        if self.norm_layer != "pixel_norm":
            problems.append(f"norm_layer={self.norm_layer!r} (only pixel_norm)")
        if self.latent_log_var not in ("uniform", "constant", "per_channel"):
            problems.append(f"latent_log_var={self.latent_log_var!r}")
        if self.timestep_conditioning:
            problems.append("timestep_conditioning=true (a timestep-conditioned decoder; 2.x has none)")
        for name, _ in self.encoder_blocks:
            if name != "res_x" and name not in _ENCODER_COMPRESS:
                problems.append(f"encoder block {name!r}")
        for name, params in self.decoder_blocks:
            if name != "res_x" and name not in _DECODER_COMPRESS:
                problems.append(f"decoder block {name!r}")
            if params.get("inject_noise", False):
                problems.append(f"decoder block {name!r} with inject_noise")
        if problems:
            raise UnsupportedModelError("video VAE config not supported: " + "; ".join(problems))

    @property
    def spatial_scale(self) -> int:
        """Pixels per latent cell along H and W (32 in 2.x): patch size x 2 per spatial upsampler."""
        ups = sum(1 for name, _ in self.decoder_blocks if name in _DECODER_COMPRESS and _DECODER_COMPRESS[name][1] == 2)
        return self.patch_size * 2**ups

    @property
    def temporal_scale(self) -> int:
        """Frames per latent frame after the first (8 in 2.x): F = scale x (F' - 1) + 1."""
        ups = sum(1 for name, _ in self.decoder_blocks if name in _DECODER_COMPRESS and _DECODER_COMPRESS[name][0] == 2)
        return 2**ups


class PerChannelStatistics(nn.Module):
    """Latent dataset statistics over channels; buffer names are the file's (with hyphens)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.register_buffer("std-of-means", torch.ones(channels))
        self.register_buffer("mean-of-means", torch.zeros(channels))

    def _stats(self, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        shape = (1, -1) + (1,) * (like.dim() - 2)
        mean = self.get_buffer("mean-of-means").view(shape).to(like)
        return mean, self.get_buffer("std-of-means").view(shape).to(like)

    def normalize(self, latent: torch.Tensor) -> torch.Tensor:
        mean, std = self._stats(latent)
        return (latent - mean) / std

    def un_normalize(self, latent: torch.Tensor) -> torch.Tensor:
        mean, std = self._stats(latent)
        return latent * std + mean


class _ResStack(nn.Module):
    """One `res_x` block: `num_layers` resnets at constant width (the file's `res_blocks.{j}`)."""

    in_place = True  # see `use_in_place`

    def __init__(self, channels: int, num_layers: int, padding_mode: str) -> None:
        super().__init__()
        from diffusers.models.autoencoders.autoencoder_kl_ltx2 import LTX2VideoResnetBlock3d

        self.res_blocks = nn.ModuleList(
            LTX2VideoResnetBlock3d(channels, channels, eps=1e-6, spatial_padding_mode=padding_mode)
            for _ in range(num_layers)
        )

    def forward(self, x: torch.Tensor, causal: bool = True) -> torch.Tensor:
        for block in self.res_blocks:
            plain = self.in_place and _plain_resnet(block)
            x = _resnet_in_place(block, x, causal) if plain else block(x, causal=causal)
        return x


def use_in_place(module: nn.Module, on: bool) -> None:
    """Run `module`'s VAE resnets and output norm in place (the default) or through diffusers' own forwards
    and `conv_act` (off): the baseline of `benchmarks/video_decode.py` and of the bit-identity test."""
    for m in module.modules():
        if isinstance(m, (_ResStack, VideoDecoder)):
            m.in_place = on


def _plain_resnet(block: nn.Module) -> bool:
    """True for the 2.x VAE's resnets: no timestep modulation, no noise injection, no shortcut, no dropout."""
    return (block.scale_shift_table is None and block.per_channel_scale1 is None and block.norm3 is None
            and block.conv_shortcut is None and (block.dropout.p == 0.0 or not block.training))


def _norm_silu(norm: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """SiLU(norm(x)), the SiLU written over the norm's own fresh output (same kernel, same values)."""
    return F.silu(norm(x), inplace=True)


def _resnet_in_place(block: nn.Module, x: torch.Tensor, causal: bool) -> torch.Tensor:
    """diffusers' `LTX2VideoResnetBlock3d.forward` for a plain block, with the two SiLUs and the residual add
    done in place on tensors the block itself just made. Why: each out-of-place op there allocates a new
    activation-sized tensor, and on the CPU a fresh block of that size is fresh pages from the OS (a page
    fault per 4 KiB, issue #18: the decode took ~143 k faults inside the bench render, the reference's ~60).
    Same operations in the same order on the same values, so the result is bit-identical
    (tests/runtime/test_golden_video_vae.py compares it with the block's own forward)."""
    h = block.conv1(_norm_silu(block.norm1, x), causal=causal)
    h = block.conv2(_norm_silu(block.norm2, h), causal=causal)
    return h.add_(x)  # `hidden_states + inputs`: one rounding either way


def _causal_conv(cin: int, cout: int, padding_mode: str, stride: tuple[int, int, int] = (1, 1, 1)) -> nn.Module:
    from diffusers.models.autoencoders.autoencoder_kl_ltx2 import LTX2VideoCausalConv3d

    return LTX2VideoCausalConv3d(cin, cout, kernel_size=3, stride=stride, spatial_padding_mode=padding_mode)


def _encoder_block(name: str, params: dict, channels: int, padding_mode: str) -> tuple[nn.Module, int]:
    if name == "res_x":
        return _ResStack(channels, params["num_layers"], padding_mode), channels
    from diffusers.models.autoencoders.autoencoder_kl_ltx2 import LTX2VideoDownsampler3d

    stride, space_to_depth, grows = _ENCODER_COMPRESS[name]
    out = channels * params.get("multiplier", 2) if grows else channels
    if space_to_depth:
        return LTX2VideoDownsampler3d(channels, out, stride=stride, spatial_padding_mode=padding_mode), out
    return _causal_conv(channels, out, padding_mode, stride), out


def _decoder_block(name: str, params: dict, channels: int, padding_mode: str) -> tuple[nn.Module, int]:
    if name == "res_x":
        return _ResStack(channels, params["num_layers"], padding_mode), channels
    from diffusers.models.autoencoders.autoencoder_kl_ltx2 import LTX2VideoUpsampler3d

    factor = params.get("multiplier", 1)
    residual = bool(params.get("residual", False)) if name == "compress_all" else False  # as ltx-core reads it
    block = LTX2VideoUpsampler3d(channels, stride=_DECODER_COMPRESS[name], residual=residual,
                                 upscale_factor=factor, spatial_padding_mode=padding_mode)
    return block, channels // factor


def patchify(video: torch.Tensor, p: int) -> torch.Tensor:
    """[B, C, F, H, W] -> [B, C*p*p, F, H/p, W/p], channel index c*p*p + w_off*p + h_off (the reference's order)."""
    b, c, f, h, w = video.shape
    x = video.reshape(b, c, f, h // p, p, w // p, p).permute(0, 1, 6, 4, 2, 3, 5)
    return x.reshape(b, c * p * p, f, h // p, w // p)


def unpatchify(x: torch.Tensor, p: int) -> torch.Tensor:
    """Inverse of `patchify`."""
    b, cpp, f, h, w = x.shape
    x = x.reshape(b, cpp // (p * p), p, p, f, h, w).permute(0, 1, 4, 5, 3, 6, 2)
    return x.reshape(b, cpp // (p * p), f, h * p, w * p)


class VideoEncoder(nn.Module):
    """Pixels [B, 3, 8k+1, H, W] -> normalized latent means [B, C, k+1, H/32, W/32] (no sampling).

    The reference silently crops a clip of another length to 8k+1 frames; we raise instead, so a caller
    never loses frames without knowing."""

    def __init__(self, cfg: VideoVAEConfig) -> None:
        super().__init__()
        from diffusers.models.autoencoders.autoencoder_kl_ltx2 import PerChannelRMSNorm

        self.cfg = cfg
        pad = cfg.encoder_padding_mode
        channels = cfg.latent_channels
        self.conv_in = _causal_conv(cfg.in_channels * cfg.patch_size**2, channels, pad)
        self.down_blocks = nn.ModuleList()
        for name, params in cfg.encoder_blocks:
            block, channels = _encoder_block(name, params, channels, pad)
            self.down_blocks.append(block)
        self.conv_norm_out = PerChannelRMSNorm()
        self.conv_act = nn.SiLU()
        extra = cfg.latent_channels if cfg.latent_log_var == "per_channel" else 1
        self.conv_out = _causal_conv(channels, cfg.latent_channels + extra, pad)
        self.per_channel_statistics = PerChannelStatistics(cfg.latent_channels)

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        scale = self.cfg.temporal_scale
        if (video.shape[2] - 1) % scale:
            raise ValueError(f"video has {video.shape[2]} frames; the encoder needs {scale}k+1")
        x = self.conv_in(patchify(video, self.cfg.patch_size), causal=True)
        for block in self.down_blocks:
            x = block(x, causal=True)
        x = self.conv_out(self.conv_act(self.conv_norm_out(x)), causal=True)
        # means are the first C channels in every log-var layout; the log-var is dropped (no sampling)
        return self.per_channel_statistics.normalize(x[:, : self.cfg.latent_channels])


class VideoDecoder(nn.Module):
    """Normalized latent [B, C, F', H', W'] -> pixels [B, 3, 8(F'-1)+1, 32H', 32W'], float, NOT clamped."""

    in_place = True  # see `use_in_place`

    def __init__(self, cfg: VideoVAEConfig) -> None:
        super().__init__()
        from diffusers.models.autoencoders.autoencoder_kl_ltx2 import PerChannelRMSNorm

        self.cfg = cfg
        pad = cfg.decoder_padding_mode
        channels = cfg.decoder_base_channels * 8  # ltx-core hard-codes the x8 (three x2 channel reductions)
        self.conv_in = _causal_conv(cfg.latent_channels, channels, pad)
        self.up_blocks = nn.ModuleList()
        for name, params in reversed(cfg.decoder_blocks):  # the config lists them encoder-side first
            block, channels = _decoder_block(name, params, channels, pad)
            self.up_blocks.append(block)
        self.conv_norm_out = PerChannelRMSNorm()
        self.conv_act = nn.SiLU()
        self.conv_out = _causal_conv(channels, cfg.out_channels * cfg.patch_size**2, pad)
        self.per_channel_statistics = PerChannelStatistics(cfg.latent_channels)

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        causal = self.cfg.causal_decoder
        x = self.conv_in(self.per_channel_statistics.un_normalize(latent), causal=causal)
        for block in self.up_blocks:
            x = block(x, causal=causal)
        if self.in_place:
            x = self.conv_out(_norm_silu(self.conv_norm_out, x), causal=causal)  # conv_act is that SiLU
        else:
            x = self.conv_out(self.conv_act(self.conv_norm_out(x)), causal=causal)
        return unpatchify(x, self.cfg.patch_size)


def decode_video(
    decoder: VideoDecoder, latent: torch.Tensor, tiling: TilingConfig | None = None
) -> Iterator[torch.Tensor]:
    """Decode a normalized latent; yields float pixel chunks [B, 3, f, H, W] in frame order (one chunk when
    untiled). Tiling trades time for memory on large outputs; its blending makes results differ slightly
    from an untiled decode (the golden `vae.tiled_decode.video` pins the tiled numbers)."""
    if tiling is None:
        yield decoder(latent)
        return
    yield from tiled_decode(decoder, latent, tiling, decoder.cfg.spatial_scale, decoder.cfg.temporal_scale)


def video_to_uint8(video: torch.Tensor, batch_index: int = 0) -> torch.Tensor:
    """Float pixels [B, 3, F, H, W] in [-1, 1] -> uint8 frames [F, H, W, 3], truncating like the reference
    (`((v + 1) / 2).clamp(0, 1) * 255` then a cast, no rounding), so frames match its encoder input. The
    steps after the first run in place on its new tensor: the same values with one float frame-sized
    allocation instead of four."""
    frames = video[batch_index].add(1.0).div_(2.0).clamp_(0.0, 1.0).mul_(255.0).to(torch.uint8)
    return frames.permute(1, 2, 3, 0)


def decode_video_frames(
    decoder: VideoDecoder, latent: torch.Tensor, tiling: TilingConfig | None = None
) -> Iterator[torch.Tensor]:
    """`decode_video` converted chunk by chunk to uint8 frames [f, H, W, 3] (what the muxer consumes)."""
    for chunk in decode_video(decoder, latent, tiling):
        yield video_to_uint8(chunk)


def encoder_section_of_diffusion_vae(vae: dict) -> dict:
    """LTX-2.5's diffusion VAE file nests its encoder config (`vae.encoder`, `blocks`, `out_channels` = latent
    width); the encoder is the same module as in the conv file, so read it in the flat (2.3) shape."""
    enc = vae["encoder"]
    return {
        "dims": enc.get("dims", 3), "in_channels": enc.get("in_channels", 3),
        "latent_channels": vae.get("latent_channels", enc.get("out_channels", 128)),
        "encoder_blocks": enc.get("blocks", enc.get("encoder_blocks", [])), "decoder_blocks": [],
        "patch_size": enc.get("patch_size", 4), "norm_layer": enc.get("norm_layer", "pixel_norm"),
        "latent_log_var": enc.get("latent_log_var", "uniform"),
        "spatial_padding_mode": enc.get("spatial_padding_mode", "zeros"), "timestep_conditioning": False,
    }


def build_video_encoder(section: dict) -> VideoEncoder:
    if isinstance(section.get("encoder"), dict):
        section = encoder_section_of_diffusion_vae(section)
    return VideoEncoder(VideoVAEConfig.from_section(section))


def build_video_decoder(section: dict) -> VideoDecoder:
    return VideoDecoder(VideoVAEConfig.from_section(section))


def _direction(part: str):
    """rename/unrename for one direction: file `part.X` <-> module `X`; the shared statistics keep
    their name in both; the other direction's keys belong to the other spec (None)."""

    def rename(key: str) -> str | None:
        if key.startswith(_STATS):
            return key
        return key[len(part):] if key.startswith(part) else None

    def unrename(key: str) -> str:
        return key if key.startswith(_STATS) else part + key

    return rename, unrename


_ENC_RENAME, _ENC_UNRENAME = _direction("encoder.")
_DEC_RENAME, _DEC_UNRENAME = _direction("decoder.")

VIDEO_ENCODER_SPEC = ComponentSpec(
    name="video_encoder", prefix=PREFIX, build=build_video_encoder, rename=_ENC_RENAME,
    unrename=_ENC_UNRENAME, config_key="vae",
)
VIDEO_DECODER_SPEC = ComponentSpec(
    name="video_decoder", prefix=PREFIX, build=build_video_decoder, rename=_DEC_RENAME,
    unrename=_DEC_UNRENAME, config_key="vae",
)
