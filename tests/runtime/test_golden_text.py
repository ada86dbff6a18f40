"""Golden section (a) and the text path's layout: tokenizer, Gemma, feature extractor, connectors."""

from __future__ import annotations

import gzip
import json
import logging

import pytest
import torch

from model_runtime.loading import build_on_meta

log = logging.getLogger(__name__)


def _gated_names(ctx) -> set[str]:
    """Every text.* golden that has a comparison tolerance (inputs excluded)."""
    return {n for n in ctx.names("text.") if ctx.tolerances.get(n) not in (None, "input")}


def test_text_goldens_all_pass(golden_ctx):
    from model_runtime.goldens import text

    results = text.run(golden_ctx)
    for r in results:
        print(f"{r.name:36s} max|err| {r.max_abs_error:.3e}  tol {r.tolerance}")
    assert {r.name for r in results} == _gated_names(golden_ctx)
    failed = [f"{r.name}: {r.max_abs_error:.3e} > {r.tolerance} {r.detail}" for r in results if not r.passed]
    assert not failed, failed


def test_text_encoder_api_matches_goldens(golden_ctx, tiny_dir):
    """The pipelines' API end to end (own tokenizer + Gemma + loaders) reproduces both prompts' contexts."""
    from model_runtime.text.encoder import TextEncoder

    enc = TextEncoder(tiny_dir / "text_encoder", tiny_dir / "checkpoint.safetensors",
                      max_length=int(golden_ctx.settings["text_max_length"]))
    encodings = enc.encode_all([golden_ctx.prompt, golden_ctx.negative_prompt])
    assert not enc.gemma_loaded  # released after the job's prompts
    for prefix, e in zip(("text.", "text.negative."), encodings, strict=True):
        for field in ("input_ids", "attention_mask", "video_context", "audio_context", "context_mask"):
            r = golden_ctx.compare(prefix + field, getattr(e, field))
            assert r.passed, r
    enc.release()


def test_tokenizer_padding_rules(golden_ctx):
    from model_runtime.text.tokenizer import PromptTokenizer

    tok = PromptTokenizer.from_folder(golden_ctx.text_encoder_dir, 64)
    t = tok("  a red fox  ")
    n = t.num_tokens
    assert t.input_ids.shape == (1, 64) and t.input_ids.dtype == torch.int64
    assert t.attention_mask[0, : 64 - n].sum() == 0 and t.attention_mask[0, 64 - n:].all()  # LEFT padding
    assert (t.input_ids[0, : 64 - n] == tok.pad_token_id).all() and tok.pad_token_id == 0
    assert t.input_ids[0, 64 - n] == tok.bos_token_id  # <bos> first
    assert t.input_ids[0, -1] != tok._tok.eos_token_id  # no <eos>
    assert tok("a red fox").input_ids.equal(t.input_ids)  # stripped

    short = PromptTokenizer.from_folder(golden_ctx.text_encoder_dir, 8)(golden_ctx.prompt)
    assert short.num_tokens == 8 and short.input_ids[0, 0] == tok.bos_token_id  # truncation keeps the start


def test_connector_rename_is_a_bijection(tiny_dir):
    from model_runtime.checkpoints import read_header
    from model_runtime.text.connectors import AUDIO_CONNECTOR_SPEC, VIDEO_CONNECTOR_SPEC

    keys = list(read_header(tiny_dir / "checkpoint.safetensors").tensors)
    for spec, head in ((VIDEO_CONNECTOR_SPEC, "video_embeddings_connector."),
                       (AUDIO_CONNECTOR_SPEC, "audio_embeddings_connector.")):
        mine = [k[len(spec.prefix):] for k in keys if k.startswith(spec.prefix + head)]
        assert mine
        mapped = [spec.rename(k) for k in mine]
        assert len(set(mapped)) == len(mine)
        assert [spec.unrename(m) for m in mapped] == mine
        others = [k[len(spec.prefix):] for k in keys if k.startswith(spec.prefix) and not k.startswith(spec.prefix + head)]
        assert others and all(spec.rename(k) is None for k in others)
        module_keys = build_on_meta(spec, json.loads(read_header(tiny_dir / "checkpoint.safetensors").metadata["config"]))
        for mk in module_keys.state_dict():
            assert spec.rename(spec.unrename(mk)) == mk
        # a diffusers-named key in the file is never silently accepted as an official one
        assert spec.rename(head + "transformer_blocks.0.attn1.to_q.weight") not in module_keys.state_dict()


def _layout(layout_full):
    with gzip.open(layout_full, "rt", encoding="utf-8") as fh:
        return json.load(fh)


def _check_against_layout(spec, config, tensors: dict) -> int:
    module = build_on_meta(spec, config)
    built = {spec.prefix + spec.unrename(k): tuple(v.shape) for k, v in module.state_dict().items()}
    official = {k: tuple(v["shape"]) for k, v in tensors.items()
                if k.startswith(spec.prefix) and spec.rename(k[len(spec.prefix):]) is not None}
    assert set(built) == set(official), (sorted(set(built) ^ set(official)))[:10]
    wrong = {k: (built[k], official[k]) for k in built if built[k] != official[k]}
    assert not wrong, list(wrong.items())[:10]
    for k in official:
        assert spec.unrename(spec.rename(k[len(spec.prefix):])) == k[len(spec.prefix):]
    return len(built)


@pytest.mark.parametrize("with_dims", [True, False], ids=["gemma-dims-given", "reference-default"])
def test_full_size_text_layout(layout_full, with_dims):
    """Full-size 2.3 on meta: projection (Gemma-3-12B: 3840 x 49 states) and both connectors match every key/shape."""
    from model_runtime.text.connectors import AUDIO_CONNECTOR_SPEC, VIDEO_CONNECTOR_SPEC
    from model_runtime.text.gemma import GemmaDims
    from model_runtime.text.projection import TEXT_PROJECTION_SPEC, with_gemma_dims

    layout = _layout(layout_full)
    dims = GemmaDims(layout["gemma_dims_assumed"]["hidden_size"], layout["gemma_dims_assumed"]["num_hidden_layers"])
    assert dims.num_states == 49
    config = with_gemma_dims(layout["config"], dims) if with_dims else layout["config"]
    tensors = layout["checkpoint"]["tensors"]
    counts = {spec.name: _check_against_layout(spec, config, tensors)
              for spec in (TEXT_PROJECTION_SPEC, VIDEO_CONNECTOR_SPEC, AUDIO_CONNECTOR_SPEC)}
    comps = layout["checkpoint"]["components"]
    assert counts == {"text_projection": comps["text_embedding_projection"]["tensors"],
                      "video_connector": comps["video_embeddings_connector"]["tensors"],
                      "audio_connector": comps["audio_embeddings_connector"]["tensors"]}


def test_connectors_refuse_length_not_multiple_of_registers(golden_ctx):
    from model_runtime.goldens.text import _heads
    from model_runtime.text.connectors import run_connectors

    _, video, audio = _heads(golden_ctx)
    dv, da = video.inner_dim, audio.inner_dim
    with pytest.raises(ValueError, match="multiple of the 128"):
        run_connectors(video, audio, torch.zeros(1, 100, dv), torch.zeros(1, 100, da), torch.ones(1, 100))
