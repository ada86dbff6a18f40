"""The direction of the next job: the player's keyframe track, soundtrack and crop choice as the runtime's
conditioning, and back (history restores what a job carried); plus the one-line summary the prompt panel
shows. Times on the track become pixel frames at the job's rate; the runtime's own rules
(`conditioning_problems`) refuse a bad combination before any job exists.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ltx_studio.player.keyframe_track import TrackKey
from model_runtime.api import AudioTrack, Conditioning, ImageKeyframe


@dataclass(frozen=True)
class Direction:
    """What the player holds for the next job (plain data)."""

    keys: tuple[TrackKey, ...] = ()
    soundtrack: str | None = None
    fit: str = "fill"


def conditioning_for(direction: Direction, frames: int, fps: float) -> Conditioning | None:
    """The track's images at their frames (the last frame at most) and the soundtrack; None when empty."""
    images = tuple(ImageKeyframe(Path(k.path), min(round(k.ms / 1000 * fps), frames - 1), k.strength,
                                 fit=direction.fit) for k in sorted(direction.keys, key=lambda k: k.ms))
    audio = AudioTrack(Path(direction.soundtrack)) if direction.soundtrack else None
    c = Conditioning(images=images, audio=audio)
    return None if c.empty else c


def direction_from(c: Conditioning | None, fps: float) -> Direction:
    """Back to the track (history): frames -> ms at the job's rate."""
    if c is None:
        return Direction()
    keys = tuple(TrackKey(str(i.path), round(i.frame / fps * 1000), i.strength) for i in c.images)
    fit = c.images[0].fit if c.images else "fill"
    return Direction(keys, str(c.audio.path) if c.audio is not None else None, fit)


def summary(c: Conditioning | None, fps: float) -> str:
    """What the job carries besides its prompt, in one line."""
    if c is None or c.empty:
        return "Text only (drop images on the keyframe track to direct the clip)"
    parts: list[str] = []
    if c.images:
        times = ", ".join(f"{i.frame / fps:.2f} s" + (f" @{i.strength:g}" if i.strength != 1 else "")
                          for i in c.images)
        parts.append(f"{len(c.images)} image{'s' if len(c.images) > 1 else ''} ({times}, {c.images[0].fit})")
    if c.audio is not None:
        parts.append(f"soundtrack {c.audio.path.name}")
    if c.retake is not None:
        parts.append(f"retake {c.retake.span.start:.2f}–{c.retake.span.end:.2f} s of {c.retake.source.name}")
    if c.extend is not None:
        parts.append(f"extend {c.extend.source.name} by {c.extend.seconds:g} s")
    return " · ".join(parts)


