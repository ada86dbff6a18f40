"""Fit LTX-2.3 on the machine at hand: predict memory per stage, pick a plan, carry it out, recover from OOM.

Planning (pure Python, no torch import):
    layout = ModelLayout.from_checkpoint(path)            # or .from_layout_json(fixture)
    plan = choose_plan(layout, RequestShape(w, h, frames, fps), Machine(vram_gb, ram_gb))
    plan.summary  -> "fp8 + block streaming + chunked FFN, ..., ~9.5 GB VRAM, ~22.0 GB RAM"
    ladder = plan_ladder(layout, request, machine)        # plan, then smaller fallbacks

Executing (torch; imported on first use):
    with apply_plan(transformer, plan, device, budget=None): ...     # fp8 / streaming / FFN chunks / lean
                                                                     # blocks (chunked attention, RoPE per chunk)
    with resident_on(vae_decoder, device): ...                      # the VAE decodes with plan.vae_tile
    result = yield from iter_with_oom_retry(lambda p: job_events(p), ladder, notice=NoticeEvent)
"""

from __future__ import annotations

import importlib

from model_runtime.memory.estimates import LatentShape, TileSpec
from model_runtime.memory.layout import ModelLayout, TextEncoderDims
from model_runtime.memory.plan import (
    Cache,
    Machine,
    MemoryPlan,
    Placement,
    RequestShape,
    StagePrediction,
    Strategy,
    TextPlacement,
    Weights,
)
from model_runtime.memory.planner import candidate_plans, choose_plan, evaluate, plan_ladder

_LAZY = {
    "apply_plan": "model_runtime.memory.apply",
    "non_block_resident": "model_runtime.memory.apply",
    "resident_on": "model_runtime.memory.executors",
    "quantize_fp8_": "model_runtime.memory.executors",
    "chunk_feed_forward": "model_runtime.memory.executors",
    "find_blocks": "model_runtime.memory.executors",
    "VramBudget": "model_runtime.memory.executors",
    "stream_blocks": "model_runtime.memory.streaming",
    "OutOfMemoryJobError": "model_runtime.memory.oom",
    "iter_with_oom_retry": "model_runtime.memory.oom",
    "lean_transformer": "model_runtime.models.lean_block",
    "PeakTracker": "model_runtime.memory.measure",
}

__all__ = [
    "Cache", "LatentShape", "Machine", "MemoryPlan", "ModelLayout", "Placement", "RequestShape",
    "StagePrediction", "Strategy", "TextEncoderDims", "TextPlacement", "TileSpec", "Weights",
    "candidate_plans", "choose_plan", "evaluate", "plan_ladder", *_LAZY,
]


def __getattr__(name: str):
    """Executors import torch; load them only when asked for, so planning stays light."""
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
