"""LTX-2.5's DurationHead ("auto duration"): predict a clip length from the prompt's connector contexts.

The official file (`model_patches/ltx-2.5-duration-head-*.safetensors`) stores `duration_head.*` with the
pooler in PyTorch's `nn.MultiheadAttention` layout (one fused `in_proj_weight`). diffusers 0.42.1's
`LTX2DurationHead` computes the same thing but with separate to_q/to_k/to_v Linears, so loading it would
need a tensor split the key map cannot express; this module keeps the file's layout (torch's own
`nn.MultiheadAttention`, as the reference does) and its names are the file's minus the prefix.

Config: the projection widths are the transformer's `cross_attention_dim` / `audio_cross_attention_dim`
(stored in the head file's own `config.transformer`), the head's sizes are `config.duration_head`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch
from torch import nn

from model_runtime.loading import ComponentSpec

log = logging.getLogger(__name__)

PREFIX = "duration_head."
#: the pipeline's default clamp of a prediction (ltx-pipelines 1.2.0 DurationPredictor): 1 s .. 20 s
DEFAULT_MIN_SECONDS = 1.0
DEFAULT_MAX_SECONDS = 20.0


class AttentionPooler(nn.Module):
    """`num_queries` learned tokens cross-attend the caption tokens (no mask: registers fill the padding)."""

    def __init__(self, hidden_dim: int, num_queries: int, num_heads: int) -> None:
        super().__init__()
        self.query_tokens = nn.Parameter(torch.zeros(num_queries, hidden_dim))
        self.cross_attn = nn.MultiheadAttention(embed_dim=hidden_dim, num_heads=num_heads, batch_first=True)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        queries = self.query_tokens.unsqueeze(0).expand(tokens.shape[0], -1, -1)
        pooled, _ = self.cross_attn(queries, tokens, tokens, need_weights=False)
        return pooled


class DurationHead(nn.Module):
    """Video and/or audio connector contexts -> predicted seconds `[B]` (the MLP predicts log-seconds)."""

    def __init__(self, video_dim: int, audio_dim: int, pooler_hidden_dim: int, num_queries: int,
                 num_pooler_heads: int, mlp_hidden: int) -> None:
        super().__init__()
        self.video_input_proj = nn.Linear(video_dim, pooler_hidden_dim)
        self.video_modality_emb = nn.Parameter(torch.zeros(pooler_hidden_dim))
        self.audio_input_proj = nn.Linear(audio_dim, pooler_hidden_dim)
        self.audio_modality_emb = nn.Parameter(torch.zeros(pooler_hidden_dim))
        self.attention_pooler = AttentionPooler(pooler_hidden_dim, num_queries, num_pooler_heads)
        self.mlp_hidden = nn.Linear(pooler_hidden_dim * num_queries, mlp_hidden)
        self.mlp_out = nn.Linear(mlp_hidden, 1)

    def forward(self, video: torch.Tensor | None = None, audio: torch.Tensor | None = None) -> torch.Tensor:
        if video is None and audio is None:
            raise ValueError("the duration head needs the video or the audio context (or both)")
        dtype = self.mlp_out.weight.dtype
        groups = []
        if video is not None:
            groups.append(self.video_input_proj(video.to(dtype)) + self.video_modality_emb)
        if audio is not None:
            groups.append(self.audio_input_proj(audio.to(dtype)) + self.audio_modality_emb)
        pooled = self.attention_pooler(torch.cat(groups, dim=1)).flatten(1)
        hidden = torch.nn.functional.gelu(self.mlp_hidden(pooled), approximate="tanh")  # tanh GELU, as trained
        return self.mlp_out(hidden).squeeze(-1).exp()


def build_duration_head(config: dict) -> DurationHead:
    t = config.get("transformer", {})
    d = config.get("duration_head", {})
    return DurationHead(
        video_dim=int(t.get("cross_attention_dim", 4096)), audio_dim=int(t.get("audio_cross_attention_dim", 2048)),
        pooler_hidden_dim=int(d.get("pooler_hidden_dim", 256)), num_queries=int(d.get("num_queries", 1)),
        num_pooler_heads=int(d.get("num_pooler_heads", 4)), mlp_hidden=int(d.get("mlp_hidden", 256)),
    )


DURATION_HEAD_SPEC = ComponentSpec(name="duration_head", prefix=PREFIX, build=build_duration_head)


@dataclass(frozen=True)
class DurationBounds:
    """The clamp applied to a prediction before it becomes a frame count."""

    min_seconds: float = DEFAULT_MIN_SECONDS
    max_seconds: float = DEFAULT_MAX_SECONDS

    def __post_init__(self) -> None:
        if not 0 < self.min_seconds <= self.max_seconds:
            raise ValueError(f"auto duration bounds must satisfy 0 < MIN <= MAX, got {self.min_seconds}, {self.max_seconds}")


def seconds_to_frames(seconds: float, fps: float, bounds: DurationBounds = DurationBounds(), time_scale: int = 8) -> int:
    """ltx-pipelines' rule: round to frames, clamp to the bounds, floor to the `8k+1` grid, and step up one
    grid point when flooring fell under the minimum (never above the maximum)."""
    min_frames, max_frames = round(bounds.min_seconds * fps), round(bounds.max_seconds * fps)
    frames = max(min_frames, min(round(seconds * fps), max_frames))
    if frames < 1:
        raise ValueError(f"auto duration: {frames} frames is not a clip")
    snapped = ((frames - 1) // time_scale) * time_scale + 1
    if snapped < min_frames:
        snapped = min(-(-(min_frames - 1) // time_scale) * time_scale + 1, max_frames)
    return snapped


@dataclass(frozen=True)
class DurationPrediction:
    seconds: float
    frames: int
    fps: float


@torch.inference_mode()
def predict_duration(head: DurationHead, video_context: torch.Tensor, audio_context: torch.Tensor | None, fps: float,
                     bounds: DurationBounds = DurationBounds()) -> DurationPrediction:
    """One prompt's predicted length (seconds as the head says, frames as the pipeline will use)."""
    weight = head.mlp_out.weight
    seconds = head(video_context.to(weight.device), None if audio_context is None else audio_context.to(weight.device))
    if seconds.shape != (1,):
        raise ValueError(f"auto duration predicts one prompt at a time, got {tuple(seconds.shape)}")
    value = float(seconds.item())
    frames = seconds_to_frames(value, fps, bounds)
    log.info("auto duration: %.2f s -> %d frames at %g fps (bounds %s)", value, frames, fps, bounds)
    return DurationPrediction(value, frames, fps)
