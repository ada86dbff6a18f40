"""Format presets (aspect x tier, fps, duration) and the rules that snap a choice to what the model makes.

Presets are data (`presets/formats.toml`); this module only reads them and applies the model's grid:
sizes on a multiple of 32 px for a one-stage draft and 64 px for a two-stage render (stage 1 runs at
half size), frames = 8k + 1. The UI shows the snapped size, frame count and clip length, so what the
user sees is exactly what the job will make. No Qt here: the CLI and tests use it as is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from model_runtime.api import SIZE_MULTIPLE, TEMPORAL_STRIDE, Device, Stage

if TYPE_CHECKING:
    from model_runtime.api import Machine

PRESETS_FILE = "formats.toml"
# next to this module (a plain path, not importlib.resources: that import alone costs ~1 ms of start-up)
PRESETS_DIR = Path(__file__).with_name("presets")


@dataclass(frozen=True)
class Aspect:
    name: str
    label: str
    ratio: tuple[int, int]
    words: tuple[str, ...]


@dataclass(frozen=True)
class Tier:
    name: str
    short_side: int
    stage: str  # "draft" | "render"
    words: tuple[str, ...]


@dataclass(frozen=True)
class Limits:
    fps: tuple[float, ...]
    default_fps: float
    min_seconds: float
    max_seconds: float
    default_seconds: float


@dataclass(frozen=True)
class Capacity:
    tokens_per_gb: float
    cpu_tokens_per_gb: float
    real_weights_gb: float
    demo_weights_gb: float


@dataclass(frozen=True)
class Presets:
    aspects: tuple[Aspect, ...]
    tiers: tuple[Tier, ...]
    limits: Limits
    capacity: Capacity

    def aspect(self, name: str) -> Aspect:
        return next(a for a in self.aspects if a.name == name)

    def tier(self, name: str) -> Tier:
        return next(t for t in self.tiers if t.name == name)

    @property
    def draft_tier(self) -> Tier:
        return next(t for t in self.tiers if t.stage == "draft")


@cache
def load_presets() -> Presets:
    """Parse the packaged presets once (the file is data shipped with the app, it never changes at run time)."""
    import tomllib  # only here: the window's first paint does not wait for the TOML parser's import

    raw = tomllib.loads((PRESETS_DIR / PRESETS_FILE).read_text("utf-8"))
    lim = raw["limits"]
    return Presets(
        aspects=tuple(Aspect(a["name"], a["label"], tuple(a["ratio"]), tuple(a["words"])) for a in raw["aspect"]),
        tiers=tuple(Tier(t["name"], int(t["short_side"]), t["stage"], tuple(t["words"])) for t in raw["tier"]),
        limits=Limits(tuple(float(f) for f in lim["fps"]), float(lim["default_fps"]), float(lim["min_seconds"]),
                      float(lim["max_seconds"]), float(lim["default_seconds"])),
        capacity=Capacity(**raw["capacity"]),
    )


@dataclass(frozen=True)
class FormatChoice:
    """What the user picked (names and nominal numbers), before snapping."""

    aspect: str = "16:9"
    tier: str = "Draft"
    fps: float = 24.0
    seconds: float = 5.0


@dataclass(frozen=True)
class ResolvedFormat:
    """What the job will make: exact pixels, frame count and clip length."""

    width: int
    height: int
    frames: int
    fps: float
    stage: str
    choice: FormatChoice

    @property
    def seconds(self) -> float:
        return self.frames / self.fps

    @property
    def latent_tokens(self) -> int:
        return (self.width // 32) * (self.height // 32) * ((self.frames - 1) // 8 + 1)

    def describe(self) -> str:
        return f"{self.width}×{self.height} · {self.frames} frames @ {self.fps:g} fps · {self.seconds:.2f} s"


def snap_size(value: float, multiple: int) -> int:
    """Nearest positive multiple of `multiple` (a half rounds up): 720 -> 704 at 64 px, 1080 -> 1088."""
    return max(multiple, int(value / multiple + 0.5) * multiple)


def snap_frames(seconds: float, fps: float, stride: int = TEMPORAL_STRIDE) -> int:
    """Frame count 8k+1 closest to `seconds` x `fps` (at least 1 + stride, a clip with motion)."""
    k = max(1, int((seconds * fps - 1) / stride + 0.5))
    return stride * k + 1


def resolve(choice: FormatChoice, presets: Presets | None = None, stage: str | None = None) -> ResolvedFormat:
    """Snap a choice: short side from the tier, long side from the aspect, both on the stage's grid."""
    p = presets or load_presets()
    aspect, tier = p.aspect(choice.aspect), p.tier(choice.tier)
    stage = stage or tier.stage
    multiple = SIZE_MULTIPLE[Stage(stage)]
    rw, rh = aspect.ratio
    short = tier.short_side
    w, h = (short * rw / rh, short) if rw >= rh else (short, short * rh / rw)
    seconds = min(max(choice.seconds, p.limits.min_seconds), p.limits.max_seconds)
    frames = snap_frames(seconds, choice.fps, TEMPORAL_STRIDE)
    return ResolvedFormat(snap_size(w, multiple), snap_size(h, multiple), frames, float(choice.fps), stage, choice)


