"""The LTX-2.x audio-video diffusion transformer, built as diffusers' `LTX2VideoTransformer3DModel`.

diffusers 0.42's class represents the official LTX-2.3 transformer exactly: the same modules, the same
float32 operation order (its authors' own measurement on the reference goldens: bit-identical velocities
with `use_cross_timestep=True` and float64 RoPE frequencies). So this module only
* maps the checkpoint's embedded `transformer` config onto the diffusers constructor, refusing configs the
  reference itself refuses (ltx-core's `check_config_value` asserts), and
* maps official key names <-> diffusers key names, segment by segment, so the map is a bijection that can
  be checked both ways against the full-size layout.

The text connectors stored under the same prefix (`video_embeddings_connector.*`,
`audio_embeddings_connector.*`) belong to the text component: `rename` returns None for them.
"""

from __future__ import annotations

import logging
from typing import Any

from torch import nn

from model_runtime.errors import UnsupportedModelError
from model_runtime.loading import ComponentSpec

log = logging.getLogger(__name__)

PREFIX = "model.diffusion_model."
CONNECTOR_PREFIXES = ("video_embeddings_connector.", "audio_embeddings_connector.")

#: ltx-core refuses to build the transformer unless these hold (`config.get(key) == value`, so an absent key
#: reads as None). Each value is fixed by the architecture the modules implement.
REQUIRED_VALUES: dict[str, Any] = {
    "dropout": 0.0,
    "attention_bias": True,
    "num_vector_embeds": None,
    "activation_fn": "gelu-approximate",
    "num_embeds_ada_norm": 1000,
    "use_linear_projection": False,
    "only_cross_attention": False,
    "cross_attention_norm": True,
    "double_self_attention": False,
    "upcast_attention": False,
    "standardization_norm": "rms_norm",
    "norm_elementwise_affine": False,
    "qk_norm": "rms_norm",
    "positional_embedding_type": "rope",
    "use_audio_video_cross_attention": True,
    "share_ff": False,
    "av_cross_ada_norm": True,
    "use_middle_indices_grid": True,
}

#: ltx-core's defaults for keys a config may omit (the full-size model's values); used only when absent.
DEFAULTS: dict[str, Any] = {
    "num_attention_heads": 32,
    "attention_head_dim": 128,
    "in_channels": 128,
    "out_channels": 128,
    "num_layers": 48,
    "cross_attention_dim": 4096,
    "norm_eps": 1e-6,
    "caption_channels": 3840,
    "positional_embedding_theta": 10000.0,
    "positional_embedding_max_pos": [20, 2048, 2048],
    "timestep_scale_multiplier": 1000,
    "audio_num_attention_heads": 32,
    "audio_attention_head_dim": 64,
    "audio_in_channels": 128,
    "audio_out_channels": 128,
    "audio_cross_attention_dim": 2048,
    "audio_positional_embedding_max_pos": [20],
    "av_ca_timestep_scale_multiplier": 1,
    "rope_type": "interleaved",
    "frequencies_precision": None,
    "apply_gated_attention": False,
    "cross_attention_adaln": False,
    "caption_proj_before_connector": False,
    # LTX-2.5 flags (absent from 2.3 configs, whose values these are)
    "ff_bias": True,
    "audio_ff_bias": True,
    "use_keyframes_abs_pos_embedding": False,
}

# --- key names ---------------------------------------------------------------------------------------
# Official -> diffusers names of whole path segments at three depths: top-level modules, children of a
# transformer block, children of an attention module. Matching whole segments (not substrings, as the
# diffusers single-file converter does) keeps the map invertible.
_TOP = {
    "patchify_proj": "proj_in",
    "audio_patchify_proj": "audio_proj_in",
    "adaln_single": "time_embed",
    "audio_adaln_single": "audio_time_embed",
    "prompt_adaln_single": "prompt_adaln",
    "audio_prompt_adaln_single": "audio_prompt_adaln",
    "av_ca_video_scale_shift_adaln_single": "av_cross_attn_video_scale_shift",
    "av_ca_a2v_gate_adaln_single": "av_cross_attn_video_a2v_gate",
    "av_ca_audio_scale_shift_adaln_single": "av_cross_attn_audio_scale_shift",
    "av_ca_v2a_gate_adaln_single": "av_cross_attn_audio_v2a_gate",
}
_BLOCK = {
    "scale_shift_table_a2v_ca_video": "video_a2v_cross_attn_scale_shift_table",
    "scale_shift_table_a2v_ca_audio": "audio_a2v_cross_attn_scale_shift_table",
}
_ATTN = {"q_norm": "norm_q", "k_norm": "norm_k"}
_ATTENTIONS = frozenset(
    {"attn1", "attn2", "audio_attn1", "audio_attn2", "audio_to_video_attn", "video_to_audio_attn"}
)
_BLOCKS = "transformer_blocks"
#: a file key spelled with a diffusers-only name is not an official key: it gets this marker so the loader
#: reports it as unexpected instead of letting it shadow the official tensor
FOREIGN_MARKER = "<not-an-official-name>."


