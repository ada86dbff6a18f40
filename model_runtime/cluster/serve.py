"""What a worker does for one job, apart from the actor's bookkeeping: open the runtime the way every
product path does (detect the machine, plan each job, run under the OOM ladder) and turn a result into
the bytes the app receives. Torch is imported here, in the worker process only.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from model_runtime.cluster.protocol import RemoteJob, RemoteResult
from model_runtime.media.result import write_latents, write_result
from model_runtime.runtime import Runtime
from model_runtime.sampling.control import CancelToken, drive
from model_runtime.spec import ModelPaths, RequestSpec


def open_runtime(paths: ModelPaths, device: str = "auto") -> Runtime:
    """As the CLI: the device (`auto`: the best there is) and its memory, every job planned for them;
    float32 on a CPU, bfloat16 on an accelerator."""
    import torch

    from model_runtime.memory.machine import detect

    info = detect(device)
    dtype = torch.float32 if info.kind == "cpu" else torch.bfloat16
    return Runtime.open(paths, info.device, dtype, memory=info.jobs())


def generate_job(runtime, spec: RequestSpec, job: RemoteJob, tmp: Path, token: CancelToken,
                 emit: Callable[[Any], None], worker: str) -> RemoteResult:
    """Run `spec`, passing each event to `emit`; write the MP4 (and the draft's latents) under `tmp` with
    the same writers as a local job and return their bytes. A cancel raises before anything is written."""
    result = drive(runtime.generate(spec, cancel=token), emit)
    token.raise_if_cancelled()  # a cancel that arrived after the last step still wins (as a local job)
    latents = None
    if job.keep_latents:
        written = write_latents(result, tmp / "job.latents.safetensors")
        latents = written.read_bytes() if written is not None else None
    mux = write_result(result, tmp / "job.mp4", spec, extra=job.extra, crf=job.crf, preset=job.preset)
    frames = result.frames
    return RemoteResult(mp4=mux.path.read_bytes(), sidecar=mux.sidecar.read_bytes(), latents=latents,
                        middle_frame=frames[len(frames) // 2].cpu().numpy(), settings=dict(result.settings or {}),
                        worker=worker, frames=int(frames.shape[0]), width=int(frames.shape[2]),
                        height=int(frames.shape[1]))
