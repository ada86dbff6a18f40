"""`apply_plan`: put a transformer-like module in the shape a `MemoryPlan` asks for, for one stage.

The one place that decides where a module's weights are while it runs (STYLE #6): callers wrap a stage in
`with apply_plan(transformer, plan, device): ...` and never call `.to()` themselves.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn

from model_runtime.memory.executors import (
    VramBudget,
    _set,
    _tensors,
    chunk_feed_forward,
    find_blocks,
    quantize_fp8_,
    resident_on,
)
from model_runtime.memory.plan import MemoryPlan, Placement, Weights
from model_runtime.memory.streaming import stream_blocks
from model_runtime.models.lean_block import lean_transformer


@contextlib.contextmanager
def non_block_resident(module: nn.Module, blocks: nn.ModuleList, device: torch.device | str,
                       budget: VramBudget | None = None, storage: torch.device | str = "cpu") -> Iterator[None]:
    """Everything of `module` except `blocks` on `device` (embeddings, AdaLN, projections, norms)."""
    in_blocks = {id(t) for _, _, t, _ in _tensors(blocks)}
    entries = [e for e in _tensors(module) if id(e[2]) not in in_blocks]
    nbytes = sum(t.numel() * t.element_size() for _, _, t, _ in entries)
    if budget is not None:
        budget.charge(nbytes, "non-block weights")
    try:
        for m, name, t, is_param in entries:
            _set(m, name, t.detach().to(device), is_param)
        yield
    finally:
        for m, name, _t, is_param in entries:
            cur = m._parameters[name] if is_param else m._buffers[name]
            _set(m, name, cur.detach().to(storage), is_param)
        if budget is not None:
            budget.release(nbytes)


@contextlib.contextmanager
def apply_plan(module: nn.Module, plan: MemoryPlan, device: torch.device | str, *,
               budget: VramBudget | None = None, storage: torch.device | str = "cpu") -> Iterator[nn.Module]:
    """Run `module` under `plan` inside the block: fp8 storage (applied once, in place: it is lossy and
    permanent), blocks resident or streamed, FFN chunking, lean blocks (chunked attention). On exit the weights are back on `storage`."""
    s = plan.strategy
    if s.weights is Weights.FP8:
        quantize_fp8_(module)
    with contextlib.ExitStack() as stack:
        if s.placement is Placement.MAPPED:
            pass  # the weights stay in the mapped file and upcast per layer (loaded that way: model_runtime.mapped)
        elif s.placement is Placement.STREAM:
            blocks = find_blocks(module)
            stack.enter_context(non_block_resident(module, blocks, device, budget, storage))
            stack.enter_context(stream_blocks(blocks, device, storage=storage,
                                              blocks_in_flight=s.blocks_in_flight, budget=budget))
        else:
            stack.enter_context(resident_on(module, device, budget, storage))
        if s.ffn_chunk_tokens:
            stack.enter_context(chunk_feed_forward(module, s.ffn_chunk_tokens))
        if s.attn_chunk_tokens:
            stack.enter_context(lean_transformer(module, s.attn_chunk_tokens))
        yield module
