"""Block streaming: transformer blocks stored off the compute device, copied in a few at a time.

Why hooks and not a wrapper forward: the blocks are called by the model's own forward (diffusers'
`LTX2VideoTransformer3DModel`, our port, a test module) with whatever arguments it likes; pre/post
forward hooks work on any `nn.Module` block without knowing its signature.

Order of events for block i: the pre-hook waits for block i's copy (issuing it now if no prefetch did),
then issues copies for the next `blocks_in_flight - 1` blocks (on a side CUDA stream, so they overlap
block i's compute); the post-hook puts block i's storage tensors back, which frees its device copy.
Blocks run in order and wrap around, so the end of one forward prefetches the start of the next.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field

import torch
from torch import nn

from model_runtime.memory.executors import VramBudget, _set, _tensors

log = logging.getLogger(__name__)


@dataclass
class _BlockState:
    entries: list[tuple[nn.Module, str, torch.Tensor, bool]]  # owner, name, storage tensor, is_param
    nbytes: int
    loaded: bool = False
    event: object | None = None
    copies: list[torch.Tensor] = field(default_factory=list)


class BlockStreamer:
    """Streams `blocks` between `storage` and `device`; use via `stream_blocks(...)`."""

    def __init__(self, blocks: nn.ModuleList, device: torch.device | str, *, storage: torch.device | str = "cpu",
                 blocks_in_flight: int = 2, budget: VramBudget | None = None, pin: bool | None = None) -> None:
        self.blocks = blocks
        self.device = torch.device(device)
        self.storage = torch.device(storage)
        self.in_flight = max(1, blocks_in_flight)
        self.budget = budget
        cuda = self.device.type == "cuda" and self.storage.type == "cpu"
        self.pin = cuda if pin is None else pin
        self.stream = torch.cuda.Stream(self.device) if cuda else None
        self.states: list[_BlockState] = []
        self.handles: list = []
        self.copies_made = 0

    def __enter__(self) -> BlockStreamer:
        for i, block in enumerate(self.blocks):
            entries = []
            for m, name, t, is_param in _tensors(block):
                st = t.detach().to(self.storage)
                if self.pin and not st.is_pinned():
                    st = st.pin_memory()
                _set(m, name, st, is_param)
                entries.append((m, name, st, is_param))
            self.states.append(_BlockState(entries, sum(e[2].numel() * e[2].element_size() for e in entries)))
            self.handles.append(block.register_forward_pre_hook(lambda _m, _a, i=i: self._before(i)))
            self.handles.append(block.register_forward_hook(lambda _m, _a, _o, i=i: self._after(i)))
        return self

    def __exit__(self, *exc) -> None:
        for h in self.handles:
            h.remove()
        for i in range(len(self.states)):
            self._offload(i)
        self.handles.clear()

    def _load(self, i: int) -> None:
        state = self.states[i]
        if state.loaded:
            return
        if self.budget is not None:
            self.budget.charge(state.nbytes, f"block {i}")
        ctx = torch.cuda.stream(self.stream) if self.stream is not None else contextlib.nullcontext()
        with ctx:
            for m, name, st, is_param in state.entries:
                dev = torch.empty_like(st, device=self.device)
                dev.copy_(st, non_blocking=self.pin)
                state.copies.append(dev)
                _set(m, name, dev, is_param)
            if self.stream is not None:
                state.event = torch.cuda.Event()
                state.event.record(self.stream)
        state.loaded = True
        self.copies_made += 1

    def _before(self, i: int) -> None:
        self._load(i)
        state = self.states[i]
        if state.event is not None:
            current = torch.cuda.current_stream(self.device)
            current.wait_event(state.event)
            for t in state.copies:
                t.record_stream(current)  # allocated on the side stream, used on this one
            state.event = None
        for k in range(1, self.in_flight):
            self._load((i + k) % len(self.states))

    def _after(self, i: int) -> None:
        self._offload(i)

    def _offload(self, i: int) -> None:
        state = self.states[i]
        if not state.loaded:
            return
        for m, name, st, is_param in state.entries:
            _set(m, name, st, is_param)
        state.copies.clear()
        state.loaded = False
        state.event = None
        if self.budget is not None:
            self.budget.release(state.nbytes)


@contextlib.contextmanager
def stream_blocks(blocks: nn.ModuleList, device: torch.device | str, *, storage: torch.device | str = "cpu",
                  blocks_in_flight: int = 2, budget: VramBudget | None = None) -> Iterator[BlockStreamer]:
    """Inside the block, `blocks` stream from `storage` to `device`; afterwards they stay on `storage`."""
    with BlockStreamer(blocks, device, storage=storage, blocks_in_flight=blocks_in_flight, budget=budget) as s:
        yield s
