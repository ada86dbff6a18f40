"""Cancel token, progress event and step timing: how a caller stops a job and learns how far along it is.

The token is a thread-safe flag the GUI thread sets and the worker thread polls between denoising
steps; polling (rather than interrupting) keeps the model in a consistent state. A cancelled job
raises `GenerationCancelled`, so no code after the check (more steps, the VAE decode) ever runs.

`ProgressEvent` is the one progress report of the runtime (a generation's stages, an export's frames)
and of the app (its job list and progress bar show it as is). Torch-free, so the app's GUI thread can
import it with `model_runtime.api`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any

from model_runtime.errors import GenerationCancelled


class CancelToken:
    """Set from any thread with `cancel()`; the generation checks it with `raise_if_cancelled()`."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._reason = ""

    def cancel(self, reason: str = "cancelled by the user") -> None:
        self._reason = reason
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    @property
    def reason(self) -> str:
        """Why it was cancelled ("" while it is not): forwarded as is to a job on another machine."""
        return self._reason

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise GenerationCancelled(self._reason)


@dataclass(frozen=True)
class ProgressEvent:
    """Where a job is: `stage` names the part running ("text", "stage1", "stage2", "upsample", "decode" for
    a generation; "audio", "video" for an export; the app adds "loading model" and "saving"), `step` of
    `total` of it is done, `elapsed_s` since the job started, `eta_s` left of the stage (None: unknown)."""

    stage: str
    step: int
    total: int
    elapsed_s: float
    eta_s: float | None = None

    @property
    def fraction(self) -> float:
        return self.step / self.total if self.total else 1.0

    def describe(self) -> str:
        eta = f", ~{self.eta_s:.0f} s left" if self.eta_s is not None else ""
        return f"{self.stage} {self.step}/{self.total} · {self.elapsed_s:.1f} s{eta}"


@dataclass
class StepClock:
    """Elapsed time and a linear ETA over the steps of one stage (monotonic clock)."""

    total: int
    started: float = field(default_factory=time.monotonic)

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def eta(self, done: int) -> float | None:
        """Seconds left, extrapolated from the mean step time; None before the first step finished."""
        if done <= 0:
            return None
        return self.elapsed() / done * max(self.total - done, 0)


def drive(gen: Generator[Any, None, Any], on_event: Callable[[Any], None]) -> Any:
    """Run a generation to its end (`Runtime.generate`, `Cluster.run`: events, then a returned result),
    passing each event to `on_event`; return the result."""
    while True:
        try:
            event = next(gen)
        except StopIteration as stop:
            return stop.value
        on_event(event)
