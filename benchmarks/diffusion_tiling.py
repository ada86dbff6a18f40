"""LTX-2.5's diffusion video decoder tiled vs untiled on the CPU: peak memory, time and the seam difference.

The tiny 2.5 decoder (random weights from the fixture file) decodes a random latent larger than the
fixtures' (default 9 x 8 x 12 latent cells -> 65 frames of 256 x 384), once untiled and once per tiling,
each in a fresh subprocess so its peak RSS (VmHWM) is its own. The same seeded x_T canvas feeds every run.
Printed: wall time and peak RSS as ratios to the untiled run, and |tiled - untiled| inside and outside the
blend bands (outside should be float rounding; inside is the seam, large with random weights).
Usage: PYTHONPATH=. .venv/bin/python benchmarks/diffusion_tiling.py [--latent 9 8 12] [--tile 128 64]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "ltx25_tiny"


def _peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def child(latent_thw: list[int], tiling: list[int | None] | None, out: Path) -> None:
    import torch

    from model_runtime.goldens import GoldenContext
    from model_runtime.models.diffusion_decoder import VIDEO_DIFFUSION_DECODER_SPEC
    from model_runtime.models.tiling_config import TilingConfig

    torch.set_num_threads(1)
    decoder = GoldenContext.open(FIXTURES).module(VIDEO_DIFFUSION_DECODER_SPEC)
    g = torch.Generator().manual_seed(0)
    latent = torch.randn(1, decoder.cfg.in_channels, *latent_thw, generator=g)
    noise = torch.randn(decoder.cfg.canvas_shape(tuple(latent.shape)), generator=g)
    base = _peak_rss_mb()
    start = time.perf_counter()
    with torch.inference_mode():
        if tiling is None:
            video = decoder.decode(latent, noise=noise)
        else:
            video = torch.cat(list(decoder.decode_tiled(latent, TilingConfig(*tiling), noise=noise)), dim=2)
    seconds = time.perf_counter() - start
    torch.save(video, out)
    print(json.dumps({"seconds": seconds, "peak_mb": _peak_rss_mb(), "base_mb": base}))


def _run(latent: list[int], tiling: list[int | None] | None, out: Path) -> dict:
    args = [sys.executable, __file__, "--child", "--latent", *map(str, latent), "--out", str(out),
            "--tiling", json.dumps(tiling)]
    proc = subprocess.run(args, capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _bands(spans, length: int, before: int):
    import torch

    hit = torch.zeros(max(a.px_stop for a in spans), dtype=torch.int32)
    for a in spans:
        hit[a.px_start:a.px_stop] += 1
    return (hit > 1)[before: before + length]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--latent", type=int, nargs=3, default=[9, 8, 12], metavar=("F", "H", "W"))
    p.add_argument("--tile", type=int, nargs=2, default=[128, 32], metavar=("PX", "FRAMES"),
                   help="tile size (overlaps: the decoder's minimum)")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--tiling", default="null", help=argparse.SUPPRESS)
    p.add_argument("--out", type=Path, default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        child(args.latent, json.loads(args.tiling), args.out)
        return 0
    import torch

    from model_runtime.goldens import GoldenContext
    from model_runtime.models.diffusion_decoder import VIDEO_DIFFUSION_DECODER_SPEC
    from model_runtime.models.diffusion_tiling import TileSchedule
    from model_runtime.models.tiling_config import TilingConfig

    decoder = GoldenContext.open(FIXTURES).module(VIDEO_DIFFUSION_DECODER_SPEC)
    px, frames = args.tile
    runs = {"untiled": None, "spatial": [px, 0, None, 0], "temporal": [None, 0, frames, 0], "both": [px, 0, frames, 0]}
    latent_shape = (1, decoder.cfg.in_channels, *args.latent)
    padded = decoder.pad(torch.zeros(latent_shape))
    with tempfile.TemporaryDirectory() as tmp:
        stats, videos = {}, {}
        for name, tiling in runs.items():
            out = Path(tmp) / f"{name}.pt"
            stats[name] = _run(args.latent, tiling, out)
            videos[name] = torch.load(out, weights_only=True)
    ref, base = videos["untiled"], stats["untiled"]
    print(f"latent {args.latent} -> video {list(ref.shape[2:])}; untiled {base['seconds']:.2f} s, "
          f"peak RSS {base['peak_mb']:.0f} MB (after loading: {base['base_mb']:.0f} MB)")
    for name, tiling in runs.items():
        if tiling is None:
            continue
        s = stats[name]
        schedule = TileSchedule.plan(decoder.cfg, tuple(args.latent), TilingConfig(*tiling))
        seam = (_bands(schedule.temporal, ref.shape[2], 0).view(-1, 1, 1)
                | _bands(schedule.rows, ref.shape[3], padded.h_before).view(1, -1, 1)
                | _bands(schedule.cols, ref.shape[4], padded.w_before).view(1, 1, -1))
        diff = (videos[name] - ref).abs()[0].amax(dim=0)
        inside = diff[seam] if seam.any() else torch.zeros(1)
        outside = diff[~seam] if (~seam).any() else torch.zeros(1)
        t = schedule.tiling
        size = f"{t.spatial_tile_px or '-'} px, {t.temporal_tile_frames or '-'} f"
        print(f"{name:9s} {schedule.count:3d} tiles ({size}): time x{s['seconds'] / base['seconds']:.2f}, "
              f"peak-RSS growth x{(s['peak_mb'] - s['base_mb']) / max(base['peak_mb'] - base['base_mb'], 1):.2f}; "
              f"|tiled-untiled| outside seams max {outside.max():.1e}, in seams max {inside.max():.3f} "
              f"mean {inside.mean():.4f} ({100 * seam.float().mean():.0f}% of pixels in seams)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
