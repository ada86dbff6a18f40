"""Sigma schedules of LTX-2.x: the distilled model's fixed lists and the dev model's shifted schedule.

The distilled checkpoints were trained for these exact noise levels, so they are data, not a formula.
The dev schedule is a sigmoid time shift whose strength grows with the token count, stretched so the
last non-zero sigma lands on `terminal`; it is computed in float32 like the reference so the lists
match to the last bit (they feed the timestep embedding, where 1e-7 differences are visible).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

#: stage 1 of the distilled pipeline (8 steps), and its stage 2 refinement (3 steps) at 2x resolution
DISTILLED_STAGE1_SIGMAS: tuple[float, ...] = (1.0, 0.99375, 0.9875, 0.98125, 0.975, 0.909375, 0.725, 0.421875, 0.0)
DISTILLED_STAGE2_SIGMAS: tuple[float, ...] = (0.909375, 0.725, 0.421875, 0.0)


@dataclass(frozen=True)
class ShiftedScheduleParams:
    """Parameters of the token-count-shifted schedule (LTX-2 dev defaults).

    The shift is linear in the token count between (base_anchor, base_shift) and (max_anchor, max_shift);
    `default_tokens` is what the dev pipelines use when they pass no latent (resolution independent).
    """

    max_shift: float = 2.05
    base_shift: float = 0.95
    base_anchor: int = 1024
    max_anchor: int = 4096
    stretch: bool = True
    terminal: float = 0.1
    default_tokens: int = 4096
    max_exponent: float = 10.0  # keeps exp() finite in float32 for very long videos


def distilled_sigmas(stage: int) -> torch.Tensor:
    """The fixed float32 sigma list of distilled stage 1 or 2."""
    values = {1: DISTILLED_STAGE1_SIGMAS, 2: DISTILLED_STAGE2_SIGMAS}.get(stage)
    if values is None:
        raise ValueError(f"the distilled pipeline has stages 1 and 2, not {stage}")
    return torch.tensor(values, dtype=torch.float32)


def latent_token_count(latent_shape: Sequence[int]) -> int:
    """Tokens of a natural-layout video latent [B, C, F', H', W'] (the product of the trailing axes)."""
    return math.prod(int(s) for s in latent_shape[2:])


def shifted_sigmas(steps: int, tokens: int | None = None,
                   params: ShiftedScheduleParams = ShiftedScheduleParams()) -> torch.Tensor:  # noqa: B008
    """`steps + 1` float32 sigmas from 1 to 0, time-shifted for `tokens` (default: params.default_tokens)."""
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    n_tokens = params.default_tokens if tokens is None else tokens
    slope = (params.max_shift - params.base_shift) / (params.max_anchor - params.base_anchor)
    shift = min(n_tokens * slope + (params.base_shift - slope * params.base_anchor), params.max_exponent)
    t = torch.linspace(1.0, 0.0, steps + 1)  # float32, as the reference builds it
    e = math.exp(shift)
    sigmas = torch.where(t != 0, e / (e + (1 / t - 1)), 0)
    if params.stretch:
        nonzero = sigmas != 0
        one_minus = 1.0 - sigmas[nonzero]
        scale = one_minus[-1] / (1.0 - params.terminal)
        if scale > 0:
            sigmas[nonzero] = 1.0 - one_minus / scale
    return sigmas.to(torch.float32)
