"""Memory-lean attention for diffusers' `LTX2VideoTransformer3DModel`: query chunks, per-chunk RoPE.

Why: at 4K the plain attention step holds, per video token, q, k and v, the float32 copies the split RoPE
makes of q and k, the normed input and the residual, plus the float32 RoPE tables of the whole sequence
(cos and sin for self-attention and for the audio<->video cross-attention) that live for the whole
forward: ~14 bf16 tensors of the model width per token. Everything in attention except the softmax over
keys is per token, so it can run over token ranges:

* keys are projected, RMS-normed and rotated in chunks into one buffer, values in one projection;
* queries are projected, normed, rotated, attended against the full K/V and projected out chunk by chunk,
  each chunk written into a preallocated output;
* the RoPE tables are not materialised: the rotary modules return a `RowRotary` that computes cos/sin for
  a token range on demand from the positions (the same per-element arithmetic: float64 frequency grid,
  float32 tables, float32 rotation then cast back, exactly as `apply_split_rotary_emb` does, because the
  reference rotates in float32: rotating in bf16 would change the numbers the goldens pin down).

What stays per token: the residual, the normed input, K, V and the output (~5 widths instead of ~14).
The maths is the plain processor's (diffusers' `LTX2PerturbedAttnProcessor`: STG perturbation, per-head
gates, attention masks), split by rows: outputs agree with the plain path to float rounding (GEMMs over
fewer rows may sum in another order).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import torch
from torch import nn

Rope = tuple[torch.Tensor, torch.Tensor]
_ATTENTION_CLASSES = ("LTX2Attention",)
_ROPE_CLASSES = ("LTX2AudioVideoRotaryPosEmbed",)


class RowRotary:
    """A RoPE table computed on demand for a range of tokens (the rotary module's own forward on a slice
    of the positions). Unpacking or indexing it (`cos, sin = table`, `table[0]`: probes, other processors)
    builds the full table, so code that does not know about it still works, just without the saving."""

    def __init__(self, compute: Callable[..., Rope], coords: torch.Tensor, device: torch.device | str | None,
                 keep_whole: bool = False) -> None:
        self.compute = compute
        self.coords = coords  # [B, axes, T] or [B, axes, T, 2] (patch bounds): tokens on dim 2
        self.device = device
        self.keep_whole = keep_whole
        self._whole: Rope | None = None

    def rows(self, start: int, stop: int) -> Rope:
        """`keep_whole`: the table of ALL tokens (asked for when one chunk covers them) is computed once and
        reused by every layer (and every step while the positions stay the same: `lean_attention`)."""
        if self.keep_whole and start == 0 and stop == self.coords.shape[2]:
            if self._whole is None:
                self._whole = self.compute(self.coords, device=self.device)
            return self._whole
        return self.compute(self.coords[:, :, start:stop], device=self.device)

    def same_positions(self, coords: torch.Tensor, device: torch.device | str | None) -> bool:
        c = self.coords
        return (device == self.device and coords.shape == c.shape and coords.dtype == c.dtype
                and coords.device == c.device and (coords is c or torch.equal(coords, c)))

    def full(self) -> Rope:
        return self.compute(self.coords, device=self.device)

    def __iter__(self) -> Iterator[torch.Tensor]:
        return iter(self.full())

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.full()[index]

    def __len__(self) -> int:
        return 2


def _rows(rope: RowRotary | Rope | None, start: int, stop: int) -> Rope | None:
    """cos/sin of tokens [start, stop): split tables are [B, H, T, r], interleaved ones [B, T, D]."""
    if rope is None:
        return None
    if isinstance(rope, RowRotary):
        return rope.rows(start, stop)
    cos, sin = rope
    axis = 2 if cos.ndim == 4 else 1
    return cos.narrow(axis, start, stop - start), sin.narrow(axis, start, stop - start)


def _rotate(attn: nn.Module, x: torch.Tensor, rope: Rope | None) -> torch.Tensor:
    if rope is None:
        return x
    from diffusers.models.transformers.transformer_ltx2 import (
        apply_interleaved_rotary_emb,
        apply_split_rotary_emb,
    )

    if attn.rope_type == "interleaved":
        return apply_interleaved_rotary_emb(x, rope)
    return apply_split_rotary_emb(x, rope)


def _spans(n: int, chunk: int) -> Iterator[tuple[int, int]]:
    for s in range(0, n, chunk):
        yield s, min(n, s + chunk)


class ChunkedAttnProcessor:
    """Drop-in for diffusers' LTX-2 attention processors (same call signature, same maths), run over
    `chunk_tokens` query (and key) tokens at a time."""

    def __init__(self, chunk_tokens: int, fast: bool = True) -> None:
        if chunk_tokens < 1:
            raise ValueError(f"chunk_tokens must be positive, got {chunk_tokens}")
        self.chunk = chunk_tokens
        self.fast = fast  # one chunk: return the rows as computed (no copy into a preallocated tensor)

    def __call__(self, attn: nn.Module, hidden_states: torch.Tensor, encoder_hidden_states: torch.Tensor | None = None,
                 attention_mask: torch.Tensor | None = None, query_rotary_emb: RowRotary | Rope | None = None,
                 key_rotary_emb: RowRotary | Rope | None = None, perturbation_mask: torch.Tensor | None = None,
                 all_perturbed: bool | torch.Tensor | None = None, out: torch.Tensor | None = None) -> torch.Tensor:
        """`out`: where to write the result (may be `hidden_states` itself: each query chunk is read before
        its rows are written, and keys/values are computed first); used when shape and dtype match. With
        `fast` and one chunk the rows are returned as computed (no copy)."""
        context = hidden_states if encoder_hidden_states is None else encoder_hidden_states
        batch, n_k = context.shape[0], context.shape[1]
        if attention_mask is not None:
            attention_mask = attn.prepare_attention_mask(attention_mask, n_k, batch)
            attention_mask = attention_mask.view(batch, attn.heads, -1, attention_mask.shape[-1])
        if all_perturbed is None:
            all_perturbed = torch.all(perturbation_mask == 0) if perturbation_mask is not None else False
        value = attn.to_v(context)
        key = None
        if not all_perturbed:
            key_rope = key_rotary_emb if key_rotary_emb is not None else query_rotary_emb
            key = self._keys(attn, context, key_rope)
        if self.fast and hidden_states.shape[1] <= self.chunk:
            return self._query_rows(attn, hidden_states, 0, hidden_states.shape[1], key, value, attention_mask,
                                    query_rotary_emb, perturbation_mask)
        for s, e in _spans(hidden_states.shape[1], self.chunk):
            y = self._query_rows(attn, hidden_states, s, e, key, value, attention_mask, query_rotary_emb,
                                 perturbation_mask)
            if out is None or out.shape != (batch, hidden_states.shape[1], y.shape[-1]) or out.dtype != y.dtype:
                out = y.new_empty((batch, hidden_states.shape[1], y.shape[-1]))  # no list + concatenated copy
            out[:, s:e] = y
        assert out is not None
        return out

    def _keys(self, attn: nn.Module, context: torch.Tensor, rope: RowRotary | Rope | None) -> torch.Tensor:
        if self.fast and context.shape[1] <= self.chunk:
            return _rotate(attn, attn.norm_k(attn.to_k(context)), _rows(rope, 0, context.shape[1]))
        key: torch.Tensor | None = None
        for s, e in _spans(context.shape[1], self.chunk):
            k = _rotate(attn, attn.norm_k(attn.to_k(context[:, s:e])), _rows(rope, s, e))
            if key is None:
                key = k.new_empty((context.shape[0], context.shape[1], k.shape[-1]))
            key[:, s:e] = k
        assert key is not None
        return key

    def _query_rows(self, attn: nn.Module, hidden: torch.Tensor, s: int, e: int, key: torch.Tensor | None,
                    value: torch.Tensor, mask: torch.Tensor | None, rope: RowRotary | Rope | None,
                    perturbation_mask: torch.Tensor | None) -> torch.Tensor:
        """Output rows [s, e): attention of those queries over every key, then gate and output projection."""
        h = hidden[:, s:e]
        if key is None:  # every sample perturbed (STG): the value projection replaces attention
            rows = value[:, s:e]
        else:
            from diffusers.models.attention_dispatch import dispatch_attention_fn

            query = _rotate(attn, attn.norm_q(attn.to_q(h)), _rows(rope, s, e))
            if mask is not None and mask.shape[-2] > 1:
                mask = mask[:, :, s:e]
            rows = dispatch_attention_fn(
                query.unflatten(2, (attn.heads, -1)), key.unflatten(2, (attn.heads, -1)),
                value.unflatten(2, (attn.heads, -1)), attn_mask=mask, dropout_p=0.0, is_causal=False,
                backend=getattr(attn.processor, "_attention_backend", None),
                parallel_config=getattr(attn.processor, "_parallel_config", None),
            ).flatten(2, 3).to(query.dtype)
            if perturbation_mask is not None:
                pm = perturbation_mask[:, s:e] if perturbation_mask.ndim >= 2 and perturbation_mask.shape[1] > 1 \
                    else perturbation_mask
                rows = torch.lerp(value[:, s:e], rows, pm)
        if attn.to_gate_logits is not None:
            gates = 2.0 * torch.sigmoid(attn.to_gate_logits(h))  # [B, t, H]: 2x so zero logits give gate 1
            rows = (rows.unflatten(2, (attn.heads, -1)) * gates.unsqueeze(-1)).flatten(2, 3)
        return attn.to_out[1](attn.to_out[0](rows))


def _lazy_rope_forward(orig: Callable[..., Rope], chunk_tokens: int, fast: bool) -> Callable[..., RowRotary]:
    """The rotary module's forward returning a `RowRotary`. `fast`: when one chunk covers every token the
    whole table is kept, and the same `RowRotary` is returned again while the positions are equal (the
    positions of a stage do not change between steps), so the table is built once per stage, not once per
    attention call (the same numbers: the module's own forward on the same positions)."""
    last: list[RowRotary] = []

    def forward(coords: torch.Tensor, device: torch.device | str | None = None) -> RowRotary:
        keep = fast and coords.shape[2] <= chunk_tokens
        if keep and last and last[0].same_positions(coords, device):
            return last[0]
        table = RowRotary(orig, coords, device, keep_whole=keep)
        last[:] = [table] if keep else []
        return table
    return forward


@contextlib.contextmanager
def lean_attention(module: nn.Module, chunk_tokens: int, *, fast: bool = True) -> Iterator[int]:
    """Inside the block every LTX-2 attention under `module` runs chunked and its rotary modules return
    on-demand tables; yield how many attentions were switched. Processors and forwards are restored after.
    `fast`: the one-chunk shortcuts (see `ChunkedAttnProcessor`, `_lazy_rope_forward`)."""
    attentions = [m for m in module.modules() if type(m).__name__ in _ATTENTION_CLASSES]
    ropes = [m for m in module.modules() if type(m).__name__ in _ROPE_CLASSES]
    before = [(m, m.processor) for m in attentions]
    patched: list[tuple[nn.Module, object]] = []
    try:
        for m, proc in before:
            chunked = ChunkedAttnProcessor(chunk_tokens, fast)
            chunked._attention_backend = getattr(proc, "_attention_backend", None)  # keep a chosen backend
            chunked._parallel_config = getattr(proc, "_parallel_config", None)
            m.processor = chunked
        for m in ropes:
            patched.append((m, m.__dict__.get("forward")))
            m.forward = _lazy_rope_forward(m.forward, chunk_tokens, fast)
        yield len(attentions)
    finally:
        for m, proc in before:
            m.processor = proc
        for m, prev in patched:
            if prev is None:
                del m.forward
            else:
                m.forward = prev
