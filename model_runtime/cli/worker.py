"""`ltx-studio-cli worker`: get a machine ready to render for others through Ray.

It checks what this machine can offer (Ray installed, its GPUs and free VRAM, which model files its
models folder holds, the LTX Studio version every client must match) and prints the exact `ray start`
line to run: `--head` for the first machine (the laptop's app connects to its Ray Client port), or
`--address` to join an existing head. One `ltx_worker` resource per GPU: the app starts one worker actor
per unit, each with its own GPU and its model resident. Nothing is started for you: the line is yours
to run (in a terminal, a systemd unit, a container entry point).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys

HEAD_PORT = 6379


def register(subparsers) -> None:
    p = subparsers.add_parser("worker", help="check this machine and print the `ray start` line to render for others",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--join", metavar="HEAD[:PORT]", default=None,
                   help=f"join the cluster whose head is at HEAD (GCS port, default {HEAD_PORT}); without it, "
                        "this machine is the head")
    p.add_argument("--workers", type=int, default=None,
                   help="how many workers this machine runs (default: one per GPU, or one on a CPU-only machine)")
    p.add_argument("--models-dir", default=None, help="the models folder to check (default: the app's)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from model_runtime import __version__
    from model_runtime.cluster.protocol import CLIENT_PORT, WORKER_RESOURCE
    from model_runtime.errors import InvalidRequestError

    out = sys.stdout.write
    ray_version = _ray_version()
    gpus = _gpus()
    out(f"LTX Studio {__version__} (every app that uses this worker must run the same version)\n")
    out(f"ray: {ray_version or 'NOT INSTALLED: pip install ltx-studio[cluster]'}\n")
    if gpus:
        for i, (name, free, total) in enumerate(gpus):
            out(f"gpu {i}: {name}, {free:.1f} of {total:.1f} GB free\n")
    else:
        out("gpu: none found: this worker renders on the CPU (fine for tests and the demo model, slow otherwise)\n")
    _models(args.models_dir, out)
    workers = args.workers if args.workers is not None else max(len(gpus), 1)
    if workers < 1:
        raise InvalidRequestError("--workers must be at least 1")
    resources = shlex.quote(json.dumps({WORKER_RESOURCE: workers}))
    if args.join:
        host, _, port = args.join.partition(":")
        line = f"ray start --address={host}:{port or HEAD_PORT} --resources={resources} --num-gpus={len(gpus)}"
    else:
        line = (f"ray start --head --port={HEAD_PORT} --ray-client-server-port={CLIENT_PORT} "
                f"--resources={resources} --num-gpus={len(gpus)}")
    out(f"\nrun this to offer {workers} worker(s):\n  {line}\n")
    if not args.join:
        out(f"then in the app: Settings -> Render backend -> ray://THIS-HOST:{CLIENT_PORT} "
            f"(or `ltx-studio-cli generate --backend ray://THIS-HOST:{CLIENT_PORT} ...`)\n")
    return 0 if ray_version else 1


def _ray_version() -> str:
    try:
        import ray
    except ImportError:
        return ""
    return ray.__version__


def _gpus() -> list[tuple[str, float, float]]:
    """(name, free GB, total GB) per CUDA device."""
    import torch

    if not torch.cuda.is_available():
        return []
    out = []
    for i in range(torch.cuda.device_count()):
        free, total = torch.cuda.mem_get_info(i)
        out.append((torch.cuda.get_device_name(i), free / 2**30, total / 2**30))
    return out


def _models(models_dir: str | None, out) -> None:
    """Which catalogue files this machine's models folder holds (jobs find their files there by name)."""
    from model_runtime.hub.catalogue import load_catalogue
    from model_runtime.hub.overview import overview
    from model_runtime.hub.store import ModelStore, default_models_dir

    store = ModelStore(models_dir or default_models_dir())
    ready = [r for r in overview(load_catalogue(), store) if r.ready]
    out(f"models folder: {store.root}\n")
    if not ready:
        out("models: none ready here: download them (`ltx-studio-cli models download --recommended`), or give "
            "jobs a shared path; the demo model needs nothing\n")
    for r in ready:
        out(f"model: {r.item.id} ({r.item.role}) at {r.path}\n")
