"""The end of a job, audio decode + MP4 write, with the H.264 encode started before the audio decode
(`media.video_encode.VideoEncodeThread`, what `ltx-studio-cli generate` does) vs after it (the old order).

Same process, alternating old/new `--repeats` times, on the ~330 M-param bench checkpoint of
`benchmarks/runtime.py` (its audio decoder and vocoder, loaded once beforehand) at the bench shape
(384x256, 33 frames, 24 fps: an audio latent of 34 steps). The frames are the first 33 of `--frames-from`
(an MP4, e.g. a bench render's output) or, without it, a synthetic clip (moving gradients and a square:
H.264's cost depends on the content). Both ways write to temp files whose bytes are compared (identical).
Medians of wall and CPU seconds (all threads) are printed with their ratios new / old; the machine may be
shared (load average shown): the overlap only pays in wall time when a core is idle during the audio decode,
and it must not cost CPU time.

Usage: .venv/bin/python benchmarks/mux_overlap.py [--repeats 5] [--frames-from OUT.mp4]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
FRAMES, HEIGHT, WIDTH, FPS, AUDIO_STEPS = 33, 256, 384, 24.0, 34


def synthetic_frames() -> np.ndarray:
    t = np.arange(FRAMES)[:, None, None]
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH]
    r = (x[None] + 4 * t) % 256
    g = (y[None] + 2 * t) % 256
    b = np.broadcast_to(((x + y) // 3 % 256)[None], (FRAMES, HEIGHT, WIDTH)).copy()
    frames = np.stack([r, g, b], axis=-1).astype(np.uint8)
    for i in range(FRAMES):  # a moving square
        frames[i, 100:160, 10 + 8 * i:70 + 8 * i] = (240, 30, 30)
    return frames


def frames_from(path: Path) -> np.ndarray:
    import av

    with av.open(str(path)) as container:
        out = [f.to_ndarray(format="rgb24") for _, f in zip(range(FRAMES), container.decode(video=0), strict=False)]
    return np.stack(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--frames-from", type=Path, default=None)
    args = ap.parse_args()
    sys.path.insert(0, str(REPO / "benchmarks"))
    import torch
    from runtime import bench_model

    from model_runtime.media.mux import video_settings, write_mp4
    from model_runtime.media.video_encode import VideoEncodeThread
    from model_runtime.runtime import ModelEngine
    from model_runtime.spec import ModelPaths

    frames = frames_from(args.frames_from) if args.frames_from else synthetic_frames()
    engine = ModelEngine(ModelPaths(*bench_model()), "cpu", torch.float32)
    latent = torch.randn(1, 8, AUDIO_STEPS, 16, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        engine.decode_audio(latent)  # loads the audio decoder and the vocoder: not part of the comparison

    def finish(tmp: Path, early: bool) -> tuple[float, float]:
        t0, c0 = time.perf_counter(), time.process_time()
        thread = VideoEncodeThread(frames, video_settings(FPS)) if early else None
        with torch.inference_mode():
            audio = engine.decode_audio(latent)
        write_mp4(tmp, frames, FPS, audio.waveform.numpy(), audio.sample_rate, {"benchmark": True}, early=thread)
        return time.perf_counter() - t0, time.process_time() - c0

    times: dict[str, list[tuple[float, float]]] = {"old": [], "new": []}
    digests: set[str] = set()
    with tempfile.TemporaryDirectory(prefix="ltx-mux-overlap-") as tmp:
        for _ in range(args.repeats):
            for label in ("old", "new"):
                path = Path(tmp) / f"{label}.mp4"
                times[label].append(finish(path, label == "new"))
                digests.add(hashlib.sha256(path.read_bytes()).hexdigest())
    old, new = (statistics.median(w for w, _ in times[k]) for k in ("old", "new"))
    old_cpu, new_cpu = (statistics.median(c for _, c in times[k]) for k in ("old", "new"))
    print(f"audio decode + MP4 write, {FRAMES} frames {WIDTH}x{HEIGHT} ({'file' if args.frames_from else 'synthetic'}), "
          f"{args.repeats} alternating repeats, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    for label, name in (("old", "encode after the audio decode (old) "), ("new", "encode during the audio decode (new)")):
        runs = " ".join(f"{w:.3f}" for w, _ in times[label])
        print(f"{name} median {old if label == 'old' else new:6.3f} s wall, "
              f"{old_cpu if label == 'old' else new_cpu:6.3f} s CPU (all threads)  wall runs {runs}")
    print(f"new/old {new / old:5.2f} wall, {new_cpu / old_cpu:5.2f} CPU; output files identical: {len(digests) == 1}")


if __name__ == "__main__":
    main()
