"""LTX Studio desktop app (PySide6)."""

__version__ = "0.1.0"
