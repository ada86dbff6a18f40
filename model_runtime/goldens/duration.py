"""Golden section (f, LTX-2.5): the DurationHead on the stored text contexts, and the frame counts.

For each prompt (`duration.` / `duration.negative.`): seconds from video+audio contexts, seconds from the
video stream only, frames with the pipeline's default clamp [1 s, 20 s] and with the wide clamp
[0.01 s, 1000 s] the reference used for the unclamped value; fps from the golden settings. A set
without duration goldens (LTX-2.3) compares nothing here.
"""

from __future__ import annotations

import torch

from model_runtime.goldens import Comparison, GoldenContext
from model_runtime.models.duration_head import DURATION_HEAD_SPEC, DurationBounds, seconds_to_frames

#: golden prefix -> text golden prefix of the same prompt
PROMPTS = (("duration.", "text."), ("duration.negative.", "text.negative."))
#: the bounds the reference used for `num_frames_unclamped`
WIDE = DurationBounds(0.01, 1000.0)


def run(ctx: GoldenContext) -> list[Comparison]:
    if not ctx.names("duration."):
        return []
    head = ctx.module(DURATION_HEAD_SPEC)
    fps = float(ctx.settings["fps"])
    computed: dict[str, torch.Tensor] = {}
    with torch.inference_mode():
        for prefix, text in PROMPTS:
            video, audio = ctx.tensor(text + "video_context"), ctx.tensor(text + "audio_context")
            seconds = head(video, audio)
            computed[prefix + "seconds"] = seconds
            computed[prefix + "seconds_video_only"] = head(video, None)
            value = float(seconds.item())
            computed[prefix + "num_frames"] = torch.tensor(seconds_to_frames(value, fps), dtype=torch.int64)
            computed[prefix + "num_frames_unclamped"] = torch.tensor(seconds_to_frames(value, fps, WIDE), dtype=torch.int64)
    return ctx.compare_all("duration.", computed)
