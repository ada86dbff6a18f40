"""Every path the app writes to, from one platformdirs wrapper (no other module computes paths)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

APP_NAME = "LTX Studio"
APP_AUTHOR = "LTXStudio"
HOME_ENV = "LTX_STUDIO_HOME"  # one folder for everything: tests, --self-test and portable installs


@dataclass(frozen=True)
class AppPaths:
    data: Path      # history database, outputs
    config: Path    # settings.json
    cache: Path     # thumbnails, demo model
    log: Path       # rotating log files
    videos: Path | None = None  # where exports go by default: the user's Videos folder (None: under data)

    @property
    def outputs(self) -> Path:
        return self.data / "outputs"

    @property
    def exports(self) -> Path:
        """The export dialog's default folder: "LTX Studio" in the user's Videos folder (platformdirs),
        so exported files are where users look for videos, not in a hidden data folder."""
        return self.data / "exports" if self.videos is None else self.videos / APP_NAME

    @property
    def settings_file(self) -> Path:
        return self.config / "settings.json"

    @property
    def log_file(self) -> Path:
        return self.log / "ltx-studio.log"

    @property
    def database(self) -> Path:
        return self.data / "studio.sqlite3"

    @classmethod
    def for_root(cls, root: Path) -> AppPaths:
        return cls(root / "data", root / "config", root / "cache", root / "log", root / "videos")

    @classmethod
    def default(cls) -> AppPaths:
        """The user's platform folders, or everything under $LTX_STUDIO_HOME when it is set."""
        home = os.environ.get(HOME_ENV)
        if home:
            return cls.for_root(Path(home))
        d = platformdirs.PlatformDirs(APP_NAME, APP_AUTHOR)
        return cls(Path(d.user_data_dir), Path(d.user_config_dir), Path(d.user_cache_dir), Path(d.user_log_dir),
                   Path(platformdirs.user_videos_dir()))

    def ensure(self) -> AppPaths:
        for p in (self.data, self.config, self.cache, self.log, self.outputs):
            p.mkdir(parents=True, exist_ok=True)
        return self
