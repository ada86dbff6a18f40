"""LTX-2.5's text encoder: a fine-tuned Gemma-4 (`gemma4_unified`) packed into ONE safetensors file.

The packed file (ltx-core's `build_text_encoder_tensors_from_gemma_root`) holds the HF config JSON in
metadata `gemma_config`, the tokenizer as a uint8 tensor `tokenizer_json` and its sidecars as
`hf_asset__*.json` tensors, the language model under Comfy-flat keys (`model.layers.*`,
`model.embed_tokens.weight`, `model.norm.weight`; tied lm_head, not stored), the unused vision / audio
embedders, and the LTX `text_embedding_projection.*` (loaded by `text.projection`).

We build transformers' own `Gemma4UnifiedTextModel` from `text_config` on the meta device, assign the
`model.*` tensors strictly, and recompute the two non-persistent buffers a meta build leaves empty
(the embedding scale and the per-layer-type RoPE tables) with transformers' own constructors, so the
arithmetic (RMSNorm times `weight`, `layer_scalar`, proportional RoPE on full-attention layers with
`global_head_dim`) is transformers' and nothing is re-implemented here.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import safe_open
from torch import nn

from model_runtime.checkpoints import SafetensorsHeader, metadata_json, read_header
from model_runtime.errors import CheckpointError, MissingKeysError, UnexpectedKeysError
from model_runtime.text.gemma import GemmaDims

log = logging.getLogger(__name__)

GEMMA4_MODEL_TYPE = "gemma4_unified"
LM_PREFIX = "model."
#: parts of the packed file the LTX text path never uses (vision / audio embedders, sidecars)
UNUSED_PREFIXES = ("vision_model.", "multi_modal_projector.", "audio_projector.", "hf_asset__", "tokenizer_json",
                   "text_embedding_projection.", "lm_head.")
TOKENIZER_KEY = "tokenizer_json"
TOKENIZER_CONFIG_KEY = "hf_asset__tokenizer_config.json"
#: tokenizer_config keys that are not constructor arguments (as ltx-core's gemma_assets skips them)
_TOKENIZER_CONFIG_SKIP = frozenset({"tokenizer_class", "auto_map", "model_max_length", "backend", "is_local",
                                    "local_files_only", "processor_class", "added_tokens_decoder"})


def gemma4_dims(gemma_config: dict, where: Path | str = "") -> GemmaDims:
    text = gemma_config.get("text_config")
    if not isinstance(text, dict) or not all(isinstance(text.get(k), int) for k in ("hidden_size", "num_hidden_layers")):
        raise CheckpointError(f"{where}: gemma_config.text_config lacks hidden_size / num_hidden_layers")
    return GemmaDims(int(text["hidden_size"]), int(text["num_hidden_layers"]))


@dataclass(frozen=True)
class Gemma4File:
    """A validated packed Gemma-4 text encoder file (header only)."""

    path: Path
    dims: GemmaDims
    gemma_version: str
    config: dict = field(repr=False)
    header: SafetensorsHeader = field(repr=False, compare=False)


def inspect_gemma4_file(path: str | Path) -> Gemma4File:
    p = Path(path)
    if p.is_dir():
        raise CheckpointError(
            f"{p}: a folder was given as the LTX-2.5 text encoder (a Gemma-3 folder?); LTX-2.5 needs the packed "
            "Gemma-4 file text_encoders/gemma4-12b-with-proj-ltx-2.5-*.safetensors"
        )
    header = read_header(p)
    cfg = metadata_json(header, "gemma_config")
    if not cfg:
        raise CheckpointError(f"{p}: no 'gemma_config' metadata: not the packed LTX-2.5 Gemma-4 text encoder file")
    if cfg.get("model_type") != GEMMA4_MODEL_TYPE:
        raise CheckpointError(
            f"{p}: text encoder model_type is {cfg.get('model_type')!r}, expected {GEMMA4_MODEL_TYPE!r} (LTX-2.5's Gemma-4)"
        )
    for key in (TOKENIZER_KEY, TOKENIZER_CONFIG_KEY, LM_PREFIX + "embed_tokens.weight"):
        if key not in header.tensors:
            raise CheckpointError(f"{p}: the packed text encoder lacks {key!r}: the file is incomplete; download it again")
    return Gemma4File(p, gemma4_dims(cfg, p), str(cfg.get("gemma_version", "")), cfg, header)


def _bytes(fh, key: str) -> bytes:
    return bytes(fh.get_tensor(key).to(torch.uint8).numpy().tobytes())


def load_gemma4_tokenizer(file: Gemma4File, max_length: int):
    """The packed tokenizer as ltx-core builds it: a fast tokenizer from tokenizer.json + tokenizer_config."""
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    with safe_open(str(file.path), framework="pt", device="cpu") as fh:
        tok_json = _bytes(fh, TOKENIZER_KEY)
        tok_cfg = json.loads(_bytes(fh, TOKENIZER_CONFIG_KEY).decode("utf-8"))
    kwargs = {k: v for k, v in tok_cfg.items() if k not in _TOKENIZER_CONFIG_SKIP}
    try:
        return PreTrainedTokenizerFast(tokenizer_object=Tokenizer.from_buffer(tok_json), model_max_length=max_length,
                                       **kwargs)
    except (ValueError, TypeError, Exception) as exc:  # tokenizers raises its own Exception subclass
        raise CheckpointError(f"{file.path}: cannot build the packed Gemma-4 tokenizer: {exc}") from exc


def _text_config(file: Gemma4File):
    from transformers.models.gemma4_unified import Gemma4UnifiedTextConfig

    return Gemma4UnifiedTextConfig(**file.config["text_config"])


def _meta_language_model(file: Gemma4File, strict: bool) -> tuple[nn.Module, object, dict[str, str]]:
    """`Gemma4UnifiedTextModel` on the meta device, its config, and file key -> model key for every
    tensor it takes (checked strictly: a missing weight, or with `strict` an unused one, is an error)."""
    from transformers.models.gemma4_unified.modeling_gemma4_unified import Gemma4UnifiedTextModel

    config = _text_config(file)
    config._attn_implementation = "sdpa"
    with torch.device("meta"):
        model = Gemma4UnifiedTextModel(config)
    expected = set(model.state_dict())
    mapping = {k: k[len(LM_PREFIX):] for k in file.header.tensors if k.startswith(LM_PREFIX)}
    missing = expected - set(mapping.values())
    if missing:
        raise MissingKeysError(f"{file.path}: Gemma-4 weights missing: {', '.join(sorted(missing)[:12])}")
    foreign = sorted(k for k, m in mapping.items() if m not in expected)
    foreign += sorted(k for k in file.header.tensors if not k.startswith(LM_PREFIX) and not k.startswith(UNUSED_PREFIXES))
    if foreign and strict:
        raise UnexpectedKeysError(f"{file.path}: tensors the Gemma-4 language model does not use: {', '.join(foreign[:12])}")
    return model, config, {fk: mk for fk, mk in mapping.items() if mk in expected}


def _finish(model: nn.Module, config, device: torch.device | str) -> nn.Module:
    """The two non-persistent buffers a meta build leaves empty, rebuilt by transformers' own code."""
    from transformers.models.gemma4_unified.modeling_gemma4_unified import Gemma4UnifiedTextRotaryEmbedding

    model.rotary_emb = Gemma4UnifiedTextRotaryEmbedding(config, device=torch.device(device))
    model.embed_tokens.embed_scale = torch.tensor(model.embed_tokens.scalar_embed_scale, device=device)
    still_meta = [n for n, t in [*model.named_parameters(), *model.named_buffers()] if t.is_meta]
    if still_meta:
        raise CheckpointError(f"gemma4: internal error: tensors left unmaterialised: {still_meta[:8]}")
    return model.eval().requires_grad_(False)


