"""Pipelines (policy): which stages run, with which schedule, guidance and noise, for a request.

`run(engine, request, cancel)` picks the pipeline named by `request.pipeline` and returns its event
generator (ProgressEvent / PreviewEvent, returning the GenerationResult).
"""

from __future__ import annotations

from collections.abc import Callable, Generator

from model_runtime.pipelines import dev, distilled
from model_runtime.pipelines.engine import Engine
from model_runtime.pipelines.types import Event, GenerationRequest, GenerationResult, VideoSink
from model_runtime.sampling.control import CancelToken
from model_runtime.spec import Pipeline

PipelineRun = Callable[[Engine, GenerationRequest, CancelToken | None], Generator[Event, None, GenerationResult]]

#: request.pipeline -> its `run(engine, request, cancel)`
PIPELINES: dict[Pipeline, PipelineRun] = {Pipeline.DISTILLED: distilled.run, Pipeline.DEV: dev.run}


def run(engine: Engine, request: GenerationRequest, cancel: CancelToken | None = None,
        on_video: VideoSink | None = None) -> Generator[Event, None, GenerationResult]:
    """A retake or an extension runs on its source clip (`pipelines.retake`, distilled or dev sampling);
    everything else (images at frames, a soundtrack included) runs the pipeline `request.pipeline` names."""
    cond = request.conditioning
    if cond is not None and (cond.retake is not None or cond.extend is not None):
        from model_runtime.pipelines import retake

        return (retake.run_retake if cond.retake is not None else retake.run_extend)(engine, request, cancel, on_video)
    return PIPELINES[Pipeline(request.pipeline)](engine, request, cancel, on_video)


def collect(events: Generator[Event, None, GenerationResult], on_event=None) -> GenerationResult:
    """Drive a pipeline generator to its end (optionally passing each event on) and return its result."""
    while True:
        try:
            event = next(events)
        except StopIteration as stop:
            return stop.value
        if on_event is not None:
            on_event(event)
