"""Export a muxed clip with a preset (Shorts, Reels, TikTok, YouTube, masters): trim, fit, encode, normalise.

How an export runs, and why:
* The in/out points are frame-exact: `in_s`/`out_s` are rounded to the source's frame grid, and the sound
  is cut to exactly the same span (frames / fps seconds at 48 kHz), so the two streams end together.
* The whole (trimmed) sound is decoded first: loudness normalisation needs two passes over it (measure,
  then apply; see `loudness`), and a generated clip's sound is small (a minute of 48 kHz stereo float is
  23 MB). Video frames stream through an FFmpeg filter graph (scale + crop, or pad only when asked;
  BT.709 in and out) straight into the encoder, so memory stays flat at 4K.
* Audio packets are written interleaved with the video (one video frame's worth at a time) so players
  and platforms that read the file while it downloads do not jump between far-apart chunks.
* The file is written under a temporary name beside the target and renamed when complete; a cancel, an
  error, a full disk all leave nothing behind (the same rules as `mux.write_mp4`, whose helpers are used).
* The clip's generation settings (its tag or sidecar) go into the output's comment/description tags,
  with an `export` entry saying which preset and span made it.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from model_runtime.errors import MediaError, RuntimeErrorBase
from model_runtime.media import loudness
from model_runtime.media.export_presets import ExportPreset
from model_runtime.media.mux import (
    DISK_FULL_ERRNOS,
    NOT_WRITABLE_ERRNOS,
    check_output_path,
    fit_audio,
    os_error_message,
    read_metadata,
    temp_sibling,
)
from model_runtime.media.output_safety import output_lock, sweep_partials
from model_runtime.media.probe import MediaInfo, probe, read_audio
from model_runtime.media.x264_cpu import x264_options
from model_runtime.sampling.control import CancelToken, ProgressEvent, StepClock

log = logging.getLogger(__name__)

_BT709 = 1
_MPEG_RANGE = 1


class ExportCancelled(RuntimeErrorBase):  # noqa: N818 - the name reads as the event it reports
    """The user cancelled an export; its partial file has been removed."""


@dataclass(frozen=True)
class ExportResult:
    path: Path
    preset: str
    width: int
    height: int
    fps: Fraction
    frames: int
    duration_s: float
    audio_samples: int
    loudness_in: loudness.LoudnessMeasurement | None  # the source's loudness, when the preset normalises


@dataclass(frozen=True)
class Span:
    """The exported frames [first, first + count) of the source, and their duration."""

    first: int
    count: int
    fps: Fraction

    @property
    def start_s(self) -> float:
        return float(self.first / self.fps)

    @property
    def duration_s(self) -> float:
        return float(self.count / self.fps)


def frame_span(info: MediaInfo, in_s: float | None = None, out_s: float | None = None) -> Span:
    """In/out points (seconds) -> whole frames of the source, clamped to the clip."""
    for name, value in (("in point", in_s), ("out point", out_s)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)
                                  or not math.isfinite(value) or value < 0):
            raise MediaError(f"the {name} must be a time in seconds from 0 to {info.duration_s:.2f}, got {value!r}")
    first = 0 if in_s is None else max(0, round(in_s * info.fps))
    last = info.frames if out_s is None else min(info.frames, round(out_s * info.fps))
    if last <= first:
        raise MediaError(f"the out point ({out_s} s) must come after the in point ({in_s or 0} s) "
                         f"and inside the clip (0 to {info.duration_s:.2f} s)")
    return Span(first, last - first, info.fps)


def check_target(out: Path, preset: ExportPreset) -> None:
    """Refuse a target that cannot be written before any work is done."""
    check_output_path(out, preset.suffix, f"{preset.label} writes {preset.suffix} files; name the output as a")


def output_size(preset: ExportPreset, width: int, height: int) -> tuple[int, int]:
    return (preset.width, preset.height) if preset.width and preset.height else (width, height)


def video_filters(preset: ExportPreset, width: int, height: int, fit: str | None = None) -> list[tuple[str, str]]:
    """Scale to cover (crop) or fit inside (pad) the preset's frame, then convert to its pixel format.

    1088x1920 -> 1080x1920 is a 4-pixel crop per side, no rescale; bars appear only with fit="pad".
    """
    fit = fit or preset.fit
    out_w, out_h = output_size(preset, width, height)
    chain: list[tuple[str, str]] = []
    if (out_w, out_h) != (width, height):
        pick = max if fit == "crop" else min
        scale = pick(out_w / width, out_h / height)
        sw, sh = (2 * round(width * scale / 2), 2 * round(height * scale / 2))
        sw, sh = (max(sw, out_w), max(sh, out_h)) if fit == "crop" else (min(sw, out_w), min(sh, out_h))
        if (sw, sh) != (width, height):
            chain.append(("scale", f"{sw}:{sh}:flags=lanczos:in_color_matrix=bt709:out_color_matrix=bt709"))
        if fit == "crop":
            chain.append(("crop", f"{out_w}:{out_h}"))
        else:
            chain.append(("pad", f"{out_w}:{out_h}:(ow-iw)/2:(oh-ih)/2:black"))
    chain += [("setsar", "1"), ("format", preset.video.pix_fmt)]
    return chain


def export_audio(source: Path, info: MediaInfo, span: Span, preset: ExportPreset,
                 ) -> tuple[np.ndarray, loudness.LoudnessMeasurement | None]:
    """The span's sound: 48 kHz stereo, loudness-normalised if the preset says so, exactly span-long."""
    rate = preset.audio.sample_rate
    samples = round(span.duration_s * rate)
    if not info.has_audio:
        return np.zeros((2, samples), dtype=np.float32), None
    full = read_audio(source, rate)
    start = round(span.start_s * rate)
    audio = fit_audio(full[:, start:start + samples], samples)
    measured = None
    if preset.loudness is not None:
        measured = loudness.measure(audio, rate, preset.loudness)
        audio = loudness.normalize(audio, rate, preset.loudness, rate, measured)
    return fit_audio(audio, samples), measured


