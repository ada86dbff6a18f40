"""`ltx-studio-cli generate`: one text-to-audio+video job from the command line, written as an MP4.

Every argument is checked before anything heavy is loaded (request rules, output folder, file headers,
Gemma folder vs checkpoint), so a typo costs milliseconds, not a 46 GB load. Progress is one plain-text
line on stderr, rewritten with `\\r` (no tqdm: library code reports through events).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from model_runtime.api import ModelPaths, RequestSpec

log = logging.getLogger(__name__)

BAR_WIDTH = 24


def register(subparsers) -> None:
    p = subparsers.add_parser("generate", help="generate a video with sound from a prompt into an MP4",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", type=Path, required=True, help="the LTX-2.3 single .safetensors file")
    p.add_argument("--upsampler", type=Path, default=None, help="the x2 spatial upscaler file (needed for render)")
    p.add_argument("--text-encoder", type=Path, required=True, help="the Gemma-3 folder (Hugging Face layout)")
    p.add_argument("--prompt", required=True)
    p.add_argument("--negative-prompt", default=None, help="dev pipeline only")
    p.add_argument("--width", type=int, required=True)
    p.add_argument("--height", type=int, required=True)
    p.add_argument("--frames", type=int, required=True, help="8k+1 (e.g. 97, 121)")
    p.add_argument("--fps", type=float, default=24.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--stage", choices=("draft", "render"), default="draft")
    p.add_argument("--pipeline", choices=("distilled", "dev"), default="distilled")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, mps (default: auto = CUDA, then MPS, "
                   "then the CPU)")
    p.add_argument("--vram-gb", type=float, default=None, help="plan for this much VRAM (default: what is free)")
    p.add_argument("--ram-gb", type=float, default=None, help="plan for this much RAM (default: what is available)")
    p.add_argument("--print-plan", action="store_true", help="print the memory plan for this job and exit")
    p.add_argument("--dtype", choices=("float32", "bfloat16"), default=None,
                   help="compute dtype (default: float32 on cpu, bfloat16 elsewhere)")
    p.add_argument("--tiled-decode", action="store_true", help="decode in tiles (less memory for large sizes)")
    p.add_argument("--crf", type=int, default=18, help="H.264 quality (lower is better; default 18)")
    p.add_argument("--out", type=Path, required=True, help="output .mp4 (a .json sidecar is written next to it)")
    p.set_defaults(func=run)


@dataclass(frozen=True)
class Inputs:
    """Everything `run` needs, validated."""

    request: RequestSpec
    paths: ModelPaths
    out: Path
    model_version: str


def validate(args: argparse.Namespace) -> Inputs:
    """All cheap checks, in the order a user fixes them; raises RuntimeErrorBase subclasses (one line each)."""
    from model_runtime.api import (
        GenerationRequest,
        InvalidRequestError,
        ModelPaths,
        RequestSpec,
        inspect_checkpoint,
        inspect_upsampler,
    )
    from model_runtime.media.mux import check_output_path
    from model_runtime.text.gemma import inspect_gemma_folder
    from model_runtime.text.projection import check_gemma_matches

    request = RequestSpec(
        prompt=args.prompt, negative_prompt=args.negative_prompt, width=args.width, height=args.height,
        frames=args.frames, fps=args.fps, seed=args.seed, stage=args.stage, pipeline=args.pipeline,
        tiled_decode=args.tiled_decode, previews=False,
    )
    GenerationRequest(**{k: v for k, v in request.to_dict().items() if k in _CHECKED})  # the request rules, now
    if not 0 <= args.crf <= 51:
        raise InvalidRequestError(f"--crf must be between 0 and 51, got {args.crf}")
    out = check_output_path(args.out)
    info = inspect_checkpoint(args.checkpoint)
    if args.stage == "render" and args.upsampler is None:
        raise InvalidRequestError("--stage render needs --upsampler (the x2 spatial upscaler file)")
    if args.upsampler is not None:
        inspect_upsampler(args.upsampler)
    gemma = inspect_gemma_folder(args.text_encoder)
    check_gemma_matches(info.header, gemma.dims)
    paths = ModelPaths(args.checkpoint, args.upsampler, args.text_encoder)
    return Inputs(request, paths, out, info.model_version)


class ProgressLine:
    """One status line on a terminal stream, rewritten in place; a new line per stage."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.stage: str | None = None
        self.width = 0

    def update(self, stage: str, step: int, total: int, elapsed: float, eta: float | None) -> None:
        if self.stage is not None and stage != self.stage:
            self.stream.write("\n")
            self.width = 0
        self.stage = stage
        done = int(BAR_WIDTH * step / total) if total else BAR_WIDTH
        eta_text = f" eta {eta:5.1f}s" if eta is not None and step < total else ""
        text = f"{stage:<8} [{'#' * done}{'.' * (BAR_WIDTH - done)}] {step}/{total} {elapsed:6.1f}s{eta_text}"
        self.stream.write("\r" + text.ljust(self.width))
        self.width = len(text)
        self.stream.flush()

    def close(self) -> None:
        if self.stage is not None:
            self.stream.write("\n")
            self.stream.flush()
            self.stage = None


