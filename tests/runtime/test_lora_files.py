"""LoRA files: conventions, every key accounted for, and each kind of bad file refused with one clear line."""

from __future__ import annotations

import logging
import pickle
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from model_runtime.errors import InvalidRequestError, LoraError
from model_runtime.loras.apply import Weighted, fused_delta
from model_runtime.loras.files import LoraTargets, inspect_lora, read_lora
from model_runtime.models.transformer import rename
from model_runtime.pipelines.types import GenerationRequest, LoraSpec


@pytest.fixture(scope="module")
def targets(tiny_dir) -> LoraTargets:
    from model_runtime.checkpoints import inspect_checkpoint

    info = inspect_checkpoint(tiny_dir / "checkpoint.safetensors")
    return LoraTargets.from_checkpoint(info.header, info.model_version)


def _tensors(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    with safe_open(str(path), framework="pt") as fh:
        return {k: fh.get_tensor(k) for k in fh.keys()}, dict(fh.metadata() or {})


def _write(tmp_path: Path, name: str, tensors: dict, metadata: dict | None = None) -> Path:
    path = tmp_path / name
    save_file(tensors, str(path), metadata=metadata)
    return path


def test_official_files_read_every_key(tiny_dir, targets):
    a = read_lora(tiny_dir / "lora_a.safetensors", targets)
    b = read_lora(tiny_dir / "lora_b.safetensors", targets)
    n_a = len(_tensors(tiny_dir / "lora_a.safetensors")[0])
    assert len(a.pairs) * 2 == n_a and a.unmatched == () and a.alpha_keys == 0
    assert {p.rank for p in a.pairs.values()} == {int(_tensors(tiny_dir / "lora_a.safetensors")[1]["rank"])}
    assert b.alpha_keys == len(b.pairs) and b.unmatched == ()  # .alpha read, not applied
    assert len(a.sha256) == 64 and a.info.convention == "official"


@pytest.mark.parametrize("convention", ["diffusers", "peft", "kohya-suffixes"])
def test_other_conventions_give_the_same_deltas(tiny_dir, targets, tmp_path, convention):
    """The same factors written in the diffusers, PEFT and lora_down/lora_up conventions adapt the same
    modules with bit-identical fused deltas."""
    tensors, _ = _tensors(tiny_dir / "lora_a.safetensors")
    out = {}
    for key, t in tensors.items():
        module, part = key[len("diffusion_model."):].rsplit(".lora_", 1)
        diffusers_module = rename(module + ".weight")[: -len(".weight")]
        if convention == "diffusers":
            out[f"transformer.{diffusers_module}.lora_{part}"] = t
        elif convention == "peft":
            out[f"base_model.model.{diffusers_module}.lora_{part}"] = t
        else:
            out[f"diffusion_model.{module}.lora_{'down' if part.startswith('A') else 'up'}.weight"] = t
    official = read_lora(tiny_dir / "lora_a.safetensors", targets)
    other = read_lora(_write(tmp_path, f"{convention}.safetensors", out), targets)
    assert set(other.pairs) == set(official.pairs) and other.unmatched == ()
    for module in official.pairs:
        assert torch.equal(fused_delta([Weighted(other, 0.7)], module), fused_delta([Weighted(official, 0.7)], module))


def test_unmatched_keys_are_reported_by_name_with_counts(tiny_dir, targets, tmp_path, caplog):
    tensors, _ = _tensors(tiny_dir / "lora_a.safetensors")
    tensors["diffusion_model.transformer_blocks.0.attn9.to_q.lora_A.weight"] = torch.zeros(4, 32, dtype=torch.bfloat16)
    tensors["lora_te_text_model.encoder.layers.0.lora_down.weight"] = torch.zeros(4, 8)
    with caplog.at_level(logging.WARNING, logger="model_runtime.loras.files"):
        lora = read_lora(_write(tmp_path, "extra.safetensors", tensors), targets)
    assert lora.unmatched == ("diffusion_model.transformer_blocks.0.attn9.to_q.lora_A.weight",
                              "lora_te_text_model.encoder.layers.0.lora_down.weight")
    assert f"2 of {len(tensors)} keys match nothing" in caplog.text and "attn9" in caplog.text


def test_pickle_is_refused_without_unpickling(targets, tmp_path):
    marker = tmp_path / "unpickled"

    class Exploit:
        def __reduce__(self):
            return (Path.touch, (marker,))

    for name in ("style.pt", "style.safetensors"):  # the suffix and, when renamed, the first bytes
        path = tmp_path / name
        path.write_bytes(pickle.dumps(Exploit()))
        with pytest.raises(LoraError) as err:
            read_lora(path, targets)
        assert "\n" not in str(err.value)
    assert not marker.exists()


def test_lora_for_another_family_is_refused(tiny_dir, targets, tmp_path):
    tensors, meta = _tensors(tiny_dir / "lora_a.safetensors")
    path = _write(tmp_path, "for25.safetensors", tensors, meta | {"model_version": "2.5.0"})
    assert inspect_lora(path).family == "LTX-2.5"
    with pytest.raises(LoraError, match="LoRA for LTX-2.5.*the loaded model is LTX-2.3"):
        read_lora(path, targets)


def test_lora_for_another_model_matches_nothing(targets, tmp_path):
    tensors = {f"diffusion_model.blocks.{i}.self_attn.q.lora_A.weight": torch.zeros(4, 64) for i in range(3)}
    tensors |= {f"diffusion_model.blocks.{i}.self_attn.q.lora_B.weight": torch.zeros(64, 4) for i in range(3)}
    with pytest.raises(LoraError, match="none of its 6 keys adapts a module of the LTX-2.3 transformer; it "
                                        "looks like a LoRA for Wan"):
        read_lora(_write(tmp_path, "wan.safetensors", tensors), targets)


@pytest.mark.parametrize("a_shape, b_shape, message", [
    ((4, 32), (32, 3), "ranks differ"),
    ((4, 16), (32, 4), r"delta \[32, 16\] does not fit the weight \[32, 32\]"),
])
def test_mismatched_ranks_or_shapes_are_refused(targets, tmp_path, a_shape, b_shape, message):
    key = "diffusion_model.transformer_blocks.0.attn1.to_q"
    tensors = {f"{key}.lora_A.weight": torch.zeros(a_shape), f"{key}.lora_B.weight": torch.zeros(b_shape)}
    with pytest.raises(LoraError, match=message):
        read_lora(_write(tmp_path, "bad.safetensors", tensors), targets)


def test_a_half_pair_is_refused(targets, tmp_path):
    tensors = {"diffusion_model.transformer_blocks.0.attn1.to_q.lora_A.weight": torch.zeros(4, 32)}
    with pytest.raises(LoraError, match="only lora_A"):
        read_lora(_write(tmp_path, "half.safetensors", tensors), targets)


def test_a_changed_file_is_refused_by_its_sha256(tiny_dir, targets):
    with pytest.raises(LoraError, match="has changed since it was chosen"):
        read_lora(tiny_dir / "lora_a.safetensors", targets, expected_sha256="0" * 64)


@pytest.mark.parametrize("strength", [2.5, -2.01, float("nan")])
def test_strength_outside_range_is_refused(strength):
    with pytest.raises(InvalidRequestError, match="strength"):
        GenerationRequest(prompt="a fox", width=64, height=64, frames=9, fps=24.0,
                          loras=(LoraSpec(Path("style.safetensors"), strength),))


def test_lora_spec_parses_path_and_strength():
    assert LoraSpec.parse("a/b.safetensors:0.7") == LoraSpec(Path("a/b.safetensors"), 0.7)
    assert LoraSpec.parse("b.safetensors") == LoraSpec(Path("b.safetensors"), 1.0)
    assert LoraSpec.parse("C:/x/b.safetensors").path == Path("C:/x/b.safetensors")


def test_library_lists_every_weight_file_and_says_which_fit(tiny_dir, targets, tmp_path):
    import shutil

    from model_runtime.loras.library import scan_folder

    shutil.copy(tiny_dir / "lora_a.safetensors", tmp_path / "style.safetensors")
    tensors, meta = _tensors(tiny_dir / "lora_b.safetensors")
    (tmp_path / "sub").mkdir()
    _write(tmp_path / "sub", "for25.safetensors", tensors, meta | {"model_version": "2.5.0"})
    (tmp_path / "old.ckpt").write_bytes(pickle.dumps({"w": 1}))
    (tmp_path / "notes.txt").write_text("not a weight file")
    entries = {e.path.name: e for e in scan_folder(tmp_path, targets)}
    assert sorted(entries) == ["for25.safetensors", "old.ckpt", "style.safetensors"]
    style = entries["style.safetensors"]
    assert style.usable and style.info.rank == 4 and style.info.modules == 56 and len(style.sha256) == 64
    assert style.info.size_bytes == (tiny_dir / "lora_a.safetensors").stat().st_size
    assert entries["for25.safetensors"].info.family == "LTX-2.5" and "LTX-2.5" in entries["for25.safetensors"].problem
    assert entries["old.ckpt"].info is None and ".safetensors files only" in entries["old.ckpt"].problem


def test_cli_loras_lists_the_folder(tiny_dir, tmp_path):
    import shutil

    from tests.runtime.test_cli import cli

    shutil.copy(tiny_dir / "lora_a.safetensors", tmp_path / "style.safetensors")
    proc = cli("loras", tmp_path, "--checkpoint", tiny_dir / "checkpoint.safetensors", timeout=120)
    assert proc.returncode == 0, proc.stderr
    row = next(line for line in proc.stdout.splitlines() if line.startswith("style.safetensors"))
    assert row.split()[2:4] == ["4", "56"] and row.rstrip().endswith("OK")
    assert "1 file(s), 1 usable with LTX-2.3" in proc.stdout
