"""Golden section: LoRAs, fused and live, against ltx-core 1.0.0's LoRA fuse.

Reads the LoRA part of `golden_conditioning.safetensors` (every settings entry with a `loras` list is a
case: `lora` = one LoRA, `lora2` = two stacked) and, for each case and for BOTH application modes, checks
* the fused weights (`<case>.fused.*`, fused mode only: live mode never changes a weight),
* one transformer forward (`<case>.forward.*`) on golden.safetensors' transformer inputs at the case's
  `forward_sigma`,
* the distilled text-to-video render end to end (`<case>.stage1.*`, `stage2.*`, upsampled latent, frames)
  through the runtime's own `ModelEngine` and pipeline with the stored noise.
Live rows compare against the same golden tensors with the same tolerances. Files, strengths and sigma
come from the metadata; tolerances from the `tolerances` metadata (nothing here knows set A).
"""

from __future__ import annotations

import logging

import torch
from safetensors import safe_open

from model_runtime.checkpoints import read_header
from model_runtime.goldens import Comparison, GoldenContext, compare_uint8_frames
from model_runtime.pipelines.types import LoraSpec

log = logging.getLogger(__name__)

CONDITIONING_FILE = "golden_conditioning.safetensors"
MODES = ("fused", "live")


def conditioning_context(ctx: GoldenContext) -> GoldenContext:
    """The golden_conditioning tensors as a GoldenContext sharing `ctx`'s loaded components (`ctx` itself
    when it already is that file)."""
    if any(isinstance(v, dict) and v.get("loras") for v in ctx.settings.values()):
        return ctx

    def load() -> GoldenContext:
        path = ctx.root / CONDITIONING_FILE
        cond = GoldenContext(root=ctx.root, strict=ctx.strict, dtype=ctx.dtype,
                             metadata=dict(read_header(path).metadata))
        cond._modules = ctx._modules  # same checkpoint: components load once
        with safe_open(str(path), framework="pt", device="cpu") as fh:
            cond._tensors.update({k: fh.get_tensor(k) for k in fh.keys()})
        return cond

    return ctx.cached(f"golden-file:{CONDITIONING_FILE}", load)


def base_context(ctx: GoldenContext) -> GoldenContext:
    """golden.safetensors (transformer inputs, size/prompt settings) as a context."""
    if ctx.has("transformer.video_latent"):
        return ctx
    return ctx.cached("golden-file:golden.safetensors", lambda: GoldenContext.open(ctx.root, strict=ctx.strict))


def cases(cond: GoldenContext) -> list[str]:
    return sorted(k for k, v in cond.settings.items() if isinstance(v, dict) and v.get("loras"))


def specs(cond: GoldenContext, case: str) -> tuple[LoraSpec, ...]:
    """The case's LoRAs: [file, strength, key-ops name] entries, files next to the golden file."""
    return tuple(LoraSpec(cond.root / entry[0], float(entry[1])) for entry in cond.settings[case]["loras"])


# --- fused weights and one forward -----------------------------------------------------------------
def _weighted(base: GoldenContext, loras: tuple[LoraSpec, ...]):
    from model_runtime.checkpoints import inspect_checkpoint
    from model_runtime.loras.apply import Weighted
    from model_runtime.loras.files import LoraTargets, read_lora

    info = inspect_checkpoint(base.checkpoint_path)
    targets = LoraTargets.from_checkpoint(info.header, info.model_version)
    return [Weighted(read_lora(s.path, targets), s.strength) for s in loras]


def _forward(base: GoldenContext, cond: GoldenContext, case: str, denoiser) -> dict[str, torch.Tensor]:
    from model_runtime.models.denoiser import ModalityInput
    from model_runtime.models.latents import (
        audio_from_tokens,
        audio_to_tokens,
        video_from_tokens,
        video_to_tokens,
    )
    from model_runtime.models.positions import audio_positions, video_positions

    video, audio = base.tensor("transformer.video_latent"), base.tensor("transformer.audio_latent")
    sigma = torch.tensor([float(cond.settings[case]["forward_sigma"])], dtype=torch.float32)
    vpos = video_positions(*video.shape[2:], float(base.tensor("transformer.fps")), batch=video.shape[0])
    apos = audio_positions(audio.shape[2], batch=audio.shape[0])
    pred = denoiser(ModalityInput(video_to_tokens(video), sigma, base.tensor("text.video_context"), vpos),
                    ModalityInput(audio_to_tokens(audio), sigma, base.tensor("text.audio_context"), apos))
    f, h, w = video.shape[2:]
    p = f"{case}.forward."
    return {p + "video_velocity": video_from_tokens(pred.video.velocity, f, h, w),
            p + "video_x0": video_from_tokens(pred.video.x0, f, h, w),
            p + "audio_velocity": audio_from_tokens(pred.audio.velocity, audio.shape[1]),
            p + "audio_x0": audio_from_tokens(pred.audio.x0, audio.shape[1])}


