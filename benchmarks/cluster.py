"""Throughput of N concurrent drafts: the local backend vs a Ray cluster with 1 and with 2 workers.

What it measures: N drafts submitted at once (as a user clicking "draft" N times), from submission to
the last MP4 in hand, after every backend has its model loaded (one warm-up job per worker, not timed):
the steady state a working session sees. Local (measured before and after the clusters, the mean is the
baseline: a shared machine's load drifts) runs them one after another in this process, the way the
app's worker thread does (one `Runtime`, one torch thread: a Ray 1-CPU worker also gets one thread, so
the per-job work is the same); the cluster runs them through `api.Cluster` as the app does, from one
thread per job. Each cluster is a real `ray start --head` on this machine (tests/support/ray_head.py)
with 1 or 2 workers. Ratios are against the local backend in the same run.

On one machine the cluster's gain is bounded by its cores: 2 workers need 2 free cores (a loaded
machine shows less), and every job pays the Ray Client round trips and the MP4's trip back as bytes.
Model: the demo model (tiny, random weights), default 256x256, 25 frames.

Usage: .venv/bin/python benchmarks/cluster.py [--jobs 6 --width 256 --height 256 --frames 25]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import model_runtime.api as api  # noqa: E402
from model_runtime import __version__  # noqa: E402
from tests.support.ray_head import LocalHead  # noqa: E402


def specs(n: int, args) -> list[api.RequestSpec]:
    return [api.RequestSpec(prompt="a red fox in the snow", width=args.width, height=args.height,
                            frames=args.frames, fps=24.0, seed=seed) for seed in range(n)]


def drain(gen):
    while True:
        try:
            next(gen)
        except StopIteration as stop:
            return stop.value


def local_seconds(cache: Path, todo: list[api.RequestSpec], out: Path) -> float:
    import torch

    torch.set_num_threads(1)
    runtime = api.Runtime.open(api.demo_model_paths(cache / "demo-model"), "cpu", memory=api.plan_machine("cpu"))
    # warm-up, as a worker's first job: loads the model and the MP4 writer (PyAV, the encoder)
    api.write_result(drain(runtime.generate(todo[0])), out / "local-warm.mp4", todo[0])
    started = time.perf_counter()
    for i, spec in enumerate(todo):
        api.write_result(drain(runtime.generate(spec)), out / f"local-{i}.mp4", spec)
    return time.perf_counter() - started


def cluster_seconds(workers: int, cache: Path, todo: list[api.RequestSpec], out: Path) -> float:
    head = LocalHead.start(workers=workers)
    try:
        head.wait_listening()
        cluster = api.Cluster.connect(head.address, cache_dir=str(cache))
        try:
            run_all(cluster, todo[:workers], out, "warm")  # each worker loads the model
            started = time.perf_counter()
            run_all(cluster, todo, out, f"ray{workers}")
            return time.perf_counter() - started
        finally:
            cluster.close()
    finally:
        head.stop()


def run_all(cluster, todo: list[api.RequestSpec], out: Path, tag: str) -> None:
    errors: list[BaseException] = []

    def one(i: int, spec: api.RequestSpec) -> None:
        job = api.RemoteJob(uuid.uuid4().hex[:8], spec.to_dict(), api.WorkerModel(demo=True), __version__)
        try:
            api.save_result(drain(cluster.run(job)), out / f"{tag}-{i}.mp4")
        except BaseException as exc:  # noqa: BLE001 - reported after the join
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(i, s)) for i, s in enumerate(todo)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--jobs", type=int, default=6)
    p.add_argument("--width", type=int, default=256)
    p.add_argument("--height", type=int, default=256)
    p.add_argument("--frames", type=int, default=25)
    args = p.parse_args()
    os.environ.setdefault("RAY_CLIENT_RECONNECT_GRACE_PERIOD", "3")
    cache = Path.home() / ".cache" / "ltx-studio-dev" / "cluster-bench"
    api.ensure_demo_model(cache / "demo-model")
    todo = specs(args.jobs, args)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        before = local_seconds(cache, todo, out)
        times = {}
        for n in (1, 2):
            times[f"ray, {n} worker{'s' if n > 1 else ''}"] = cluster_seconds(n, cache, todo, out)
        after = local_seconds(cache, todo, out)  # measured again: a shared machine's load drifts
        times = {"local": (before + after) / 2, **times}
    print(f"{args.jobs} concurrent drafts, {args.width}x{args.height}, {args.frames} frames, demo model, "
          f"{os.cpu_count()} CPU cores (load average {os.getloadavg()[0]:.1f}); local measured before and "
          f"after the clusters: {before:.1f} s, {after:.1f} s (the baseline is their mean)")
    print(f"{'backend':<18}{'seconds':>9}{'drafts/min':>12}{'vs local':>10}")
    for name, s in times.items():
        print(f"{name:<18}{s:9.1f}{args.jobs / s * 60:12.1f}{times['local'] / s:9.2f}x")


if __name__ == "__main__":
    main()
