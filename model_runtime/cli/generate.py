"""`ltx-studio-cli generate`: one text-to-audio+video job from the command line, written as an MP4.

Directing flags: `--image PATH@FRAME[:STRENGTH]` (repeatable: first frame, last frame, keyframes),
`--retake IN.mp4 --span T0:T1`, `--extend IN.mp4 --seconds N`, `--audio IN.wav` (a soundtrack that
drives the picture). A retake or an extension takes its source's size, frame count and rate.

Every argument is checked before anything heavy is loaded (request rules, output folder, file headers,
family and component of every file, text encoder vs checkpoint), so a typo costs milliseconds, not a 46 GB
load. LTX-2.3: `--checkpoint` (single file) + `--text-encoder` (Gemma-3 folder). LTX-2.5: `--transformer`,
`--text-encoder` (packed Gemma-4 file), `--video-vae` (the diffusion VAE and/or the conv VAE; repeat it for
both), `--audio-vae`, `--duration-head` (for `--frames auto`). `--upsampler` for renders of either. Progress is one plain-text
line on stderr, rewritten with `\\r` (no tqdm: library code reports through events).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from model_runtime.conditioning.items import FITS

if TYPE_CHECKING:
    from model_runtime.api import ModelPaths, RequestSpec
    from model_runtime.conditioning.items import Conditioning, ImageKeyframe, TimeSpan
    from model_runtime.pipelines.types import GenerationRequest

log = logging.getLogger(__name__)

BAR_WIDTH = 24


def register(subparsers) -> None:
    p = subparsers.add_parser("generate", help="generate a video with sound from a prompt into an MP4",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", type=Path, default=None, help="the LTX-2.3 single .safetensors file")
    p.add_argument("--transformer", type=Path, default=None, help="LTX-2.5: the transformer file (split layout)")
    p.add_argument("--video-vae", type=Path, action="append", default=None,
                   help="LTX-2.5: a video VAE file, diffusion (sharp) or conv (fast); repeat to give both")
    p.add_argument("--audio-vae", type=Path, default=None, help="LTX-2.5: the audio VAE file (with the vocoder)")
    p.add_argument("--duration-head", type=Path, default=None, help="LTX-2.5: the duration head (--frames auto)")
    p.add_argument("--upsampler", type=Path, default=None, help="the x2 spatial upscaler file (needed for render)")
    p.add_argument("--text-encoder", type=Path, required=True,
                   help="LTX-2.3: the Gemma-3 folder; LTX-2.5: the packed Gemma-4 .safetensors file")
    p.add_argument("--prompt", required=True)
    p.add_argument("--negative-prompt", default=None, help="dev pipeline only")
    p.add_argument("--width", type=int, default=None, help="px (a retake/extension takes its source's)")
    p.add_argument("--height", type=int, default=None, help="px (a retake/extension takes its source's)")
    p.add_argument("--frames", type=_frames, default=None,
                   help="8k+1 (e.g. 97, 121), or 'auto' (LTX-2.5: the duration head picks the length); a "
                        "retake/extension: its source's")
    p.add_argument("--auto-duration", type=float, nargs=2, metavar=("MIN", "MAX"), default=None,
                   help="with --frames auto: clamp the predicted length to MIN..MAX seconds (default 1 20)")
    p.add_argument("--decoder", choices=("auto", "diffusion", "conv"), default="auto",
                   help="LTX-2.5 video decoder: diffusion (sharp, slower) or conv (fast); auto = conv for "
                        "drafts, diffusion for renders")
    p.add_argument("--fps", type=float, default=None, help="default 24 (a retake/extension: its source's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--stage", choices=("draft", "render"), default="draft")
    p.add_argument("--pipeline", choices=("distilled", "dev"), default="distilled")
    p.add_argument("--backend", default="local",
                   help="where the job runs: local (default), auto (a Ray cluster started on this machine) or "
                        "ray://HOST:PORT (a Ray cluster's head; see `ltx-studio-cli worker`)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, mps (default: auto = CUDA, then MPS, "
                   "then the CPU)")
    p.add_argument("--vram-gb", type=float, default=None, help="plan for this much VRAM (default: what is free)")
    p.add_argument("--ram-gb", type=float, default=None, help="plan for this much RAM (default: what is available)")
    p.add_argument("--print-plan", action="store_true", help="print the memory plan for this job and exit")
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
    c = p.add_argument_group("conditioning (direct the clip)")
    c.add_argument("--image", action="append", default=[], metavar="PATH@FRAME[:STRENGTH]",
                   help="show this image at pixel frame FRAME (0 = first frame; strength 0..1, default 1); "
                        "repeatable: first/last frame, keyframes")
    c.add_argument("--fit", choices=FITS, default="fill",
                   help="an image of another aspect: fill (cover and crop, default) or fit (letterbox); never stretched")
    c.add_argument("--retake", type=Path, default=None, metavar="IN.mp4", help="regenerate a span of this clip")
    c.add_argument("--span", default=None, metavar="T0:T1", help="the retake's span in seconds")
    c.add_argument("--extend", type=Path, default=None, metavar="IN.mp4", help="continue this clip")
    c.add_argument("--seconds", type=float, default=None, help="how many seconds --extend adds")
    c.add_argument("--audio", type=Path, default=None, metavar="IN.wav", help="a soundtrack that drives the picture")
    p.set_defaults(func=run)


AUTO = "auto"


def _frames(text: str) -> int | str:
    if text.strip().lower() == AUTO:
        return AUTO
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--frames takes 8k+1 or 'auto', got {text!r}") from None


@dataclass(frozen=True)
class Inputs:
    """Everything `run` needs, validated. `auto_duration`: (min s, max s) when the length is predicted."""

    request: RequestSpec
    paths: ModelPaths
    out: Path
    model_version: str
    auto_duration: tuple[float, float] | None = None


def model_paths(args: argparse.Namespace) -> ModelPaths:
    """The files as given; several `--video-vae` are told apart by their headers (diffusion vs conv)."""
    from model_runtime.errors import InvalidRequestError
    from model_runtime.families import identify
    from model_runtime.spec import ModelPaths

    split = {"transformer": args.transformer, "audio_vae": args.audio_vae, "duration_head": args.duration_head}
    if args.checkpoint is not None:
        extra = [f"--{k.replace('_', '-')}" for k, v in split.items() if v is not None] + (["--video-vae"] if args.video_vae else [])
        if extra:
            raise InvalidRequestError(f"--checkpoint is an LTX-2.3 single file; {', '.join(extra)} are LTX-2.5 split "
                                      "files: give one or the other")
        return ModelPaths(args.checkpoint, args.upsampler, args.text_encoder)
    if args.transformer is None:
        raise InvalidRequestError("give --checkpoint (LTX-2.3 single file) or --transformer (LTX-2.5 split files)")
    vaes: dict[str, Path] = {}
    for path in args.video_vae or ():
        role = identify(path).role
        key = "video_vae" if role == "video_vae" else "video_vae_conv"
        if key in vaes:
            raise InvalidRequestError(f"{path}: a second {'diffusion' if key == 'video_vae' else 'conv'} video VAE "
                                      f"(the first was {vaes[key]})")
        vaes[key] = path
    return ModelPaths(upsampler=args.upsampler, transformer=args.transformer, text_encoder=args.text_encoder,
                      audio_vae=args.audio_vae, duration_head=args.duration_head, **vaes)


def validate(args: argparse.Namespace, remote: bool = False) -> Inputs:
    """All cheap checks, in the order a user fixes them; raises RuntimeErrorBase subclasses (one line each).
    `remote`: the job runs on a cluster worker, so model files that are not on this machine are checked
    there (each worker looks for them at the given path, then in its own models folder)."""
    from model_runtime.api import GenerationRequest, InvalidRequestError, RequestSpec
    from model_runtime.loras.spec import LoraSpec
    from model_runtime.media.mux import check_output_path
    from model_runtime.models.duration_head import DurationBounds
    from model_runtime.pipelines.envelope import ModelEnvelope, check_within
    from model_runtime.text.projection import check_gemma_matches

    conditioning = parse_conditioning(args)
    width, height, frames, fps = clip_shape(args, conditioning)
    auto = frames == AUTO
    if args.auto_duration is not None and not auto:
        raise InvalidRequestError("--auto-duration only applies with --frames auto")
    if auto and conditioning is not None:
        raise InvalidRequestError("--frames auto does not combine with --image/--retake/--extend/--audio: "
                                  "give --frames (8k+1)")
    bounds = DurationBounds(*args.auto_duration) if args.auto_duration else DurationBounds()
    loras = tuple(LoraSpec.parse(text) for text in args.lora)
    request = RequestSpec(  # with --frames auto the length is set once predicted; 1 checks the rest
        prompt=args.prompt, negative_prompt=args.negative_prompt, width=width, height=height,
        frames=1 if auto else frames, fps=fps, seed=args.seed, stage=args.stage, pipeline=args.pipeline,
        tiled_decode=args.tiled_decode, decoder=args.decoder, previews=False, loras=loras, lora_mode=args.lora_mode,
        conditioning=conditioning.as_settings() if conditioning is not None else None,
    )
    checked = GenerationRequest(**{k: v for k, v in request.to_dict().items() if k in _CHECKED},
                                loras=request.loras, conditioning=conditioning)  # the request rules, now
    check_conditioning_media(checked)
    if not 0 <= args.crf <= 51:
        raise InvalidRequestError(f"--crf must be between 0 and 51, got {args.crf}")
    out = check_output_path(args.out)
    paths = model_paths(args)
    if remote and not all(Path(p).exists() for p in vars(paths).values() if isinstance(p, Path)):
        return Inputs(request, paths, out, "", None)
    files = paths.model_files()
    check_within(ModelEnvelope.for_config(files.main.config), request)
    if args.stage == "render" and args.upsampler is None:
        raise InvalidRequestError("--stage render needs --upsampler (the x2 spatial upscaler file)")
    if files.is_split:
        from model_runtime.text.gemma4 import inspect_gemma4_file

        te = files.file_for("text_projection")
        check_gemma_matches(te.header, inspect_gemma4_file(te.path).dims)
    else:
        from model_runtime.text.gemma import inspect_gemma_folder

        check_gemma_matches(files.main.header, inspect_gemma_folder(args.text_encoder).dims)
    distilled = LoraSpec.parse(args.distilled_lora) if args.distilled_lora else None
    if loras or distilled:
        if distilled and files.is_split:  # the dev model's render refines with it; 2.5's transformer is distilled
            raise InvalidRequestError("--distilled-lora is for the LTX-2.3 dev model; LTX-2.5's transformer is "
                                      "already distilled")
        check_loras(files.main, (*loras, *((distilled,) if distilled else ())))
        paths = replace(paths, distilled_lora=distilled)
    if auto and not files.has("duration_head"):
        raise InvalidRequestError("--frames auto needs the LTX-2.5 duration head (--duration-head FILE)")
    if args.decoder != "auto":
        wanted = "video_vae" if args.decoder == "diffusion" else "video_vae_conv"
        if not files.has(wanted):  # type: ignore[arg-type]
            raise InvalidRequestError(f"--decoder {args.decoder} needs its video VAE file: add --video-vae with the "
                                      f"{'diffusion' if args.decoder == 'diffusion' else 'conv'} VAE")
    return Inputs(request, paths, out, files.model_version, (bounds.min_seconds, bounds.max_seconds) if auto else None)


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


def parse_image(spec: str, fit: str) -> ImageKeyframe:
    """`PATH@FRAME[:STRENGTH]` -> ImageKeyframe (the last '@' splits, so paths may contain one)."""
    from model_runtime.conditioning.items import ImageKeyframe
    from model_runtime.errors import InvalidRequestError

    path, sep, where = spec.rpartition("@")
    frame_text, _, strength_text = where.partition(":")
    try:
        if not sep or not path:
            raise ValueError
        frame, strength = int(frame_text), float(strength_text) if strength_text else 1.0
    except ValueError:
        raise InvalidRequestError(f"--image {spec!r}: write PATH@FRAME or PATH@FRAME:STRENGTH "
                                  "(e.g. start.png@0, end.png@120:0.8)") from None
    return ImageKeyframe(Path(path).expanduser().resolve(), frame, strength, fit=fit)


def parse_span(text: str) -> TimeSpan:
    from model_runtime.conditioning.items import TimeSpan
    from model_runtime.errors import InvalidRequestError

    try:
        start, end = (float(v) for v in text.split(":"))
    except ValueError:
        raise InvalidRequestError(f"--span {text!r}: write T0:T1 in seconds (e.g. 1.5:2.5)") from None
    return TimeSpan(start, end)


def parse_conditioning(args: argparse.Namespace) -> Conditioning | None:
    """The conditioning flags as typed data (None without any); flag combinations are checked here."""
    from model_runtime.conditioning.items import AudioTrack, Conditioning, Extend, Retake
    from model_runtime.errors import InvalidRequestError

    if (args.retake is None) != (args.span is None):
        raise InvalidRequestError("--retake IN.mp4 and --span T0:T1 go together")
    if (args.extend is None) != (args.seconds is None):
        raise InvalidRequestError("--extend IN.mp4 and --seconds N go together")
    def absolute(p: Path | None) -> Path | None:  # the job's settings (sidecar, history) must re-open it
        return p.expanduser().resolve() if p is not None else None

    c = Conditioning(
        images=tuple(parse_image(s, args.fit) for s in args.image),
        retake=Retake(absolute(args.retake), parse_span(args.span)) if args.retake is not None else None,
        extend=Extend(absolute(args.extend), args.seconds) if args.extend is not None else None,
        audio=AudioTrack(absolute(args.audio)) if args.audio is not None else None,
    )
    return None if c.empty else c


def clip_shape(args: argparse.Namespace, c: Conditioning | None) -> tuple[int, int, int, float]:
    """(width, height, frames, fps): from the flags, or from the source clip of a retake / an extension."""
    from model_runtime.errors import InvalidRequestError

    source = c.retake.source if c is not None and c.retake else c.extend.source if c is not None and c.extend else None
    if source is None:
        missing = [f"--{n}" for n in ("width", "height", "frames") if getattr(args, n) is None]
        if missing:
            raise InvalidRequestError(f"{', '.join(missing)} required (or --retake / --extend a clip)")
        return args.width, args.height, args.frames, args.fps if args.fps is not None else 24.0
    from model_runtime.conditioning.items import extend_plan
    from model_runtime.media.probe import probe

    given = [f"--{n}" for n in ("width", "height", "frames", "fps") if getattr(args, n) is not None]
    if given:
        raise InvalidRequestError(f"{', '.join(given)}: a retake or an extension keeps its source clip's format")
    info = probe(source)
    fps = float(info.fps)
    frames = info.frames if c.retake is not None else extend_plan(info.frames, fps, c.extend.seconds).total
    return info.width, info.height, frames, fps


def check_conditioning_media(request: GenerationRequest) -> None:
    """Open every conditioning file now (unreadable image, no / short / unreadable sound) so a bad one costs
    milliseconds, not a model load."""
    c = request.conditioning
    if c is None:  # (the media readers below are imported only for a job that has media)
        return
    from model_runtime.conditioning.image import read_image
    from model_runtime.conditioning.media_input import read_soundtrack
    from model_runtime.errors import InvalidRequestError
    from model_runtime.media.probe import probe

    for image in c.images:
        read_image(image.path)
    if c.audio is not None:
        read_soundtrack(c.audio.path, c.audio.start, request.frames / request.fps)
    if c.extend is not None and not probe(c.extend.source).has_audio:
        raise InvalidRequestError(f"--extend {c.extend.source.name}: the clip has no audio track; extending "
                                  "continues its sound too, so the source needs one")


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
            "tiled_decode", "previews", "decoder", "lora_mode")


def run(args: argparse.Namespace) -> int:
    from model_runtime.api import GenerationResult, NoticeEvent, ProgressEvent, Runtime, write_result
    from model_runtime.cli.plan import plan_table
    from model_runtime.cpu_threads import cpu_threads, pin_cpu_threads
    from model_runtime.media.mux import video_settings
    from model_runtime.media.result import encode_preset
    from model_runtime.media.video_encode import EarlyVideoEncode
    from model_runtime.memory.machine import detect
    from model_runtime.memory.measure import RssAnonPeak
    from model_runtime.models.acceleration import Acceleration

    address = None
    if args.backend.strip() != "local":  # the cluster's modules only for a cluster job
        from model_runtime.cluster.protocol import backend_address

        address = backend_address(args.backend)
    inputs = validate(args, remote=address is not None)
    if address is not None:
        from model_runtime.cli.remote import run_remote

        return run_remote(args, inputs, address, ProgressLine(sys.stderr))
    started = time.monotonic()
    info = detect(args.device)
    pin_cpu_threads(info.device, cpu_threads(ui=False))  # headless: every core (a cluster job asks the same)
    machine = info.jobs(args.vram_gb, args.ram_gb)
    runtime = Runtime.open(inputs.paths, device=info.device, dtype=_dtype(args, info.device), memory=machine,
                           acceleration=Acceleration(args.attention, args.compile))
    spec = inputs.request
    if inputs.auto_duration is not None:
        from model_runtime.models.duration_head import DurationBounds

        predicted = runtime.predict_duration(spec.prompt, spec.fps, DurationBounds(*inputs.auto_duration))
        spec = replace(spec, frames=predicted.frames)
        sys.stderr.write(f"auto duration: {predicted.seconds:.2f} s predicted -> {predicted.frames} frames "
                         f"({predicted.frames / spec.fps:.2f} s at {spec.fps:g} fps)\n")
    request = runtime.request(spec)
    plans = runtime.plans(request)  # headers only: nothing is loaded yet
    if args.print_plan:
        sys.stdout.write(f"machine: {info.line()}\n{plan_table(plans[0])}\n")
        return 0
    runtime.refuse_if_nothing_fits(request, plans)
    sys.stderr.write(f"machine: {info.line()}\n")
    sys.stderr.write(f"plan: {plans[0].summary}, ~{plans[0].seconds:.0f} s\n")
    bar = ProgressLine(sys.stderr)
    step_times: dict[str, list[float]] = {}
    # the H.264 encode starts once the frames are decoded and runs while the audio decodes
    early = EarlyVideoEncode(video_settings(spec.fps, args.crf, encode_preset(spec.stage)))
    gen = runtime.generate(request, on_video=early)
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
    extra = output_extra(inputs)
    if inputs.auto_duration is not None:
        extra["auto_duration"] = {"min_s": inputs.auto_duration[0], "max_s": inputs.auto_duration[1],
                                  "frames": spec.frames}
    written = write_result(result, inputs.out, spec, extra=extra, crf=args.crf, early=early.thread)
    sys.stderr.write(f"wrote {written.path} ({written.frames} frames, {written.duration_s:.2f} s, "
                     f"{result.frames.shape[2]}x{result.frames.shape[1]}) in {time.monotonic() - started:.1f} s\n")
    return 0


def output_extra(inputs: Inputs) -> dict:
    """What the CLI adds to an output's metadata (the same for a local and a cluster job)."""
    main = inputs.paths.checkpoint or inputs.paths.transformer
    return {"checkpoint": main.name if main else "", "generator": "ltx-studio-cli"}


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
