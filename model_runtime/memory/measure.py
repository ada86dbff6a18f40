"""Measure peak tensor memory of a piece of torch code on any device, CPU included.

Why not tracemalloc: it only sees Python's allocators, and torch allocates tensor storage with its own C
allocator, so a forward pass of a large model looks like a few kilobytes to it. Process RSS sees
everything but is noisy (allocator caching, other threads) and its peak cannot be reset. This tracker
runs the code under a `TorchDispatchMode`, records every storage an operator returns (views share their
base's storage and are counted once) and drops it through a weak reference when torch frees it, so
"live bytes" and their peak are exact for tensors created inside the block, on every device. Outputs
that share an input's storage (views, in-place results, a weight's `.t()`) are not new memory and are
skipped.
"""

from __future__ import annotations

import os
import threading
import weakref
from dataclasses import dataclass

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten


@dataclass(frozen=True)
class PeakReading:
    """Bytes of tensors created inside a tracked block: the most alive at once, and still alive at exit."""

    peak_bytes: int
    live_bytes_at_exit: int


class PeakTracker(TorchDispatchMode):
    """`with PeakTracker() as t: ...; t.reading()`: peak live bytes of storages created inside the block.

    Tensors that existed before the block (weights, inputs) are not counted; tensors created by
    `torch.empty`/factory functions and by every operator are. `device` restricts counting to one
    device type (e.g. "cuda" to model VRAM while host copies stay uncounted).
    """

    def __init__(self, device: str | None = None) -> None:
        super().__init__()
        self._device = device
        self._live: dict[int, int] = {}
        self._refs: dict[int, weakref.ref] = {}
        self._current = 0
        self._peak = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        # an output sharing an input's storage (a view, an in-place result, `weight.t()`) allocated nothing
        inputs = {t.untyped_storage().data_ptr() for t in tree_flatten((args, kwargs))[0]
                  if isinstance(t, torch.Tensor) and not t.is_meta}
        for t in tree_flatten(out)[0]:
            if isinstance(t, torch.Tensor) and (t.is_meta or t.untyped_storage().data_ptr() not in inputs):
                self._track(t)
        return out

    def _track(self, t: torch.Tensor) -> None:
        if t.is_meta or (self._device is not None and t.device.type != self._device):
            return
        storage = t.untyped_storage()
        key = storage.data_ptr()
        nbytes = storage.nbytes()
        if key == 0 or nbytes == 0 or key in self._live:
            return
        self._live[key] = nbytes
        self._current += nbytes
        self._peak = max(self._peak, self._current)
        self._refs[key] = weakref.ref(storage, lambda _ref, k=key: self._release(k))

    def _release(self, key: int) -> None:
        nbytes = self._live.pop(key, 0)
        self._refs.pop(key, None)
        self._current -= nbytes

    def reading(self) -> PeakReading:
        return PeakReading(self._peak, self._current)


def rss_anon_bytes(pid: int | str = "self") -> int:
    """Anonymous resident memory of one process (what the OS cannot drop or re-read from a file), from
    /proc/<pid>/status; 0 where there is no /proc."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


def process_tree(pid: int) -> list[int]:
    """`pid` and all its descendants (Linux /proc/<pid>/task/*/children)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children", encoding="ascii") as fh:
                    todo.extend(int(c) for c in fh.read().split())
        except OSError:
            continue
    return out


class RssAnonPeak:
    """`with RssAnonPeak() as r: ...; r.peak_bytes`: the highest RssAnon of a process tree, sampled by a
    background thread every `interval` seconds (a sampled peak: spikes shorter than that can be missed)."""

    def __init__(self, pid: int | None = None, interval: float = 0.05) -> None:
        self.pid = pid or os.getpid()
        self.interval = interval
        self.peak_bytes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-anon-peak", daemon=True)

    def sample(self) -> int:
        now = sum(rss_anon_bytes(p) for p in process_tree(self.pid))
        self.peak_bytes = max(self.peak_bytes, now)
        return now

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def __enter__(self) -> RssAnonPeak:
        self.sample()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()
