"""Golden section (d): audio VAE decode, vocoder + bandwidth extension to 48 kHz, audio VAE encode.

Decode runs the public `decode_audio` path from the stored latent; forward hooks on the vocoder's
sub-modules capture the debug tensors the reference recorded the same way (the inner 16 kHz
waveform, the causal log-mel fed to the BWE generator, the BWE residual). The vocoder is then run a
second time on the STORED mel so a vocoder error can be told apart from an audio-decoder error.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

from model_runtime.goldens import Comparison, GoldenContext
from model_runtime.models.audio_vae import (
    AUDIO_DECODER_SPEC,
    AUDIO_ENCODER_SPEC,
    decode_audio,
    encode_audio_mel,
)
from model_runtime.models.vocoder import VOCODER_SPEC

log = logging.getLogger(__name__)

#: golden name -> (vocoder sub-module, "input" | "output") captured by a forward hook
DEBUG_TAPS = {
    "audio.decode.waveform_16k": ("vocoder", "output"),
    "audio.decode.bwe_mel": ("bwe_generator", "input"),
    "audio.decode.bwe_residual": ("bwe_generator", "output"),
}


@contextmanager
def tap_vocoder(vocoder: nn.Module) -> Iterator[dict[str, torch.Tensor]]:
    """Record the debug tensors of one vocoder call into the yielded dict (hooks removed on exit)."""
    captured: dict[str, torch.Tensor] = {}
    handles = []
    for name, (sub, where) in DEBUG_TAPS.items():
        def hook(_mod, args, out, name=name, where=where):
            captured[name] = (args[0] if where == "input" else out).detach().clone()

        handles.append(vocoder.get_submodule(sub).register_forward_hook(hook))
    try:
        yield captured
    finally:
        for h in handles:
            h.remove()


def _decode(ctx: GoldenContext) -> list[Comparison]:
    decoder = ctx.module(AUDIO_DECODER_SPEC)
    vocoder = ctx.module(VOCODER_SPEC)
    latent = ctx.tensor("audio.decode.latent")
    results = []
    with torch.no_grad():
        mel = decoder(latent)
    results.append(ctx.compare("audio.decode.mel", mel))
    with tap_vocoder(vocoder) as taps:
        audio = decode_audio(latent, decoder, vocoder)
    results.append(ctx.compare("audio.decode.waveform_48k", audio.waveform.unsqueeze(0)))
    results.extend(ctx.compare(name, taps[name]) for name in DEBUG_TAPS)
    expected_rate = int(ctx.files.config_for(VOCODER_SPEC.name)["vocoder"]["bwe"]["output_sampling_rate"])
    results.append(Comparison("audio.decode.sample_rate", float(abs(audio.sample_rate - expected_rate)), "exact",
                              audio.sample_rate == expected_rate, f"{audio.sample_rate} Hz"))
    return results


def _vocoder_alone(ctx: GoldenContext) -> list[Comparison]:
    """The vocoder on the reference's own mel: isolates it from the audio decoder's rounding."""
    vocoder = ctx.module(VOCODER_SPEC)
    with tap_vocoder(vocoder) as taps, torch.no_grad():
        waveform = vocoder(ctx.tensor("audio.decode.mel"))
    suffix = " (vocoder on golden mel)"
    results = [ctx.compare("audio.decode.waveform_48k" + suffix, waveform, golden="audio.decode.waveform_48k")]
    results.extend(ctx.compare(name + suffix, taps[name], golden=name) for name in DEBUG_TAPS)
    return results


def _encode(ctx: GoldenContext) -> list[Comparison]:
    encoder = ctx.module(AUDIO_ENCODER_SPEC)
    latent = encode_audio_mel(ctx.tensor("audio.encode.mel"), encoder)
    return [ctx.compare("audio.encode.latent", latent)]


def run(ctx: GoldenContext) -> list[Comparison]:
    results = [*_decode(ctx), *_vocoder_alone(ctx), *(_encode(ctx) if ctx.has("audio.encode.mel") else [])]
    for r in results:
        log.info("%s: max|err| %.3g (tol %s) %s", r.name, r.max_abs_error, r.tolerance, "ok" if r.passed else "FAIL")
    return results
