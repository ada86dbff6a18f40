"""Every kind of wrong file gets its own actionable message, found before any weight is used.

The bad files are made in tmp_path from the tiny fixture: its tensors and metadata are copied and then
edited (keys dropped or added, metadata changed, bytes cut or overwritten).
"""

from __future__ import annotations

import json
import pickle
import struct
import zipfile
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from model_runtime.checkpoints import inspect_checkpoint, inspect_upsampler, read_header
from model_runtime.errors import CheckpointError, MissingKeysError, UnexpectedKeysError, UnsupportedModelError
from model_runtime.loading import load_component


@pytest.fixture(scope="module")
def original(tiny_dir) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    path = tiny_dir / "checkpoint.safetensors"
    with safe_open(str(path), framework="pt") as fh:
        return {k: fh.get_tensor(k) for k in fh.keys()}, dict(fh.metadata())


def _write(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> Path:
    save_file(tensors, str(path), metadata=metadata)
    return path


def _only(tensors: dict[str, torch.Tensor], *prefixes: str) -> dict[str, torch.Tensor]:
    return {k: v for k, v in tensors.items() if k.startswith(prefixes)}


def test_the_fixture_itself_is_accepted(tiny_dir):
    info = inspect_checkpoint(tiny_dir / "checkpoint.safetensors")
    assert info.model_version.startswith("2.3") and not info.missing_components
    assert inspect_upsampler(tiny_dir / "spatial_upscaler_x2.safetensors").kind == "spatial-upsampler"


# --- not safetensors at all ---------------------------------------------------------------------------

def test_random_bytes(tmp_path):
    p = tmp_path / "model.safetensors"
    p.write_bytes(bytes(range(256)) * 64)
    with pytest.raises(CheckpointError, match="not a safetensors file"):
        inspect_checkpoint(p)


def test_pickle_file_is_named_and_never_loaded(tmp_path):
    p = tmp_path / "model.ckpt"
    p.write_bytes(pickle.dumps({"state_dict": {"w": [1.0] * 1000}}, protocol=4))
    with pytest.raises(CheckpointError, match="pickle.*never loaded"):
        read_header(p)


def test_zip_archive_torch_save_is_named(tmp_path):
    p = tmp_path / "model.pt"
    torch.save({"w": torch.zeros(4)}, p)  # torch's zip container
    assert zipfile.is_zipfile(p)
    with pytest.raises(CheckpointError, match="zip archive"):
        inspect_checkpoint(p)


def test_tiny_and_missing_files(tmp_path):
    (tmp_path / "empty.safetensors").write_bytes(b"")
    with pytest.raises(CheckpointError, match="only 0 bytes"):
        read_header(tmp_path / "empty.safetensors")
    with pytest.raises(CheckpointError, match="file not found"):
        inspect_checkpoint(tmp_path / "nope.safetensors")
    with pytest.raises(CheckpointError, match="is a folder"):
        inspect_checkpoint(tmp_path)


# --- damaged safetensors -------------------------------------------------------------------------------

def test_truncated_file(tmp_path, tiny_dir):
    data = (tiny_dir / "checkpoint.safetensors").read_bytes()
    p = tmp_path / "cut.safetensors"
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated or corrupt: tensor"):
        inspect_checkpoint(p)
    p.write_bytes(data[:1000])  # cut inside the header
    with pytest.raises(CheckpointError, match="truncated or corrupt: header says"):
        inspect_checkpoint(p)


def test_corrupt_header_json(tmp_path, tiny_dir):
    data = bytearray((tiny_dir / "checkpoint.safetensors").read_bytes())
    (n,) = struct.unpack("<Q", data[:8])
    header = bytes(data[8:8 + n])
    pos = header.index(b'"dtype"')
    data[8 + pos:8 + pos + 7] = b'"dtype!'  # same length, broken JSON
    p = tmp_path / "corrupt.safetensors"
    p.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="corrupt safetensors header"):
        inspect_checkpoint(p)


def test_header_entry_with_bad_offsets(tmp_path, original):
    tensors, meta = original
    p = _write(tmp_path / "ok.safetensors", _only(tensors, "vocoder."), meta)
    data = bytearray(p.read_bytes())
    (n,) = struct.unpack("<Q", data[:8])
    doc = json.loads(bytes(data[8:8 + n]))
    key = next(k for k in doc if k != "__metadata__")
    doc[key]["data_offsets"][1] += 2  # claims two bytes more than its shape needs
    raw = json.dumps(doc).encode()
    p.write_bytes(struct.pack("<Q", len(raw)) + raw + bytes(data[8 + n:]))
    with pytest.raises(CheckpointError, match=f"tensor '{key}'"):
        read_header(p)


# --- the wrong model -----------------------------------------------------------------------------------

def test_unknown_model_version(tmp_path, original):
    tensors, meta = original
    p = _write(tmp_path / "v9.safetensors", tensors, {**meta, "model_version": "9.1.0"})
    with pytest.raises(UnsupportedModelError, match="model version 9.1.0 is not supported; expected LTX-2.3"):
        inspect_checkpoint(p)


def test_ltx25_split_file(tmp_path, original):
    """LTX-2.5 ships each component as its own file: a transformer-only file with version 2.5."""
    tensors, meta = original
    p = _write(tmp_path / "ltx-2.5-transformer.safetensors", _only(tensors, "model.diffusion_model."),
               {**meta, "model_version": "2.5.0"})
    with pytest.raises(UnsupportedModelError, match="LTX-2.5 ships as separate component files"):
        inspect_checkpoint(p)


