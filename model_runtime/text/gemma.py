"""Gemma-3 text encoder: validate the Hugging Face folder, load only its language model, return all states.

LTX-2.3 reads every hidden state of Gemma-3-12B's language model (the scaled token embeddings, the output
of each layer, the final-norm output: L+1 states) and never its logits or vision tower. The official
folder is a `Gemma3ForConditionalGeneration` checkpoint (keys `language_model.model.*`,
`vision_tower.*`, `multi_modal_projector.*`, tied lm_head). We build transformers' `Gemma3TextModel`
from the folder's `text_config` and let `from_pretrained` map `language_model.model.* -> *`: the vision
tower is never materialised (about 0.8 GB less for the 12B model) and transformers keeps computing its
own non-persistent buffers (embedding scale, both RoPE tables) exactly as in a normal load.

Folder problems are found before any weight is read and reported as `CheckpointError` naming the fix.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from model_runtime.checkpoints import parse_json_document, read_header
from model_runtime.errors import CheckpointError, MissingKeysError, UnexpectedKeysError
from model_runtime.loading import check_finite_weights
from model_runtime.text.tokenizer import TOKENIZER_FILES

log = logging.getLogger(__name__)

#: config.json `model_type` of the official Gemma-3 multimodal folder (google/gemma-3-12b-it)
GEMMA3_MODEL_TYPE = "gemma3"

#: where the language model's keys live in a Gemma-3 folder: transformers-4 layout (the official folder)
#: and the layout transformers 5 writes when it re-saves the model
LANGUAGE_MODEL_PREFIXES = ("language_model.model.", "model.language_model.")

#: parts of the multimodal checkpoint the text encoder does not use (skipped, never loaded)
UNUSED_PREFIXES = ("vision_tower.", "multi_modal_projector.", "model.vision_tower.", "model.multi_modal_projector.",
                   "lm_head.")

_GET_FOLDER = "download the complete google/gemma-3-12b-it folder (config.json, model*.safetensors, tokenizer files)"


@dataclass(frozen=True)
class GemmaDims:
    """The Gemma numbers the LTX text path depends on (feature extractor input = hidden x states)."""

    hidden_size: int
    num_hidden_layers: int

    @property
    def num_states(self) -> int:
        """L+1: the embedding output plus one state per layer (the last one after the final norm)."""
        return self.num_hidden_layers + 1


@dataclass(frozen=True)
class GemmaFolder:
    """A validated Gemma-3 folder: its weight files, the language-model key prefix, and its dims."""

    path: Path
    dims: GemmaDims
    weight_files: tuple[Path, ...]
    language_model_prefix: str
    raw_config: dict = field(repr=False, compare=False)


def _read_config(folder: Path) -> dict:
    cfg_path = folder / "config.json"
    if not cfg_path.is_file():
        raise CheckpointError(f"{folder}: no config.json: not a Hugging Face model folder; {_GET_FOLDER}")
    cfg = _read_json(cfg_path, "config.json")
    if not isinstance(cfg, dict):
        raise CheckpointError(f"{cfg_path}: not a JSON object")
    model_type = cfg.get("model_type")
    if model_type != GEMMA3_MODEL_TYPE:
        raise CheckpointError(
            f"{folder}: config.json model_type is {model_type!r}, expected {GEMMA3_MODEL_TYPE!r}: LTX-2.3 needs the "
            f"Gemma-3 text encoder (Gemma3ForConditionalGeneration, e.g. google/gemma-3-12b-it)"
        )
    text = cfg.get("text_config")
    if not isinstance(text, dict):
        raise CheckpointError(f"{cfg_path}: text_config is missing or not an object; {_GET_FOLDER}")
    for name in _SHAPE_FIELDS:
        value = text.get(name)
        if name in _REQUIRED_FIELDS and value is None:
            raise CheckpointError(f"{cfg_path}: text_config lacks hidden_size / num_hidden_layers (no {name}); "
                                  f"{_GET_FOLDER}")
        if value is not None:
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise CheckpointError(f"{cfg_path}: text_config.{name} is {value!r}, expected a positive integer; "
                                      f"{_GET_FOLDER}")
    return cfg


#: text_config fields that decide weight shapes: each is checked against the weights before loading
_SHAPE_FIELDS = ("hidden_size", "num_hidden_layers", "vocab_size", "intermediate_size", "num_attention_heads",
                 "num_key_value_heads", "head_dim")
_REQUIRED_FIELDS = ("hidden_size", "num_hidden_layers")


def _read_json(path: Path, what: str) -> object:
    """Read a small JSON file of the folder; unreadable, non-UTF-8, too deep or invalid -> CheckpointError."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot read {what}: {exc.strerror or exc}; make it readable "
                              "or download the folder again") from None
    return parse_json_document(raw, str(path), what)


