"""Soak: 50 generations with the demo model in ONE process; RSS slope in MiB per generation; every output
checked with ffprobe.

Why: a desktop app runs job after job for hours in one process; a leak of a few MiB per job (a cache that
never evicts, a tensor kept by a closure, an unclosed container) is invisible in any single test. Each job
uses a new prompt (the runtime keeps the 8 most recent encodings: the cache must stop growing) and a new
seed, and is written to an MP4 through the product writer, then probed: video and audio streams present,
frame count and duration as asked.

RSS is read after `gc.collect()` at the end of each job. The slope is a least-squares fit over the jobs
after the warm-up (the first `--warmup` jobs load the components and fill allocator pools); the slope
over all jobs and the first/last RSS are printed beside it so the warm-up's share is visible.

Usage: .venv/bin/python benchmarks/soak.py [--jobs 50] [--warmup 5] [--size 128x96] [--frames 17]
"""

from __future__ import annotations

import argparse
import gc
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CACHE = Path.home() / ".cache" / "ltx-studio-dev"


def rss_mib() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def slope(ys: list[float]) -> float:
    """Least-squares slope of ys against 0..n-1 (MiB per job)."""
    n = len(ys)
    if n < 2:
        return 0.0
    mx, my = (n - 1) / 2, sum(ys) / n
    return sum((i - mx) * (y - my) for i, y in enumerate(ys)) / sum((i - mx) ** 2 for i in range(n))


def ffprobe(path: Path) -> dict:
    out = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-show_entries",
                          "stream=codec_type,codec_name,nb_read_frames,width,height:format=duration",
                          "-of", "json", str(path)], capture_output=True, text=True, timeout=60, check=True)
    return json.loads(out.stdout)


def check_output(path: Path, width: int, height: int, frames: int, fps: float) -> None:
    info = ffprobe(path)
    streams = {s["codec_type"]: s for s in info["streams"]}
    video, audio = streams.get("video"), streams.get("audio")
    if video is None or audio is None:
        raise SystemExit(f"{path}: expected a video and an audio stream, got {sorted(streams)}")
    if (int(video["width"]), int(video["height"]), int(video["nb_read_frames"])) != (width, height, frames):
        raise SystemExit(f"{path}: got {video['width']}x{video['height']} x {video['nb_read_frames']} frames, "
                         f"expected {width}x{height} x {frames}")
    duration = float(info["format"]["duration"])
    if abs(duration - frames / fps) > 0.1:
        raise SystemExit(f"{path}: duration {duration:.3f} s, expected {frames / fps:.3f} s")


def run_job(runtime, request, result_type):
    """Drain one job: the result is the generator's last event or its return value (both seams)."""
    gen, result = runtime.generate(request), None
    while True:
        try:
            event = next(gen)
        except StopIteration as stop:
            return result if result is not None else stop.value
        if isinstance(event, result_type):
            result = event


def write(path: Path, result) -> None:
    from model_runtime.media.mux import write_mp4

    write_mp4(path, result.frames.cpu().numpy(), result.fps, result.waveform.cpu().numpy(), result.sample_rate,
              dict(result.settings))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--jobs", type=int, default=50)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--size", default="128x96")
    p.add_argument("--frames", type=int, default=17)
    p.add_argument("--fps", type=float, default=24.0)
    args = p.parse_args()
    if shutil.which("ffprobe") is None:
        raise SystemExit("ffprobe not found: install FFmpeg")
    width, height = (int(v) for v in args.size.split("x"))

    import torch

    from model_runtime.demo import ensure_demo_model
    from model_runtime.pipelines.types import GenerationRequest, GenerationResult
    from model_runtime.runtime import ModelPaths, Runtime

    torch.set_num_threads(max(1, torch.get_num_threads()))
    demo = ensure_demo_model(CACHE / "demo-model")
    runtime = Runtime.open(ModelPaths(demo.checkpoint, demo.upsampler, demo.text_encoder_dir))
    out_dir = Path(tempfile.mkdtemp(prefix="ltx-soak-", dir=CACHE))
    rss: list[float] = []
    started = time.perf_counter()
    try:
        for job in range(args.jobs):
            request = GenerationRequest(prompt=f"A red fox trots across the snow, take {job}, birds chirp",
                                        width=width, height=height, frames=args.frames, fps=args.fps,
                                        seed=1000 + job, previews=job % 2 == 0)
            result = run_job(runtime, request, GenerationResult)
            path = out_dir / f"soak-{job:03d}.mp4"
            write(path, result)
            check_output(path, width, height, args.frames, args.fps)
            del result
            gc.collect()
            rss.append(rss_mib())
            print(f"job {job + 1:3d}/{args.jobs}: RSS {rss[-1]:8.1f} MiB", file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(out_dir, ignore_errors=True)
    elapsed = time.perf_counter() - started
    steady = rss[args.warmup:]
    print(f"soak: {args.jobs} generations ({width}x{height}, {args.frames} frames, demo model) in {elapsed:.1f} s, "
          f"all {args.jobs} outputs passed ffprobe")
    print(f"RSS first {rss[0]:.1f} MiB, after warm-up {steady[0]:.1f} MiB, last {rss[-1]:.1f} MiB")
    print(f"RSS slope after {args.warmup} warm-up jobs: {slope(steady):+.3f} MiB/gen "
          f"(over all {args.jobs}: {slope(rss):+.3f} MiB/gen); limit 1 MiB/gen")
    return 0 if slope(steady) <= 1.0 else 1


if __name__ == "__main__":
    sys.exit(main())
