"""`generate --backend ray://…|auto`: the same job on a Ray cluster's worker, the MP4 written here.

Kept apart from `generate` because it is the one path that imports Ray (an optional extra), and because
what it does differs: connect, send the request as plain data, show the streamed progress, save the bytes
that come back. Ctrl-C cancels the job on the worker before the CLI exits.
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from model_runtime.cli.generate import Inputs, ProgressLine


def run_remote(args: argparse.Namespace, inputs: Inputs, address: str, bar: ProgressLine) -> int:
    from model_runtime import __version__
    from model_runtime.cli.generate import output_extra
    from model_runtime.cluster.client import Cluster, save_result
    from model_runtime.cluster.protocol import RemoteJob, WorkerModel
    from model_runtime.cpu_threads import cpu_threads
    from model_runtime.errors import InvalidRequestError
    from model_runtime.pipelines.types import NoticeEvent, ProgressEvent
    from model_runtime.sampling.control import CancelToken, drive

    if inputs.auto_duration is not None or args.print_plan:
        raise InvalidRequestError("--frames auto and --print-plan run on this machine: use them with --backend local")
    started = time.monotonic()
    spec = inputs.request
    latents = None
    if spec.draft_latents:
        with open(spec.draft_latents, "rb") as fh:
            latents = fh.read()
    cluster = Cluster.connect(address)
    try:
        sys.stderr.write(f"cluster: {address}, {cluster.capacity} worker(s)\n")
        job = RemoteJob(uuid.uuid4().hex[:12], spec.to_dict(), WorkerModel(paths=inputs.paths), __version__,
                        extra=output_extra(inputs), crf=args.crf, draft_latents=latents,
                        cpu_threads=cpu_threads(ui=False))  # a CPU worker runs it as `generate` here would
        token = CancelToken()
        gen = cluster.run(job, token)

        def show(event) -> None:
            if isinstance(event, ProgressEvent):
                bar.update(event.stage, event.step, event.total, event.elapsed_s, event.eta_s)
            elif isinstance(event, NoticeEvent):
                bar.close()
                sys.stderr.write(f"{event.message}\n")

        try:
            result = drive(gen, show)
        except KeyboardInterrupt:
            token.cancel("cancelled from the command line")
            gen.close()  # tells the worker (see Cluster.run) before the exit
            raise
        finally:
            bar.close()
        written = save_result(result, inputs.out)
    finally:
        cluster.close()
    sys.stderr.write(f"wrote {written} ({result.frames} frames, {result.width}x{result.height}) on {result.worker} "
                     f"in {time.monotonic() - started:.1f} s\n")
    return 0
