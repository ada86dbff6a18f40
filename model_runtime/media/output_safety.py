"""What every output writer does so that writing a result can never harm what the user already had.

* A lock per output path (`output_lock`): two writers of one path (two jobs, the CLI and the app) are
  serialised, so an MP4 and its sidecar always come from the same job. The second writer waits up to
  `LOCK_WAIT_S`, then fails with a sentence saying who holds the path. The lock is an advisory
  `flock` on a file in a private per-user folder under the system temp dir, named by a hash of the
  resolved output path: nothing appears in the user's folder, and the kernel drops the lock when a
  writer dies, even by kill -9.
* Leftovers (`sweep_partials`): temporary files are hidden siblings `.<name>.<random>.partial<ext>`
  (same folder, so the final rename is atomic). A writer killed by SIGKILL cannot remove its own; the
  next writer into that folder removes every such file whose target is not locked by a live writer.
* Model folders (`refuse_model_folder`): an output inside a Hugging Face model folder (config.json with
  weights or a tokenizer beside it, at any depth above the output) is refused, before any work.
* File mode (`apply_umask`): temporary files are created 0600 by `mkstemp`; the finished file gets the
  mode a normal `open()` would have given it (0666 minus the umask), not a private 0600.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from model_runtime.errors import MediaError

log = logging.getLogger(__name__)

LOCK_WAIT_S = 60.0
_POLL_S = 0.05
PARTIAL_MARK = ".partial"
#: `.<target name>.<8 random chars from mkstemp>.partial[<ext>]`
_PARTIAL = re.compile(r"^\.(?P<name>.+)\.[A-Za-z0-9_]{8}\.partial(\.[A-Za-z0-9]+)?$")
_MODEL_MARKERS = ("model.safetensors", "model.safetensors.index.json", "tokenizer.json", "tokenizer.model")


def _lock_dir() -> Path:
    uid = os.getuid() if hasattr(os, "getuid") else os.getlogin()
    folder = Path(tempfile.gettempdir()) / f"ltx-studio-locks-{uid}"
    folder.mkdir(mode=0o700, exist_ok=True)
    return folder


def _lock_file(path: Path) -> Path:
    key = hashlib.sha256(str(path.resolve()).encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return _lock_dir() / f"{key}.lock"


def _try_lock(fd: int) -> bool:
    try:
        import fcntl

        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except ImportError:  # Windows
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            return False
    except BlockingIOError:
        return False


@contextlib.contextmanager
def output_lock(path: str | Path, wait_s: float | None = None) -> Iterator[None]:
    """Hold the exclusive write lock of `path`; wait up to `wait_s` (default `LOCK_WAIT_S`) for another
    writer, then MediaError."""
    path = Path(path)
    wait_s = LOCK_WAIT_S if wait_s is None else wait_s
    try:
        fd = os.open(_lock_file(path), os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise MediaError(f"{path}: cannot take the output lock in {tempfile.gettempdir()} ({exc.strerror or exc}): "
                         "check that the temporary folder is writable") from None
    try:
        deadline = time.monotonic() + wait_s
        announced = False
        while not _try_lock(fd):
            if time.monotonic() >= deadline:
                raise MediaError(f"{path}: another job is writing this file right now; wait for it to finish "
                                 "or choose another name")
            if not announced:
                log.warning("%s: another writer holds it; waiting up to %.0f s", path, wait_s)
                announced = True
            time.sleep(_POLL_S)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def is_locked(path: Path) -> bool:
    """True when a live writer holds `path`'s lock (a probe: takes and drops it when free)."""
    lock = _lock_file(path)
    try:
        fd = os.open(lock, os.O_RDWR)
    except OSError:  # no lock file: nobody ever locked it
        return False
    try:
        return not _try_lock(fd)
    finally:
        os.close(fd)


def sweep_partials(folder: Path) -> int:
    """Remove temporary files left in `folder` by writers that died; returns how many were removed."""
    removed = 0
    try:
        entries = list(folder.iterdir())
    except OSError:
        return 0
    for entry in entries:
        m = _PARTIAL.match(entry.name)
        if m is None or not entry.is_file() or is_locked(folder / m.group("name")):
            continue
        try:
            entry.unlink()
            removed += 1
        except OSError:
            continue
    if removed:
        log.info("removed %d temporary file(s) left in %s by an interrupted write", removed, folder)
    return removed


def refuse_model_folder(path: Path) -> None:
    """MediaError when `path` would land inside a model folder (a Hugging Face folder holding config.json
    and weights or a tokenizer): writing there can replace a model file and break the model."""
    for folder in Path(os.path.abspath(path)).parents:
        if (folder / "config.json").is_file() and any((folder / m).exists() for m in _MODEL_MARKERS):
            raise MediaError(f"{path}: refusing to write inside the model folder {folder}: "
                             "choose an output folder outside your model files")


def _umask() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)  # no /proc: read it the portable way (and put it straight back)
    os.umask(mask)
    return mask


def apply_umask(path: Path) -> None:
    """Give a mkstemp file (0600) the mode a normal open() would: 0666 minus the umask."""
    with contextlib.suppress(OSError):
        os.chmod(path, 0o666 & ~_umask())
