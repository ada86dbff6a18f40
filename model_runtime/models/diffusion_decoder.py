"""LTX-2.5's diffusion video decoder ("Sharp"): latent -> context volume -> a few Euler steps in pixel space.

Stages 1-4 turn the latent into a context volume with 3-D neighbourhood-attention blocks and linear
pixel-shuffle upsamples; stage 5 denoises patchified pixel noise, modulated (AdaLN) by the step's t and
fed the context through a per-block `context_proj`. The decoder is itself a diffusion model: its output
depends on the pixel noise, which is drawn from the job's generator on the canvas described below, so a
seeded job decodes reproducibly.

What ltx-core 1.2.0 does around the network, reproduced here for an untiled decode (`decode`; the tiled
decode, `decode_tiled`, runs the last two stages per tile: `models.diffusion_tiling`):
* the latent is edge-padded (time: repeat last; space: symmetric edge copies) up to the smallest grid
  every stage's attention kernel fits (`min_latent_grid`), and x_T is drawn on the padded canvas;
* the last latent frame is replicated `(K_t // 2) * 2` times before stages 1-3 and the appendix is cropped
  off the context after stage 4 (keeping at least the stage-5 kernel's frames): NATTEN shifts its window
  inward at the border, and the ghost frames move that border past the kept frames;
* the output is cropped back to the content (the padding's `before` part skipped spatially).

Why not diffusers 0.42.1's `LTX2VideoDiffusionDecoder3d`: the official file stores fused `attn.qkv` and
static `gate_*` tensors and names q/k norms `q_norm`/`k_norm`; diffusers' module has split to_q/to_k/to_v
and no gates, so its state dict is not the file's and the strict key map would need tensor splits. Its
smaller pieces whose names and arithmetic equal the reference's are used as they are: the SwiGLU MLP, the
pixel-shuffle upsampler, the shared AdaLN-Zero and the 3-D absolute RoPE. Its decode also differs from
1.2.0's (no edge padding to the minimum grid, noise drawn on the unpadded canvas, x0 / 1-step defaults),
see the config cross-check in the issue notes.

Neighbourhood attention: NATTEN semantics (each query sees a `kernel`-sized window, centred where possible
and shifted inward at the border), computed with SDPA on batches of small query tiles (`NA_TILE`), each
against the key block its windows span and an additive window mask, so the scores per query are a small
multiple of the window (`neighborhood_attention`); batches keep their tensors under `NA_SCORE_BUDGET`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from model_runtime.errors import UnsupportedModelError
from model_runtime.loading import ComponentSpec
from model_runtime.models.diffusion_decoder_config import (
    NA_TILE,
    STAGE5_W_CHUNKS,
    AxisBlocks,
    DiffusionDecoderConfig,
    Kernel,
    w_slabs,
)
from model_runtime.models.video_tiling import TilingConfig
from model_runtime.models.video_vae import PerChannelStatistics, patchify, unpatchify

log = logging.getLogger(__name__)

PREFIX = "vae."
_DECODER = "decoder."
_STATS = "per_channel_statistics."
GATES = ("gate_msa", "gate_mlp", "gate_ctx")
#: which Linear each static gate is folded into at load time (ltx-core 1.2.0's loader does the same)
GATE_TARGETS = {"gate_msa": ("attn.proj.weight", "attn.proj.bias"), "gate_mlp": ("mlp.w_down.weight",),
                "gate_ctx": ("context_proj.weight", "context_proj.bias")}
NA_SCORE_BUDGET = 2**25  # elements of one batch of tiles' scores, mask and gathered K/V
#: input frames per slab of the last whole-volume upsample when its output is kept off the compute device
FEATURE_SLAB_FRAMES = 8


# --- neighbourhood attention ---------------------------------------------------------------------------
def _windows(length: int, kernel: int) -> tuple[torch.Tensor, int]:
    """Start of each position's window (NATTEN: centred, shifted inward at the border) and the kernel used."""
    k = min(kernel, length)
    starts = (torch.arange(length) - k // 2).clamp(0, length - k)
    return starts, k


@dataclass(frozen=True)
class AxisTiles:
    """An axis's `AxisBlocks` with their positions: `visible[i, q, j]` says key `j` of tile `i`'s block is in
    query `q`'s window."""

    blocks: AxisBlocks
    query_index: torch.Tensor  # [count, size]
    key_index: torch.Tensor  # [count, keys]
    visible: torch.Tensor  # [count, size, keys] bool


def axis_tiles(length: int, kernel: int, tile: int) -> AxisTiles:
    starts, k = _windows(length, kernel)
    a = AxisBlocks.of(length, kernel, tile)
    q = (torch.arange(a.count)[:, None] * a.size + torch.arange(a.size)).clamp(max=length - 1)
    k0 = starts[q[:, 0]].clamp(max=length - a.keys)  # window starts are 1-Lipschitz: the block holds every window
    kidx = k0[:, None] + torch.arange(a.keys)
    s = starts[q][:, :, None]
    return AxisTiles(a, q, kidx, (kidx[:, None, :] >= s) & (kidx[:, None, :] < s + k))


def neighborhood_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, kernel: Kernel) -> torch.Tensor:
    """`(B, T, H, W, NH, HD)` q/k/v (q already scaled) -> `(B, T, H, W, NH*HD)`.

    Exact NATTEN semantics with SDPA over batches of small query tiles, each against the key block its
    windows span and a mask of the windows (`axis_tiles`): the scores computed per query are the block's
    `prod(keys)`, a small multiple of the window, not the whole volume's."""
    b, t, h, w, nh, hd = q.shape
    at, ah, aw = (axis_tiles(d, kk, tt) for d, kk, tt in zip((t, h, w), kernel, NA_TILE, strict=True))
    bt, bh, bw = at.blocks, ah.blocks, aw.blocks
    nq, nk = bt.size * bh.size * bw.size, bt.keys * bh.keys * bw.keys
    per_t_tile = bh.count * bw.count * nk * (nh * nq + nq + 2 * nh * hd)  # scores, mask, K and V per time tile
    step = max(1, NA_SCORE_BUDGET // per_t_tile)
    dev = q.device
    qh, qw = ah.query_index.to(dev), aw.query_index.to(dev)
    kh, kw = ah.key_index.to(dev), aw.key_index.to(dev)
    vis_hw = (ah.visible[:, None, :, None, :, None] & aw.visible[None, :, None, :, None, :]).to(dev)
    out = torch.empty(b, bt.count * bt.size, h, w, nh * hd, dtype=v.dtype, device=dev)

    def gather(x: torch.Tensor, it: torch.Tensor, ih: torch.Tensor, iw: torch.Tensor) -> torch.Tensor:
        """`[B*tiles, NH, positions, HD]`: the tiles' query (or key-block) positions of `x`."""
        g = x[:, it[:, None, None, :, None, None], ih[None, :, None, None, :, None], iw[None, None, :, None, None, :]]
        return g.flatten(0, 3).flatten(1, 3).transpose(1, 2)

    for c0 in range(0, bt.count, step):
        c1 = min(bt.count, c0 + step)
        qt, kt = at.query_index[c0:c1].to(dev), at.key_index[c0:c1].to(dev)
        n = c1 - c0
        vis = (at.visible[c0:c1].to(dev)[:, None, None, :, None, None, :, None, None]
               & vis_hw[None, :, :, None, :, :, None, :, :])  # [n, th, tw, bt, bh, bw, kt, kh, kw]
        mask = torch.where(vis, q.new_zeros(()), q.new_full((), torch.finfo(q.dtype).min)).reshape(n * bh.count * bw.count, 1, nq, nk)
        mask = mask.repeat(b, 1, 1, 1) if b > 1 else mask  # one write of the mask: it is as large as a head's scores
        o = F.scaled_dot_product_attention(gather(q, qt, qh, qw), gather(k, kt, kh, kw), gather(v, kt, kh, kw),
                                           attn_mask=mask, scale=1.0)
        o = o.transpose(1, 2).reshape(b, n, bh.count, bw.count, bt.size, bh.size, bw.size, nh * hd)
        o = o.permute(0, 1, 4, 2, 5, 3, 6, 7).reshape(b, n * bt.size, bh.count * bh.size, bw.count * bw.size, nh * hd)
        out[:, c0 * bt.size: c1 * bt.size] = o[:, :, :h, :w]
    return out[:, :t]


def dense_neighborhood_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, kernel: Kernel) -> torch.Tensor:
    """The same attention as one SDPA over the whole volume with the NATTEN windows as a boolean mask:
    O(N^2) scores, the plain statement of what `neighborhood_attention` computes, for tests and benchmarks."""
    b, t, h, w, nh, hd = q.shape
    inside = []
    for d, kk in zip((t, h, w), kernel, strict=True):
        starts, kk = _windows(d, kk)
        j = torch.arange(d)
        inside.append((j[None, :] >= starts[:, None]) & (j[None, :] < starts[:, None] + kk))
    vis = (inside[0][:, None, None, :, None, None] & inside[1][None, :, None, None, :, None]
           & inside[2][None, None, :, None, None, :]).reshape(t * h * w, t * h * w).to(q.device)
    flat = [x.reshape(b, t * h * w, nh, hd).transpose(1, 2) for x in (q, k, v)]
    out = F.scaled_dot_product_attention(*flat, attn_mask=vis, scale=1.0)
    return out.transpose(1, 2).reshape(b, t, h, w, nh * hd)


