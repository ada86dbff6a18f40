"""Runtime benchmark: distilled two-stage render time / peak RSS on the tiny fixture, and the load peak RSS
of a >= 1 GB checkpoint in the official layout.

1. For each size, a fresh process opens the tiny fixture and runs the distilled render (stage 1 at half
   size, x2 upsample, 3 refinement steps, decode) 1 + repeats times: "cold" includes the lazy component
   loads (and Gemma), "warm" jobs have everything resident (each with a new prompt, so text encoding
   is timed too). The machine may be shared: the median and min of the warm runs are both shown.
   Peak RSS is the process's ru_maxrss (includes Python + torch, about 0.4 GB before any model).
2. A checkpoint is generated in a temp dir from the components registry (every spec built on meta from
   a scaled-up copy of the tiny config, random bf16 weights under the official key names, embedded
   config + model_version), then a fresh process loads every component strictly, once keeping the file
   dtype (bf16) and once casting to float32; the file is deleted afterwards.

Usage: .venv/bin/python benchmarks/runtime.py [--sizes 192x128,384x256,768x512] [--frames 17] [--repeats 3]
       [--big-gb 1.0]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TINY = Path(os.environ.get("LTX_FIXTURES", REPO.parent / "shared" / "fixtures")) / "ltx23_tiny"


def rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


# --- 1. distilled render on the tiny fixture -----------------------------------------------------------

def child_render(width: int, height: int, frames: int, fps: float, repeats: int) -> dict:
    import torch

    from model_runtime.pipelines.types import GenerationRequest, ProgressEvent
    from model_runtime.runtime import ModelPaths, Runtime

    torch.manual_seed(0)
    base = rss_mb()
    runtime = Runtime.open(ModelPaths(TINY / "checkpoint.safetensors", TINY / "spatial_upscaler_x2.safetensors",
                                      TINY / "text_encoder"))
    timings = []
    for take in range(1 + repeats):  # a new prompt each time: the runtime caches recent prompt encodings
        request = GenerationRequest(prompt=f"A red fox trots across a snowy clearing, birds chirp (take {take})",
                                    width=width, height=height, frames=frames, fps=fps, seed=1, stage="render",
                                    previews=False)
        stages: dict[str, float] = {}
        t0 = last = time.perf_counter()
        current = None
        gen = runtime.generate(request)
        while True:
            try:
                ev = next(gen)
            except StopIteration as stop:
                stages[current] = stages.get(current, 0.0) + time.perf_counter() - last
                shape = tuple(stop.value.frames.shape)
                break
            if isinstance(ev, ProgressEvent) and ev.stage != current:
                now = time.perf_counter()
                if current is not None:
                    stages[current] = stages.get(current, 0.0) + now - last
                current, last = ev.stage, now
        timings.append((time.perf_counter() - t0, stages))
    warm = sorted(timings[1:], key=lambda t: t[0])
    return {"cold_s": timings[0][0], "warm_median_s": warm[len(warm) // 2][0], "warm_min_s": warm[0][0],
            "stages": warm[0][1], "frames_shape": shape, "base_rss_mb": base, "peak_rss_mb": peak_rss_mb()}


def run_child(args: list[str]) -> dict:
    proc = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, timeout=1800)
    if proc.returncode != 0:
        raise SystemExit(f"child {args} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def render_table(sizes: list[tuple[int, int]], frames: int, fps: float, repeats: int) -> None:
    print(f"\n## distilled two-stage render, tiny fixture, {frames} frames @ {fps:g} fps, float32 CPU "
          f"({os.cpu_count()} cores); warm = median of {repeats}, stages of the fastest warm run")
    print(f"{'size':>9} {'cold s':>8} {'warm s':>8} {'min s':>6} {'text':>6} {'stage1':>7} {'upsmpl':>7} "
          f"{'stage2':>7} {'decode':>7} {'peak RSS MB':>12} {'base RSS MB':>12}")
    for w, h in sizes:
        r = run_child(["--child-render", f"{w}x{h}", str(frames), str(fps), str(repeats)])
        st = r["stages"]
        print(f"{w}x{h:<5} {r['cold_s']:8.2f} {r['warm_median_s']:8.2f} {r['warm_min_s']:6.2f} "
              f"{st.get('text', 0):6.2f} {st.get('stage1', 0):7.2f} "
              f"{st.get('upsample', 0):7.2f} {st.get('stage2', 0):7.2f} {st.get('decode', 0):7.2f} "
              f"{r['peak_rss_mb']:12.0f} {r['base_rss_mb']:12.0f}", flush=True)


# --- 2. load of a >= 1 GB generated checkpoint -------------------------------------------------------

def scaled_config(config: dict, layers: int) -> dict:
    """The tiny config with a wider, deeper transformer (and matching connectors): only sizes change."""
    c = copy.deepcopy(config)
    c["transformer"].update(
        num_layers=layers, num_attention_heads=8, attention_head_dim=128, cross_attention_dim=1024,
        audio_num_attention_heads=8, audio_attention_head_dim=64, audio_cross_attention_dim=512,
        connector_num_attention_heads=8, connector_attention_head_dim=128,
        audio_connector_num_attention_heads=8, audio_connector_attention_head_dim=64,
    )
    return c


def _file_bytes(config: dict) -> int:
    from model_runtime.components import specs
    from model_runtime.loading import build_on_meta

    keys: dict[str, int] = {}
    for spec in specs("checkpoint"):
        for k, t in build_on_meta(spec, config).state_dict().items():
            keys[spec.prefix + spec.unrename(k)] = t.numel() * 2
    return sum(keys.values())


def config_for_size(config: dict, target_bytes: int) -> dict:
    """Fewest transformer layers whose bf16 file reaches `target_bytes` (sizes are linear in layers)."""
    a, b = _file_bytes(scaled_config(config, 2)), _file_bytes(scaled_config(config, 4))
    per_layer = (b - a) / 2
    layers = max(2, int(-(-(target_bytes - a) // per_layer)) + 2)
    return scaled_config(config, layers)


def write_checkpoint(path: Path, config: dict, model_version: str) -> tuple[int, int]:
    """Random bf16 weights for every registry component, official key names; returns (tensors, params)."""
    import torch
    from safetensors.torch import save_file

    from model_runtime.components import specs
    from model_runtime.loading import build_on_meta

    gen = torch.Generator().manual_seed(0)
    tensors: dict[str, torch.Tensor] = {}
    for spec in specs("checkpoint"):
        for k, t in build_on_meta(spec, config).state_dict().items():
            fk = spec.prefix + spec.unrename(k)
            if fk not in tensors:  # shared tensors (VAE statistics) are stored once
                tensors[fk] = (torch.randn(t.shape, generator=gen) * 0.02).to(torch.bfloat16)
    save_file(tensors, str(path), metadata={"config": json.dumps(config), "model_version": model_version})
    return len(tensors), sum(t.numel() for t in tensors.values())


def child_load(path: str, dtype_name: str) -> dict:
    import torch

    from model_runtime.checkpoints import inspect_checkpoint
    from model_runtime.components import specs
    from model_runtime.loading import load_component

    info = inspect_checkpoint(path)
    base = rss_mb()
    dtype = None if dtype_name == "file" else getattr(torch, dtype_name)
    t0 = time.perf_counter()
    modules = [load_component(info.header, s, info.config, dtype=dtype, strict=True)[0] for s in specs("checkpoint")]
    seconds = time.perf_counter() - t0
    weights = sum(t.numel() * t.element_size() for m in modules for t in m.state_dict().values())
    return {"base_rss_mb": base, "peak_rss_mb": peak_rss_mb(), "after_rss_mb": rss_mb(), "load_s": seconds,
            "weights_mb": weights / 2**20}


def load_table(target_gb: float) -> None:
    from model_runtime.checkpoints import inspect_checkpoint

    tiny = inspect_checkpoint(TINY / "checkpoint.safetensors")
    config = config_for_size(tiny.config, int(target_gb * 2**30))
    with tempfile.TemporaryDirectory(prefix="ltx-bench-") as tmp:
        path = Path(tmp) / "ltx-2.3-bench.safetensors"
        t0 = time.perf_counter()
        n, params = write_checkpoint(path, config, tiny.model_version)
        size_mb = path.stat().st_size / 2**20
        print(f"\n## strict load of a generated official-layout checkpoint ({n} tensors, {params / 1e6:.0f} M params, "
              f"{config['transformer']['num_layers']} layers, file {size_mb:.0f} MiB, written in "
              f"{time.perf_counter() - t0:.1f} s)")
        print(f"{'dtype':>8} {'load s':>7} {'weights MiB':>12} {'base RSS':>9} {'peak RSS':>9} {'peak-base':>10} "
              f"{'(peak-base)/file':>17} {'(peak-base)/weights':>20}")
        for dtype in ("file", "float32"):
            r = run_child(["--child-load", str(path), dtype])
            delta = r["peak_rss_mb"] - r["base_rss_mb"]
            label = "bf16" if dtype == "file" else dtype
            print(f"{label:>8} {r['load_s']:7.2f} {r['weights_mb']:12.0f} {r['base_rss_mb']:9.0f} "
                  f"{r['peak_rss_mb']:9.0f} {delta:10.0f} {delta / size_mb:17.2f} {delta / r['weights_mb']:20.2f}",
                  flush=True)
    print(f"(temporary checkpoint deleted: {not path.exists()})")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child-render":
        w, h = (int(v) for v in sys.argv[2].split("x"))
        print(json.dumps(child_render(w, h, int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5]))))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "--child-load":
        print(json.dumps(child_load(sys.argv[2], sys.argv[3])))
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="192x128,384x256,768x512", help="WxH list, multiples of 64")
    ap.add_argument("--frames", type=int, default=17)
    ap.add_argument("--fps", type=float, default=24.0)
    ap.add_argument("--repeats", type=int, default=5, help="warm runs per size")
    ap.add_argument("--big-gb", type=float, default=1.0, help="size of the generated checkpoint in GiB (0 = skip)")
    args = ap.parse_args()
    sizes = [tuple(int(v) for v in s.split("x")) for s in args.sizes.split(",") if s]
    if sizes:
        render_table(sizes, args.frames, args.fps, args.repeats)
    if args.big_gb > 0:
        load_table(args.big_gb)


if __name__ == "__main__":
    main()
