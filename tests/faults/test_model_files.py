"""Model files are data, not trust: every broken checkpoint or Gemma folder gets one line and a fix."""

from __future__ import annotations

import json
import math

import pytest
import torch

from model_runtime.errors import CheckpointError
from tests.faults.conftest import CHECKPOINT, generate_args, tiny_component, write_safetensors

REDOWNLOAD = r"download it again"
PROJ = "text_embedding_projection."


def _one_tensor(**entry) -> dict:
    base = {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}
    return {"t": base | entry, "__metadata__": {"model_version": "2.3.0"}}


# --- safetensors header ------------------------------------------------------------------------------

@pytest.mark.parametrize("header, match", [
    (b"[" * 5000 + b"]" * 5000, r"not a safetensors file \(no JSON header\)"),
    (b'{"a":' + b"[" * 5000 + b"]" * 5000 + b"}", r"nests deeper than 64 levels: .*" + REDOWNLOAD),
    (_one_tensor(shape="2"), r"bad entry for 't'.*" + REDOWNLOAD),
    (_one_tensor(shape=[True, 2]), r"bad entry for 't'.*" + REDOWNLOAD),
    (_one_tensor(shape=[-2]), r"bad entry for 't'.*" + REDOWNLOAD),
    (_one_tensor(data_offsets=[8, 0]), r"truncated or corrupt: tensor 't'"),
    (_one_tensor(data_offsets=[0, 8, 16]), r"bad entry for 't'"),
    (_one_tensor(dtype=["F32"]), r"bad entry for 't'"),
    ({"t": "F32"}, r"bad entry for 't'"),
    ({"__metadata__": {"config": {"nested": 1}}}, r"__metadata__ must map names to strings.*" + REDOWNLOAD),
    (b'{"t": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]', r"corrupt safetensors header, not valid JSON"),
    (b"{\xff\xfe}", r"corrupt safetensors header, not valid JSON.*" + REDOWNLOAD),
], ids=["array-deep", "nested-deep", "shape-str", "shape-bool", "shape-neg", "offsets-reversed", "offsets-3",
        "dtype-list", "entry-str", "metadata-obj", "truncated-json", "not-utf8"])
def test_bad_header(fault, tmp_path, header, match):
    from model_runtime.checkpoints import read_header

    path = write_safetensors(tmp_path / "m.safetensors", header, b"\0" * 8)
    fault(lambda: read_header(path), match)


def test_deep_config_and_wrong_section_type(fault, tmp_path):
    from model_runtime.checkpoints import inspect_checkpoint

    deep = '{"transformer": ' + "[" * 3000 + "]" * 3000 + "}"
    path = write_safetensors(tmp_path / "a.safetensors", {"__metadata__": {"config": deep, "model_version": "2.3"}})
    fault(lambda: inspect_checkpoint(path), r"embedded config nests deeper than 64 levels.*" + REDOWNLOAD)
    wrong = json.dumps({"transformer": {"_class_name": "AVTransformer3DModel"}, "vae": [1, 2]})
    path = write_safetensors(tmp_path / "b.safetensors", {"__metadata__": {"config": wrong, "model_version": "2.3"}})
    fault(lambda: inspect_checkpoint(path), r"section 'vae' is a list, expected an object.*" + REDOWNLOAD)


def test_config_with_nan_and_huge_config(fault, tmp_path):
    from model_runtime.checkpoints import inspect_checkpoint

    cfg = '{"transformer": {"_class_name": "AVTransformer3DModel", "norm_eps": NaN}}'
    path = write_safetensors(tmp_path / "a.safetensors", {"__metadata__": {"config": cfg, "model_version": "2.3"}})
    fault(lambda: inspect_checkpoint(path), r"transformer.norm_eps is not a finite number.*" + REDOWNLOAD)
    big = json.dumps({"transformer": {"pad": "x" * (1024 * 1024 + 1)}})
    path = write_safetensors(tmp_path / "b.safetensors", {"__metadata__": {"config": big, "model_version": "2.3"}})
    fault(lambda: inspect_checkpoint(path), r"embedded config is \d+ bytes \(limit 1048576\).*" + REDOWNLOAD)


def test_unreadable_checkpoint(fault, tmp_path, monkeypatch):
    """Root reads any file mode, so the OS's refusal is injected where the file is opened."""
    from pathlib import Path

    from model_runtime.checkpoints import read_header

    path = tmp_path / "m.safetensors"
    path.write_bytes(CHECKPOINT.read_bytes()[:4096])
    real_open = Path.open

    def deny(self, *a, **kw):
        if self == path:
            raise PermissionError(13, "Permission denied", str(self))
        return real_open(self, *a, **kw)

    monkeypatch.setattr(Path, "open", deny)
    fault(lambda: read_header(path), r"cannot read the model file: permission denied; make it readable")


