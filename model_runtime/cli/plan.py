"""`ltx-studio-cli plan`: show the memory plan the runtime would pick for a request on a given machine.

Works from a layout file (`.json` / `.json.gz`, like the full-size fixture) or a real checkpoint's header
(`.safetensors`, no weight is read), so plans can be checked for cards one does not own.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the planner imports torch: `ltx-studio-cli --help` must not wait for it
    from model_runtime.memory.layout import ModelLayout
    from model_runtime.memory.plan import MemoryPlan


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("plan", help="predict VRAM/RAM per stage and pick the fastest plan that fits")
    p.add_argument("--layout", required=True, help="layout .json(.gz) or checkpoint .safetensors")
    p.add_argument("--upsampler", help="spatial upsampler .safetensors (with a checkpoint)")
    p.add_argument("--width", type=int, required=True)
    p.add_argument("--height", type=int, required=True)
    p.add_argument("--frames", type=int, required=True, help="8k+1 frames")
    p.add_argument("--fps", type=float, required=True)
    p.add_argument("--stage", choices=("draft", "render"), default="render")
    p.add_argument("--vram-gb", type=float, required=True)
    p.add_argument("--ram-gb", type=float, required=True)
    p.add_argument("--device", choices=("cuda", "mps", "cpu"), default="cuda")
    p.add_argument("--per-token-timestep", action="store_true",
                   help="image/keyframe conditioning (tokens carry their own sigma)")
    p.add_argument("--decoder", choices=("auto", "diffusion", "conv"), default="auto",
                   help="LTX-2.5 video decoder (auto: conv for drafts, diffusion for renders)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def _layout(args: argparse.Namespace) -> ModelLayout:
    from model_runtime.memory.layout import ModelLayout

    if args.layout.endswith(".safetensors"):
        return ModelLayout.from_checkpoint(args.layout, args.upsampler)
    return ModelLayout.from_layout_json(args.layout)


def run(args: argparse.Namespace) -> int:
    from model_runtime.memory.plan import Machine, RequestShape
    from model_runtime.memory.planner import choose_plan

    request = RequestShape(args.width, args.height, args.frames, args.fps, stage=args.stage,
                           per_token_timestep=args.per_token_timestep, decoder=args.decoder)
    machine = Machine(args.vram_gb, args.ram_gb, args.device)
    layout = _layout(args)
    plan = choose_plan(layout, request, machine)
    if args.json:
        sys.stdout.write(json.dumps(plan.to_dict(), indent=2) + "\n")
        return 0
    sys.stdout.write(plan_table(plan, layout) + "\n")
    return 0


def plan_table(plan: MemoryPlan, layout: ModelLayout | None = None) -> str:
    """The plan as a few lines of text: summary, model family (when the layout is given), time, one row per
    stage (also `generate --print-plan`)."""
    from model_runtime.memory.estimates import gb

    out = [f"plan: {plan.summary}"]
    if layout is not None:
        out.append(f"model: LTX-{layout.family} ({layout.source}); fits: {'yes' if plan.fits else 'NO'}")
    out += [f"estimated time: ~{plan.seconds:.0f} s",
            f"{'stage':<14}{'VRAM GB':>9}{'RAM GB':>9}{'seconds':>9}  detail"]
    for s in plan.stages:
        out.append(f"{s.name:<14}{gb(s.vram_bytes):>9.2f}{gb(s.ram_bytes):>9.2f}{s.seconds:>9.1f}  {s.detail}")
    return "\n".join(out)
