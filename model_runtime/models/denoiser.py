"""One denoising evaluation of the audio-video transformer: tokens in, x0 and velocity out, per modality.

The sampler (Euler loop, guidance) talks to this small typed API instead of to the diffusers forward with
its two dozen keyword arguments. It fixes the conventions the reference uses:
* timesteps are sigma x `timestep_scale_multiplier` (1000) into the sinusoidal embeddings; the per-token
  sigma (sigma x denoise mask: conditioned tokens are clean) drives the AdaLN of each token, while the
  prompt AdaLN and the OTHER modality's audio<->video cross-attention AdaLN use the scalar sigma
  (diffusers' `use_cross_timestep=True`, LTX-2.3 behaviour);
* x0 = x - sigma_token * v, computed in float32 whatever the weights' dtype;
* the dev model's guidance passes are options of the call: STG replaces the self-attention of the listed
  blocks (video AND audio) by its value projection, the gate still applied (diffusers'
  `LTX2PerturbedAttnProcessor`, which the transformer is built with); "isolated" skips the
  audio->video and video->audio cross-attention in every block (diffusers' `isolate_modalities`).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch
from torch import nn

from model_runtime.errors import InvalidRequestError
from model_runtime.mapped import compute_dtype


@dataclass(frozen=True)
class ModalityInput:
    """One modality's state for one evaluation (token layout, batch B).

    tokens:      [B, T, C] noisy latent tokens.
    sigma:       [B] or a scalar (tensor or float): the step's noise level.
    context:     [B, L, D] text context from the connector of this modality.
    positions:   [B, A, T, 2] `[start, end)` bounds (models/positions.py), float32.
    token_sigma: [B, T] per-token sigma (sigma x denoise mask); None means sigma for every token.
    attention_mask: [B, T, T] multiplicative self-attention mask in [0, 1] (video only: attention-strength
                 guides); the transformer adds log(mask) as a bias, mask <= 0 -> the dtype's minimum.
    keyframes_mask: [B, T, 1] video tokens that get LTX-2.5's keyframe embedding (models/positions.py
                 `keyframes_mask`); ignored by a transformer built without it (2.3).
    """

    tokens: torch.Tensor
    sigma: torch.Tensor | float
    context: torch.Tensor
    positions: torch.Tensor
    token_sigma: torch.Tensor | None = None
    attention_mask: torch.Tensor | None = None
    keyframes_mask: torch.Tensor | None = None

    def sigmas(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(scalar sigma [B], per-token sigma [B, T]) as float32."""
        b, t = self.tokens.shape[:2]
        sigma = torch.as_tensor(self.sigma, dtype=torch.float32).reshape(-1)
        scalar = sigma.expand(b) if sigma.numel() == 1 else sigma.reshape(b)
        per_token = scalar[:, None].expand(b, t) if self.token_sigma is None else self.token_sigma.to(torch.float32)
        if per_token.shape != (b, t):
            raise ValueError(f"token_sigma must be [B, T] = {(b, t)}, got {tuple(per_token.shape)}")
        return scalar, per_token


@dataclass(frozen=True)
class PassOptions:
    """Which guidance pass this evaluation is: plain (default), STG-perturbed and/or modality-isolated.

    `audio_stg` False perturbs only the video self-attention of `stg_blocks` (a guider that guides video
    alone, e.g. audio-to-video, where the audio is given)."""

    stg_blocks: tuple[int, ...] = ()
    isolate_modalities: bool = False
    audio_stg: bool = True


@dataclass(frozen=True)
class ModalityPrediction:
    """float32 predictions in token layout: velocity v and denoised x0 = x - sigma_token * v."""

    x0: torch.Tensor
    velocity: torch.Tensor


@dataclass(frozen=True)
class AVPrediction:
    video: ModalityPrediction
    audio: ModalityPrediction


