"""Export speed: our `export()` vs the ffmpeg command line doing the same encode, ratio of medians.

Same input (a generated 1088x1920 clip with tone + noise at 44.1 kHz), same work on both sides: a
loudnorm measuring pass over the sound, then one encode with the same filters (taken from our own
`video_filters`, so the crop is identical), x264 settings, loudnorm second pass, AAC and +faststart.
Runs are interleaved so background load hits both alike. Note that the ffmpeg CLI is the system's
build (its own libx264), while ours is PyAV's bundled FFmpeg: the ratio includes that difference.
Usage: .venv/bin/python benchmarks/export.py [--preset shorts] [--seconds 4] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

from model_runtime.media.export import export, video_filters
from model_runtime.media.export_presets import ExportPreset, get_preset
from model_runtime.media.mux import write_mp4

FPS = 24


def make_input(path: Path, seconds: float, width: int = 1088, height: int = 1920) -> None:
    frames = round(seconds * FPS)
    video = np.empty((frames, height, width, 3), dtype=np.uint8)
    steps = 6 * np.arange(frames)[:, None, None]
    video[..., 0] = (np.arange(width)[None, None, :] * 255 // width + steps) % 256
    video[..., 1] = (np.arange(height) * 255 // height)[None, :, None]
    video[..., 2] = (np.arange(frames) * 3 % 256)[:, None, None]
    rate = 44_100
    t = np.arange(round(seconds * rate)) / rate
    noise = np.random.default_rng(0).standard_normal(t.size)
    tone = 0.1 * np.sin(2 * np.pi * 440 * t) + 0.02 * noise
    write_mp4(path, video, FPS, np.stack([tone, np.roll(tone, 5)]), rate, {"benchmark": True}, preset="ultrafast")


def ffmpeg_export(ffmpeg: str, src: Path, out: Path, preset: ExportPreset, width: int, height: int) -> None:
    """The same export as two ffmpeg command lines: loudnorm measure, then encode with its numbers."""
    target = preset.loudness
    if target is None:
        raise SystemExit("pick a preset that normalises loudness (the benchmark compares both passes)")
    first = subprocess.run([ffmpeg, "-hide_banner", "-nostats", "-i", str(src), "-vn", "-af",
                            f"loudnorm={target.loudnorm_args()}:print_format=json", "-f", "null", "-"],
                           capture_output=True, text=True, check=True).stderr
    m = json.loads(first[first.rindex("{"):first.rindex("}") + 1])
    linear = float(m["input_tp"]) + target.integrated_lufs - float(m["input_i"]) <= target.true_peak_dbtp
    loudnorm = (f"loudnorm={target.loudnorm_args()}:measured_I={m['input_i']}:measured_TP={m['input_tp']}:"
                f"measured_LRA={m['input_lra']}:measured_thresh={m['input_thresh']}:"
                f"offset={m['target_offset']}:linear={'true' if linear else 'false'}")
    vf = ",".join(f"{name}={args}" for name, args in video_filters(preset, width, height))
    v, a = preset.video, preset.audio
    gop = max(1, math.floor(Fraction(FPS) * Fraction(v.gop_max_s)))
    subprocess.run([ffmpeg, "-hide_banner", "-nostats", "-loglevel", "error", "-y", "-i", str(src),
                    "-vf", vf, "-c:v", v.codec, "-preset", v.speed, "-crf", str(v.crf), "-profile:v", v.profile,
                    "-pix_fmt", v.pix_fmt, "-g", str(gop), "-flags", "+cgop", "-color_primaries", "bt709",
                    "-color_trc", "bt709", "-colorspace", "bt709", "-color_range", "tv",
                    "-af", f"{loudnorm},aresample={a.sample_rate}", "-c:a", a.codec, "-b:a", str(a.bit_rate),
                    "-ar", str(a.sample_rate), "-ac", str(a.channels), "-movflags", "+faststart", str(out)],
                   check=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="shorts")
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        sys.exit("ffmpeg is not installed (./dev setup installs it)")
    preset = get_preset(args.preset)
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        src = d / "input.mp4"
        make_input(src, args.seconds)
        ours_t, theirs_t = [], []
        for run in range(args.runs + 1):  # run 0 warms caches and is not counted
            t0 = time.perf_counter()
            export(src, preset, d / "ours.mp4")
            t1 = time.perf_counter()
            ffmpeg_export(ffmpeg, src, d / "ffmpeg.mp4", preset, 1088, 1920)
            t2 = time.perf_counter()
            if run:
                ours_t.append(t1 - t0)
                theirs_t.append(t2 - t1)
    a, b = statistics.median(ours_t), statistics.median(theirs_t)
    print(f"preset={preset.name} input=1088x1920@{FPS} {args.seconds:g}s runs={args.runs}")
    print(f"ours   median {a:.2f} s  (min {min(ours_t):.2f}, max {max(ours_t):.2f})")
    print(f"ffmpeg median {b:.2f} s  (min {min(theirs_t):.2f}, max {max(theirs_t):.2f})")
    print(f"export ratio (ours / ffmpeg CLI, medians): {a / b:.2f}")


if __name__ == "__main__":
    main()
