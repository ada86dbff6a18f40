"""Token-layout latent states with conditioning: the mechanisms of ltx-core's conditioning items.

A `TokenState` is one modality's latent as the sampler sees it, plus what conditioning attached to it:
* `clean`: the values conditioned tokens are pulled back to after every model call (`blend`);
* `mask`: the per-token denoise mask, 1 = generate, 1 - strength on conditioned tokens; the transformer's
  per-token timestep is sigma x mask, and the noiser mixes noise in by mask x noise scale;
* `positions`: `[start, end)` bounds, including those of appended guide tokens;
* `attention`: an optional `[B, N, N]` multiplicative self-attention mask (attention-strength guides);
* `grid_tokens`: how many leading tokens are the output grid (appended guide tokens follow them and are
  dropped by `cleared`).

Mechanisms (each returns a new state; none mutates its input):
* `replace_latent_frames` (ltx-core VideoConditionByLatentIndex): the image's latent overwrites the tokens
  of latent frame k in latent and clean, mask 1 - strength (image-to-video's first frame);
* `append_guide` (VideoConditionByKeyframeIndex): the image's tokens are appended after the grid with
  positions of a 1-frame latent shifted by its pixel frame (no causal shift) / fps, mask 1 - strength;
* `span_mask` (retake's TemporalRegionMask): mask 1 on tokens whose time bounds overlap [t0, t1), else 0;
* `noised` (GaussianNoiser): noise x (mask x s) + latent x (1 - mask x s).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from model_runtime.sampling.noise import renoise


@dataclass(frozen=True)
class TokenState:
    latent: torch.Tensor  # [B, N, C]
    clean: torch.Tensor  # [B, N, C]
    mask: torch.Tensor  # [B, N, 1] float32
    positions: torch.Tensor  # [B, A, N, 2] float32
    grid_tokens: int
    attention: torch.Tensor | None = None  # [B, N, N] in [0, 1]

    @classmethod
    def initial(cls, latent: torch.Tensor, positions: torch.Tensor) -> TokenState:
        """A plain state: every token generated (mask 1), clean = the initial latent."""
        latent = latent.float()
        mask = torch.ones(*latent.shape[:2], 1, dtype=torch.float32, device=latent.device)
        return cls(latent, latent.clone(), mask, positions.to(latent.device), latent.shape[1])

    @property
    def tokens(self) -> int:
        return self.latent.shape[1]

    @property
    def conditioned(self) -> bool:
        """True when anything differs from a plain generation (mask not all 1, guides, attention mask)."""
        return self.tokens != self.grid_tokens or self.attention is not None or bool((self.mask != 1).any())

    def with_latent(self, latent: torch.Tensor) -> TokenState:
        return replace(self, latent=latent)

    def cleared(self) -> torch.Tensor:
        """The grid tokens of the latent (appended guide tokens dropped), as the decoders need."""
        return self.latent[:, :self.grid_tokens]


def replace_latent_frames(state: TokenState, tokens: torch.Tensor, first_token: int, strength: float) -> TokenState:
    """Overwrite tokens [first_token, first_token + n) with `tokens` in latent and clean; mask 1 - strength."""
    stop = first_token + tokens.shape[1]
    if stop > state.grid_tokens:
        raise ValueError(f"latent frame tokens {first_token}..{stop} do not fit the {state.grid_tokens}-token grid")
    latent, clean, mask = state.latent.clone(), state.clean.clone(), state.mask.clone()
    latent[:, first_token:stop] = tokens.to(latent)
    clean[:, first_token:stop] = tokens.to(clean)
    mask[:, first_token:stop] = 1.0 - strength
    return replace(state, latent=latent, clean=clean, mask=mask)


def append_guide(state: TokenState, tokens: torch.Tensor, positions: torch.Tensor, strength: float,
                 attention: float | None = None) -> TokenState:
    """Append guide `tokens` (with their `positions`) after the current tokens, mask 1 - strength.

    `attention` (the reference's ConditioningItemAttentionStrengthWrapper): the weight between the grid
    tokens and these guides in a multiplicative self-attention mask (other guide groups see each other
    with 0); None keeps full attention (and keeps an existing mask consistent).
    """
    b, m = tokens.shape[:2]
    device = state.latent.device
    mask = torch.full((b, m, 1), 1.0 - strength, dtype=torch.float32, device=device)
    n = state.tokens
    attn = state.attention
    if attention is not None or attn is not None:
        cross = torch.full((b, m), 1.0 if attention is None else float(attention), dtype=torch.float32, device=device)
        full = torch.zeros(b, n + m, n + m, dtype=torch.float32, device=device)
        full[:, :n, :n] = 1.0 if attn is None else attn
        full[:, n:, n:] = 1.0
        full[:, :state.grid_tokens, n:] = cross.unsqueeze(1)
        full[:, n:, :state.grid_tokens] = cross.unsqueeze(2)
        attn = full
    return replace(
        state,
        latent=torch.cat([state.latent, tokens.to(state.latent)], dim=1),
        clean=torch.cat([state.clean, tokens.to(state.clean)], dim=1),
        mask=torch.cat([state.mask, mask], dim=1),
        positions=torch.cat([state.positions, positions.to(state.positions)], dim=2),
        attention=attn,
    )


def span_mask(state: TokenState, time_bounds: torch.Tensor, start: float, end: float) -> TokenState:
    """Mask 1 on the grid tokens whose `[t_start, t_end)` seconds (`time_bounds` [N, 2]) overlap
    [start, end), 0 elsewhere: only that span is regenerated; the rest keeps the clean latent exactly."""
    inside = (time_bounds[:, 1] > start) & (time_bounds[:, 0] < end)
    mask = state.mask.clone()
    mask[:, :state.grid_tokens, 0] = inside.to(mask)
    return replace(state, mask=mask)


def noised(state: TokenState, noise: torch.Tensor, scale: float | torch.Tensor) -> TokenState:
    """The reference's GaussianNoiser: noise x (mask x s) + latent x (1 - mask x s), in float32."""
    s = state.mask * torch.as_tensor(scale, dtype=torch.float32, device=state.mask.device)
    return state.with_latent(renoise(state.latent, noise, s))


def blend(x0: torch.Tensor, state: TokenState) -> torch.Tensor:
    """post_process_latent: conditioned tokens are pulled back to their clean values after each model call."""
    return (x0 * state.mask + state.clean.float() * (1 - state.mask)).to(x0.dtype)
