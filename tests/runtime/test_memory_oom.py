"""OOM recovery: free, tell the user, retry once with the next plan down; a second OOM fails cleanly."""

from __future__ import annotations

import weakref

import pytest
import torch

from model_runtime.memory.layout import ModelLayout
from model_runtime.memory.oom import OutOfMemoryJobError, is_oom, iter_with_oom_retry
from model_runtime.memory.plan import Machine, RequestShape
from model_runtime.memory.planner import plan_ladder
from tests.events import drain


@pytest.fixture(scope="module")
def ladder(layout_full):
    layout = ModelLayout.from_layout_json(layout_full)
    return plan_ladder(layout, RequestShape(1920, 1088, 241, 24.0), Machine(24, 64))



def run_with_oom_retry(job, plans, notify=lambda message: None):
    """A plain job through the runtime's one OOM loop (`iter_with_oom_retry`): its notices to `notify`."""
    def events(plan):
        return job(plan)
        yield  # a generator with no events: the job's return value is the result

    notices, result = drain(iter_with_oom_retry(events, plans, notice=lambda message: message))
    for message in notices:
        notify(message)
    return result

def test_retry_once_with_next_plan_and_notify(ladder):
    seen, messages, held = [], [], []

    def job(plan):
        seen.append(plan)
        if len(seen) == 1:
            big = torch.empty(10_000_000)  # what the failed attempt was holding
            held.append(weakref.ref(big))
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        assert held[0]() is None, "the failed attempt's tensors must be freed before the retry"
        return "video"

    assert run_with_oom_retry(job, ladder, notify=messages.append) == "video"
    assert seen == [ladder[0], ladder[1]]
    assert ladder[1].peak_vram_bytes < ladder[0].peak_vram_bytes
    assert len(messages) == 1 and "Retrying once" in messages[0] and ladder[1].strategy.label in messages[0]


def test_second_oom_fails_cleanly_with_numbers(ladder):
    calls = []

    def job(plan):
        calls.append(plan)
        raise RuntimeError("MPS backend out of memory (MPS allocated: 20 GB)")

    with pytest.raises(OutOfMemoryJobError) as info:
        run_with_oom_retry(job, ladder, notify=lambda m: None)
    assert len(calls) == 2  # once, then exactly one retry
    msg = str(info.value)
    assert "24 GB cuda" in msg and "64 GB RAM" in msg
    assert f"{ladder[0].peak_vram_bytes / 1e9:.2f} GB VRAM" in msg
    assert f"{ladder[1].peak_vram_bytes / 1e9:.2f} GB VRAM" in msg
    assert len(info.value.attempts) == 2


def test_other_errors_are_not_retried(ladder):
    calls = []

    def job(plan):
        calls.append(plan)
        raise ValueError("bad prompt")

    with pytest.raises(ValueError, match="bad prompt"):
        run_with_oom_retry(job, ladder)
    assert len(calls) == 1


def test_simulated_budget_oom_recovers_with_streaming(ladder):
    """The real executors under a simulated VRAM budget: the resident plan overflows, the retry streams."""
    from torch import nn

    from model_runtime.memory.apply import apply_plan
    from model_runtime.memory.executors import VramBudget, module_bytes
    from model_runtime.memory.plan import MemoryPlan, Placement, Strategy, Weights

    torch.manual_seed(0)
    model = nn.Sequential()
    model.transformer_blocks = nn.ModuleList(nn.Linear(64, 64) for _ in range(8))
    limit = module_bytes(model) // 2
    req, machine = ladder[0].request, ladder[0].machine
    plans = [MemoryPlan(Strategy(Weights.BF16, p), (), None, req, machine) for p in (Placement.RESIDENT, Placement.STREAM)]
    x = torch.randn(3, 64)

    def job(plan):
        with torch.no_grad(), apply_plan(model, plan, "cpu", budget=VramBudget(limit)):
            h = x
            for blk in model.transformer_blocks:
                h = blk(h)
            return plan.strategy.placement, h

    notes = []
    placement, _ = run_with_oom_retry(job, plans, notify=notes.append)
    assert placement is Placement.STREAM and len(notes) == 1


def test_is_oom():
    assert is_oom(torch.OutOfMemoryError("x"))
    assert is_oom(RuntimeError("CUDA error: out of memory"))
    assert not is_oom(RuntimeError("shape mismatch"))
