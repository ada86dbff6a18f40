"""The app context main() builds once and passes down (no singletons, no service locators)."""

from __future__ import annotations

import logging
import logging.handlers
from dataclasses import dataclass, field

from ltx_studio.paths import AppPaths
from ltx_studio.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class AppContext:
    paths: AppPaths
    settings: Settings
    extras: dict = field(default_factory=dict)  # later services (queue, history) attach here at start-up

    @classmethod
    def create(cls, paths: AppPaths | None = None) -> AppContext:
        paths = (paths or AppPaths.default()).ensure()
        setup_logging(paths)
        settings = Settings.load(paths.settings_file)
        log.info("app context: data=%s config=%s", paths.data, paths.config)
        return cls(paths, settings)

    def save_settings(self, settings: Settings) -> None:
        settings.save(self.paths.settings_file)
        self.settings = settings


def setup_logging(paths: AppPaths, level: int = logging.INFO) -> None:
    """Rotating file log in the platform log dir (5 x 2 MB) plus warnings on stderr."""
    root = logging.getLogger()
    if any(getattr(h, "_ltx_studio", False) for h in root.handlers):
        return
    fh = logging.handlers.RotatingFileHandler(paths.log_file, maxBytes=2_000_000, backupCount=5, encoding="utf-8")
    fh.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(threadName)s %(name)s: %(message)s"))
    fh._ltx_studio = True  # type: ignore[attr-defined]
    root.addHandler(fh)
    root.setLevel(level)
