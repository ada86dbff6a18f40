"""Multi-modal guidance maths of the LTX-2 dev model (CFG + STG + modality guidance + rescale).

One guided x0 per modality is built from up to four transformer passes: `cond` (positive prompt),
`uncond` (negative prompt), `perturbed` (STG: self-attention of some blocks replaced by its value
projection) and `isolated` (audio<->video cross-attention skipped). The rescale pulls the guided
prediction's spread back towards the conditional one, using torch's unbiased std over the WHOLE
tensor (not per channel) because that is what the model was tuned with.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class GuidanceParams:
    """Guidance strengths for one modality. Neutral values (1, 0, 1, 0) mean "just the cond pass"."""

    cfg: float = 1.0
    stg: float = 0.0
    modality: float = 1.0
    rescale: float = 0.0
    stg_blocks: tuple[int, ...] = ()

    @property
    def needs_uncond(self) -> bool:
        return not math.isclose(self.cfg, 1.0)

    @property
    def needs_perturbed(self) -> bool:
        return not math.isclose(self.stg, 0.0)

    @property
    def needs_isolated(self) -> bool:
        return not math.isclose(self.modality, 1.0)


def guide(params: GuidanceParams, cond: torch.Tensor, uncond: torch.Tensor | None = None,
          perturbed: torch.Tensor | None = None, isolated: torch.Tensor | None = None) -> torch.Tensor:
    """Combine the passes into the x0 the Euler step consumes (computed in float32).

    A pass that a non-neutral strength needs must be given; a pass whose strength is neutral is ignored.
    """
    dtype = cond.dtype
    c = cond.float()
    pred = c
    for needed, scale, other, name in (
        (params.needs_uncond, params.cfg - 1, uncond, "uncond"),
        (params.needs_perturbed, params.stg, perturbed, "perturbed"),
        (params.needs_isolated, params.modality - 1, isolated, "isolated"),
    ):
        if needed:
            if other is None:
                raise ValueError(f"guidance {params} needs the {name} pass")
            pred = pred + scale * (c - other.float())
    if params.rescale != 0:
        factor = c.std() / pred.std()
        pred = pred * (params.rescale * factor + (1 - params.rescale))
    return pred.to(dtype)
