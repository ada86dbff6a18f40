"""The model catalogue: what can be downloaded, from where, how big, how to verify it, and who needs it.

The items are data (`catalogue.toml` next to this module) so adding a LoRA or an LTX-2.5 component is a
table edit. Loading validates every field and fails with the item and field named, so a bad edit is
caught by the tests, not by a user halfway through a 46 GB download.
"""

from __future__ import annotations

import fnmatch
import logging
import re
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from model_runtime.errors import RuntimeErrorBase

log = logging.getLogger(__name__)

ROLES = ("checkpoint", "upscaler", "text_encoder", "lora", "component")
WEIGHTS = ("bf16", "fp8")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_COMMIT = re.compile(r"^[0-9a-f]{40}$")
_REPO = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


class CatalogueError(RuntimeErrorBase):
    """The catalogue file is malformed (a field is missing, of the wrong type or out of range)."""


@dataclass(frozen=True)
class CatalogueItem:
    id: str
    role: str
    title: str
    purpose: str
    repo: str
    revision: str
    files: tuple[str, ...]  # exact paths in the repository (empty for a folder item)
    allow: tuple[str, ...]  # glob patterns selecting a folder's files (empty for a file item)
    size_bytes: int  # 0: not known offline, read from the hub at download time
    sha256: str  # "": not known offline, verified against the hub's LFS oid
    weights: str
    variant: str
    gated: bool
    licence: str
    licence_url: str
    runtime_loads: bool
    min_vram_gb: float
    min_ram_gb: float

    @property
    def is_folder(self) -> bool:
        return bool(self.allow)

    @property
    def pinned(self) -> bool:
        """Revision is a commit, so the bytes cannot change under the catalogue's size and sha256."""
        return bool(_COMMIT.match(self.revision))

    @property
    def local_name(self) -> str:
        """Where it lands inside the models folder: the file name, or the repository name for a folder."""
        return self.repo.split("/")[1] if self.is_folder else Path(self.files[0]).name

    def selects(self, repo_path: str) -> bool:
        """Whether a file of the repository belongs to this item."""
        if self.is_folder:
            return "/" not in repo_path and any(fnmatch.fnmatch(repo_path, p) for p in self.allow)
        return repo_path in self.files


@dataclass(frozen=True)
class Catalogue:
    items: tuple[CatalogueItem, ...]

    def get(self, item_id: str) -> CatalogueItem:
        for it in self.items:
            if it.id == item_id:
                return it
        known = ", ".join(it.id for it in self.items)
        raise CatalogueError(f"no catalogue item {item_id!r} (known: {known})")

    def by_role(self, role: str) -> tuple[CatalogueItem, ...]:
        return tuple(it for it in self.items if it.role == role)


def _field(raw: dict, name: str, kind: type | tuple[type, ...], where: str, default=None):
    if name not in raw:
        if default is not None:
            return default
        raise CatalogueError(f"{where}: missing field {name!r}")
    value = raw[name]
    if isinstance(value, bool) and kind in (int, float, (int, float)):
        raise CatalogueError(f"{where}: {name!r} must be a number, not a boolean")
    if not isinstance(value, kind):
        raise CatalogueError(f"{where}: {name!r} must be {getattr(kind, '__name__', kind)}, got {value!r}")
    return value


def _item(raw: dict, index: int) -> CatalogueItem:
    where = f"catalogue item #{index + 1} ({raw.get('id', '?')})"
    files = tuple(_field(raw, "files", list, where, default=[]))
    allow = tuple(_field(raw, "allow", list, where, default=[]))
    if bool(files) == bool(allow):
        raise CatalogueError(f"{where}: give exactly one of 'files' (a file) or 'allow' (a folder)")
    if len(files) > 1:
        raise CatalogueError(f"{where}: one file per item (split it into several items)")
    item = CatalogueItem(
        id=_field(raw, "id", str, where), role=_field(raw, "role", str, where),
        title=_field(raw, "title", str, where), purpose=_field(raw, "purpose", str, where),
        repo=_field(raw, "repo", str, where), revision=_field(raw, "revision", str, where),
        files=files, allow=allow,
        size_bytes=_field(raw, "size_bytes", int, where), sha256=_field(raw, "sha256", str, where).lower(),
        weights=_field(raw, "weights", str, where), variant=_field(raw, "variant", str, where, default=""),
        gated=_field(raw, "gated", bool, where), licence=_field(raw, "licence", str, where),
        licence_url=_field(raw, "licence_url", str, where), runtime_loads=_field(raw, "runtime_loads", bool, where),
        min_vram_gb=float(_field(raw, "min_vram_gb", (int, float), where)),
        min_ram_gb=float(_field(raw, "min_ram_gb", (int, float), where)),
    )
    if item.role not in ROLES:
        raise CatalogueError(f"{where}: role {item.role!r} is not one of {', '.join(ROLES)}")
    if item.weights not in WEIGHTS:
        raise CatalogueError(f"{where}: weights {item.weights!r} is not one of {', '.join(WEIGHTS)}")
    if not _REPO.match(item.repo):
        raise CatalogueError(f"{where}: repo {item.repo!r} is not 'owner/name'")
    if item.sha256 and not _SHA256.match(item.sha256):
        raise CatalogueError(f"{where}: sha256 must be 64 hex digits or empty (verify against the hub)")
    if item.size_bytes < 0 or (item.sha256 and not item.size_bytes):
        raise CatalogueError(f"{where}: a sha256 needs its size_bytes (and sizes are never negative)")
    if item.sha256 and not item.pinned:
        raise CatalogueError(f"{where}: a sha256 needs a pinned revision (a 40-digit commit), not {item.revision!r}")
    if not item.licence_url.startswith("https://"):
        raise CatalogueError(f"{where}: licence_url must be an https:// address")
    return item


def parse_catalogue(text: str, source: str = "catalogue") -> Catalogue:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CatalogueError(f"{source}: not valid TOML: {exc}") from None
    if raw.get("schema") != 1:
        raise CatalogueError(f"{source}: unsupported schema {raw.get('schema')!r} (this version reads 1)")
    items = tuple(_item(it, i) for i, it in enumerate(raw.get("item", [])))
    ids = [it.id for it in items]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise CatalogueError(f"{source}: duplicate item id(s): {', '.join(dupes)}")
    if not items:
        raise CatalogueError(f"{source}: no items")
    return Catalogue(items)


def load_catalogue(path: str | Path | None = None) -> Catalogue:
    """The catalogue shipped with the runtime, or the one at `path` (tests, a user's extension)."""
    if path is None:
        text = resources.files("model_runtime.hub").joinpath("catalogue.toml").read_text("utf-8")
        return parse_catalogue(text, "catalogue.toml")
    try:
        text = Path(path).read_text("utf-8")
    except OSError as exc:
        raise CatalogueError(f"cannot read catalogue {path}: {exc.strerror}") from None
    return parse_catalogue(text, str(path))
