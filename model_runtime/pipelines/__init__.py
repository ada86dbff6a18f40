"""Pipelines (policy): which stages run, with which schedule, guidance and noise, for a request.

`run(engine, request, cancel)` picks the pipeline named by `request.pipeline` and returns its event
generator (ProgressEvent / PreviewEvent, returning the GenerationResult).
"""

from __future__ import annotations

import importlib
from collections.abc import Generator

from model_runtime.pipelines.engine import Engine
from model_runtime.pipelines.types import Event, GenerationRequest, GenerationResult
from model_runtime.sampling.control import CancelToken

#: request.pipeline -> module with `run(engine, request, cancel)`
PIPELINE_MODULES = {"distilled": "model_runtime.pipelines.distilled", "dev": "model_runtime.pipelines.dev"}


def run(engine: Engine, request: GenerationRequest, cancel: CancelToken | None = None
        ) -> Generator[Event, None, GenerationResult]:
    module = importlib.import_module(PIPELINE_MODULES[request.pipeline])
    return module.run(engine, request, cancel)


def collect(events: Generator[Event, None, GenerationResult], on_event=None) -> GenerationResult:
    """Drive a pipeline generator to its end (optionally passing each event on) and return its result."""
    while True:
        try:
            event = next(events)
        except StopIteration as stop:
            return stop.value
        if on_event is not None:
            on_event(event)
