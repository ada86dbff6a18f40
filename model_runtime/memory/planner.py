"""Choose how to run a job on this machine: weight format, placement, text encoder, caching, decode tiles.

No gates: every combination of the levers in `Strategy` is predicted stage by stage (`stages.py`) and the
fastest one that fits the machine's VRAM and RAM wins. When nothing fits, the plan that needs the least
VRAM is returned with `fits=False`, so the UI can say so before the job starts instead of refusing it.
`plan_ladder` gives the chosen plan followed by successively smaller ones: the OOM-retry path walks it.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import replace

from model_runtime.memory.layout import ModelLayout
from model_runtime.memory.plan import (
    GB,
    VRAM_HEADROOM,
    Cache,
    Machine,
    MemoryPlan,
    Placement,
    RequestShape,
    Strategy,
    TextPlacement,
    Weights,
)
from model_runtime.memory.stages import predict_stages

log = logging.getLogger(__name__)

FFN_CHUNK_TOKENS = 4096
ATTN_CHUNK_TOKENS = 8192  # big enough to keep a GPU busy (each chunk attends over every key)
#: activation levers: plain, chunked FFN, lean blocks (chunked attention + FFN), as (ffn, attention) chunks
ACTIVATIONS = ((None, None), (FFN_CHUNK_TOKENS, None), (FFN_CHUNK_TOKENS, ATTN_CHUNK_TOKENS))


def strategies(machine: Machine) -> list[Strategy]:
    """Every combination worth predicting on this machine (streaming only where VRAM is a separate pool).
    On the CPU: every component computes in float32 on the CPU, either loaded whole or left in the mapped
    file (bf16) and upcast per layer; fp8 is not offered there (no fp8 matmul to gain from), and components
    stay loaded between stages as the engine keeps them."""
    if machine.device == "cpu":
        return [Strategy(Weights.BF16, p, TextPlacement.CPU, Cache.ALL, f, attn_chunk_tokens=a)
                for p, (f, a) in itertools.product((Placement.RESIDENT, Placement.MAPPED), ACTIVATIONS)]
    unified = machine.profile.unified
    placements = [Placement.RESIDENT] if unified else [Placement.RESIDENT, Placement.STREAM]
    texts = [TextPlacement.GPU, TextPlacement.GPU_FP8] if unified else list(TextPlacement)
    return [Strategy(w, p, t, c, f, attn_chunk_tokens=a)
            for w, p, t, c, (f, a) in itertools.product(Weights, placements, texts, Cache, ACTIVATIONS)]


def evaluate(layout: ModelLayout, request: RequestShape, machine: Machine, strategy: Strategy) -> MemoryPlan:
    """Predict every stage of `request` under `strategy`, with the fastest decode tile that fits."""
    stages, tile = predict_stages(layout, request, machine, strategy)
    plan = MemoryPlan(strategy, stages, tile, request, machine)
    return _with_fit(plan)


def _with_fit(plan: MemoryPlan) -> MemoryPlan:
    m = plan.machine
    if m.profile.unified:
        ok = max(s.vram_bytes + s.ram_bytes for s in plan.stages) <= m.ram_budget and plan.peak_vram_bytes <= m.vram_budget
    else:
        ok = plan.peak_vram_bytes <= m.vram_budget and plan.peak_ram_bytes <= m.ram_budget
    return MemoryPlan(plan.strategy, plan.stages, plan.vae_tile, plan.request, plan.machine, ok)


def candidate_plans(layout: ModelLayout, request: RequestShape, machine: Machine) -> list[MemoryPlan]:
    """All predicted plans, fitting ones first, each group fastest first (ties: less VRAM first)."""
    plans = [evaluate(layout, request, machine, s) for s in strategies(machine)]
    return sorted(plans, key=lambda p: (not p.fits, round(p.seconds, 1), p.peak_vram_bytes, p.peak_ram_bytes))


def choose_plan(layout: ModelLayout, request: RequestShape, machine: Machine) -> MemoryPlan:
    """The fastest plan that fits; if none does, the one needing the least VRAM (with `fits=False`)."""
    plans = candidate_plans(layout, request, machine)
    best = plans[0]
    if not best.fits:
        best = min(plans, key=lambda p: (p.peak_vram_bytes, p.peak_ram_bytes))
        # info, not warning: the caller tells the user (generate and the app refuse the job with the numbers)
        log.info("no plan fits %.1f GB VRAM + %.1f GB RAM; smallest: %s", machine.vram_gb, machine.ram_gb,
                 best.summary)
    log.info("memory plan: %s", best.summary)
    return best


def plan_ladder(layout: ModelLayout, request: RequestShape, machine: Machine, depth: int = 3,
                step: float = 0.8) -> tuple[MemoryPlan, ...]:
    """The chosen plan, then each time the plan that would be chosen on a card with `step` x the VRAM the
    previous plan needs (so weights, placement and decode tiles all shrink), or failing that the smallest
    fitting plan below the previous one. The OOM retry walks this."""
    ladder = [choose_plan(layout, request, machine)]
    while len(ladder) < depth:
        smaller = replace(machine, vram_gb=ladder[-1].peak_vram_bytes * step / (GB * VRAM_HEADROOM))
        fitting = [p for p in candidate_plans(layout, request, smaller)
                   if p.fits and p.peak_ram_bytes <= machine.ram_budget]
        if not fitting:  # no full step down: take the smallest plan that still needs less than the last
            just_under = replace(machine, vram_gb=(ladder[-1].peak_vram_bytes - 1) / (GB * VRAM_HEADROOM))
            fitting = [p for p in candidate_plans(layout, request, just_under)
                       if p.fits and p.peak_ram_bytes <= machine.ram_budget]
        if not fitting:
            break
        ladder.append(replace(fitting[0], machine=machine))
    return tuple(ladder)


def nearest_fitting(layout: ModelLayout, request: RequestShape, machine: Machine) -> RequestShape | None:
    """The largest smaller format that fits when `request` does not: the same aspect ratio scaled down in
    steps of 1/8 (sides kept multiples of 64), then fewer frames (8k+1). None when not even the smallest does."""
    def fits(r: RequestShape) -> bool:
        return any(p.fits for p in candidate_plans(layout, r, machine))

    frames_options = sorted({f for f in (request.frames, 121, 97, 65, 33, 17, 9) if f <= request.frames}, reverse=True)
    for frames in frames_options:
        for eighths in range(8, 0, -1):
            w = max(64, round(request.width * eighths / 8 / 64) * 64)
            h = max(64, round(request.height * eighths / 8 / 64) * 64)
            cand = replace(request, width=w, height=h, frames=frames)
            if cand != request and fits(cand):
                return cand
    return None
