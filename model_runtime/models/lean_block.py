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

When one chunk covers every token (short clips, every CPU job at the default chunk) the chunk machinery
is pure overhead: `LeanRun.fast` (the default) then works on whole tensors and in place on tensors the
forward owns: no chunk buffers and copies, `y * (1 + scale) + shift` without its intermediate, gates
multiplied into the attention/FFN output, GELU in place, and (attention.py) the RoPE tables built once per
stage. Every number is the same, bit for bit (same operations, same order, same dtypes:
tests/runtime/test_lean_fast.py); fewer fresh tensors per step is the saving (on the CPU each fresh
large tensor is also first-touch page faults). `benchmarks/denoise_step.py` measures it.

The block's submodules and parameters are used as they are, so weights, fp8 storage and block streaming
work unchanged. Used only under `torch.no_grad()`/inference mode (in-place updates and autograd don't
mix); with gradients enabled the stock forward runs.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import nn

from model_runtime.models.attention import _spans, lean_attention

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


@dataclass(frozen=True)
class LeanRun:
    """How the lean forward runs: token `chunk` size; `fast` takes the shortcuts that leave every number
    as it is: when one chunk covers all tokens, work on whole tensors, in place where the tensor is the
    forward's own (no chunk copies, no intermediate of `y * (1 + scale) + shift`, GELU in place)."""

    chunk: int
    fast: bool = True

    def one_chunk(self, x: torch.Tensor) -> bool:
        return self.fast and x.shape[1] <= self.chunk


def _tok(t: torch.Tensor, s: int, e: int) -> torch.Tensor:
    """Rows [s, e) of a per-token modulation tensor [B, T, D]; a shared one ([B, 1, D]) as it is."""
    return t[:, s:e] if t.shape[1] > 1 else t


def _fits(y: torch.Tensor, *others: torch.Tensor) -> bool:
    """`y op others` can be written into `y`: same shape after broadcasting and y's dtype."""
    dtype = y.dtype
    for o in others:
        dtype = torch.promote_types(dtype, o.dtype)
    return dtype == y.dtype and torch.broadcast_shapes(y.shape, *(o.shape for o in others)) == y.shape


def _modulated(y: torch.Tensor, scale: torch.Tensor, shift: torch.Tensor, own: bool) -> torch.Tensor:
    """`y * (1 + scale) + shift`: into `y` when it is the caller's own (`own`), else into one new tensor;
    the same two roundings as the plain expression either way, without its intermediate tensor."""
    if not _fits(y, scale, shift):
        return y * (1 + scale) + shift
    return (y.mul_(1 + scale) if own else y * (1 + scale)).add_(shift)


def _normed(norm: nn.Module, x: torch.Tensor, run: LeanRun, scale: torch.Tensor | None = None,
            shift: torch.Tensor | None = None) -> torch.Tensor:
    """`norm(x) * (1 + scale) + shift` (or just `norm(x)`), chunk by chunk into one new tensor; when one
    chunk covers every token (`run.fast`): the norm's own output, modulated in place."""
    if run.one_chunk(x):
        y = norm(x)
        if scale is None:
            return y
        return _modulated(y, scale, shift, own=y.untyped_storage().data_ptr() != x.untyped_storage().data_ptr())
    out: torch.Tensor | None = None
    for s, e in _spans(x.shape[1], run.chunk):
        y = norm(x[:, s:e])
        if scale is not None:
            y = y * (1 + _tok(scale, s, e)) + _tok(shift, s, e)
        if out is None:
            out = y.new_empty((*x.shape[:2], y.shape[-1]))
        out[:, s:e] = y
    assert out is not None
    return out


