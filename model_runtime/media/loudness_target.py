"""The loudness an export normalises to, as plain data (no numpy): listing the export presets
(`ltx-studio-cli presets`, the export dialog) must not pay for the measuring code's imports."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LoudnessTarget:
    """What to normalise to: integrated loudness (LUFS), true-peak ceiling (dBTP), loudness range (LU)."""

    integrated_lufs: float = -14.0
    true_peak_dbtp: float = -1.0
    lra: float = 11.0

    def loudnorm_args(self) -> str:
        return f"I={self.integrated_lufs}:TP={self.true_peak_dbtp}:LRA={self.lra}"
