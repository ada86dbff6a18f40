"""Pipelines (policy): which stages run, with which schedule, guidance and noise, for a request.

`run(engine, request, cancel)` picks the pipeline named by `request.pipeline` and returns its event
generator (ProgressEvent / PreviewEvent, returning the GenerationResult).
"""

from __future__ import annotations

from collections.abc import Callable, Generator

from model_runtime.pipelines import dev, distilled
from model_runtime.pipelines.engine import Engine
from model_runtime.pipelines.types import Event, GenerationRequest, GenerationResult
from model_runtime.sampling.control import CancelToken
from model_runtime.spec import Pipeline

PipelineRun = Callable[[Engine, GenerationRequest, CancelToken | None], Generator[Event, None, GenerationResult]]

#: request.pipeline -> its `run(engine, request, cancel)`
PIPELINES: dict[Pipeline, PipelineRun] = {Pipeline.DISTILLED: distilled.run, Pipeline.DEV: dev.run}


def run(engine: Engine, request: GenerationRequest, cancel: CancelToken | None = None
        ) -> Generator[Event, None, GenerationResult]:
    return PIPELINES[Pipeline(request.pipeline)](engine, request, cancel)


def collect(events: Generator[Event, None, GenerationResult], on_event=None) -> GenerationResult:
    """Drive a pipeline generator to its end (optionally passing each event on) and return its result."""
    while True:
        try:
            event = next(events)
        except StopIteration as stop:
            return stop.value
        if on_event is not None:
            on_event(event)
