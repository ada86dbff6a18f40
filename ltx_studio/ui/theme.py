"""The studio's look: Qt's Fusion style, one palette per scheme (dark by default, light), one stylesheet.

Why Fusion + a palette and not a theme library: Fusion ships with Qt (no dependency, nothing to keep in
step with PySide6 6.12), draws every widget from the palette, and keeps Qt's own size hints, so the
layout measured by the screenshot tests is the layout users get. qt-material restyles every widget
through a large generated stylesheet (plus jinja2), which changes size hints and fights per-widget
styles; pyqtdarktheme is unmaintained since 2022 and its forks lag Qt releases. The stylesheet here
only adds what a palette cannot say: rounded controls, the accent on the primary action, calm panels.

The scheme is UI state (QSettings "ui/theme"): "dark" (default), "light", or "system" (follows the OS
colour scheme, and changes with it while the app runs).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QIcon, QPalette
from PySide6.QtWidgets import QApplication

SCHEMES = ("dark", "light", "system")
DEFAULT_SCHEME = "dark"


@dataclass(frozen=True)
class Colours:
    """The few colours everything is drawn from."""

    window: str
    panel: str
    base: str
    text: str
    muted: str
    accent: str
    border: str
    error: str
    video: str  # behind the picture: always dark, whatever the scheme


DARK = Colours(window="#25262b", panel="#2c2e34", base="#1f2025", text="#e6e6ea", muted="#9a9ca5",
               accent="#7c5cff", border="#3a3d45", error="#ff6b6b", video="#101114")
LIGHT = Colours(window="#f3f3f5", panel="#ffffff", base="#ffffff", text="#1d1e22", muted="#6b6e78",
                accent="#5b3df5", border="#d5d7de", error="#c62828", video="#101114")

STYLESHEET = """
QGroupBox {{ border: 1px solid {border}; border-radius: 8px; margin-top: 14px; padding: 8px 6px 6px 6px;
            background: {panel}; }}
QGroupBox::title {{ subcontrol-origin: margin; left: 10px; padding: 0 4px; color: {muted}; }}
QPushButton, QToolButton {{ border: 1px solid {border}; border-radius: 6px; padding: 4px 10px;
                            background: {panel}; }}
QPushButton:hover, QToolButton:hover {{ border-color: {accent}; }}
QPushButton:disabled, QToolButton:disabled {{ color: {muted}; }}
QPushButton:checked, QToolButton:checked {{ background: {border}; }}
QPushButton#draftButton, QPushButton#primaryButton {{ background: {accent}; color: white; border: none;
                                                       font-weight: 600; padding: 6px 14px; }}
QProgressBar {{ border: 1px solid {border}; border-radius: 5px; background: {base}; text-align: center;
                min-height: 14px; }}
QProgressBar::chunk {{ background: {accent}; border-radius: 4px; }}
QLabel#emptyState {{ color: {muted}; padding: 18px; }}
QLabel#stageLabel, QLabel#timeLabel, QLabel#etaLabel {{ color: {muted}; }}
QFrame#welcomeCard {{ border: 1px solid {accent}; border-radius: 10px; background: {panel}; }}
QFrame#draftCard {{ border: 1px solid {border}; border-radius: 8px; background: {panel}; }}
QLabel#player, QLabel#livePreview {{ background: {video}; color: {muted}; }}
QListWidget {{ border: 1px solid {border}; border-radius: 6px; background: {base}; }}
QTabWidget::pane {{ border: 1px solid {border}; border-radius: 6px; }}
"""


def resolve(scheme: str) -> str:
    """"dark" or "light" for a stored scheme ("system" asks the OS; an unknown value is the default)."""
    if scheme == "system":
        hints = QGuiApplication.styleHints()
        return "light" if hints.colorScheme() == Qt.ColorScheme.Light else "dark"
    return scheme if scheme in ("dark", "light") else DEFAULT_SCHEME


def colours(scheme: str) -> Colours:
    return LIGHT if resolve(scheme) == "light" else DARK


def palette(c: Colours) -> QPalette:
    p = QPalette()
    role = QPalette.ColorRole
    for r, value in ((role.Window, c.window), (role.WindowText, c.text), (role.Base, c.base),
                     (role.AlternateBase, c.panel), (role.Text, c.text), (role.Button, c.panel),
                     (role.ButtonText, c.text), (role.ToolTipBase, c.panel), (role.ToolTipText, c.text),
                     (role.Highlight, c.accent), (role.HighlightedText, "#ffffff"), (role.Link, c.accent),
                     (role.PlaceholderText, c.muted), (role.Mid, c.border), (role.Midlight, c.border),
                     (role.Dark, c.base), (role.Shadow, "#000000"), (role.BrightText, c.error)):
        p.setColor(r, QColor(value))
    for r in (role.Text, role.WindowText, role.ButtonText):
        p.setColor(QPalette.ColorGroup.Disabled, r, QColor(c.muted))
    return p


def app_icon() -> QIcon:
    """The app icon (ltx_studio/resources/ltx-studio.svg, shipped as package data)."""
    path = resources.files("ltx_studio").joinpath("resources", "ltx-studio.svg")
    return QIcon(str(path))


def apply_theme(app: QApplication, scheme: str = DEFAULT_SCHEME) -> Colours:
    """Fusion + the scheme's palette + the stylesheet, application-wide (dialogs and pages included)."""
    c = colours(scheme)
    app.setStyle("Fusion")
    app.setPalette(palette(c))
    app.setStyleSheet(STYLESHEET.format(**c.__dict__))
    app.setWindowIcon(app_icon())
    app.setProperty("ltxScheme", resolve(scheme))
    return c


def current_colours() -> Colours:
    """The colours in use (widgets that draw themselves, e.g. an error label, ask here)."""
    app = QApplication.instance()
    scheme = app.property("ltxScheme") if app is not None else None
    return LIGHT if scheme == "light" else DARK


def follow_system(app: QApplication, scheme_getter) -> None:
    """Re-apply when the OS colour scheme changes and the user chose "system" (connected once per app;
    the latest window's getter is the one asked)."""
    follow_system.getter = scheme_getter  # type: ignore[attr-defined]
    if app.property("ltxFollowsSystem"):
        return
    app.setProperty("ltxFollowsSystem", True)

    def changed(_scheme) -> None:
        if follow_system.getter() == "system":  # type: ignore[attr-defined]
            apply_theme(app, "system")

    QGuiApplication.styleHints().colorSchemeChanged.connect(changed)