def _add_(x: torch.Tensor, update: torch.Tensor, gate: torch.Tensor | None, run: LeanRun,
          gate_first: bool = False, inplace: bool = True) -> torch.Tensor:
    """`x + update * gate` (or `x + gate * update`, or `x + update`) over chunks: into x when `inplace`
    and the result has x's dtype, else into a new tensor (what the stock forward does every time).
    `update` is the caller's own (an attention or FFN output used only here): in one chunk it is gated in
    place (the same product: IEEE multiplication commutes), one tensor fewer."""
    dtype = update.dtype if gate is None else torch.promote_types(update.dtype, gate.dtype)
    if torch.promote_types(x.dtype, dtype) != x.dtype:
        return x + (update if gate is None else (gate * update if gate_first else update * gate))
    if run.one_chunk(x) and update.shape == x.shape:
        if gate is not None:
            update = update.mul_(gate) if _fits(update, gate) else update * gate
        return x.add_(update) if inplace else torch.add(x, update)
    out = x if inplace else torch.empty_like(x)
    for s, e in _spans(x.shape[1], run.chunk):
        u = update[:, s:e]
        if gate is not None:
            g = _tok(gate, s, e)
            u = g * u if gate_first else u * g
        if inplace:
            out[:, s:e] += u
        else:
            out[:, s:e] = x[:, s:e] + u
    return out


def _ffn(ff: nn.Module, h: torch.Tensor, run: LeanRun) -> torch.Tensor:
    """diffusers' FeedForward (Linear + tanh GELU, dropout, Linear), the GELU applied in place on the
    projection's fresh output when `run.fast` (the same kernel, one [tokens, 4 x width] tensor fewer); any
    other or patched FFN runs as it is."""
    net = getattr(ff, "net", None)
    act = net[0] if isinstance(net, nn.ModuleList) and len(net) == 3 else None
    if not run.fast or act is None or type(act).__name__ != "GELU" or "forward" in ff.__dict__ \
            or "forward" in act.__dict__ or h.device.type == "mps":
        return ff(h)
    y = act.proj(h)
    torch.ops.aten.gelu_(y, approximate=act.approximate)
    return net[2](net[1](y))


def _feed_forward_(x: torch.Tensor, norm: nn.Module, ff: nn.Module, scale: torch.Tensor, shift: torch.Tensor,
                   gate: torch.Tensor, run: LeanRun) -> torch.Tensor:
    """x + ff(norm(x) * (1 + scale) + shift) * gate: every step is per token, so all of it runs per chunk."""
    if torch.promote_types(x.dtype, gate.dtype) != x.dtype:
        return x + ff(norm(x) * (1 + scale) + shift) * gate
    if run.one_chunk(x):
        return _add_(x, _ffn(ff, _normed(norm, x, run, scale, shift), run), gate, run)
    for s, e in _spans(x.shape[1], run.chunk):
        h = norm(x[:, s:e]) * (1 + _tok(scale, s, e)) + _tok(shift, s, e)
        x[:, s:e] += ff(h) * _tok(gate, s, e)
    return x


def _self_attention(blk: nn.Module, x: torch.Tensor, norm: nn.Module, attn: nn.Module, mod: tuple, rope,
                    mask, a: dict, run: LeanRun) -> torch.Tensor:
    shift, scale, gate = mod
    h = _normed(norm, x, run, scale, shift)
    extra = {"perturbation_mask": a["perturbation_mask"], "all_perturbed": a["all_perturbed"]} \
        if blk.perturbed_attn else {}
    h = attn(h, encoder_hidden_states=None, query_rotary_emb=rope, attention_mask=mask, out=h, **extra)
    return _add_(x, h, gate, run, inplace=False)  # the block's input is left as it was


def _text_attention(x: torch.Tensor, norm: nn.Module, attn: nn.Module, context: torch.Tensor, mask,
                    q_mod: tuple | None, run: LeanRun) -> torch.Tensor:
    """Prompt cross-attention; `q_mod` = (shift, scale, gate) when the query side is AdaLN-modulated."""
    h = _normed(norm, x, run, *((q_mod[1], q_mod[0]) if q_mod else ()))
    h = attn(h, encoder_hidden_states=context, query_rotary_emb=None, attention_mask=mask, out=h)
    return _add_(x, h, q_mod[2] if q_mod else None, run)


