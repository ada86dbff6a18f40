"""Microbenchmark: one transformer forward (one denoising evaluation) of stage 1 and stage 2 on the bench
checkpoint, with the lean forward's fused elementwise paths off ("before") and on ("after").

The bench checkpoint is `runtime.bench_model()` (~350 M params, 10 layers, 1024 wide: the one the whole-process
comparison against the reference uses); the shapes are that benchmark's 384x256, 33 frames, 24 fps: stage 1
at half size (6x4x5 = 120 video tokens), stage 2 at full size (480), 35 audio tokens and the 1024-token
prompt context, float32 on the CPU, through `AVDenoiser` under the lean transformer as the CPU plan runs it.
The two variants alternate inside this one process (the machine is shared and noisy): the script prints the
median ms per forward of each and their ratio, per stage, and the largest difference between the outputs.

Usage: .venv/bin/python benchmarks/denoise_step.py [--repeats 15] [--threads N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT))

from runtime import BENCH_SHAPE, bench_model  # noqa: E402


def load_transformer(checkpoint: Path):
    import torch

    from model_runtime.checkpoints import inspect_checkpoint
    from model_runtime.loading import load_component
    from model_runtime.models.transformer import TRANSFORMER_SPEC

    info = inspect_checkpoint(checkpoint)
    module, _ = load_component(info.header, TRANSFORMER_SPEC, info.config, dtype=torch.float32)
    return module.eval()


def stage_inputs(cfg: dict, width: int, height: int, frames: int, fps: float, text_tokens: int = 1024):
    import torch

    from model_runtime.models.denoiser import ModalityInput
    from model_runtime.models.latents import audio_latent_frames, latent_frames, latent_size
    from model_runtime.models.positions import audio_positions, video_positions

    f, h, w = latent_frames(frames), latent_size(height), latent_size(width)
    n_audio = audio_latent_frames(frames, fps)
    g = torch.Generator().manual_seed(0)
    video = ModalityInput(
        tokens=torch.randn(1, f * h * w, cfg["in_channels"], generator=g), sigma=0.7,
        context=torch.randn(1, text_tokens, cfg["cross_attention_dim"], generator=g),
        positions=video_positions(f, h, w, fps))
    audio = ModalityInput(
        tokens=torch.randn(1, n_audio, cfg["audio_in_channels"], generator=g), sigma=0.7,
        context=torch.randn(1, text_tokens, cfg["audio_cross_attention_dim"], generator=g),
        positions=audio_positions(n_audio))
    return video, audio


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = ap.parse_args()
    import torch

    from model_runtime.memory.planner import ATTN_CHUNK_TOKENS
    from model_runtime.models.denoiser import AVDenoiser
    from model_runtime.models.lean_block import lean_transformer

    if args.threads:
        torch.set_num_threads(args.threads)
    checkpoint = bench_model()[0]
    module = load_transformer(checkpoint)
    cfg = dict(module.config)
    denoiser = AVDenoiser(module)
    s = BENCH_SHAPE
    stages = {"stage 1": stage_inputs(cfg, s["width"] // 2, s["height"] // 2, s["frames"], s["fps"]),
              "stage 2": stage_inputs(cfg, s["width"], s["height"], s["frames"], s["fps"])}
    variants = {"before": False, "after": True}
    print(f"bench checkpoint {checkpoint.name}: {sum(p.numel() for p in module.parameters()) / 1e6:.0f} M params, "
          f"{torch.get_num_threads()} threads, {args.repeats} alternating repeats", flush=True)
    for stage, (video, audio) in stages.items():
        times: dict[str, list[float]] = {k: [] for k in variants}
        outs = {}
        for i in range(args.repeats + 1):
            for name, opts in (variants.items() if i % 2 else reversed(variants.items())):
                with lean_transformer(module, ATTN_CHUNK_TOKENS, fast=opts):
                    t = time.perf_counter()
                    out = denoiser(video, audio)
                    dt = time.perf_counter() - t
                if i:  # the first round warms both up
                    times[name].append(dt * 1e3)
                outs[name] = out
        diff = max((outs["before"].video.velocity - outs["after"].video.velocity).abs().max().item(),
                   (outs["before"].audio.velocity - outs["after"].audio.velocity).abs().max().item())
        med = {k: statistics.median(v) for k, v in times.items()}
        print(f"{stage}: {video.tokens.shape[1]} video + {audio.tokens.shape[1]} audio tokens, "
              f"{video.context.shape[1]} text: before {med['before']:.1f} ms, after {med['after']:.1f} ms "
              f"(after/before {med['after'] / med['before']:.3f}; ranges {min(times['before']):.0f}-"
              f"{max(times['before']):.0f} / {min(times['after']):.0f}-{max(times['after']):.0f} ms); "
              f"max |diff| of velocities {diff:.2e}", flush=True)


if __name__ == "__main__":
    main()
