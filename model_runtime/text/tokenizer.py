"""Prompt -> token ids the way LTX-2.x feeds Gemma: `<bos>` first (prepended when the tokenizer does not
add it, as Gemma-4's does not), no `<eos>`, padded on the LEFT.

The padded length is fixed (1024 for 2.x) because the connectors replace the padding by learnable
registers and need the length to be a multiple of their count; the prompt therefore sits at the end of
the sequence and Gemma's position ids run over the padding too.

The Gemma folder's `tokenizer.json` is run by the `tokenizers` library directly (the pipeline transformers'
fast Gemma tokenizer runs: same normalizer, model, added tokens and `<bos>` template; the special tokens come
from tokenizer_config.json / special_tokens_map.json). Why not `AutoTokenizer`: it costs an import of
transformers' tokenizer stack with SentencePiece before the first prompt can be tokenized, for ids that are
the same (checked against it on the fixtures' prompts by tests/runtime/test_tokenizer_ids.py). A folder
with only `tokenizer.model` still goes through transformers, which converts it to the same kind of pipeline.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from model_runtime.errors import CheckpointError, InvalidRequestError

log = logging.getLogger(__name__)

#: the reference's fixed text length for LTX-2.x (ltx-core's tokenizer max length); golden sets state theirs
DEFAULT_TEXT_MAX_LENGTH = 1024

#: files any of which lets transformers build the Gemma tokenizer (fast tokenizer.json or SentencePiece model)
TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model")


@dataclass(frozen=True)
class TokenizedPrompt:
    """ids/mask of one prompt, both `[1, T]` int64; mask 1 = prompt token, 0 = left padding."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor

    @property
    def num_tokens(self) -> int:
        return int(self.attention_mask.sum().item())


@dataclass(frozen=True)
class SpecialTokens:
    """Ids of the special tokens the LTX padding rules use; `pad` falls back to `<eos>` (as transformers'
    Gemma setup does when a tokenizer has no pad token), `bos` None means the tokenizer has none."""

    bos: int | None
    pad: int
    eos: int | None


#: transformers' GemmaTokenizer defaults, used when the folder's config does not name a token
_GEMMA_DEFAULTS = {"bos_token": "<bos>", "eos_token": "<eos>", "pad_token": "<pad>"}


def special_tokens(backend: Any, config: dict) -> SpecialTokens:
    """The ids of `config`'s `bos_token` / `pad_token` / `eos_token` (a string or `{"content": ...}`, as
    tokenizer_config.json and special_tokens_map.json write them) in `backend` (a `tokenizers.Tokenizer`)."""

    def token_id(name: str) -> int | None:
        value = config.get(name, _GEMMA_DEFAULTS[name])
        if isinstance(value, dict):
            value = value.get("content")
        return backend.token_to_id(value) if isinstance(value, str) else None

    eos, pad = token_id("eos_token"), token_id("pad_token")
    if pad is None:
        pad = eos
    if pad is None:
        raise CheckpointError("the Gemma tokenizer has neither a pad nor an <eos> token; the LTX text path needs one")
    return SpecialTokens(token_id("bos_token"), pad, eos)


def _folder_config(folder: Path) -> dict:
    """tokenizer_config.json over special_tokens_map.json (transformers' precedence); {} without them."""
    merged: dict = {}
    for name in ("special_tokens_map.json", "tokenizer_config.json"):
        path = folder / name
        if path.is_file():
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise CheckpointError(f"{path}: unreadable ({exc}): the tokenizer files are damaged; download the "
                                      "complete google/gemma-3-12b-it folder again") from None
            if isinstance(data, dict):
                merged.update({k: v for k, v in data.items() if v is not None})
    return merged


def _damaged(folder: Path, exc: BaseException) -> CheckpointError:
    first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else exc.__class__.__name__
    return CheckpointError(f"{folder}: cannot load the Gemma tokenizer ({first}): the tokenizer files are "
                           "damaged; download the complete google/gemma-3-12b-it folder again")


