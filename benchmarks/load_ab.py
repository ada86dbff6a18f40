"""Same-run A/B of the load-side speed-ups (issue 18), on the ~330 M benchmark checkpoint of `runtime.py`.

Each line times the new way against the old way in the same process (or, for the whole job, in
alternating fresh processes), `--repeats` times interleaved, and prints the minimum of each (the machine may
be shared: the minimum is the least disturbed run) and their ratio new / old:

1. vocoder build on meta: the Kaiser-sinc filters left to the file (`vocoder._kaiser_filters_as_placeholders`) vs
   computed through PyTorch's meta kernels;
2. every component's meta build without vs with the random weight initialisation (`loading._no_weight_init`);
3. the transformer's load in the foreground (what the job waits for at its first denoising step) when
   its weights were prefetched on a background thread during the prompt's encoding
   (`prefetch.WeightPrefetch`; here the thread is simply let finish first) vs read when first needed;
4. (`--jobs N`) the whole CLI render (384x256, 33 frames), per stage, prefetch vs not, in alternating
   fresh processes: only meaningful on a quiet machine.

CPU seconds are shown beside wall seconds for 1 and 2 (single-threaded work: CPU time is what it costs
when the machine is busy).

Usage: .venv/bin/python benchmarks/load_ab.py [--repeats 3] [--jobs 2]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _timed(fn) -> tuple[float, float]:
    t, c = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - t, time.process_time() - c


def _ab(label: str, new, old, repeats: int) -> None:
    runs: dict[str, list[tuple[float, float]]] = {"new": [], "old": []}
    for _ in range(repeats):
        runs["old"].append(_timed(old))
        runs["new"].append(_timed(new))
    (nw, nc), (ow, oc) = (min(runs[k], key=lambda r: r[1]) for k in ("new", "old"))
    print(f"{label:<44} new {nw:6.3f} s ({nc:6.3f} cpu)  old {ow:6.3f} s ({oc:6.3f} cpu)  "
          f"new/old {nc / oc:5.2f} cpu", flush=True)


def builds(repeats: int) -> None:
    from runtime import bench_model

    import model_runtime.loading as loading
    import model_runtime.models.vocoder as vocoder
    from model_runtime.components import spec
    from model_runtime.spec import ModelPaths

    files = ModelPaths(*bench_model()).model_files()
    names = [n for n in ("transformer", "text_projection", "video_connector", "audio_connector", "video_decoder",
                         "audio_vae_decoder", "vocoder") if files.has(n)]
    for name in names:  # first builds import their modules: not part of the comparison
        loading.build_on_meta(spec(name), files.config_for(name))

    @contextlib.contextmanager
    def swapped(owner, attr, value):
        saved = getattr(owner, attr)
        setattr(owner, attr, value)
        try:
            yield
        finally:
            setattr(owner, attr, saved)

    def vocoder_build(skip: bool):
        with contextlib.ExitStack() as stack:
            if not skip:
                stack.enter_context(swapped(vocoder, "_kaiser_filters_as_placeholders", contextlib.nullcontext))
            loading.build_on_meta(spec("vocoder"), files.config_for("vocoder"))

    def all_builds(skip: bool):
        with contextlib.ExitStack() as stack:
            if not skip:
                stack.enter_context(swapped(loading, "_no_weight_init", contextlib.nullcontext))
            for name in names:
                loading.build_on_meta(spec(name), files.config_for(name))

    _ab("vocoder build (filters from the file)", lambda: vocoder_build(True), lambda: vocoder_build(False), repeats)
    _ab(f"meta builds of {len(names)} components (no init)", lambda: all_builds(True), lambda: all_builds(False),
        repeats)


_JOB = """
import json, sys
sys.path.insert(0, {bench!r})
import runtime as R
if {off!r}:
    import model_runtime.runtime as mr
    mr.ModelEngine.prefetch_transformer = lambda self: False
model = R.bench_model()
print(json.dumps(R.child_cli_profile(R.cli_args(model, R.Path({out!r})))))
"""


def foreground_load(repeats: int) -> None:
    import torch
    from runtime import BENCH_SHAPE, bench_model

    from model_runtime.memory.plan import Machine, MemoryPlan, Placement, RequestShape, Strategy, Weights
    from model_runtime.runtime import ModelEngine
    from model_runtime.spec import ModelPaths

    paths = ModelPaths(*bench_model())
    s = BENCH_SHAPE
    plan = MemoryPlan(Strategy(Weights.BF16, Placement.RESIDENT), (), None,
                      RequestShape(s["width"], s["height"], s["frames"], s["fps"]), Machine(0, 16, "cpu"))

    def load(prefetch: bool):
        engine = ModelEngine(paths, "cpu", torch.float32, planned=True)
        with engine.memory_plan(plan):
            if prefetch:
                assert engine.prefetch_transformer()
                engine._prefetch._thread.join()  # the prompt's encoding would run meanwhile
            t, c = time.perf_counter(), time.process_time()
            engine._transformer()
            return time.perf_counter() - t, time.process_time() - c

    runs: dict[str, list[tuple[float, float]]] = {"new": [], "old": []}
    for _ in range(repeats):
        runs["old"].append(load(False))
        runs["new"].append(load(True))
    (nw, nc), (ow, oc) = (min(runs[k]) for k in ("new", "old"))
    print(f"{'transformer load the job waits for':<44} new {nw:6.3f} s ({nc:6.3f} cpu)  old {ow:6.3f} s "
          f"({oc:6.3f} cpu)  new/old {nw / ow:5.2f} wall", flush=True)


def jobs(pairs: int) -> None:
    import statistics
    import tempfile

    from runtime import STAGES, timed_process

    with tempfile.TemporaryDirectory(prefix="ltx-load-ab-") as tmp:
        runs: dict[str, list[tuple[float, dict]]] = {"new": [], "old": []}
        for _ in range(pairs):
            for label in ("old", "new"):
                code = _JOB.format(bench=str(REPO / "benchmarks"), off=label == "old", out=str(Path(tmp) / "o.mp4"))
                wall, data = timed_process([sys.executable, "-c", code])
                runs[label].append((wall, data["stages"]))
        print(f"\nwhole CLI render, {pairs} alternating pair(s): median seconds per stage, prefetch (new) vs not (old)")
        for stage in (*STAGES, "process"):
            new = statistics.median(w if stage == "process" else s.get(stage, 0.0) for w, s in runs["new"])
            old = statistics.median(w if stage == "process" else s.get(stage, 0.0) for w, s in runs["old"])
            print(f"{stage:<13} new {new:7.2f}  old {old:7.2f}  new/old {new / old if old else float('nan'):5.2f}",
                  flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--jobs", type=int, default=0, help="alternating whole-job pairs (quiet machine only)")
    args = ap.parse_args()
    sys.path.insert(0, str(REPO / "benchmarks"))
    builds(args.repeats)
    foreground_load(args.repeats)
    if args.jobs > 0:
        jobs(args.jobs)
    print(json.dumps({"done": True}))


if __name__ == "__main__":
    main()
