"""The transformer's weights read on a background thread (`model_runtime.prefetch`) while the prompt is
encoded: a planned CPU job starts it, the load assigns its tensors, and the job's frames and sound are
bit for bit those of a job that read the file in the foreground; plans that place weights their own way
never start it, and a prefetch that failed leaves the foreground load to read (and report) the file."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from model_runtime.components import spec
from model_runtime.loading import load_component
from model_runtime.memory.plan import Machine, MemoryPlan, Placement, RequestShape, Strategy, Weights
from model_runtime.pipelines.types import GenerationRequest
from model_runtime.prefetch import WeightPrefetch
from model_runtime.runtime import ModelEngine, ModelPaths, Runtime
from tests.events import drain

REQUEST = GenerationRequest(prompt="a fox in the snow", width=64, height=64, frames=9, fps=24.0, seed=7,
                            previews=False)


@pytest.fixture(scope="module")
def paths(tiny_paths) -> ModelPaths:
    return tiny_paths


def _plan(strategy: Strategy, ram_gb: float = 8) -> MemoryPlan:
    req = RequestShape(REQUEST.width, REQUEST.height, REQUEST.frames, REQUEST.fps, "draft")
    return MemoryPlan(strategy, (), None, req, Machine(0, ram_gb, "cpu"))


RESIDENT = _plan(Strategy(Weights.BF16, Placement.RESIDENT))


def test_a_planned_cpu_job_prefetches_and_gives_the_same_result(paths, monkeypatch):
    started = []
    original = ModelEngine.prefetch_transformer

    def spy(self):
        started.append(original(self))
        return started[-1]

    monkeypatch.setattr(ModelEngine, "prefetch_transformer", spy)
    prefetched = Runtime.open(paths, "cpu", torch.float32, memory=[RESIDENT])
    _, with_prefetch = drain(prefetched.generate(REQUEST))
    assert started == [True]
    assert prefetched.engine._prefetch is None  # handed over to the load
    monkeypatch.setattr(ModelEngine, "prefetch_transformer", lambda self: False)
    _, foreground = drain(Runtime.open(paths, "cpu", torch.float32, memory=[RESIDENT]).generate(REQUEST))
    assert torch.equal(with_prefetch.frames, foreground.frames)
    assert torch.equal(with_prefetch.waveform, foreground.waveform)
    for name in ("stage1",):
        assert torch.equal(with_prefetch.latents[name].video, foreground.latents[name].video)


@pytest.mark.parametrize("strategy", [Strategy(Weights.BF16, Placement.MAPPED), Strategy(Weights.FP8, Placement.RESIDENT),
                                      Strategy(Weights.BF16, Placement.STREAM)])
def test_plans_that_place_weights_their_own_way_or_lack_room_do_not_prefetch(paths, strategy):
    engine = ModelEngine(paths, "cpu", torch.float32, planned=True)
    with engine.memory_plan(_plan(strategy)):
        assert engine.prefetch_transformer() is False
    with engine.memory_plan(_plan(Strategy(Weights.BF16, Placement.RESIDENT), ram_gb=1e-4)):
        assert engine.prefetch_transformer() is False  # no room beside the text encoding
    with engine.memory_plan(RESIDENT):
        assert engine.prefetch_transformer() is True
        assert engine.prefetch_transformer() is False  # one at a time
        engine.release()  # waits for the thread and drops its tensors
        assert engine._prefetch is None


def test_preloaded_tensors_load_exactly_like_the_file(paths):
    files = paths.model_files()
    header, config = files.main.header, files.config_for("transformer")
    prefetch = WeightPrefetch(header, spec("transformer"), torch.float32)
    tensors = prefetch.take()
    assert tensors and all(t.dtype == torch.float32 for t in tensors.values() if t.is_floating_point())
    assert prefetch.take() is None  # handed over once
    a, report_a = load_component(header, spec("transformer"), config, dtype=torch.float32, strict=True,
                                 preloaded=tensors)
    b, report_b = load_component(header, spec("transformer"), config, dtype=torch.float32, strict=True)
    assert report_a == report_b
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_a_failed_prefetch_leaves_the_load_to_the_foreground(paths, tmp_path):
    files = paths.model_files()
    header = files.main.header
    gone = tmp_path / "moved.safetensors"
    broken = WeightPrefetch(replace(header, path=gone), spec("transformer"), torch.float32)
    assert broken.take() is None