def load_gemma4_language_model(file: Gemma4File, *, dtype: torch.dtype = torch.float32,
                               device: torch.device | str = "cpu", strict: bool = True) -> nn.Module:
    """`Gemma4UnifiedTextModel` with the packed file's `model.*` weights, strictly."""
    model, config, mapping = _meta_language_model(file, strict)
    state = {}
    with safe_open(str(file.path), framework="pt", device="cpu") as fh:
        for fk, mk in mapping.items():
            t = fh.get_tensor(fk)
            state[mk] = t.to(device=device, dtype=dtype if t.dtype.is_floating_point else t.dtype)
    model.load_state_dict(state, strict=True, assign=True)
    log.info("loaded Gemma-4 language model from %s (%s, %d layers, hidden %d)", file.path, dtype,
             file.dims.num_hidden_layers, file.dims.hidden_size)
    return _finish(model, config, device)


def load_gemma4_mapped(file: Gemma4File, *, dtype: torch.dtype = torch.float32, min_mapped_bytes: int | None = None,
                       strict: bool = True) -> nn.Module:
    """The language model on the CPU with its large weights left in the memory-mapped packed file (bf16,
    upcast per module as it runs: `mapped`), the way a CPU plan loads 2.3's Gemma-3 folder. The 12B
    model is 24 GB in the file and 48 GB upcast: this is what lets a CPU machine with less RAM encode."""
    from model_runtime.mapped import MIN_MAPPED_BYTES, MappedFile, assign_mapped, upcast_on_use

    model, config, mapping = _meta_language_model(file, strict)
    mapped = MappedFile(file.header)
    assign_mapped(model, {mk: mapped.tensor(fk) for fk, mk in mapping.items()}, dtype,
                  MIN_MAPPED_BYTES if min_mapped_bytes is None else min_mapped_bytes)
    model = _finish(model, config, "cpu")
    upcast_on_use(model, dtype)
    log.info("mapped Gemma-4 language model from %s (%d layers, hidden %d, computing in %s)", file.path,
             file.dims.num_hidden_layers, file.dims.hidden_size, dtype)
    return model


