"""The Euler sampler: every latent moves from sigma to sigma_next along the model's x0 prediction.

Latents are a tuple (video tokens, audio tokens) advanced together with one model call per step.
The update is x + (x - x0) / sigma * (sigma_next - sigma) in float32, in the reference's operation
order (velocity first, then the step) so results match it bit for bit.

The loop is a generator: it yields a `Step` after every update, which is how progress and previews
reach the caller (no callbacks through the stack, no tqdm), and it checks the cancel token before
every step and once more after the last one, so a cancelled job raises before anything else runs.
`run_euler` drains it for callers that only want the result (with an optional per-step callback).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

import torch

from model_runtime.errors import CheckpointError
from model_runtime.sampling.control import CancelToken

Latents = tuple[torch.Tensor, ...]


class X0Function(Protocol):
    """The model side of a step: denoised predictions for every latent at `sigma` (step `index`)."""

    def __call__(self, latents: Latents, sigma: torch.Tensor, index: int) -> Latents: ...


@dataclass(frozen=True)
class Step:
    """One finished step: `done` of `total`, the x0 it used and the latents it produced."""

    done: int
    total: int
    x0: Latents
    latents: Latents


def euler_step(x: torch.Tensor, x0: torch.Tensor, sigma: float, dt: float) -> torch.Tensor:
    """x + (x - x0) / sigma * dt, in float32. `sigma` and `dt` = sigma_next - sigma are host numbers (the
    float32 schedule's values, exactly representable), so a step never reads a device tensor back: no
    host sync inside a step (CUDA-graph-safe), the same float32 results as tensor operands."""
    if sigma == 0:
        raise ValueError("an Euler step cannot start at sigma 0")
    velocity = ((x.float() - x0.float()) / sigma).to(x.dtype)
    return (x.float() + velocity.float() * dt).to(x.dtype)


def check_finite_step(latents: Latents) -> None:
    """After the first step: NaN/Inf there means damaged weights or an overflowing dtype, and every later
    step (minutes of work) would only carry them to an undecodable video. One cheap reduction per latent."""
    if not all(bool(torch.isfinite(x).all()) for x in latents):
        raise CheckpointError("the model produced NaN/Inf values at its first denoising step: the weights are "
                              "damaged (download the checkpoint again) or the compute dtype overflows on this "
                              "device (try --dtype float32)")


def euler_loop(sigmas: torch.Tensor, latents: Latents, x0_fn: X0Function,
               cancel: CancelToken | None = None) -> Iterator[Step]:
    """Yield a Step for each of the len(sigmas)-1 updates; the last Step holds the final latents.

    The schedule is read to the host once, before the first step (`sigmas` may live on the device: the
    model still gets each sigma as a device tensor); the steps themselves never synchronise.
    """
    total = len(sigmas) - 1
    host = sigmas.detach().to("cpu", torch.float32)
    values = host.tolist()
    dts = (host[1:] - host[:-1]).tolist()  # float32 differences, as the tensor arithmetic computed them
    for i in range(total):
        if cancel is not None:
            cancel.raise_if_cancelled()
        x0s = x0_fn(latents, sigmas[i], i)
        latents = tuple(euler_step(x, x0, values[i], dts[i]) for x, x0 in zip(latents, x0s, strict=True))
        if i == 0:
            check_finite_step(latents)  # the one host read of a job's steps, after the first (see above)
        yield Step(i + 1, total, x0s, latents)
    if cancel is not None:
        cancel.raise_if_cancelled()


def run_euler(sigmas: torch.Tensor, latents: Latents, x0_fn: X0Function, *,
              on_step: Callable[[Step], None] | None = None, cancel: CancelToken | None = None) -> Latents:
    """Run the whole loop and return the final latents."""
    for step in euler_loop(sigmas, latents, x0_fn, cancel):
        latents = step.latents
        if on_step is not None:
            on_step(step)
    return latents
