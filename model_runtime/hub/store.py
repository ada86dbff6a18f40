"""The models folder and its manifest: which catalogue item lives where, and which bytes were verified.

`<models>/ltx-models.json` records, per catalogue item, its path (inside the folder when downloaded, or
anywhere on disk when adopted in place) and each file's size, mtime and checksum at verification. A file
whose size and mtime are unchanged is not hashed again; anything else is re-verified before use.
Written to a temp file and renamed, so a crash never leaves half a manifest.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import platformdirs

log = logging.getLogger(__name__)

MANIFEST = "ltx-models.json"
PARTIAL_DIR = ".partial"
QUARANTINE_DIR = ".quarantine"


def default_models_dir() -> Path:
    """Where downloads go unless the user chooses a folder (platformdirs: ~/.local/share/ltx-studio/models...)."""
    return Path(platformdirs.user_data_dir("ltx-studio", appauthor=False)) / "models"


@dataclass(frozen=True)
class FileRecord:
    size: int
    mtime_ns: int
    sha256: str = ""  # verified: the content's sha256 matched the hub's LFS oid (or the catalogue's)
    git_sha1: str = ""  # verified: a small non-LFS file's git blob id matched the hub's
    expected_sha256: str = ""  # claimed but not yet checked (an HF-cache blob name, say)

    @property
    def verified(self) -> bool:
        return bool(self.sha256 or self.git_sha1)

    def matches(self, path: Path) -> bool:
        try:
            st = path.stat()
        except OSError:
            return False
        return st.st_size == self.size and st.st_mtime_ns == self.mtime_ns


@dataclass(frozen=True)
class InstalledItem:
    item_id: str
    path: str  # the file, or the folder for a folder item
    source: str  # "download" or "adopted:<where>"
    files: dict[str, FileRecord] = field(default_factory=dict)  # relative to `path` for folders, "" for a file

    def to_json(self) -> dict:
        return {"path": self.path, "source": self.source, "files": {k: asdict(v) for k, v in self.files.items()}}

    @classmethod
    def from_json(cls, item_id: str, raw: dict) -> InstalledItem:
        return cls(item_id, raw["path"], raw["source"], {k: FileRecord(**v) for k, v in raw.get("files", {}).items()})

    def file_path(self, rel: str) -> Path:
        return Path(self.path) / rel if rel else Path(self.path)

    def unchanged(self) -> bool:
        """Every recorded file is still there with the size and mtime it had when recorded."""
        return bool(self.files) and all(rec.matches(self.file_path(rel)) for rel, rec in self.files.items())

    @property
    def verified(self) -> bool:
        """Every file's checksum was checked against the hub's (or the catalogue's) and nothing changed since."""
        return self.unchanged() and all(rec.verified for rec in self.files.values())

    @property
    def adopted(self) -> bool:
        return self.source.startswith("adopted:")


def record_for(path: Path, sha256: str = "", git_sha1: str = "") -> FileRecord:
    st = path.stat()
    return FileRecord(st.st_size, st.st_mtime_ns, sha256, git_sha1)


class ModelStore:
    """The manifest of one models folder. Not thread-safe: one download job or CLI command at a time."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser()

    @property
    def manifest_path(self) -> Path:
        return self.root / MANIFEST

    @property
    def partial_dir(self) -> Path:
        return self.root / PARTIAL_DIR

    @property
    def quarantine_dir(self) -> Path:
        return self.root / QUARANTINE_DIR

    def load(self) -> dict[str, InstalledItem]:
        try:
            raw = json.loads(self.manifest_path.read_text("utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            log.warning("manifest %s unreadable (%s): starting from an empty one", self.manifest_path, exc)
            return {}
        return {k: InstalledItem.from_json(k, v) for k, v in raw.get("items", {}).items()}

    def get(self, item_id: str) -> InstalledItem | None:
        return self.load().get(item_id)

    def _save(self, items: dict[str, InstalledItem]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        data = {"schema": 1, "items": {k: v.to_json() for k, v in sorted(items.items())}}
        fd, tmp = tempfile.mkstemp(prefix=".manifest-", dir=self.root)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(data, f, indent=2)
            os.replace(tmp, self.manifest_path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def put(self, installed: InstalledItem) -> None:
        items = self.load()
        items[installed.item_id] = installed
        self._save(items)

    def drop(self, item_id: str) -> InstalledItem | None:
        items = self.load()
        gone = items.pop(item_id, None)
        if gone is not None:
            self._save(items)
        return gone
