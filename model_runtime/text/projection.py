"""FeatureExtractorV2 + `text_embedding_projection.*`: Gemma's L+1 hidden states -> video/audio features.

LTX-2.3 normalises each token of each Gemma state by its RMS over the hidden dim, flattens
`[D, L+1] -> D*(L+1)` (layer index fastest), zeroes the padding, rescales by sqrt(out_dim / D) for each
modality, then applies one Linear (with bias) per modality. The output dims are the transformer's video
and audio inner dims (`num_attention_heads * attention_head_dim`, `audio_num_attention_heads *
audio_attention_head_dim`), the input dim is Gemma's hidden size times its number of states.

The Gemma dims are not in the LTX checkpoint's config. The reference hard-codes Gemma-3-12B (3840 x 49);
we take them from the Gemma folder: `with_gemma_dims(config, dims)` adds them as a `text_encoder` section,
and the spec falls back to the reference's Gemma-3-12B assumption only when that section is absent.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from model_runtime.checkpoints import SafetensorsHeader
from model_runtime.errors import CheckpointError, UnsupportedModelError
from model_runtime.loading import ComponentSpec
from model_runtime.mapped import compute_dtype
from model_runtime.text.gemma import GemmaDims

#: config section `with_gemma_dims` adds to a copy of the embedded config
GEMMA_CONFIG_SECTION = "text_encoder"

#: what the reference assumes when nothing else is known: Gemma-3-12B (hidden 3840, 48 layers)
GEMMA3_12B_LAYERS = 48

#: the four transformer-config values that select the V2 text path (LTX-2.3); the reference refuses others
V2_CONFIG = {
    "caption_proj_before_connector": True,
    "caption_projection_first_linear": False,
    "caption_proj_input_norm": False,
    "caption_projection_second_linear": False,
}

RMS_EPS = 1e-6


def check_v2_text_config(transformer_cfg: dict) -> None:
    """Refuse LTX-2.0's V1 text path and partial/unknown variants, as the reference does."""
    present = V2_CONFIG.keys() & transformer_cfg.keys()
    if not present:
        raise UnsupportedModelError(
            "this checkpoint uses the LTX-2.0 text path (one shared caption projection); only the LTX-2.3 "
            "per-modality text projection is supported"
        )
    wrong = {k: transformer_cfg.get(k, "<missing>") for k in V2_CONFIG if transformer_cfg.get(k, None) != V2_CONFIG[k]}
    if wrong:
        raise UnsupportedModelError(f"unknown text projection variant in the config: {wrong} (expected {V2_CONFIG})")


def with_gemma_dims(config: dict, dims: GemmaDims) -> dict:
    """A shallow copy of the embedded config with the Gemma folder's dims added (for TEXT_PROJECTION_SPEC)."""
    out = dict(config)
    out[GEMMA_CONFIG_SECTION] = {"hidden_size": dims.hidden_size, "num_hidden_layers": dims.num_hidden_layers}
    return out


def gemma_dims_of(config: dict) -> GemmaDims:
    section = config.get(GEMMA_CONFIG_SECTION)
    if section is not None:
        return GemmaDims(int(section["hidden_size"]), int(section["num_hidden_layers"]))
    return GemmaDims(int(config["transformer"]["caption_channels"]), GEMMA3_12B_LAYERS)


def modality_dims(transformer_cfg: dict) -> tuple[int, int]:
    """(video, audio) inner dims of the transformer = output dims of the two projections."""
    video = transformer_cfg["num_attention_heads"] * transformer_cfg["attention_head_dim"]
    audio = transformer_cfg["audio_num_attention_heads"] * transformer_cfg["audio_attention_head_dim"]
    return int(video), int(audio)


def per_token_rms_features(hidden_states: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """`[B, T, D, L+1]` -> `[B, T, D*(L+1)]`: RMS-normalise every state of every token over D, zero padding."""
    b, t, d, n = hidden_states.shape
    variance = torch.mean(hidden_states**2, dim=2, keepdim=True)
    normed = (hidden_states * torch.rsqrt(variance + RMS_EPS)).reshape(b, t, d * n)
    keep = attention_mask.to(device=normed.device, dtype=torch.bool).unsqueeze(-1)
    return torch.where(keep, normed, torch.zeros_like(normed))


class TextProjection(nn.Module):
    """FeatureExtractorV2: per-token RMS features, per-modality rescale, `{video,audio}_aggregate_embed`."""

    def __init__(self, gemma: GemmaDims, video_dim: int, audio_dim: int):
        super().__init__()
        self.gemma_hidden = gemma.hidden_size
        in_features = gemma.hidden_size * gemma.num_states
        self.video_aggregate_embed = nn.Linear(in_features, video_dim, bias=True)
        self.audio_aggregate_embed = nn.Linear(in_features, audio_dim, bias=True)

    def forward(self, hidden_states: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """hidden states `[B, T, D, L+1]` + binary mask `[B, T]` -> (video `[B, T, Dv]`, audio `[B, T, Da]`)."""
        if hidden_states.shape[2] != self.gemma_hidden:
            raise ValueError(f"hidden size {hidden_states.shape[2]} != the projection's Gemma hidden {self.gemma_hidden}")
        x = per_token_rms_features(hidden_states, attention_mask).to(compute_dtype(self, self.video_aggregate_embed.weight))
        video = self.video_aggregate_embed(x * self._scale(self.video_aggregate_embed))
        audio = self.audio_aggregate_embed(x * self._scale(self.audio_aggregate_embed))
        return video, audio

    def _scale(self, layer: nn.Linear) -> float:
        return math.sqrt(layer.out_features / self.gemma_hidden)


def _build(config: dict) -> TextProjection:
    transformer_cfg = config["transformer"]
    check_v2_text_config(transformer_cfg)
    video, audio = modality_dims(transformer_cfg)
    return TextProjection(gemma_dims_of(config), video, audio)


TEXT_PROJECTION_SPEC = ComponentSpec(name="text_projection", prefix="text_embedding_projection.", build=_build)


def check_gemma_matches(header: SafetensorsHeader, dims: GemmaDims) -> None:
    """Say clearly when the chosen Gemma folder is not the text encoder this checkpoint was trained with."""
    key = TEXT_PROJECTION_SPEC.prefix + "video_aggregate_embed.weight"
    info = header.tensors.get(key)
    if info is None:
        raise CheckpointError(f"{header.path}: no {key}: the text projection is missing from the checkpoint")
    expected = dims.hidden_size * dims.num_states
    if info.shape[-1] != expected:
        raise CheckpointError(
            f"{header.path}: the text projection expects {info.shape[-1]} Gemma features per token, but the Gemma "
            f"folder gives {dims.hidden_size} x {dims.num_states} states = {expected}: wrong text encoder for this "
            "checkpoint (LTX-2.3 uses Gemma-3-12B)"
        )
