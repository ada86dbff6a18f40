"""Latent upsampler x2: full-size layout on meta, file validation, strict loading and the (e) goldens."""

from __future__ import annotations

import gzip
import json

import pytest

from model_runtime.errors import UnsupportedModelError
from model_runtime.loading import build_on_meta
from model_runtime.models.upsampler import UPSAMPLER_SPEC, load_upsampler


@pytest.fixture(scope="module")
def full_upscaler(layout_full):
    with gzip.open(layout_full, "rt") as fh:
        return json.load(fh)["spatial_upscaler_x2"]


def test_full_size_layout_matches(full_upscaler):
    module = build_on_meta(UPSAMPLER_SPEC, full_upscaler["config"])
    built = {UPSAMPLER_SPEC.unrename(k): tuple(v.shape) for k, v in module.state_dict().items()}
    expected = {k: tuple(v["shape"]) for k, v in full_upscaler["tensors"].items()}
    assert len(expected) == full_upscaler["num_tensors"] == 72
    assert built == expected
    assert sum(v.numel() for v in module.state_dict().values()) == full_upscaler["num_params"]


def test_load_tiny_upsampler_strictly(tiny_dir):
    module, info, report = load_upsampler(tiny_dir / "spatial_upscaler_x2.safetensors")
    assert info.kind == "spatial-upsampler"
    assert report.unexpected == () and report.loaded == len(module.state_dict())


def test_checkpoint_is_not_an_upsampler(tiny_dir):
    with pytest.raises(UnsupportedModelError):
        load_upsampler(tiny_dir / "checkpoint.safetensors")


def test_upsampler_goldens(golden_ctx):
    from model_runtime.goldens import upsampler

    results = upsampler.run(golden_ctx)
    assert {r.name for r in results} == {"upsampler.output", "upsampler.raw_output", "upsampler.un_normalized"}
    for r in results:
        print(f"{r.name}: max abs error {r.max_abs_error:.3e} (tol {r.tolerance})")
    assert [r for r in results if not r.passed] == []
