"""User settings (model locations, defaults) as a typed dataclass persisted to JSON atomically.

QSettings is kept for UI state only (window geometry); everything the runtime needs lives here so the
CLI and tests can read it without Qt.
"""

from __future__ import annotations

import json
import logging
import math
import os
import tempfile
import time
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

log = logging.getLogger(__name__)

FAMILIES = ("2.3", "2.5")
#: the LTX-2.5 split files' Settings fields -> `ModelPaths` fields (the runtime's names)
SPLIT_FIELDS = {"transformer": "transformer", "text_encoder_file": "text_encoder", "video_vae": "video_vae",
                "video_vae_conv": "video_vae_conv", "audio_vae": "audio_vae", "duration_head": "duration_head",
                "upsampler_25": "upsampler"}


@dataclass(frozen=True)
class Settings:
    checkpoint: str = ""          # ltx-2.3-22b-*.safetensors
    upsampler: str = ""           # ltx-2.3 spatial upscaler x2
    text_encoder: str = ""        # Gemma-3-12B Hugging Face folder
    models_dir: str = ""          # where downloads go (empty: the platform's data dir, model_runtime.hub.store)
    use_demo_model: bool = True   # no real weights configured: the built-in random tiny model
    output_dir: str = ""          # empty: the data dir's outputs folder
    default_fps: float = 24.0
    lora_folder: str = ""         # the LoRA library's folder
    distilled_lora: str = ""      # ltx-2.3 distilled LoRA: the dev render's stage 2 refines with it
    render_backend: str = "local"  # local (this machine), auto (a Ray cluster on it) or ray://host:port
    # LTX-2.5 ships one file per component; both families' paths are kept, `family` says which one runs
    family: str = "2.3"           # "2.3" (the single checkpoint above) or "2.5" (the split files below)
    transformer: str = ""         # diffusion_models/ltx-2.5-*-transformer-*.safetensors
    text_encoder_file: str = ""   # text_encoders/gemma4-12b-with-proj-ltx-2.5-*.safetensors (packed Gemma-4)
    video_vae: str = ""           # vae/ltx-2.5-video-vae-*.safetensors (diffusion decoder: Sharp)
    video_vae_conv: str = ""      # vae/ltx-2.5-video-vae-conv-*.safetensors (conv decoder: Fast)
    audio_vae: str = ""           # vae/ltx-2.5-audio-vae-*.safetensors (audio VAE + vocoder)
    duration_head: str = ""       # model_patches/ltx-2.5-duration-head-*.safetensors ("Auto" duration)
    upsampler_25: str = ""        # latent_upscale_models/ltx-2.5-latent-spatial-upscaler-x2-*.safetensors

    def with_changes(self, **changes) -> Settings:
        return replace(self, **changes)

    @classmethod
    def load(cls, path: Path) -> Settings:
        """Read settings; a missing or damaged file gives defaults (logged), never a crash."""
        return cls.load_or_heal(path)[0]

    @classmethod
    def load_or_heal(cls, path: Path) -> tuple[Settings, str | None]:
        """Settings plus a sentence for the user when something was repaired (None when all was well).

        A file that is not a JSON object is moved aside with a timestamp (kept for the user, never
        deleted) and the app starts from defaults; a single value of the wrong type falls back to its
        default and the rest of the file is kept."""
        try:
            raw = json.loads(path.read_bytes().decode("utf-8"))
        except FileNotFoundError:
            return cls(), None
        except (OSError, ValueError, RecursionError) as exc:
            return cls(), _damaged(path, f"{exc.__class__.__name__}: {exc}")
        if not isinstance(raw, dict):
            return cls(), _damaged(path, f"a JSON {type(raw).__name__}, not an object")
        kept, dropped = {}, []
        for f in fields(cls):
            if f.name not in raw:
                continue
            value, default = raw[f.name], getattr(cls, f.name)
            if type(default) is float and type(value) is int:
                value = float(value)
            ok = type(value) is type(default) and (not isinstance(value, float) or math.isfinite(value))
            if ok and f.name == "default_fps":
                ok = 1.0 <= value <= 60.0
            if ok and f.name == "family":
                ok = value in FAMILIES
            if ok:
                kept[f.name] = value
            else:
                dropped.append(f.name)
        if not dropped:
            return cls(**kept), None
        message = (f"Settings: {', '.join(dropped)} in {path} had an invalid value and went back to the default; "
                   "check them under Settings")
        log.warning(message)
        return cls(**kept), message

    def save(self, path: Path) -> None:
        """Write to a temp file in the same folder, then rename: never a half-written settings file."""
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".settings-", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(asdict(self), fh, indent=2)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def move_aside(path: Path) -> Path:
    """Rename a damaged file to `<name>.damaged-<timestamp>` beside it (kept for the user, never deleted)."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target = path.with_name(f"{path.name}.damaged-{stamp}")
    n = 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}.damaged-{stamp}-{n}")
    os.replace(path, target)
    return target


def _damaged(path: Path, reason: str) -> str:
    try:
        kept = move_aside(path)
    except OSError as exc:
        message = f"Settings file {path} is damaged ({reason}) and could not be moved aside ({exc}): using defaults"
    else:
        message = f"Settings file was damaged ({reason}): moved aside to {kept.name}; starting with default settings"
    log.warning(message)
    return message