def _weight_files(folder: Path) -> tuple[Path, ...]:
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        doc = _read_json(index, "the shard index")
        weight_map = doc.get("weight_map") if isinstance(doc, dict) else None
        if not isinstance(weight_map, dict) or not all(isinstance(v, str) for v in weight_map.values()):
            raise CheckpointError(f"{index}: corrupt shard index (no weight_map of file names); {_GET_FOLDER}")
        names = sorted(set(weight_map.values()))
        for n in names:
            confine_to_folder(folder, n, index)
        missing = [n for n in names if not (folder / n).is_file()]
        if missing:
            raise CheckpointError(f"{folder}: weight shard(s) missing: {', '.join(missing)}; {_GET_FOLDER}")
        return tuple(folder / n for n in names)
    single = folder / "model.safetensors"
    if single.is_file():
        return (single,)
    if any(folder.glob("*.bin")) or any(folder.glob("*.pt")):
        raise CheckpointError(
            f"{folder}: only pickle weights (*.bin/*.pt) found; they are never loaded: use the safetensors release"
        )
    raise CheckpointError(f"{folder}: no model weights (model.safetensors or model.safetensors.index.json); {_GET_FOLDER}")


def confine_to_folder(folder: Path, name: str, where: Path) -> Path:
    """A shard name must be a plain file name inside the folder: never absolute, never `..`, no link out."""
    candidate = folder / name
    plain = name and not Path(name).is_absolute() and ".." not in Path(name).parts and "\\" not in name
    if not plain or not candidate.resolve().is_relative_to(folder.resolve()):
        raise CheckpointError(f"{where}: shard {name!r} points outside the model folder; refusing to follow it: "
                              f"{_GET_FOLDER}")
    return candidate


def _language_model_prefix(files: tuple[Path, ...]) -> str:
    keys: set[str] = set()
    for f in files:
        keys.update(read_header(f).tensors)
    for prefix in LANGUAGE_MODEL_PREFIXES:
        if f"{prefix}embed_tokens.weight" in keys:
            return prefix
    raise CheckpointError(
        f"{files[0].parent}: the weights hold no Gemma-3 language model (no "
        f"{' or '.join(p + 'embed_tokens.weight' for p in LANGUAGE_MODEL_PREFIXES)}); {_GET_FOLDER}"
    )


def inspect_gemma_folder(path: str | Path) -> GemmaFolder:
    """Validate a Gemma-3 folder from its config and safetensors headers only (no weights read)."""
    folder = Path(path)
    if not folder.exists():
        raise CheckpointError(f"{folder}: Gemma text encoder folder not found; {_GET_FOLDER}")
    if not folder.is_dir():
        raise CheckpointError(f"{folder}: is a file; the text encoder is a folder; {_GET_FOLDER}")
    cfg = _read_config(folder)
    if not any((folder / name).is_file() for name in TOKENIZER_FILES):
        raise CheckpointError(f"{folder}: no tokenizer ({' or '.join(TOKENIZER_FILES)}); {_GET_FOLDER}")
    check_tokenizer_files(folder)
    files = _weight_files(folder)
    prefix = _language_model_prefix(files)
    text = cfg["text_config"]
    check_config_against_weights(folder, text, files, prefix)
    return GemmaFolder(folder, GemmaDims(text["hidden_size"], text["num_hidden_layers"]), files, prefix, cfg)


def check_tokenizer_files(folder: Path) -> None:
    """The tokenizer files are data too: JSON ones must parse as objects, a SentencePiece model must not be
    empty. Found here, a garbage file costs milliseconds and one line instead of a library traceback."""
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        path = folder / name
        if path.is_file() and not isinstance(_read_json(path, name), dict):
            raise CheckpointError(f"{path}: not a tokenizer file (not a JSON object); {_GET_FOLDER}")
    model = folder / "tokenizer.model"
    if model.is_file() and not (folder / "tokenizer.json").is_file() and model.stat().st_size < 16:
        raise CheckpointError(f"{model}: empty or truncated SentencePiece model; {_GET_FOLDER}")


def _layer_count(keys: set[str], prefix: str) -> int:
    layers = {int(k[len(prefix) + 7:].split(".", 1)[0]) for k in keys
              if k.startswith(prefix + "layers.") and k[len(prefix) + 7:].split(".", 1)[0].isdigit()}
    return max(layers) + 1 if layers else 0