# --- the whole packed model, for the layout check -------------------------------------------------------
#: packed (Comfy-flat) prefix <-> transformers `Gemma4UnifiedModel` prefix, as ltx-core's packer flattens them
_FLAT = (("model.", "language_model."), ("multi_modal_projector.", "embed_vision."), ("audio_projector.", "embed_audio."))


def _rename_packed(key: str) -> str | None:
    if key.startswith(("text_embedding_projection.", "hf_asset__", TOKENIZER_KEY)):
        return None  # the LTX projection (its own spec) and the tokenizer / sidecar bytes
    for flat, hf in _FLAT:
        if key.startswith(flat):
            return hf + key[len(flat):]
    return key


def _unrename_packed(key: str) -> str:
    for flat, hf in _FLAT:
        if key.startswith(hf):
            return flat + key[len(hf):]
    return key


def _build_unified(config: dict) -> nn.Module:
    """transformers' `Gemma4UnifiedModel` (language model + vision / audio embedders) from `gemma_config`."""
    from transformers.models.gemma4_unified import Gemma4UnifiedConfig, Gemma4UnifiedModel

    return Gemma4UnifiedModel(Gemma4UnifiedConfig(**config["gemma_config"]))


def _spec():
    from model_runtime.loading import ComponentSpec

    return ComponentSpec(name="gemma4", prefix="", build=_build_unified, rename=_rename_packed,
                         unrename=_unrename_packed)


#: the packed file's Gemma-4 (every tensor but the projection and the tokenizer bytes): used by the
#: full-size layout check; generation loads only the language model (`load_gemma4_language_model`)
GEMMA4_SPEC = _spec()
