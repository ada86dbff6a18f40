"""Which export preset suits a clip, and how its picture lands in the preset's frame (fill or fit).

Why: the export dialog used to open on the ProRes master whatever the clip, and cropped a 16:9 clip
to Shorts without showing it. Plain Python (no Qt) so the rules are tested directly.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

#: preferred preset per clip shape, in order: the first whose frame has the clip's aspect wins
PREFERENCE = ("shorts", "youtube_1080p", "reels", "tiktok", "youtube_4k", "vertical_4k_master")
MASTER = "prores_master"  # keeps the source size: the choice when no platform frame has the clip's aspect
ASPECT_TOLERANCE = 0.03  # generated sizes are snapped to 32 px, so 9:16 arrives as e.g. 352×640 (0.55 vs 0.5625)


@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    w: float
    h: float


def same_aspect(w1: int, h1: int, w2: int, h2: int) -> bool:
    return abs((w1 / h1) / (w2 / h2) - 1.0) <= ASPECT_TOLERANCE


def default_preset(width: int, height: int, presets: Iterable) -> str:
    """The preset the dialog opens on for a width×height clip (`presets`: objects with name/width/height)."""
    by_name = {p.name: p for p in presets}
    for name in PREFERENCE:
        p = by_name.get(name)
        if p is not None and p.width and p.height and same_aspect(width, height, p.width, p.height):
            return name
    return MASTER if MASTER in by_name else next(iter(by_name))


def placement(src_w: int, src_h: int, dst_w: int, dst_h: int, fit: str) -> Rect:
    """Where the source picture lands in a dst_w×dst_h frame: "crop" fills it (overflow cut), "pad" fits
    it inside (bars). Coordinates in the frame's pixels; a crop gives a rect larger than the frame."""
    scale = (max if fit == "crop" else min)(dst_w / src_w, dst_h / src_h)
    w, h = src_w * scale, src_h * scale
    return Rect((dst_w - w) / 2, (dst_h - h) / 2, w, h)


def framing_note(src_w: int, src_h: int, dst_w: int, dst_h: int, fit: str) -> str:
    """One line saying what happens to the picture (empty when the aspects match)."""
    if same_aspect(src_w, src_h, dst_w, dst_h):
        return ""
    r = placement(src_w, src_h, dst_w, dst_h, fit)
    if fit == "crop":
        lost = 1.0 - (dst_w * dst_h) / (r.w * r.h)
        side = "left and right" if r.w > dst_w else "top and bottom"
        return f"Fill crops {lost:.0%} of the picture ({side}); choose Fit to keep all of it with bars."
    bars = "top and bottom" if r.w >= dst_w - 0.5 else "left and right"
    return f"Fit keeps the whole picture with bars at the {bars}."
