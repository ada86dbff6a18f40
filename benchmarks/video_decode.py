"""Microbenchmark: the conv video decode of the bench checkpoint (to uint8 frames), two ways, A/B in one process.

* "old": the decode as it was: diffusers' `LTX2VideoResnetBlock3d.forward` (out-of-place SiLUs and residual
  add), out-of-place float -> uint8 steps, glibc's malloc settings untouched;
* "in-place": `VideoDecoder` as it runs now (`video_vae._resnet_in_place`, in-place uint8 steps);

The latent is the bench shape's (384x256, 33 frames: [1, 128, 5, 8, 12], seeded noise); the decoder is the
bench checkpoint's (`runtime.bench_model()`, 256 wide), float32 on the CPU, untiled as the bench render
decodes. The variants alternate in a rotating order (the machine is shared and noisy); printed per variant:
median wall ms, process CPU ms (user+sys: waiting for a core is not counted), system ms and minor page
faults per decode, the ratios new/old, and whether its frames equal "old"'s bit for bit (they must).
A third way was measured and dropped (issue #18, session 22): the decode inside a scoped glibc heap
(`mallopt` thresholds raised for the decode, so freed activations were reused instead of unmapped). It cut
the bench decode's page faults 146k -> 35k and its CPU to 0.82x on a fresh process's first decode, but it
raised the peak RSS of a 768x512, 49-frame decode from ~1,370 MiB to 1,530-1,914 MiB (fragmentation of the
retained heap), memory the planner does not count: a CPU job that fits could then run out of memory.
`--cold N` also runs each variant's FIRST decode in N fresh processes per variant, alternating (what a CLI
render pays: it decodes once per process); it prints their medians the same way.

Usage: .venv/bin/python benchmarks/video_decode.py [--repeats 7] [--threads 2] [--cold 0]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT))

from runtime import bench_model  # noqa: E402

VARIANTS = ("old", "in-place")
LATENT_SHAPE = (1, 128, 5, 8, 12)  # 384x256, 33 frames


def load_decoder(checkpoint: Path):
    import torch

    from model_runtime.checkpoints import inspect_checkpoint
    from model_runtime.loading import load_component
    from model_runtime.models.video_vae import VIDEO_DECODER_SPEC

    info = inspect_checkpoint(checkpoint)
    module, _ = load_component(info.header, VIDEO_DECODER_SPEC, info.config, dtype=torch.float32)
    return module.eval()


def old_frames(decoder, latent):
    """The decode and uint8 conversion exactly as before the in-place change."""
    import torch

    from model_runtime.models.video_vae import use_in_place

    use_in_place(decoder, False)
    try:
        x = decoder(latent)
    finally:
        use_in_place(decoder, True)
    return (((x[0] + 1.0) / 2.0).clamp(0.0, 1.0) * 255.0).to(torch.uint8).permute(1, 2, 3, 0)


def run_variant(name: str, decoder, latent):
    import torch

    from model_runtime.models.video_vae import decode_video_frames

    with torch.inference_mode():
        if name == "old":
            return old_frames(decoder, latent)
        return torch.cat(list(decode_video_frames(decoder, latent)))


def usage() -> tuple[float, float, float, int]:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return time.perf_counter(), r.ru_utime + r.ru_stime, r.ru_stime, r.ru_minflt


def timed(name: str, decoder, latent):
    a = usage()
    frames = run_variant(name, decoder, latent)
    b = usage()
    return frames, [y - x for x, y in zip(a, b, strict=True)]


def setup(threads: int):
    import torch

    torch.set_num_threads(threads)
    decoder = load_decoder(bench_model()[0])
    latent = torch.randn(LATENT_SHAPE, generator=torch.Generator().manual_seed(0))
    return decoder, latent


def report(rows: dict[str, list[list[float]]], same: dict[str, bool]) -> None:
    med = {n: [statistics.median(r[k] for r in rows[n]) for k in range(4)] for n in rows}
    print(f"{'variant':<15} {'wall ms':>8} {'cpu ms':>8} {'sys ms':>7} {'faults':>8} {'wall/old':>9} {'cpu/old':>8}  "
          "frames == old")
    for n in rows:
        w, c, s, f = med[n]
        print(f"{n:<15} {w * 1e3:8.0f} {c * 1e3:8.0f} {s * 1e3:7.0f} {f:8.0f} {w / med['old'][0]:9.2f} "
              f"{c / med['old'][1]:8.2f}  {same[n]}")


def child(name: str, threads: int) -> None:
    decoder, latent = setup(threads)
    import torch

    frames, row = timed(name, decoder, latent)
    print(json.dumps({"row": row, "sum": int(frames.sum(dtype=torch.int64))}))


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], int(sys.argv[3]))
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--cold", type=int, default=0, help="fresh processes per variant for the first-decode table")
    args = ap.parse_args()
    import torch

    decoder, latent = setup(args.threads)
    reference = None
    rows: dict[str, list[list[float]]] = {n: [] for n in VARIANTS}
    same = dict.fromkeys(VARIANTS, True)
    for n in VARIANTS:  # warm-up (oneDNN primitives, first touch), not counted
        frames = run_variant(n, decoder, latent)
        reference = frames if reference is None else reference
    for i in range(args.repeats):
        for k in range(len(VARIANTS)):
            n = VARIANTS[(i + k) % len(VARIANTS)]
            frames, row = timed(n, decoder, latent)
            rows[n].append(row)
            same[n] = same[n] and torch.equal(frames, reference)
    print(f"## conv video decode to uint8, latent {list(LATENT_SHAPE)}, {args.threads} threads, "
          f"median of {args.repeats} warm runs each, alternating")
    report(rows, same)
    if args.cold <= 0:
        return
    cold: dict[str, list[list[float]]] = {n: [] for n in VARIANTS}
    sums: dict[str, set[int]] = {n: set() for n in VARIANTS}
    for i in range(args.cold):
        for k in range(len(VARIANTS)):
            n = VARIANTS[(i + k) % len(VARIANTS)]
            out = subprocess.run([sys.executable, __file__, "--child", n, str(args.threads)], capture_output=True,
                                 text=True, check=True, cwd=ROOT)
            data = json.loads(out.stdout.strip().splitlines()[-1])
            cold[n].append(data["row"])
            sums[n].add(data["sum"])
    print(f"\n## first decode in a fresh process (after the load), median of {args.cold} processes each")
    report(cold, {n: sums[n] == sums["old"] and len(sums[n]) == 1 for n in VARIANTS})


if __name__ == "__main__":
    main()
