"""The Euler-ancestral sampler LTX-2.5's distilled stage 1 uses (ltx-pipelines 1.2.0, eta = s_noise = 1).

Rectified-flow form (alpha = 1 - sigma): each step goes deterministically to
`sigma_down = sigma_next^2 / sigma` (x <- r x + (1 - r) x0, r = sigma_down / sigma), then re-noises back
up to sigma_next: x <- (alpha_next / alpha_down) x + noise * sqrt(sigma_next^2 - sigma_down^2 alpha_next^2 /
alpha_down^2). A step to sigma 0 returns x0. All in float32, in the reference's operation order.

The re-noise draws come from their own generator (seed + `ANCESTRAL_SEED_OFFSET`), video then audio at
each non-terminal step, so the stage's initial noise and these draws never coincide.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

import torch

from model_runtime.errors import InvalidRequestError
from model_runtime.sampling.control import CancelToken
from model_runtime.sampling.euler import Latents, Step, X0Function

ANCESTRAL_SEED_OFFSET = 10000
#: explicit-noise names of the ancestral draws: tensors `[steps, *token_shape]`, one slice per step
ANCESTRAL_NAMES = ("ancestral_video", "ancestral_audio")


def ancestral_step(x: torch.Tensor, x0: torch.Tensor, sigma: torch.Tensor, sigma_next: torch.Tensor,
                   noise: torch.Tensor | None) -> torch.Tensor:
    s, s_next = sigma.to(torch.float32), sigma_next.to(torch.float32)
    if float(s_next) == 0.0:
        return x0.to(x.dtype)
    if noise is None:
        raise ValueError("an ancestral step to a non-zero sigma needs noise")
    xf, x0f = x.to(torch.float32), x0.to(torch.float32)
    sigma_down = s_next * (1.0 + (s_next / s - 1.0))
    ratio = sigma_down / s
    x_next = ratio * xf + (1.0 - ratio) * x0f
    alpha_next, alpha_down = 1.0 - s_next, 1.0 - sigma_down
    coeff = (s_next**2 - sigma_down**2 * alpha_next**2 / alpha_down**2).clamp(min=0) ** 0.5
    x_next = (alpha_next / alpha_down) * x_next + noise.to(torch.float32) * coeff
    return x_next.to(x.dtype)


class AncestralNoise:
    """The re-noise draws of one ancestral loop: seeded generator, or explicit stacked tensors."""

    def __init__(self, seed: int, explicit: Mapping[str, torch.Tensor] | None = None) -> None:
        self._generator = torch.Generator("cpu").manual_seed(int(seed) + ANCESTRAL_SEED_OFFSET)
        self._explicit = {k: v for k, v in (explicit or {}).items() if k in ANCESTRAL_NAMES}

    def draw(self, modality: str, step: int, shape: tuple[int, ...]) -> torch.Tensor:
        drawn = torch.randn(shape, generator=self._generator, dtype=torch.float32)
        given = self._explicit.get(f"ancestral_{modality}")
        if given is None:
            return drawn
        if step >= given.shape[0] or tuple(given.shape[1:]) != tuple(shape):
            raise InvalidRequestError(f"explicit ancestral_{modality} noise {tuple(given.shape)} does not cover step "
                                      f"{step} of shape {shape}")
        return given[step].detach().to("cpu", torch.float32)


def ancestral_loop(sigmas: torch.Tensor, latents: Latents, x0_fn: X0Function, noise: AncestralNoise,
                   cancel: CancelToken | None = None, modalities: tuple[str, ...] = ("video", "audio"),
                   ) -> Iterator[Step]:
    """Like `euler.euler_loop`, with the ancestral update; noise drawn per modality per step, in order."""
    total = len(sigmas) - 1
    for i in range(total):
        if cancel is not None:
            cancel.raise_if_cancelled()
        x0s = x0_fn(latents, sigmas[i], i)
        terminal = float(sigmas[i + 1]) == 0.0
        out = []
        for name, x, x0 in zip(modalities, latents, x0s, strict=True):
            n = None if terminal else noise.draw(name, i, tuple(x.shape)).to(x.device)
            out.append(ancestral_step(x, x0, sigmas[i], sigmas[i + 1], n))
        latents = tuple(out)
        yield Step(i + 1, total, x0s, latents)
    if cancel is not None:
        cancel.raise_if_cancelled()


SamplerLoop = Callable[..., Iterator[Step]]
