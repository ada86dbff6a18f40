"""The video and audio embeddings connectors: projected text features -> the transformer's text contexts.

Each connector is a small 1-D transformer. diffusers' `LTX2ConnectorTransformer1d` represents the official
2.3 connector exactly (checked against the reference op by op and on the golden set): padding replaced by
the learnable registers with the valid tokens moved to the front (position i >= n_valid gets register
i % R), attention unmasked afterwards, 1-D split RoPE over 0..T-1 / max_pos with the float64 frequency
grid, q/k RMS norm with weight, per-head gated attention (2 * sigmoid), GELU-tanh feed-forward, and a
final RMS norm without weight. We use it as a library class; only the key names differ from the file.

Keys live under `model.diffusion_model.{video,audio}_embeddings_connector.` next to the transformer's;
both specs use the `model.diffusion_model.` prefix and their rename returns None for every other key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import partial

import torch
from torch import nn

from model_runtime.errors import UnsupportedModelError
from model_runtime.loading import ComponentSpec

#: the connectors' RoPE base; the reference's connectors use this constant, not the transformer's theta key
CONNECTOR_ROPE_THETA = 10000.0

#: register count when the config does not carry `connector_num_learnable_registers` (the reference's constant)
DEFAULT_NUM_REGISTERS = 128

#: official segment -> diffusers segment, inside one connector's keys (and the inverse below)
_RENAMES = (
    (r"^transformer_1d_blocks\.", "transformer_blocks."),
    (r"\.attn1\.q_norm\.", ".attn1.norm_q."),
    (r"\.attn1\.k_norm\.", ".attn1.norm_k."),
)
_UNRENAMES = (
    (r"^transformer_blocks\.", "transformer_1d_blocks."),
    (r"\.attn1\.norm_q\.", ".attn1.q_norm."),
    (r"\.attn1\.norm_k\.", ".attn1.k_norm."),
)
_FOREIGN = re.compile(r"^transformer_blocks\.|\.attn1\.norm_[qk]\.")  # module-style names never valid in the file
_UNMAPPED = "<not an official connector key>:"


@dataclass(frozen=True)
class ConnectorParams:
    heads: int
    head_dim: int
    layers: int
    registers: int
    max_pos: int
    rope_type: str
    double_precision: bool
    gated: bool

    @property
    def inner_dim(self) -> int:
        return self.heads * self.head_dim


def connector_params(transformer_cfg: dict, modality: str) -> ConnectorParams:
    """Read one connector's dims from the embedded config (audio falls back to the video keys, as 2.x does)."""
    def get(key: str):
        if modality == "audio" and f"audio_{key}" in transformer_cfg:
            return transformer_cfg[f"audio_{key}"]
        return transformer_cfg[key]

    if transformer_cfg.get("connector_norm_output", True) is not True:
        raise UnsupportedModelError("connectors without an output norm (connector_norm_output=false) are not supported")
    if transformer_cfg.get("connector_ff_bias", True) is not True:
        raise UnsupportedModelError("connectors without feed-forward bias (connector_ff_bias=false) are not supported")
    max_pos = transformer_cfg.get("connector_positional_embedding_max_pos", [1])
    if len(max_pos) != 1:
        raise UnsupportedModelError(f"connector RoPE must be 1-D, config has max_pos {max_pos}")
    return ConnectorParams(
        heads=int(get("connector_num_attention_heads")),
        head_dim=int(get("connector_attention_head_dim")),
        layers=int(get("connector_num_layers")),
        registers=int(transformer_cfg.get("connector_num_learnable_registers") or DEFAULT_NUM_REGISTERS),
        max_pos=int(max_pos[0]),
        rope_type=str(transformer_cfg.get("rope_type", "split")),
        double_precision=transformer_cfg.get("frequencies_precision") == "float64",
        gated=bool(transformer_cfg.get("connector_apply_gated_attention", False)),
    )


def build_connector(params: ConnectorParams) -> nn.Module:
    from diffusers.pipelines.ltx2.connectors import LTX2ConnectorTransformer1d

    return LTX2ConnectorTransformer1d(
        num_attention_heads=params.heads,
        attention_head_dim=params.head_dim,
        num_layers=params.layers,
        num_learnable_registers=params.registers,
        rope_base_seq_len=params.max_pos,
        rope_theta=CONNECTOR_ROPE_THETA,
        rope_double_precision=params.double_precision,
        rope_type=params.rope_type,
        gated_attention=params.gated,
    )


def _build(config: dict, modality: str) -> nn.Module:
    return build_connector(connector_params(config["transformer"], modality))


def _rename(key: str, head: str) -> str | None:
    """File key (prefix stripped) -> module key; None for keys of other components."""
    if not key.startswith(head):
        return None
    rest = key[len(head):]
    if _FOREIGN.search(rest):
        return _UNMAPPED + key
    for pattern, repl in _RENAMES:
        rest = re.sub(pattern, repl, rest)
    return rest


def _unrename(key: str, head: str) -> str:
    """Module key -> file key (prefix stripped): the inverse of `_rename`."""
    for pattern, repl in _UNRENAMES:
        key = re.sub(pattern, repl, key)
    return head + key


def _spec(modality: str) -> ComponentSpec:
    head = f"{modality}_embeddings_connector."
    return ComponentSpec(
        name=f"{modality}_connector",
        prefix="model.diffusion_model.",
        build=partial(_build, modality=modality),
        rename=partial(_rename, head=head),
        unrename=partial(_unrename, head=head),
    )


VIDEO_CONNECTOR_SPEC = _spec("video")
AUDIO_CONNECTOR_SPEC = _spec("audio")


@dataclass(frozen=True)
class ConnectorOutput:
    """What the transformer's text cross-attention consumes.

    video_context `[B, T, Dv]` (multiplied by the mask), audio_context `[B, T, Da]` (not masked, as in the
    reference), context_mask `[B, T]` int64 (all ones when registers fill the padding).
    """

    video_context: torch.Tensor
    audio_context: torch.Tensor
    context_mask: torch.Tensor


def additive_mask(attention_mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Binary `[B, T]` -> additive `[B, 1, 1, T]`: 0 for tokens, -max(dtype) for padding."""
    b, t = attention_mask.shape
    return (attention_mask.to(torch.int64) - 1).to(dtype).reshape(b, 1, 1, t) * torch.finfo(dtype).max


@torch.inference_mode()
def run_connectors(video_connector: nn.Module, audio_connector: nn.Module, video_features: torch.Tensor,
                   audio_features: torch.Tensor, attention_mask: torch.Tensor) -> ConnectorOutput:
    """Both connectors on the projected features; the padded length must be a multiple of the registers."""
    for conn in (video_connector, audio_connector):
        r = conn.num_learnable_registers
        if r and video_features.shape[1] % r:
            raise ValueError(f"text length {video_features.shape[1]} is not a multiple of the {r} connector registers")
    mask = additive_mask(attention_mask.to(video_features.device), video_features.dtype)
    video, video_mask = video_connector(video_features, mask)
    binary = (video_mask < 1e-6).to(torch.int64).reshape(video.shape[0], video.shape[1], 1)
    video = video * binary
    audio, _ = audio_connector(audio_features, mask.to(audio_features.dtype))
    return ConnectorOutput(video, audio, binary.squeeze(-1))
