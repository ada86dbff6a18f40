"""Export presets as data: one TOML file per preset in `model_runtime/media/presets/`.

Why data files: adding or tuning a platform (a new size, a new duration limit) is an edit to a TOML
file that a reviewer can read, not a change to the encoder code; the export code only interprets the
fields. The presets are parsed into frozen dataclasses once per call of `list_presets` (cheap: seven
small files), never at import time.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from model_runtime.errors import MediaError
from model_runtime.media.loudness_target import LoudnessTarget

FITS = ("crop", "pad")
_CONTAINER_SUFFIX = {"mp4": ".mp4", "mov": ".mov"}


@dataclass(frozen=True)
class VideoSpec:
    """Video encoder settings; `profile` is the encoder's profile name (x264 "high", prores "hq")."""

    codec: str
    pix_fmt: str
    profile: str | None = None
    crf: int | None = None
    speed: str | None = None          # x264 preset
    gop_max_s: float | None = None    # closed GOP of at most this long (None: the encoder's default)


@dataclass(frozen=True)
class AudioSpec:
    codec: str
    sample_rate: int = 48_000
    channels: int = 2
    bit_rate: int | None = None       # None for PCM


@dataclass(frozen=True)
class ExportPreset:
    """One export target. `width`/`height` None keeps the source size (masters)."""

    name: str
    label: str
    description: str
    container: str
    video: VideoSpec
    audio: AudioSpec
    width: int | None = None
    height: int | None = None
    fit: str = "crop"
    max_duration_s: float | None = None
    loudness: LoudnessTarget | None = None  # None: keep the generated level

    @property
    def suffix(self) -> str:
        return _CONTAINER_SUFFIX[self.container]

    @property
    def portrait(self) -> bool:
        return self.width is not None and self.height is not None and self.height > self.width

    def check_duration(self, seconds: float) -> None:
        """Raise MediaError with what to do when `seconds` is over the platform's limit."""
        if self.max_duration_s is not None and seconds > self.max_duration_s + 1e-6:
            raise MediaError(
                f"{self.label} accepts clips up to {self.max_duration_s:g} s; this one is {seconds:.2f} s. "
                f"Set an out point at {self.max_duration_s:g} s or earlier (or pick another preset).")


def _parse(data: dict, origin: str) -> ExportPreset:
    try:
        video = VideoSpec(**data.pop("video"))
        audio = AudioSpec(**data.pop("audio"))
        loud = data.pop("loudness", None)
        preset = ExportPreset(video=video, audio=audio, loudness=LoudnessTarget(**loud) if loud else None,
                              **data)
    except (KeyError, TypeError) as exc:
        raise MediaError(f"export preset {origin} is malformed: {exc}") from None
    if preset.container not in _CONTAINER_SUFFIX:
        raise MediaError(f"export preset {origin}: unknown container {preset.container!r}")
    if preset.fit not in FITS:
        raise MediaError(f"export preset {origin}: fit must be one of {FITS}, got {preset.fit!r}")
    if (preset.width is None) != (preset.height is None) or any(
            v is not None and (v <= 0 or v % 2) for v in (preset.width, preset.height)):
        raise MediaError(f"export preset {origin}: width and height must both be set, even and positive")
    return preset


def load_preset(path: str | Path) -> ExportPreset:
    """Parse one preset file (also used for user presets kept outside the package)."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise MediaError(f"cannot read export preset {path}: {exc}") from None
    return _parse(data, str(path))


def list_presets(extra_dirs: Iterable[str | Path] = ()) -> tuple[ExportPreset, ...]:
    """The built-in presets (in file-name order), then any `*.toml` in `extra_dirs`; later names win."""
    found: dict[str, ExportPreset] = {}
    builtin = resources.files("model_runtime.media").joinpath("presets")
    for entry in sorted(builtin.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".toml"):
            preset = _parse(tomllib.loads(entry.read_text(encoding="utf-8")), entry.name)
            found[preset.name] = preset
    for folder in extra_dirs:
        for path in sorted(Path(folder).glob("*.toml")):
            preset = load_preset(path)
            found[preset.name] = preset
    return tuple(found.values())


def get_preset(name: str, extra_dirs: Iterable[str | Path] = ()) -> ExportPreset:
    presets = {p.name: p for p in list_presets(extra_dirs)}
    if name not in presets:
        raise MediaError(f"unknown export preset {name!r}; choose one of: {', '.join(sorted(presets))}")
    return presets[name]