def render_target(choice: FormatChoice, presets: Presets | None = None) -> ResolvedFormat:
    """The render a draft is promoted to: the chosen tier, or 720p-class when the chosen tier is the draft."""
    p = presets or load_presets()
    tier = p.tier(choice.tier)
    if tier.stage == "draft":
        tier = next(t for t in p.tiers if t.stage == "render")
    return resolve(FormatChoice(choice.aspect, tier.name, choice.fps, choice.seconds), p, "render")


def can_promote(draft_size: tuple[int, int], target_size: tuple[int, int]) -> bool:
    """A draft's stage-1 latents seed a render only when the render is exactly twice the draft's size."""
    return target_size == (draft_size[0] * 2, draft_size[1] * 2)


def fit_advice(fmt: ResolvedFormat, machine: Machine, demo: bool, presets: Presets | None = None) -> str | None:
    """None when the format should fit; otherwise why not and what to change (never a hard gate).

    `machine` is the runtime's machine as built (`MachineInfo.capacity()`: totals, so the advice does not
    flicker with load); an accelerator is judged by its VRAM, the CPU by its RAM.
    The demo model gets no advice: the capacity numbers describe the real model's activations, and a
    warning under default settings that comes and goes with free RAM only alarmed new users."""
    if demo:
        return None
    cap = (presets or load_presets()).capacity
    weights = cap.real_weights_gb
    on_cpu = machine.device == Device.CPU
    per_gb = cap.cpu_tokens_per_gb if on_cpu else cap.tokens_per_gb
    memory_gb = machine.ram_gb if on_cpu else machine.vram_gb
    spare = memory_gb - weights
    if spare <= 0:
        return (f"the model needs about {weights:.0f} GB and this {machine.device.upper()} has "
                f"{memory_gb:.0f} GB: expect heavy offloading or an out-of-memory failure")
    budget = spare * per_gb
    if fmt.latent_tokens <= budget:
        return None
    scale = budget / fmt.latent_tokens
    shorter = max(1.0, fmt.seconds * scale)
    return (f"{fmt.width}×{fmt.height} for {fmt.seconds:.1f} s is {fmt.latent_tokens:,} latent tokens; this "
            f"{machine.device.upper()} ({memory_gb:.0f} GB) handles about {int(budget):,}: choose a lower "
            f"tier or at most {shorter:.0f} s")


@cache
def _patterns() -> tuple[re.Pattern, re.Pattern]:
    """The duration and frame-rate patterns, compiled on first use (not at import: start-up pays for it)."""
    return (re.compile(r"\b(\d{1,2}(?:\.\d+)?)\s*-?\s*(?:s|sec|secs|second|seconds)\b", re.IGNORECASE),
            re.compile(r"\b(\d{2})\s*fps\b", re.IGNORECASE))


def _has_word(text: str, word: str) -> bool:
    return re.search(r"(?<![\w:])" + re.escape(word) + r"(?![\w:])", text, re.IGNORECASE) is not None


def detect_format(prompt: str, presets: Presets | None = None) -> dict:
    """Format words a prompt names ("vertical", "9:16", "square", "4K", "10 seconds", "30 fps").

    Returns only what was found: keys among aspect / tier / seconds / fps, each with the phrase that set it
    under `<key>_why`, so the UI can say what it changed and why.
    """
    p = presets or load_presets()
    found: dict = {}
    for a in p.aspects:
        w = next((w for w in a.words if _has_word(prompt, w)), None)
        if w and "aspect" not in found:
            found["aspect"], found["aspect_why"] = a.name, w
    for t in p.tiers:
        w = next((w for w in t.words if t.stage == "render" and _has_word(prompt, w)), None)
        if w and "tier" not in found:
            found["tier"], found["tier_why"] = t.name, w
    seconds_re, fps_re = _patterns()
    m = seconds_re.search(prompt)
    if m:
        secs = float(m.group(1))
        if p.limits.min_seconds <= secs <= p.limits.max_seconds:
            found["seconds"], found["seconds_why"] = secs, m.group(0)
    m = fps_re.search(prompt)
    if m and float(m.group(1)) in p.limits.fps:
        found["fps"], found["fps_why"] = float(m.group(1)), m.group(0)
    return found
