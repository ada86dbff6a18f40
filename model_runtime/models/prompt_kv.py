"""`PromptKV`: the keys and values of each prompt cross-attention, kept for a stage when no step changes them.

Why: every denoising step projects the whole text context (1024 tokens for LTX-2.x) through `to_k` and
`to_v` of both prompt cross-attentions of every layer. With LTX-2.3's per-sigma prompt AdaLN the context
differs per step, but LTX-2.5 (`use_prompt_adaln_single=False`) modulates it with a per-layer table only,
so those projections give the same numbers at every step: computing them once per stage and reusing them
is bit-identical and, on a short clip, removes a large share of each step's matrix work (at 480 video
tokens the two context projections are a quarter of a layer's GEMMs).

What it costs: two [B, text tokens, width] tensors per attention for the stage. That is only worth it
where the context projections are a real share of the step: `worth_keeping` takes it when the queries are
at most `MAX_QUERY_RATIO` x the text tokens (then they are >= ~3% of the step's matrix work, and the job is
small enough that the cache is small next to what the plan holds); long jobs project per step as before.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the memory planner imports the policy below; torch is only needed once a cache is used
    import torch
    from torch import nn

MAX_QUERY_RATIO = 4
MAX_CONTEXTS = 2  # a guided job alternates a positive and a negative prompt


def worth_keeping(query_tokens: int, context_tokens: int) -> bool:
    """Keep the prompt K/V when a step's queries are few next to the context (see the module docstring)."""
    return query_tokens <= MAX_QUERY_RATIO * context_tokens


@dataclass(frozen=True)
class _Entry:
    context: torch.Tensor  # the unmodulated context the keys/values came from (held: its id stays valid)
    version: int
    key: torch.Tensor
    value: torch.Tensor

    def matches(self, context: torch.Tensor) -> bool:
        import torch

        if context is self.context:
            return context._version == self.version
        return (context.shape == self.context.shape and context.dtype == self.context.dtype
                and context.device == self.context.device and torch.equal(context, self.context))


class PromptKV:
    """Keys/values per (attention module, context); one object per stage (`lean_block.lean_blocks`)."""

    def __init__(self) -> None:
        self._entries: dict[int, list[_Entry]] = {}

    def get(self, attn: nn.Module, context: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
        for e in self._entries.get(id(attn), ()):
            if e.matches(context):
                return e.key, e.value
        return None

    def put(self, attn: nn.Module, context: torch.Tensor,
            kv: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        entries = self._entries.setdefault(id(attn), [])
        entries.append(_Entry(context, context._version, *kv))
        del entries[:-MAX_CONTEXTS]
        return kv

    def __len__(self) -> int:
        return sum(len(v) for v in self._entries.values())
