"""Weights left in the memory-mapped file (CPU plans for models bigger than RAM): a MAPPED plan produces
the same frames and sound as the plain path, its weights stay views of the file across jobs, and the
per-unit executors (chunked Linear, bf16 embedding lookup, per-module upcast) match plain modules exactly."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch
from torch import nn

from model_runtime.mapped import MappedFile, is_mapped, mark_mapped, upcast_on_use
from model_runtime.memory.plan import (
    Cache,
    Machine,
    MemoryPlan,
    Placement,
    RequestShape,
    Strategy,
    TextPlacement,
)
from model_runtime.pipelines import collect
from model_runtime.pipelines.types import GenerationResult
from model_runtime.runtime import Runtime
from tests.runtime.test_memory_runtime import REQUEST


def _mapped_plan() -> MemoryPlan:
    req = RequestShape(REQUEST.width, REQUEST.height, REQUEST.frames, REQUEST.fps, "draft")
    strategy = Strategy(placement=Placement.MAPPED, text_encoder=TextPlacement.CPU, cache=Cache.ALL)
    return MemoryPlan(strategy, (), None, req, Machine(0, 1, "cpu"))


def test_mapped_plan_gives_the_plain_frames_and_keeps_weights_in_the_file(tiny_paths):
    plain = collect(Runtime.open(tiny_paths, "cpu", torch.float32).generate(REQUEST))
    runtime = Runtime.open(tiny_paths, "cpu", torch.float32, memory=(_mapped_plan(),), min_mapped_bytes=0)
    result = collect(runtime.generate(REQUEST))
    assert isinstance(result, GenerationResult)
    assert torch.equal(result.frames, plain.frames)  # bf16 -> float32 at use == at load: bit for bit
    assert torch.equal(result.waveform, plain.waveform)
    transformer = runtime.engine._modules["transformer"].transformer
    weights = [p for p in transformer.parameters() if p.dim() >= 2]
    assert weights and all(is_mapped(p) and p.dtype == torch.bfloat16 for p in weights)
    gemma = runtime.engine._modules["text_encoder"].gemma.model
    assert is_mapped(gemma.embed_tokens.weight) and gemma.embed_tokens.weight.dtype == torch.bfloat16


def test_mapped_file_views_share_the_file_bytes(tiny_paths):
    file = MappedFile(tiny_paths.checkpoint)
    key = next(k for k, t in file.header.tensors.items() if t.dtype == "BF16" and len(t.shape) == 2)
    view = file.tensor(key)
    from safetensors import safe_open

    with safe_open(str(tiny_paths.checkpoint), "pt") as fh:
        assert torch.equal(view, fh.get_tensor(key))
    assert file.tensor(key).data_ptr() == view.data_ptr()  # the same mapped bytes, no copy


class _Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(50, 16)
        self.wide = nn.Linear(16, 40)
        self.table = nn.Parameter(torch.randn(3, 40))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.wide(self.embed(ids)) * self.table.sum(0)


def test_unit_executors_match_the_plain_module():
    torch.manual_seed(0)
    net = _Net().to(torch.bfloat16)
    plain = _Net()
    plain.load_state_dict({k: v.float() for k, v in net.state_dict().items()})
    for p in net.parameters():
        mark_mapped(p)
    assert upcast_on_use(net, torch.float32) == 3  # one module per owner: embedding, linear, the net's table
    ids = torch.randint(0, 50, (2, 7))
    with torch.inference_mode():
        assert torch.equal(net(ids), plain(ids))
    assert all(p.dtype == torch.bfloat16 for p in net.parameters())  # nothing stays upcast


def test_a_linear_bigger_than_a_unit_runs_in_row_chunks_within_float32_rounding():
    torch.manual_seed(1)
    wide = nn.Linear(16, 40).to(torch.bfloat16)
    plain = nn.Linear(16, 40)
    plain.load_state_dict({k: v.float() for k, v in wide.state_dict().items()})
    mark_mapped(wide.weight)
    upcast_on_use(wide, torch.float32, unit_bytes=128)  # a row is 64 float32 bytes: 2 rows per chunk
    x = torch.randn(3, 16)
    with torch.inference_mode():
        got, want = wide(x), plain(x)
    # each output is the same dot product, maybe summed in another order: the standard bound n * eps * sum|x w|
    bound = 16 * torch.finfo(torch.float32).eps * (x.abs() @ plain.weight.abs().T + plain.bias.abs())
    assert ((got - want).abs() <= bound).all()
    assert wide.weight.dtype == torch.bfloat16 and is_mapped(wide.weight)


@pytest.mark.parametrize("placement", [TextPlacement.STREAM, TextPlacement.CPU])
def test_text_encoder_carries_out_its_placement_with_the_plain_result(tiny_paths, placement):
    """STREAM streams Gemma's layers through the device one at a time (real copies on the CPU, so the
    same code runs); CPU runs Gemma on the CPU from the mapped shards. Both give the plain encoding."""
    from model_runtime.text.encoder import TextEncoder

    plain = TextEncoder(tiny_paths.text_encoder_dir, tiny_paths.checkpoint).encode(REQUEST.prompt)
    placed = TextEncoder(tiny_paths.text_encoder_dir, tiny_paths.checkpoint, placement=placement, min_mapped_bytes=0)
    got = placed.encode(REQUEST.prompt)
    assert torch.equal(got.video_context, plain.video_context)
    assert torch.equal(got.audio_context, plain.audio_context)
    assert is_mapped(placed.gemma.model.embed_tokens.weight) == (placement is TextPlacement.CPU)


def test_mapped_plan_on_ltx25_split_files_maps_each_file_and_gives_the_plain_frames(tiny25_dir):
    """LTX-2.5: the transformer and the connectors map their own file, the projection and Gemma-4 itself
    the packed Gemma-4 file (same frames either way)."""
    from model_runtime.spec import ModelPaths

    def one(sub: str) -> Path:
        return next((tiny25_dir / sub).glob("*.safetensors"))

    vae = tiny25_dir / "vae"
    paths = ModelPaths(upsampler=one("latent_upscale_models"), transformer=one("diffusion_models"),
                       text_encoder=one("text_encoders"), video_vae=next(vae.glob("*video-vae-bf16*")),
                       video_vae_conv=next(vae.glob("*video-vae-conv*")), audio_vae=next(vae.glob("*audio-vae*")))
    request = replace(REQUEST, decoder="conv")
    plain = collect(Runtime.open(paths, "cpu", torch.float32).generate(request))
    runtime = Runtime.open(paths, "cpu", torch.float32, memory=(_mapped_plan(),), min_mapped_bytes=0)
    result = collect(runtime.generate(request))
    assert torch.equal(result.frames, plain.frames) and torch.equal(result.waveform, plain.waveform)
    transformer = runtime.engine._modules["transformer"].transformer
    assert all(is_mapped(p) for p in transformer.parameters() if p.dim() >= 2)
    encoder = runtime.engine._modules["text_encoder"]
    assert any(is_mapped(p) for p in encoder.heads[0].parameters())  # the projection, from the Gemma-4 file
    assert is_mapped(encoder.gemma.model.embed_tokens.weight)  # and the language model itself
    assert set(runtime.engine._mapped_files) == {paths.transformer, paths.video_vae_conv}
    assert set(encoder._mapped_files) == {paths.text_encoder, paths.transformer}  # projection, connectors


def test_gemma4_mapped_encode_equals_the_plain_one(tiny25_dir):
    """LTX-2.5's packed Gemma-4 loads mapped on a CPU plan like 2.3's Gemma-3 folder: its weights stay bf16
    views of the file, upcast per module as it runs, and the encoding is the plain one bit for bit."""
    from model_runtime.families import ModelFiles
    from model_runtime.text.encoder import TextEncoder

    files = ModelFiles.split(next((tiny25_dir / "diffusion_models").glob("*.safetensors")),
                             text_encoder=next((tiny25_dir / "text_encoders").glob("*.safetensors")))
    plain = TextEncoder.for_model(files).encode(REQUEST.prompt)
    placed = TextEncoder.for_model(files, placement=TextPlacement.CPU, min_mapped_bytes=0)
    got = placed.encode(REQUEST.prompt)
    assert torch.equal(got.video_context, plain.video_context)
    assert torch.equal(got.audio_context, plain.audio_context)
    model = placed.gemma.model
    weights = [p for p in model.parameters() if p.dim() >= 2]
    assert weights and all(is_mapped(p) and p.dtype == torch.bfloat16 for p in weights)
