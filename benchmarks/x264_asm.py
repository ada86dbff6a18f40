"""What leaving out x264's AVX-512 kernels costs (`media.x264_cpu`: they made a clip's packets depend on
uninitialised memory, issue 17): the H.264 encode of the MP4 writer (`video_encode.encode_video`) with x264's
own CPU choice (old) vs with AVX-512 left out (new), same process, alternating `--repeats` times per preset.

The clip is `mux_overlap.synthetic_frames` (the bench shape, 384x256, 33 frames: moving gradients and a
square). Medians of wall seconds and their ratio new / old are printed per x264 preset (veryfast: drafts,
medium: renders), with whether the packets of the two ways are identical. The machine may be shared (load
average shown); on a CPU without AVX-512 both ways are the same encode.

Usage: .venv/bin/python benchmarks/x264_asm.py [--repeats 7]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()
    sys.path.insert(0, str(REPO / "benchmarks"))
    from mux_overlap import FPS, synthetic_frames

    from model_runtime.media import video_encode
    from model_runtime.media.mux import video_settings
    from model_runtime.media.x264_cpu import x264_asm_flags, x264_options

    frames = synthetic_frames()
    flags = x264_asm_flags()
    print(f"clip {frames.shape}, x264 asm without AVX-512: {flags if flags is None else hex(flags)}, "
          f"load average {os.getloadavg()[0]:.2f}")
    ways = {"old": lambda: {}, "new": x264_options}
    for preset in ("veryfast", "medium"):
        settings = video_settings(FPS, 18, preset)
        times: dict[str, list[float]] = {k: [] for k in ways}
        digests: dict[str, str] = {}
        for _ in range(args.repeats):
            for name, options in ways.items():
                video_encode.x264_options = options  # the writer's stream options, old or new
                start = time.perf_counter()
                video = video_encode.encode_video(frames, settings)
                times[name].append(time.perf_counter() - start)
                digests[name] = hashlib.sha256(b"".join(bytes(p) for p in video.packets)).hexdigest()
                video.close()
        old, new = statistics.median(times["old"]), statistics.median(times["new"])
        print(f"{preset:9s} old {old:.3f} s  new {new:.3f} s  new/old {new / old:.3f}  "
              f"packets identical: {digests['old'] == digests['new']}")
    video_encode.x264_options = x264_options


if __name__ == "__main__":
    main()
