"""LTX-2.5's decoders on the CPU: the diffusion (Sharp) decode's time against the conv (Fast) decode's, beside
the planner's predicted ratio, and the batched neighbourhood attention against whole-volume masked attention.

The tiny 2.5 decoders (random weights: time does not depend on them) decode one random latent (default the
512 x 256 x 49 px case of issue 12). Printed, as ratios to the conv decode in the same run: the diffusion
decode's wall time and `estimates.*_decode_seconds` on the CPU profile (FLOPs + memory traffic). Then one
stage-5-sized attention call, batched tiles (`neighborhood_attention`) vs one SDPA over the whole volume with
the windows as a mask (the O(N^2) baseline the former query tiles approached), and their max difference.
Usage: PYTHONPATH=. .venv/bin/python benchmarks/diffusion_decode_cost.py [--pixels 512 256 49] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "ltx25_tiny"
log = logging.getLogger("diffusion_decode_cost")


def _config(name: str) -> dict:
    from safetensors import safe_open

    with safe_open(str(FIXTURES / "vae" / name), "pt") as f:
        return json.loads(f.metadata()["config"])["vae"]


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pixels", type=int, nargs=3, default=[512, 256, 49], metavar=("W", "H", "F"))
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    import torch

    from model_runtime.families import ModelFiles
    from model_runtime.memory import estimates as est
    from model_runtime.memory.layout import ModelLayout
    from model_runtime.memory.plan import DEVICE_PROFILES
    from model_runtime.models.diffusion_decoder import (
        build_diffusion_decoder,
        dense_neighborhood_attention,
        neighborhood_attention,
    )
    from model_runtime.models.video_vae import build_video_decoder

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    diff_cfg, conv_cfg = _config("ltx-2.5-video-vae-bf16.safetensors"), _config("ltx-2.5-video-vae-conv-bf16.safetensors")
    layout = ModelLayout.from_model_files(ModelFiles.split(
        FIXTURES / "diffusion_models/ltx-2.5-22b-distilled-transformer-bf16.safetensors",
        video_vae=FIXTURES / "vae/ltx-2.5-video-vae-conv-bf16.safetensors"))
    shape = est.LatentShape.for_pixels(*args.pixels, 24.0)
    latent = torch.randn(1, 128, shape.frames, shape.height, shape.width)
    conv, diff = build_video_decoder(conv_cfg).eval(), build_diffusion_decoder(diff_cfg).eval()
    with torch.no_grad():
        t_conv = _timed(lambda: conv(latent))
    t_diff = _timed(lambda: diff.decode(latent, generator=torch.Generator().manual_seed(0)))
    cpu = DEVICE_PROFILES["cpu"]
    rates = (cpu.host_tflops * 1e12, cpu.mem_gbps * 1e9)
    p_conv = est.conv_decode_seconds(layout, shape, None, 4, *rates)
    p_diff = est.diffusion_decode_seconds(diff_cfg, shape, None, 4, *rates)
    log.info("%s px, %d thread(s): conv %.2f s, diffusion %.2f s: measured ratio %.1fx, planner ratio %.1fx",
             "x".join(map(str, args.pixels)), args.threads, t_conv, t_diff, t_diff / t_conv, p_diff / p_conv)

    grid, kernel = (9, 32, 40), (3, 5, 5)  # one stage-5 W slab of a small decode, 2 heads of 8
    q, k, v = (torch.randn(1, *grid, 2, 8) for _ in range(3))
    got = None

    def batched() -> None:
        nonlocal got
        got = neighborhood_attention(q, k, v, kernel)

    t_batched = _timed(batched)
    dense = None

    def whole() -> None:
        nonlocal dense
        dense = dense_neighborhood_attention(q, k, v, kernel)

    t_dense = _timed(whole)
    err = (got - dense).abs().max().item()
    log.info("attention on %s, kernel %s: batched tiles %.3f s, whole-volume mask %.3f s (%.1fx), max diff %.1e",
             grid, kernel, t_batched, t_dense, t_dense / t_batched, err)


if __name__ == "__main__":
    main()
