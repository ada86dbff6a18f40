"""Golden section (b): one transformer evaluation per sigma case, plus the per-token-timestep (masked) case.

Inputs come from the golden file (`transformer.video_latent`, `transformer.audio_latent`, `transformer.fps`,
`transformer.sigmas`, `<case>.sigma`, `<case>.video_denoise_mask`) and the text goldens
(`text.video_context`, `text.audio_context`); positions are computed by the runtime (and compared). The
cases are read off the tensor names: every `transformer.<case>.video_velocity` is a case; `s<i>` takes
`transformer.sigmas[i]`, any other case its own `transformer.<case>.sigma`. Debug intermediates of a case
(`transformer.<case>.debug.*`) are captured with forward hooks on the diffusers submodules that compute
them, so a mismatch can be localised.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
from torch import nn

from model_runtime.goldens import Comparison, GoldenContext
from model_runtime.models.denoiser import AVDenoiser, AVPrediction, ModalityInput
from model_runtime.models.latents import (
    audio_from_tokens,
    audio_to_tokens,
    video_from_tokens,
    video_to_tokens,
)
from model_runtime.models.positions import audio_positions, keyframes_mask, video_positions
from model_runtime.models.transformer import TRANSFORMER_SPEC

log = logging.getLogger(__name__)

P = "transformer."
_CASE = re.compile(r"^transformer\.([A-Za-z0-9_]+)\.video_velocity$")
_BLOCK_DEBUG = re.compile(r"^block(\d+)_(video|audio)_x$")

#: debug name -> (submodule path, index into its output tuple or None for a tensor output)
_PROBES: dict[str, tuple[str, int | None]] = {
    "video_x_in": ("proj_in", None),
    "audio_x_in": ("audio_proj_in", None),
    "video_timestep_emb": ("time_embed", 0),
    "video_embedded_timestep": ("time_embed", 1),
    "audio_timestep_emb": ("audio_time_embed", 0),
    "audio_embedded_timestep": ("audio_time_embed", 1),
    "video_prompt_timestep": ("prompt_adaln", 0),
    "audio_prompt_timestep": ("audio_prompt_adaln", 0),
    "video_cross_scale_shift_timestep": ("av_cross_attn_video_scale_shift", 0),
    "video_cross_gate_timestep": ("av_cross_attn_video_a2v_gate", 0),
    "audio_cross_scale_shift_timestep": ("av_cross_attn_audio_scale_shift", 0),
    "audio_cross_gate_timestep": ("av_cross_attn_audio_v2a_gate", 0),
    "video_pe_cos": ("rope", 0),
    "video_pe_sin": ("rope", 1),
    "audio_pe_cos": ("audio_rope", 0),
    "audio_pe_sin": ("audio_rope", 1),
    "video_cross_pe_cos": ("cross_attn_rope", 0),
    "video_cross_pe_sin": ("cross_attn_rope", 1),
    "audio_cross_pe_cos": ("cross_attn_audio_rope", 0),
    "audio_cross_pe_sin": ("cross_attn_audio_rope", 1),
}


def _probe(name: str) -> tuple[str, int | None] | None:
    if name in _PROBES:
        return _PROBES[name]
    m = _BLOCK_DEBUG.match(name)
    return (f"transformer_blocks.{m.group(1)}", 0 if m.group(2) == "video" else 1) if m else None


@contextmanager
def _capture(model: nn.Module, probes: dict[str, tuple[str, int | None]], batch: int) -> Iterator[dict[str, torch.Tensor]]:
    """Record the first output of each probed submodule during the block (diffusers flattens AdaLN
    outputs to [B*T, n*D]; they are viewed back to [B, T, n*D] as the reference returns them)."""
    captured: dict[str, torch.Tensor] = {}
    handles = []

    def hook_for(name: str, index: int | None) -> Callable:
        def hook(_module, _args, output):
            if name not in captured:
                t = output if index is None else output[index]
                captured[name] = t.reshape(batch, -1, t.shape[-1]) if t.ndim == 2 else t
        return hook

    try:
        for name, (path, index) in probes.items():
            handles.append(model.get_submodule(path).register_forward_hook(hook_for(name, index)))
        yield captured
    finally:
        for h in handles:
            h.remove()


#: the LTX-2.5 set has ONE case stored without a case name (`transformer.video_velocity`, sigma in
#: `transformer.sigma`); it is the case "" below, whose tensors live directly under `transformer.`
SINGLE = ""
_NOT_CASE_OUTPUTS = {"video_latent", "audio_latent", "fps", "sigma", "sigmas", "video_positions", "audio_positions",
                     "video_keyframes_mask", "video_velocity_no_keyframe_emb"}


def _case_prefix(case: str) -> str:
    return f"{P}{case}." if case else P


def cases(ctx: GoldenContext) -> list[str]:
    """Case names in the golden file, in a stable order (s0, s1, ... then the others)."""
    if ctx.has(f"{P}video_velocity"):
        return [SINGLE]
    found = [m.group(1) for n in ctx.names(P) if (m := _CASE.match(n))]
    indexed = sorted((c for c in found if re.fullmatch(r"s\d+", c)), key=lambda c: int(c[1:]))
    return indexed + sorted(c for c in found if c not in indexed)


def _case_sigma(ctx: GoldenContext, case: str) -> torch.Tensor:
    if case == SINGLE:
        return ctx.tensor(f"{P}sigma").reshape(1)
    if ctx.has(f"{P}{case}.sigma"):
        return ctx.tensor(f"{P}{case}.sigma").reshape(1)
    m = re.fullmatch(r"s(\d+)", case)
    if m is None:
        raise KeyError(f"golden case {case!r} has neither {P}{case}.sigma nor an index into {P}sigmas")
    return ctx.tensor(f"{P}sigmas")[int(m.group(1))].reshape(1)


def _inputs(ctx: GoldenContext, case: str, vpos: torch.Tensor, apos: torch.Tensor,
            keyframes: torch.Tensor | None = None) -> tuple[ModalityInput, ModalityInput]:
    video, audio = ctx.tensor(f"{P}video_latent"), ctx.tensor(f"{P}audio_latent")
    sigma = _case_sigma(ctx, case)
    v_tok_sigma = a_tok_sigma = None
    if ctx.has(f"{P}{case}.video_denoise_mask"):
        v_tok_sigma = sigma * video_to_tokens(ctx.tensor(f"{P}{case}.video_denoise_mask"))[..., 0]
    if ctx.has(f"{P}{case}.audio_denoise_mask"):
        a_tok_sigma = sigma * audio_to_tokens(ctx.tensor(f"{P}{case}.audio_denoise_mask"))[..., 0]
    v = ModalityInput(video_to_tokens(video), sigma, ctx.tensor("text.video_context"), vpos, v_tok_sigma, keyframes)
    a = ModalityInput(audio_to_tokens(audio), sigma, ctx.tensor("text.audio_context"), apos, a_tok_sigma)
    return v, a


def _compare_case(ctx: GoldenContext, case: str, pred: AVPrediction, debug: dict[str, torch.Tensor]) -> list[Comparison]:
    video, audio = ctx.tensor(f"{P}video_latent"), ctx.tensor(f"{P}audio_latent")
    f, h, w = video.shape[2:]
    natural = {
        "video_velocity": video_from_tokens(pred.video.velocity, f, h, w),
        "video_x0": video_from_tokens(pred.video.x0, f, h, w),
        "audio_velocity": audio_from_tokens(pred.audio.velocity, audio.shape[1]),
        "audio_x0": audio_from_tokens(pred.audio.x0, audio.shape[1]),
    }
    out: list[Comparison] = []
    prefix = _case_prefix(case)
    for name in ctx.names(prefix):
        short = name[len(prefix):]
        if ctx.tolerances.get(name, "input") == "input" or (case == SINGLE and short in _NOT_CASE_OUTPUTS):
            continue
        if short.startswith("debug."):
            actual = debug.get(short[len("debug."):])
            ref = ctx.tensor(name)
            if actual is not None and actual.ndim == 3 and actual.shape[1] == 1 and ref.ndim == 3 and ref.shape[1] > 1:
                # one AdaLN row per sample when every token has the same sigma (the denoiser broadcasts it):
                # the reference's per-token rows are all that row
                actual = actual.expand(-1, ref.shape[1], -1)
        else:
            actual = natural.get(short)
        if actual is None:
            out.append(Comparison(name, float("inf"), ctx.tolerances[name], False, "the runtime produces no such tensor"))
        else:
            out.append(ctx.compare(name, actual))
    return out


def run(ctx: GoldenContext) -> list[Comparison]:
    denoiser = AVDenoiser(ctx.module(TRANSFORMER_SPEC))
    video, audio = ctx.tensor(f"{P}video_latent"), ctx.tensor(f"{P}audio_latent")
    batch = video.shape[0]
    vpos = video_positions(*video.shape[2:], float(ctx.tensor(f"{P}fps")), batch=batch)
    apos = audio_positions(audio.shape[2], batch=batch)
    results = [ctx.compare(f"{P}video_positions", vpos), ctx.compare(f"{P}audio_positions", apos)]
    keyframes = keyframes_mask(*video.shape[2:], batch=batch) if denoiser.uses_keyframes else None
    if ctx.has(f"{P}video_keyframes_mask"):
        results.append(ctx.compare(f"{P}video_keyframes_mask", keyframes if keyframes is not None
                                   else torch.zeros(0)))
    for case in cases(ctx):
        debug_names = [n.split(".debug.", 1)[1] for n in ctx.names(f"{_case_prefix(case)}debug.")]
        probes = {n: p for n in debug_names if (p := _probe(n)) is not None}
        v, a = _inputs(ctx, case, vpos, apos, keyframes)
        with _capture(denoiser.transformer, probes, batch) as debug:
            pred = denoiser(v, a)
        if keyframes is not None and "video_x_in" in debug:  # the reference records x after the embedding
            emb = denoiser.transformer.keyframes_abs_pos_embedding
            debug["video_x_in"] = debug["video_x_in"] + (keyframes > 0).to(emb.dtype) * emb
        results.extend(_compare_case(ctx, case, pred, debug))
    if ctx.has(f"{P}video_velocity_no_keyframe_emb"):  # the same call without the keyframe embedding
        v, a = _inputs(ctx, SINGLE, vpos, apos, None)
        pred = denoiser(v, a)
        results.append(ctx.compare(f"{P}video_velocity_no_keyframe_emb",
                                   video_from_tokens(pred.video.velocity, *video.shape[2:])))
    worst = max(results, key=lambda c: c.max_abs_error / c.tolerance if isinstance(c.tolerance, float) else 0.0)
    log.info("transformer goldens: %d comparisons, %d failed; tightest %s %.2e (tol %s)", len(results),
             sum(not c.passed for c in results), worst.name, worst.max_abs_error, worst.tolerance)
    return results