class PromptTokenizer:
    """A `tokenizers.Tokenizer` with the LTX padding rules."""

    def __init__(self, backend: Any, special: SpecialTokens, max_length: int = DEFAULT_TEXT_MAX_LENGTH):
        if max_length <= 0:
            raise ValueError(f"max_length must be positive, got {max_length}")
        self._backend = backend
        # keep `<bos>` and the start of an over-long prompt: cut on the right, special tokens counted
        self._backend.enable_truncation(max_length, direction="right")
        self._backend.no_padding()
        self.special = special
        self.max_length = max_length

    @classmethod
    def from_folder(cls, folder: str | Path, max_length: int = DEFAULT_TEXT_MAX_LENGTH) -> PromptTokenizer:
        """Load the tokenizer files of a Gemma folder (never touches the network)."""
        folder = Path(folder)
        if not any((folder / name).is_file() for name in TOKENIZER_FILES):
            raise CheckpointError(
                f"{folder}: no tokenizer in the Gemma folder (expected {' or '.join(TOKENIZER_FILES)}); "
                "download the complete google/gemma-3-12b-it folder"
            )
        if (folder / "tokenizer.json").is_file():
            from tokenizers import Tokenizer

            try:
                backend = Tokenizer.from_file(str(folder / "tokenizer.json"))
            except Exception as exc:  # noqa: BLE001 - tokenizers raises bare Exception for garbage files
                raise _damaged(folder, exc) from None
            return cls(backend, special_tokens(backend, _folder_config(folder)), max_length)
        from transformers import AutoTokenizer  # only tokenizer.model: transformers converts it

        try:
            tok = AutoTokenizer.from_pretrained(str(folder), local_files_only=True, model_max_length=max_length)
            backend = tok.backend_tokenizer
        except Exception as exc:  # noqa: BLE001 - SentencePiece / the converter raise bare Exceptions
            raise _damaged(folder, exc) from None
        config = {"bos_token": tok.bos_token, "eos_token": tok.eos_token, "pad_token": tok.pad_token}
        return cls(backend, special_tokens(backend, {k: v for k, v in config.items() if v is not None}), max_length)

    @classmethod
    def from_gemma4_file(cls, file, max_length: int = DEFAULT_TEXT_MAX_LENGTH) -> PromptTokenizer:
        """The tokenizer packed into LTX-2.5's Gemma-4 text encoder file (`text.gemma4.Gemma4File`)."""
        from model_runtime.text.gemma4 import load_gemma4_tokenizer

        backend, config = load_gemma4_tokenizer(file)
        return cls(backend, special_tokens(backend, config), max_length)

    @property
    def pad_token_id(self) -> int:
        return self.special.pad

    @property
    def bos_token_id(self) -> int | None:
        return self.special.bos

    @property
    def eos_token_id(self) -> int | None:
        return self.special.eos

    def __call__(self, prompt: str) -> TokenizedPrompt:
        if not isinstance(prompt, str):
            raise InvalidRequestError(f"prompt must be a string, got {type(prompt).__name__}")
        # ltx-core's LTXGemmaTokenizer: truncate, make sure `<bos>` leads (Gemma-3's tokenizer adds it,
        # Gemma-4's does not), cut to the length again, then pad on the left
        ids_list = self._backend.encode(prompt.strip()).ids
        bos = self.special.bos
        if bos is None:
            raise CheckpointError("the Gemma tokenizer has no <bos> token; the LTX text path needs one")
        if not ids_list or ids_list[0] != bos:
            ids_list = [bos, *ids_list][: self.max_length]
        n = len(ids_list)
        ids = torch.full((1, self.max_length), self.special.pad, dtype=torch.int64)
        mask = torch.zeros((1, self.max_length), dtype=torch.int64)
        ids[0, self.max_length - n:] = torch.tensor(ids_list, dtype=torch.int64)
        mask[0, self.max_length - n:] = 1
        if n == self.max_length:
            log.warning("prompt fills all %d text tokens: anything longer was cut off", self.max_length)
        return TokenizedPrompt(ids, mask)
