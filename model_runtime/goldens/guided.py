"""Golden section (h): two dev-model guided Euler steps (stage 1 of the two-stage dev pipeline).

Feeds the golden text contexts (positive and negative), starts from the end-to-end stage-1 noise at
sigma 1 on the half-size stage-1 grid, and runs the runtime's own guided x0 (`stages.guided_x0`: cond,
uncond, STG-perturbed, modality-isolated passes, then `guide`) in the Euler loop over the first sigmas of
the dev schedule. Guidance strengths are the dev defaults of the checkpoint's version; the STG block
comes from the golden settings (the real default block does not exist in a tiny model).
"""

from __future__ import annotations

from dataclasses import replace

import torch

from model_runtime.goldens import Comparison, GoldenContext
from model_runtime.goldens.e2e import RecordingEngine, golden_engine
from model_runtime.pipelines.dev import defaults_for
from model_runtime.pipelines.engine import Perturbation, PromptContexts
from model_runtime.pipelines.geometry import geometry
from model_runtime.pipelines.stages import guided_x0
from model_runtime.sampling.euler import run_euler
from model_runtime.sampling.schedules import shifted_sigmas

PASSES = ("cond", "uncond", "perturbed", "isolated")


def _pass_name(call, negative: PromptContexts) -> str:
    if call.contexts is negative:
        return "uncond"
    p: Perturbation = call.perturbation
    if p.isolate_modalities:
        return "isolated"
    return "perturbed" if (p.video_stg_blocks or p.audio_stg_blocks) else "cond"


def run(ctx: GoldenContext) -> list[Comparison]:
    if not ctx.names("guided."):  # a set without dev-model goldens (the LTX-2.5 set is distilled only)
        return []
    s = ctx.settings
    engine = RecordingEngine(golden_engine(ctx))
    geom = geometry(engine.config, int(s["width"]) // 2, int(s["height"]) // 2, int(s["num_frames"]), float(s["fps"]))
    d = defaults_for(engine.model_version)
    blocks = (int(s["stg_block"]),)
    video_g, audio_g = replace(d.video, stg_blocks=blocks), replace(d.audio, stg_blocks=blocks)
    positive = PromptContexts(ctx.tensor("text.video_context"), ctx.tensor("text.audio_context"))
    negative = PromptContexts(ctx.tensor("text.negative.video_context"), ctx.tensor("text.negative.audio_context"))
    n_steps = ctx.tensor("guided.sigmas_used").shape[0] - 1
    sigmas = shifted_sigmas(d.steps)[: n_steps + 1]
    start = (ctx.tensor("e2e.noise.stage1_video"), ctx.tensor("e2e.noise.stage1_audio"))

    guided: list[tuple[torch.Tensor, ...]] = []
    x0_fn = guided_x0(engine, geom, positive, negative, video_g, audio_g)
    final = run_euler(sigmas, start, x0_fn, on_step=lambda step: guided.append(step.x0))

    out = [ctx.compare("guided.sigmas_used", sigmas),
           ctx.compare("guided.video_positions", geom.video_positions()),
           ctx.compare("guided.audio_positions", geom.audio_positions())]
    calls_per_step = len(engine.calls) // n_steps
    for k in range(n_steps):
        calls = engine.calls[k * calls_per_step:(k + 1) * calls_per_step]
        names = [_pass_name(call, negative) for call in calls]
        if sorted(names) != sorted(PASSES):
            out.append(Comparison(f"guided.step{k}.passes", float("inf"), "exact", False,
                                  f"ran passes {names}, the golden has {list(PASSES)}"))
        for call, name in zip(calls, names, strict=True):
            out.append(ctx.compare(f"guided.step{k}.video_{name}", call.video_x0))
            out.append(ctx.compare(f"guided.step{k}.audio_{name}", call.audio_x0))
        out.append(ctx.compare(f"guided.step{k}.video_guided", guided[k][0]))
        out.append(ctx.compare(f"guided.step{k}.audio_guided", guided[k][1]))
    out.append(ctx.compare("guided.video_latent_tokens_after", final[0]))
    out.append(ctx.compare("guided.audio_latent_tokens_after", final[1]))
    return out
