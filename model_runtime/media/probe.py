"""Read media files back: stream facts, the whole sound track, thumbnails and waveform peaks (PyAV).

The player's timeline and the exporter both need these, and neither may depend on the other (the
runtime never imports Qt), so they live here as plain numpy-returning functions the app runs on a
worker thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from model_runtime.errors import MediaError


@dataclass(frozen=True)
class MediaInfo:
    """What a clip is: size, exact frame rate and count, duration, and its sound (if any)."""

    path: Path
    width: int
    height: int
    fps: Fraction
    frames: int
    duration_s: float
    sample_rate: int  # 0 when there is no audio stream
    channels: int

    @property
    def has_audio(self) -> bool:
        return self.sample_rate > 0


def _open(path: Path):
    import av

    if not path.exists():
        raise MediaError(f"{path}: file not found: check the path")
    if path.is_dir():
        raise MediaError(f"{path}: is a folder: give the clip's file")
    try:
        return av.open(str(path))
    except PermissionError:
        raise MediaError(f"{path}: cannot open the clip: permission denied; make it readable") from None
    except (OSError, av.FFmpegError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        raise MediaError(f"{path}: cannot open the clip ({reason}): it is not a video FFmpeg can read; "
                         "pick an MP4 or MOV file") from None


def probe(path: str | Path) -> MediaInfo:
    """Stream facts from the container; the frame count is counted from packets when not stored."""
    path = Path(path)
    with _open(path) as container:
        if not container.streams.video:
            raise MediaError(f"{path}: the file has no video stream")
        vs = container.streams.video[0]
        fps = Fraction(vs.average_rate or vs.guessed_rate or 24)
        frames = vs.frames
        if not frames:
            frames = sum(1 for p in container.demux(vs) if p.size)
        audio = container.streams.audio[0] if container.streams.audio else None
        return MediaInfo(path, vs.codec_context.width, vs.codec_context.height, fps, int(frames),
                         float(frames / fps), audio.codec_context.sample_rate if audio else 0,
                         audio.codec_context.channels if audio else 0)


def read_audio(path: str | Path, rate: int = 48_000) -> np.ndarray:
    """The whole sound track as float32 stereo [2, N] at `rate` (mono is duplicated); [2, 0] if none."""
    import av

    path = Path(path)
    with _open(path) as container:
        if not container.streams.audio:
            return np.zeros((2, 0), dtype=np.float32)
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="fltp", layout="stereo", rate=rate)
        parts: list[np.ndarray] = []
        start = None
        for frame in container.decode(stream):
            if start is None and frame.pts is not None:
                start = round(frame.pts * frame.time_base * rate)  # a stream may not begin at 0
            parts += [f.to_ndarray() for f in resampler.resample(frame)]
        parts += [f.to_ndarray() for f in resampler.resample(None)]
    if not parts:
        return np.zeros((2, 0), dtype=np.float32)
    audio = np.concatenate(parts, axis=1).astype(np.float32, copy=False)
    if start and start > 0:
        audio = np.concatenate([np.zeros((2, start), dtype=np.float32), audio], axis=1)
    elif start and start < 0:
        audio = audio[:, -start:]
    return audio


def waveform_peaks(path: str | Path, bins: int, rate: int = 8_000) -> np.ndarray:
    """[bins, 2] (min, max) of the mono mix over equal slices of the clip; zeros when there is no sound.

    Decoded at a low rate: a timeline a few hundred pixels wide needs peaks, not fidelity.
    """
    audio = read_audio(path, rate).mean(axis=0)
    peaks = np.zeros((bins, 2), dtype=np.float32)
    if audio.size == 0 or bins <= 0:
        return peaks
    edges = np.linspace(0, audio.size, bins + 1).astype(int)
    for i, (a, b) in enumerate(zip(edges[:-1], edges[1:], strict=True)):
        chunk = audio[a:max(b, a + 1)]
        peaks[i] = (chunk.min(), chunk.max())
    return np.clip(peaks, -1.0, 1.0)


def thumbnails(path: str | Path, count: int, height: int) -> list[np.ndarray]:
    """`count` RGB frames (uint8 [height, w, 3]) evenly spaced over the clip, for the timeline strip.

    Decodes sequentially and keeps the wanted frames (clips are short; seeking per thumbnail would
    decode from the previous keyframe each time anyway).
    """
    info = probe(path)
    if count <= 0:
        return []
    wanted = sorted({min(info.frames - 1, round(i * info.frames / count)) for i in range(count)})
    width = max(2, round(info.width * height / info.height))
    out: list[np.ndarray] = []
    with _open(Path(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for index, frame in enumerate(container.decode(stream)):
            if index in wanted:
                out.append(frame.to_ndarray(format="rgb24", width=width, height=height))
                if len(out) == len(wanted):
                    break
    return out
