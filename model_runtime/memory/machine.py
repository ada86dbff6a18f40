"""Detect the machine a job runs on: device kind, free/total VRAM, total/available RAM.

Why here: every product path (app, `generate`) plans each job for the machine it really has (STYLE: one
way to open the runtime). `--device auto` prefers CUDA, then MPS, then the CPU. The memory the planner may
use is what is available now (other programs keep theirs), and a user may lower it with an override.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

from model_runtime.memory.plan import Machine

log = logging.getLogger(__name__)
GB = 1e9


@dataclass(frozen=True)
class MachineInfo:
    """What was detected, before any override: the device to run on and its memories in GB."""

    device: str  # a torch device string: "cuda", "cuda:1", "mps", "cpu"
    kind: str  # "cuda" | "mps" | "cpu"
    name: str
    vram_total_gb: float
    vram_free_gb: float
    ram_total_gb: float
    ram_available_gb: float

    def line(self) -> str:
        vram = f", {self.vram_free_gb:.1f} of {self.vram_total_gb:.1f} GB VRAM free" if self.kind != "cpu" else ""
        return f"{self.name} ({self.device}){vram}, {self.ram_available_gb:.1f} of {self.ram_total_gb:.1f} GB RAM available"


def ram_gb() -> tuple[float, float]:
    """(total, available) RAM in GB: /proc/meminfo on Linux, psutil elsewhere when installed."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            info = {line.split(":")[0]: int(line.split()[1]) * 1024 for line in fh if ":" in line}
        return info["MemTotal"] / GB, info.get("MemAvailable", info["MemFree"]) / GB
    except (OSError, KeyError, ValueError, IndexError):
        pass
    try:
        import psutil

        vm = psutil.virtual_memory()
        return vm.total / GB, vm.available / GB
    except ImportError:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        return pages / GB, pages / GB


def resolve_device(device: str = "auto") -> str:
    """`auto` -> cuda when a CUDA device is there, else mps, else cpu; anything else is kept."""
    if device != "auto":
        return device
    import torch

    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "mps"
    return "cpu"


def detect(device: str = "auto") -> MachineInfo:
    """The machine for `device` (`auto`: the best there is). torch is imported only to ask an accelerator,
    so reading a CPU machine is free (the app's GUI thread does it)."""
    dev = resolve_device(device)
    kind = dev.split(":")[0]
    total_ram, avail_ram = ram_gb()
    if kind == "cuda":
        import torch

        index = torch.device(dev).index or 0
        free, total = torch.cuda.mem_get_info(index)
        name = torch.cuda.get_device_name(index)
        return MachineInfo(dev, kind, name, total / GB, free / GB, total_ram, avail_ram)
    if kind == "mps":  # unified memory: the GPU shares RAM; torch reports what Metal recommends
        import torch

        rec = getattr(torch.mps, "recommended_max_memory", lambda: total_ram * GB * 0.75)()
        return MachineInfo(dev, kind, "Apple GPU", rec / GB, rec / GB, total_ram, avail_ram)
    return MachineInfo(dev, "cpu", "CPU", 0.0, 0.0, total_ram, avail_ram)


def machine_for(info: MachineInfo, vram_gb: float | None = None, ram_gb_: float | None = None) -> Machine:
    """The planner's machine: free VRAM and available RAM, each replaced by an override when given."""
    vram = vram_gb if vram_gb is not None else info.vram_free_gb
    ram = ram_gb_ if ram_gb_ is not None else info.ram_available_gb
    return Machine(round(vram, 2), round(ram, 2), info.kind)
