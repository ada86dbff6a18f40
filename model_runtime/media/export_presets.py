"""Export presets as data: one TOML file per preset in `model_runtime/media/presets/`.

Why data files: adding or tuning a platform (a new size, a new duration limit) is an edit to a TOML
file that a reviewer can read, not a change to the encoder code; the export code only interprets the
fields. The presets are parsed into frozen dataclasses once per call of `list_presets` (cheap: seven
small files), never at import time.
"""

from __future__ import annotations

import math
import re
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


#: what a preset may name, per encoder: every string a preset holds is checked against a table before it
#: reaches PyAV or an FFmpeg filter argument (a preset file is user data; `format=...` in a filter graph
#: must never carry text from it). Adding an encoder is an edit here, with the review that deserves.
VIDEO_CODECS = {
    "libx264": {"pix_fmts": ("yuv420p",), "profiles": ("baseline", "main", "high")},
    "prores_ks": {"pix_fmts": ("yuv422p10le", "yuv444p10le"), "profiles": ("proxy", "lt", "standard", "hq", "4444")},
}
AUDIO_CODECS = ("aac", "pcm_s16le", "pcm_s24le")
X264_SPEEDS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")
SAMPLE_RATES = (44_100, 48_000)
_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,47}")
_TEXT_MAX = 200
_FIX = "fix the file or remove it from the preset folder"


class _Fields:
    """Typed reads of one TOML table; each wrong value is a MediaError naming the file, key and range."""

    def __init__(self, data: object, origin: str, table: str = "") -> None:
        if not isinstance(data, dict):
            raise MediaError(f"export preset {origin}: [{table}] must be a table; {_FIX}")
        self.data, self.origin, self.table = dict(data), origin, table

    def _bad(self, key: str, want: str) -> MediaError:
        where = f"{self.table}.{key}" if self.table else key
        return MediaError(f"export preset {self.origin}: {where} = {self.data.get(key)!r} is invalid, "
                          f"expected {want}; {_FIX}")

    def text(self, key: str, choices: tuple[str, ...] | None = None, default: str | None = None,
             pattern: re.Pattern | None = None, *, required: bool = False) -> str | None:
        value = self.data.get(key, default)
        if value is None and not required:
            return None
        ok = isinstance(value, str) and len(value) <= _TEXT_MAX and value.isprintable()
        if ok and choices is not None:
            ok = value in choices
        if ok and pattern is not None:
            ok = pattern.fullmatch(value) is not None
        if not ok:
            want = f"one of {', '.join(choices)}" if choices else "a short name (a-z, 0-9, _ and -)" if pattern \
                else f"printable text of at most {_TEXT_MAX} characters"
            raise self._bad(key, want)
        return value

    def number(self, key: str, lo: float, hi: float, *, integer: bool = False, required: bool = False,
               default: float | None = None) -> float | int | None:
        value = self.data.get(key, default)
        if value is None and not required:
            return None
        types = (int,) if integer else (int, float)
        if isinstance(value, bool) or not isinstance(value, types) or not math.isfinite(value) \
                or not lo <= value <= hi:
            raise self._bad(key, f"{'a whole number' if integer else 'a number'} from {lo:g} to {hi:g}")
        return value

    def done(self, known: tuple[str, ...]) -> None:
        unknown = sorted(set(self.data) - set(known))
        if unknown:
            where = f" in [{self.table}]" if self.table else ""
            raise MediaError(f"export preset {self.origin}: unknown key(s) {', '.join(unknown)}{where}; {_FIX}")


def _video(data: object, origin: str) -> VideoSpec:
    f = _Fields(data, origin, "video")
    codec = f.text("codec", tuple(VIDEO_CODECS), required=True)
    table = VIDEO_CODECS[codec]
    spec = VideoSpec(codec=codec, pix_fmt=f.text("pix_fmt", table["pix_fmts"], required=True),
                     profile=f.text("profile", table["profiles"]),
                     crf=f.number("crf", 0, 51, integer=True), speed=f.text("speed", X264_SPEEDS),
                     gop_max_s=f.number("gop_max_s", 0.04, 10))
    f.done(("codec", "pix_fmt", "profile", "crf", "speed", "gop_max_s"))
    return spec


def _audio(data: object, origin: str) -> AudioSpec:
    f = _Fields(data, origin, "audio")
    codec = f.text("codec", AUDIO_CODECS, required=True)
    rate = f.number("sample_rate", 44_100, 48_000, integer=True, default=48_000)
    if rate not in SAMPLE_RATES:
        raise f._bad("sample_rate", f"one of {', '.join(map(str, SAMPLE_RATES))}")
    spec = AudioSpec(codec=codec, sample_rate=rate, channels=f.number("channels", 2, 2, integer=True, default=2),
                     bit_rate=f.number("bit_rate", 32_000, 512_000, integer=True))
    f.done(("codec", "sample_rate", "channels", "bit_rate"))
    return spec


def _loudness(data: object, origin: str) -> LoudnessTarget:
    f = _Fields(data, origin, "loudness")
    target = LoudnessTarget(integrated_lufs=f.number("integrated_lufs", -70, -5, required=True),
                            true_peak_dbtp=f.number("true_peak_dbtp", -9, 0, required=True),
                            lra=f.number("lra", 1, 50, required=True))
    f.done(("integrated_lufs", "true_peak_dbtp", "lra"))
    return target


def _parse(data: dict, origin: str) -> ExportPreset:
    """Validate every field of a preset (types, ranges, allowed names) before it is used."""
    f = _Fields(data, origin)
    video, audio = _video(f.data.get("video"), origin), _audio(f.data.get("audio"), origin)
    loud = f.data.get("loudness")
    preset = ExportPreset(
        name=f.text("name", pattern=_NAME, required=True), label=f.text("label", required=True), description=f.text("description", default=""),
        container=f.text("container", tuple(_CONTAINER_SUFFIX), required=True), video=video, audio=audio,
        width=f.number("width", 16, 7680, integer=True), height=f.number("height", 16, 7680, integer=True),
        fit=f.text("fit", FITS, default="crop"), max_duration_s=f.number("max_duration_s", 0.1, 36_000),
        loudness=None if loud is None else _loudness(loud, origin))
    f.done(("name", "label", "description", "container", "video", "audio", "width", "height", "fit",
            "max_duration_s", "loudness"))
    if (preset.width is None) != (preset.height is None) or any(
            v is not None and v % 2 for v in (preset.width, preset.height)):
        raise MediaError(f"export preset {origin}: width and height must both be set, even and positive; {_FIX}")
    if preset.container == "mp4" and (video.codec != "libx264" or audio.codec != "aac"):
        raise MediaError(f"export preset {origin}: an mp4 preset takes libx264 video and aac sound; {_FIX}")
    return preset


def load_preset(path: str | Path) -> ExportPreset:
    """Parse one preset file (also used for user presets kept outside the package)."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, RecursionError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        raise MediaError(f"cannot read export preset {path} ({reason}); {_FIX}") from None
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
        if not Path(folder).is_dir():
            raise MediaError(f"preset folder {folder} does not exist: check the path given to --preset-dir")
        for path in sorted(Path(folder).glob("*.toml")):
            preset = load_preset(path)
            found[preset.name] = preset
    return tuple(found.values())


def get_preset(name: str, extra_dirs: Iterable[str | Path] = ()) -> ExportPreset:
    presets = {p.name: p for p in list_presets(extra_dirs)}
    if name not in presets:
        raise MediaError(f"unknown export preset {name!r}; choose one of: {', '.join(sorted(presets))}")
    return presets[name]
