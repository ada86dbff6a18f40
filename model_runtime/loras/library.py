"""A LoRA library: every LoRA file in a folder with what the library page and `ltx-studio-cli loras` show.

Headers only (name, declared family, rank, modules, size, key convention), plus, given the checkpoint, a
full check of each file against it (the same `read_lora` a job runs), so the user sees before queuing a
job which files fit the loaded model and, for the others, the one-line reason. Weight files that are not
safetensors are listed with the reason they are never opened.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from model_runtime.errors import LoraError
from model_runtime.loras.files import LoraInfo, LoraTargets, inspect_lora, read_lora

log = logging.getLogger(__name__)

#: suffixes of weight files people put next to their LoRAs (listed, never opened unless safetensors)
WEIGHT_SUFFIXES = (".safetensors", ".pt", ".pth", ".ckpt", ".bin")


@dataclass(frozen=True)
class LibraryEntry:
    path: Path
    info: LoraInfo | None  # None when the header could not be read
    problem: str | None  # why it cannot be used (with this model, when a checkpoint was given); None = fits
    sha256: str | None = None  # computed for files that were fully checked

    @property
    def usable(self) -> bool:
        return self.problem is None


def scan_folder(folder: str | Path, targets: LoraTargets | None = None) -> list[LibraryEntry]:
    """Every weight file under `folder` (recursively), sorted by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise LoraError(f"{folder}: not a folder (expected the folder that holds your LoRA files)")
    entries = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in WEIGHT_SUFFIXES):
        try:
            info = inspect_lora(path)
        except LoraError as exc:
            entries.append(LibraryEntry(path, None, str(exc)))
            continue
        if targets is None:
            entries.append(LibraryEntry(path, info, None))
            continue
        try:
            lora = read_lora(path, targets)
        except LoraError as exc:
            entries.append(LibraryEntry(path, info, str(exc)))
        else:
            entries.append(LibraryEntry(path, info, None, lora.sha256))
    log.info("LoRA library %s: %d files, %d usable", folder, len(entries), sum(e.usable for e in entries))
    return entries


def format_size(nbytes: int) -> str:
    """'40.0 kB', '1.2 GB': file sizes as the library shows them."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if nbytes >= scale:
            return f"{nbytes / scale:.1f} {unit}"
    return f"{nbytes} B"
