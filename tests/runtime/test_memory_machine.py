"""Machine detection and the planner's answers for CPU machines: what `generate` and the app plan with."""

from __future__ import annotations

from pathlib import Path

import pytest

from model_runtime.memory.layout import ModelLayout
from model_runtime.memory.machine import detect, ram_gb, resolve_device
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
    m = info.jobs()
    assert m.device == "cpu" and 0 < m.ram_gb <= total
    assert info.jobs(ram_gb=6).ram_gb == 6 and info.jobs(vram_gb=8).vram_gb == 8
    assert resolve_device("auto") in ("cuda", "mps", "cpu") and resolve_device("cuda:1") == "cuda:1"


def test_one_detection_without_torch_reads_nvidia_smi_and_gives_both_views(tmp_path, monkeypatch):
    """The Models page, `models list`, the fit advice and the welcome card read the machine without torch
    (one detection, two views: `jobs()` free memory for planning, `capacity()` totals for advice)."""
    import subprocess
    import sys

    probe = ("import sys; from model_runtime.memory.machine import detect; i = detect(use_torch=False); "
             "print(i.kind, i.name, round(i.vram_total_gb, 2), round(i.vram_free_gb, 2), i.capacity().vram_gb, "
             "i.jobs().vram_gb, 'torch' in sys.modules)")
    smi = tmp_path / "nvidia-smi"
    smi.write_text("#!/bin/sh\necho 'NVIDIA Test 24GB, 24576, 20480'\necho 'NVIDIA Other, 81920, 81920'\n")
    smi.chmod(0o755)
    env = {"PATH": f"{tmp_path}:/usr/bin:/bin", "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True).stdout
    # the first card (cuda:0, what "cuda" runs on), MiB -> GB; free for jobs, total for capacity; no torch
    assert out.split() == ["cuda", "NVIDIA", "Test", "24GB", "25.77", "21.47", "25.8", "21.47", "False"]
    cpu = detect("cpu", use_torch=False)
    assert cpu.capacity().vram_gb == cpu.capacity().ram_gb == round(cpu.ram_total_gb, 1)  # one pool
    assert cpu.jobs().vram_gb == 0 and cpu.capacity().device == "cpu"


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
