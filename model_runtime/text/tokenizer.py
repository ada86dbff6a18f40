"""Prompt -> token ids the way LTX-2.x feeds Gemma: `<bos>` first (prepended when the tokenizer does not
add it, as Gemma-4's does not), no `<eos>`, padded on the LEFT.

The padded length is fixed (1024 for 2.x) because the connectors replace the padding by learnable
registers and need the length to be a multiple of their count; the prompt therefore sits at the end of
the sequence and Gemma's position ids run over the padding too. The Gemma folder's own tokenizer is used
through transformers, offline.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

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


class PromptTokenizer:
    """Wraps the Gemma folder's Hugging Face tokenizer with the LTX padding rules."""

    def __init__(self, hf_tokenizer, max_length: int = DEFAULT_TEXT_MAX_LENGTH):
        if max_length <= 0:
            raise ValueError(f"max_length must be positive, got {max_length}")
        self._tok = hf_tokenizer
        self._tok.padding_side = "left"
        self._tok.truncation_side = "right"  # keep `<bos>` and the start of an over-long prompt
        if self._tok.pad_token is None:
            self._tok.pad_token = self._tok.eos_token
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
        from transformers import AutoTokenizer

        try:
            tok = AutoTokenizer.from_pretrained(str(folder), local_files_only=True, model_max_length=max_length)
        except Exception as exc:  # noqa: BLE001 - tokenizers raises bare Exception for garbage files
            first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else exc.__class__.__name__
            raise CheckpointError(f"{folder}: cannot load the Gemma tokenizer ({first}): the tokenizer files are "
                                  "damaged; download the complete google/gemma-3-12b-it folder again") from None
        return cls(tok, max_length)

    @classmethod
    def from_gemma4_file(cls, file, max_length: int = DEFAULT_TEXT_MAX_LENGTH) -> PromptTokenizer:
        """The tokenizer packed into LTX-2.5's Gemma-4 text encoder file (`text.gemma4.Gemma4File`)."""
        from model_runtime.text.gemma4 import load_gemma4_tokenizer

        return cls(load_gemma4_tokenizer(file, max_length), max_length)

    @property
    def pad_token_id(self) -> int:
        return int(self._tok.pad_token_id)

    @property
    def bos_token_id(self) -> int | None:
        return self._tok.bos_token_id

    def __call__(self, prompt: str) -> TokenizedPrompt:
        if not isinstance(prompt, str):
            raise InvalidRequestError(f"prompt must be a string, got {type(prompt).__name__}")
        # ltx-core's LTXGemmaTokenizer: truncate, make sure `<bos>` leads (Gemma-3's tokenizer adds it,
        # Gemma-4's does not), cut to the length again, then pad on the left
        ids_list = self._tok(prompt.strip(), padding=False, truncation=True, max_length=self.max_length)["input_ids"]
        bos = self._tok.bos_token_id
        if bos is None:
            raise CheckpointError("the Gemma tokenizer has no <bos> token; the LTX text path needs one")
        if not ids_list or ids_list[0] != bos:
            ids_list = [bos, *ids_list][: self.max_length]
        enc = self._tok.pad({"input_ids": [ids_list]}, padding="max_length", max_length=self.max_length,
                            return_tensors="pt", return_attention_mask=True)
        ids = enc["input_ids"].to(torch.int64)
        mask = enc["attention_mask"].to(torch.int64)
        n = int(mask.sum().item())
        if n == self.max_length:
            log.warning("prompt fills all %d text tokens: anything longer was cut off", self.max_length)
        return TokenizedPrompt(ids, mask)
