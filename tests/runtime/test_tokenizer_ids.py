"""`PromptTokenizer` runs tokenizer.json through the `tokenizers` library directly; these tests hold it to
the ids transformers' tokenizers give (what ltx-core tokenizes with: `AutoTokenizer` on the Gemma-3 folder,
`PreTrainedTokenizerFast` on LTX-2.5's packed Gemma-4 tokenizer), on the golden sets' prompts and on
prompts that exercise the edges (Unicode and byte fallback, special-token text, whitespace, truncation)."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors import safe_open

EDGE_PROMPTS = (
    "",
    "   ",
    "a",
    "  A red fox\n\ttrots   across a clearing.  ",
    "Ünïcödé: 東京の夜景, café, naïve — “quotes” … emoji 🦊🌲❄️",
    "<bos> literal special tokens <eos> <pad> <start_of_turn>user",
    "x" * 3000,
    " ".join(f"word{i}" for i in range(1500)),  # longer than 1024 tokens: truncated on the right
)


def _golden_prompts(path) -> list[str]:
    with safe_open(str(path), framework="pt") as fh:
        meta = fh.metadata()
    return [meta["prompt"], meta["negative_prompt"]]


def _reference_ids(hf, prompt: str, max_length: int) -> tuple[torch.Tensor, torch.Tensor]:
    """ltx-core's LTXVGemmaTokenizer rules on a transformers tokenizer: truncate, `<bos>` first, pad left."""
    hf.padding_side, hf.truncation_side = "left", "right"
    if hf.pad_token is None:
        hf.pad_token = hf.eos_token
    ids = hf(prompt.strip(), padding=False, truncation=True, max_length=max_length)["input_ids"]
    if not ids or ids[0] != hf.bos_token_id:
        ids = [hf.bos_token_id, *ids][:max_length]
    enc = hf.pad({"input_ids": [ids]}, padding="max_length", max_length=max_length, return_tensors="pt",
                 return_attention_mask=True)
    return enc["input_ids"].to(torch.int64), enc["attention_mask"].to(torch.int64)


def _check_same(ours, hf, prompts, max_lengths=(1024, 64, 8)) -> None:
    for max_length in max_lengths:
        ours.max_length = max_length
        ours._backend.enable_truncation(max_length, direction="right")
        for prompt in prompts:
            got = ours(prompt)
            ids, mask = _reference_ids(hf, prompt, max_length)
            assert torch.equal(got.input_ids, ids), (max_length, prompt[:60])
            assert torch.equal(got.attention_mask, mask), (max_length, prompt[:60])


def test_gemma3_folder_ids_equal_transformers(tiny_dir):
    from transformers import AutoTokenizer

    from model_runtime.text.tokenizer import PromptTokenizer

    folder = tiny_dir / "text_encoder"
    ours = PromptTokenizer.from_folder(folder)
    hf = AutoTokenizer.from_pretrained(str(folder), local_files_only=True, model_max_length=1024)
    assert (ours.bos_token_id, ours.pad_token_id, ours.eos_token_id) == (hf.bos_token_id, hf.pad_token_id,
                                                                         hf.eos_token_id)
    _check_same(ours, hf, [*_golden_prompts(tiny_dir / "golden.safetensors"), *EDGE_PROMPTS])


def test_gemma4_packed_ids_equal_transformers(tiny25_dir):
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    from model_runtime.text.gemma4 import TOKENIZER_CONFIG_KEY, TOKENIZER_KEY, inspect_gemma4_file
    from model_runtime.text.tokenizer import PromptTokenizer

    path = next((tiny25_dir / "text_encoders").glob("*.safetensors"))
    file = inspect_gemma4_file(path)
    ours = PromptTokenizer.from_gemma4_file(file)
    with safe_open(str(path), framework="pt") as fh:
        tok_json = fh.get_tensor(TOKENIZER_KEY).to(torch.uint8).numpy().tobytes()
        cfg = json.loads(fh.get_tensor(TOKENIZER_CONFIG_KEY).to(torch.uint8).numpy().tobytes())
    skip = {"tokenizer_class", "auto_map", "model_max_length", "backend", "is_local", "local_files_only",
            "processor_class", "added_tokens_decoder"}  # ltx-core's gemma_assets: not constructor arguments
    hf = PreTrainedTokenizerFast(tokenizer_object=Tokenizer.from_buffer(tok_json), model_max_length=1024,
                                 **{k: v for k, v in cfg.items() if k not in skip})
    _check_same(ours, hf, [*_golden_prompts(tiny25_dir / "golden.safetensors"), *EDGE_PROMPTS])


def test_tokenizer_model_only_folder_goes_through_transformers(tiny_dir, tmp_path):
    """A folder without tokenizer.json (SentencePiece model only) still loads, with the same ids."""
    import shutil

    from model_runtime.text.tokenizer import PromptTokenizer

    pytest.importorskip("sentencepiece", reason="transformers converts tokenizer.model with SentencePiece")
    src = tiny_dir / "text_encoder"
    for name in ("tokenizer.model", "tokenizer_config.json", "special_tokens_map.json", "config.json"):
        shutil.copy(src / name, tmp_path / name)
    slow = PromptTokenizer.from_folder(tmp_path, 64)
    fast = PromptTokenizer.from_folder(src, 64)
    for prompt in (*_golden_prompts(tiny_dir / "golden.safetensors"), *EDGE_PROMPTS[:6]):
        assert torch.equal(slow(prompt).input_ids, fast(prompt).input_ids), prompt[:60]