def check_config_against_weights(folder: Path, text: dict, files: tuple[Path, ...], prefix: str) -> None:
    """Check config.json's text_config field by field against the weight shapes in the headers.

    Why: the LTX projection only sees hidden_size x (layers + 1); a config whose product matches but
    whose fields are wrong passes that check and then fails inside transformers with a report nobody
    sees. Every field that shapes a weight is compared here, and the first difference is named."""
    shapes: dict[str, tuple[int, ...]] = {}
    for f in files:
        shapes.update({k: v.shape for k, v in read_header(f).tensors.items()})
    p = prefix
    head_dim = text.get("head_dim") or text["hidden_size"] // max(1, text.get("num_attention_heads") or 1)
    embed = shapes.get(f"{p}embed_tokens.weight", (0, 0))
    checks = [("hidden_size", text["hidden_size"], embed[-1], f"{p}embed_tokens.weight"),
              ("num_hidden_layers", text["num_hidden_layers"], _layer_count(set(shapes), p), f"{p}layers.*")]
    if text.get("vocab_size"):
        checks.append(("vocab_size", text["vocab_size"], embed[0], f"{p}embed_tokens.weight"))
    q, k = shapes.get(f"{p}layers.0.self_attn.q_proj.weight"), shapes.get(f"{p}layers.0.self_attn.k_proj.weight")
    if q and text.get("num_attention_heads"):
        checks.append(("num_attention_heads x head_dim", text["num_attention_heads"] * head_dim, q[0], "q_proj"))
    if k and text.get("num_key_value_heads"):
        checks.append(("num_key_value_heads x head_dim", text["num_key_value_heads"] * head_dim, k[0], "k_proj"))
    gate = shapes.get(f"{p}layers.0.mlp.gate_proj.weight")
    if gate and text.get("intermediate_size"):
        checks.append(("intermediate_size", text["intermediate_size"], gate[0], "mlp.gate_proj"))
    for name, said, found, where in checks:
        if said != found:
            raise CheckpointError(f"{folder}/config.json: text_config {name} is {said} but the weights ({where}) "
                                  f"say {found}: config.json does not belong to these weights; {_GET_FOLDER}")


@contextlib.contextmanager
def _transformers_quiet() -> Iterator[None]:
    """transformers logs a table of the skipped vision keys (we check the keys ourselves, strictly) and
    draws a progress bar on stderr (library code reports through logging, never a terminal bar)."""
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    bars_were_on = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)
        if bars_were_on:
            hf_logging.enable_progress_bar()


def load_gemma_language_model(
    folder: GemmaFolder, *, dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu"
) -> nn.Module:
    """Load the folder's language model (`Gemma3TextModel`) strictly: a missing weight is an error."""
    from transformers import AutoConfig, Gemma3TextModel

    try:
        config = AutoConfig.from_pretrained(str(folder.path), local_files_only=True).text_config
        with _transformers_quiet():
            model, info = Gemma3TextModel.from_pretrained(
                str(folder.path), config=config, local_files_only=True, use_safetensors=True, dtype=dtype,
                key_mapping={"^" + folder.language_model_prefix.replace(".", r"\."): ""},
                output_loading_info=True,
            )
    except Exception as exc:  # noqa: BLE001 - transformers raises many types; the user gets one line
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
        raise CheckpointError(f"{folder.path}: cannot load the Gemma-3 language model ({first}); "
                              f"{_GET_FOLDER}") from None
    if info["missing_keys"] or info["mismatched_keys"]:
        bad = sorted(map(str, [*info["missing_keys"], *info["mismatched_keys"]]))
        raise MissingKeysError(f"{folder.path}: Gemma-3 weights missing or of the wrong shape: {', '.join(bad[:12])}")
    foreign = sorted(k for k in info["unexpected_keys"] if not k.startswith(UNUSED_PREFIXES))
    if foreign:
        raise UnexpectedKeysError(f"{folder.path}: tensors the Gemma-3 language model does not use: {', '.join(foreign[:12])}")
    check_finite_weights(folder.path, "Gemma-3", model.named_parameters())
    model = model.to(device).eval().requires_grad_(False)
    log.info("loaded Gemma-3 language model from %s (%s, %d layers, hidden %d)", folder.path, dtype,
             folder.dims.num_hidden_layers, folder.dims.hidden_size)
    return model