def _dtype(args: argparse.Namespace, device: str):
    import torch

    name = args.dtype or ("float32" if device.startswith("cpu") else "bfloat16")
    return getattr(torch, name)


#: the RequestSpec fields GenerationRequest validates before any file is opened (no defaults, no latents)
_CHECKED = ("prompt", "width", "height", "frames", "fps", "seed", "negative_prompt", "stage", "pipeline",
            "tiled_decode", "previews")


def run(args: argparse.Namespace) -> int:
    from model_runtime.api import GenerationResult, NoticeEvent, ProgressEvent, Runtime, write_result
    from model_runtime.cli.plan import plan_table
    from model_runtime.memory.machine import detect, machine_for
    from model_runtime.memory.measure import RssAnonPeak

    inputs = validate(args)
    started = time.monotonic()
    info = detect(args.device)
    machine = machine_for(info, args.vram_gb, args.ram_gb)
    runtime = Runtime.open(inputs.paths, device=info.device, dtype=_dtype(args, info.device), memory=machine)
    request = runtime.request(inputs.request)
    plans = runtime.plans(request)  # headers only: nothing is loaded yet
    if args.print_plan:
        sys.stdout.write(f"machine: {info.line()}\n{plan_table(plans[0])}\n")
        return 0
    runtime.refuse_if_nothing_fits(request, plans)
    sys.stderr.write(f"machine: {info.line()}\n")
    sys.stderr.write(f"plan: {plans[0].summary}, ~{plans[0].seconds:.0f} s\n")
    bar = ProgressLine(sys.stderr)
    step_times: dict[str, list[float]] = {}
    gen = runtime.generate(request)
    with _DevicePeak(info.kind) as vram, RssAnonPeak() as rss:
        try:
            while True:
                try:
                    event = next(gen)
                except StopIteration as stop:  # the generator returns the result after its last event
                    result: GenerationResult = stop.value
                    break
                if isinstance(event, ProgressEvent):
                    bar.update(event.stage, event.step, event.total, event.elapsed_s, event.eta_s)
                    step_times.setdefault(event.stage, []).append(event.elapsed_s)
                elif isinstance(event, NoticeEvent):  # an out-of-memory retry on the next plan down
                    bar.close()
                    sys.stderr.write(f"{event.message}\n")
        finally:
            bar.close()
    ran = runtime.last_plan or plans[0]
    sys.stderr.write(f"ran: {ran.summary}\n"
                     f"measured: peak RssAnon {rss.peak_bytes / 1e9:.2f} GB (predicted {ran.peak_ram_bytes / 1e9:.2f} GB, "
                     f"RAM plan {machine.ram_gb:g} GB){vram.text(ran)}{_per_step(step_times)}\n")
    extra = {"checkpoint": inputs.paths.checkpoint.name, "generator": "ltx-studio-cli"}
    written = write_result(result, inputs.out, inputs.request, extra=extra, crf=args.crf)
    sys.stderr.write(f"wrote {written.path} ({written.frames} frames, {written.duration_s:.2f} s, "
                     f"{result.frames.shape[2]}x{result.frames.shape[1]}) in {time.monotonic() - started:.1f} s\n")
    return 0


def _per_step(step_times: dict[str, list[float]]) -> str:
    """Mean seconds per denoising step of each sampling stage, from the progress events' elapsed times."""
    parts = []
    for stage, times in step_times.items():
        if stage.startswith("stage") and len(times) > 1:
            parts.append(f"{stage} {(times[-1] - times[0]) / (len(times) - 1):.2f} s/step")
    return ("; " + ", ".join(parts)) if parts else ""


class _DevicePeak:
    """Peak allocated VRAM on CUDA over the job (torch's own counter); nothing on other devices."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.peak_bytes = 0

    def __enter__(self) -> _DevicePeak:
        if self.kind == "cuda":
            import torch

            torch.cuda.reset_peak_memory_stats()
        return self

    def __exit__(self, *exc) -> None:
        if self.kind == "cuda":
            import torch

            self.peak_bytes = torch.cuda.max_memory_allocated()

    def text(self, plan) -> str:
        if self.kind != "cuda":
            return ""
        return f", peak VRAM {self.peak_bytes / 1e9:.2f} GB allocated (predicted {plan.peak_vram_bytes / 1e9:.2f} GB)"
