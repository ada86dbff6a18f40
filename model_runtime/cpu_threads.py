"""How many torch threads a CPU job runs on: one rule for every backend (app, CLI, cluster worker).

Why one rule: a float sum split over another number of threads rounds differently, so the thread count is
part of what a seed's frames are (the demo draft's frames differ between 1 and 2 threads; every other
setting held equal, they do not). The app has always left one core to its UI; the CLI used torch's default
(every core) and a Ray worker what Ray sets for a 1-CPU actor (one thread), so the same request gave other
bits on each. Now the count is chosen by the entry point and travels with the job: the app runs on
`cpu_threads()` (every core but one, for its UI), the headless CLI on `cpu_threads(ui=False)` (every core: on
the 2-core bench machine one thread would double its time), and a cluster job carries its client's count
(`RemoteJob.cpu_threads`), so a CPU worker on the same machine runs it as the client's local backend would.
The result records the count (`settings["numerics"]`). Across machines nothing is promised (another CPU has
other kernels); on one machine an entry point's local and cluster backends make the same frames.
"""

from __future__ import annotations

import os


def cpu_threads(ui: bool = True) -> int:
    """The cores this process may use: all but one when a UI shares the machine (left to it and the OS; at
    least one), all of them for a headless command."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        cores = os.cpu_count() or 2
    return max(1, cores - 1) if ui else max(1, cores)


def pin_cpu_threads(device: object, threads: int | None = None) -> None:
    """On the CPU: torch on `threads` (default `cpu_threads()`) threads for the calling thread's jobs (torch
    keeps the count per thread, so call it on the thread that runs the job); nothing on an accelerator."""
    if str(device).split(":")[0] != "cpu":
        return
    import torch

    torch.set_num_threads(threads or cpu_threads())