def _component_checks(base: GoldenContext, cond: GoldenContext) -> list[Comparison]:
    """Fused weights and the forward, in both modes, on the golden context's transformer (restored after)."""
    from model_runtime.loras.apply import CheckpointWeights, LoraApplier
    from model_runtime.models.denoiser import AVDenoiser
    from model_runtime.models.transformer import PREFIX, TRANSFORMER_SPEC, rename, unrename

    denoiser = AVDenoiser(base.module(TRANSFORMER_SPEC))
    applier = LoraApplier(CheckpointWeights(base.checkpoint_path, PREFIX, unrename))
    applier.bind(denoiser.transformer)
    out: list[Comparison] = []
    try:
        for case in cases(cond):
            weighted = _weighted(base, specs(cond, case))
            for mode in MODES:
                applier.set(weighted, mode, "cpu")
                computed = _forward(base, cond, case, denoiser)
                if mode == "fused":
                    for name in cond.names(f"{case}.fused."):
                        module_key = rename(name[len(f"{case}.fused."):])
                        computed[name] = denoiser.transformer.get_parameter(module_key).detach()
                out.extend(_labelled(cond, computed, mode))
    finally:
        applier.set((), "live", "cpu")  # the shared transformer goes back to its clean weights
    return out


def _labelled(cond: GoldenContext, computed: dict[str, torch.Tensor], mode: str) -> list[Comparison]:
    return [cond.compare(f"{name} [{mode}]", t, golden=name) for name, t in computed.items()]


# --- end to end ------------------------------------------------------------------------------------
def _render_checks(base: GoldenContext, cond: GoldenContext, case: str, mode: str) -> list[Comparison]:
    from model_runtime.goldens.e2e import golden_engine, run_render
    from model_runtime.pipelines.distilled import stage_geometries
    from model_runtime.sampling.noise import NOISE_ORDER

    noise = {n: cond.tensor(f"{case}.noise.{n}") for n in NOISE_ORDER if cond.has(f"{case}.noise.{n}")}
    result, rec = run_render(base, noise, specs(cond, case), mode)
    request_geoms = stage_geometries(golden_engine(base), _request_like(base))
    n1 = cond.tensor(f"{case}.stage1.denoised_video_steps").shape[0]
    calls = {"stage1": rec.calls[:n1], "stage2": rec.calls[n1:]}
    clean = {"stage1": (torch.zeros(request_geoms[0].video_token_shape), torch.zeros(request_geoms[0].audio_token_shape)),
             "stage2": (request_geoms[1].video_tokens(rec.upsampled[0]),
                        request_geoms[1].audio_tokens(result.latents["stage1"].audio))}
    computed: dict[str, torch.Tensor] = {f"{case}.upsampled_video_latent": rec.upsampled[0],
                                         f"{case}.audio_sampling_rate": torch.tensor(result.sample_rate)}
    for (stage, cs), geom in zip(calls.items(), request_geoms, strict=True):
        p = f"{case}.{stage}."
        video0, audio0 = clean[stage]
        computed |= {
            p + "denoised_video_steps": torch.stack([c.video_x0 for c in cs]),
            p + "denoised_audio_steps": torch.stack([c.audio_x0 for c in cs]),
            p + "video_latent": result.latents[stage].video, p + "audio_latent": result.latents[stage].audio,
            p + "noised_video_tokens": cs[0].video_in, p + "noised_audio_tokens": cs[0].audio_in,
            # text-to-video has no conditioning items: the state noise is mixed into is the clean latent
            # and every token is denoised (mask 1), which is what the pipeline does implicitly
            p + "initial_video_tokens": video0, p + "clean_video_tokens": video0, p + "initial_audio_tokens": audio0,
            p + "video_denoise_mask": torch.ones(*geom.video_token_shape[:2], 1),
            p + "audio_denoise_mask": torch.ones(*geom.audio_token_shape[:2], 1),
            p + "video_positions": geom.video_positions("cpu"),
        }
    skip = (f"{case}.fused.", f"{case}.forward.", f"{case}.frames_uint8")
    expected = [n for n in cond.names(f"{case}.") if not n.startswith(skip) and cond.tolerances.get(n) != "input"]
    out = _labelled(cond, {n: computed[n] for n in expected if n in computed}, mode)
    out += [Comparison(f"{n} [{mode}]", float("inf"), cond.tolerances[n], False, "not computed by the runtime")
            for n in expected if n not in computed]
    if cond.has(f"{case}.frames_uint8"):
        out.append(compare_uint8_frames(f"{case}.frames_uint8 [{mode}]", result.frames,
                                        cond.tensor(f"{case}.frames_uint8")))
    return out


def _request_like(base: GoldenContext):
    from model_runtime.pipelines.types import GenerationRequest

    s = base.settings
    return GenerationRequest(prompt=base.prompt, width=int(s["width"]), height=int(s["height"]),
                             frames=int(s["num_frames"]), fps=float(s["fps"]), stage="render")


def run(ctx: GoldenContext) -> list[Comparison]:
    if not (ctx.root / CONDITIONING_FILE).is_file() and not cases(ctx):
        log.info("%s: no %s: no LoRA goldens in this set", ctx.root, CONDITIONING_FILE)
        return []
    base, cond = base_context(ctx), conditioning_context(ctx)
    if not cases(cond):
        return [Comparison("lora (no LoRA cases in the golden file)", float("inf"), "-", False)]
    out = _component_checks(base, cond)
    for case in cases(cond):
        for mode in MODES:
            out.extend(_render_checks(base, cond, case, mode))
    worst = max(out, key=lambda c: c.max_abs_error / c.tolerance if isinstance(c.tolerance, float) else 0.0)
    log.info("LoRA goldens: %d comparisons, %d failed; tightest %s %.2e (tol %s)", len(out),
             sum(not c.passed for c in out), worst.name, worst.max_abs_error, worst.tolerance)
    return out

