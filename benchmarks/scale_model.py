"""A full-width, reduced-depth LTX-2.3 in the official layout, generated into a cache folder (never git).

Why: the real files (46 GB + 24 GB) are not on the machines we test on, and tiny checkpoints cannot show
what the runtime does at the real widths (a 4096-wide block, the 8-layer connectors, a 262k x 3840 Gemma
embedding table). This writes:

* `ltx-2.3-scale-K<k>.safetensors`: every component of the 2.3 single file at its real size, with only
  the first `k` transformer blocks; `__metadata__["config"]` is the real 2.3 config with `num_layers = k`,
  so the production loader reads it strictly. `text_embedding_projection` takes 3840 x (L+1) features: it
  matches the L-layer Gemma folder, as the real one matches Gemma-3-12B's 49 states.
* `ltx-2.3-scale-upscaler-x2.safetensors`: the x2 spatial upscaler at its real size.
* `gemma-3-L<l>/`: a Gemma-3-12B folder (`Gemma3ForConditionalGeneration` config, real text widths and
  vocabulary) with `l` language-model layers and no vision weights (the text path never loads them), plus
  the demo model's small tokenizer (ids stay far below the vocabulary size).

Shapes come from the runtime's own builders on the meta device (the same `ComponentSpec`s the strict
full-size layout test checks), the real config from the layout fixture. Values are seeded random bf16
(1/sqrt(fan-in) scaled, norms at their identity), written tensor by tensor, so generating 12 GB needs a
few hundred MB of RAM. The folder name is a hash of everything that determines the content: a finished
folder is reused, an unfinished one (no `COMPLETE` stamp) is rebuilt in a temporary sibling and renamed.

    .venv/bin/python benchmarks/scale_model.py --blocks 4 --gemma-layers 2     # prints the folder
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import logging
import math
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch

log = logging.getLogger(__name__)

GENERATOR_VERSION = "1"
SEED = 20261203
LAYOUT = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "ltx23_layout_full.json.gz"
CACHE = Path(os.environ.get("LTX_STUDIO_DEV_CACHE", Path.home() / ".cache" / "ltx-studio-dev"))

#: Gemma-3-12B's language model (google/gemma-3-12b-it config.json, text_config)
GEMMA3_12B_TEXT = {
    "model_type": "gemma3_text", "vocab_size": 262208, "hidden_size": 3840, "intermediate_size": 15360,
    "num_hidden_layers": 48, "num_attention_heads": 16, "num_key_value_heads": 8, "head_dim": 256,
    "query_pre_attn_scalar": 256, "hidden_activation": "gelu_pytorch_tanh", "rms_norm_eps": 1e-06,
    "rope_theta": 1000000.0, "rope_local_base_freq": 10000.0, "rope_scaling": {"factor": 8.0, "rope_type": "linear"},
    "sliding_window": 1024, "sliding_window_pattern": 6, "max_position_embeddings": 131072, "pad_token_id": 0,
    "bos_token_id": 2, "eos_token_id": 1,
}
CHUNK_ELEMS = 1 << 24  # random values are drawn and written 16 M elements at a time


@dataclass(frozen=True)
class ScaleModel:
    """Paths of one generated scale model."""

    root: Path
    checkpoint: Path
    upsampler: Path
    text_encoder_dir: Path
    blocks: int
    gemma_layers: int


def _layout(layout_path: Path = LAYOUT) -> dict:
    with gzip.open(layout_path, "rt", encoding="utf-8") as fh:
        return json.load(fh)


def scale_config(full_config: dict, blocks: int) -> dict:
    """The real 2.3 config with the first `blocks` transformer blocks only."""
    config = json.loads(json.dumps(full_config))
    config["transformer"]["num_layers"] = blocks
    return config


def _key(layout: dict, blocks: int, gemma_layers: int) -> str:
    blob = json.dumps({"v": GENERATOR_VERSION, "seed": SEED, "blocks": blocks, "gemma_layers": gemma_layers,
                       "config": layout["config"], "upsampler": layout["spatial_upscaler_x2"]["config"],
                       "gemma": GEMMA3_12B_TEXT}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def _paths(root: Path, blocks: int, gemma_layers: int) -> ScaleModel:
    return ScaleModel(root, root / f"ltx-2.3-scale-K{blocks}.safetensors", root / "ltx-2.3-scale-upscaler-x2.safetensors",
                      root / f"gemma-3-L{gemma_layers}", blocks, gemma_layers)


def ensure_scale_model(blocks: int = 4, gemma_layers: int = 2, cache: Path = CACHE,
                       layout_path: Path = LAYOUT) -> ScaleModel:
    """The scale model for (`blocks`, `gemma_layers`), generated once into `cache` and reused."""
    from model_runtime.demo import build_folder_once

    layout = _layout(layout_path)
    root = cache / f"ltx23-scale-K{blocks}-L{gemma_layers}-{_key(layout, blocks, gemma_layers)}"

    def build(tmp: Path) -> None:
        paths = _paths(tmp, blocks, gemma_layers)
        log.info("writing the scale model (K=%d, L=%d) to %s", blocks, gemma_layers, root)
        _write_checkpoint(paths.checkpoint, layout, blocks, gemma_layers)
        _write_upsampler(paths.upsampler, layout)
        _write_gemma(paths.text_encoder_dir, gemma_layers)

    build_folder_once(root, "COMPLETE", GENERATOR_VERSION, build)
    return _paths(root, blocks, gemma_layers)


# --- tensors ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TensorPlan:
    """One tensor to write: its file key, shape and how its values are drawn."""

    key: str
    shape: tuple[int, ...]
    fill: str  # "randn" (scaled by `std`), "ones", "zeros"
    std: float = 0.0


def _fill_for(key: str, shape: tuple[int, ...], norm_one: bool) -> TensorPlan:
    """Weights ~ N(0, 1/fan_in); 1-D norm weights at identity (1, or 0 for Gemma's 1 + w norms); biases 0."""
    name = key.rsplit(".", 1)[-1]
    if len(shape) >= 2 and "per_channel" not in key:
        fan_in = math.prod(shape[1:])
        return TensorPlan(key, shape, "randn", 1.0 / math.sqrt(max(1, fan_in)))
    if name == "bias" or "mean" in name:
        return TensorPlan(key, shape, "zeros")
    if "norm" in key or "std" in name:
        return TensorPlan(key, shape, "ones" if norm_one else "zeros")
    return TensorPlan(key, shape, "randn", 0.02 if len(shape) < 2 else 1.0)


def _chunks(plan: TensorPlan, gen: torch.Generator) -> Iterator[bytes]:
    n = math.prod(plan.shape)
    for start in range(0, n, CHUNK_ELEMS):
        m = min(CHUNK_ELEMS, n - start)
        if plan.fill == "randn":
            t = (torch.randn(m, generator=gen) * plan.std).to(torch.bfloat16)
        else:
            t = (torch.ones if plan.fill == "ones" else torch.zeros)(m, dtype=torch.bfloat16)
        yield t.view(torch.int16).numpy().tobytes()


def write_safetensors(path: Path, plans: list[TensorPlan], metadata: dict[str, str], seed: int) -> None:
    """A bf16 safetensors file written tensor by tensor (never all in memory), to a temp name then renamed."""
    header: dict = {"__metadata__": metadata}
    offset = 0
    for p in plans:
        nbytes = 2 * math.prod(p.shape)
        header[p.key] = {"dtype": "BF16", "shape": list(p.shape), "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    blob = json.dumps(header, separators=(",", ":")).encode()
    blob += b" " * (-len(blob) % 8)
    gen = torch.Generator().manual_seed(seed)
    tmp = path.with_name(path.name + ".part")
    with open(tmp, "wb") as fh:
        fh.write(struct.pack("<Q", len(blob)))
        fh.write(blob)
        for p in plans:
            for chunk in _chunks(p, gen):
                fh.write(chunk)
    os.replace(tmp, path)
    log.info("wrote %s (%.2f GB)", path, offset / 1e9)


def _module_plans(spec, config: dict) -> list[TensorPlan]:
    from model_runtime.loading import build_on_meta

    module = build_on_meta(spec, config)
    return [_fill_for(spec.prefix + spec.unrename(k), tuple(t.shape), True) for k, t in module.state_dict().items()]


def _write_checkpoint(path: Path, layout: dict, blocks: int, gemma_layers: int) -> None:
    from model_runtime.components import specs
    from model_runtime.text.gemma import GemmaDims
    from model_runtime.text.projection import with_gemma_dims

    config = scale_config(layout["config"], blocks)
    build = with_gemma_dims(config, GemmaDims(GEMMA3_12B_TEXT["hidden_size"], gemma_layers))
    plans: dict[str, TensorPlan] = {}
    for spec in specs("checkpoint"):
        for p in _module_plans(spec, build):
            plans.setdefault(p.key, p)  # encoder/decoder share the stored per-channel statistics
    meta = {"config": json.dumps(config), "model_version": layout["model_version"],
            "scale_model": f"random weights, first {blocks} blocks, text projection for {gemma_layers} Gemma layers"}
    write_safetensors(path, sorted(plans.values(), key=lambda p: p.key), meta, SEED)


def _write_upsampler(path: Path, layout: dict) -> None:
    from model_runtime.components import specs

    (spec,) = specs("upsampler")
    config = layout["spatial_upscaler_x2"]["config"]
    write_safetensors(path, _module_plans(spec, config), {"config": json.dumps(config)}, SEED + 1)


def _write_gemma(folder: Path, layers: int) -> None:
    from transformers import Gemma3Config, Gemma3TextConfig, Gemma3TextModel, PreTrainedTokenizerFast

    from model_runtime.demo import _build_tokenizer

    folder.mkdir(parents=True)
    text = dict(GEMMA3_12B_TEXT, num_hidden_layers=layers)
    config = Gemma3Config(text_config=text, mm_tokens_per_image=256, boi_token_index=255999,
                          eoi_token_index=256000, image_token_index=262144)
    (folder / "config.json").write_text(config.to_json_string())
    with torch.device("meta"):
        model = Gemma3TextModel(Gemma3TextConfig(**{k: v for k, v in text.items() if k != "model_type"}))
    plans = [_fill_for("language_model.model." + k, tuple(t.shape), False) for k, t in model.state_dict().items()]
    for i, p in enumerate(plans):  # the embedding table is read as is (then scaled by sqrt(hidden))
        if p.key.endswith("embed_tokens.weight"):
            plans[i] = TensorPlan(p.key, p.shape, "randn", 1.0 / math.sqrt(text["hidden_size"]))
    write_safetensors(folder / "model.safetensors", plans, {"format": "pt"}, SEED + 2)
    tok = PreTrainedTokenizerFast(tokenizer_object=_build_tokenizer(), bos_token="<bos>", eos_token="<eos>",
                                  pad_token="<pad>", unk_token="<unk>", padding_side="left")
    tok.save_pretrained(str(folder))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--blocks", type=int, default=4, help="transformer blocks kept (K)")
    p.add_argument("--gemma-layers", type=int, default=2, help="Gemma-3 language-model layers (L)")
    p.add_argument("--cache", type=Path, default=CACHE)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    model = ensure_scale_model(args.blocks, args.gemma_layers, args.cache)
    print(model.root)  # noqa: T201 - the folder is this script's output
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
