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
