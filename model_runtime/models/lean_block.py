"""A memory-lean forward for diffusers' `LTX2VideoTransformerBlock`, installed per block by `lean_blocks`.

Why a forward of its own and not only hooks: the stock forward keeps every intermediate it names (the
normed input of each sub-layer, each attention output, the modulated copies for the audio<->video
cross-attention) alive until it returns, and its RMSNorms upcast the whole sequence to float32. Measured
with `measure.PeakTracker`, that is ~11 model-width tensors per video token even with chunked attention
and FFN. This forward computes the same thing, in the same per-element operation order, but
* every per-token step (RMSNorm, AdaLN modulation, gates, the FFN) runs over token chunks,
* the first residual update of each modality makes the block's own copy of the stream (the input is
  never modified: the model loop, forward hooks and golden probes may hold it); later updates are
  written into that copy in place (only when the result dtype is the stream's, so type promotion
  behaves as in the stock forward),
* attention writes its output over its (already consumed) modulated input, and intermediates are
  dropped as soon as their last use has run.
What is alive per video token at the peak: the block input, the residual, one modulated copy or
attention output, K and V: about 4-5 widths (measured 3.6 plus one chunk's temporaries).

The block's submodules and parameters are used as they are, so weights, fp8 storage and block streaming
work unchanged. Used only under `torch.no_grad()`/inference mode (in-place updates and autograd don't
mix); with gradients enabled the stock forward runs.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
from collections.abc import Iterator

import torch
from torch import nn

from model_runtime.models.attention import _spans

log = logging.getLogger(__name__)

_BLOCK_CLASSES = ("LTX2VideoTransformerBlock",)
#: the stock forward's parameters this implementation knows; another diffusers signature = not installed
_KNOWN_PARAMS = (
    "self", "hidden_states", "audio_hidden_states", "encoder_hidden_states", "audio_encoder_hidden_states", "temb",
    "temb_audio", "temb_ca_scale_shift", "temb_ca_audio_scale_shift", "temb_ca_gate", "temb_ca_audio_gate",
    "temb_prompt", "temb_prompt_audio", "video_rotary_emb", "audio_rotary_emb", "ca_video_rotary_emb",
    "ca_audio_rotary_emb", "encoder_attention_mask", "audio_encoder_attention_mask", "self_attention_mask",
    "audio_self_attention_mask", "a2v_cross_attention_mask", "v2a_cross_attention_mask", "use_a2v_cross_attention",
    "use_v2a_cross_attention", "perturbation_mask", "all_perturbed",
)


def _tok(t: torch.Tensor, s: int, e: int) -> torch.Tensor:
    """Rows [s, e) of a per-token modulation tensor [B, T, D]; a shared one ([B, 1, D]) as it is."""
    return t[:, s:e] if t.shape[1] > 1 else t


def _normed(norm: nn.Module, x: torch.Tensor, chunk: int, scale: torch.Tensor | None = None,
            shift: torch.Tensor | None = None) -> torch.Tensor:
    """`norm(x) * (1 + scale) + shift` (or just `norm(x)`), chunk by chunk into one new tensor."""
    out: torch.Tensor | None = None
    for s, e in _spans(x.shape[1], chunk):
        y = norm(x[:, s:e])
        if scale is not None:
            y = y * (1 + _tok(scale, s, e)) + _tok(shift, s, e)
        if out is None:
            out = y.new_empty((*x.shape[:2], y.shape[-1]))
        out[:, s:e] = y
    assert out is not None
    return out


def _add_(x: torch.Tensor, update: torch.Tensor, gate: torch.Tensor | None, chunk: int,
          gate_first: bool = False, inplace: bool = True) -> torch.Tensor:
    """`x + update * gate` (or `x + gate * update`, or `x + update`) over chunks: into x when `inplace`
    and the result has x's dtype, else into a new tensor (what the stock forward does every time)."""
    dtype = update.dtype if gate is None else torch.promote_types(update.dtype, gate.dtype)
    if torch.promote_types(x.dtype, dtype) != x.dtype:
        return x + (update if gate is None else (gate * update if gate_first else update * gate))
    out = x if inplace else torch.empty_like(x)
    for s, e in _spans(x.shape[1], chunk):
        u = update[:, s:e]
        if gate is not None:
            g = _tok(gate, s, e)
            u = g * u if gate_first else u * g
        if inplace:
            out[:, s:e] += u
        else:
            out[:, s:e] = x[:, s:e] + u
    return out


