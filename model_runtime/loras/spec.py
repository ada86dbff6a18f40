"""What a request says about a LoRA, as plain data (torch-free: the app's GUI thread builds and stores it).

A strength must be a finite number in [-2, 2]: beyond that LoRAs only produce noise, and a typo such as
`:07` instead of `:0.7` would otherwise run a whole job.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from model_runtime.errors import LoraError

STRENGTH_RANGE = (-2.0, 2.0)


def check_strength(strength: float, what: str = "LoRA") -> float:
    lo, hi = STRENGTH_RANGE
    if isinstance(strength, bool) or not isinstance(strength, int | float) or not math.isfinite(strength):
        raise LoraError(f"{what} strength must be a number in [{lo:g}, {hi:g}], got {strength!r}")
    if not lo <= strength <= hi:
        raise LoraError(f"{what} strength {strength:g} is outside [{lo:g}, {hi:g}]")
    return float(strength)


@dataclass(frozen=True)
class LoraSpec:
    """One LoRA of a request: its .safetensors file, its strength in [-2, 2] and, for a re-run, the sha256
    the file had when it was chosen (the job refuses a file that changed since; None accepts the file as
    it is and the result records its sha256)."""

    path: Path
    strength: float = 1.0
    sha256: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))

    @classmethod
    def parse(cls, text: str) -> LoraSpec:
        """`PATH[:STRENGTH]` (the CLI's --lora); a trailing `:number` is the strength, default 1.0."""
        path, sep, tail = text.rpartition(":")
        if sep and path:
            try:
                return cls(Path(path), float(tail))
            except ValueError:
                pass
        return cls(Path(text))

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "strength": self.strength, "sha256": self.sha256}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LoraSpec:
        """From a request's or a result's settings entry (which also carry name, modules, ...)."""
        return cls(Path(d["path"]), float(d.get("strength", 1.0)), d.get("sha256"))