@pytest.mark.parametrize("content, match", [
    (b"\x80\x04\x95" + b"\0" * 64, r"Python pickle .* never loaded"),
    (b"", r"not a safetensors file \(only 0 bytes\)"),
    (b"PK\x03\x04" + b"\0" * 64, r"zip archive .* never loaded"),
], ids=["pickle", "empty", "zip"])
def test_foreign_files_via_cli(cli_fault, tmp_path, content, match):
    bad = tmp_path / "model.safetensors"
    bad.write_bytes(content)
    cli_fault(generate_args(tmp_path, checkpoint=bad), match)


def test_truncated_checkpoint_via_cli(cli_fault, tmp_path):
    bad = tmp_path / "model.safetensors"
    bad.write_bytes(CHECKPOINT.read_bytes()[:1_000_000])
    cli_fault(generate_args(tmp_path, checkpoint=bad), r"truncated or corrupt: tensor .* the file holds")


# --- weights: dtype against the layout, NaN/Inf, config types ------------------------------------------

def _load_projection(path, config):
    from model_runtime.loading import load_component
    from model_runtime.text.gemma import GemmaDims
    from model_runtime.text.projection import TEXT_PROJECTION_SPEC, with_gemma_dims

    return load_component(path, TEXT_PROJECTION_SPEC, with_gemma_dims(config, GemmaDims(32, 2)))


def test_weight_stored_in_wrong_dtype(fault, tmp_path):
    def to_int(t):
        t[PROJ + "video_aggregate_embed.weight"] = t[PROJ + "video_aggregate_embed.weight"].to(torch.int32)

    path, cfg = tiny_component(tmp_path / "p.safetensors", PROJ, to_int)
    fault(lambda: _load_projection(path, cfg), r"stored in the wrong dtype: .*video_aggregate_embed.weight \(I32, "
                                               r"expected float32\).*download it again", CheckpointError)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf], ids=["nan", "inf", "-inf"])
def test_non_finite_weights_are_refused_at_load(fault, tmp_path, value):
    def poison(t):
        t[PROJ + "audio_aggregate_embed.weight"].view(-1)[::7] = value

    path, cfg = tiny_component(tmp_path / "p.safetensors", PROJ, poison)
    fault(lambda: _load_projection(path, cfg), r"hold NaN or Inf values \(.*audio_aggregate_embed.weight\): "
                                               r"the file is damaged; download it again", CheckpointError)


def test_single_nan_in_a_small_tensor_is_found(tmp_path):
    from model_runtime.loading import sampled_nonfinite

    t = torch.zeros(1000)
    t[537] = math.nan
    assert sampled_nonfinite(t)
    assert not sampled_nonfinite(torch.zeros(10_000_000))


def test_config_value_of_wrong_type_names_the_component(fault, tmp_path):
    def edit(cfg):
        cfg["transformer"]["num_attention_heads"] = None

    path, cfg = tiny_component(tmp_path / "p.safetensors", PROJ, config_edit=edit)
    fault(lambda: _load_projection(path, cfg), r"text_projection: the embedded config cannot build this component "
                                               r"\(TypeError.*download it again", CheckpointError)


def test_nan_after_the_first_step_stops_the_job(fault):
    from model_runtime.sampling.euler import euler_loop

    calls = []

    def x0(latents, sigma, i):
        calls.append(i)
        return tuple(torch.full_like(x, math.nan) for x in latents)

    sigmas = torch.tensor([1.0, 0.75, 0.5, 0.25, 0.0])
    fault(lambda: list(euler_loop(sigmas, (torch.zeros(4),), x0)),
          r"NaN/Inf values at its first denoising step: .*download the checkpoint again.*--dtype float32")
    assert calls == [0], "the loop went on after a NaN step"


# --- the Gemma folder ----------------------------------------------------------------------------------

def _index(folder, weight_map):
    (folder / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))


@pytest.mark.parametrize("shard", ["../../outside.safetensors", "/etc/passwd", "sub/../../x.safetensors", ""],
                         ids=["dotdot", "absolute", "nested-dotdot", "empty"])
def test_shard_index_pointing_outside(fault, gemma_copy, tmp_path, shard):
    from model_runtime.text.gemma import inspect_gemma_folder

    (tmp_path / "outside.safetensors").write_bytes(b"secret")
    _index(gemma_copy, {"language_model.model.embed_tokens.weight": shard})
    fault(lambda: inspect_gemma_folder(gemma_copy), r"points outside the model folder; refusing to follow it: "
                                                    r"download the complete")


def test_shard_symlink_escaping_the_folder(fault, gemma_copy, tmp_path):
    from model_runtime.text.gemma import inspect_gemma_folder

    (tmp_path / "elsewhere.safetensors").write_bytes((gemma_copy / "model.safetensors").read_bytes())
    (gemma_copy / "link.safetensors").symlink_to(tmp_path / "elsewhere.safetensors")
    _index(gemma_copy, {"language_model.model.embed_tokens.weight": "link.safetensors"})
    fault(lambda: inspect_gemma_folder(gemma_copy), r"'link.safetensors' points outside the model folder")


def test_shard_index_weight_map_of_wrong_type(fault, gemma_copy):
    from model_runtime.text.gemma import inspect_gemma_folder

    (gemma_copy / "model.safetensors.index.json").write_text(json.dumps({"weight_map": ["model.safetensors"]}))
    fault(lambda: inspect_gemma_folder(gemma_copy), r"corrupt shard index \(no weight_map of file names\); download")


