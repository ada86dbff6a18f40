"""One command for the day a GPU is available: goldens on CUDA, bf16 error, memory strategies vs the planner,
draft and render wall times on the full-width scale model. Writes one JSON report.

    .venv/bin/python benchmarks/gpu_acceptance.py --json gpu_report.json          # one GPU, < 10 minutes
    .venv/bin/python benchmarks/gpu_acceptance.py --dry-run --json /tmp/r.json    # CPU fallback (CI)

Sections (each row also goes into the JSON report):
1. goldens: the end-to-end golden section (text encoder, both transformer stages, upsampler, VAE, audio:
   every tensor the reference recorded) on the device in float32 with TF32 off, against the goldens'
   own tolerances (`ltx23_tiny`).
2. bf16: the same run in bfloat16, reporting each tensor's error against the goldens (bf16 is not
   expected to meet float32 tolerances: the figure is the point).
3. strategies: on the full-width scale model (`scale_model.py`, K blocks, L Gemma layers), one draft per
   memory strategy the planner can pick on this device, each under that single plan: measured peak VRAM
   (torch.cuda.max_memory_allocated; on the CPU the sampled RssAnon of this process) and seconds against
   the plan's prediction.
4. wall times: a draft and a render at 768x512x121 on the scale model under the plan the runtime picks
   for this machine.
`--dry-run` runs every section on the CPU at tiny sizes (the tiny fixture for all sections, the pure
`schedules` golden section) so that the script is exercised by the test suite and cannot rot.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from model_runtime.memory.layout import ModelLayout, TextEncoderDims  # noqa: E402
from model_runtime.memory.machine import detect  # noqa: E402
from model_runtime.memory.measure import RssAnonPeak  # noqa: E402
from model_runtime.memory.plan import Machine, MemoryPlan, RequestShape  # noqa: E402
from model_runtime.memory.planner import candidate_plans  # noqa: E402
from model_runtime.pipelines import collect  # noqa: E402
from model_runtime.pipelines.types import GenerationRequest, GenerationResult  # noqa: E402
from model_runtime.runtime import ModelPaths, Runtime  # noqa: E402

log = logging.getLogger("gpu_acceptance")
TINY = ROOT.parent / "shared" / "fixtures" / "ltx23_tiny"
PROMPT = "A red fox trots across a snowy forest clearing at dawn while birds chirp softly."


def golden_rows(device: str, dtype: torch.dtype, sections: tuple[str, ...]) -> list[dict]:
    """The golden sections on `device` in `dtype`; one row per compared tensor."""
    from model_runtime.goldens import GoldenContext

    torch.backends.cuda.matmul.allow_tf32 = False  # the goldens are float32: TF32 matmuls would not be
    torch.backends.cudnn.allow_tf32 = False
    ctx = GoldenContext.open(TINY)
    ctx.device, ctx.dtype = device, dtype
    t0 = time.perf_counter()
    results = []
    for section in sections:
        results.extend(importlib.import_module(f"model_runtime.goldens.{section}").run(ctx))
    rows = [{"name": c.name, "max_abs_error": c.max_abs_error, "tolerance": c.tolerance, "passed": c.passed}
            for c in results]
    log.info("goldens %s %s: %d/%d within tolerance in %.1f s", device, dtype, sum(r["passed"] for r in rows),
             len(rows), time.perf_counter() - t0)
    return rows


def _paths(dry: bool, blocks: int, gemma_layers: int) -> ModelPaths:
    if dry:
        return ModelPaths(TINY / "checkpoint.safetensors", TINY / "spatial_upscaler_x2.safetensors", TINY / "text_encoder")
    from benchmarks.scale_model import ensure_scale_model

    m = ensure_scale_model(blocks, gemma_layers)
    return ModelPaths(m.checkpoint, m.upsampler, m.text_encoder_dir)


def _layout(paths: ModelPaths) -> ModelLayout:
    cfg = json.loads((paths.text_encoder_dir / "config.json").read_text())
    return ModelLayout.from_checkpoint(paths.checkpoint, paths.upsampler, TextEncoderDims.from_hf_config(cfg))


def _run(paths: ModelPaths, device: str, dtype: torch.dtype, request: GenerationRequest,
         memory: Machine | tuple[MemoryPlan, ...]) -> dict:
    """One job in a fresh runtime: wall seconds, peak VRAM (CUDA) or sampled RssAnon (CPU), the plan ran."""
    runtime = Runtime.open(paths, device=device, dtype=dtype, memory=memory)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    with RssAnonPeak() as rss:
        result = collect(runtime.generate(request))
    secs = time.perf_counter() - t0
    assert isinstance(result, GenerationResult)
    peak = torch.cuda.max_memory_allocated() if device.startswith("cuda") else rss.peak_bytes
    plan = runtime.last_plan
    return {"plan": plan.summary if plan else None, "seconds": round(secs, 2), "measured_peak_gb": round(peak / 1e9, 3),
            "predicted_peak_gb": round((plan.peak_vram_bytes if device.startswith("cuda") else plan.peak_ram_bytes) / 1e9, 3)
            if plan else None, "predicted_seconds": round(plan.seconds, 1) if plan else None,
            "finite": bool(torch.isfinite(result.waveform).all())}


def strategy_rows(paths: ModelPaths, device: str, dtype: torch.dtype, machine: Machine,
                  size: tuple[int, int, int], *, placements_only: bool = False) -> list[dict]:
    """Every distinct strategy the planner considers on this device, each run alone as a draft
    (`placements_only`: one per weight placement, for the quick dry run)."""
    w, h, f = size
    layout = _layout(paths)
    shape = RequestShape(w, h, f, 24.0, stage="draft")
    seen, rows = set(), []
    for plan in candidate_plans(layout, shape, machine):
        s = plan.strategy
        key = (s.placement,) if placements_only else (s.weights, s.placement, s.text_encoder, s.ffn_chunk_tokens,
                                                     s.attn_chunk_tokens)
        if key in seen or s.cache.value != "all":
            continue
        seen.add(key)
        request = GenerationRequest(prompt=PROMPT, width=w, height=h, frames=f, fps=24.0, seed=1, stage="draft",
                                    previews=False)
        row = {"strategy": s.label, "fits": plan.fits}
        try:
            row |= _run(paths, device, dtype, request, (plan,))
        except Exception as exc:  # an OOM or a bug in one strategy must not hide the others
            row["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        log.info("%s", row)
        rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dry-run", action="store_true", help="CPU, tiny sizes: checks the script itself")
    p.add_argument("--device", default="auto")
    p.add_argument("--blocks", type=int, default=4)
    p.add_argument("--gemma-layers", type=int, default=2)
    p.add_argument("--json", type=Path, required=True, help="the report")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    info = detect("cpu" if args.dry_run else args.device)
    if not args.dry_run and info.kind != "cuda":
        print("no CUDA device: run with --dry-run for the CPU check of this script", file=sys.stderr)  # noqa: T201
        return 1
    machine = info.jobs()
    dry = args.dry_run
    sections = ("schedules",) if dry else ("e2e",)
    big = (64, 64, 9) if dry else (768, 512, 121)
    paths = _paths(dry, args.blocks, args.gemma_layers)
    started = time.perf_counter()
    report: dict = {"machine": info.line(), "dry_run": dry, "torch": torch.__version__,
                    "model": str(paths.checkpoint.name)}
    report["goldens_fp32"] = golden_rows(info.device, torch.float32, sections)
    report["goldens_bf16"] = golden_rows(info.device, torch.bfloat16, sections)
    compute = torch.float32 if info.kind == "cpu" else torch.bfloat16
    report["strategies"] = strategy_rows(paths, info.device, compute, machine, (64, 64, 9) if dry else (320, 192, 9),
                                         placements_only=dry)
    for stage in ("draft", "render"):
        w, h, f = big
        request = GenerationRequest(prompt=PROMPT, width=w, height=h, frames=f, fps=24.0, seed=1, stage=stage,
                                    previews=False)
        report[f"{stage}_{w}x{h}x{f}"] = _run(paths, info.device, compute, request, machine)
    report["total_seconds"] = round(time.perf_counter() - started, 1)
    report["goldens_fp32_pass"] = all(r["passed"] for r in report["goldens_fp32"])
    tmp = args.json.with_name(args.json.name + ".part")
    tmp.write_text(json.dumps(report, indent=2, default=str))
    os.replace(tmp, args.json)
    print(f"report: {args.json} ({report['total_seconds']} s); goldens fp32 "  # noqa: T201
          f"{'PASS' if report['goldens_fp32_pass'] else 'FAIL'}; {len(report['strategies'])} strategies")
    return 0 if report["goldens_fp32_pass"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
