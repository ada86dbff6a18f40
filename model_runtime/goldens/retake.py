"""Golden section `retake` (golden_conditioning.safetensors): RetakePipeline(distilled=True).

The runtime's retake runs on the set's source clip (its frames and AAC sound decoded with PyAV, checked
against the stored decoded inputs) with the section's span, seed and stored noise. Compared: the source's
video latent, log-mel and audio latent, the span masks, the states before and after noising, every
step's x0, the final latents, the frames and the waveform.
"""

from __future__ import annotations

import torch

from model_runtime.conditioning.items import Conditioning, Retake, TimeSpan
from model_runtime.conditioning.media_input import read_frames, read_sound
from model_runtime.goldens import Comparison, GoldenContext
from model_runtime.goldens.e2e import RecordingEngine, golden_engine
from model_runtime.goldens.images import recorded


def _input_checks(ctx: GoldenContext, prefix: str, source) -> list[Comparison]:
    """Our PyAV decode of the source against the reference's (exact when the codec libraries match)."""
    out = []
    frames = read_frames(source, ctx.tensor(f"{prefix}.source_frames_uint8").shape[0])
    err = float((frames.int() - ctx.tensor(f"{prefix}.source_frames_uint8").int()).abs().max())
    out.append(Comparison(f"{prefix}.source_frames_uint8 (PyAV decode)", err, "exact", err == 0.0))
    wave = read_sound(source)
    ref = ctx.tensor(f"{prefix}.source_audio_waveform")
    err = float((wave.samples - ref).abs().max()) if wave is not None and wave.samples.shape == ref.shape else float("inf")
    out.append(Comparison(f"{prefix}.source_audio_waveform (PyAV decode)", err, "exact", err == 0.0))
    return out


def run_prefix(ctx: GoldenContext, prefix: str, plain: GoldenContext | None = None) -> list[Comparison]:
    from model_runtime.media.probe import probe
    from model_runtime.pipelines import collect
    from model_runtime.pipelines import run as run_pipeline
    from model_runtime.pipelines.types import GenerationRequest

    s = ctx.settings[prefix]
    source = ctx.root / s["video_path"]
    info = probe(source)
    noise = {"stage1_video": ctx.tensor(f"{prefix}.noise.video"), "stage1_audio": ctx.tensor(f"{prefix}.noise.audio")}
    request = GenerationRequest(
        prompt=ctx.prompt, width=info.width, height=info.height, frames=info.frames, fps=float(info.fps), seed=int(s["seed"]),
        pipeline="distilled" if s.get("distilled", True) else "dev", initial_noise=noise, previews=False,
        conditioning=Conditioning(retake=Retake(source, TimeSpan(float(s["start_time"]), float(s["end_time"])))),
    )
    rec = RecordingEngine(golden_engine(ctx))
    result = collect(run_pipeline(rec, request))
    computed = {k.replace(f"{prefix}.stage1.", f"{prefix}."): v
                for k, v in recorded(prefix, ctx, rec, result, 0, stage1_calls=len(rec.calls)).items()}
    computed[f"{prefix}.video_latent"] = result.latents["stage1"].video
    computed[f"{prefix}.audio_latent"] = result.latents["stage1"].audio
    computed[f"{prefix}.source_video_latent"] = rec.encoded[0][1]
    mel, latent = rec.encoded_audio[0]
    computed[f"{prefix}.source_audio_mel"] = mel
    computed[f"{prefix}.source_audio_latent"] = latent[:, :, :ctx.tensor(f"{prefix}.source_audio_latent").shape[2]]
    computed[f"{prefix}.source_audio_sampling_rate"] = torch.tensor(read_sound(source).sample_rate, dtype=torch.int64)
    return [*_input_checks(ctx, prefix, source), *ctx.compare_all(f"{prefix}.", computed)]
