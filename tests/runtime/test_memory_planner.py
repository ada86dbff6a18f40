"""The planner on the full-size LTX-2.3 layout: sizes, token counts, the plans the issue asks for, the CLI."""

from __future__ import annotations

import argparse
import json

import pytest

from model_runtime.memory.estimates import LatentShape
from model_runtime.memory.layout import ModelLayout, TextEncoderDims
from model_runtime.memory.plan import Machine, Placement, RequestShape, Weights
from model_runtime.memory.planner import candidate_plans, choose_plan, plan_ladder

HD_10S = RequestShape(1920, 1088, 241, 24.0)
UHD_10S = RequestShape(3840, 2176, 241, 24.0)


@pytest.fixture(scope="module")
def layout(layout_full) -> ModelLayout:
    return ModelLayout.from_layout_json(layout_full)


def test_layout_sizes_from_the_full_file(layout):
    assert layout.file_params == 23_069_505_387  # every tensor counted once, in exactly one component
    assert len(layout.blocks) == layout.transformer_dims.num_layers == 48
    d = layout.transformer_dims
    assert (d.video_dim, d.audio_dim, d.video_ffn, d.mod_rows) == (4096, 2048, 16384, 9)
    assert layout.components["transformer"].bytes_as("bf16") == pytest.approx(37.98e9, rel=1e-3)
    assert layout.components["transformer"].bytes_as("fp8") < 0.51 * layout.components["transformer"].bytes_as("bf16")
    widths = [s.channels for s in layout.decoder]
    assert widths[0] == 1024 and widths[-1] == 128


def test_gemma_model_matches_published_size():
    te = TextEncoderDims()
    assert te.total_params == pytest.approx(12.2e9, rel=0.01)


def test_tiny_header_gives_its_own_dims(tiny_dir):
    lay = ModelLayout.from_checkpoint(tiny_dir / "checkpoint.safetensors", tiny_dir / "spatial_upscaler_x2.safetensors")
    cfg = lay.config["transformer"]
    assert lay.transformer_dims.num_layers == cfg["num_layers"] == len(lay.blocks)
    assert lay.transformer_dims.video_dim == cfg["num_attention_heads"] * cfg["attention_head_dim"]
    assert lay.upsampler_mid == 32 and lay.components["upsampler"].params > 0


def test_token_counts():
    s = HD_10S.latent()
    assert (s.frames, s.height, s.width, s.audio_tokens) == (31, 34, 60, 251)
    assert s.halved() == LatentShape(31, 17, 30, 251)


def test_issue_target_1080p_10s_fits_12gb_and_32gb(layout):
    plan = choose_plan(layout, HD_10S, Machine(12, 32))
    assert plan.fits
    assert plan.peak_vram_bytes <= 12e9 * 0.92 and plan.peak_ram_bytes <= 32e9 * 0.9
    assert plan.strategy.weights is Weights.FP8 and plan.strategy.placement is Placement.STREAM
    assert [s.name for s in plan.stages] == ["text encoding", "stage 1", "upsample", "stage 2", "VAE decode",
                                             "audio decode"]
    assert "GB VRAM" in plan.summary and "GB RAM" in plan.summary


def test_bigger_cards_are_never_slower_and_big_ones_go_resident(layout):
    times = [choose_plan(layout, HD_10S, Machine(v, 64)).seconds for v in (12, 16, 24, 32, 48, 80)]
    assert times == sorted(times, reverse=True)
    assert choose_plan(layout, HD_10S, Machine(80, 128)).strategy.placement is Placement.RESIDENT


def test_chosen_plan_is_the_fastest_that_fits(layout):
    machine = Machine(16, 32)
    plans = candidate_plans(layout, HD_10S, machine)
    chosen = choose_plan(layout, HD_10S, machine)
    assert chosen.fits and chosen.seconds == min(p.seconds for p in plans if p.fits)


def test_nothing_fits_returns_smallest_flagged(layout):
    plan = choose_plan(layout, UHD_10S, Machine(4, 16))
    assert not plan.fits and "does not fit" in plan.summary
    assert plan.peak_vram_bytes == min(p.peak_vram_bytes for p in candidate_plans(layout, UHD_10S, Machine(4, 16)))


def test_ladder_steps_down(layout):
    ladder = plan_ladder(layout, HD_10S, Machine(24, 64))
    assert len(ladder) >= 2
    assert ladder[1].peak_vram_bytes <= 0.8 * ladder[0].peak_vram_bytes
    assert all(b.peak_vram_bytes < a.peak_vram_bytes and b.fits for a, b in zip(ladder, ladder[1:], strict=False))
    tight = plan_ladder(layout, HD_10S, Machine(12, 32))  # no 20% step exists: still a smaller fallback
    assert len(tight) >= 2 and tight[1].peak_vram_bytes < tight[0].peak_vram_bytes and tight[1].fits


def test_per_token_timestep_costs_memory(layout):
    base = choose_plan(layout, HD_10S, Machine(80, 128))
    per_token = choose_plan(layout, RequestShape(1920, 1088, 241, 24.0, per_token_timestep=True), Machine(80, 128))
    stage2 = {s.name: s for s in per_token.stages}["stage 2"].vram_bytes
    assert stage2 > {s.name: s for s in base.stages}["stage 2"].vram_bytes


def test_cli_json(layout_full, capsys):
    from model_runtime.cli import plan as plan_cli

    parser = argparse.ArgumentParser()
    plan_cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["plan", "--layout", str(layout_full), "--width", "1920", "--height", "1088",
                              "--frames", "241", "--fps", "24", "--vram-gb", "12", "--ram-gb", "32", "--json"])
    assert args.func(args) == 0
    doc = json.loads(capsys.readouterr().out)
    assert {"strategy", "peak_vram_gb", "peak_ram_gb", "stages"} <= set(doc)
    assert doc["fits"] and doc["peak_vram_gb"] <= 12
    assert all({"name", "vram_gb", "ram_gb", "seconds"} <= set(s) for s in doc["stages"])
    args = parser.parse_args(["plan", "--layout", str(layout_full), "--width", "1920", "--height", "1088",
                              "--frames", "241", "--fps", "24", "--vram-gb", "12", "--ram-gb", "32"])
    assert args.func(args) == 0
    text = capsys.readouterr().out
    assert text.startswith("plan: fp8 + block streaming") and "stage 2" in text
