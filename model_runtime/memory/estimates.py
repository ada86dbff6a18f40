"""Activation-memory and compute estimates per pipeline stage, from token counts and layer widths.

Every figure is bytes for batch 1 (guidance passes run one after another, never batched). The model and
its constants:

* Tokens. Video latents are 32x smaller in space and 8x in time: F' = (F - 1) / 8 + 1, H' = H / 32,
  W' = W / 32, video tokens = F' * H' * W'. Audio has 25 latent tokens per second. A two-stage render
  runs stage 1 at half width and height (a quarter of the tokens), then x2 latent upsampling and stage 2.
* Transformer (`transformer_bytes`). Attention is SDPA with the flash / memory-efficient kernels, so no
  N x N score matrix exists: activation memory is linear in tokens. The peak of a block is the larger of
  two phases. Attention phase: `ATTN_ACT` D-wide tensors per token in the activation dtype (residual
  stream, normed and modulated copies, q/k/v, attention output, the RoPE tables, the A<->V projections)
  plus `ATTN_F32` in float32 (the split RoPE upcasts q and k). FFN phase: `FFN_ACT` + `FFN_F32` likewise
  plus the FFN's projection and GELU outputs (2 x FFN width per token, or per chunk when the FFN runs in
  token chunks). With per-token timesteps every token also carries its AdaLN rows and their per-block
  copy: (2 x mod_rows + 1) x D more. Audio tokens count the same way with the audio widths.
  The constants were fitted to `measure.PeakTracker` readings of diffusers' `LTX2VideoTransformer3DModel`
  (LTX-2.3 options, the real head-dim and FFN ratios) on CPU in bfloat16 and float32: per token and per
  D, bf16 17.8 elements plain / 14.3 with chunked FFN, fp32 16.65 / 11.4; per-token timesteps add 19.0
  in all four cases. The tests re-measure a different width against these predictions.
  Lean path (`attn_chunk_tokens`: chunked attention with on-demand RoPE and the lean block forward, see
  `attention.py` / `lean_block.py`): the attention phase holds `LEAN_ATTN` widths per token (residual,
  the modulated input the output overwrites, K, V) plus, per chunk token, `LEAN_CHUNK_F32` float32 widths
  (RMSNorm upcast, RoPE rotation, softmax temporaries); the FFN phase only the residual plus one chunk's
  FFN. Fitted on the same measurements (width 256, bf16 and fp32, chunks 32-128: 3.6 / 4.5 in both, rounded up to 3.8, with
  the text and audio terms below added).
* Video VAE decode (`vae_decode_bytes`). For each decoder stage at its resolution: a residual stage
  holds `RES_MULT` tensors of its width (input kept for the skip, norm/activation output, conv output,
  the conv's padded input, its second temporary: fitted, 5 measured on a generated decoder); an
  upsampling stage holds its input, its conv output (C x t x s x s wider)
  and the depth-to-space copy. The peak is the largest stage; temporal upsampling maps F -> 2F - 1.
  Tiled decoding bounds the voxels per stage by the tile plus its halo.
* Vocoder: `VOC_MULT` float32 tensors of (channels x samples) at its widest stage (SnakeBeta runs
  anti-aliased at twice the rate; the AMP resblock keeps its input and two temporaries).
* Text encoder: Gemma keeps all L + 1 hidden states (the feature extractor stacks them), the MLP holds
  3 tensors of the MLP width, the masked attention (SDPA math path) holds heads x T x T float32 scores;
  the feature extractor holds the stacked states twice in float32.
* Compute time: 2 FLOPs per parameter per token for linear layers plus 4 x N^2 x D per layer for video
  self-attention, at the machine's effective TFLOPS; VAE: 2 x 27 x C_in x C_out per output voxel.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from model_runtime.memory.layout import ModelLayout, TextEncoderDims, TransformerDims

ATTN_ACT, ATTN_F32 = 8.53, 2.87  # attention phase: D-wide tensors in the activation dtype / in float32
FFN_ACT, FFN_F32 = 7.5, 1.15  # FFN phase, besides the FFN's own two hidden-width tensors
LEAN_ATTN, LEAN_CHUNK_F32 = 3.8, 4.5  # lean path: widths per token / float32 widths per chunk token
RES_MULT = 5.0
VOC_MULT = 6.0
AUDIO_TOKENS_PER_S = 25
SPATIAL, TEMPORAL = 32, 8


@dataclass(frozen=True)
class LatentShape:
    """Latent grid of one stage: video F' x H' x W' and the audio token count."""

    frames: int
    height: int
    width: int
    audio_tokens: int
    guide_frames: int = 0  # keyframe guide tokens appended after the grid: one latent frame each

    @property
    def video_tokens(self) -> int:
        """Tokens the transformer sees: the grid plus the appended keyframe guides."""
        return (self.frames + self.guide_frames) * self.height * self.width

    @classmethod
    def for_pixels(cls, width: int, height: int, frames: int, fps: float, guide_frames: int = 0) -> LatentShape:
        return cls((frames - 1) // TEMPORAL + 1, max(1, height // SPATIAL), max(1, width // SPATIAL),
                   round(frames / fps * AUDIO_TOKENS_PER_S), guide_frames)

    def halved(self) -> LatentShape:
        """Stage-1 grid of a two-stage render (half width and height, same frames, guides and audio)."""
        return LatentShape(self.frames, max(1, self.height // 2), max(1, self.width // 2), self.audio_tokens,
                           self.guide_frames)


@dataclass(frozen=True)
class TileSpec:
    """A decode tile in latent units: frames x height x width cells plus a halo of overlap on each side."""

    frames: int
    size: int
    halo: int = 2
    halo_frames: int = 1

    def label(self) -> str:
        return f"{self.size * SPATIAL}px x {(self.frames - 1) * TEMPORAL + 1}f tiles"

    def tiling(self):
        """The diffusion decoder's `TilingConfig` for this tile; overlaps 0 = its minimum (`TileGrid.fit`)."""
        from model_runtime.models.tiling_config import TilingConfig

        return TilingConfig(self.size * SPATIAL, 0, self.frames * TEMPORAL, 0)


def transformer_bytes(dims: TransformerDims, shape: LatentShape, act_bytes: int, *, text_tokens: int = 1024,
                      per_token_timestep: bool = False, ffn_chunk_tokens: int | None = None,
                      attn_chunk_tokens: int | None = None) -> int:
    """Peak activation bytes of one transformer forward: the larger of the attention phase and the FFN
    phase of a block, per modality (see the module docstring for the model and where the numbers come from).
    `attn_chunk_tokens` selects the lean path (which chunks the FFN by the same count)."""
    def per_modality(tokens: int, dim: int, ffn: int) -> float:
        mod = tokens * (2 * dims.mod_rows + 1) * dim * act_bytes if per_token_timestep else 0
        if attn_chunk_tokens:
            chunk = min(tokens, attn_chunk_tokens)
            attn = tokens * dim * LEAN_ATTN * act_bytes + chunk * dim * LEAN_CHUNK_F32 * 4
            ffn_phase = tokens * dim * act_bytes + chunk * (2 * ffn * act_bytes + dim * LEAN_CHUNK_F32 * 4)
            return max(attn, ffn_phase) + mod
        attn = tokens * dim * (ATTN_ACT * act_bytes + ATTN_F32 * 4)
        ffn_tokens = tokens if ffn_chunk_tokens is None else min(tokens, ffn_chunk_tokens)
        ffn_phase = tokens * dim * (FFN_ACT * act_bytes + FFN_F32 * 4) + ffn_tokens * 2 * ffn * act_bytes
        return max(attn, ffn_phase) + mod

    video = per_modality(shape.video_tokens, dims.video_dim, dims.video_ffn)
    audio = per_modality(shape.audio_tokens, dims.audio_dim, dims.audio_ffn)
    text = 4 * text_tokens * (dims.video_dim + dims.audio_dim) * act_bytes  # contexts + their K/V
    return int(video + audio + text)


def transformer_flops(layout: ModelLayout, shape: LatentShape) -> float:
    linear = sum(b.linear_params for b in layout.blocks) + layout.transformer_non_block.linear_params
    d = layout.transformer_dims
    n = shape.video_tokens
    return 2.0 * linear * n + 4.0 * n * n * d.video_dim * d.num_layers


def _decoder_peak_elems(layout: ModelLayout, frames: int, height: int, width: int) -> float:
    f, h, w = frames, height, width
    peak, prev = 0.0, layout.decoder[0].channels
    for st in layout.decoder:
        vox = f * h * w
        if st.up is None:
            peak = max(peak, RES_MULT * st.channels * vox)
        else:
            t, s = st.up
            peak = max(peak, vox * (prev + 2 * st.conv_out))
            f, h, w = (2 * f - 1 if t == 2 else f), h * s, w * s
        prev = st.channels
    pixels = 3 * f * h * w * layout.decoder_patch ** 2
    return max(peak, 2.0 * pixels)


def vae_decode_bytes(layout: ModelLayout, shape: LatentShape, act_bytes: int, tile: TileSpec | None = None) -> int:
    if tile is None:
        return int(_decoder_peak_elems(layout, shape.frames, shape.height, shape.width) * act_bytes)
    f = min(shape.frames, tile.frames + 2 * tile.halo_frames)
    s_h = min(shape.height, tile.size + 2 * tile.halo)
    s_w = min(shape.width, tile.size + 2 * tile.halo)
    return int(_decoder_peak_elems(layout, f, s_h, s_w) * act_bytes)


def vae_decode_flops(layout: ModelLayout, shape: LatentShape, tile: TileSpec | None = None) -> float:
    f, h, w = shape.frames, shape.height, shape.width
    total, prev = 0.0, layout.decoder[0].channels
    for st in layout.decoder:
        vox = f * h * w
        if st.up is None:
            total += 2 * 27 * 2 * st.channels * st.channels * vox  # ~two convs per residual stage
        else:
            t, s = st.up
            total += 2 * 27 * st.conv_out * prev * vox
            f, h, w = (2 * f - 1 if t == 2 else f), h * s, w * s
        prev = st.channels
    return total * _conv_tile_growth(tile)  # each tile recomputes its halo


#: live activations per token of a diffusion-decoder block, in units of its width: x, the modulated input,
#: q, k, v, the attention output and the context slice (the SwiGLU runs in 16384-token tiles, so its 4x
#: hidden width is per tile, not per token). An estimate from the block's dataflow, not a measurement.
DIFF_BLOCK_LIVE = 7


@dataclass(frozen=True)
class DiffusionStage:
    """One attention stage of LTX-2.5's diffusion decoder as the runtime runs it: its token grid (T, H, W),
    width, window and depth (stage 5: blocks x inference steps); stage 5's attention runs on `slabs` W slabs
    with halos (`DiffusionBlock`, `w_slabs`)."""

    grid: tuple[int, int, int]
    width: int
    kernel: tuple[int, int, int]
    depth: int
    slabs: int = 0

    @property
    def tokens(self) -> int:
        return math.prod(self.grid)

    def _slab_grid(self) -> tuple[tuple[int, int, int], int]:
        from model_runtime.models.diffusion_decoder_config import STAGE5_W_CHUNKS

        if not self.slabs:
            return self.grid, 1
        t, h, w = self.grid
        return (t, h, -(-w // STAGE5_W_CHUNKS) + 2 * (self.kernel[2] // 2)), self.slabs

    @property
    def attention_tokens(self) -> int:
        """Tokens through the attention's projections (the slabs' halos counted)."""
        grid, n = self._slab_grid()
        return math.prod(grid) * n

    @property
    def score_pairs(self) -> int:
        """(query, key) pairs the batched neighbourhood attention scores (`na_score_pairs`)."""
        from model_runtime.models.diffusion_decoder_config import na_score_pairs

        grid, n = self._slab_grid()
        return na_score_pairs(grid, self.kernel) * n


def diffusion_stages(cfg: Mapping, shape: LatentShape) -> list[DiffusionStage]:
    """Every attention stage for a latent: the latent padded to the minimum grid plus the trailing ghost
    frames through stages 1-4; stage 5 on the context with the ghost frames cropped (at least the stage-5
    kernel's frames), as `DiffusionVideoDecoder.last_stage` does."""
    c = _diffusion_config(cfg)
    mt, mh, mw = c.min_latent_grid()
    t, h, w = max(shape.frames, mt) + c.trailing_pad_frames, max(shape.height, mh), max(shape.width, mw)
    out = []
    for i, (stride, _) in enumerate(c.upsamples):
        out.append(DiffusionStage((t, h, w), c.stage_channels[i], c.stage_kernels[i], c.stage_depths[i]))
        t, h, w = (2 * t - 1 if stride[0] == 2 else t * stride[0]), h * stride[1], w * stride[2]
    if c.trailing_pad_frames:
        t = min(t, max(t - c.trailing_pad_frames * c.time_scale, 1, c.stage5_kernel[0]))
    from model_runtime.models.diffusion_decoder_config import STAGE5_W_CHUNKS, w_slabs

    slabs = len(w_slabs(w)) if STAGE5_W_CHUNKS > 1 else 0
    out.append(DiffusionStage((t, h, w), c.c5, c.stage5_kernel, c.stage_depths[-1] * c.num_inference_steps, slabs))
    return out


def _diffusion_grids(cfg: Mapping, shape: LatentShape) -> list[tuple[int, int, int]]:
    """(tokens, width, kernel volume) of every attention stage (`diffusion_stages`)."""
    return [(st.tokens, st.width, math.prod(st.kernel)) for st in diffusion_stages(cfg, shape)]


def diffusion_decode_bytes(cfg: Mapping, shape: LatentShape, act_bytes: int, tile: TileSpec | None = None) -> int:
    """Peak activations on the compute device of a diffusion decode: the largest stage's live tensors,
    stage 5 also holding the context and the pixel canvas (x_t and the prediction). Tiled
    (`models.diffusion_tiling`, a GPU decode): stages 1-3 on the whole volume, their output made in slabs
    straight into RAM, then one tile at a time through the last two stages (`diffusion_host_bytes`: RAM)."""
    grids = _diffusion_grids(cfg, shape)
    if tile is None:
        return _stage5_peak(grids[:-1], grids[-1], act_bytes)
    c, schedule = _diffusion_config(cfg), diffusion_schedule(cfg, shape, tile)
    early = max(tokens * width * DIFF_BLOCK_LIVE for tokens, width, _ in grids[:-2]) * act_bytes
    ghost = c.trailing_pad_frames * math.prod(st[0] for st, _ in c.upsamples[:-1])  # the end tile carries them
    tt, th, tw = schedule.largest_tile()
    stride = c.upsamples[-1][0]
    tile4 = ((tt + ghost) * th * tw, grids[-2][1], 0)
    tile5 = (tt * stride[0] * th * stride[1] * tw * stride[2], c.c5, 0)
    return int(max(early, _stage5_peak([tile4], tile5, act_bytes)))


def diffusion_host_bytes(cfg: Mapping, shape: LatentShape, act_bytes: int, tile: TileSpec | None) -> int:
    """RAM a tiled diffusion decode adds (0 untiled): the stage-4 input features of the whole clip and the
    full-frame blend buffers (sum and weights, two temporal slices alive)."""
    if tile is None:
        return 0
    from model_runtime.models.diffusion_tiling import TileGrid

    c, schedule = _diffusion_config(cfg), diffusion_schedule(cfg, shape, tile)
    tokens4, width4, _ = _diffusion_grids(cfg, shape)[-2]  # ghost frames included
    scale = TileGrid.of(c).scale
    tt = schedule.largest_tile()[0]
    accum = 4 * 3 * tt * scale[0] * schedule.grid[1] * scale[1] * schedule.grid[2] * scale[2] * act_bytes
    return int(tokens4 * width4 * act_bytes + accum)


def _diffusion_config(cfg: Mapping):
    from model_runtime.models.diffusion_decoder_config import DiffusionDecoderConfig

    return DiffusionDecoderConfig.from_vae_section(cfg)


def diffusion_schedule(cfg: Mapping, shape: LatentShape, tile: TileSpec):
    """The diffusion decoder's own tiles for a planner `tile` (`models.diffusion_tiling.TileSchedule`)."""
    from model_runtime.models.diffusion_tiling import TileSchedule

    return TileSchedule.plan(_diffusion_config(cfg), (shape.frames, shape.height, shape.width), tile.tiling())


def _stage5_peak(before: list[tuple[int, int, int]], stage5: tuple[int, int, int], act_bytes: int) -> int:
    peak = max(tokens * width * DIFF_BLOCK_LIVE for tokens, width, _ in (*before, stage5))
    tokens5, width5, _ = stage5
    pixels = 2 * 3 * 16 * tokens5  # x_t + prediction, 3 channels x patch 4x4 per stage-5 token (float32: x2)
    return int(peak * act_bytes + tokens5 * width5 * act_bytes + pixels * 4)


def diffusion_decode_flops(cfg: Mapping, shape: LatentShape, tile: TileSpec | None = None) -> float:
    """Matmul FLOPs of a diffusion decode as the runtime computes it (2 per multiply-add; what
    `torch.utils.flop_counter` counts, see tests/runtime/test_diffusion_cost.py). Per block and token: the
    fused qkv and the output projection (4 w^2) and the SwiGLU (3 w x hidden); stage 5 also its context
    projection, on the W slabs with their halos for the attention's projections. Attention: 4 w per scored
    (query, key) pair, and the runtime scores each tile's whole key block, 1.3-2.7x the window
    (`na_score_pairs`). Plus the pixel-shuffle upsamples, the input / output projections, and the timestep
    MLP per step. Tiled, the last two stages redo their overlaps (`TileSchedule.recompute`)."""
    c = _diffusion_config(cfg)
    redo = 1.0 if tile is None else diffusion_schedule(cfg, shape, tile).recompute()
    stages = diffusion_stages(cfg, shape)
    pixel = c.out_channels * c.patch_size**2
    total = 2.0 * stages[0].tokens * c.in_channels * c.stage_channels[0]  # conv_in
    for i, st in enumerate(stages):
        w, n = st.width, st.tokens
        hidden = (int(w * 4.0) + 15) // 16 * 16  # diffusers' _swiglu_hidden_dim(w, 4.0)
        attn_tokens, pairs = st.attention_tokens, st.score_pairs
        if i < len(stages) - 1:
            (stride, red) = c.upsamples[i]
            extra = 2.0 * n * w * math.prod(stride) * w // red / st.depth  # the upsample, once per stage
        else:
            per_step = (2.0 * n * pixel * c.c5 * 2  # conv_in_x_t and conv_out
                        + 2.0 * (256 * c.t_emb_dim + c.t_emb_dim**2 + 7 * c.t_emb_dim * c.c5))  # t MLP, AdaLN
            extra = 2.0 * n * c.stage_channels[-1] * w + per_step / c.stage_depths[-1]  # context_proj per block
        per_block = 2.0 * attn_tokens * 4 * w * w + 2.0 * n * 3 * w * hidden + 4.0 * pairs * w + extra
        total += per_block * st.depth * (redo if i >= len(stages) - 2 else 1.0)
    return total


#: Memory traffic of the decoders, which the FLOPs miss: the diffusion decoder does about as many FLOPs as the
#: conv decoder but at narrow widths, through many elementwise ops (norms, RoPE, modulation, SwiGLU gating, the
#: attention's gathered key blocks and window masks), while the conv decoder's work sits in wide convolutions.
#: Bytes written in activation-sized elements, counted per op (every aten op's non-view outputs, a
#: TorchDispatchMode; float32 run, bool / index tensors by their bytes) on the tiny 2.5
#: decoders at 160x96x17, 256x128x25 and 512x256x49 px: the conv decoder writes 20.3-20.7 elements per channel
#: x voxel of each layout stage; a diffusion block, besides its attention's mask (one element per scored pair)
#: and gathered K/V (2 x width per key-block position), counted exactly, writes per width 24.1 elements per
#: token through the attention's projections (stage 5: the W slabs with their halos) and 85.4 per token for
#: the rest (least squares on those three shapes, residuals <= 0.44%). tests/runtime/test_diffusion_cost.py
#: re-counts both at shapes not fitted. Each written element is read back about once: traffic = 2 x writes.
CONV_WRITES_PER_CHANNEL = 20.5
DIFF_WRITES_ATTN, DIFF_WRITES_REST = 24.1, 85.4


def vae_decode_writes(layout: ModelLayout, shape: LatentShape, tile: TileSpec | None = None) -> float:
    """Elements the conv decoder writes (see `CONV_WRITES_PER_CHANNEL`)."""
    f, h, w = shape.frames, shape.height, shape.width
    total = 0.0
    for st in layout.decoder:
        total += CONV_WRITES_PER_CHANNEL * st.channels * f * h * w
        if st.up is not None:
            t, s = st.up
            f, h, w = (2 * f - 1 if t == 2 else f), h * s, w * s
    return total * _conv_tile_growth(tile)


def _conv_tile_growth(tile: TileSpec | None) -> float:
    """Work a tiled conv decode redoes for its halos (a factor, at most 4)."""
    if tile is None:
        return 1.0
    grow = ((tile.size + 2 * tile.halo) / tile.size) ** 2 * (tile.frames + 2 * tile.halo_frames) / tile.frames
    return min(grow, 4.0)


def diffusion_decode_writes(cfg: Mapping, shape: LatentShape, tile: TileSpec | None = None) -> float:
    """Elements the diffusion decoder writes (see `DIFF_WRITES_ATTN`)."""
    from model_runtime.models.diffusion_decoder_config import NA_TILE

    redo = 1.0 if tile is None else diffusion_schedule(cfg, shape, tile).recompute()
    stages = diffusion_stages(cfg, shape)
    total = 0.0
    for i, st in enumerate(stages):
        attention = st.score_pairs * (1 + 2 * st.width / math.prod(NA_TILE))
        per_width = DIFF_WRITES_ATTN * st.attention_tokens + DIFF_WRITES_REST * st.tokens
        total += (per_width * st.width + attention) * st.depth * (
            redo if i >= len(stages) - 2 else 1.0)
    return total


def conv_decode_seconds(layout: ModelLayout, shape: LatentShape, tile: TileSpec | None, act_bytes: int,
                        flops_per_s: float, bytes_per_s: float) -> float:
    """The conv decoder's time: its FLOPs at the device's throughput plus its traffic (each written element
    read back once) at the device's memory bandwidth."""
    writes = vae_decode_writes(layout, shape, tile)
    return vae_decode_flops(layout, shape, tile) / flops_per_s + 2 * writes * act_bytes / bytes_per_s


def diffusion_decode_seconds(cfg: Mapping, shape: LatentShape, tile: TileSpec | None, act_bytes: int,
                             flops_per_s: float, bytes_per_s: float) -> float:
    """The diffusion decoder's time, modelled like `conv_decode_seconds`."""
    writes = diffusion_decode_writes(cfg, shape, tile)
    return diffusion_decode_flops(cfg, shape, tile) / flops_per_s + 2 * writes * act_bytes / bytes_per_s


def vocoder_bytes(layout: ModelLayout, seconds: float) -> int:
    widest = max((c * per_s for c, per_s in layout.vocoder_widths), default=0)
    return int(VOC_MULT * widest * seconds * 4 * 2)  # x2: stereo


def text_encoder_bytes(te: TextEncoderDims, tokens: int, act_bytes: int) -> int:
    hidden_states = (te.layers + 1) * tokens * te.hidden * act_bytes
    mlp = 3 * tokens * te.mlp * act_bytes
    scores = te.heads * tokens * tokens * 4
    features = 2 * (te.layers + 1) * tokens * te.hidden * 4
    return hidden_states + max(mlp + scores, features)


def text_encoder_flops(te: TextEncoderDims, tokens: int) -> float:
    return 2.0 * te.layers * te.layer_params * tokens + 4.0 * te.layers * tokens * tokens * te.heads * te.head_dim


def upsampler_bytes(layout: ModelLayout, shape: LatentShape, act_bytes: int) -> int:
    """The x2 latent upsampler works at `mid_channels` on the stage-1 grid, then on the doubled grid."""
    mid = layout.upsampler_mid
    return int(4 * mid * shape.frames * shape.height * shape.width * 4 * act_bytes)  # the grid, no guides


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def tiles_needed(shape: LatentShape, tile: TileSpec | None) -> int:
    if tile is None:
        return 1
    return (ceil_div(shape.frames, tile.frames) * ceil_div(shape.height, tile.size)
            * ceil_div(shape.width, tile.size))


def gb(nbytes: float) -> float:
    """Bytes -> GB (10^9, the unit GPU vendors print on the box)."""
    return round(nbytes / 1e9, 2)