def _add_video_stream(container, preset: ExportPreset, size: tuple[int, int], fps: Fraction):
    spec = preset.video
    stream = container.add_stream(spec.codec, rate=fps)
    stream.width, stream.height = size
    stream.pix_fmt = spec.pix_fmt
    stream.time_base = 1 / fps
    options: dict[str, str] = {}
    if spec.profile:
        options["profile"] = spec.profile
    if spec.crf is not None:
        options["crf"] = str(spec.crf)
    if spec.speed:
        options["preset"] = spec.speed
    if spec.gop_max_s:
        stream.codec_context.gop_size = max(1, math.floor(fps * Fraction(spec.gop_max_s)))
        options["flags"] = "+cgop"
    if spec.codec == "libx264":
        options |= x264_options()  # the same bytes in every process
    if spec.codec == "prores_ks":
        options["vendor"] = "apl0"  # Apple's vendor id: some NLEs only trust ProRes that carries it
    stream.options = options
    ctx = stream.codec_context
    ctx.thread_type = "AUTO"  # PyAV's default is slice threads: x264 then runs slower than ffmpeg's frame threads
    ctx.color_primaries = ctx.color_trc = ctx.colorspace = _BT709
    ctx.color_range = _MPEG_RANGE
    return stream


def _add_audio_stream(container, preset: ExportPreset):
    spec = preset.audio
    stream = container.add_stream(spec.codec, rate=spec.sample_rate)
    stream.layout = "stereo" if spec.channels == 2 else "mono"
    if spec.bit_rate:
        stream.bit_rate = spec.bit_rate
    return stream


def _audio_frame(audio: np.ndarray, start: int, end: int, rate: int):
    import av

    frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(audio[:, start:end]), format="fltp", layout="stereo")
    frame.sample_rate = rate
    frame.pts = start
    frame.time_base = Fraction(1, rate)
    return frame