def _prompt_context(blk: nn.Module, ctx: torch.Tensor, table: torch.Tensor, temb: torch.Tensor | None,
                    b: int, run: LeanRun) -> torch.Tensor:
    """The text context the keys/values are projected from: `ctx * (1 + scale) + shift`, (shift, scale) per
    sigma when a prompt AdaLN embedding is given (LTX-2.3 and 2.5 both have one: their prompt K/V differ
    per step, so they cannot be kept between steps), else the per-layer table alone."""
    if temb is not None:
        shift, scale = blk.get_mod_params(table, temb, b)
    else:
        shift, scale = table[None, None].to(device=ctx.device, dtype=ctx.dtype).unbind(dim=2)
    return _modulated(ctx, scale, shift, own=False) if run.fast else ctx * (1 + scale) + shift


def lean_block_forward(blk: nn.Module, a: dict, run: LeanRun) -> tuple[torch.Tensor, torch.Tensor]:
    """The block's maths for the stock forward's keyword arguments `a` (see the module docstring)."""
    x, xa = a["hidden_states"], a["audio_hidden_states"]
    b = x.size(0)
    vp = blk.get_mod_params(blk.scale_shift_table, a["temb"], b)
    ap = blk.get_mod_params(blk.audio_scale_shift_table, a["temb_audio"], b)
    x = _self_attention(blk, x, blk.norm1, blk.attn1, (vp[0], vp[1], vp[2]), a["video_rotary_emb"],
                        a["self_attention_mask"], a, run)
    xa = _self_attention(blk, xa, blk.audio_norm1, blk.audio_attn1, (ap[0], ap[1], ap[2]), a["audio_rotary_emb"],
                         a["audio_self_attention_mask"], a, run)
    ctx, actx = a["encoder_hidden_states"], a["audio_encoder_hidden_states"]
    if blk.cross_attn_adaln:
        ctx = _prompt_context(blk, ctx, blk.prompt_scale_shift_table, a["temb_prompt"], b, run)
        actx = _prompt_context(blk, actx, blk.audio_prompt_scale_shift_table, a["temb_prompt_audio"], b, run)
    x = _text_attention(x, blk.norm2, blk.attn2, ctx, a["encoder_attention_mask"],
                        vp[6:9] if blk.video_cross_attn_adaln else None, run)
    xa = _text_attention(xa, blk.audio_norm2, blk.audio_attn2, actx, a["audio_encoder_attention_mask"],
                         ap[6:9] if blk.audio_cross_attn_adaln else None, run)
    del ctx, actx
    if a["use_a2v_cross_attention"] or a["use_v2a_cross_attention"]:
        x, xa = _audio_video_attention(blk, x, xa, a, run)
    x = _feed_forward_(x, blk.norm3, blk.ff, vp[4], vp[3], vp[5], run)
    xa = _feed_forward_(xa, blk.audio_norm3, blk.audio_ff, ap[4], ap[3], ap[5], run)
    return x, xa


