"""Initial noise: drawn from a seeded CPU generator, or given explicitly (reproduction, golden tests).

Noise is always drawn on the CPU in float32 and then moved, so one seed gives the same noise on CUDA,
MPS and CPU. The draw order is part of the contract with the reference pipelines: stage-1 video,
stage-1 audio, stage-2 video, stage-2 audio, each in token layout, then (LTX-2.5's diffusion decoder) the
decoder's pixel noise on its canvas. Skipping a stage (a render
promoted from a draft) still draws that stage's noise so that the later draws stay identical.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

from model_runtime.errors import InvalidRequestError

#: the order in which a two-stage generation consumes noise
NOISE_ORDER = ("stage1_video", "stage1_audio", "stage2_video", "stage2_audio", "decoder")


class NoiseSource:
    """Hands out the noise tensors of one generation, in order.

    `explicit` maps names of NOISE_ORDER to tensors; names it lacks are drawn from the seeded generator
    (which is advanced for explicit names too, so mixing both keeps the seeded draws aligned).
    """

    def __init__(self, seed: int, explicit: Mapping[str, torch.Tensor] | None = None) -> None:
        self.seed = int(seed)
        self._generator = torch.Generator("cpu").manual_seed(self.seed)
        self._explicit = dict(explicit or {})
        from model_runtime.sampling.ancestral import ANCESTRAL_NAMES

        self._explicit = {k: v for k, v in self._explicit.items() if k not in ANCESTRAL_NAMES}
        unknown = set(self._explicit) - set(NOISE_ORDER)
        if unknown:
            raise InvalidRequestError(f"unknown initial-noise names {sorted(unknown)}; expected {list(NOISE_ORDER)}")

    def draw(self, name: str, shape: Sequence[int]) -> torch.Tensor:
        """Float32 CPU noise of `shape` for `name` (token layout)."""
        drawn = torch.randn(tuple(shape), generator=self._generator, dtype=torch.float32)
        given = self._explicit.get(name)
        if given is None:
            return drawn
        if tuple(given.shape) != tuple(shape):
            raise InvalidRequestError(
                f"explicit noise {name!r} has shape {tuple(given.shape)}, this request needs {tuple(shape)}"
            )
        return given.detach().to("cpu", torch.float32)

    def skip(self, name: str, shape: Sequence[int]) -> None:
        """Advance the generator past a draw that is not needed (a stage that is not run)."""
        self.draw(name, shape)


def renoise(latent: torch.Tensor, noise: torch.Tensor, sigma: float) -> torch.Tensor:
    """Start a refinement at noise level `sigma`: `noise * s + latent * (1 - s)` with `s` float32.

    The reference forms the float32 scale first (mask x sigma) and `1 - s` in float32, then two products
    and a sum; `torch.lerp` (latent + s * (noise - latent)) rounds differently (~2e-7 per value), which the
    vocoder amplifies past the waveform tolerance (seen on a second golden set).
    """
    s = torch.tensor(sigma, dtype=torch.float32, device=latent.device)
    return noise.float().to(latent.device) * s + latent.float() * (1 - s)
