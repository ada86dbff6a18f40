"""The plan of one job for the user's files on a machine, from headers only: what `generate --print-plan`
prints and what the app shows before Draft / Render.

Pure Python (no torch import), so the app's GUI thread may call it on every format change: the layout
is read from the safetensors headers once per set of files and the planner is arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from model_runtime.memory.estimates import gb
from model_runtime.memory.layout import ModelLayout
from model_runtime.memory.plan import Machine, MemoryPlan, RequestShape
from model_runtime.memory.planner import choose_plan, nearest_fitting

if TYPE_CHECKING:
    from model_runtime.spec import ModelPaths


@lru_cache(maxsize=4)
def layout_for(paths: ModelPaths) -> ModelLayout:
    """The planner's view of the user's files (either family): headers only, no weight is read (as
    `Runtime.plans` sees them, `ModelLayout.from_model_files`); cached per set of files."""
    return ModelLayout.from_model_files(paths.model_files())


@dataclass(frozen=True)
class JobPlan:
    """The chosen plan for a job and, when it does not fit, the largest smaller format that would."""

    plan: MemoryPlan
    nearest: RequestShape | None = None

    @property
    def line(self) -> str:
        """One line for a window or a job card: strategy, predicted peak VRAM and RAM, predicted time."""
        p = self.plan
        vram = f"~{gb(p.peak_vram_bytes):.1f} GB VRAM, " if p.machine.device != "cpu" else ""
        text = f"{p.strategy.label}: {vram}~{gb(p.peak_ram_bytes):.1f} GB RAM, ~{_duration(p.seconds)}"
        if p.fits:
            return text
        hint = (f"; {self.nearest.width}x{self.nearest.height}, {self.nearest.frames} frames would fit"
                if self.nearest is not None else "")
        return f"does not fit this machine ({text}){hint}"


def plan_job(layout: ModelLayout, shape: RequestShape, machine: Machine) -> JobPlan:
    plan = choose_plan(layout, shape, machine)
    return JobPlan(plan, None if plan.fits else nearest_fitting(layout, shape, machine))


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min"


def plan_line(paths: ModelPaths, shape: RequestShape, machine: Machine) -> str:
    """The one-line plan of a job for these files on this machine (headers only; cached per set of files)."""
    return plan_job(layout_for(paths), shape, machine).line


def decoder_seconds(paths: ModelPaths, shape: RequestShape, machine: Machine) -> dict[str, float]:
    """Predicted video-decode seconds per decoder these files provide ("conv" fast, "diffusion" sharp, both
    untiled): FLOPs at the machine's throughput plus memory traffic at its bandwidth
    (`estimates.conv_decode_seconds`), what the app shows beside the Sharp / Fast choice. Empty for an
    LTX-2.3 file (one decoder, nothing to choose)."""
    from model_runtime.memory import estimates as est

    layout = layout_for(paths)
    p = machine.profile
    full = shape.latent()
    # the activation dtype and throughput of the device the decode runs on (CPU: float32 on the host)
    act, rate = (4, p.host_tflops * 1e12) if machine.device == "cpu" else (2, p.tflops * 1e12)
    out: dict[str, float] = {}
    if layout.diffusion_decoder is None:
        return out
    if layout.decoder:
        out["conv"] = est.conv_decode_seconds(layout, full, None, act, rate, p.mem_gbps * 1e9)
    out["diffusion"] = est.diffusion_decode_seconds(layout.diffusion_decoder, full, None, act, rate, p.mem_gbps * 1e9)
    return out
