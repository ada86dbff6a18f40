"""How many torch threads a CPU job runs on: one rule for every backend (app, CLI, cluster worker).

Why one rule: a float sum split over another number of threads rounds differently, so the thread count is
part of what a seed's frames are (the demo draft's frames differ between 1 and 2 threads; every other
setting held equal, they do not). The app has always left one core to its UI; the CLI used torch's default
(every core) and a Ray worker what Ray sets for a 1-CPU actor (one thread), so the same request gave other
bits on each. Now each CPU job runs on `cpu_threads()` threads of the machine it runs on, and the result
records the count (`settings["numerics"]`). Across machines nothing is promised (another CPU has other
kernels); on one machine every backend makes the same frames.
"""

from __future__ import annotations

import os


def cpu_threads() -> int:
    """All the cores this process may use but one (left to a UI and the OS), at least one."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        cores = os.cpu_count() or 2
    return max(1, cores - 1)


def pin_cpu_threads(device: object, threads: int | None = None) -> None:
    """On the CPU: torch on `threads` (default `cpu_threads()`) threads for the calling thread's jobs (torch
    keeps the count per thread, so call it on the thread that runs the job); nothing on an accelerator."""
    if str(device).split(":")[0] != "cpu":
        return
    import torch

    torch.set_num_threads(threads or cpu_threads())
