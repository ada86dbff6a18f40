"""UI state kept between runs (QSettings, an INI file in the profile's config folder): window geometry,
splitter sizes, the last format, the theme, whether the welcome card was dismissed, the drafts option.

Why QSettings and not `settings.Settings`: this is how the window looked, not what the runtime needs;
the CLI never reads it, and a lost or corrupt file only costs the layout (Qt ignores bad values).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QByteArray, QSettings

if TYPE_CHECKING:  # the formats module is read after the first paint (start-up builds the frame first)
    from ltx_studio.formats import FormatChoice


class UiState:
    def __init__(self, config_dir: Path) -> None:
        config_dir.mkdir(parents=True, exist_ok=True)
        self._s = QSettings(str(config_dir / "ui-state.ini"), QSettings.Format.IniFormat)

    # --- window ----------------------------------------------------------------------------------------
    def geometry(self) -> QByteArray | None:
        v = self._s.value("window/geometry")
        return v if isinstance(v, QByteArray) and not v.isEmpty() else None

    def splitter(self) -> QByteArray | None:
        v = self._s.value("window/splitter")
        return v if isinstance(v, QByteArray) and not v.isEmpty() else None

    def save_window(self, geometry: QByteArray, splitter: QByteArray) -> None:
        self._s.setValue("window/geometry", geometry)
        self._s.setValue("window/splitter", splitter)

    # --- the last format -------------------------------------------------------------------------------
    def format(self) -> FormatChoice | None:
        from ltx_studio.formats import FormatChoice

        try:
            aspect, tier = str(self._s.value("format/aspect", "")), str(self._s.value("format/tier", ""))
            fps, seconds = float(self._s.value("format/fps", 0)), float(self._s.value("format/seconds", 0))
        except (TypeError, ValueError):
            return None
        return FormatChoice(aspect, tier, fps, seconds) if aspect and tier and fps > 0 and seconds > 0 else None

    def save_format(self, c: FormatChoice) -> None:
        for k, v in (("aspect", c.aspect), ("tier", c.tier), ("fps", c.fps), ("seconds", c.seconds)):
            self._s.setValue(f"format/{k}", v)

    # --- simple values ---------------------------------------------------------------------------------
    def theme(self) -> str:
        return str(self._s.value("ui/theme", "dark"))

    def set_theme(self, scheme: str) -> None:
        self._s.setValue("ui/theme", scheme)

    def welcomed(self) -> bool:
        return str(self._s.value("ui/welcomed", "false")).lower() == "true"

    def set_welcomed(self, done: bool = True) -> None:
        self._s.setValue("ui/welcomed", "true" if done else "false")

    def supersede_drafts(self) -> bool:
        return str(self._s.value("queue/supersede_drafts", "false")).lower() == "true"

    def set_supersede_drafts(self, on: bool) -> None:
        self._s.setValue("queue/supersede_drafts", "true" if on else "false")

    def sync(self) -> None:
        self._s.sync()
