"""One honest progress value per job: 0 -> 100 % across every stage, with a whole-job time remaining.

Why: the runtime reports each stage on its own (text 1/1, stage1 3/8, decode 0/2, saving 0/1), and a bar
fed with those restarts at every stage and sits at "0 s left" through the decode and the save. Here a
job's stages get weights (estimated seconds: measured shares by default, the planner's per-stage
seconds when the caller has them); the bar is the weighted sum, and when a stage ends its real
duration rescales the estimates of the stages still to come (they run on the same machine, at the
same size). The value never goes backwards. Plain Python (no Qt): the UI ticks it every second.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field

#: relative seconds per stage, measured as shares of CPU demo and GPU runs (a 5 s clip): sampling dominates,
#: decode and the MP4 write are next. Only ratios matter; the first finished stage calibrates the rest.
DEFAULT_STAGE_SECONDS: Mapping[str, float] = {
    "loading model": 4.0, "text": 2.0, "stage1": 30.0, "upsample": 2.0, "stage2": 24.0, "decode": 10.0,
    "saving": 4.0,
}
STAGE_NAMES: Mapping[str, str] = {
    "loading model": "Loading the model", "text": "Reading the prompt", "stage1": "Generating",
    "upsample": "Upscaling", "stage2": "Refining details", "decode": "Decoding frames and sound",
    "saving": "Saving the clip",
}


def job_stages(stage: str, from_draft: bool) -> tuple[str, ...]:
    """The stages a job goes through, in order (a render from a draft's latents skips stage 1)."""
    if stage == "draft":
        return ("loading model", "text", "stage1", "decode", "saving")
    middle = ("upsample", "stage2") if from_draft else ("stage1", "upsample", "stage2")
    return ("loading model", "text", *middle, "decode", "saving")


def stage_name(stage: str) -> str:
    return STAGE_NAMES.get(stage, stage.replace("_", " ").capitalize())


def format_seconds(s: float | None) -> str:
    if s is None:
        return "—"
    s = max(0, int(round(s)))
    return f"{s // 60}:{s % 60:02d}" if s < 3600 else f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


@dataclass
class JobProgress:
    """Feed it the runtime's (stage, step, total) reports; read `fraction()` and `remaining_s()`."""

    stages: tuple[str, ...]
    estimates: dict[str, float] = field(default_factory=dict)  # seconds per stage (the planner's, if known)
    clock: object = time.monotonic
    started: float = field(init=False)
    current: str | None = field(init=False, default=None)
    stage_started: float = field(init=False, default=0.0)
    stage_fraction: float = field(init=False, default=0.0)
    done: dict[str, float] = field(init=False, default_factory=dict)  # stage -> real seconds
    scale: float = field(init=False, default=1.0)  # real / estimated, from the finished stages
    _last: float = field(init=False, default=0.0)

    def __post_init__(self) -> None:
        self.estimates = {s: float(self.estimates.get(s, DEFAULT_STAGE_SECONDS.get(s, 5.0))) for s in self.stages}
        self.started = self.clock()

    def report(self, stage: str, step: int, total: int) -> None:
        now = self.clock()
        if stage not in self.estimates:  # a stage the plan did not name: give it a small share
            self.stages = (*self.stages[:-1], stage, self.stages[-1])
            self.estimates[stage] = DEFAULT_STAGE_SECONDS.get(stage, 2.0)
        if stage != self.current:
            self._finish_current(now)
            # stages skipped over (e.g. no separate text step) count as done in no time
            if stage in self.stages:
                for s in self.stages[: self.stages.index(stage)]:
                    self.done.setdefault(s, 0.0)
            self.current, self.stage_started = stage, now
        self.stage_fraction = min(1.0, step / total) if total else 0.0

    def _finish_current(self, now: float) -> None:
        if self.current is None or self.current in self.done:
            return
        real = now - self.stage_started
        self.done[self.current] = real
        est = sum(self.estimates[s] for s in self.done if self.done[s] > 0)
        spent = sum(v for v in self.done.values() if v > 0)
        if est > 0 and spent > 0.05:  # calibrate on stages that really ran; a blip says nothing
            self.scale = spent / est

    def _remaining_estimate(self) -> float:
        todo = [s for s in self.stages if s not in self.done and s != self.current]
        return sum(self.estimates[s] for s in todo) * self.scale

    def _current_left(self, now: float) -> float:
        if self.current is None:
            return 0.0
        est = self.estimates[self.current] * self.scale
        ran = now - self.stage_started
        if self.stage_fraction > 0.05:  # the stage's own rate is the best guess once it has moved
            est = ran / self.stage_fraction
        return max(est - ran, 0.0)

    def remaining_s(self, now: float | None = None) -> float:
        now = self.clock() if now is None else now
        return self._current_left(now) + self._remaining_estimate()

    def elapsed_s(self, now: float | None = None) -> float:
        return (self.clock() if now is None else now) - self.started

    def fraction(self, now: float | None = None) -> float:
        """Elapsed / (elapsed + remaining), never lower than a value already shown."""
        now = self.clock() if now is None else now
        elapsed = self.elapsed_s(now)
        total = elapsed + self.remaining_s(now)
        value = min(elapsed / total, 0.99) if total > 0 else 0.0
        self._last = max(self._last, value)
        return self._last
