"""Find model files the user already has and use them in place: never copy tens of gigabytes.

Sources: the Hugging Face cache (through huggingface_hub's own `scan_cache_dir`, whose blobs are named
by their sha256 so they verify offline), ComfyUI `models/` trees, LTX-Desktop's models folder, and any
folder the user names. A file matches a catalogue item by its repository file name, or by its exact
size when the catalogue knows it; a folder matches the text-encoder item when its config says Gemma-3.
Adopting records the path in the models folder's manifest ("point"), or hard-links it into the models
folder when both are on one filesystem ("link"); the original is never moved, changed or deleted.
"""

from __future__ import annotations

import json
import logging
import os
import platform
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from model_runtime.hub.catalogue import Catalogue, CatalogueItem
from model_runtime.hub.store import FileRecord, InstalledItem, ModelStore

log = logging.getLogger(__name__)

MAX_DEPTH = 5
#: LTX-Desktop keeps models in <app data>/models (or $LTX_MODELS_DIR); its Electron app-data folder name
#: is the product name, spelled one of these ways depending on the release
LTX_DESKTOP_NAMES = ("LTX Desktop", "LTX-Desktop", "ltx-desktop")


@dataclass(frozen=True)
class Found:
    item_id: str
    path: str  # file, or folder for a folder item
    source: str  # "hf-cache", "comfyui", "ltx-desktop", "folder"
    size: int
    sha256: str = ""  # known without hashing (HF cache blob name = LFS oid), else ""
    files: tuple[tuple[str, int], ...] = ()  # (relative path, size) of a folder item's files


def _walk(root: Path, depth: int = 0) -> Iterator[Path]:
    try:
        entries = sorted(root.iterdir())
    except OSError:
        return
    for p in entries:
        if p.name.startswith("."):
            continue
        yield p
        if p.is_dir() and not p.is_symlink() and depth < MAX_DEPTH:
            yield from _walk(p, depth + 1)


def _gemma_folder(folder: Path) -> bool:
    try:
        cfg = json.loads((folder / "config.json").read_text("utf-8"))
    except (OSError, ValueError):
        return False
    has_tok = any((folder / n).is_file() for n in ("tokenizer.json", "tokenizer.model"))
    return str(cfg.get("model_type", "")).startswith("gemma3") and has_tok and any(folder.glob("*.safetensors"))


def _folder_found(item: CatalogueItem, folder: Path, source: str) -> Found:
    files = tuple((p.name, p.stat().st_size) for p in sorted(folder.iterdir())
                  if p.is_file() and item.selects(p.name))
    return Found(item.id, str(folder), source, sum(s for _, s in files), files=files)


def _match_file(catalogue: Catalogue, p: Path) -> CatalogueItem | None:
    try:
        size = p.stat().st_size
    except OSError:
        return None
    for item in catalogue.items:
        if item.is_folder:
            continue
        if p.name == Path(item.files[0]).name or (item.size_bytes and size == item.size_bytes):
            return item
    return None


def scan_folder(catalogue: Catalogue, root: str | Path, source: str = "folder") -> list[Found]:
    """Catalogue items found under `root` (file names, sizes, Gemma configs; headers are not read)."""
    found: dict[str, Found] = {}
    text_items = [it for it in catalogue.items if it.is_folder]
    for p in _walk(Path(root).expanduser()):
        if p.is_dir():
            if text_items and text_items[0].id not in found and _gemma_folder(p):
                found[text_items[0].id] = _folder_found(text_items[0], p, source)
        elif p.suffix == ".safetensors":
            item = _match_file(catalogue, p)
            if item and item.id not in found:
                found[item.id] = Found(item.id, str(p), source, p.stat().st_size)
    return list(found.values())


