"""The built-in demo model: made by the app (no fixture), official layout, loaded by the production loader."""

from __future__ import annotations

import pytest

from tests.events import drain


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from model_runtime.demo import ensure_demo_model

    return ensure_demo_model(tmp_path_factory.mktemp("cache") / "demo-model")


def test_demo_files_are_official_layout(demo):
    from ltx_studio.model_setup import check_all
    from model_runtime.checkpoints import read_header
    from model_runtime.demo import ensure_demo_model

    statuses = check_all(str(demo.checkpoint), str(demo.upsampler), str(demo.text_encoder_dir))
    assert [s.ok for s in statuses] == [True, True, True], [s.message for s in statuses]
    h = read_header(demo.checkpoint)
    assert h.metadata["model_version"].startswith("2.3") and "random" in h.metadata["demo"]
    assert {k.split(".")[0] for k in h.tensors} == {"model", "text_embedding_projection", "vae", "audio_vae", "vocoder"}
    assert sum(t.end - t.begin for t in h.tensors.values()) < 64e6  # a few MB: fine for any machine
    mtime = demo.checkpoint.stat().st_mtime
    assert ensure_demo_model(demo.checkpoint.parent) == demo and demo.checkpoint.stat().st_mtime == mtime  # cached


def test_demo_draft_and_promotion_through_the_real_runtime(demo):
    import torch

    from model_runtime.pipelines.types import GenerationRequest, GenerationResult
    from model_runtime.runtime import ModelPaths, Runtime

    rt = Runtime.open(ModelPaths(demo.checkpoint, demo.upsampler, demo.text_encoder_dir), "cpu", torch.float32)
    results = []
    for stage, size, latents in (("draft", 64, None), ("render", 128, "draft")):
        req = GenerationRequest(prompt="a red fox in the snow", width=size, height=size, frames=9, fps=24.0, seed=3,
                                stage=stage, draft_latents=results[0].latents["stage1"] if latents else None)
        events, res = drain(rt.generate(req))
        assert isinstance(res, GenerationResult)
        assert any(type(e).__name__ == "ProgressEvent" for e in events)
        assert tuple(res.frames.shape) == (9, size, size, 3) and res.frames.dtype == torch.uint8
        assert res.waveform.shape[0] == 2 and res.sample_rate == 48000
        results.append(res)
    assert "stage1" in results[0].latents and "stage2" in results[1].latents
