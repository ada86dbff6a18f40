"""The Euler sampler: every latent moves from sigma to sigma_next along the model's x0 prediction.

Latents are a tuple (video tokens, audio tokens) advanced together with one model call per step.
The update is x + (x - x0) / sigma * (sigma_next - sigma) in float32, in the reference's operation
order (velocity first, then the step) so that results match it bit for bit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import torch

from model_runtime.sampling.control import CancelToken

Latents = tuple[torch.Tensor, ...]


class X0Function(Protocol):
    """The model side of a step: denoised predictions for every latent at `sigma` (step `index`)."""

    def __call__(self, latents: Latents, sigma: torch.Tensor, index: int) -> Latents: ...


#: called after each step with (steps done, total steps, the x0 predictions of that step)
StepCallback = Callable[[int, int, Latents], None]


def euler_step(x: torch.Tensor, x0: torch.Tensor, sigma: torch.Tensor, sigma_next: torch.Tensor) -> torch.Tensor:
    s = float(sigma.to(torch.float32).item())
    if s == 0:
        raise ValueError("an Euler step cannot start at sigma 0")
    velocity = ((x.float() - x0.float()) / s).to(x.dtype)
    return (x.float() + velocity.float() * (sigma_next.float() - sigma.float())).to(x.dtype)


def euler_loop(sigmas: torch.Tensor, latents: Latents, x0_fn: X0Function, *,
               on_step: StepCallback | None = None, cancel: CancelToken | None = None) -> Latents:
    """Run len(sigmas)-1 steps; the token is checked before every step and once after the last."""
    total = len(sigmas) - 1
    for i in range(total):
        if cancel is not None:
            cancel.raise_if_cancelled()
        x0s = x0_fn(latents, sigmas[i], i)
        latents = tuple(euler_step(x, x0, sigmas[i], sigmas[i + 1]) for x, x0 in zip(latents, x0s, strict=True))
        if on_step is not None:
            on_step(i + 1, total, x0s)
    if cancel is not None:
        cancel.raise_if_cancelled()
    return latents
