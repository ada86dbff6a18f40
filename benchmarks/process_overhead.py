"""Process overhead of `ltx-studio-cli generate` outside the model's work: the exit and the vocoder's build.

Both halves compare the two ways in the same run, alternating, on the ~330 M-param bench checkpoint of
`benchmarks/runtime.py` (`bench_model()`, cached in ~/.cache/ltx-studio-dev):

1. exit: a child process imports what a render imports and loads every component a render loads
   (transformer, video decoder, audio decoder, vocoder, upscaler, text encoder), prints the time, then
   ends either the ordinary way (interpreter teardown) or as the CLI does (`model_runtime.cli.exit_now`:
   atexit handlers, flushed streams, no teardown). "exit" is the time from that print to the process's end.
2. vocoder load: `load_component` of the vocoder with diffusers computing its ~200 kaiser filters on the
   meta device (the old build) and with them left as placeholders (`models.vocoder`), in one process; the
   two state dicts are checked to be identical.

The machine may be shared: medians of the alternating runs are printed, with the load average.
Usage: .venv/bin/python benchmarks/process_overhead.py [--pairs 5]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def child(how: str) -> None:
    """Load a render's components, print {"loaded_at": wall clock}, exit `how` ("teardown" / "exit_now")."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    import runtime as bench

    from model_runtime.models.upsampler import load_upsampler
    from model_runtime.runtime import ModelEngine, _spec
    from model_runtime.spec import ModelPaths

    checkpoint, upsampler, gemma = bench.bench_model()
    engine = ModelEngine(ModelPaths(checkpoint, upsampler, gemma))
    engine._transformer()
    engine._video_decoder()
    for name, spec in (("audio_decoder", "audio_vae_decoder"), ("vocoder", "vocoder")):
        engine.component(name, lambda spec=spec: engine._load(_spec(spec)))
    load_upsampler(upsampler)
    text = engine.component("text_encoder", engine._text_encoder)
    _ = text.heads, text.gemma
    print(json.dumps({"loaded_at": time.time()}), flush=True)
    if how == "exit_now":
        from model_runtime.cli import exit_now

        exit_now(0)


def exit_pairs(pairs: int) -> None:
    runs: dict[str, list[float]] = {"teardown": [], "exit_now": []}
    env = dict(os.environ, PYTHONPATH=str(REPO))
    for i in range(pairs):
        for how in runs:
            proc = subprocess.run([sys.executable, __file__, "--child", how], capture_output=True, text=True,
                                  env=env, cwd=REPO, timeout=1800)
            ended = time.time()
            if proc.returncode != 0:
                raise SystemExit(f"child {how} failed:\n{proc.stderr[-3000:]}")
            runs[how].append(ended - json.loads(proc.stdout.strip().splitlines()[-1])["loaded_at"])
            print(f"pair {i + 1}: {how:9} exit {runs[how][-1]:6.2f} s  (load average {os.getloadavg()[0]:.1f})",
                  flush=True)
    old, new = statistics.median(runs["teardown"]), statistics.median(runs["exit_now"])
    print(f"exit after a render's loads, median of {pairs}: interpreter teardown {old:.2f} s, "
          f"exit_now {new:.2f} s, ratio {new / old:.2f}")


def vocoder_pairs(pairs: int) -> None:
    import torch

    sys.path.insert(0, str(REPO / "benchmarks"))
    import runtime as bench

    from model_runtime.checkpoints import inspect_checkpoint
    from model_runtime.components import spec
    from model_runtime.loading import load_component
    from model_runtime.models import vocoder

    info = inspect_checkpoint(bench.bench_model()[0])
    placeholders = vocoder._kaiser_filters_as_placeholders
    ways = {"computed": contextlib.nullcontext, "placeholders": placeholders}

    def load(way: str) -> tuple[float, dict]:
        vocoder._kaiser_filters_as_placeholders = ways[way]
        try:
            t0 = time.perf_counter()
            module, _ = load_component(info.header, spec("vocoder"), info.config)
            return time.perf_counter() - t0, module.state_dict()
        finally:
            vocoder._kaiser_filters_as_placeholders = placeholders

    load("computed")  # first use: imports, caches
    times: dict[str, list[float]] = {w: [] for w in ways}
    states = {}
    for _ in range(pairs):
        for way in ways:
            seconds, states[way] = load(way)
            times[way].append(seconds)
    a, b = states["computed"], states["placeholders"]
    same = a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    old, new = statistics.median(times["computed"]), statistics.median(times["placeholders"])
    print(f"vocoder load_component, median of {pairs}: filters computed on meta {old:.3f} s, placeholders "
          f"{new:.3f} s, ratio {new / old:.2f}; state dicts identical: {same} ({len(a)} tensors)")


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        child(sys.argv[2])
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pairs", type=int, default=5, help="alternating runs of each way")
    args = ap.parse_args()
    print(f"## process overhead ({os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f})")
    vocoder_pairs(args.pairs)
    exit_pairs(args.pairs)


if __name__ == "__main__":
    main()
