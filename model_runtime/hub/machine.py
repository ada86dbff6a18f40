"""Detect this machine's memory (VRAM, RAM, device kind) for the planner, without importing torch.

The Models page and `ltx-studio-cli models list` recommend files before any model is loaded, so this
stays cheap: psutil for RAM, `nvidia-smi` for NVIDIA VRAM, the platform for Apple silicon (one pool).
"""

from __future__ import annotations

import logging
import platform
import shutil
import subprocess

import psutil

from model_runtime.memory.plan import Machine

log = logging.getLogger(__name__)


def _nvidia_vram_gb() -> float | None:
    exe = shutil.which("nvidia-smi")
    if not exe:
        return None
    try:
        out = subprocess.run([exe, "--query-gpu=memory.total", "--format=csv,noheader,nounits"],
                             capture_output=True, text=True, timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        log.info("nvidia-smi failed: %s", exc)
        return None
    values = [float(v) for v in out.split() if v.replace(".", "", 1).isdigit()]
    return max(values) * 2**20 / 1e9 if values else None  # MiB -> GB (the planner's unit); the largest card


def detect_machine() -> Machine:
    """The machine as the planner sees it: CUDA card if nvidia-smi finds one, Apple silicon, else CPU."""
    ram_gb = psutil.virtual_memory().total / 1e9
    vram = _nvidia_vram_gb()
    if vram:
        return Machine(vram_gb=round(vram, 1), ram_gb=round(ram_gb, 1), device="cuda")
    if platform.system() == "Darwin" and platform.machine() == "arm64":
        return Machine(vram_gb=round(ram_gb, 1), ram_gb=round(ram_gb, 1), device="mps")
    return Machine(vram_gb=round(ram_gb, 1), ram_gb=round(ram_gb, 1), device="cpu")  # one pool, like mps