def _audio_video_attention(blk: nn.Module, x: torch.Tensor, xa: torch.Tensor, a: dict, run: LeanRun):
    """a2v (queries video, keys audio) then v2a (queries audio, keys video); both read the video and audio
    streams as they were before either update, so the normed copies are taken first."""
    b = x.size(0)
    nv = _normed(blk.audio_to_video_norm, x, run)
    na = _normed(blk.video_to_audio_norm, xa, run)
    vt, at = blk.video_a2v_cross_attn_scale_shift_table, blk.audio_a2v_cross_attn_scale_shift_table
    v_a2v_scale, v_a2v_shift, v_v2a_scale, v_v2a_shift = blk.get_mod_params(vt[:4, :], a["temb_ca_scale_shift"], b)
    a_a2v_scale, a_a2v_shift, a_v2a_scale, a_v2a_shift = blk.get_mod_params(at[:4, :], a["temb_ca_audio_scale_shift"], b)
    a2v_gate = blk.get_mod_params(vt[4:, :], a["temb_ca_gate"], b)[0].squeeze(2)
    v2a_gate = blk.get_mod_params(at[4:, :], a["temb_ca_audio_gate"], b)[0].squeeze(2)
    if a["use_a2v_cross_attention"]:
        q = _modulate(nv, v_a2v_scale.squeeze(2), v_a2v_shift.squeeze(2), run)
        kv = _modulate(na, a_a2v_scale.squeeze(2), a_a2v_shift.squeeze(2), run, whole=True)
        q = blk.audio_to_video_attn(q, encoder_hidden_states=kv, query_rotary_emb=a["ca_video_rotary_emb"],
                                    key_rotary_emb=a["ca_audio_rotary_emb"],
                                    attention_mask=a["a2v_cross_attention_mask"], out=q)
        del kv
        x = _add_(x, q, a2v_gate, run, gate_first=True)
        del q
    if a["use_v2a_cross_attention"]:
        kv = _modulate(nv, v_v2a_scale.squeeze(2), v_v2a_shift.squeeze(2), run)
        del nv
        q = _modulate(na, a_v2a_scale.squeeze(2), a_v2a_shift.squeeze(2), run, whole=True)
        q = blk.video_to_audio_attn(q, encoder_hidden_states=kv, query_rotary_emb=a["ca_audio_rotary_emb"],
                                    key_rotary_emb=a["ca_video_rotary_emb"],
                                    attention_mask=a["v2a_cross_attention_mask"])
        del kv
        xa = _add_(xa, q, v2a_gate, run, gate_first=True)
    return x, xa


def _modulate(h: torch.Tensor, scale: torch.Tensor, shift: torch.Tensor, run: LeanRun,
              whole: bool = False) -> torch.Tensor:
    """`h * (1 + scale) + shift` chunk by chunk into a new tensor (h is still needed afterwards); `whole`:
    in one piece (the audio side, as the stock forward computes it)."""
    if run.fast and (whole or h.shape[1] <= run.chunk):
        return _modulated(h, scale, shift, own=False)
    if whole:
        return h * (1 + scale) + shift
    out: torch.Tensor | None = None
    for s, e in _spans(h.shape[1], run.chunk):
        y = h[:, s:e] * (1 + _tok(scale, s, e)) + _tok(shift, s, e)
        if out is None:
            out = y.new_empty((*h.shape[:2], y.shape[-1]))
        out[:, s:e] = y
    assert out is not None
    return out


def _lean_forward(blk: nn.Module, stock, run: LeanRun):
    sig = inspect.signature(stock)

    def forward(*args, **kwargs):
        if torch.is_grad_enabled():
            return stock(*args, **kwargs)
        bound = sig.bind(*args, **kwargs)
        bound.apply_defaults()
        return lean_block_forward(blk, dict(bound.arguments), run)
    return forward


@contextlib.contextmanager
def lean_blocks(module: nn.Module, chunk_tokens: int, *, fast: bool = True) -> Iterator[int]:
    """Every LTX-2 transformer block under `module` runs `lean_block_forward` inside the block (needs the
    chunked attention of `attention.lean_attention` for the `out=` argument); yield how many. `fast`: the
    one-chunk shortcuts of `LeanRun` (off: the plain chunked path, for A/B benchmarks)."""
    run = LeanRun(chunk_tokens, fast)
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
            m.forward = _lean_forward(m, m.forward, run)
        yield len(patched)
    finally:
        for m, prev in patched:
            if prev is None:
                del m.forward
            else:
                m.forward = prev


@contextlib.contextmanager
def lean_transformer(module: nn.Module, chunk_tokens: int, *, fast: bool = True) -> Iterator[tuple[int, int]]:
    """Chunked attention with on-demand RoPE (`attention.lean_attention`) plus the lean block forward;
    yield (attentions switched, blocks switched). `fast` (default) adds what is computed once instead of
    per chunk, layer or step: see `LeanRun`."""
    with lean_attention(module, chunk_tokens, fast=fast) as n_attn, \
            lean_blocks(module, chunk_tokens, fast=fast) as n_blocks:
        yield n_attn, n_blocks
