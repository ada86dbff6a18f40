"""Machine detection and the planner's answers for CPU machines: what `generate` and the app plan with."""

from __future__ import annotations

from pathlib import Path

import pytest

from model_runtime.memory.layout import ModelLayout
from model_runtime.memory.machine import detect, machine_for, ram_gb, resolve_device
from model_runtime.memory.plan import Machine, Placement, RequestShape
from model_runtime.memory.planner import choose_plan, nearest_fitting

LAYOUT = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "ltx23_layout_full.json.gz"


@pytest.fixture(scope="module")
def full() -> ModelLayout:
    if not LAYOUT.is_file():
        pytest.skip(f"full-size layout fixture not found at {LAYOUT}")
    return ModelLayout.from_layout_json(LAYOUT)


def test_detect_reads_this_machine_and_overrides_replace_it():
    total, available = ram_gb()
    assert 0 < available <= total
    info = detect("cpu")
    assert info.kind == "cpu" and info.vram_total_gb == 0 and info.ram_total_gb == pytest.approx(total, rel=0.01)
    assert "GB RAM available" in info.line()
    m = machine_for(info)
    assert m.device == "cpu" and 0 < m.ram_gb <= total
    assert machine_for(info, ram_gb_=6).ram_gb == 6 and machine_for(info, vram_gb=8).vram_gb == 8
    assert resolve_device("auto") in ("cuda", "mps", "cpu") and resolve_device("cuda:1") == "cuda:1"


def test_cpu_plan_maps_weights_when_float32_does_not_fit(full):
    draft = RequestShape(320, 192, 9, 24.0, stage="draft")
    small = choose_plan(full, draft, Machine(0, 24, "cpu"))
    assert small.fits and small.strategy.placement is Placement.MAPPED and small.peak_vram_bytes == 0
    assert small.peak_ram_bytes < 24e9 * 0.9  # the 92 GB of float32 weights stay bf16 in the file
    big = choose_plan(full, draft, Machine(0, 512, "cpu"))
    assert big.fits and big.strategy.placement is Placement.RESIDENT  # faster when it fits
    assert big.seconds < small.seconds and big.peak_ram_bytes > 4 * 22e9


def test_nearest_fitting_format_is_smaller_and_fits(full):
    machine = Machine(0, 5.0, "cpu")
    huge = RequestShape(1920, 1088, 121, 24.0, stage="render")
    assert not choose_plan(full, huge, machine).fits
    near = nearest_fitting(full, huge, machine)
    assert near is not None and near.width * near.height * near.frames < huge.width * huge.height * huge.frames
    assert near.width % 64 == 0 and near.height % 64 == 0 and (near.frames - 1) % 8 == 0
    assert choose_plan(full, near, machine).fits


def test_plan_line_from_headers_says_strategy_memory_time_and_what_would_fit(tiny_paths):
    from model_runtime.memory.job_plan import plan_line

    line = plan_line(tiny_paths, RequestShape(64, 64, 9, 24.0, stage="draft"), Machine(0, 8, "cpu"))
    assert line.startswith("bf16") and "GB RAM" in line and "VRAM" not in line and line.endswith(" s")
    gpu = plan_line(tiny_paths, RequestShape(64, 64, 9, 24.0, stage="render"), Machine(8, 16, "cuda"))
    assert "GB VRAM" in gpu and "GB RAM" in gpu and "mapped" not in gpu
    refused = plan_line(tiny_paths, RequestShape(1920, 1088, 121, 24.0, stage="render"), Machine(0, 1.6, "cpu"))
    assert refused.startswith("does not fit this machine")
    assert "would fit" in refused