def _feed_forward_(x: torch.Tensor, norm: nn.Module, ff: nn.Module, scale: torch.Tensor, shift: torch.Tensor,
                   gate: torch.Tensor, chunk: int) -> torch.Tensor:
    """x + ff(norm(x) * (1 + scale) + shift) * gate: every step is per token, so all of it runs per chunk."""
    if torch.promote_types(x.dtype, gate.dtype) != x.dtype:
        return x + ff(norm(x) * (1 + scale) + shift) * gate
    for s, e in _spans(x.shape[1], chunk):
        h = norm(x[:, s:e]) * (1 + _tok(scale, s, e)) + _tok(shift, s, e)
        x[:, s:e] += ff(h) * _tok(gate, s, e)
    return x


def _self_attention(blk: nn.Module, x: torch.Tensor, norm: nn.Module, attn: nn.Module, mod: tuple, rope,
                    mask, a: dict, chunk: int) -> torch.Tensor:
    shift, scale, gate = mod
    h = _normed(norm, x, chunk, scale, shift)
    extra = {"perturbation_mask": a["perturbation_mask"], "all_perturbed": a["all_perturbed"]} \
        if blk.perturbed_attn else {}
    h = attn(h, encoder_hidden_states=None, query_rotary_emb=rope, attention_mask=mask, out=h, **extra)
    return _add_(x, h, gate, chunk, inplace=False)  # the block's input is left as it was


def _text_attention(x: torch.Tensor, norm: nn.Module, attn: nn.Module, context: torch.Tensor, mask,
                    q_mod: tuple | None, chunk: int) -> torch.Tensor:
    """Prompt cross-attention; `q_mod` = (shift, scale, gate) when the query side is AdaLN-modulated."""
    h = _normed(norm, x, chunk, *((q_mod[1], q_mod[0]) if q_mod else ()))
    h = attn(h, encoder_hidden_states=context, query_rotary_emb=None, attention_mask=mask, out=h)
    return _add_(x, h, q_mod[2] if q_mod else None, chunk)


def _prompt_mod(blk: nn.Module, table: torch.Tensor, temb: torch.Tensor | None, like: torch.Tensor, b: int):
    """(shift, scale) for the text keys/values: per sigma when a prompt AdaLN embedding is given, else the
    per-layer table alone."""
    if temb is not None:
        return blk.get_mod_params(table, temb, b)
    return table[None, None].to(device=like.device, dtype=like.dtype).unbind(dim=2)