def scan_hf_cache(catalogue: Catalogue, cache_dir: str | Path | None = None) -> list[Found]:
    """Catalogue items already in the Hugging Face cache, read with the hub's own cache scanner."""
    from huggingface_hub import scan_cache_dir
    from huggingface_hub.errors import CacheNotFound

    try:
        info = scan_cache_dir(cache_dir)
    except CacheNotFound:
        return []
    found: list[Found] = []
    for repo in info.repos:
        for item in catalogue.items:
            if item.repo != repo.repo_id:
                continue
            for rev in sorted(repo.revisions, key=lambda r: r.last_modified, reverse=True):
                names = {str(f.file_path.relative_to(rev.snapshot_path)): f for f in rev.files}
                if item.is_folder:
                    picked = {n: f for n, f in names.items() if item.selects(n)}
                    if picked and _gemma_folder(rev.snapshot_path):
                        found.append(Found(item.id, str(rev.snapshot_path), "hf-cache",
                                           sum(f.size_on_disk for f in picked.values()),
                                           files=tuple((n, f.size_on_disk) for n, f in sorted(picked.items()))))
                        break
                elif item.files[0] in names:
                    f = names[item.files[0]]
                    blob = f.blob_path.name
                    found.append(Found(item.id, str(f.file_path), "hf-cache", f.size_on_disk,
                                       sha256=blob if len(blob) == 64 else ""))
                    break
    return found


def ltx_desktop_dirs() -> list[Path]:
    dirs = [Path(os.environ["LTX_MODELS_DIR"])] if os.environ.get("LTX_MODELS_DIR") else []
    bases = [Path(platformdirs.user_config_dir()), Path(platformdirs.user_data_dir())]
    if platform.system() == "Darwin":
        bases.append(Path.home() / "Library" / "Application Support")
    dirs += [b / name / "models" for b in bases for name in LTX_DESKTOP_NAMES]
    return [d for d in dict.fromkeys(dirs) if d.is_dir()]


def comfyui_dirs() -> list[Path]:
    """Common ComfyUI install places (the portable build, a git clone in home, ComfyUI Desktop)."""
    home = Path.home()
    cands = [home / "ComfyUI" / "models", home / "comfy" / "ComfyUI" / "models",
             home / "Documents" / "ComfyUI" / "models", home / "ComfyUI_windows_portable" / "ComfyUI" / "models"]
    return [c for c in cands if c.is_dir()]


def scan_everywhere(catalogue: Catalogue, extra: list[str | Path] = ()) -> list[Found]:
    """Every known place, plus the user's folders; the first find of each item wins (HF cache first)."""
    results = scan_hf_cache(catalogue)
    for d in comfyui_dirs():
        results += scan_folder(catalogue, d, "comfyui")
    for d in ltx_desktop_dirs():
        results += scan_folder(catalogue, d, "ltx-desktop")
    for d in extra:
        results += scan_folder(catalogue, d, "folder")
    seen: dict[str, Found] = {}
    for f in results:
        seen.setdefault(f.item_id, f)
    return list(seen.values())


def adopt(found: Found, catalogue: Catalogue, store: ModelStore, link: bool = False) -> InstalledItem:
    """Record `found` in the models folder's manifest, pointing at it (or hard-linking it into place)."""
    item = catalogue.get(found.item_id)
    path = Path(found.path)
    if link and not item.is_folder:
        target = store.root / item.local_name
        store.root.mkdir(parents=True, exist_ok=True)
        try:
            if not target.exists():
                os.link(path.resolve(), target)
            path = target
        except OSError as exc:  # another filesystem, or links not allowed: point instead
            log.info("hard link %s -> %s failed (%s): pointing in place", path, target, exc)
    if item.is_folder:
        records = {rel: _record(path / rel) for rel, _ in found.files}
    else:
        records = {"": _record(path, found.sha256)}
    installed = InstalledItem(item.id, str(path), f"adopted:{found.source}", records)
    store.put(installed)
    return installed


def _record(p: Path, sha256: str = "") -> FileRecord:
    st = p.stat()
    # an HF-cache blob name is the hub's LFS oid: a claim to check, stored apart from a verified hash
    return FileRecord(st.st_size, st.st_mtime_ns, "", "", expected_sha256=sha256)
