"""The Runtime runs jobs under memory plans: the transformer placed by `apply_plan`, an OOM (here from the
simulated VRAM budget) answered by a NoticeEvent and one retry on the next plan, whose frames equal the
plain path's; a second OOM fails cleanly with the figures and leaves the runtime usable."""

from __future__ import annotations

import pytest
import torch

from model_runtime.memory.executors import VramBudget
from model_runtime.memory.layout import ModelLayout
from model_runtime.memory.oom import OutOfMemoryJobError
from model_runtime.memory.plan import Machine, MemoryPlan, Placement, RequestShape, Strategy, Weights
from model_runtime.pipelines.types import GenerationRequest, GenerationResult, NoticeEvent, ProgressEvent
from model_runtime.runtime import ModelPaths, Runtime
from tests.events import drain

REQUEST = GenerationRequest(prompt="a fox in the snow", width=64, height=64, frames=9, fps=24.0, seed=7,
                            previews=False)


@pytest.fixture(scope="module")
def paths(tiny_dir) -> ModelPaths:
    return ModelPaths(tiny_dir / "checkpoint.safetensors", tiny_dir / "spatial_upscaler_x2.safetensors",
                      tiny_dir / "text_encoder")


@pytest.fixture(scope="module")
def plain(paths) -> GenerationResult:
    return drain(Runtime.open(paths, "cpu", torch.float32).generate(REQUEST))[1]


def _ladder(paths: ModelPaths) -> tuple[tuple[MemoryPlan, ...], int]:
    """Resident (needs the whole transformer) then streaming one block at a time with lean blocks (needs
    the non-block weights and one block); the budget lies between the two, in float32 bytes."""
    layout = ModelLayout.from_checkpoint(paths.checkpoint)
    req, machine = RequestShape(REQUEST.width, REQUEST.height, REQUEST.frames, REQUEST.fps, "draft"), Machine(1, 8, "cpu")
    resident = Strategy(Weights.BF16, Placement.RESIDENT)
    lean = Strategy(Weights.BF16, Placement.STREAM, blocks_in_flight=1, ffn_chunk_tokens=5, attn_chunk_tokens=5)
    plans = tuple(MemoryPlan(s, (), None, req, machine) for s in (resident, lean))
    need_stream = layout.transformer_non_block.bytes_as("fp32") + max(b.bytes_as("fp32") for b in layout.blocks)
    budget = (need_stream + layout.components["transformer"].bytes_as("fp32")) // 2
    assert need_stream < budget < layout.components["transformer"].bytes_as("fp32")
    return plans, budget


def test_oom_falls_back_once_with_a_notice_and_the_same_frames(paths, plain):
    plans, limit = _ladder(paths)
    budget = VramBudget(limit)
    runtime = Runtime.open(paths, "cpu", torch.float32, memory=plans, budget=budget)
    events, result = drain(runtime.generate(REQUEST))
    notices = [e for e in events if isinstance(e, NoticeEvent)]
    assert isinstance(result, GenerationResult)
    assert len(notices) == 1 and "Retrying once" in notices[0].message and "chunked attention" in notices[0].message
    assert any(isinstance(e, ProgressEvent) and e.stage == "stage1" for e in events[events.index(notices[0]):])
    assert budget.used == 0 and 0 < budget.peak <= limit  # weights back in storage; never over the ceiling
    assert all(p.device.type == "cpu" for p in runtime.engine._modules["transformer"].transformer.parameters())
    diff = (result.frames.int() - plain.frames.int()).abs().max().item()
    assert diff <= 1, f"frames differ from the plain path by {diff} levels"
    torch.testing.assert_close(result.waveform, plain.waveform, rtol=1e-4, atol=1e-5)

    budget.limit = 1000  # now nothing fits: fail cleanly, with the numbers, and release the job lock
    events = []
    with pytest.raises(OutOfMemoryJobError) as info:
        for e in runtime.generate(REQUEST):
            events.append(e)
    assert sum(isinstance(e, NoticeEvent) for e in events) == 1
    assert len(info.value.attempts) == 2 and "simulated VRAM budget" in str(info.value)
    assert "GB VRAM" in str(info.value) and budget.used == 0
    budget.limit = limit
    assert isinstance(drain(runtime.generate(REQUEST))[1], GenerationResult)  # usable again


def test_runtime_plans_from_the_checkpoint_header_for_a_machine(paths):
    runtime = Runtime.open(paths, "cpu", torch.float32, memory=Machine(8, 16, "cpu"))
    plans = runtime.plans(REQUEST)
    assert plans and plans[0].fits and plans[0].request.width == REQUEST.width
    assert runtime.engine.loaded() == ()  # planning reads the header only
    assert Runtime.open(paths, "cpu", torch.float32).plans(REQUEST) == ()