@pytest.mark.parametrize("content, match", [
    ("[]", r"config.json: not a JSON object"),
    ('{"model_type": "gemma3", "text_config": ' + "[" * 2000 + "]" * 2000 + "}", r"nests deeper than 64 levels"),
    ('{"model_type": "gemma3", "text_config": {"hidden_size": "32", "num_hidden_layers": 2}}',
     r"text_config.hidden_size is '32', expected a positive integer; download the complete"),
    ('{"model_type": "gemma3", "text_config": {"hidden_size": 32, "num_hidden_layers": true}}',
     r"text_config.num_hidden_layers is True, expected a positive integer"),
    ('{"model_type": "gemma3", "text_config": "small"}', r"text_config is missing or not an object; download"),
], ids=["list", "deep", "hidden-str", "layers-bool", "text-config-str"])
def test_gemma_config_types(fault, gemma_copy, content, match):
    from model_runtime.text.gemma import inspect_gemma_folder

    (gemma_copy / "config.json").write_text(content)
    fault(lambda: inspect_gemma_folder(gemma_copy), match)


def test_gemma_config_not_utf8(fault, gemma_copy):
    from model_runtime.text.gemma import inspect_gemma_folder

    (gemma_copy / "config.json").write_bytes(b'{"model_type": "gemma\xff"}')
    fault(lambda: inspect_gemma_folder(gemma_copy), r"corrupt config.json, not valid JSON \(UnicodeDecodeError\)")


@pytest.mark.parametrize("field, value, match", [
    ("intermediate_size", 65, r"intermediate_size is 65 but the weights \(mlp.gate_proj\) say 64"),
    ("vocab_size", 383, r"vocab_size is 383 but the weights"),
    ("num_key_value_heads", 2, r"num_key_value_heads x head_dim is 32 but the weights \(k_proj\) say 16"),
], ids=["intermediate", "vocab", "kv-heads"])
def test_gemma_config_field_by_field(fault, gemma_copy, field, value, match):
    from model_runtime.text.gemma import inspect_gemma_folder

    cfg = json.loads((gemma_copy / "config.json").read_text())
    cfg["text_config"][field] = value
    (gemma_copy / "config.json").write_text(json.dumps(cfg))
    fault(lambda: inspect_gemma_folder(gemma_copy), match + r".*does not belong to these weights")


def test_gemma_config_whose_product_matches_the_projection(cli_fault, gemma_copy, tmp_path):
    """hidden 48 x (1 + 1) states = 32 x (2 + 1) = 96: the projection check alone would pass it."""
    cfg = json.loads((gemma_copy / "config.json").read_text())
    cfg["text_config"].update(hidden_size=48, num_hidden_layers=1)
    (gemma_copy / "config.json").write_text(json.dumps(cfg))
    cli_fault(generate_args(tmp_path, text_encoder=gemma_copy),
              r"text_config hidden_size is 48 but the weights \(.*embed_tokens.weight\) say 32: config.json does "
              r"not belong to these weights; download the complete")


@pytest.mark.parametrize("name, content, match", [
    ("tokenizer.json", b"\x00\x01garbage\xff", r"tokenizer.json, not valid JSON"),
    ("tokenizer.json", b"[1, 2, 3]", r"not a tokenizer file \(not a JSON object\)"),
    ("tokenizer_config.json", b"{{{", r"corrupt tokenizer_config.json, not valid JSON"),
    ("special_tokens_map.json", b'"just a string"', r"special_tokens_map.json: not a tokenizer file"),
], ids=["tok-bytes", "tok-list", "tokcfg-bad", "special-str"])
def test_tokenizer_garbage_found_at_inspection(fault, gemma_copy, name, content, match):
    from model_runtime.text.gemma import inspect_gemma_folder

    (gemma_copy / name).write_bytes(content)
    fault(lambda: inspect_gemma_folder(gemma_copy), match + r".*download")


def test_tokenizer_json_object_with_garbage_fields(fault, gemma_copy):
    from model_runtime.text.tokenizer import PromptTokenizer

    (gemma_copy / "tokenizer.json").write_text(json.dumps({"model": {"type": "Nonsense"}, "version": 7}))
    (gemma_copy / "tokenizer.model").write_bytes(b"garbage" * 10)
    fault(lambda: PromptTokenizer.from_folder(gemma_copy),
          r"cannot load the Gemma tokenizer \(.*\): the tokenizer files are damaged; download the complete")


def test_gemma_config_unreadable(fault, gemma_copy, monkeypatch):
    from pathlib import Path

    from model_runtime.text.gemma import inspect_gemma_folder

    target = gemma_copy / "config.json"
    real = Path.read_bytes

    def deny(self):
        if self == target:
            raise PermissionError(13, "Permission denied", str(self))
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", deny)
    fault(lambda: inspect_gemma_folder(gemma_copy), r"cannot read config.json: Permission denied; make it readable")
