"""Download catalogue items into a models folder: resumable, verified, pausable, with honest progress.

Bytes move through huggingface_hub's `http_get` (its retries, Range resume and error mapping), into a
sink of ours that hashes while writing, reports speed/ETA and raises on pause or cancel. Each file is
written to `<models>/.partial/<oid>.part`; after a crash, a kill -9 or a lost connection the next run
re-hashes the bytes already on disk (local reads, no network) and asks the server only for the rest.
A finished file is renamed into place only if its sha256 (or git blob id) matches the hub's; otherwise
it is moved to `.quarantine/` and the error says so. Free space and writability are checked first.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from model_runtime.hub.catalogue import CatalogueItem
from model_runtime.hub.errors import (
    DiskSpaceError,
    DownloadCancelled,
    DownloadError,
    DownloadPaused,
    FolderNotWritableError,
    VerificationError,
)
from model_runtime.hub.remote import RemoteFile, RemoteItem, resolve
from model_runtime.hub.store import InstalledItem, ModelStore, record_for

log = logging.getLogger(__name__)

#: free space kept beyond the download itself (filesystem metadata, the manifest, the OS)
SPACE_MARGIN_BYTES = 64 * 2**20
_HASH_CHUNK = 8 * 2**20
PROGRESS_INTERVAL_S = 0.25


class FileState(StrEnum):
    QUEUED = "queued"
    CHECKING = "checking partial"
    DOWNLOADING = "downloading"
    VERIFYING = "verifying"
    DONE = "done"
    PAUSED = "paused"
    CANCELLED = "cancelled"
    FAILED = "failed"
    QUARANTINED = "quarantined"


@dataclass(frozen=True)
class FileProgress:
    item_id: str
    path: str
    state: FileState
    done_bytes: int
    total_bytes: int
    speed_bps: float = 0.0
    eta_s: float | None = None
    message: str = ""


ProgressFn = Callable[[FileProgress], None]


class DownloadControl:
    """Pause and cancel, set from any thread (UI, signal handler); checked on every chunk written."""

    def __init__(self) -> None:
        self._pause = threading.Event()
        self._cancel = threading.Event()

    def pause(self) -> None:
        self._pause.set()

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def stopping(self) -> bool:
        """A pause or cancel was asked for (the transfer stops at its next chunk)."""
        return self._pause.is_set() or self._cancel.is_set()

    def check(self) -> None:
        if self._cancel.is_set():
            raise DownloadCancelled("download cancelled: partial files deleted")
        if self._pause.is_set():
            raise DownloadPaused("download paused: the bytes so far are kept, resume to continue")


def git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()  # noqa: S324 - git's id, not security


class _Sink:
    """The file object http_get writes into: appends, hashes, reports progress, honours pause/cancel."""

    def __init__(self, f, done: int, total: int, report: Callable[[int, float, float | None], None],
                 control: DownloadControl) -> None:
        self._f, self._done, self._total, self._report, self._control = f, done, total, report, control
        self.hasher = hashlib.sha256()
        self._t0, self._b0 = time.monotonic(), done
        self._last = 0.0
        self._speed = 0.0

    def rehash_existing(self) -> None:
        self._f.seek(0)
        while chunk := self._f.read(_HASH_CHUNK):
            self.hasher.update(chunk)
        self._f.seek(0, os.SEEK_END)

    def write(self, chunk: bytes) -> int:
        """Keep the chunk (it has arrived), then honour a pause or cancel asked for meanwhile."""
        n = self._f.write(chunk)
        self.hasher.update(chunk)
        self._done += n
        now = time.monotonic()
        if now - self._last >= PROGRESS_INTERVAL_S:
            window = now - self._t0
            if window > 0.5:
                self._speed = (self._done - self._b0) / window
            eta = (self._total - self._done) / self._speed if self._speed > 0 else None
            self._report(self._done, self._speed, eta)
            self._last = now
        self._control.check()
        return n

    def tell(self) -> int:
        return self._f.tell()

    def seek(self, pos: int, whence: int = 0) -> int:
        return self._f.seek(pos, whence)

    def truncate(self, size: int | None = None) -> int:
        """http_get truncates when a server ignored our Range: the hash restarts from what is left."""
        n = self._f.truncate(size)
        self._f.flush()
        self.hasher = hashlib.sha256()
        self._done = self._f.seek(0, os.SEEK_END)
        self.rehash_existing()
        return n

    @property
    def speed(self) -> float:
        return self._speed


class _Silent:
    """A do-nothing progress bar for http_get: progress is reported by the sink, never by tqdm."""

    def __init__(self, **_kwargs) -> None:
        pass

    def __enter__(self) -> _Silent:
        return self

    def __exit__(self, *_exc) -> bool:
        return False

    def update(self, _n: int = 1) -> None:
        pass


def _existing_parent(path: Path) -> Path:
    for p in (path, *path.parents):
        if p.exists():
            return p
    return path


def check_writable(root: Path) -> None:
    try:
        root.mkdir(parents=True, exist_ok=True)
        probe = root / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise FolderNotWritableError(f"cannot write to the models folder {root} ({exc.strerror}): choose "
                                     "another folder (Settings → Models, or --models-dir)") from None


def check_space(root: Path, needed: int) -> None:
    free = shutil.disk_usage(_existing_parent(root)).free
    if needed + SPACE_MARGIN_BYTES > free:
        raise DiskSpaceError(f"not enough disk space in {root}: the download needs {needed / 1e9:.2f} GB "
                             f"(+{SPACE_MARGIN_BYTES / 2**20:.0f} MiB margin), {free / 1e9:.2f} GB is free; "
                             "free some space or choose another models folder")


class ItemDownload:
    """Downloads one catalogue item into a ModelStore. `run()` returns the installed item or raises."""

    def __init__(self, item: CatalogueItem, store: ModelStore, *, token: str | None = None,
                 control: DownloadControl | None = None, progress: ProgressFn | None = None,
                 remote: RemoteItem | None = None, endpoint: str | None = None) -> None:
        self.item, self.store, self.token, self.endpoint = item, store, token, endpoint
        self.control = control or DownloadControl()
        self._progress = progress or (lambda _p: None)
        self._remote = remote

    def _emit(self, f: RemoteFile, state: FileState, done: int, speed: float = 0.0, eta: float | None = None,
              message: str = "") -> None:
        self._progress(FileProgress(self.item.id, f.path, state, done, f.size, speed, eta, message))

    def dest(self, f: RemoteFile) -> Path:
        base = self.store.root / self.item.local_name
        return base / f.path if self.item.is_folder else base

    def _part(self, f: RemoteFile) -> Path:
        key = f.sha256 or f.git_sha1
        return self.store.partial_dir / f"{key}.part"

    def _partial_bytes(self, f: RemoteFile) -> int:
        part = self._part(f)
        return part.stat().st_size if part.is_file() else 0

    def run(self) -> InstalledItem:
        remote = self._remote or resolve(self.item, self.token, self.endpoint)
        root = self.store.root
        check_writable(root)
        todo = [f for f in remote.files if not self._already_verified(f)]
        check_space(root, sum(max(f.size - self._partial_bytes(f), 0) for f in todo))
        self.store.partial_dir.mkdir(parents=True, exist_ok=True)
        for f in remote.files:
            if f in todo:
                self._download_file(f)
            else:
                self._emit(f, FileState.DONE, f.size, message="already verified")
        base = root / self.item.local_name
        records = {(f.path if self.item.is_folder else ""): record_for(self.dest(f), f.sha256, f.git_sha1)
                   for f in remote.files}
        installed = InstalledItem(self.item.id, str(base), "download", records)
        self.store.put(installed)
        return installed

    def _already_verified(self, f: RemoteFile) -> bool:
        prev = self.store.get(self.item.id)
        if prev is None or prev.source != "download":
            return False
        rec = prev.files.get(f.path if self.item.is_folder else "")
        return bool(rec and rec.matches(self.dest(f)) and (rec.sha256, rec.git_sha1) == (f.sha256, f.git_sha1))

    def _download_file(self, f: RemoteFile) -> None:
        from huggingface_hub.file_download import http_get
        from huggingface_hub.utils import build_hf_headers

        part, meta = self._part(f), self._part(f).with_suffix(".json")
        want = {"repo": self.item.repo, "path": f.path, "size": f.size, "sha256": f.sha256, "git_sha1": f.git_sha1}
        if part.exists() and (not meta.exists() or json.loads(meta.read_text("utf-8")) != want
                              or part.stat().st_size > f.size):
            log.info("discarding a partial %s that belongs to another version", part)
            part.unlink()
        meta.write_text(json.dumps(want), "utf-8")
        with open(part, "a+b") as fh:
            sink = _Sink(fh, fh.seek(0, os.SEEK_END), f.size,
                         lambda done, speed, eta: self._emit(f, FileState.DOWNLOADING, done, speed, eta),
                         self.control)
            resume = fh.tell()
            if resume:
                self._emit(f, FileState.CHECKING, resume, message=f"re-hashing {resume} bytes already here")
                sink.rehash_existing()
            self._emit(f, FileState.DOWNLOADING, resume, message=f"resuming at {resume} bytes" if resume else "")
            try:
                http_get(f.url, sink, resume_size=resume, headers=build_hf_headers(token=self.token),
                         expected_size=f.size, displayed_filename=f.path, tqdm_class=_Silent)
                fh.flush()
                os.fsync(fh.fileno())
            except DownloadPaused:
                fh.flush()
                self._emit(f, FileState.PAUSED, fh.tell(), message="paused")
                raise
            except DownloadCancelled:
                self._emit(f, FileState.CANCELLED, 0, message="cancelled")
                fh.close()
                part.unlink(missing_ok=True)
                meta.unlink(missing_ok=True)
                raise
            except OSError as exc:
                raise self._os_error(f, exc, fh) from None
            except Exception as exc:  # network failures after huggingface_hub's own retries
                fh.flush()
                self._emit(f, FileState.FAILED, fh.tell(), message=str(exc))
                raise DownloadError(f"{f.path}: the transfer stopped ({type(exc).__name__}: {exc}); "
                                    f"{fh.tell()} bytes are kept, run the download again to resume") from None
        self._emit(f, FileState.VERIFYING, f.size)
        self._finish(f, part, meta, sink.hasher.hexdigest())

    def _os_error(self, f: RemoteFile, exc: OSError, fh) -> DownloadError:
        if exc.errno == errno.ENOSPC:
            self._emit(f, FileState.FAILED, 0, message="disk full")
            return DiskSpaceError(f"the disk holding {self.store.root} filled up while writing {f.path}; the "
                                  "bytes so far are kept: free some space and resume")
        if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
            return FolderNotWritableError(f"cannot write {f.path} into {self.store.root} ({exc.strerror})")
        return DownloadError(f"{f.path}: {exc}")

    def _finish(self, f: RemoteFile, part: Path, meta: Path, sha256: str) -> None:
        if f.sha256:
            ok, got, want = sha256 == f.sha256, sha256, f.sha256
        else:
            got, want = git_blob_sha1(part.read_bytes()), f.git_sha1
            ok = got == want
        if not ok:
            self.store.quarantine_dir.mkdir(parents=True, exist_ok=True)
            bad = self.store.quarantine_dir / f"{Path(f.path).name}.{got[:12]}.corrupt"
            os.replace(part, bad)
            meta.unlink(missing_ok=True)
            self._emit(f, FileState.QUARANTINED, f.size, message=f"checksum mismatch, moved to {bad}")
            raise VerificationError(f"{f.path} is corrupt: its checksum {got[:16]}… is not the hub's {want[:16]}…; "
                                    f"it was moved to {bad} and not used. Download it again.")
        dest = self.dest(f)
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(part, dest)
        meta.unlink(missing_ok=True)
        self._emit(f, FileState.DONE, f.size, message="verified")
