"""The model's trained envelope: the sizes, durations, frame rates and seeds a request may ask for.

Why bounds at all: without them 100000x100000 tries to allocate tens of GB and dies with a traceback,
and fps 0.001 asks for hours of audio and hangs at the first stage. Every bound here is checked when a
request is built (before anything loads) and each message names the limit and what to change.

Where the numbers come from:
* duration: the transformer's temporal RoPE range, `positional_embedding_max_pos[0]` (and the audio one),
  is in seconds: 20 s in the official 2.3 config, the product's stated maximum clip length. A checkpoint's
  own config narrows it (`for_config`).
* size: LTX-2.3 generates up to 4K UHD; on the two-stage 64 px grid that is 3840 x 2176.
* fps: the official model was trained at 24-50 fps; 1-60 covers every rate a player or platform takes,
  and the duration bound keeps the sound (25 audio latents a second) finite.
* seed: torch's generator takes any unsigned 64-bit value; negative seeds would alias positive ones.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

SEED_MAX = 2**64 - 1
MAX_STEPS = 200          # the dev model's schedule is 30-40 steps; 200 is already hours on a consumer GPU
MAX_PROMPT_CHARS = 20_000  # Gemma reads 1024 tokens; a longer text is cut anyway, a huge one only costs RAM


@dataclass(frozen=True)
class ModelEnvelope:
    """What the model was trained for; `problems` lists every way a request falls outside it."""

    max_side: int = 3840
    max_pixels: int = 3840 * 2176
    min_fps: float = 1.0
    max_fps: float = 60.0
    max_duration_s: float = 20.0

    @classmethod
    def for_config(cls, config: dict) -> ModelEnvelope:
        """The default envelope, narrowed to the checkpoint's temporal RoPE range when it states one."""
        section = config.get("transformer") if isinstance(config, dict) else None
        limits = []
        for key in ("positional_embedding_max_pos", "audio_positional_embedding_max_pos"):
            value = section.get(key) if isinstance(section, dict) else None
            if isinstance(value, list) and value and isinstance(value[0], int | float) and value[0] > 0:
                limits.append(float(value[0]))
        base = cls()
        return cls(max_duration_s=min([base.max_duration_s, *limits]))

    def problems(self, width: object, height: object, frames: object, fps: object) -> list[str]:
        out: list[str] = []
        for name, value in (("width", width), ("height", height)):
            if isinstance(value, int) and value > self.max_side:
                out.append(f"{name} {value} is above the model's limit of {self.max_side} px: use {self.max_side} "
                           "or less")
        if isinstance(width, int) and isinstance(height, int) and width * height > self.max_pixels \
                and max(width, height) <= self.max_side:
            out.append(f"{width}x{height} is more pixels than the model's limit (4K UHD, {self.max_pixels} px): "
                       "lower the width or height")
        if isinstance(fps, int | float) and math.isfinite(fps) and not self.min_fps <= fps <= self.max_fps:
            out.append(f"fps {fps:g} is outside the model's range of {self.min_fps:g}-{self.max_fps:g} fps: "
                       "use 24 (or 25, 30, 48, 50)")
        elif isinstance(fps, int | float) and math.isfinite(fps) and isinstance(frames, int) and fps > 0:
            seconds = frames / fps
            if seconds > self.max_duration_s + 1e-9:
                most = max(1, (math.floor(self.max_duration_s * fps) - 1) // 8 * 8 + 1)
                out.append(f"{frames} frames at {fps:g} fps is {seconds:.2f} s, above the model's limit of "
                           f"{self.max_duration_s:g} s: use at most {most} frames at this fps")
        return out


def check_within(envelope: ModelEnvelope, request: object) -> None:
    """Raise InvalidRequestError when `request` (a GenerationRequest) is outside `envelope`."""
    from model_runtime.errors import InvalidRequestError

    problems = envelope.problems(request.width, request.height, request.frames, request.fps)  # type: ignore[attr-defined]
    if problems:
        raise InvalidRequestError("; ".join(problems))


def seed_problem(seed: object) -> str | None:
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed <= SEED_MAX:
        return f"seed {seed!r} must be a whole number from 0 to {SEED_MAX} (2^64 - 1)"
    return None


def text_problem(name: str, text: object) -> str | None:
    """A prompt must be text that can be written as UTF-8 (the sidecar, the history, the tokenizer)."""
    if not isinstance(text, str):
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return (f"the {name} is not valid UTF-8 text (undecodable byte at character {exc.start}): "
                "retype it or save the file it came from as UTF-8")
    if "\x00" in text:
        return f"the {name} contains a NUL character: remove it"
    if len(text) > MAX_PROMPT_CHARS:
        return f"the {name} is {len(text)} characters; the limit is {MAX_PROMPT_CHARS} (Gemma reads 1024 tokens)"
    return None


def finite_problem(name: str, value: object) -> str | None:
    """Every float a request carries must be finite (NaN compares false with every bound)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return f"{name} must be a finite number, got {value!r}"
    return None
