"""LoRAs on LTX-2.5: a LoRA made for the tiny 2.5 transformer (generated here) adapts the split transformer
file, fused and live, and a LoRA declared for the other family is refused in one line, both ways.

Measured on the full-size layouts: the 2.3 and 2.5 transformers have the same 1772 two-dimensional
weights with the same shapes (2.5 drops the video FFN biases and adds `keyframes_abs_pos_embedding`, neither
of which a LoRA adapts), so every module a 2.3 LoRA names exists on 2.5 and vice versa: only the LoRA's
metadata tells the families apart, and that check is what refuses a wrong one.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from model_runtime.errors import LoraError
from model_runtime.loras.apply import CheckpointWeights, LoraApplier, Weighted
from model_runtime.loras.files import LoraTargets, read_lora

TRANSFORMER = "diffusion_models/ltx-2.5-22b-distilled-transformer-bf16.safetensors"
STRENGTH = 0.8


def make_lora(transformer: Path, out: Path, version: str, blocks: tuple[int, ...] = (0, 1), rank: int = 4) -> Path:
    """Official-convention factors for every 2-D weight of the given transformer blocks (seeded)."""
    g = torch.Generator().manual_seed(3)
    tensors = {}
    with safe_open(str(transformer), framework="pt") as fh:
        for key in fh.keys():
            shape = fh.get_slice(key).get_shape()
            block = any(key.startswith(f"model.diffusion_model.transformer_blocks.{b}.") for b in blocks)
            if block and key.endswith(".weight") and len(shape) == 2:
                module = key[len("model."): -len(".weight")]
                tensors[f"{module}.lora_A.weight"] = (0.2 * torch.randn(rank, shape[1], generator=g)).bfloat16()
                tensors[f"{module}.lora_B.weight"] = (0.2 * torch.randn(shape[0], rank, generator=g)).bfloat16()
    save_file(tensors, str(out), metadata={"model_version": version})
    return out


@pytest.fixture(scope="module")
def lora25(tiny25_dir, tmp_path_factory) -> Path:
    return make_lora(tiny25_dir / TRANSFORMER, tmp_path_factory.mktemp("lora25") / "style25.safetensors", "2.5.0")


def _forward(ctx, denoiser) -> torch.Tensor:
    from model_runtime.goldens.transformer import SINGLE, _inputs
    from model_runtime.models.positions import audio_positions, keyframes_mask, video_positions

    video, audio = ctx.tensor("transformer.video_latent"), ctx.tensor("transformer.audio_latent")
    vpos = video_positions(*video.shape[2:], float(ctx.tensor("transformer.fps")), batch=video.shape[0])
    apos = audio_positions(audio.shape[2], batch=audio.shape[0])
    v, a = _inputs(ctx, SINGLE, vpos, apos, keyframes_mask(*video.shape[2:], batch=video.shape[0]))
    with torch.inference_mode():
        pred = denoiser(v, a)
    return torch.cat([pred.video.x0.flatten(), pred.audio.x0.flatten()])


def test_lora_for_the_2_5_transformer_fused_equals_live(golden25_ctx, tiny25_dir, lora25):
    from model_runtime.models.denoiser import AVDenoiser
    from model_runtime.models.transformer import PREFIX, TRANSFORMER_SPEC, unrename

    targets = LoraTargets.for_model_file(tiny25_dir / TRANSFORMER)
    assert targets.family == "LTX-2.5"
    lora = read_lora(lora25, targets)
    assert lora.unmatched == () and len(lora.pairs) > 0
    denoiser = AVDenoiser(golden25_ctx.module(TRANSFORMER_SPEC))
    module = sorted(lora.pairs)[0]
    clean = denoiser.transformer.get_parameter(module + ".weight").detach().clone()
    base = _forward(golden25_ctx, denoiser)
    applier = LoraApplier(CheckpointWeights(tiny25_dir / TRANSFORMER, PREFIX, unrename))
    applier.bind(denoiser.transformer)
    try:
        applier.set([Weighted(lora, STRENGTH)], "fused", "cpu")
        fused_weight = denoiser.transformer.get_parameter(module + ".weight").detach().clone()
        fused = _forward(golden25_ctx, denoiser)
        applier.set([Weighted(lora, STRENGTH)], "live", "cpu")
        assert torch.equal(denoiser.transformer.get_parameter(module + ".weight"), clean)  # live: untouched
        live = _forward(golden25_ctx, denoiser)
    finally:
        applier.set((), "live", "cpu")  # the shared transformer goes back to its clean weights
    pair = lora.pairs[module]  # merged by hand: the product in the file's dtype, the add in float32
    assert torch.equal(fused_weight, clean + ((pair.b * STRENGTH) @ pair.a).float())
    tol = float(golden25_ctx.tolerances["transformer.video_x0"])
    print(f"|fused - live| {(fused - live).abs().max():.2e}, |fused - base| {(fused - base).abs().max():.2e}")
    assert (fused - live).abs().max() <= tol
    assert (fused - base).abs().max() > 100 * tol  # the LoRA took
    assert torch.equal(_forward(golden25_ctx, denoiser), base)  # and is gone again


def test_a_lora_declared_for_the_other_family_is_refused_both_ways(tiny_dir, tiny25_dir, tmp_path):
    t25 = LoraTargets.for_model_file(tiny25_dir / TRANSFORMER)
    t23 = LoraTargets.for_model_file(tiny_dir / "checkpoint.safetensors")
    for23 = make_lora(tiny25_dir / TRANSFORMER, tmp_path / "for23.safetensors", "2.3.0", blocks=(0,))
    for25 = make_lora(tiny25_dir / TRANSFORMER, tmp_path / "for25.safetensors", "2.5.0", blocks=(0,))
    with pytest.raises(LoraError, match=r"for23.safetensors is a LoRA for LTX-2.3 .* the loaded model is LTX-2.5"):
        read_lora(for23, t25)
    with pytest.raises(LoraError, match=r"for25.safetensors is a LoRA for LTX-2.5 .* the loaded model is LTX-2.3"):
        read_lora(for25, t23)
    assert set(t23.shapes) == set(t25.shapes)  # no module tells them apart (see the module docstring)


def test_lora_targets_need_a_transformer_file(tiny25_dir):
    with pytest.raises(LoraError, match="holds no transformer"):
        LoraTargets.for_model_file(tiny25_dir / "vae/ltx-2.5-audio-vae-bf16.safetensors")


def test_cli_loras_checks_against_the_2_5_transformer(tiny_dir, tiny25_dir, lora25, tmp_path, capsys):
    from model_runtime.cli import main

    folder = tmp_path / "loras"
    folder.mkdir()
    (folder / lora25.name).write_bytes(lora25.read_bytes())
    (folder / "lora_a.safetensors").write_bytes((tiny_dir / "lora_a.safetensors").read_bytes())  # no metadata
    assert main(["loras", str(folder), "--transformer", str(tiny25_dir / TRANSFORMER)]) == 0
    out = capsys.readouterr().out
    assert "2 file(s), 2 usable with LTX-2.5" in out
    assert main(["loras", str(folder), "--checkpoint", str(tiny_dir / "checkpoint.safetensors")]) == 1
    assert "is a LoRA for LTX-2.5" in capsys.readouterr().out
