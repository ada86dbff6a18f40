"""One row per catalogue item for the Models page and `ltx-studio-cli models list`: what it is for, how
big, whether it is recommended for this machine, and its state (verified, adopted, partial, missing)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from model_runtime.hub.catalogue import Catalogue, CatalogueItem
from model_runtime.hub.recommend import Recommendation
from model_runtime.hub.store import InstalledItem, ModelStore


@dataclass(frozen=True)
class ItemRow:
    item: CatalogueItem
    state: str  # "verified", "adopted (not verified yet)", "changed since verified", "partial", "missing"
    path: str
    source: str
    recommended: bool
    partial_bytes: int = 0

    @property
    def ready(self) -> bool:
        return self.state in ("verified", "adopted (not verified yet)")

    @property
    def size_label(self) -> str:
        return f"{self.item.size_bytes / 1e9:.1f} GB" if self.item.size_bytes else "size from the hub"


def _partial_bytes(store: ModelStore, item: CatalogueItem) -> int:
    """Bytes of an interrupted download of this item waiting in .partial/ (matched by their sidecar)."""
    import json

    total = 0
    for meta in store.partial_dir.glob("*.json") if store.partial_dir.is_dir() else ():
        try:
            info = json.loads(meta.read_text("utf-8"))
        except (OSError, ValueError):
            continue
        part = meta.with_suffix(".part")
        if info.get("repo") == item.repo and item.selects(info.get("path", "")) and part.is_file():
            total += part.stat().st_size
    return total


def _state(inst: InstalledItem | None, partial: int) -> str:
    if inst is None:
        return "partial" if partial else "missing"
    if inst.verified:
        return "verified"
    if not inst.unchanged():
        return "changed since verified" if all(Path(inst.file_path(r)).exists() for r in inst.files) else "missing"
    return "adopted (not verified yet)" if inst.adopted else "changed since verified"


def overview(catalogue: Catalogue, store: ModelStore, recommendation: Recommendation | None = None) -> list[ItemRow]:
    installed = store.load()
    wanted = {it.id for it in recommendation.items} if recommendation else set()
    rows = []
    for item in catalogue.items:
        inst = installed.get(item.id)
        partial = _partial_bytes(store, item)
        rows.append(ItemRow(item, _state(inst, partial), inst.path if inst else "", inst.source if inst else "",
                            item.id in wanted, partial))
    return rows


def ready_paths(rows: list[ItemRow]) -> dict[str, str]:
    """Role -> path of the first ready item per role (checkpoint, upscaler, text_encoder), recommended first."""
    out: dict[str, str] = {}
    for row in sorted(rows, key=lambda r: not r.recommended):
        if row.ready and row.item.runtime_loads:
            out.setdefault(row.item.role, row.path)
    return out
