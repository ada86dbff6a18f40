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
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, mps (default: cpu)")
    p.add_argument("--dtype", choices=("float32", "bfloat16"), default=None,
                   help="compute dtype (default: float32 on cpu, bfloat16 elsewhere)")
    p.add_argument("--tiled-decode", action="store_true", help="decode in tiles (less memory for large sizes)")
    p.add_argument("--attention", choices=("auto", "flash", "efficient", "math"), default="auto",
                   help="attention kernels (default auto: flash, then memory-efficient, then math on CUDA; "
                        "PyTorch's choice elsewhere)")
    p.add_argument("--compile", action="store_true",
                   help="torch.compile the transformer blocks (worth it on a GPU; the first step compiles)")
    p.add_argument("--lora", action="append", default=[], metavar="PATH[:STRENGTH]",
                   help="apply a LoRA (.safetensors) at STRENGTH in [-2, 2] (default 1.0); repeat to stack")
    p.add_argument("--lora-mode", choices=("live", "fused"), default="live",
                   help="live: deltas built at compute time (default); fused: merged into the weights")
    p.add_argument("--distilled-lora", default=None, metavar="PATH[:STRENGTH]",
                   help="the distilled LoRA a dev render refines with in stage 2 (as ltx-pipelines)")
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
    from model_runtime.loras.spec import LoraSpec
    from model_runtime.media.mux import check_output_path
    from model_runtime.pipelines.envelope import ModelEnvelope, check_within
    from model_runtime.text.gemma import inspect_gemma_folder
    from model_runtime.text.projection import check_gemma_matches

    loras = tuple(LoraSpec.parse(text) for text in args.lora)
    request = RequestSpec(
        prompt=args.prompt, negative_prompt=args.negative_prompt, width=args.width, height=args.height,
        frames=args.frames, fps=args.fps, seed=args.seed, stage=args.stage, pipeline=args.pipeline,
        tiled_decode=args.tiled_decode, previews=False, loras=loras, lora_mode=args.lora_mode,
    )
    GenerationRequest(**{k: v for k, v in request.to_dict().items() if k in _CHECKED},
                      loras=request.loras)  # the request rules, now
    if not 0 <= args.crf <= 51:
        raise InvalidRequestError(f"--crf must be between 0 and 51, got {args.crf}")
    out = check_output_path(args.out)
    info = inspect_checkpoint(args.checkpoint)
    check_within(ModelEnvelope.for_config(info.config), request)
    if args.stage == "render" and args.upsampler is None:
        raise InvalidRequestError("--stage render needs --upsampler (the x2 spatial upscaler file)")
    if args.upsampler is not None:
        inspect_upsampler(args.upsampler)
    gemma = inspect_gemma_folder(args.text_encoder)
    check_gemma_matches(info.header, gemma.dims)
    distilled = LoraSpec.parse(args.distilled_lora) if args.distilled_lora else None
    check_loras(info, (*loras, *((distilled,) if distilled else ())))
    paths = ModelPaths(args.checkpoint, args.upsampler, args.text_encoder, distilled)
    return Inputs(request, paths, out, info.model_version)


def check_loras(info, loras) -> None:
    """Every LoRA read against the checkpoint's header (milliseconds; no model weight is loaded)."""
    from model_runtime.loras.files import LoraTargets, read_lora
    from model_runtime.loras.spec import check_strength

    if not loras:
        return
    targets = LoraTargets.from_checkpoint(info.header, info.model_version)
    for spec in loras:
        check_strength(spec.strength, f"LoRA {spec.path.name}")
        read_lora(spec.path, targets, expected_sha256=spec.sha256)


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


def _dtype(args: argparse.Namespace):
    import torch

    name = args.dtype or ("float32" if str(args.device).startswith("cpu") else "bfloat16")
    return getattr(torch, name)


#: the RequestSpec fields GenerationRequest validates before any file is opened (no defaults, no latents)
_CHECKED = ("prompt", "width", "height", "frames", "fps", "seed", "negative_prompt", "stage", "pipeline",
            "tiled_decode", "previews", "lora_mode")


def run(args: argparse.Namespace) -> int:
    from model_runtime.api import GenerationResult, ProgressEvent, Runtime, write_result
    from model_runtime.models.acceleration import Acceleration

    inputs = validate(args)
    started = time.monotonic()
    runtime = Runtime.open(inputs.paths, device=args.device, dtype=_dtype(args),
                           acceleration=Acceleration(args.attention, args.compile))
    bar = ProgressLine(sys.stderr)
    gen = runtime.generate(inputs.request)
    try:
        while True:
            try:
                event = next(gen)
            except StopIteration as stop:  # the generator returns the result after its last event
                result: GenerationResult = stop.value
                break
            if isinstance(event, ProgressEvent):
                bar.update(event.stage, event.step, event.total, event.elapsed_s, event.eta_s)
    finally:
        bar.close()
    extra = {"checkpoint": inputs.paths.checkpoint.name, "generator": "ltx-studio-cli"}
    written = write_result(result, inputs.out, inputs.request, extra=extra, crf=args.crf)
    sys.stderr.write(f"wrote {written.path} ({written.frames} frames, {written.duration_s:.2f} s, "
                     f"{result.frames.shape[2]}x{result.frames.shape[1]}) in {time.monotonic() - started:.1f} s\n")
    return 0
