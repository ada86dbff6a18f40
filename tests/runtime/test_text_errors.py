"""Bad Gemma folders and mismatched text encoders give a CheckpointError that names the problem."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from model_runtime.errors import CheckpointError, UnsupportedModelError

TOKENIZER = ("tokenizer.json", "tokenizer.model", "tokenizer_config.json", "special_tokens_map.json")


def _copy_gemma(src: Path, dst: Path, *, skip: tuple[str, ...] = ()) -> Path:
    dst.mkdir()
    for f in src.iterdir():
        if f.name not in skip:
            shutil.copyfile(f, dst / f.name)
    return dst


@pytest.fixture()
def gemma_src(tiny_dir) -> Path:
    return tiny_dir / "text_encoder"


def _inspect(path):
    from model_runtime.text.gemma import inspect_gemma_folder

    return inspect_gemma_folder(path)


def test_good_folder_inspects(gemma_src):
    folder = _inspect(gemma_src)
    cfg = json.loads((gemma_src / "config.json").read_text())["text_config"]
    assert (folder.dims.hidden_size, folder.dims.num_states) == (cfg["hidden_size"], cfg["num_hidden_layers"] + 1)
    assert folder.language_model_prefix == "language_model.model."


def test_missing_folder(tmp_path):
    with pytest.raises(CheckpointError, match="folder not found"):
        _inspect(tmp_path / "nope")


def test_file_instead_of_folder(tmp_path):
    f = tmp_path / "model.safetensors"
    f.write_bytes(b"x")
    with pytest.raises(CheckpointError, match="is a file"):
        _inspect(f)


def test_no_config(gemma_src, tmp_path):
    with pytest.raises(CheckpointError, match="no config.json"):
        _inspect(_copy_gemma(gemma_src, tmp_path / "g", skip=("config.json",)))


@pytest.mark.parametrize("content, match", [
    ("{not json", "not valid JSON"),
    (json.dumps({"model_type": "llama", "text_config": {}}), "model_type is 'llama'"),
    (json.dumps({"architectures": ["X"]}), "model_type is None"),
    (json.dumps({"model_type": "gemma3", "text_config": {"hidden_size": 32}}), "lacks hidden_size"),
])
def test_bad_config(gemma_src, tmp_path, content, match):
    d = _copy_gemma(gemma_src, tmp_path / "g")
    (d / "config.json").write_text(content)
    with pytest.raises(CheckpointError, match=match):
        _inspect(d)


def test_missing_weights(gemma_src, tmp_path):
    with pytest.raises(CheckpointError, match="no model weights"):
        _inspect(_copy_gemma(gemma_src, tmp_path / "g", skip=("model.safetensors",)))


def test_pickle_weights_refused(gemma_src, tmp_path):
    d = _copy_gemma(gemma_src, tmp_path / "g", skip=("model.safetensors",))
    (d / "pytorch_model.bin").write_bytes(b"\x80\x02")
    with pytest.raises(CheckpointError, match="never loaded"):
        _inspect(d)


def test_missing_shard(gemma_src, tmp_path):
    d = _copy_gemma(gemma_src, tmp_path / "g", skip=("model.safetensors",))
    (d / "model.safetensors.index.json").write_text(json.dumps(
        {"weight_map": {"language_model.model.embed_tokens.weight": "model-00001-of-00002.safetensors"}}))
    with pytest.raises(CheckpointError, match="shard.*missing.*model-00001-of-00002"):
        _inspect(d)


def test_weights_without_language_model(gemma_src, tmp_path):
    d = _copy_gemma(gemma_src, tmp_path / "g", skip=("model.safetensors",))
    save_file({"vision_tower.vision_model.post_layernorm.weight": torch.zeros(16)}, str(d / "model.safetensors"))
    with pytest.raises(CheckpointError, match="no Gemma-3 language model"):
        _inspect(d)


def test_missing_tokenizer(gemma_src, tmp_path):
    d = _copy_gemma(gemma_src, tmp_path / "g", skip=TOKENIZER)
    with pytest.raises(CheckpointError, match="no tokenizer"):
        _inspect(d)
    from model_runtime.text.tokenizer import PromptTokenizer

    with pytest.raises(CheckpointError, match="no tokenizer"):
        PromptTokenizer.from_folder(d)


def test_layer_weights_missing_is_an_error(gemma_src, tmp_path):
    """config promises a layer the weights do not have: refused from the headers, before any weight is read
    (never random-initialised)."""
    d = _copy_gemma(gemma_src, tmp_path / "g")
    cfg = json.loads((d / "config.json").read_text())
    cfg["text_config"]["num_hidden_layers"] += 1
    (d / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="num_hidden_layers is 3 but the weights"):
        _inspect(d)


def test_wrong_gemma_for_checkpoint(gemma_src, tmp_path, tiny_dir):
    """A Gemma whose hidden x states differ from the projection's input is named as the wrong text encoder."""
    from model_runtime.text.encoder import TextEncoder

    d = _copy_gemma(gemma_src, tmp_path / "g")
    cfg = json.loads((d / "config.json").read_text())
    cfg["text_config"]["num_hidden_layers"] += 1
    (d / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="does not belong to these weights|wrong text encoder"):
        TextEncoder(d, tiny_dir / "checkpoint.safetensors")


def test_ltx20_text_path_refused(golden_ctx):
    from model_runtime.text.projection import check_v2_text_config

    v1 = {k: v for k, v in golden_ctx.config["transformer"].items() if not k.startswith("caption_proj")}
    with pytest.raises(UnsupportedModelError, match="LTX-2.0 text path"):
        check_v2_text_config(v1)
    odd = dict(golden_ctx.config["transformer"], caption_proj_input_norm=True)
    with pytest.raises(UnsupportedModelError, match="unknown text projection variant"):
        check_v2_text_config(odd)
