"""Which catalogue files fit this machine: the memory planner decides between bf16 and fp8 weights.

The planner predicts every strategy for a typical render (1280x704, 121 frames, two stages) on the
detected machine. If any plan with bf16 weights fits, the bf16 checkpoint is recommended (best quality);
if bf16 cannot fit, the fp8 checkpoint is (a ~17 GB smaller download) when the runtime can load it, and
otherwise the bf16 file with the planner's fp8-on-load, said in the notes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from importlib import resources

from model_runtime.hub.catalogue import Catalogue, CatalogueItem
from model_runtime.memory.layout import ModelLayout
from model_runtime.memory.plan import Machine, RequestShape, Weights
from model_runtime.memory.planner import candidate_plans, choose_plan

log = logging.getLogger(__name__)

#: the request recommendations are made for: a 5-second 720p render
TYPICAL_RENDER = RequestShape(1280, 704, 121, 24.0, stage="render")


@dataclass(frozen=True)
class Recommendation:
    items: tuple[CatalogueItem, ...]
    weights: str  # what the planner picked: "bf16" or "fp8"
    plan_summary: str
    fits: bool
    notes: tuple[str, ...]

    @property
    def download_bytes(self) -> int:
        return sum(it.size_bytes for it in self.items)


def ltx23_layout() -> ModelLayout:
    """The official LTX-2.3 22B layout (key shapes, no weights) shipped with the runtime for planning."""
    with resources.as_file(resources.files("model_runtime.hub").joinpath("ltx23_layout.json.gz")) as path:
        return ModelLayout.from_layout_json(path)


def recommend(catalogue: Catalogue, machine: Machine, variant: str = "distilled",
              layout: ModelLayout | None = None) -> Recommendation:
    layout = layout or ltx23_layout()
    bf16 = [p for p in candidate_plans(layout, TYPICAL_RENDER, machine)
            if p.fits and p.strategy.weights is Weights.BF16]
    plan = bf16[0] if bf16 else choose_plan(layout, TYPICAL_RENDER, machine)
    weights = plan.strategy.weights.value
    notes: list[str] = []
    candidates = [it for it in catalogue.by_role("checkpoint") if it.variant == variant]
    if not candidates:
        raise ValueError(f"no checkpoint of variant {variant!r} in the catalogue")
    wanted = [it for it in candidates if it.weights == weights and it.runtime_loads]
    if not wanted and plan.strategy.weights is Weights.FP8:
        notes.append("bf16 does not fit this machine: the bf16 file is recommended and quantized to fp8 as it "
                     "loads (the fp8 file is listed, but this runtime does not read its scales yet)")
    checkpoint = (wanted or [it for it in candidates if it.weights == "bf16"])[0]
    if not plan.fits:
        notes.append(f"no plan fits {machine.vram_gb:.0f} GB VRAM + {machine.ram_gb:.0f} GB RAM for a 720p "
                     "render; drafts and shorter clips may still run")
    items = (checkpoint, *catalogue.by_role("upscaler")[:1], *catalogue.by_role("text_encoder")[:1])
    log.info("recommended for %s: %s (%s)", machine, [it.id for it in items], plan.summary)
    return Recommendation(items, weights, plan.summary, plan.fits, tuple(notes))