def _map_segments(parts: list[str], top: dict, block: dict, attn: dict) -> bool:
    """Rename `parts` in place with the three segment tables; False if a segment is a reserved name."""
    reserved_top, reserved_block, reserved_attn = set(top.values()), set(block.values()), set(attn.values())
    if parts[0] in reserved_top:
        return False
    parts[0] = top.get(parts[0], parts[0])
    if parts[0] != _BLOCKS or len(parts) < 3:
        return True
    if parts[2] in reserved_block:
        return False
    parts[2] = block.get(parts[2], parts[2])
    if parts[2] in _ATTENTIONS and len(parts) > 3:
        if parts[3] in reserved_attn:
            return False
        parts[3] = attn.get(parts[3], parts[3])
    return True


def rename(key: str) -> str | None:
    """Official key (prefix stripped) -> diffusers state-dict key; None for the text connectors' keys."""
    if key.startswith(CONNECTOR_PREFIXES):
        return None
    parts = key.split(".")
    if not _map_segments(parts, _TOP, _BLOCK, _ATTN):
        return FOREIGN_MARKER + key
    return ".".join(parts)


_TOP_INV = {v: k for k, v in _TOP.items()}
_BLOCK_INV = {v: k for k, v in _BLOCK.items()}
_ATTN_INV = {v: k for k, v in _ATTN.items()}


def unrename(key: str) -> str:
    """diffusers state-dict key -> official key (prefix stripped); the inverse of `rename`."""
    parts = key.split(".")
    if not _map_segments(parts, _TOP_INV, _BLOCK_INV, _ATTN_INV):
        raise ValueError(f"{key!r} is not a diffusers LTX-2 transformer key")
    return ".".join(parts)


# --- config -------------------------------------------------------------------------------------------
def validate_config(cfg: dict) -> None:
    """Refuse what the reference refuses, with the key, the value found and the value required."""
    wrong = [(k, cfg.get(k), v) for k, v in REQUIRED_VALUES.items() if cfg.get(k) != v]
    if wrong:
        detail = "; ".join(f"{k} = {got!r} (required {want!r})" for k, got, want in wrong)
        raise UnsupportedModelError(
            f"the checkpoint's transformer config describes an architecture this runtime does not implement: {detail}"
        )
    rope = _get(cfg, "rope_type")
    if rope not in ("split", "interleaved"):
        raise UnsupportedModelError(f"transformer config: unknown rope_type {rope!r} (expected 'split' or 'interleaved')")
    heads, audio_heads = _get(cfg, "num_attention_heads"), _get(cfg, "audio_num_attention_heads")
    if heads != audio_heads:
        # the A<->V cross-attention RoPE is split per head of the query modality while its keys use the
        # other modality's split; the two only agree (and were only verified) with equal head counts
        raise UnsupportedModelError(
            f"transformer config: video ({heads}) and audio ({audio_heads}) attention head counts differ; "
            "only equal head counts (as in LTX-2.x) are supported"
        )
    max_pos = _get(cfg, "positional_embedding_max_pos")
    if len(max_pos) != 3 or len(_get(cfg, "audio_positional_embedding_max_pos")) != 1:
        raise UnsupportedModelError(
            "transformer config: positional_embedding_max_pos must list 3 axes (time, height, width) and "
            f"audio_positional_embedding_max_pos 1 axis, got {max_pos!r} / "
            f"{_get(cfg, 'audio_positional_embedding_max_pos')!r}"
        )


