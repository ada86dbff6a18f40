"""Fit LTX-2.3 on the machine at hand: predict memory per stage, pick a plan, carry it out, recover from OOM.

Planning (pure Python, no torch import):
    layout = ModelLayout.from_checkpoint(path)            # or .from_layout_json(fixture)
    plan = choose_plan(layout, RequestShape(w, h, frames, fps), Machine(vram_gb, ram_gb))
    plan.summary  -> "fp8 + block streaming + chunked FFN, ..., ~9.5 GB VRAM, ~22.0 GB RAM"
    ladder = plan_ladder(layout, request, machine)        # plan, then smaller fallbacks

Executing (torch; import the submodule where it is used, so planning stays light):
    with apply.apply_plan(transformer, plan, device, budget=None): ...   # fp8 / streaming / FFN chunks / lean
                                                                         # blocks (chunked attention, RoPE per chunk)
    with executors.resident_on(vae_decoder, device): ...                # the VAE decodes with plan.vae_tile
    result = yield from oom.iter_with_oom_retry(lambda p: job_events(p), ladder, notice=NoticeEvent)
"""

from __future__ import annotations

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

__all__ = [
    "Cache", "LatentShape", "Machine", "MemoryPlan", "ModelLayout", "Placement", "RequestShape",
    "StagePrediction", "Strategy", "TextEncoderDims", "TextPlacement", "TileSpec", "Weights",
    "candidate_plans", "choose_plan", "evaluate", "plan_ladder",
]
