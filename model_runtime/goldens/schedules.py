"""Golden section (f): sigma schedules.

Which schedule each golden holds is read from its name, as the fixture README's table defines them:
`schedule.distilled_stage{1,2}` are the fixed distilled lists; `schedule.ltx2_steps{N}_default` is the
shifted schedule with no latent (4096-token default), `..._tokens{T}` the one for a latent of T
tokens, `..._stage1` the one for this set's stage-1 latent (size/frames from the golden settings).
"""

from __future__ import annotations

import re

from model_runtime.goldens import Comparison, GoldenContext
from model_runtime.sampling.schedules import distilled_sigmas, latent_token_count, shifted_sigmas

_SHIFTED = re.compile(r"^schedule\.ltx2_steps(\d+)_(default|tokens(\d+)|stage1)$")
_DISTILLED = re.compile(r"^schedule\.distilled_stage(\d)$")


def stage1_tokens(ctx: GoldenContext) -> int:
    """Token count of the stage-1 (half size) video latent of this golden set's end-to-end settings."""
    from model_runtime.pipelines.geometry import video_latent_shape

    s = ctx.settings
    return latent_token_count(video_latent_shape(ctx.config, s["width"] // 2, s["height"] // 2, s["num_frames"]))


def schedule_for(ctx: GoldenContext, name: str):
    if m := _DISTILLED.match(name):
        return distilled_sigmas(int(m.group(1)))
    if m := _SHIFTED.match(name):
        steps, kind, tokens = int(m.group(1)), m.group(2), m.group(3)
        if kind == "default":
            return shifted_sigmas(steps)
        return shifted_sigmas(steps, int(tokens) if tokens else stage1_tokens(ctx))
    raise KeyError(f"golden {name!r}: unknown schedule (expected distilled_stageN or ltx2_stepsN_...)")


def run(ctx: GoldenContext) -> list[Comparison]:
    return [ctx.compare(name, schedule_for(ctx, name)) for name in ctx.names("schedule.")]
