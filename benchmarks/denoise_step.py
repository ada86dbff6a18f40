"""Microbenchmark: one transformer forward (one denoising evaluation) of stage 1 and stage 2 on the bench
checkpoint, three ways: "plain" (diffusers' own block and attention processors: what a plan without
`attn_chunk_tokens` runs), "lean" (the lean transformer with `fast=False`: the chunked path as it was) and
"fast" (the lean transformer as it runs now, `fast=True`).

The bench checkpoint is `runtime.bench_model()` (~350 M params, 10 layers, 1024 wide: the one the whole-process
comparison against the reference uses); the shapes are that benchmark's 384x256, 33 frames, 24 fps: stage 1
at half size (6x4x5 = 120 video tokens), stage 2 at full size (480), 35 audio tokens and the 1024-token
prompt context, float32 on the CPU, through `AVDenoiser` under the lean transformer as the CPU plan runs it.
The variants alternate inside this one process (the machine is shared and noisy), in a rotating order:
the script prints the median wall ms per forward of each and the median CPU ms of the process (with
`--threads 1` the better measure of the work on a shared machine: waiting for a core is not counted), the
ratios to "plain", per stage, and the largest
difference of each variant's velocities from "plain" (fast vs lean must be 0: bit-identical).

Usage: .venv/bin/python benchmarks/denoise_step.py [--repeats 15] [--threads N]
"""

from __future__ import annotations

import argparse
import contextlib
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
    variants = {"plain": None, "lean": False, "fast": True}
    print(f"bench checkpoint {checkpoint.name}: {sum(p.numel() for p in module.parameters()) / 1e6:.0f} M params, "
          f"{torch.get_num_threads()} threads, {args.repeats} rounds", flush=True)
    for stage, (video, audio) in stages.items():
        times: dict[str, list[float]] = {k: [] for k in variants}
        cpu: dict[str, list[float]] = {k: [] for k in variants}
        outs = {}
        names = list(variants)
        for i in range(args.repeats + 1):
            for name in names[i % 3:] + names[:i % 3]:  # rotate who runs first
                with contextlib.ExitStack() as stack:
                    if variants[name] is not None:
                        stack.enter_context(lean_transformer(module, ATTN_CHUNK_TOKENS, fast=variants[name]))
                    t, c = time.perf_counter(), time.process_time()
                    out = denoiser(video, audio)
                    dt, dc = time.perf_counter() - t, time.process_time() - c
                if i:  # the first round warms every variant up
                    times[name].append(dt * 1e3)
                    cpu[name].append(dc * 1e3)
                outs[name] = out
        med = {k: statistics.median(v) for k, v in times.items()}
        med_cpu = {k: statistics.median(v) for k, v in cpu.items()}
        print(f"{stage}: {video.tokens.shape[1]} video + {audio.tokens.shape[1]} audio tokens, "
              f"{video.context.shape[1]} text", flush=True)
        for name in variants:
            print(f"  {name:5s} {med[name]:8.1f} ms/forward (min {min(times[name]):.0f}, max {max(times[name]):.0f})"
                  f"  vs plain {med[name] / med['plain']:.3f}; CPU {med_cpu[name]:8.1f} ms"
                  f" vs plain {med_cpu[name] / med_cpu['plain']:.3f}  max|dv| vs plain {_diff(outs[name], outs['plain']):.2e}"
                  f"  vs lean {_diff(outs[name], outs['lean']):.2e}", flush=True)


def _diff(a, b) -> float:
    return max((a.video.velocity - b.video.velocity).abs().max().item(),
               (a.audio.velocity - b.audio.velocity).abs().max().item())


if __name__ == "__main__":
    main()
