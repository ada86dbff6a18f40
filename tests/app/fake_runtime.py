"""A hand-written fake of the runtime protocol (tests only): real request/event/result types, no model.

It yields a loading-free sequence per stage (progress + a preview every step), honours the cancel token
between steps exactly like the real sampler, and returns a tiny but real GenerationResult (frames, stereo
48 kHz sound, stage-1 latents for drafts) so the worker writes real MP4s, thumbnails and latents.
"""

from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass
class FakeRuntime:
    steps: int = 4
    step_s: float = 0.02
    fail_with: BaseException | None = None
    requests: list | None = None
    notice: str | None = None  # a NoticeEvent first, like the real runtime's out-of-memory retry

    def generate(self, request, cancel=None, on_video=None):
        import torch

        from model_runtime.pipelines.types import (
            GenerationResult,
            NoticeEvent,
            PreviewEvent,
            ProgressEvent,
            StageLatents,
        )

        if self.requests is not None:
            self.requests.append(request)
        if self.notice is not None:
            yield NoticeEvent(self.notice)
        started = time.monotonic()
        stages = ["stage1"] if request.stage == "draft" and request.draft_latents is None else ["stage2"]
        if request.stage == "render" and request.draft_latents is None:
            stages = ["stage1", "stage2"]
        for stage in stages:
            for step in range(1, self.steps + 1):
                if cancel is not None:
                    cancel.raise_if_cancelled()
                time.sleep(self.step_s)
                if self.fail_with is not None:
                    raise self.fail_with
                el = time.monotonic() - started
                yield ProgressEvent(stage, step, self.steps, el, el / step * (self.steps - step))
                yield PreviewEvent(stage, step, torch.full((2, 4, 6, 3), (40 * step) % 256, dtype=torch.uint8))
        g = torch.Generator().manual_seed(request.seed)
        h, w = min(request.height, 64), min(request.width, 64)
        frames = (torch.rand(request.frames, h, w, 3, generator=g) * 255).to(torch.uint8)
        if on_video is not None:  # as the real runtime: the frames before the audio
            on_video(frames)
        n = round(request.frames / request.fps * 48000)
        wave = torch.sin(torch.arange(n) / 48000 * 440 * 6.283).repeat(2, 1) * 0.2
        lat = StageLatents(torch.zeros(1, 128, 1, 2, 3), torch.zeros(1, 8, 2, 16))
        loras = [{"name": x.path.name, "path": str(x.path), "strength": x.strength, "sha256": x.sha256 or "f" * 64}
                 for x in getattr(request, "loras", ())]  # provenance as the real runtime reports it
        return GenerationResult(frames, wave, request.fps, 48000, {"stage1": lat},
                                {"prompt": request.prompt, "seed": request.seed, "stage": request.stage,
                                 "loras": loras})


    def predict_duration(self, prompt, fps, bounds=None):
        """LTX-2.5 "Auto" duration, faked: a quarter second per word, snapped as the runtime snaps it."""
        from model_runtime.models.duration_head import DurationBounds, DurationPrediction, seconds_to_frames

        if self.requests is not None:
            self.requests.append(("predict_duration", prompt, fps))
        seconds = 0.25 * len(prompt.split())
        return DurationPrediction(seconds, seconds_to_frames(seconds, fps, bounds or DurationBounds()), fps)


class FakeFactory:
    """RuntimeFactory for tests: counts opens (the model must stay loaded between jobs)."""

    def __init__(self, **kw) -> None:
        self.kw = kw
        self.opened = 0
        self.requests: list = []

    def __call__(self, choice, cache_dir):
        self.opened += 1
        return FakeRuntime(requests=self.requests, **self.kw)
