"""One job object per generation: its spec (what to make) and its life (state, signals, cancel, timing).

`JobSpec` is plain data (JSON round-trip) so the queue can persist it and re-queue it after a restart
or from the history. `GenerationJob` lives on the GUI thread; the worker thread reports to it through
queued signals and the only thing the two threads share is the cancel token (a thread-safe flag).
Signal order of one job: stateChanged("running"), started, progress..., preview..., then exactly one
of finished / failed / cancelled (and stateChanged with the final state).
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Protocol

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QImage

from model_runtime.api import CancelToken, ProgressEvent, RequestSpec, Stage

MAX_SEED = 2**31 - 1


def random_seed() -> int:
    return random.SystemRandom().randint(0, MAX_SEED)


@dataclass(frozen=True)
class JobSpec:
    """A job: the runtime's request (already snapped: its size and frames are what the model makes, its
    sampler fields only the user's overrides), the format the user chose, and the draft it promotes."""

    request: RequestSpec
    aspect: str = "16:9"
    tier: str = "Draft"
    seconds: float = 5.0
    parent_id: int | None = None       # the draft a render promotes

    @property
    def kind(self) -> Stage:
        return self.request.stage

    def to_dict(self) -> dict:
        return {"request": self.request.to_dict(), "aspect": self.aspect, "tier": self.tier,
                "seconds": self.seconds, "parent_id": self.parent_id}

    @classmethod
    def from_dict(cls, d: dict) -> JobSpec:
        """Read a stored job; a row written before the request was nested (flat, `kind` for the stage)
        is read too, so an old history re-queues."""
        if "request" not in d:
            flat = dict(d, stage=d.get("kind", "draft"), negative_prompt=d.get("negative_prompt") or None)
            d = {"request": flat, **{k: d[k] for k in ("aspect", "tier", "seconds", "parent_id") if k in d}}
        fmt = {k: d[k] for k in ("aspect", "tier", "seconds", "parent_id") if k in d}
        return cls(RequestSpec.from_dict(d["request"]), **fmt)

    @classmethod
    def from_request(cls, r: RequestSpec, parent_id: int | None = None) -> JobSpec:
        """A job for a request read back from a clip (`api.read_request`: made by the app or the CLI)."""
        return cls(r, tier="Draft" if r.stage == Stage.DRAFT else "720p", seconds=r.frames / r.fps,
                   parent_id=parent_id)

    def summary(self) -> str:
        r = self.request
        return f"{r.stage} · {r.width}×{r.height} · {r.frames / r.fps:.1f} s · seed {r.seed}"


@dataclass(frozen=True)
class JobOutput:
    video: Path
    thumbnail: Path
    latents: Path | None
    settings: dict


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"  # set by `JobStore.recover` after a crash, never by a live job


#: the only state changes a live job can make (a final state is final)
TRANSITIONS: dict[JobState, frozenset[JobState]] = {
    JobState.QUEUED: frozenset({JobState.RUNNING, JobState.CANCELLED}),
    JobState.RUNNING: frozenset({JobState.DONE, JobState.FAILED, JobState.CANCELLED}),
}


class IllegalTransition(RuntimeError):  # noqa: N818 - reads as what happened
    """A job was asked to change state in a way its life does not allow (a bug, never user input)."""


class JobStateStore(Protocol):
    """What a job needs of the history database to persist its state (`store.JobStore`)."""

    def set_state(self, job_id: int, state: str, message: str = "") -> None: ...

    def finish(self, job_id: int, video: Path, thumbnail: Path, latents: Path | None, settings: dict,
               message: str = "") -> None: ...


class GenerationJob(QObject):
    """One generation's life: queued -> running -> done | failed | cancelled (| interrupted after a crash)."""

    stateChanged = Signal(str)
    started = Signal()
    progress = Signal(object)       # api.ProgressEvent
    preview = Signal(QImage)
    finished = Signal(object)       # JobOutput
    failed = Signal(str)            # a message the user can act on
    cancelled = Signal(str)         # why (the user, superseded)
    notice = Signal(str)            # something to tell the user while the job goes on (an OOM retry)

    def __init__(self, job_id: int, spec: JobSpec, store: JobStateStore, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.id = job_id
        self.spec = spec
        self._store = store
        self.state = JobState.QUEUED
        self.token = CancelToken()
        self.message = ""
        self.last_progress: ProgressEvent | None = None
        self.output: JobOutput | None = None
        self.started_at: float | None = None
        self.ended_at: float | None = None

    @property
    def is_active(self) -> bool:
        return self.state in (JobState.QUEUED, JobState.RUNNING)

    def elapsed(self) -> float:
        if self.started_at is None:
            return 0.0
        return (self.ended_at or time.monotonic()) - self.started_at

    def cancel(self, reason: str = "cancelled by the user") -> None:
        """Ask to stop. A running job stops at its next step (the queue reports `cancelled`)."""
        if self.is_active:
            self.token.cancel(reason)

    # --- transitions, driven by the queue (GUI thread) -------------------------------------------------
    def transition(self, to: JobState, message: str = "", output: JobOutput | None = None) -> None:
        """The one place a job changes state: refuse an illegal change, persist it, then tell the UI.

        Done is persisted with its outputs (`store.finish` checks they are on disk); a result that cannot
        be recorded turns the job into a failure instead, with the reason.
        """
        if to not in TRANSITIONS.get(self.state, frozenset()):
            raise IllegalTransition(f"job {self.id}: {self.state} -> {to} is not a legal transition")
        if to == JobState.DONE:
            assert output is not None, "a done job has outputs"
            try:
                self._store.finish(self.id, output.video, output.thumbnail, output.latents, output.settings)
            except (OSError, ValueError) as exc:
                to, message, output = JobState.FAILED, f"could not record the result: {exc}", None
                self._store.set_state(self.id, str(to), message)
        else:
            self._store.set_state(self.id, str(to), message)
        now = time.monotonic()
        if to == JobState.RUNNING:
            self.started_at = now
        else:
            self.ended_at, self.message, self.output = now, message, output
        self.state = to
        self.stateChanged.emit(str(to))
        match to:
            case JobState.RUNNING:
                self.started.emit()
            case JobState.DONE:
                self.finished.emit(output)
            case JobState.FAILED:
                self.failed.emit(message)
            case JobState.CANCELLED:
                self.cancelled.emit(message)

    def report_progress(self, p: ProgressEvent) -> None:
        self.last_progress = p
        self.progress.emit(p)
