"""The app context main() builds once and passes down (no singletons, no service locators)."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from ltx_studio.paths import AppPaths
from ltx_studio.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class AppContext:
    paths: AppPaths
    settings: Settings
    extras: dict = field(default_factory=dict)  # later services (queue, history) attach here at start-up
    notices: list[str] = field(default_factory=list)  # what start-up repaired: shown in a banner and logged

    @classmethod
    def create(cls, paths: AppPaths | None = None) -> AppContext:
        paths = (paths or AppPaths.default()).ensure()
        setup_logging(paths)
        settings, notice = Settings.load_or_heal(paths.settings_file)
        log.info("app context: data=%s config=%s", paths.data, paths.config)
        return cls(paths, settings, notices=[notice] if notice else [])

    def save_settings(self, settings: Settings) -> None:
        settings.save(self.paths.settings_file)
        self.settings = settings


LOG_MAX_BYTES = 2_000_000
LOG_BACKUPS = 5


class SizeRotatingFileHandler(logging.FileHandler):
    """A file log kept to `backups` x `max_bytes`: app.log -> app.log.1 -> ... when it grows past the limit.

    Why not logging.handlers.RotatingFileHandler: importing logging.handlers pulls in socket, pickle and
    queue (~8 ms, a tenth of a bare Qt window's whole start-up) for a feature this app does not use.
    """

    def __init__(self, path: Path, max_bytes: int = LOG_MAX_BYTES, backups: int = LOG_BACKUPS) -> None:
        self.max_bytes, self.backups = max_bytes, backups
        if path.is_file() and path.stat().st_size >= max_bytes:
            self._shift(path)
        super().__init__(path, encoding="utf-8")

    def _shift(self, path: Path) -> None:
        for i in range(self.backups - 1, 0, -1):
            older = path.with_name(f"{path.name}.{i}")
            if older.exists():
                os.replace(older, path.with_name(f"{path.name}.{i + 1}"))
        os.replace(path, path.with_name(f"{path.name}.1"))

    def emit(self, record: logging.LogRecord) -> None:
        super().emit(record)
        if self.stream is not None and self.stream.tell() >= self.max_bytes:
            self.acquire()
            try:
                self.close()  # the next emit reopens a fresh file (FileHandler opens lazily)
                self._shift(Path(self.baseFilename))
            finally:
                self.release()


#: libraries whose INFO records are not for users (e.g. torch's "FakeTensor cache stats" at exit)
QUIET_LIBRARIES = ("torch", "transformers", "diffusers", "accelerate", "PIL", "matplotlib")


def _not_library_chatter(record: logging.LogRecord) -> bool:
    """Keep the app's and the runtime's INFO; from the libraries keep only warnings and errors."""
    return record.levelno >= logging.WARNING or not record.name.startswith(QUIET_LIBRARIES)


def setup_logging(paths: AppPaths, level: int = logging.INFO) -> None:
    """Size-rotated file log in the platform log dir (5 x 2 MB) plus warnings on stderr."""
    root = logging.getLogger()
    if any(getattr(h, "_ltx_studio", False) for h in root.handlers):
        return
    fh = SizeRotatingFileHandler(paths.log_file)
    fh.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(threadName)s %(name)s: %(message)s"))
    fh._ltx_studio = True  # type: ignore[attr-defined]
    fh.addFilter(_not_library_chatter)
    root.addHandler(fh)
    root.setLevel(level)
