"""The full-size model built on meta matches the reference layout both ways, and any drift is named."""

from __future__ import annotations

import dataclasses

import pytest

from model_runtime.components import REGISTRY, in_file
from model_runtime.layout import LayoutSource, check_layout_file, check_shapes, read_layout_json


@pytest.fixture(scope="module")
def sources(layout_full) -> dict[str, LayoutSource]:
    return {s.role: s for s in read_layout_json(layout_full)}


@pytest.fixture(scope="module")
def full_reports(layout_full):
    return {r.title: r for r in check_layout_file(layout_full)}


def test_full_single_file_matches(full_reports, sources):
    report = full_reports["checkpoint"]
    assert report.mismatches == ()
    assert report.passed
    assert report.file_tensors == len(sources["checkpoint"].shapes) > 5000
    assert report.claimed_params == report.file_params  # every parameter of the file has a module, once
    names = {c.name for c in report.components}
    assert len(names) == len(in_file("checkpoint"))
    # the VAE statistics are the only tensors two components share
    assert report.shared_keys and all(".per_channel_statistics." in k for k in report.shared_keys)


def test_full_upscaler_matches(full_reports):
    report = full_reports["spatial_upscaler_x2"]
    assert report.passed and report.claimed_params == report.file_params


def test_registry_covers_every_file():
    """The 2.3 single file + upscaler, and each LTX-2.5 split file; a spec appears once per file."""
    assert {r.file for r in REGISTRY} == {"checkpoint", "upsampler", "transformer", "text_encoder", "video_vae",
                                          "video_vae_conv", "audio_vae", "duration_head"}
    assert len({(r.file, id(r.spec)) for r in REGISTRY}) == len(REGISTRY)


def _small(source: LayoutSource, *prefixes: str) -> tuple[LayoutSource, tuple]:
    """The layout restricted to some components (fast to build), with their registry entries."""
    shapes = {k: v for k, v in source.shapes.items() if k.startswith(prefixes)}
    comps = tuple(r for r in in_file("checkpoint") if r.spec.prefix.startswith(prefixes))
    return dataclasses.replace(source, shapes=shapes), comps


def _edit(source: LayoutSource, change) -> LayoutSource:
    shapes = dict(source.shapes)
    change(shapes)
    return dataclasses.replace(source, shapes=shapes)


def test_subset_baseline_passes(sources):
    small, comps = _small(sources["checkpoint"], "vocoder.", "audio_vae.")
    assert check_shapes(small, comps).passed


def test_removed_key_is_named(sources):
    small, comps = _small(sources["checkpoint"], "vocoder.", "audio_vae.")
    victim = sorted(small.shapes)[len(small.shapes) // 2]
    report = check_shapes(_edit(small, lambda s: s.pop(victim)), comps)
    assert not report.passed
    assert [(m.kind, m.key) for m in report.mismatches] == [("missing-in-file", victim)]


def test_renamed_key_is_named_both_ways(sources):
    small, comps = _small(sources["checkpoint"], "vocoder.", "audio_vae.")
    victim = next(k for k in sorted(small.shapes) if k.startswith("vocoder.") and k.endswith(".weight"))
    renamed = victim.replace(".weight", ".weights")

    def rename(s):
        s[renamed] = s.pop(victim)

    report = check_shapes(_edit(small, rename), comps)
    kinds = {(m.kind, m.key) for m in report.mismatches}
    assert ("missing-in-file", victim) in kinds
    assert any(key == renamed for _, key in kinds)  # the stray name is reported too (unused/unclaimed)
    assert not report.passed


def test_reshaped_key_is_named(sources):
    small, comps = _small(sources["checkpoint"], "vocoder.", "audio_vae.")
    victim = next(k for k in sorted(small.shapes) if k.startswith("audio_vae.decoder.") and k.endswith("weight"))

    def reshape(s):
        s[victim] = (s[victim][0] + 1, *s[victim][1:])

    report = check_shapes(_edit(small, reshape), comps)
    assert [(m.kind, m.key) for m in report.mismatches] == [("shape", victim)]
    assert "!=" in report.mismatches[0].detail


def test_extra_key_is_unclaimed(sources):
    small, comps = _small(sources["checkpoint"], "vocoder.", "audio_vae.")
    report = check_shapes(_edit(small, lambda s: s.__setitem__("lora_A.weight", (4, 4))), comps)
    assert [(m.kind, m.key) for m in report.mismatches] == [("unclaimed", "lora_A.weight")]


def test_removed_transformer_key_fails_the_full_check(sources):
    """One missing block weight among ~6000 keys of the 22 B model is caught and named."""
    full = sources["checkpoint"]
    victim = "model.diffusion_model.transformer_blocks.47.attn1.to_q.weight"
    assert victim in full.shapes
    report = check_shapes(_edit(full, lambda s: s.pop(victim)))
    assert [(m.kind, m.key) for m in report.mismatches] == [("missing-in-file", victim)]


def test_tiny_file_matches_with_its_gemma(tiny_dir):
    """A real .safetensors header + embedded config works too (Gemma dims from the folder)."""
    (report,) = check_layout_file(tiny_dir / "checkpoint.safetensors", tiny_dir / "text_encoder")
    assert report.passed, report.mismatches[:5]
    (up,) = check_layout_file(tiny_dir / "spatial_upscaler_x2.safetensors")
    assert up.passed