def test_ltx_video_09_file(tmp_path, original):
    tensors, _ = original
    config = {"transformer": {"_class_name": "Transformer3DModel", "num_layers": 28},
              "vae": {"_class_name": "CausalVideoAutoencoder"}}
    p = _write(tmp_path / "ltxv-0.9.safetensors", _only(tensors, "vae."), {"config": json.dumps(config)})
    with pytest.raises(UnsupportedModelError, match="Transformer3DModel.*LTX-Video 0.9"):
        inspect_checkpoint(p)


def test_file_without_config_or_version(tmp_path, original):
    tensors, meta = original
    p = _write(tmp_path / "noconfig.safetensors", _only(tensors, "vae."), {})
    with pytest.raises(UnsupportedModelError, match="no embedded 'config'"):
        inspect_checkpoint(p)
    p = _write(tmp_path / "noversion.safetensors", tensors, {"config": meta["config"]})
    with pytest.raises(UnsupportedModelError, match="no 'model_version'"):
        inspect_checkpoint(p)


def test_upsampler_given_as_checkpoint_and_back(tiny_dir):
    with pytest.raises(UnsupportedModelError, match="latent upsampler file"):
        inspect_checkpoint(tiny_dir / "spatial_upscaler_x2.safetensors")
    with pytest.raises(UnsupportedModelError, match="not a latent upsampler"):
        inspect_upsampler(tiny_dir / "checkpoint.safetensors")


def test_missing_components_are_named_with_their_role(tmp_path, original):
    tensors, meta = original
    p = _write(tmp_path / "no-audio.safetensors", _only(tensors, "model.diffusion_model.", "vae.",
                                                            "text_embedding_projection."), meta)
    with pytest.raises(CheckpointError, match="missing audio_vae: .*; vocoder: .*48 kHz") as err:
        inspect_checkpoint(p)
    assert "video_vae" not in str(err.value)
    info = inspect_checkpoint(p, require_complete=False)
    assert info.missing_components == ("audio_vae", "vocoder")


# --- strict key checks ---------------------------------------------------------------------------------

def _audio_decoder_spec():
    from model_runtime.models.audio_vae import AUDIO_DECODER_SPEC

    return AUDIO_DECODER_SPEC


def test_missing_key_is_an_error_naming_it(tmp_path, original):
    tensors, meta = original
    spec = _audio_decoder_spec()
    subset = _only(tensors, "audio_vae.")
    victim = sorted(k for k in subset if k.startswith("audio_vae.decoder."))[0]
    del subset[victim]
    p = _write(tmp_path / "missing.safetensors", subset, meta)
    with pytest.raises(MissingKeysError, match="1 weight\\(s\\) missing") as err:
        load_component(p, spec, json.loads(meta["config"]), strict=False)  # missing is an error even when lenient
    assert victim.removeprefix("audio_vae.decoder.") in str(err.value)


def test_unknown_key_fails_in_strict_mode_only(tmp_path, original, caplog):
    tensors, meta = original
    spec = _audio_decoder_spec()
    subset = _only(tensors, "audio_vae.")
    subset["audio_vae.decoder.extra_block.weight"] = torch.zeros(3, dtype=torch.bfloat16)
    p = _write(tmp_path / "extra.safetensors", subset, meta)
    config = json.loads(meta["config"])
    with pytest.raises(UnexpectedKeysError, match="audio_vae.decoder.extra_block.weight"):
        load_component(p, spec, config, strict=True)
    module, report = load_component(p, spec, config, strict=False)
    assert report.unexpected == ("audio_vae.decoder.extra_block.weight",)
    assert "not used" in caplog.text
    assert not any(t.is_meta for t in module.state_dict().values())


def test_wrong_shape_is_an_error(tmp_path, original):
    tensors, meta = original
    spec = _audio_decoder_spec()
    subset = _only(tensors, "audio_vae.")
    key = next(k for k in sorted(subset) if k.startswith("audio_vae.decoder.") and k.endswith(".weight"))
    subset[key] = torch.zeros(*subset[key].shape[:-1], subset[key].shape[-1] + 1, dtype=torch.bfloat16)
    p = _write(tmp_path / "shape.safetensors", subset, meta)
    with pytest.raises(CheckpointError, match="shape"):
        load_component(p, spec, json.loads(meta["config"]), strict=True)


# --- the Gemma folder ----------------------------------------------------------------------------------

def test_missing_gemma_folder(tmp_path):
    from model_runtime.text.gemma import inspect_gemma_folder

    with pytest.raises(CheckpointError, match="Gemma text encoder folder not found"):
        inspect_gemma_folder(tmp_path / "gemma-3-12b-it")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="no config.json"):
        inspect_gemma_folder(tmp_path / "empty")


def test_gemma_folder_without_weights(tmp_path, tiny_dir):
    from model_runtime.text.gemma import inspect_gemma_folder

    folder = tmp_path / "gemma"
    folder.mkdir()
    for f in (tiny_dir / "text_encoder").iterdir():
        if f.name != "model.safetensors":
            (folder / f.name).write_bytes(f.read_bytes())
    with pytest.raises(CheckpointError, match="no model weights"):
        inspect_gemma_folder(folder)
