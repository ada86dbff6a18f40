"""Golden section (a): tokenizer -> Gemma hidden states -> feature extractor -> connectors.

As the fixture README prescribes: tokenize the metadata's prompt and negative prompt (ids/mask exact);
run Gemma on the STORED ids/mask and compare the hidden states where mask == 1; feed the STORED hidden
states + mask to the projection and connectors and compare features, connector inputs, contexts and mask.
The negative prompt has no stored hidden states, so its contexts come from our own Gemma run on its
stored ids. The text length comes from the set's `settings`, the Gemma dims from its folder (2.3) or the
packed file's `gemma_config` (2.5).
"""

from __future__ import annotations

import logging

import torch
from torch import nn

from model_runtime.goldens import Comparison, GoldenContext
from model_runtime.text.encoder import TextEncoder, TextFeatures, project_and_connect
from model_runtime.text.gemma import GemmaEncoder
from model_runtime.text.projection import TextProjection

log = logging.getLogger(__name__)

#: golden name prefix -> which metadata prompt it encodes
PROMPTS = (("text.", "prompt"), ("text.negative.", "negative_prompt"))


def encoder(ctx: GoldenContext, max_length: int | None = None) -> TextEncoder:
    """The set's text path (Gemma-3 folder or packed Gemma-4 file), loaded once per context."""
    length = int(max_length or ctx.settings["text_max_length"])
    return ctx.cached(f"text.encoder.{length}", lambda: TextEncoder.for_model(
        ctx.files, dtype=ctx.dtype, max_length=length, strict=ctx.strict))


def _gemma(ctx: GoldenContext) -> GemmaEncoder:
    return encoder(ctx).gemma


def _heads(ctx: GoldenContext) -> tuple[TextProjection, nn.Module, nn.Module]:
    return encoder(ctx).heads


def _capture_connector_inputs(video: nn.Module, audio: nn.Module) -> tuple[dict[str, torch.Tensor], list]:
    """The connector input after register replacement = what the first block receives (debug goldens)."""
    seen: dict[str, torch.Tensor] = {}
    handles = []
    for name, conn in (("video", video), ("audio", audio)):
        def hook(_mod, args, kwargs, name=name):
            seen[name] = (args[0] if args else kwargs["hidden_states"]).detach().clone()

        handles.append(conn.transformer_blocks[0].register_forward_pre_hook(hook, with_kwargs=True))
    return seen, handles


def _tokenize(ctx: GoldenContext) -> list[Comparison]:
    tok = encoder(ctx).tokenizer
    results = []
    for prefix, attr in PROMPTS:
        if not ctx.has(prefix + "input_ids"):
            continue
        tokens = tok(getattr(ctx, attr))
        results.append(ctx.compare(prefix + "input_ids", tokens.input_ids))
        results.append(ctx.compare(prefix + "attention_mask", tokens.attention_mask))
    return results


def _hidden_states(ctx: GoldenContext) -> Comparison:
    mask = ctx.tensor("text.attention_mask")
    hidden = _gemma(ctx).hidden_states(ctx.tensor("text.input_ids"), mask)
    valid_only = hidden * mask[:, :, None, None].to(hidden.dtype)  # the golden's padded rows are 0
    return ctx.compare("text.gemma_hidden_states", valid_only)


def _compare_features(ctx: GoldenContext, prefix: str, feats: TextFeatures, inputs: dict) -> list[Comparison]:
    pairs = {
        "video_features": feats.video_features,
        "audio_features": feats.audio_features,
        "video_connector_input": inputs.get("video"),
        "audio_connector_input": inputs.get("audio"),
        "video_context": feats.output.video_context,
        "audio_context": feats.output.audio_context,
        "context_mask": feats.output.context_mask,
    }
    return [ctx.compare(prefix + k, v) for k, v in pairs.items() if ctx.has(prefix + k) and v is not None]


def _contexts(ctx: GoldenContext) -> list[Comparison]:
    heads = _heads(ctx)
    results = []
    for prefix, _attr in PROMPTS:
        if not ctx.has(prefix + "video_context"):
            continue
        mask = ctx.tensor(prefix + "attention_mask")
        if ctx.has(prefix + "gemma_hidden_states"):
            hidden = ctx.tensor(prefix + "gemma_hidden_states")  # stored states: isolates the path after Gemma
        else:
            hidden = _gemma(ctx).hidden_states(ctx.tensor(prefix + "input_ids"), mask)
        seen, handles = _capture_connector_inputs(heads[1], heads[2])
        try:
            feats = project_and_connect(*heads, hidden, mask)
        finally:
            for h in handles:
                h.remove()
        results.extend(_compare_features(ctx, prefix, feats, seen))
    return results


def run(ctx: GoldenContext) -> list[Comparison]:
    results = _tokenize(ctx)
    if ctx.has("text.gemma_hidden_states"):
        results.append(_hidden_states(ctx))
    results.extend(_contexts(ctx))
    for r in results:
        log.info("%-34s max|err| %.3e  tol %s  %s", r.name, r.max_abs_error, r.tolerance, "ok" if r.passed else "FAIL")
    return results