class AVDenoiser:
    """Wraps a loaded `LTX2VideoTransformer3DModel` (built by models/transformer.py).

    `cross_timestep=True` is LTX-2.3's rule (each modality's A<->V cross-attention AdaLN is driven by the
    other modality's sigma); False is the legacy LTX-2.0 rule.
    """

    def __init__(self, transformer: nn.Module, *, cross_timestep: bool = True) -> None:
        self.transformer = transformer
        self.cross_timestep = cross_timestep
        self.num_blocks = len(transformer.transformer_blocks)
        self.time_scale = float(transformer.config.timestep_scale_multiplier)
        self.uses_keyframes = bool(getattr(transformer.config, "use_keyframes_abs_pos_embedding", False))

    @property
    def dtype(self) -> torch.dtype:
        return compute_dtype(self.transformer, self.transformer.proj_in.weight)

    @property
    def device(self) -> torch.device:
        return self.transformer.proj_in.weight.device

    def _check(self, options: PassOptions) -> None:
        bad = [i for i in options.stg_blocks if not 0 <= i < self.num_blocks]
        if bad:
            raise InvalidRequestError(
                f"STG block(s) {bad} do not exist: this transformer has blocks 0..{self.num_blocks - 1}"
            )

    @torch.no_grad()
    def __call__(self, video: ModalityInput, audio: ModalityInput, options: PassOptions = PassOptions()) -> AVPrediction:
        self._check(options)
        dev, dt = self.device, self.dtype
        v_sigma, v_tok = (s.to(dev) for s in video.sigmas())
        a_sigma, a_tok = (s.to(dev) for s in audio.sigmas())
        batch = video.tokens.shape[0]
        stg = tuple(sorted(set(options.stg_blocks)))
        perturbation = torch.zeros(batch, device=dev, dtype=dt) if stg else None
        with contextlib.ExitStack() as hooks:
            if video.attention_mask is not None:
                bias = attention_bias(video.attention_mask.to(dev), dt)
                for block in self.transformer.transformer_blocks:
                    hooks.enter_context(_override_kwargs(block.attn1, attention_mask=bias))
            if stg and not options.audio_stg:
                for i in stg:
                    hooks.enter_context(_override_kwargs(self.transformer.transformer_blocks[i].audio_attn1,
                                                         perturbation_mask=None, all_perturbed=False))
            v_out, a_out = self._forward(video, audio, options, v_sigma, v_tok, a_sigma, a_tok, stg, perturbation)
        return AVPrediction(
            video=_prediction(video.tokens.to(dev), v_tok, v_out),
            audio=_prediction(audio.tokens.to(dev), a_tok, a_out),
        )

    def _forward(self, video, audio, options, v_sigma, v_tok, a_sigma, a_tok, stg, perturbation):
        dev, dt = self.device, self.dtype
        return self.transformer(
            hidden_states=video.tokens.to(dev, dt),
            audio_hidden_states=audio.tokens.to(dev, dt),
            encoder_hidden_states=video.context.to(dev, dt),
            audio_encoder_hidden_states=audio.context.to(dev, dt),
            timestep=_timesteps(video, v_sigma, v_tok) * self.time_scale,
            audio_timestep=_timesteps(audio, a_sigma, a_tok) * self.time_scale,
            sigma=v_sigma * self.time_scale,
            audio_sigma=a_sigma * self.time_scale,
            video_coords=video.positions.to(dev, torch.float32),
            audio_coords=audio.positions.to(dev, torch.float32),
            isolate_modalities=options.isolate_modalities,
            spatio_temporal_guidance_blocks=list(stg) or None,
            perturbation_mask=perturbation,
            use_cross_timestep=self.cross_timestep,
            video_keyframes_mask=None if video.keyframes_mask is None else video.keyframes_mask.to(dev),
            return_dict=False,
        )


def attention_bias(mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Multiplicative [B, T, T] mask -> additive [B, T, T] bias as the reference forms it: log(mask)
    (clamped at the smallest positive normal), the dtype's minimum where mask <= 0. The attention
    processor repeats it per head."""
    finfo = torch.finfo(dtype)
    bias = torch.full_like(mask, finfo.min, dtype=dtype)
    positive = mask > 0
    bias[positive] = torch.log(mask[positive].clamp(min=finfo.tiny)).to(dtype)
    return bias


@contextlib.contextmanager
def _override_kwargs(module: nn.Module, **values):
    """Call `module` with some keyword arguments replaced while the context is open (a pre-hook, so the
    transformer's own forward, or the memory plan's lean block, runs unchanged)."""
    def hook(_mod, args, kwargs):
        return args, kwargs | values

    handle = module.register_forward_pre_hook(hook, with_kwargs=True)
    try:
        yield
    finally:
        handle.remove()


def _timesteps(modality: ModalityInput, sigma: torch.Tensor, per_token: torch.Tensor) -> torch.Tensor:
    """The AdaLN timesteps: one per token when tokens differ (conditioning masks), else one per sample
    ([B, 1], broadcast over the tokens inside the transformer), so the timestep embedding and the per-block
    modulation tables are computed once instead of once per token."""
    return per_token if modality.token_sigma is not None else sigma[:, None]


def _prediction(tokens: torch.Tensor, token_sigma: torch.Tensor, velocity: torch.Tensor) -> ModalityPrediction:
    v = velocity.to(torch.float32)
    x0 = tokens.to(torch.float32) - token_sigma.unsqueeze(-1) * v
    return ModalityPrediction(x0=x0, velocity=v)