def _get(cfg: dict, key: str) -> Any:
    return cfg[key] if key in cfg else DEFAULTS[key]


def diffusers_kwargs(cfg: dict) -> dict[str, Any]:
    """The diffusers constructor arguments for an official `transformer` config section.

    Keys the reference carries but does not read for the transformer (connector_*, scheduler-ish flags,
    `causal_temporal_positioning`, `norm_num_groups`, `attention_type` = attention backend choice) have no
    counterpart. diffusers' VAE scale factors / audio hop settings only matter when it derives positions
    itself; the runtime always passes positions (models/positions.py), so their defaults are never used.
    """
    validate_config(cfg)
    max_pos = _get(cfg, "positional_embedding_max_pos")
    adaln = bool(_get(cfg, "cross_attention_adaln"))
    gated = bool(_get(cfg, "apply_gated_attention"))
    return dict(
        in_channels=_get(cfg, "in_channels"),
        out_channels=_get(cfg, "out_channels"),
        patch_size=1,
        patch_size_t=1,
        num_attention_heads=_get(cfg, "num_attention_heads"),
        attention_head_dim=_get(cfg, "attention_head_dim"),
        cross_attention_dim=_get(cfg, "cross_attention_dim"),
        pos_embed_max_pos=max_pos[0],
        base_height=max_pos[1],
        base_width=max_pos[2],
        gated_attn=gated,
        cross_attn_mod=adaln,
        audio_in_channels=_get(cfg, "audio_in_channels"),
        audio_out_channels=_get(cfg, "audio_out_channels"),
        audio_num_attention_heads=_get(cfg, "audio_num_attention_heads"),
        audio_attention_head_dim=_get(cfg, "audio_attention_head_dim"),
        audio_cross_attention_dim=_get(cfg, "audio_cross_attention_dim"),
        audio_pos_embed_max_pos=_get(cfg, "audio_positional_embedding_max_pos")[0],
        audio_gated_attn=gated,
        audio_cross_attn_mod=adaln,
        num_layers=_get(cfg, "num_layers"),
        activation_fn=cfg["activation_fn"],
        qk_norm="rms_norm_across_heads",  # ltx-core's q/k RMSNorm spans all heads (inner dim)
        norm_elementwise_affine=cfg["norm_elementwise_affine"],
        norm_eps=_get(cfg, "norm_eps"),
        caption_channels=_get(cfg, "caption_channels"),
        attention_bias=cfg["attention_bias"],
        attention_out_bias=True,
        rope_theta=float(_get(cfg, "positional_embedding_theta")),
        rope_double_precision=_get(cfg, "frequencies_precision") == "float64",
        causal_offset=1,
        timestep_scale_multiplier=_get(cfg, "timestep_scale_multiplier"),
        cross_attn_timestep_scale_multiplier=_get(cfg, "av_ca_timestep_scale_multiplier"),
        rope_type=_get(cfg, "rope_type"),
        # LTX-2.0 (19B) projects captions inside the transformer; 2.3 does it before the connectors
        use_prompt_embeddings=not _get(cfg, "caption_proj_before_connector"),
        # the perturbation-capable processor: identical numerics when no block is perturbed, and it is what
        # lets the denoiser run STG passes (self-attention -> value projection) without patching modules
        perturbed_attn=True,
        ff_bias=bool(_get(cfg, "ff_bias")),
        audio_ff_bias=bool(_get(cfg, "audio_ff_bias")),
        use_prompt_adaln_single=adaln,
        use_keyframes_abs_pos_embedding=bool(_get(cfg, "use_keyframes_abs_pos_embedding")),
    )


def build_transformer(cfg: dict) -> nn.Module:
    """Build the transformer from the `transformer` config section (call under `torch.device("meta")`)."""
    from diffusers import LTX2VideoTransformer3DModel  # heavy import, deferred to first build

    return LTX2VideoTransformer3DModel(**diffusers_kwargs(cfg))


TRANSFORMER_SPEC = ComponentSpec(
    name="transformer",
    prefix=PREFIX,
    build=build_transformer,
    rename=rename,
    unrename=unrename,
    config_key="transformer",
)
