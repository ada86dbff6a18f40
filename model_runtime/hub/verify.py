"""Check installed files against their checksums before they are used.

A file is hashed only if it changed since its last verification (size or mtime) or `full=True`. The
expected checksum comes from, in order: the catalogue (pinned items), the HF cache's blob name (the
hub's LFS oid), or the hub itself (HEAD / tree listing). A mismatch quarantines a downloaded file; an
adopted file is left exactly where it is (it is the user's) and simply stops being used.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from model_runtime.hub.catalogue import Catalogue
from model_runtime.hub.errors import DownloadError
from model_runtime.hub.remote import RemoteItem, resolve
from model_runtime.hub.store import FileRecord, InstalledItem, ModelStore
from model_runtime.hub.transfer import git_blob_sha1

log = logging.getLogger(__name__)

_CHUNK = 8 * 2**20


@dataclass(frozen=True)
class VerifyResult:
    item_id: str
    ok: bool
    message: str
    hashed_bytes: int = 0


def sha256_file(path: Path, progress: Callable[[int], None] | None = None) -> str:
    h = hashlib.sha256()
    done = 0
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
            done += len(chunk)
            if progress:
                progress(done)
    return h.hexdigest()


def _expected(rel: str, rec: FileRecord, remote: RemoteItem | None, item_sha: str) -> tuple[str, str]:
    """(sha256, git_sha1) this file must have; ("", "") if nothing is known."""
    if rec.verified and not remote:
        return rec.sha256, rec.git_sha1
    if remote:
        for f in remote.files:
            if (f.path if remote.item.is_folder else "") == rel:
                return f.sha256, f.git_sha1
    return (item_sha or rec.expected_sha256 or rec.sha256), rec.git_sha1


def verify_item(installed: InstalledItem, catalogue: Catalogue, store: ModelStore, *, full: bool = False,
                token: str | None = None, endpoint: str | None = None, online: bool = True,
                progress: Callable[[int], None] | None = None) -> VerifyResult:
    item = catalogue.get(installed.item_id)
    missing = [rel or Path(installed.path).name for rel in installed.files
               if not installed.file_path(rel).exists()]
    if missing:
        return VerifyResult(item.id, False, f"missing: {', '.join(missing)} (under {installed.path})")
    if installed.verified and not full:
        return VerifyResult(item.id, True, "verified earlier and unchanged since")
    known = item.sha256 or all(r.expected_sha256 or r.verified for r in installed.files.values())
    remote = None
    if online and (not known or item.is_folder or full):
        try:
            remote = resolve(item, token, endpoint)
        except DownloadError as exc:
            if not known:
                return VerifyResult(item.id, False, f"not verified: {exc}")
    records: dict[str, FileRecord] = {}
    hashed = 0
    for rel, rec in installed.files.items():
        path = installed.file_path(rel)
        want_sha, want_git = _expected(rel, rec, remote, "" if item.is_folder else item.sha256)
        if not want_sha and not want_git:
            return VerifyResult(item.id, False, f"{path}: no checksum known offline; verify with the hub reachable")
        if want_sha:
            got = sha256_file(path, progress)
            ok = got == want_sha
        else:
            got = git_blob_sha1(path.read_bytes())
            ok = got == want_git
        hashed += path.stat().st_size
        if not ok:
            return _reject(installed, store, path, got, want_sha or want_git, hashed)
        st = path.stat()
        records[rel] = FileRecord(st.st_size, st.st_mtime_ns, want_sha, "" if want_sha else want_git)
    store.put(replace(installed, files=records))
    return VerifyResult(item.id, True, f"verified {len(records)} file(s), {hashed / 1e9:.2f} GB hashed", hashed)


def _reject(installed: InstalledItem, store: ModelStore, path: Path, got: str, want: str, hashed: int) -> VerifyResult:
    store.drop(installed.item_id)
    if installed.adopted:
        msg = (f"{path} does not match the hub's checksum ({got[:12]}… ≠ {want[:12]}…): left where it is, "
               "no longer used; download the item instead")
    else:
        store.quarantine_dir.mkdir(parents=True, exist_ok=True)
        bad = store.quarantine_dir / f"{path.name}.{got[:12]}.corrupt"
        os.replace(path, bad)
        msg = f"{path.name} is corrupt ({got[:12]}… ≠ {want[:12]}…): moved to {bad}; download it again"
    log.warning(msg)
    return VerifyResult(installed.item_id, False, msg, hashed)
