"""Model setup: find the LTX-2.3 checkpoint, upsampler and Gemma folder, and say what is there and what is missing.

Header-only inspection (model_runtime.checkpoints, no torch), so the Settings → Models page answers
instantly even for 46 GB files. A folder is searched a few levels deep, which covers a ComfyUI `models/`
tree (checkpoints/, latent_upscale_models/, text_encoders/).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import model_runtime.api as api

log = logging.getLogger(__name__)

PURPOSE = {
    "checkpoint": "the LTX-2.3 model itself (transformer, video/audio VAEs, vocoder): nothing generates without it",
    "upsampler": "the x2 spatial latent upscaler: needed to render (promote a draft to 720p/1080p/4K)",
    "text_encoder": "the Gemma-3-12B folder: turns the prompt into what the model understands",
}
MAX_DEPTH = 4


@dataclass(frozen=True)
class ItemStatus:
    role: str
    path: str
    ok: bool
    message: str

    @property
    def purpose(self) -> str:
        return PURPOSE[self.role]


@dataclass(frozen=True)
class FoundModels:
    checkpoint: str = ""
    upsampler: str = ""
    text_encoder: str = ""


def check_checkpoint(path: str) -> ItemStatus:
    if not path:
        return ItemStatus("checkpoint", "", False, f"missing: {PURPOSE['checkpoint']}")
    try:
        info = api.inspect_checkpoint(path)
    except api.CheckpointError as exc:
        return ItemStatus("checkpoint", path, False, str(exc))
    return ItemStatus("checkpoint", path, True, f"LTX-{info.model_version}, {info.parameter_count / 1e9:.2f} B parameters, "
                      f"components: {', '.join(info.components)}")


def check_upsampler(path: str) -> ItemStatus:
    if not path:
        return ItemStatus("upsampler", "", False, f"missing: {PURPOSE['upsampler']} (drafts still work)")
    try:
        api.inspect_upsampler(path)
    except api.CheckpointError as exc:
        return ItemStatus("upsampler", path, False, str(exc))
    return ItemStatus("upsampler", path, True, "spatial latent upsampler x2")


def check_text_encoder(path: str) -> ItemStatus:
    if not path:
        return ItemStatus("text_encoder", "", False, f"missing: {PURPOSE['text_encoder']}")
    folder = Path(path)
    cfg = folder / "config.json"
    if not cfg.is_file():
        return ItemStatus("text_encoder", path, False, "no config.json: expected the Hugging Face Gemma-3 folder")
    try:
        model_type = json.loads(cfg.read_text("utf-8")).get("model_type", "")
    except (OSError, ValueError) as exc:
        return ItemStatus("text_encoder", path, False, f"config.json unreadable: {exc}")
    if not model_type.startswith("gemma3"):
        return ItemStatus("text_encoder", path, False, f"model_type {model_type!r} is not Gemma-3")
    weights = list(folder.glob("*.safetensors"))
    tok = [n for n in ("tokenizer.json", "tokenizer.model") if (folder / n).is_file()]
    if not weights:
        return ItemStatus("text_encoder", path, False, "no *.safetensors weights in the folder")
    if not tok:
        return ItemStatus("text_encoder", path, False, "no tokenizer.json / tokenizer.model in the folder")
    size = sum(p.stat().st_size for p in weights) / 1e9
    return ItemStatus("text_encoder", path, True, f"Gemma-3 ({model_type}), {len(weights)} weight file(s), {size:.1f} GB")


def check_all(checkpoint: str, upsampler: str, text_encoder: str) -> list[ItemStatus]:
    return [check_checkpoint(checkpoint), check_upsampler(upsampler), check_text_encoder(text_encoder)]


def save_refusal(statuses: list[ItemStatus], use_demo: bool) -> str | None:
    """Why Settings → Models must not save these paths (None: fine to save).

    A path that is set must be the right kind of file (a README as the checkpoint, /tmp as the Gemma
    folder were once saved without a word). Leaving the demo needs at least the checkpoint and Gemma."""
    wrong = [s for s in statuses if s.path and not s.ok]
    if wrong:
        return "; ".join(f"{s.role.replace('_', ' ')} {s.path}: {s.message}" for s in wrong)
    if not use_demo:
        missing = [s.role.replace("_", " ") for s in statuses if not s.ok and s.role != "upsampler"]
        if missing:
            return f"the real model needs the {' and the '.join(missing)}: set them, or keep the demo model on"
    return None


def _walk(root: Path, depth: int = 0):
    try:
        entries = sorted(root.iterdir())
    except OSError:
        return
    for p in entries:
        yield p
        if p.is_dir() and depth < MAX_DEPTH and not p.name.startswith("."):
            yield from _walk(p, depth + 1)


def scan_folder(root: str | Path) -> FoundModels:
    """The first valid checkpoint, upsampler and Gemma folder under `root` (header checks, no loading)."""
    found: dict[str, str] = {}
    for p in _walk(Path(root)):
        if p.is_dir() and "text_encoder" not in found and check_text_encoder(str(p)).ok:
            found["text_encoder"] = str(p)
        elif p.suffix == ".safetensors" and p.is_file():
            if "checkpoint" not in found and check_checkpoint(str(p)).ok:
                found["checkpoint"] = str(p)
            elif "upsampler" not in found and check_upsampler(str(p)).ok:
                found["upsampler"] = str(p)
    log.info("scanned %s: %s", root, found)
    return FoundModels(**found)