class NeighborhoodAttention(nn.Module):
    """Fused qkv -> per-head RMS norm (q pre-scaled) -> 3-D absolute RoPE -> windowed attention -> proj."""

    def __init__(self, dim: int, kernel: Kernel, head_dim: int) -> None:
        super().__init__()
        from diffusers.models.autoencoders.ltx2_diffusion_decoder import LTX2VideoVaeRotaryPosEmbed3D

        self.heads, self.head_dim, self.kernel = dim // head_dim, head_dim, tuple(kernel)
        self.scale = head_dim**-0.5
        self.qkv = nn.Linear(dim, 3 * dim, bias=True)
        self.proj = nn.Linear(dim, dim, bias=True)
        self.q_norm = nn.RMSNorm(head_dim, eps=1e-6)
        self.k_norm = nn.RMSNorm(head_dim, eps=1e-6)
        self.rope = LTX2VideoVaeRotaryPosEmbed3D(head_dim)

    def forward(self, x: torch.Tensor, w_offset: int = 0) -> torch.Tensor:
        """`w_offset`: the W position of column 0 (a slab of a wider volume); RoPE uses absolute positions."""
        b, t, h, w, _ = x.shape
        if t < self.kernel[0] or h < self.kernel[1] or w < self.kernel[2]:
            raise ValueError(f"neighbourhood attention needs (T, H, W) >= kernel {self.kernel}, got {(t, h, w)}")
        shape = (b, t, h, w, self.heads, self.head_dim)
        q, k, v = (p.reshape(shape) for p in self.qkv(x).chunk(3, dim=-1))
        q = self._rope(self.q_norm(q) * self.scale, w_offset)
        k = self._rope(self.k_norm(k), w_offset)
        return self.proj(neighborhood_attention(q, k, v.contiguous(), self.kernel))

    def _rope(self, x: torch.Tensor, w_offset: int) -> torch.Tensor:
        if w_offset == 0:
            return self.rope(x)
        # positions 0-based on T/H, `w_offset + j` on W: rotate the W chunk of a slab padded on the left
        d_t, d_h, _ = self.rope.rope_dim_split
        inv = self.rope._inv_freqs(self.rope.rope_dim_split[2], x.device)
        pos = torch.arange(x.shape[3], dtype=torch.float32, device=x.device) + w_offset
        t_h = self.rope(x)[..., : d_t + d_h]
        return torch.cat([t_h, self.rope._rotate_axis(x[..., d_t + d_h:], pos, inv, axis=3)], dim=-1)

    def w_chunked(self, y: torch.Tensor, chunks: int) -> torch.Tensor:
        """Attention over `chunks` W slabs of fixed extent (ltx-core 1.2.0's chunked decode path, which the
        reference runs by default): each slab carries `K_w // 2` halo columns copied from its neighbours,
        and at the volume's true W borders the missing halo columns are edge copies of the border column,
        so border tokens see a centred window over replicated values (not a window shifted inward as in
        the other axes). `y` is the already-modulated input; returns the attention output for `y`."""
        b, t, h, w, c = y.shape
        halo = self.kernel[2] // 2
        extent = -(-w // chunks) + 2 * halo
        out = torch.empty_like(y)
        for start, end in w_slabs(w, chunks):
            lo, hi = max(0, start - halo), min(w, end + halo)
            left = halo - (start - lo)  # halo columns missing on the left (only at the W origin)
            right = extent - left - (hi - lo)
            parts = [y[:, :, :, :1].expand(b, t, h, left, c)] if left else []
            parts.append(y[:, :, :, lo:hi])
            if right:
                parts.append(y[:, :, :, hi - 1:hi].expand(b, t, h, right, c))
            slab = torch.cat(parts, dim=3)
            res = self(slab, w_offset=start - halo)
            out[:, :, :, start:end] = res[:, :, :, halo: halo + end - start]
        return out


def _mlp(dim: int) -> nn.Module:
    from diffusers.models.autoencoders.ltx2_diffusion_decoder import LTX2VideoVaeSwiGLU, _swiglu_hidden_dim

    return LTX2VideoVaeSwiGLU(dim, _swiglu_hidden_dim(dim, 4.0))


class NABlock(nn.Module):
    """Deterministic stage block: `x + NA(norm1 x)`, then `x + SwiGLU(norm2 x)` (channels last)."""

    def __init__(self, dim: int, kernel: Kernel, head_dim: int) -> None:
        super().__init__()
        self.norm1 = nn.RMSNorm(dim, eps=1e-6)
        self.attn = NeighborhoodAttention(dim, kernel, head_dim)
        self.norm2 = nn.RMSNorm(dim, eps=1e-6)
        self.mlp = _mlp(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class DiffusionBlock(nn.Module):
    """Stage-5 block: context injection, AdaLN-modulated NA and SwiGLU, ungated residuals.

    The file's static `gate_*` vectors are folded into `attn.proj`, `mlp.w_down` and `context_proj` when
    the weights load (`fold_gates`); the buffers stay (ones) so the module's names are the file's."""

    def __init__(self, dim: int, kernel: Kernel, context_channels: int, head_dim: int) -> None:
        super().__init__()
        self.context_proj = nn.Linear(context_channels, dim, bias=True)
        self.scale_shift_table = nn.Parameter(torch.zeros(7, dim))
        self.norm1 = nn.RMSNorm(dim, eps=1e-6)
        self.attn = NeighborhoodAttention(dim, kernel, head_dim)
        self.norm2 = nn.RMSNorm(dim, eps=1e-6)
        self.mlp = _mlp(dim)
        for gate in GATES:
            self.register_buffer(gate, torch.ones(dim))

    def forward(self, x: torch.Tensor, context: torch.Tensor, modulation: tuple[torch.Tensor, ...]) -> torch.Tensor:
        mod = [modulation[i] + self.scale_shift_table[i].view(1, 1, 1, 1, -1) for i in range(7)]
        scale_msa, shift_msa, scale_mlp, shift_mlp = mod[0], mod[1], mod[3], mod[4]
        x = x + self.context_proj(context)
        y = self.norm1(x) * (1.0 + scale_msa) + shift_msa
        x = x + (self.attn.w_chunked(y, STAGE5_W_CHUNKS) if STAGE5_W_CHUNKS > 1 else self.attn(y))
        return x + self.mlp(self.norm2(x) * (1.0 + scale_mlp) + shift_mlp)


class TimestepEmbedder(nn.Module):
    """256-d sinusoidal (cos first) -> Linear -> SiLU -> Linear; the file's `t_embedder.mlp.{0,2}`."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(256, dim), nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, t: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        from diffusers.models.embeddings import get_timestep_embedding

        return self.mlp(get_timestep_embedding(t, 256, flip_sin_to_cos=True, downscale_freq_shift=0).to(dtype))


@dataclass
class DecodeTrace:
    """Filled by `decode` when given: the step times and each step's raw prediction (on the canvas)."""

    timesteps: torch.Tensor | None = None
    predictions: list[torch.Tensor] = field(default_factory=list)


@dataclass(frozen=True)
class PaddedLatent:
    """A latent padded to the decoder's minimum grid: what to crop from the canvas to get the content back."""

    latent: torch.Tensor
    content: tuple[int, int, int]  # pixel (frames, height, width) of the unpadded latent
    h_before: int  # pixel rows / columns of padding before the content
    w_before: int
    canvas: tuple[int, ...]  # x_T's shape: the padded latent upscaled

    def crop(self, pixels: torch.Tensor, first_frame: int = 0) -> torch.Tensor:
        """Content of canvas pixels whose frame 0 is canvas frame `first_frame` (frames past the content go)."""
        frames = max(0, self.content[0] - first_frame)
        return (pixels[:, :, :frames].narrow(3, self.h_before, self.content[1])
                .narrow(4, self.w_before, self.content[2]))


def _resize(x: torch.Tensor, dim: int, size: int, mode: str) -> tuple[torch.Tensor, int]:
    """Pad/crop axis `dim` to `size`: "repeat_last" at the end, or "symmetric" edge copies (extra at the
    end). Returns the tensor and how many elements were added (or removed) BEFORE the content."""
    length = x.shape[dim]
    if length == size:
        return x, 0
    if length > size:
        before = 0 if mode == "repeat_last" else (length - size) // 2
        return x.narrow(dim, before, size), before
    need = size - length
    before = 0 if mode == "repeat_last" else need // 2
    parts = []
    if before:
        parts.append(x.narrow(dim, 0, 1).expand(*[before if i == dim else s for i, s in enumerate(x.shape)]))
    parts.append(x)
    after = need - before
    parts.append(x.narrow(dim, length - 1, 1).expand(*[after if i == dim else s for i, s in enumerate(x.shape)]))
    return torch.cat(parts, dim=dim), before


class DiffusionVideoDecoder(nn.Module):
    """Normalized latent `[B, C, F', H', W']` -> pixels `[B, 3, 8(F'-1)+1, 32H', 32W']`, float, NOT clamped."""

    def __init__(self, cfg: DiffusionDecoderConfig) -> None:
        super().__init__()
        from diffusers.models.autoencoders.ltx2_diffusion_decoder import (
            LTX2VideoVaeAdaLNZero,
            LTX2VideoVaePixelShuffleUpsampler,
        )

        self.cfg = cfg
        ch = cfg.stage_channels
        self.per_channel_statistics = PerChannelStatistics(cfg.in_channels)
        self.conv_in = nn.Linear(cfg.in_channels, ch[0], bias=True)
        self.det_stages = nn.ModuleList(
            nn.ModuleList(NABlock(ch[i], cfg.stage_kernels[i], cfg.head_dim) for _ in range(cfg.stage_depths[i]))
            for i in range(len(cfg.upsamples)))
        self.upsamples = nn.ModuleList(
            LTX2VideoVaePixelShuffleUpsampler(ch[i], stride, red) for i, (stride, red) in enumerate(cfg.upsamples))
        self.t_embedder = TimestepEmbedder(cfg.t_emb_dim)
        pixel_channels = cfg.out_channels * cfg.patch_size**2
        self.conv_in_x_t = nn.Linear(pixel_channels, cfg.c5, bias=True)
        self.shared_adaln = LTX2VideoVaeAdaLNZero(cfg.c5, cfg.t_emb_dim)
        self.diff_blocks = nn.ModuleList(DiffusionBlock(cfg.c5, cfg.stage5_kernel, ch[-1], cfg.head_dim)
                                         for _ in range(cfg.stage_depths[-1]))
        self.norm_out = nn.RMSNorm(cfg.c5, eps=1e-6)
        self.conv_out = nn.Linear(cfg.c5, pixel_channels, bias=True)

    # --- network -------------------------------------------------------------------------------
    def _stage(self, x: torch.Tensor, i: int, drop_leading_frame: bool = True) -> torch.Tensor:
        for block in self.det_stages[i]:
            x = block(x)
        return self.upsamples[i](x, drop_leading_frame=drop_leading_frame)

    def features(self, latent: torch.Tensor, store: torch.device | None = None) -> torch.Tensor:
        """Every deterministic stage but the last on an (already size-padded) latent, with the trailing ghost
        frames: channels-last `(B, T4, H4, W4, C)`. A tiled decode runs this once on the whole volume.

        `store`: where the result is kept. Given, the last upsample (the largest tensor of the decode: 16 GB
        in bf16 for 4K 20 s) runs in slabs of `FEATURE_SLAB_FRAMES` input frames, each copied to `store`
        as it is made, so the compute device never holds the whole volume."""
        x, _ = _resize(latent, 2, latent.shape[2] + self.cfg.trailing_pad_frames, "repeat_last")
        x = self.conv_in(self.per_channel_statistics.un_normalize(x).permute(0, 2, 3, 4, 1))
        last = len(self.upsamples) - 2
        for i in range(last):
            x = self._stage(x, i)
        if store is None:
            return self._stage(x, last)
        for block in self.det_stages[last]:
            x = block(x)
        up, t = self.upsamples[last], x.shape[1]
        st = up.stride[0]
        frames = 2 * t - 1 if st == 2 else t * st
        out = torch.empty(x.shape[0], frames, x.shape[2] * up.stride[1], x.shape[3] * up.stride[2], up.out_channels,
                          dtype=x.dtype, device=store)
        done = 0
        for start in range(0, t, FEATURE_SLAB_FRAMES):
            slab = up(x[:, start:start + FEATURE_SLAB_FRAMES], drop_leading_frame=start == 0)
            out[:, done:done + slab.shape[1]] = slab.to(store)
            done += slab.shape[1]
        return out

    def last_stage(self, x: torch.Tensor, *, drop_leading_frame: bool = True, crop_ghost: bool = True) -> torch.Tensor:
        """The last deterministic stage -> stage-5 context `(B, T5, H5, W5, C)`. A temporal tile that does not
        hold t=0 keeps the upsample's leading frame; only the one holding the end carries ghost frames to crop."""
        cfg = self.cfg
        x = self._stage(x, len(self.upsamples) - 1, drop_leading_frame)
        if crop_ghost and cfg.trailing_pad_frames:  # crop the ghost frames, keeping at least the stage-5 kernel's
            content = max(x.shape[1] - cfg.trailing_pad_frames * cfg.time_scale, 1)
            x, _ = _resize(x, 1, min(x.shape[1], max(content, cfg.stage5_kernel[0])), "repeat_last")
        return x

    def context(self, latent: torch.Tensor) -> torch.Tensor:
        """Stages 1-4 on an (already size-padded) latent -> channels-last context `(B, T5, H5, W5, C)`."""
        return self.last_stage(self.features(latent))

    def predict(self, context: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """One stage-5 evaluation: the model's prediction (v or x0) in pixel space `(B, 3, F, H, W)`."""
        x = self.conv_in_x_t(patchify(x_t, self.cfg.patch_size).permute(0, 2, 3, 4, 1))
        modulation = self.shared_adaln(self.t_embedder(self.cfg.timestep_scale_multiplier * t, x.dtype))
        for block in self.diff_blocks:
            x = block(x, context, modulation)
        x = self.conv_out(self.norm_out(x)).permute(0, 4, 1, 2, 3).contiguous()
        return unpatchify(x, self.cfg.patch_size)

    def _euler(self, x_t: torch.Tensor, out: torch.Tensor, t: torch.Tensor, t_next: torch.Tensor) -> torch.Tensor:
        shape = (-1, *([1] * (x_t.ndim - 1)))
        x32 = x_t.float()
        v = out.float() if self.cfg.model_output_type == "v" else (x32 - out.float()) / t.view(shape)
        return (x32 - (t - t_next).view(shape).float() * v).to(x_t.dtype)

    # --- decode --------------------------------------------------------------------------------
    @torch.no_grad()
    def decode(self, latent: torch.Tensor, *, generator: torch.Generator | None = None,
               noise: torch.Tensor | None = None, steps: int | None = None,
               trace: DecodeTrace | None = None) -> torch.Tensor:
        """Untiled decode. x_T is `noise` (on `canvas_shape`) or drawn from `generator` in the latent's dtype
        on the generator's device (the reference's order: one `randn` of the whole canvas)."""
        p = self.pad(latent)
        noise = self.canvas_noise(p.canvas, latent, generator, noise)
        context = self.context(p.latent)
        # stage-5 canvas: the context grid x patch; frames at least the kernel's (padded like the latent)
        x_t = self.stage5_noise(noise.to(latent.device, latent.dtype), context)
        x_t = self.denoise(context, x_t, steps or self.cfg.num_inference_steps, trace)
        x_t, _ = _resize(x_t, 2, p.canvas[2], "repeat_last")  # the canvas (crop_pixels_to_content, tile = canvas)
        return p.crop(x_t)

    def pad(self, latent: torch.Tensor) -> PaddedLatent:
        """The latent edge-padded to `min_latent_grid` (time: repeat last; space: symmetric), with its canvas."""
        cfg = self.cfg
        sh, sw = cfg.space_scale
        _, _, f, h, w = latent.shape
        mt, mh, mw = cfg.min_latent_grid()
        x, _ = _resize(latent, 2, max(f, mt), "repeat_last")
        x, h_before = _resize(x, 3, max(h, mh), "symmetric")
        x, w_before = _resize(x, 4, max(w, mw), "symmetric")
        return PaddedLatent(x, (cfg.time_scale * (f - 1) + 1, h * sh, w * sw), h_before * sh, w_before * sw,
                            cfg.canvas_shape(tuple(latent.shape)))

    @staticmethod
    def canvas_noise(canvas: tuple[int, ...], latent: torch.Tensor, generator: torch.Generator | None,
                     noise: torch.Tensor | None) -> torch.Tensor:
        """`noise` checked against the canvas, or one `randn` of the whole canvas in the latent's dtype on the
        generator's device (the reference's draw, the same whether the decode is tiled or not)."""
        if noise is None:
            device = generator.device if generator is not None else latent.device
            return torch.randn(canvas, generator=generator, dtype=latent.dtype, device=device)
        if tuple(noise.shape) != canvas:
            raise ValueError(f"decoder noise must be {canvas}, got {tuple(noise.shape)}")
        return noise

    def stage5_noise(self, noise: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        """x_T for a context: `noise` (cut from the canvas) edge-padded like the latent to the context grid."""
        p = self.cfg.patch_size
        x_t, _ = _resize(noise, 2, context.shape[1], "repeat_last")
        x_t, _ = _resize(x_t, 3, context.shape[2] * p, "symmetric")
        x_t, _ = _resize(x_t, 4, context.shape[3] * p, "symmetric")
        return x_t

    def denoise(self, context: torch.Tensor, x_t: torch.Tensor, steps: int,
                trace: DecodeTrace | None = None) -> torch.Tensor:
        """Stage 5's Euler loop from x_T at t = 1 over `steps` uniform steps (one x0 step returns the prediction)."""
        b = context.shape[0]
        timesteps = torch.linspace(1.0, 1.0 / steps, steps, device=context.device)
        single_x0 = steps == 1 and self.cfg.model_output_type == "x0"
        if trace is not None:
            trace.timesteps = timesteps.detach().cpu()
        for i in range(steps):
            t = timesteps[i].expand(b)
            out = self.predict(context, x_t, t)
            if trace is not None:
                trace.predictions.append(out.detach().float().cpu())
            if single_x0:
                return out
            t_next = timesteps[i + 1].expand(b) if i + 1 < steps else torch.zeros_like(t)
            x_t = self._euler(x_t, out, t, t_next)
        return x_t

    @torch.no_grad()
    def decode_tiled(self, latent: torch.Tensor, tiling: TilingConfig, *, generator: torch.Generator | None = None,
                     noise: torch.Tensor | None = None, steps: int | None = None,
                     store: torch.device | None = None) -> Iterator[torch.Tensor]:
        """Tiled decode (`models.diffusion_tiling`): pixel chunks in frame order, the same x_T canvas as `decode`."""
        from model_runtime.models.diffusion_tiling import tiled_decode

        yield from tiled_decode(self, latent, tiling, generator=generator, noise=noise, steps=steps, store=store)

    def forward(self, latent: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return self.decode(latent, generator=generator)


def fold_gates(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """`state` in file dtypes: multiply each block's Linear by its static gate in float32, round back to the
    file's dtype (ltx-core 1.2.0's load-time fold), and set the gate buffers to ones."""
    out = dict(state)
    for key, gate in state.items():
        block, _, name = key.rpartition(".")
        if name not in GATES:
            continue
        g = gate.to(torch.float32)
        for target in GATE_TARGETS[name]:
            tk = f"{block}.{target}"
            if tk in out:
                t = out[tk]
                folded = (g.unsqueeze(1) if t.ndim == 2 else g) * t.to(torch.float32)
                out[tk] = folded.to(t.dtype)
        out[key] = torch.ones_like(gate)
    return out


def build_diffusion_decoder(section: dict) -> DiffusionVideoDecoder:
    if section.get("_class_name") not in (None, "CausalDiffusionVAE"):
        raise UnsupportedModelError(f"not a diffusion video VAE: {section.get('_class_name')!r}")
    return DiffusionVideoDecoder(DiffusionDecoderConfig.from_vae_section(section))


def _rename(key: str) -> str | None:
    if key.startswith(_STATS):
        return key
    return key[len(_DECODER):] if key.startswith(_DECODER) else None


def _unrename(key: str) -> str:
    return key if key.startswith(_STATS) else _DECODER + key


VIDEO_DIFFUSION_DECODER_SPEC = ComponentSpec(
    name="video_diffusion_decoder", prefix=PREFIX, build=build_diffusion_decoder, rename=_rename,
    unrename=_unrename, config_key="vae", prepare=fold_gates,
)
