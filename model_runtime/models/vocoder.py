"""LTX-2.3 vocoder with bandwidth extension: stereo log-mel -> 16 kHz -> 48 kHz waveform.

The module is diffusers' `LTX2VocoderWithBWE`, which reproduces the reference pipeline operation for
operation: BigVGAN-v2 vocoder (AMP blocks, anti-aliased SnakeBeta, final clamp) to 16 kHz; pad to a
multiple of the BWE hop; causal log-mel from the STFT/mel bases stored in the file
(`log(clamp(mel, 1e-5))`); a second generator predicts a residual that is added to a Hann-sinc x3
resampled copy of the 16 kHz signal; clamp to [-1, 1]; trim to 3x the 16 kHz length.

Only the key names differ from the official file (`vocoder.` stripped ONCE gives `vocoder.*`,
`bwe_generator.*`, `mel_stft.*`): the table below maps them both ways. Every anti-aliasing kaiser
filter, the STFT bases and the mel filterbank are persistent buffers and are LOADED from the file
(recomputing the kaiser filters in float32 moves the 48 kHz output by ~1e-2). The Hann-sinc resampler
filter is not in the file; the meta build leaves it empty and `finish_vocoder` computes it in float32.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import nn

from model_runtime.errors import UnsupportedModelError
from model_runtime.loading import ComponentSpec

PREFIX = "vocoder."
#: ltx-core fixes the generators' input at 2 stereo channels x 64 mel bins in every 2.x checkpoint
STEREO_MEL_FEATURES = 128

# official (prefix stripped once) <-> diffusers, applied per dotted path segment of the generator keys
_GEN_RENAMES = (("conv_pre.", "conv_in."), ("ups.", "upsamplers."), ("resblocks.", "resnets."),
                ("act_post.", "act_out."), ("conv_post.", "conv_out."))
_GENERATORS = ("vocoder.", "bwe_generator.")
_LOWPASS = re.compile(r"\.downsample\.lowpass\.filter$")
_DIFF_LOWPASS = re.compile(r"\.downsample\.filter$")


def rename_vocoder_key(key: str) -> str | None:
    """Official key (after stripping one `vocoder.`) -> LTX2VocoderWithBWE state-dict key."""
    if key.startswith("mel_stft."):
        return key
    for gen in _GENERATORS:
        if key.startswith(gen):
            rest = key[len(gen):]
            for old, new in _GEN_RENAMES:
                if rest.startswith(old):
                    rest = new + rest[len(old):]
                    break
            return gen + _LOWPASS.sub(".downsample.filter", rest)
    return key  # unknown keys pass through and are reported as unexpected by the loader


def unrename_vocoder_key(key: str) -> str:
    """Inverse of `rename_vocoder_key`."""
    for gen in _GENERATORS:
        if key.startswith(gen):
            rest = key[len(gen):]
            for old, new in _GEN_RENAMES:
                if rest.startswith(new):
                    rest = old + rest[len(new):]
                    break
            return gen + _DIFF_LOWPASS.sub(".downsample.lowpass.filter", rest)
    return key


@dataclass(frozen=True)
class GeneratorConfig:
    """One BigVGAN-v2 generator section (`vocoder.vocoder` or `vocoder.bwe`) with ltx-core's defaults."""

    upsample_initial_channel: int
    upsample_rates: tuple[int, ...]
    upsample_kernel_sizes: tuple[int, ...]
    resblock_kernel_sizes: tuple[int, ...]
    resblock_dilation_sizes: tuple[tuple[int, ...], ...]
    activation: str
    final_activation: str | None  # "tanh" | "clamp" | None
    use_bias_at_final: bool

    @classmethod
    def from_section(cls, sec: dict, *, final_activation: bool) -> GeneratorConfig:
        for key, want in (("resblock", "AMP1"), ("stereo", True), ("activation", "snakebeta")):
            if sec.get(key) != want:
                raise UnsupportedModelError(f"vocoder config: {key}={sec.get(key)!r}, LTX-2.3 needs {want!r}")
        final = ("tanh" if sec.get("use_tanh_at_final", True) else "clamp") if final_activation else None
        return cls(
            upsample_initial_channel=sec.get("upsample_initial_channel", 1024),
            upsample_rates=tuple(sec.get("upsample_rates", (6, 5, 2, 2, 2))),
            upsample_kernel_sizes=tuple(sec.get("upsample_kernel_sizes", (16, 15, 8, 4, 4))),
            resblock_kernel_sizes=tuple(sec.get("resblock_kernel_sizes", (3, 7, 11))),
            resblock_dilation_sizes=tuple(tuple(d) for d in sec.get("resblock_dilation_sizes", [[1, 3, 5]] * 3)),
            activation=sec["activation"],
            final_activation=final,
            use_bias_at_final=sec.get("use_bias_at_final", True),
        )

    def kwargs(self, prefix: str = "") -> dict:
        """LTX2VocoderWithBWE constructor arguments for this generator (`bwe_` prefix for the BWE one)."""
        args = dict(
            in_channels=STEREO_MEL_FEATURES, hidden_channels=self.upsample_initial_channel, out_channels=2,
            upsample_kernel_sizes=list(self.upsample_kernel_sizes), upsample_factors=list(self.upsample_rates),
            resnet_kernel_sizes=list(self.resblock_kernel_sizes),
            resnet_dilations=[list(d) for d in self.resblock_dilation_sizes],
            act_fn=self.activation, antialias=True, antialias_ratio=2, antialias_kernel_size=12,
            final_act_fn=self.final_activation, final_bias=self.use_bias_at_final,
        )
        return {prefix + k: v for k, v in args.items()}