def load_gemma_mapped(folder: GemmaFolder, *, dtype: torch.dtype = torch.float32,
                      min_mapped_bytes: int | None = None) -> nn.Module:
    """The language model with its large weights left in the memory-mapped shards (CPU; `mapped`):
    built on the meta device from the folder's text config, every language-model tensor assigned strictly
    (a view of the file when large, a `dtype` copy when small), the non-persistent buffers (embedding
    scale, RoPE frequencies) computed as transformers computes them in a normal load."""
    from transformers import AutoConfig, Gemma3TextModel

    from model_runtime.mapped import MIN_MAPPED_BYTES, MappedFile, assign_mapped, upcast_on_use

    config = AutoConfig.from_pretrained(str(folder.path), local_files_only=True).text_config
    reference = _reference_attn_implementation(folder, config)
    with torch.device("meta"):
        model = Gemma3TextModel(config)
    model.config._attn_implementation = reference
    expected = dict(model.state_dict())
    views: dict[str, torch.Tensor] = {}
    for path in folder.weight_files:
        file = MappedFile(path)
        for key in file.header.tensors:
            if not key.startswith(folder.language_model_prefix):
                if key.startswith(UNUSED_PREFIXES):
                    continue
                raise UnexpectedKeysError(f"{folder.path}: tensors the Gemma-3 language model does not use: {key}")
            name = key[len(folder.language_model_prefix):]
            if name not in expected:
                raise UnexpectedKeysError(f"{folder.path}: tensors the Gemma-3 language model does not use: {key}")
            t = file.tensor(key)
            if tuple(t.shape) != tuple(expected[name].shape):
                raise MissingKeysError(f"{folder.path}: Gemma-3 weight {key} has shape {list(t.shape)}, "
                                       f"expected {list(expected[name].shape)}")
            views[name] = t
    missing = sorted(set(expected) - set(views))
    if missing:
        raise MissingKeysError(f"{folder.path}: Gemma-3 weights missing or of the wrong shape: {', '.join(missing[:12])}")
    assign_mapped(model, views, dtype, MIN_MAPPED_BYTES if min_mapped_bytes is None else min_mapped_bytes)
    del views
    embed = model.embed_tokens
    embed.embed_scale = torch.tensor(embed.scalar_embed_scale)  # non-persistent: what __init__ computes
    model.rotary_emb = type(model.rotary_emb)(config, device="cpu")
    still_meta = [n for n, t in [*model.named_parameters(), *model.named_buffers()] if t.is_meta]
    if still_meta:
        raise CheckpointError(f"{folder.path}: internal error: Gemma tensors left unmaterialised: {still_meta[:8]}")
    model.eval().requires_grad_(False)
    upcast_on_use(model, dtype)
    log.info("mapped Gemma-3 language model from %s (%d layers, hidden %d, computing in %s)", folder.path,
             folder.dims.num_hidden_layers, folder.dims.hidden_size, dtype)
    return model


def _reference_attn_implementation(folder: GemmaFolder, config) -> str:
    """The attention implementation `from_pretrained` would pick (kept identical so results are too)."""
    from transformers import Gemma3TextModel

    with torch.device("meta"):
        probe = Gemma3TextModel._from_config(config)
    return probe.config._attn_implementation


class GemmaEncoder:
    """A loaded Gemma-3 language model that returns the stacked hidden states the LTX text path reads."""

    def __init__(self, folder: GemmaFolder, model: nn.Module):
        self.folder = folder
        self.model = model

    @classmethod
    def load(cls, path: str | Path, *, dtype: torch.dtype = torch.float32,
             device: torch.device | str = "cpu") -> GemmaEncoder:
        folder = inspect_gemma_folder(path)
        return cls(folder, load_gemma_language_model(folder, dtype=dtype, device=device))

    @property
    def dims(self) -> GemmaDims:
        return self.folder.dims

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @torch.inference_mode()
    def hidden_states(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, *,
                      real_tokens_only: bool = True) -> torch.Tensor:
        """All L+1 states stacked on the last axis: `[B, T, D, L+1]`, padded positions set to 0.

        Position ids run 0..T-1 over the padded sequence (transformers' default), as in the reference.
        Padded rows are zeroed because their values depend on the attention kernel; the feature
        extractor discards them anyway.

        `real_tokens_only` (one left-padded prompt): Gemma runs on the prompt's n real tokens alone, with
        the position ids they have in the padded sequence (T-n..T-1), and the states are placed back at
        those rows. Every real token attends to the same keys at the same positions as in the padded run
        (padding is masked out of every row there), so the result is the reference's, while a short
        prompt costs n tokens of compute instead of T (T = 1024: about T/n times less).
        """
        dev = self.device
        mask = attention_mask.to(dev)
        b, t = input_ids.shape
        n = int(mask.sum().item())
        left_padded = b == 1 and 0 < n < t and bool(mask[0, t - n:].all())
        if real_tokens_only and left_padded:
            out = self.model(input_ids=input_ids[:, t - n:].to(dev), attention_mask=mask[:, t - n:],
                             position_ids=torch.arange(t - n, t, device=dev)[None], output_hidden_states=True,
                             use_cache=False)
            real = torch.stack(out.hidden_states, dim=-1)
            del out
            states = real.new_zeros((b, t, *real.shape[2:]))
            states[:, t - n:] = real
            return states
        out = self.model(input_ids=input_ids.to(dev), attention_mask=mask, output_hidden_states=True, use_cache=False)
        states = torch.stack(out.hidden_states, dim=-1)
        del out
        keep = mask.to(torch.bool)[:, :, None, None]
        return states.masked_fill_(~keep, 0.0)