def _source_frames(source: Path, span: Span, filters: list[tuple[str, str]]):
    """Yield the span's frames, filtered to the output size and pixel format (seeks near the in point)."""
    import av
    import av.filter

    with av.open(str(source)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        graph = av.filter.Graph()
        ctx = stream.codec_context
        node = graph.add("buffer", f"video_size={ctx.width}x{ctx.height}:pix_fmt={ctx.pix_fmt}:"
                                   f"time_base={stream.time_base}:pixel_aspect=1/1:colorspace=bt709:range=tv")
        loudness.link_chain(graph, node, filters, "buffersink")
        start_pts = stream.start_time or 0
        if span.first:
            container.seek(start_pts + int(span.start_s / stream.time_base), stream=stream, backward=True)
        emitted = 0
        for frame in container.decode(stream):
            index = round((frame.pts - start_pts) * stream.time_base * span.fps) if frame.pts is not None else 0
            if index < span.first:
                continue
            graph.push(frame)
            yield graph.pull()
            emitted += 1
            if emitted == span.count:
                return
    if emitted < span.count:
        raise MediaError(f"{source}: the clip ended after {emitted} of {span.count} frames")


def _tag(source: Path, preset: ExportPreset, span: Span) -> str:
    try:
        settings = read_metadata(source)
    except MediaError:
        settings = {}
    settings = dict(settings) if isinstance(settings, dict) else {"settings": settings}
    settings["export"] = {"preset": preset.name, "source": source.name, "in_s": round(span.start_s, 6),
                          "out_s": round(span.start_s + span.duration_s, 6)}
    return json.dumps(settings, sort_keys=True, ensure_ascii=False)


Progress = Callable[[ProgressEvent], None]  # stage "audio" (loudness passes) or "video" (frames)


def _write(tmp: Path, source: Path, info: MediaInfo, span: Span, preset: ExportPreset, fit: str | None,
           audio: np.ndarray, progress: Progress | None, cancel: CancelToken | None) -> None:
    import av

    size = output_size(preset, info.width, info.height)
    rate = preset.audio.sample_rate
    clock = StepClock(span.count)
    options = {"movflags": "+faststart"}
    with av.open(str(tmp), mode="w", format=preset.container, options=options) as container:
        tag = _tag(source, preset, span)
        container.metadata["comment"] = container.metadata["description"] = tag
        vstream = _add_video_stream(container, preset, size, info.fps)
        astream = _add_audio_stream(container, preset)
        done_samples = 0
        frames = _source_frames(source, span, video_filters(preset, info.width, info.height, fit))
        for i, frame in enumerate(frames):
            if cancel is not None and cancel.cancelled:
                frames.close()
                raise ExportCancelled("export cancelled")
            frame.pts = i
            frame.pict_type = 0  # the source's I/P/B types would force x264's GOP structure: let it choose
            frame.time_base = 1 / info.fps  # the muxer changes vstream.time_base when it writes the header
            container.mux(vstream.encode(frame))
            end = audio.shape[1] if i == span.count - 1 else round((i + 1) / info.fps * rate)
            if end > done_samples:
                container.mux(astream.encode(_audio_frame(audio, done_samples, end, rate)))
                done_samples = end
            if progress is not None:
                progress(ProgressEvent("video", i + 1, span.count, clock.elapsed(), clock.eta(i + 1)))
        container.mux(vstream.encode(None))
        container.mux(astream.encode(None))


def export(source: str | Path, preset: ExportPreset, out: str | Path, *, in_s: float | None = None,
           out_s: float | None = None, fit: str | None = None, progress: Progress | None = None,
           cancel: CancelToken | None = None) -> ExportResult:
    """Export `source` (a muxed clip) with `preset` to `out`, optionally trimmed to [in_s, out_s).

    Raises MediaError with a one-line reason (over the platform's duration limit, unwritable folder,
    full disk, encoder failure) and ExportCancelled when `cancel` is set; neither leaves a file.
    """
    source, out = Path(source), Path(out)
    info = probe(source)
    span = frame_span(info, in_s, out_s)
    preset.check_duration(span.duration_s)
    check_target(out, preset)
    if progress is not None:
        progress(ProgressEvent("audio", 0, span.count, 0.0, None))
    audio, measured = export_audio(source, info, span, preset)
    with output_lock(out):
        sweep_partials(out.parent)
        _write_atomic(out, source, info, span, preset, fit, audio, progress, cancel)
    size = output_size(preset, info.width, info.height)
    log.info("exported %s with %s: %d frames, %.3f s", out, preset.name, span.count, span.duration_s)
    return ExportResult(out, preset.name, size[0], size[1], info.fps, span.count, span.duration_s,
                        audio.shape[1], measured)


def _write_atomic(out: Path, source: Path, info: MediaInfo, span: Span, preset: ExportPreset, fit: str | None,
                  audio: np.ndarray, progress: Progress | None, cancel: CancelToken | None) -> None:
    tmp = temp_sibling(out, f".partial{preset.suffix}")
    try:
        _write(tmp, source, info, span, preset, fit, audio, progress, cancel)
        os.replace(tmp, out)
    except (ExportCancelled, MediaError):
        raise
    except OSError as exc:
        raise MediaError(os_error_message(out, exc)) from exc
    except Exception as exc:  # av.FFmpegError and encoder failures: one clear line, no partial file
        if getattr(exc, "errno", None) in DISK_FULL_ERRNOS | NOT_WRITABLE_ERRNOS:
            raise MediaError(os_error_message(out, exc)) from exc
        raise MediaError(f"{out}: cannot export the video: {exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)
