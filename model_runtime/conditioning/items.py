"""Conditioning items as data: what a request asks for besides its prompt.

Torch-free on purpose: the app builds and stores them on its GUI thread.

Frozen dataclasses so a request stays hashable, loggable and re-runnable (history restores them from
`as_settings`). `conditioning_problems` checks them against the clip (its frame count and rate) so that
a keyframe past the end or two keyframes on one latent frame are refused before any job exists.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

#: the reference's H.264 quality for the re-encode of a conditioning image (ltx-pipelines DEFAULT_IMAGE_CRF)
DEFAULT_IMAGE_CRF = 33

#: the video VAE's temporal compression (LTX-2.x): latent frame k > 0 covers pixel frames 8k-7 .. 8k
TIME_STRIDE = 8

Fit = Literal["fill", "fit"]
FITS: tuple[str, ...] = ("fill", "fit")


@dataclass(frozen=True)
class ImageKeyframe:
    """An image the clip must show at pixel frame `frame` (0 = first frame).

    strength 1 keeps it exactly (its tokens stay clean), 0 lets the model ignore it. `fit` says how an image
    of another aspect ratio meets the format: "fill" scales it to cover and crops the overflow (the
    reference's rule), "fit" scales it to fit inside and pads with black; it is never stretched.
    """

    path: Path
    frame: int = 0
    strength: float = 1.0
    crf: int = DEFAULT_IMAGE_CRF
    fit: Fit = "fill"


@dataclass(frozen=True)
class TimeSpan:
    """[start, end) in seconds of a clip."""

    start: float
    end: float

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class Retake:
    """Regenerate `span` of the clip at `source` (video and sound), keeping everything outside it."""

    source: Path
    span: TimeSpan


@dataclass(frozen=True)
class Extend:
    """Continue the clip at `source` by `seconds`, from its last frames (the prompt may be new)."""

    source: Path
    seconds: float


@dataclass(frozen=True)
class AudioTrack:
    """A soundtrack that drives the picture (audio-to-video); it is kept as is in the result."""

    path: Path
    start: float = 0.0


@dataclass(frozen=True)
class Conditioning:
    """Everything that directs one job. At most one of retake / extend; images work with any of them
    except retake (a retake keeps its clip's own frames)."""

    images: tuple[ImageKeyframe, ...] = ()
    retake: Retake | None = None
    extend: Extend | None = None
    audio: AudioTrack | None = None

    @property
    def empty(self) -> bool:
        return not self.images and self.retake is None and self.extend is None and self.audio is None

    @property
    def keyframes(self) -> tuple[ImageKeyframe, ...]:
        """Images other than the first frame: they become appended guide tokens."""
        return tuple(i for i in self.images if i.frame != 0)

    def as_settings(self) -> dict[str, Any]:
        """JSON-serialisable description (output sidecar, history)."""
        out: dict[str, Any] = {}
        if self.images:
            out["images"] = [{"path": str(i.path), "frame": i.frame, "strength": i.strength, "crf": i.crf,
                              "fit": i.fit} for i in self.images]
        if self.retake is not None:
            out["retake"] = {"source": str(self.retake.source), "span": [self.retake.span.start, self.retake.span.end]}
        if self.extend is not None:
            out["extend"] = {"source": str(self.extend.source), "seconds": self.extend.seconds}
        if self.audio is not None:
            out["audio"] = {"path": str(self.audio.path), "start": self.audio.start}
        return out

    @classmethod
    def from_settings(cls, data: dict[str, Any] | None) -> Conditioning:
        """Inverse of `as_settings` (history restores a job's conditioning with it)."""
        data = data or {}
        images = tuple(ImageKeyframe(Path(i["path"]), int(i["frame"]), float(i["strength"]),
                                     int(i.get("crf", DEFAULT_IMAGE_CRF)), i.get("fit", "fill"))
                       for i in data.get("images", ()))
        retake = data.get("retake")
        extend = data.get("extend")
        audio = data.get("audio")
        return cls(
            images=images,
            retake=Retake(Path(retake["source"]), TimeSpan(*map(float, retake["span"]))) if retake else None,
            extend=Extend(Path(extend["source"]), float(extend["seconds"])) if extend else None,
            audio=AudioTrack(Path(audio["path"]), float(audio.get("start", 0.0))) if audio else None,
        )


#: how much of a clip's end an extension sees (longer costs memory and time, shorter loses continuity)
EXTEND_CONTEXT_S = 2.0


@dataclass(frozen=True)
class ExtendPlan:
    """context: the source's last frames that are kept (8k+1); new: generated frames (a multiple of 8)."""

    source_frames: int
    context: int
    new: int
    fps: float

    @property
    def total(self) -> int:
        """Frames of the clip the model works on (8k+1)."""
        return self.context + self.new

    @property
    def result_frames(self) -> int:
        return self.source_frames + self.new


def extend_plan(source_frames: int, fps: float, seconds: float) -> ExtendPlan:
    """How an extension of `seconds` is laid out for a source clip of `source_frames` at `fps`: the kept
    context is the last 8k+1 frames within EXTEND_CONTEXT_S, the new part whole latent frames (>= 1)."""
    t = TIME_STRIDE
    usable = max(1, min(source_frames, round(EXTEND_CONTEXT_S * fps) + 1))
    context = (usable - 1) // t * t + 1
    new = max(t, round(seconds * fps / t) * t)
    return ExtendPlan(source_frames, context, new, fps)


def latent_frame_of(frame: int, time_stride: int = TIME_STRIDE) -> int:
    """The latent frame a pixel frame falls in (the causal VAE keeps pixel frame 0 alone in latent 0)."""
    return 0 if frame == 0 else (frame - 1) // time_stride + 1


def conditioning_problems(c: Conditioning, frames: int, fps: float) -> list[str]:
    """What is wrong with `c` for a clip of `frames` frames at `fps` (empty when it can run)."""
    problems: list[str] = []
    if c.retake is not None and c.extend is not None:
        problems.append("a job can retake a span or extend a clip, not both")
    if c.retake is not None and c.images:
        problems.append("a retake keeps its clip's own frames: keyframe images cannot be added to it")
    if c.retake is not None and c.audio is not None:
        problems.append("a retake regenerates its clip's own sound: a soundtrack cannot be added to it")
    seen: dict[int, int] = {}
    for image in c.images:
        if image.fit not in FITS:
            problems.append(f"image {image.path.name}: fit must be one of {FITS}, got {image.fit!r}")
        if not isinstance(image.frame, int) or image.frame < 0:
            problems.append(f"image {image.path.name}: frame must be 0 or more, got {image.frame!r}")
            continue
        if image.frame >= frames:
            problems.append(f"image {image.path.name} at frame {image.frame} is past the clip's end "
                            f"(frames 0..{frames - 1}, {frames / fps:.2f} s at {fps:g} fps)")
            continue
        if not (isinstance(image.strength, int | float) and 0.0 <= image.strength <= 1.0):
            problems.append(f"image {image.path.name}: strength must be between 0 and 1, got {image.strength!r}")
        if not 0 <= image.crf <= 51:
            problems.append(f"image {image.path.name}: crf must be between 0 and 51, got {image.crf}")
        latent = latent_frame_of(image.frame)
        if latent in seen:
            problems.append(f"keyframes at frames {seen[latent]} and {image.frame} fall on the same latent frame "
                            f"{latent} (frames {TIME_STRIDE} apart at least, or the first frame alone): "
                            "move one of them")
        seen.setdefault(latent, image.frame)
    if c.retake is not None:
        span = c.retake.span
        if not (math.isfinite(span.start) and math.isfinite(span.end)) or span.start < 0 or span.end <= span.start:
            problems.append(f"retake span {span.start:g}:{span.end:g} must satisfy 0 <= start < end (seconds)")
        elif span.start >= frames / fps:
            problems.append(f"retake span {span.start:g}:{span.end:g} s starts after the clip's end "
                            f"({frames / fps:.2f} s)")
        elif span.end > frames / fps + 1e-6:
            problems.append(f"retake span {span.start:g}:{span.end:g} s ends after the clip's end "
                            f"({frames / fps:.2f} s)")
    if c.extend is not None and not (math.isfinite(c.extend.seconds) and c.extend.seconds > 0):
        problems.append(f"extend by {c.extend.seconds!r} s: give a positive number of seconds")
    if c.audio is not None and not (math.isfinite(c.audio.start) and c.audio.start >= 0):
        problems.append(f"audio start {c.audio.start!r} s must be 0 or more")
    return problems
