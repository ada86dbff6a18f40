"""Measure peak VRAM and time of the memory strategies on a real GPU and compare them with the planner.

    .venv/bin/python benchmarks/gpu_plan.py                      # CUDA, synthetic full-width model
    .venv/bin/python benchmarks/gpu_plan.py --checkpoint ltx-2.3-22b-distilled.safetensors
    .venv/bin/python benchmarks/gpu_plan.py --device cpu --layers 1 --width 256 --height 256 --frames 9

Without `--checkpoint` (or with weights absent) the transformer is a synthetic model of the full width
(diffusers' LTX2VideoTransformer3DModel from the LTX-2.3 config, random weights) with `--layers` blocks:
per-block memory and time are what matter, and they do not depend on the weights' values. For every
strategy the script runs one forward at the request's stage-2 token count and prints measured peak
allocated VRAM (torch.cuda.max_memory_allocated; on CPU the PeakTracker) and seconds next to the plan's
prediction for the same layer count, then the same for one VAE decode tile of the planned size.
Output: a table on stdout and, with --json FILE, the rows as JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from pathlib import Path

import torch

from model_runtime.memory.apply import apply_plan
from model_runtime.memory.estimates import (
    LatentShape,
    TileSpec,
    transformer_bytes,
    transformer_flops,
    vae_decode_bytes,
)
from model_runtime.memory.executors import find_blocks, module_bytes
from model_runtime.memory.layout import ModelLayout
from model_runtime.memory.measure import PeakTracker
from model_runtime.memory.plan import Machine, MemoryPlan, Placement, RequestShape, Strategy, Weights

LAYOUT = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "ltx23_layout_full.json.gz"
STRATEGIES = (Strategy(Weights.BF16, Placement.RESIDENT), Strategy(Weights.FP8, Placement.RESIDENT),
              Strategy(Weights.BF16, Placement.STREAM), Strategy(Weights.FP8, Placement.STREAM),
              Strategy(Weights.FP8, Placement.STREAM, ffn_chunk_tokens=4096))


def _peak(device: torch.device):
    """Context yielding a callable that returns the peak bytes allocated inside the block."""
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()

        @contextlib.contextmanager
        def ctx():
            yield lambda: torch.cuda.max_memory_allocated() - base
        return ctx()

    @contextlib.contextmanager
    def cpu_ctx():
        with PeakTracker() as t:
            yield lambda: t.reading().peak_bytes
    return cpu_ctx()


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _synthetic(module_on_meta: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """Materialise a meta-built module on `device` in bf16 with small random values (fast, no CPU init)."""
    module = module_on_meta.to_empty(device=device).to(torch.bfloat16)
    g = torch.Generator(device=device).manual_seed(0)
    with torch.no_grad():
        for t in [*module.parameters(), *module.buffers()]:
            if t.is_floating_point():
                t.normal_(0.0, 0.02, generator=g)
    return module.eval().requires_grad_(False)


def _build_transformer(config: dict, layers: int) -> torch.nn.Module:
    from model_runtime.models.transformer import build_transformer

    with torch.device("meta"):
        meta = build_transformer({**config["transformer"], "num_layers": layers})
    return _synthetic(meta, torch.device("cpu"))


def _inputs(cfg: dict, shape: LatentShape, device: torch.device) -> dict:
    t = cfg["transformer"]
    bf = dict(device=device, dtype=torch.bfloat16)
    return dict(hidden_states=torch.randn(1, shape.video_tokens, t["in_channels"], **bf),
                audio_hidden_states=torch.randn(1, shape.audio_tokens, t["audio_in_channels"], **bf),
                encoder_hidden_states=torch.randn(1, 1024, t["cross_attention_dim"], **bf),
                audio_encoder_hidden_states=torch.randn(1, 1024, t["audio_cross_attention_dim"], **bf),
                timestep=torch.full((1, 1), 500.0, device=device), audio_timestep=torch.full((1, 1), 500.0, device=device),
                sigma=torch.tensor([500.0], device=device), audio_sigma=torch.tensor([500.0], device=device),
                num_frames=shape.frames, height=shape.height, width=shape.width, fps=24.0,
                audio_num_frames=shape.audio_tokens, use_cross_timestep=True, return_dict=False)


def _predicted_weights(model: torch.nn.Module, s: Strategy) -> int:
    if s.placement is Placement.RESIDENT:
        return module_bytes(model)
    blocks = find_blocks(model)
    return module_bytes(model) - module_bytes(blocks) + s.blocks_in_flight * max(module_bytes(b) for b in blocks)


def bench_transformer(layout: ModelLayout, args: argparse.Namespace, device: torch.device, shape: LatentShape) -> list[dict]:
    rows = []
    machine = Machine(args.vram_gb, args.ram_gb, device.type)
    request = RequestShape(args.width, args.height, args.frames, args.fps)
    flops = transformer_flops(layout, shape) * args.layers / layout.transformer_dims.num_layers
    for s in STRATEGIES:
        model = _build_transformer(dict(layout.config), args.layers)
        plan = MemoryPlan(s, (), None, request, machine)
        with torch.no_grad(), apply_plan(model, plan, device):
            inputs = _inputs(dict(layout.config), shape, device)
            _sync(device)
            with _peak(device) as peak:
                t0 = time.perf_counter()
                model(**inputs)
                _sync(device)
                secs = time.perf_counter() - t0
                measured = peak()
            weights = _predicted_weights(model, s)
            streamed = s.blocks_in_flight * max(module_bytes(b) for b in find_blocks(model)) if s.placement is Placement.STREAM else 0
        act = transformer_bytes(layout.transformer_dims, shape, 2, ffn_chunk_tokens=s.ffn_chunk_tokens)
        rows.append({"what": f"transformer {s.label}", "tokens": shape.video_tokens, "layers": args.layers,
                     # the CPU tracker sees only tensors made during the forward (streamed copies included)
                     "measured_gb": (measured + (weights - streamed if device.type != "cuda" else 0)) / 1e9,
                     "predicted_gb": (weights + act) / 1e9, "seconds": secs,
                     "effective_tflops": flops / secs / 1e12})
        del model
        if device.type == "cuda":
            torch.cuda.empty_cache()
    return rows


def bench_acceleration(layout: ModelLayout, args: argparse.Namespace, device: torch.device, shape: LatentShape
                       ) -> list[dict]:
    """The device policy's effect (models/acceleration.py): one resident forward per SDPA kernel choice, then
    with the blocks compiled (its first call compiles and is not timed); seconds are the best of 3 calls."""
    from model_runtime.models.acceleration import attention_kernels, compile_blocks

    model = _build_transformer(dict(layout.config), args.layers).to(device)
    inputs = _inputs(dict(layout.config), shape, device)
    rows = []

    def timed(label: str, attention: str) -> None:
        try:
            with torch.no_grad(), attention_kernels(device, attention):
                model(**inputs)  # warm-up (and compilation)
                best = float("inf")
                for _ in range(3):
                    _sync(device)
                    t0 = time.perf_counter()
                    model(**inputs)
                    _sync(device)
                    best = min(best, time.perf_counter() - t0)
        except RuntimeError as exc:  # a kernel that cannot run these inputs: say so, keep going
            print(f"{label}: {str(exc).splitlines()[0]}", file=sys.stderr)
            return
        rows.append({"what": label, "measured_gb": 0.0, "predicted_gb": 0.0, "seconds": best})

    for attention in ("auto", "flash", "efficient", "math"):
        timed(f"transformer resident, attention {attention}", attention)
    compile_blocks(model)
    timed("transformer resident, attention auto, compiled blocks", "auto")
    return rows


def bench_vae(layout: ModelLayout, device: torch.device, tile: TileSpec) -> dict:
    from model_runtime.models.video_vae import build_video_decoder

    with torch.device("meta"):
        meta = build_video_decoder(dict(layout.config)["vae"])
    decoder = _synthetic(meta, device)
    shape = LatentShape(tile.frames + 2 * tile.halo_frames, tile.size + 2 * tile.halo, tile.size + 2 * tile.halo, 0)
    z = torch.randn(1, 128, shape.frames, shape.height, shape.width, device=device, dtype=torch.bfloat16)
    with torch.no_grad(), _peak(device) as peak:
        t0 = time.perf_counter()
        decoder(z)
        _sync(device)
        secs, measured = time.perf_counter() - t0, peak()
    return {"what": f"VAE decode tile {tile.label()}", "measured_gb": measured / 1e9,
            "predicted_gb": vae_decode_bytes(layout, shape, 2) / 1e9, "seconds": secs}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", help="real LTX-2.3 file: layout from its header (weights are not needed)")
    p.add_argument("--tiny", action="store_true", help="use the tiny fixture's config (CPU smoke test)")
    p.add_argument("--device", default="cuda")
    p.add_argument("--layers", type=int, default=4, help="blocks in the synthetic full-width transformer")
    p.add_argument("--width", type=int, default=1920)
    p.add_argument("--height", type=int, default=1088)
    p.add_argument("--frames", type=int, default=121)
    p.add_argument("--fps", type=float, default=24.0)
    p.add_argument("--vram-gb", type=float, default=24.0)
    p.add_argument("--ram-gb", type=float, default=64.0)
    p.add_argument("--tile", type=int, nargs=2, default=(8, 16), metavar=("FRAMES", "SIZE"), help="latent tile")
    p.add_argument("--json", help="write the rows here")
    p.add_argument("--acceleration", action="store_true",
                   help="also time each SDPA kernel choice and the compiled blocks (models/acceleration.py)")
    args = p.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("no CUDA device: run with --device cpu for a (slow, small) dry run", file=sys.stderr)
        return 1
    if args.tiny:
        args.checkpoint = str(LAYOUT.parent / "ltx23_tiny" / "checkpoint.safetensors")
    layout = ModelLayout.from_checkpoint(args.checkpoint) if args.checkpoint else ModelLayout.from_layout_json(LAYOUT)
    shape = RequestShape(args.width, args.height, args.frames, args.fps).latent()
    rows = bench_transformer(layout, args, device, shape)
    rows.append(bench_vae(layout, device, TileSpec(*args.tile)))
    if args.acceleration:
        rows.extend(bench_acceleration(layout, args, device, shape))
    print(f"{'what':<58}{'measured GB':>12}{'predicted GB':>13}{'seconds':>9}")
    for r in rows:
        print(f"{r['what']:<58}{r['measured_gb']:>12.3f}{r['predicted_gb']:>13.3f}{r['seconds']:>9.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
