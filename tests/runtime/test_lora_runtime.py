"""LoRAs in the runtime: the reference goldens (fused and live), jobs that change strengths without reloading,
provenance in the result, fp8 storage, the dev render's distilled LoRA, and the CLI."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import torch

from model_runtime.pipelines import collect
from model_runtime.pipelines import run as run_pipeline
from model_runtime.pipelines.types import GenerationRequest, GenerationResult, LoraSpec
from tests.runtime.test_cli import FFPROBE, _gen_args, cli, one_line_error
from tests.runtime.test_pipeline_behaviour import FakeEngine


@pytest.mark.slow
def test_lora_goldens_pass_fused_and_live(golden_ctx):
    from model_runtime.goldens import lora

    results = lora.run(golden_ctx)
    failed = [f"{c.name}: {c.max_abs_error:.2e} > {c.tolerance} {c.detail}" for c in results if not c.passed]
    assert not failed, failed
    cond = lora.conditioning_context(golden_ctx)
    compared = {c.name for c in results}
    for case in lora.cases(cond):
        for name in cond.names(f"{case}."):
            if cond.tolerances.get(name) == "input":
                continue
            modes = ("fused",) if name.startswith(f"{case}.fused.") else lora.MODES
            for mode in modes:  # every golden tensor is checked in both modes (weights: fused only)
                assert f"{name} [{mode}]" in compared, name


# --- jobs in one Runtime -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def runtime(tiny_dir):
    from model_runtime.runtime import ModelPaths, Runtime

    paths = ModelPaths(tiny_dir / "checkpoint.safetensors", tiny_dir / "spatial_upscaler_x2.safetensors",
                       tiny_dir / "text_encoder")
    return Runtime.open(paths, device="cpu", dtype=torch.float32)


def _job(runtime, tiny_dir, strength: float, mode: str = "live") -> GenerationResult:
    request = GenerationRequest(prompt="a fox in the snow", width=64, height=64, frames=9, fps=24.0, seed=5,
                                previews=False, lora_mode=mode,
                                loras=(LoraSpec(tiny_dir / "lora_a.safetensors", strength),
                                       LoraSpec(tiny_dir / "lora_b.safetensors", 0.5)))
    return collect(runtime.generate(request))  # the result is the generator's return value


def _transformer(runtime):
    return runtime.engine.component("transformer", lambda: pytest.fail("the transformer was not loaded"))


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["live", "fused"])
def test_strength_change_between_jobs_does_not_reload_the_base_weights(runtime, tiny_dir, monkeypatch, mode):
    import model_runtime.runtime as rt

    first = _job(runtime, tiny_dir, 0.7, mode)
    transformer = _transformer(runtime).transformer
    clean_file = runtime.engine.lora_applier.clean
    loads: list[str] = []
    real_load = rt.load_component
    monkeypatch.setattr(rt, "load_component", lambda *a, **k: loads.append(a[1].name) or real_load(*a, **k))
    reads: list[int] = []
    real_read = clean_file.read
    monkeypatch.setattr(clean_file, "read", lambda modules: reads.append(len(modules)) or real_read(modules))
    untouched = {n: p.detach().clone() for n, p in transformer.named_parameters() if "attn1.to_q" in n}

    second = _job(runtime, tiny_dir, -0.7, mode)
    assert loads == []  # no component, the transformer least of all, was loaded again
    assert _transformer(runtime).transformer is transformer
    assert not torch.equal(first.latents["stage1"].video, second.latents["stage1"].video)  # the change took
    assert second.settings["loras"][0]["strength"] == -0.7
    if mode == "live":  # the base weights were never written nor re-read
        assert reads == [] and runtime.engine.lora_applier.fused_writes == 0
        assert all(torch.equal(p, untouched[n]) for n, p in transformer.named_parameters() if n in untouched)
    else:  # only the adapted tensors were re-read, once, to fuse the new strength into the clean weights
        adapted = len(runtime.engine.lora_applier.adapted)
        assert reads == [adapted] and adapted < sum(1 for _ in transformer.parameters())


@pytest.mark.slow
def test_result_settings_carry_lora_provenance(runtime, tiny_dir):
    from model_runtime.loras.files import file_sha256

    result = _job(runtime, tiny_dir, 0.7)
    loras = result.settings["loras"]
    assert [entry["name"] for entry in loras] == ["lora_a.safetensors", "lora_b.safetensors"]
    assert loras[0]["sha256"] == file_sha256(tiny_dir / "lora_a.safetensors") and loras[0]["strength"] == 0.7
    assert result.settings["lora_mode"] == "live"
    json.dumps(result.settings["loras"])  # goes into the MP4 tags as is


# --- fp8 storage --------------------------------------------------------------------------------------
def test_fused_into_fp8_quantises_the_float32_merge_once(golden_ctx, tiny_dir):
    from model_runtime.checkpoints import inspect_checkpoint
    from model_runtime.loras.apply import CheckpointWeights, LoraApplier, Weighted, fused_delta
    from model_runtime.loras.files import LoraTargets, read_lora
    from model_runtime.memory.executors import Fp8Linear, _to_fp8, quantize_fp8_
    from model_runtime.models.transformer import PREFIX, TRANSFORMER_SPEC, unrename

    transformer = copy.deepcopy(golden_ctx.module(TRANSFORMER_SPEC))
    quantize_fp8_(transformer)
    info = inspect_checkpoint(golden_ctx.checkpoint_path)
    lora = read_lora(tiny_dir / "lora_a.safetensors", LoraTargets.from_checkpoint(info.header, info.model_version))
    clean = CheckpointWeights(golden_ctx.checkpoint_path, PREFIX, unrename)
    applier = LoraApplier(clean)
    applier.bind(transformer)
    applier.set([Weighted(lora, 0.7)], "fused", "cpu")
    name = "transformer_blocks.0.attn1.to_q"
    linear = transformer.get_submodule(name)
    assert isinstance(linear, Fp8Linear)
    expected, scale = _to_fp8(clean.read([name])[name].float() + fused_delta([Weighted(lora, 0.7)], name))
    assert torch.equal(linear.weight_fp8.view(torch.uint8), expected.view(torch.uint8))
    assert torch.equal(linear.weight_scale, scale)


# --- dev render: the distilled LoRA in stage 2 ----------------------------------------------------------
def test_dev_render_refines_with_the_distilled_lora():
    style = LoraSpec(Path("style.safetensors"), 0.8)
    distilled = LoraSpec(Path("distilled.safetensors"), 1.0)
    engine = FakeEngine(distilled_lora=distilled)
    request = GenerationRequest(prompt="a fox", width=128, height=128, frames=9, fps=24.0, seed=1, previews=False,
                                pipeline="dev", stage="render", steps=2, loras=(style,))
    result = collect(run_pipeline(engine, request))
    stage1_calls = len(engine.denoise_calls) - 3
    sets = [(loras, calls) for loras, _mode, calls in engine.lora_calls]
    assert sets[-2] == ((style,), 0)  # stage 1: the request's LoRAs, set before any step
    assert sets[-1] == ((style, distilled), stage1_calls)  # stage 2 adds the distilled LoRA (appended)
    assert result.settings["distilled_lora"]["name"] == "distilled.safetensors"


def test_distilled_pipeline_uses_the_request_loras_in_both_stages():
    style = LoraSpec(Path("style.safetensors"), 0.8)
    engine = FakeEngine(distilled_lora=LoraSpec(Path("distilled.safetensors")))
    request = GenerationRequest(prompt="a fox", width=128, height=128, frames=9, fps=24.0, stage="render",
                                previews=False, loras=(style,))
    collect(run_pipeline(engine, request))
    assert [(loras, calls) for loras, _m, calls in engine.lora_calls] == [((style,), 0)]


# --- CLI ------------------------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.skipif(FFPROBE is None, reason="ffprobe not installed (apt-get install ffmpeg)")
def test_generate_with_stacked_loras_writes_a_valid_mp4_with_provenance(tiny_dir, tmp_path):
    import subprocess

    out = tmp_path / "styled.mp4"
    args = _gen_args(tiny_dir, out) + ["--lora", f"{tiny_dir / 'lora_a.safetensors'}:0.7",
                                       "--lora", str(tiny_dir / "lora_b.safetensors"), "--lora-mode", "fused"]
    proc = cli(*args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    info = json.loads(subprocess.run([FFPROBE, "-v", "error", "-show_streams", "-show_format", "-of", "json",
                                      str(out)], capture_output=True, text=True, check=True).stdout)
    assert {s["codec_type"] for s in info["streams"]} == {"video", "audio"}
    meta = json.loads(info["format"]["tags"]["comment"])
    settings = meta.get("runtime", meta)  # what ran (the seam's format nests it under "runtime")
    assert [(e["name"], e["strength"]) for e in settings["loras"]] == [("lora_a.safetensors", 0.7),
                                                                      ("lora_b.safetensors", 1.0)]
    assert all(len(e["sha256"]) == 64 for e in settings["loras"]) and settings["lora_mode"] == "fused"


@pytest.mark.parametrize("lora, message", [
    ("LORA_A:2.5", "strength 2.5 is outside [-2, 2]"),
    ("PICKLE", "not a safetensors file"),
    ("/nonexistent/style.safetensors", "file not found"),
])
def test_generate_bad_lora_is_one_line(tiny_dir, tmp_path, lora, message):
    pickle_file = tmp_path / "style.safetensors"
    pickle_file.write_bytes(b"\x80\x04\x95" + b"\x00" * 64)
    lora = lora.replace("LORA_A", str(tiny_dir / "lora_a.safetensors")).replace("PICKLE", str(pickle_file))
    proc = cli(*_gen_args(tiny_dir, tmp_path / "x.mp4") + ["--lora", lora], timeout=120)
    assert proc.returncode != 0
    assert message in one_line_error(proc)
    assert not (tmp_path / "x.mp4").exists()


def test_unmatched_keys_reach_the_user_as_a_notice():
    from model_runtime.pipelines.types import NoticeEvent

    class PartlyMatching(FakeEngine):
        def use_loras(self, loras, mode):
            return tuple({"name": s.path.name, "strength": s.strength, "unmatched_keys": 3,
                          "unmatched_examples": ["lora_te_text_model.lora_down.weight"]} for s in loras)

    events: list = []
    request = GenerationRequest(prompt="a fox", width=64, height=64, frames=9, fps=24.0, previews=False,
                                loras=(LoraSpec(Path("style.safetensors"), 0.8),))
    collect(run_pipeline(PartlyMatching(), request), events.append)
    notices = [e.message for e in events if isinstance(e, NoticeEvent)]
    assert notices == ["style.safetensors: 3 of its keys match nothing in this model and are not applied "
                       "(e.g. lora_te_text_model.lora_down.weight)"]


# --- memory plan -----------------------------------------------------------------------------------------
def test_planner_charges_loras_per_the_clean_copy_policy(layout_full):
    from dataclasses import replace

    from model_runtime.memory.layout import ModelLayout
    from model_runtime.memory.plan import Machine, RequestShape, Strategy
    from model_runtime.memory.planner import evaluate, strategies

    layout = ModelLayout.from_layout_json(layout_full)
    machine = Machine(vram_gb=24, ram_gb=64)
    strategy: Strategy = strategies(machine)[0]
    plain = RequestShape(1280, 704, 121, 24.0)
    factors = 300_000_000  # a rank-64 LoRA on every Linear of the 22B transformer is about this size
    base = evaluate(layout, plain, machine, strategy)
    live = evaluate(layout, replace(plain, lora_factor_bytes=factors, lora_mode="live"), machine, strategy)
    fused = evaluate(layout, replace(plain, lora_factor_bytes=factors, lora_mode="fused"), machine, strategy)
    stage = [i for i, s in enumerate(base.stages) if s.name == "stage 1"][0]
    # live: factors + one Linear's float32 delta/merge on the device, no copy of the base weights anywhere
    assert factors < live.stages[stage].vram_bytes - base.stages[stage].vram_bytes < factors + 2e9
    assert live.stages[stage].ram_bytes == base.stages[stage].ram_bytes
    # fused: a host merge buffer only (the clean weights are re-read from the file, not kept)
    assert fused.stages[stage].vram_bytes == base.stages[stage].vram_bytes
    assert 0 < fused.stages[stage].ram_bytes - base.stages[stage].ram_bytes < 2e9
