"""Golden section `a2v` (golden_conditioning.safetensors): audio-to-video (A2VidPipelineTwoStage).

The runtime's dev pipeline runs with the section's soundtrack (the set's WAV), steps and video guidance
from its settings, the set's negative prompt and the stored noise. Compared: the soundtrack's log-mel
and latent, each stage's states (the audio frozen: mask 0), the guided x0 of every stage-1 step (built
from the recorded passes by the same `guide` the pipeline uses), the stage-2 x0, the final and
upsampled latents and the frames; the result's sound is the soundtrack itself.
"""

from __future__ import annotations

import torch

from model_runtime.conditioning.items import AudioTrack, Conditioning
from model_runtime.goldens import Comparison, GoldenContext
from model_runtime.goldens.e2e import RecordingEngine, golden_engine, golden_noise
from model_runtime.goldens.images import recorded
from model_runtime.sampling.guidance import GuidanceParams, guide


def video_guidance(p: dict) -> GuidanceParams:
    """ltx-core MultiModalGuiderParams (as stored in the settings) -> GuidanceParams."""
    return GuidanceParams(cfg=float(p["cfg_scale"]), stg=float(p["stg_scale"]), modality=float(p["modality_scale"]),
                          rescale=float(p["rescale_scale"]), stg_blocks=tuple(int(b) for b in p["stg_blocks"]))


def _guided_steps(calls, video: GuidanceParams, audio: GuidanceParams) -> tuple[torch.Tensor, torch.Tensor]:
    """Regroup the recorded passes per step (cond, uncond, perturbed, isolated, as the pipeline runs them)."""
    per_step = 1 + video.needs_uncond + (video.needs_perturbed or audio.needs_perturbed) + video.needs_isolated
    vs, aus = [], []
    for i in range(0, len(calls), per_step):
        group = iter(calls[i:i + per_step])
        cond = next(group)
        unc = next(group) if video.needs_uncond or audio.needs_uncond else None
        ptb = next(group) if video.needs_perturbed or audio.needs_perturbed else None
        iso = next(group) if video.needs_isolated or audio.needs_isolated else None
        pick = (lambda c, attr: getattr(c, attr) if c is not None else None)  # noqa: E731
        vs.append(guide(video, cond.video_x0, pick(unc, "video_x0"), pick(ptb, "video_x0"), pick(iso, "video_x0")))
        aus.append(guide(audio, cond.audio_x0, pick(unc, "audio_x0"), pick(ptb, "audio_x0"), pick(iso, "audio_x0")))
    return torch.stack(vs), torch.stack(aus)


def run_prefix(ctx: GoldenContext, prefix: str, plain: GoldenContext | None = None) -> list[Comparison]:
    from model_runtime.pipelines import collect
    from model_runtime.pipelines import run as run_pipeline
    from model_runtime.pipelines.types import GenerationRequest

    s = ctx.settings[prefix]
    vg = video_guidance(s["video_guider_params"])
    track = AudioTrack(ctx.root / s["audio_path"], float(s.get("audio_start_time", 0.0)))
    request = GenerationRequest(
        prompt=ctx.prompt, negative_prompt=ctx.negative_prompt, width=int(s["width"]), height=int(s["height"]),
        frames=int(s["num_frames"]), fps=float(s["fps"]), seed=int(s["seed"]), stage="render", pipeline="dev",
        steps=int(s["num_inference_steps"]), video_guidance=vg, initial_noise=golden_noise(ctx, prefix),
        previews=False, conditioning=Conditioning(audio=track),
    )
    rec = RecordingEngine(golden_engine(ctx))
    result = collect(run_pipeline(rec, request))
    steps = int(s["num_inference_steps"])
    per_step = len(rec.calls[: len(rec.calls) - ctx.tensor(f"{prefix}.stage2.denoised_video_steps").shape[0]]) // steps
    computed = recorded(prefix, ctx, rec, result, 0, stage1_calls=steps * per_step)
    video_steps, audio_steps = _guided_steps(rec.calls[: steps * per_step], vg, GuidanceParams())
    computed[f"{prefix}.stage1.denoised_video_steps"] = video_steps
    computed[f"{prefix}.stage1.denoised_audio_steps"] = audio_steps
    mel, latent = rec.encoded_audio[0]
    computed[f"{prefix}.source_audio_mel"] = mel
    computed[f"{prefix}.source_audio_latent_full"] = latent
    computed[f"{prefix}.source_audio_sampling_rate"] = torch.tensor(result.sample_rate, dtype=torch.int64)
    return ctx.compare_all(f"{prefix}.", computed)
