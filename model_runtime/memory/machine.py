"""Detect the machine a job runs on: device kind, free/total VRAM, total/available RAM.

Why one module: every path asks the same question of the same hardware (STYLE: one way to open the
runtime). `detect` reads it once as a `MachineInfo`; the planner's `Machine` is a view of that reading:
- `jobs()`: what a job may use now (free VRAM, available RAM; other programs keep theirs), each
  replaceable by a user's override. `generate`, the app's worker and the plan line use it.
- `capacity()`: what the hardware has (totals, one pool on the CPU and Apple silicon). Recommending
  which files to download, and the app's fit advice, must not change with the load of the moment.

`--device auto` prefers CUDA, then MPS, then the CPU. With `use_torch=False` nothing imports torch
(about 1,700 modules): NVIDIA cards are read through `nvidia-smi` and Apple silicon from the platform,
so the Models page, `models list` and the app's GUI thread can ask before any model is loaded.
"""

from __future__ import annotations

import logging
import os
import platform
import shutil
import subprocess
from dataclasses import dataclass

from model_runtime.memory.plan import Machine

log = logging.getLogger(__name__)
GB = 1e9
#: the share of RAM Metal lets the GPU use when torch is not asked (its usual recommended_max_memory)
MPS_SHARE = 0.75


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

    def jobs(self, vram_gb: float | None = None, ram_gb: float | None = None) -> Machine:
        """The machine a job is planned for: free VRAM and available RAM, each replaced by an override."""
        vram = vram_gb if vram_gb is not None else self.vram_free_gb
        ram = ram_gb if ram_gb is not None else self.ram_available_gb
        return Machine(round(vram, 2), round(ram, 2), self.kind)

    def capacity(self) -> Machine:
        """The machine as built: total VRAM and RAM. The CPU and Apple silicon have one pool, so their
        "VRAM" is the RAM (what the file recommendation has always assumed)."""
        vram = self.vram_total_gb if self.kind == "cuda" else self.ram_total_gb
        return Machine(round(vram, 1), round(self.ram_total_gb, 1), self.kind)


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


@dataclass(frozen=True)
class NvidiaCard:
    name: str
    total_gb: float
    free_gb: float


def nvidia_cards() -> list[NvidiaCard]:
    """The NVIDIA driver's cards through `nvidia-smi` (no torch), in CUDA's index order; [] without one."""
    exe = shutil.which("nvidia-smi")
    if not exe:
        return []
    try:
        out = subprocess.run([exe, "--query-gpu=name,memory.total,memory.free", "--format=csv,noheader,nounits"],
                             capture_output=True, text=True, timeout=10, check=True).stdout
        cards = []
        for row in out.splitlines():
            name, total, free = (part.strip() for part in row.rsplit(",", 2))
            cards.append(NvidiaCard(name, float(total) * 2**20 / GB, float(free) * 2**20 / GB))  # MiB -> GB
        return cards
    except (OSError, subprocess.SubprocessError, ValueError) as exc:
        log.info("nvidia-smi failed: %s", exc)
        return []


def _apple_silicon() -> bool:
    return platform.system() == "Darwin" and platform.machine() == "arm64"


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


def detect(device: str = "auto", use_torch: bool = True) -> MachineInfo:
    """The machine for `device` (`auto`: the best there is). With torch, CUDA memory is what the CUDA
    runtime reports for that device; without it, what `nvidia-smi` reports. Reading a CPU machine never
    imports torch (the app's GUI thread does it)."""
    total_ram, avail_ram = ram_gb()
    if not use_torch:
        return _detect_without_torch(device, total_ram, avail_ram)
    dev = resolve_device(device)
    kind = dev.split(":")[0]
    if kind == "cuda":
        import torch

        index = torch.device(dev).index or 0
        free, total = torch.cuda.mem_get_info(index)
        name = torch.cuda.get_device_name(index)
        return MachineInfo(dev, kind, name, total / GB, free / GB, total_ram, avail_ram)
    if kind == "mps":  # unified memory: the GPU shares RAM; torch reports what Metal recommends
        import torch

        rec = getattr(torch.mps, "recommended_max_memory", lambda: total_ram * GB * MPS_SHARE)()
        return MachineInfo(dev, kind, "Apple GPU", rec / GB, rec / GB, total_ram, avail_ram)
    return MachineInfo(dev, "cpu", "CPU", 0.0, 0.0, total_ram, avail_ram)


def _detect_without_torch(device: str, total_ram: float, avail_ram: float) -> MachineInfo:
    """`detect` from the NVIDIA driver (`nvidia-smi`) and the platform: `auto` is the first NVIDIA card,
    else Apple silicon, else the CPU; a named CUDA device the driver does not list reads as the CPU."""
    kind = device.split(":")[0]
    cards = nvidia_cards() if kind in ("auto", "cuda") else []
    index = int(device.split(":")[1]) if kind == "cuda" and ":" in device else 0
    if index < len(cards):
        card = cards[index]
        return MachineInfo(device if kind == "cuda" else "cuda", "cuda", card.name, card.total_gb, card.free_gb,
                           total_ram, avail_ram)
    if kind == "mps" or (kind == "auto" and _apple_silicon()):
        rec = total_ram * MPS_SHARE
        return MachineInfo("mps", "mps", "Apple GPU", rec, rec, total_ram, avail_ram)
    return MachineInfo("cpu", "cpu", "CPU", 0.0, 0.0, total_ram, avail_ram)