def lean_block_forward(blk: nn.Module, a: dict, chunk: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The block's maths for the stock forward's keyword arguments `a` (see the module docstring)."""
    x, xa = a["hidden_states"], a["audio_hidden_states"]
    b = x.size(0)
    vp = blk.get_mod_params(blk.scale_shift_table, a["temb"], b)
    ap = blk.get_mod_params(blk.audio_scale_shift_table, a["temb_audio"], b)
    x = _self_attention(blk, x, blk.norm1, blk.attn1, (vp[0], vp[1], vp[2]), a["video_rotary_emb"],
                        a["self_attention_mask"], a, chunk)
    xa = _self_attention(blk, xa, blk.audio_norm1, blk.audio_attn1, (ap[0], ap[1], ap[2]), a["audio_rotary_emb"],
                         a["audio_self_attention_mask"], a, chunk)
    ctx, actx = a["encoder_hidden_states"], a["audio_encoder_hidden_states"]
    if blk.cross_attn_adaln:
        shift_kv, scale_kv = _prompt_mod(blk, blk.prompt_scale_shift_table, a["temb_prompt"], x, b)
        a_shift_kv, a_scale_kv = _prompt_mod(blk, blk.audio_prompt_scale_shift_table, a["temb_prompt_audio"], xa, b)
        ctx = ctx * (1 + scale_kv) + shift_kv
        actx = actx * (1 + a_scale_kv) + a_shift_kv
    x = _text_attention(x, blk.norm2, blk.attn2, ctx, a["encoder_attention_mask"],
                        vp[6:9] if blk.video_cross_attn_adaln else None, chunk)
    xa = _text_attention(xa, blk.audio_norm2, blk.audio_attn2, actx, a["audio_encoder_attention_mask"],
                         ap[6:9] if blk.audio_cross_attn_adaln else None, chunk)
    del ctx, actx
    if a["use_a2v_cross_attention"] or a["use_v2a_cross_attention"]:
        x, xa = _audio_video_attention(blk, x, xa, a, chunk)
    x = _feed_forward_(x, blk.norm3, blk.ff, vp[4], vp[3], vp[5], chunk)
    xa = _feed_forward_(xa, blk.audio_norm3, blk.audio_ff, ap[4], ap[3], ap[5], chunk)
    return x, xa


def _audio_video_attention(blk: nn.Module, x: torch.Tensor, xa: torch.Tensor, a: dict, chunk: int):
    """a2v (queries video, keys audio) then v2a (queries audio, keys video); both read the video and audio
    streams as they were before either update, so the normed copies are taken first."""
    b = x.size(0)
    nv = _normed(blk.audio_to_video_norm, x, chunk)
    na = _normed(blk.video_to_audio_norm, xa, chunk)
    vt, at = blk.video_a2v_cross_attn_scale_shift_table, blk.audio_a2v_cross_attn_scale_shift_table
    v_a2v_scale, v_a2v_shift, v_v2a_scale, v_v2a_shift = blk.get_mod_params(vt[:4, :], a["temb_ca_scale_shift"], b)
    a_a2v_scale, a_a2v_shift, a_v2a_scale, a_v2a_shift = blk.get_mod_params(at[:4, :], a["temb_ca_audio_scale_shift"], b)
    a2v_gate = blk.get_mod_params(vt[4:, :], a["temb_ca_gate"], b)[0].squeeze(2)
    v2a_gate = blk.get_mod_params(at[4:, :], a["temb_ca_audio_gate"], b)[0].squeeze(2)
    if a["use_a2v_cross_attention"]:
        q = _modulate(nv, v_a2v_scale.squeeze(2), v_a2v_shift.squeeze(2), chunk)
        kv = na * (1 + a_a2v_scale.squeeze(2)) + a_a2v_shift.squeeze(2)
        q = blk.audio_to_video_attn(q, encoder_hidden_states=kv, query_rotary_emb=a["ca_video_rotary_emb"],
                                    key_rotary_emb=a["ca_audio_rotary_emb"],
                                    attention_mask=a["a2v_cross_attention_mask"], out=q)
        del kv
        x = _add_(x, q, a2v_gate, chunk, gate_first=True)
        del q
    if a["use_v2a_cross_attention"]:
        kv = _modulate(nv, v_v2a_scale.squeeze(2), v_v2a_shift.squeeze(2), chunk)
        del nv
        q = na * (1 + a_v2a_scale.squeeze(2)) + a_v2a_shift.squeeze(2)
        q = blk.video_to_audio_attn(q, encoder_hidden_states=kv, query_rotary_emb=a["ca_audio_rotary_emb"],
                                    key_rotary_emb=a["ca_video_rotary_emb"],
                                    attention_mask=a["v2a_cross_attention_mask"])
        del kv
        xa = _add_(xa, q, v2a_gate, chunk, gate_first=True)
    return x, xa


def _modulate(h: torch.Tensor, scale: torch.Tensor, shift: torch.Tensor, chunk: int) -> torch.Tensor:
    """`h * (1 + scale) + shift` chunk by chunk into a new tensor (h is still needed afterwards)."""
    out: torch.Tensor | None = None
    for s, e in _spans(h.shape[1], chunk):
        y = h[:, s:e] * (1 + _tok(scale, s, e)) + _tok(shift, s, e)
        if out is None:
            out = y.new_empty((*h.shape[:2], y.shape[-1]))
        out[:, s:e] = y
    assert out is not None
    return out


def _lean_forward(blk: nn.Module, stock, chunk: int):
    sig = inspect.signature(stock)

    def forward(*args, **kwargs):
        if torch.is_grad_enabled():
            return stock(*args, **kwargs)
        bound = sig.bind(*args, **kwargs)
        bound.apply_defaults()
        return lean_block_forward(blk, dict(bound.arguments), chunk)
    return forward


@contextlib.contextmanager
def lean_blocks(module: nn.Module, chunk_tokens: int) -> Iterator[int]:
    """Every LTX-2 transformer block under `module` runs `lean_block_forward` inside the block (needs the
    chunked attention of `attention.lean_attention` for the `out=` argument); yield how many."""
    patched: list[tuple[nn.Module, object]] = []
    try:
        for m in module.modules():
            if type(m).__name__ not in _BLOCK_CLASSES:
                continue
            params = tuple(inspect.signature(type(m).forward).parameters)
            if params != _KNOWN_PARAMS:
                log.warning("%s.forward has parameters %s; the lean forward knows %s: not installed",
                            type(m).__name__, params, _KNOWN_PARAMS)
                continue
            patched.append((m, m.__dict__.get("forward")))
            m.forward = _lean_forward(m, m.forward, chunk_tokens)
        yield len(patched)
    finally:
        for m, prev in patched:
            if prev is None:
                del m.forward
            else:
                m.forward = prev


@contextlib.contextmanager
def lean_transformer(module: nn.Module, chunk_tokens: int) -> Iterator[tuple[int, int]]:
    """Chunked attention with on-demand RoPE (`attention.lean_attention`) plus the lean block forward;
    yield (attentions switched, blocks switched)."""
    from model_runtime.models.attention import lean_attention

    with lean_attention(module, chunk_tokens) as n_attn, lean_blocks(module, chunk_tokens) as n_blocks:
        yield n_attn, n_blocks
