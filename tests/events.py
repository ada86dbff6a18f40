"""Drive a runtime generator in tests: `Runtime.generate` yields events and returns the result."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any


def drain(gen: Generator[Any, None, Any]) -> tuple[list[Any], Any]:
    """All events a generation yields, and the result it returns (StopIteration.value)."""
    events: list[Any] = []
    while True:
        try:
            events.append(next(gen))
        except StopIteration as stop:
            return events, stop.value
