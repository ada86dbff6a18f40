"""Conditioning goldens (golden_conditioning.safetensors): the sections i2v, kf, retake and a2v run the
runtime's own pipelines with the stored noise and are checked, every tensor against its tolerance, by
`check-goldens` in test_cli.py::test_check_goldens_conditioning_sections (run once there, not twice: the suite's
time budget). Here: the LoRA prefixes of that file are checked once, by the plain pass's `lora` section
(which reads the file itself), never listed a second time and never shown as not checked."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def cond_ctx(golden_ctx, tiny_dir):
    from model_runtime.goldens import GoldenContext

    if not (tiny_dir / "golden_conditioning.safetensors").is_file():
        pytest.skip("golden_conditioning.safetensors missing")
    return GoldenContext.open(tiny_dir, file="golden_conditioning.safetensors", share=golden_ctx)


def test_lora_prefixes_are_checked_once_by_the_lora_section(cond_ctx, tiny_dir):
    from model_runtime.goldens.lora import cases
    from model_runtime.goldens.sections import SECTIONS, all_sections, file_sections, run_section

    assert {"lora", "lora2"} <= set(cases(cond_ctx))  # the file holds LoRA cases ...
    assert "lora" in SECTIONS  # ... which the plain pass's lora section checks
    listed = file_sections(cond_ctx)
    assert {"i2v", "kf", "retake", "a2v"} <= set(listed)
    assert not {"lora", "lora2"} & set(listed)  # not run a second time per prefix
    assert all_sections(tiny_dir).count("lora") == 1 and "lora2" not in all_sections(tiny_dir)
    assert run_section(cond_ctx, "lora", None) == []
