"""User settings (model locations, defaults) as a typed dataclass persisted to JSON atomically.

QSettings is kept for UI state only (window geometry); everything the runtime needs lives here so the
CLI and tests can read it without Qt.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Settings:
    checkpoint: str = ""          # ltx-2.3-22b-*.safetensors
    upsampler: str = ""           # ltx-2.3 spatial upscaler x2
    text_encoder: str = ""        # Gemma-3-12B Hugging Face folder
    use_demo_model: bool = True   # no real weights configured: the built-in random tiny model
    output_dir: str = ""          # empty: the data dir's outputs folder
    default_fps: float = 24.0
    lora_folder: str = ""         # the LoRA library's folder
    distilled_lora: str = ""      # ltx-2.3 distilled LoRA: the dev render's stage 2 refines with it

    def with_changes(self, **changes) -> Settings:
        return replace(self, **changes)

    @classmethod
    def load(cls, path: Path) -> Settings:
        """Read settings; a missing or unreadable file gives defaults (logged), never a crash."""
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return cls()
        except (OSError, ValueError) as exc:
            log.warning("settings file %s unreadable (%s): using defaults", path, exc)
            return cls()
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in raw.items() if k in known})

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