def build_vocoder(section: dict) -> nn.Module:
    """`vocoder` config section (with `vocoder` + `bwe` subsections) -> LTX2VocoderWithBWE (on meta)."""
    from diffusers.pipelines.ltx2.vocoder import LTX2VocoderWithBWE

    if "bwe" not in section:
        raise UnsupportedModelError("vocoder config has no 'bwe' section: a pre-2.3 (24 kHz) vocoder is not supported")
    bwe = section["bwe"]
    # the reference always applies the inner vocoder's final activation and never the BWE's
    inner = GeneratorConfig.from_section(section.get("vocoder", {}), final_activation=True)
    outer = GeneratorConfig.from_section(bwe, final_activation=False)
    if bwe["output_sampling_rate"] % bwe["input_sampling_rate"]:
        raise UnsupportedModelError("vocoder BWE: output rate must be an integer multiple of the input rate")
    with _kaiser_filters_as_placeholders():
        return LTX2VocoderWithBWE(
            **inner.kwargs(), **outer.kwargs("bwe_"),
            # the reference uses n_fft as the STFT window length (the config's win_size is not read)
            filter_length=bwe["n_fft"], hop_length=bwe["hop_length"], window_length=bwe["n_fft"],
            num_mel_channels=bwe["num_mels"], input_sampling_rate=bwe["input_sampling_rate"],
            output_sampling_rate=bwe["output_sampling_rate"],
        )


@contextlib.contextmanager
def _kaiser_filters_as_placeholders() -> Iterator[None]:
    """While the vocoder is built on the meta device (`build_on_meta`), its ~200 anti-aliasing kaiser filters
    are left uncomputed: an empty meta tensor of the filter's shape.

    Why: diffusers computes each filter in its constructor (a kaiser window, a sinc, ~20 ops); on the meta
    device every op runs through torch's Python meta kernels, which made the vocoder's build most of its
    load time (~1 s of 1.1 s on a loaded 2-core machine, measured). The values are never used: the filters
    are persistent buffers and the strict load assigns every one from the file (module doc), or fails.
    Only `build_vocoder` constructs the diffusers vocoder; the Hann resampler (`finish_vocoder`) does not
    use this function."""
    from diffusers.pipelines.ltx2 import vocoder as diffusers_vocoder

    if not torch.empty(0).is_meta:  # a real build (the demo-model writer saves the computed filters)
        yield
        return
    computed = diffusers_vocoder.kaiser_sinc_filter1d

    def placeholder(cutoff: float, half_width: float, kernel_size: int) -> torch.Tensor:
        return torch.empty(kernel_size)

    diffusers_vocoder.kaiser_sinc_filter1d = placeholder
    try:
        yield
    finally:
        diffusers_vocoder.kaiser_sinc_filter1d = computed


def finish_vocoder(module: nn.Module) -> None:
    """Compute the non-persistent Hann-sinc resampler filter in float32 (the meta build left it empty).

    Built on the CPU in float32 like the reference, then moved next to the loaded buffers; the forward
    casts it to the signal's dtype.
    """
    from diffusers.pipelines.ltx2.vocoder import UpSample1d

    ratio = module.config.output_sampling_rate // module.config.input_sampling_rate
    with torch.device("cpu"):
        resampler = UpSample1d(ratio=ratio, window_type="hann", persistent=False)
    module.resampler = resampler.to(module.mel_stft.mel_basis.device)


VOCODER_SPEC = ComponentSpec(
    name="vocoder", prefix=PREFIX, build=build_vocoder, rename=rename_vocoder_key,
    unrename=unrename_vocoder_key, finish=finish_vocoder, config_key="vocoder",
)


def output_sample_rate(vocoder: nn.Module) -> int:
    return int(vocoder.config.output_sampling_rate)


@contextlib.contextmanager
def float32_compute(module: nn.Module) -> Iterator[None]:
    """Run the vocoder in float32 whatever its weight dtype, as the reference does.

    The reference computes the vocoder in float32 because bf16 accumulation through ~100 sequential
    convolutions audibly degrades the output. It uses float32 autocast on CUDA, but CPU autocast does
    not support float32, so here the weights are upcast for the call and cast back afterwards (the
    reference notes both give bit-identical results; the vocoder is small, ~0.13 B parameters). The
    resampler filter is left alone: it is computed in float32 and must not round-trip through bf16.
    With float32 weights this is a no-op.
    """
    dtype = next(module.parameters()).dtype
    if dtype == torch.float32:
        yield
        return
    children = [child for name, child in module.named_children() if name != "resampler"]
    # plain nn.Module casts: diffusers' ModelMixin.to() warns about from_pretrained, irrelevant here
    for child in children:
        nn.Module.to(child, torch.float32)
    try:
        yield
    finally:
        for child in children:
            nn.Module.to(child, dtype)
