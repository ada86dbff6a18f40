"""Per-stage VRAM / RAM / time predictions for one strategy (the arithmetic behind `planner.evaluate`).

Which component is where in each stage (GPU = counted in VRAM, RAM = held in host memory):

| stage         | on the GPU                                   | in RAM                                        |
|---------------|----------------------------------------------|-----------------------------------------------|
| text encoding | Gemma (per placement), then projection +     | Gemma if streamed / on CPU; cached components |
|               | connectors (one after the other)             |                                               |
| stage 1 / 2   | transformer (resident, or a few blocks)      | the transformer's store if streamed; cache     |
| upsample      | upsampler (+ transformer if resident)        | as stage 1                                    |
| VAE decode    | VAE decoder + one tile's activations         | transformer if cached/streamed; output frames |
| audio decode  | audio VAE decoder + vocoder (float32)        | as VAE decode                                 |

Fixed overheads: `VRAM_BASE` for the CUDA context and cuBLAS/cuDNN workspaces, `RAM_BASE` for Python,
torch, the CUDA runtime and the app. Output frames are kept as uint8 on the host (tiles are converted as
they come off the decoder). Activations are bfloat16 on the GPU, audio decoding float32.
"""

from __future__ import annotations

from dataclasses import dataclass

from model_runtime.memory import estimates as est
from model_runtime.memory.estimates import LatentShape, TileSpec, gb
from model_runtime.memory.layout import ModelLayout, TensorStats
from model_runtime.memory.plan import (
    GB,
    Cache,
    Machine,
    Placement,
    RequestShape,
    StagePrediction,
    Strategy,
    TextPlacement,
    Weights,
)

VRAM_BASE = int(0.6 * GB)
RAM_BASE = int(3.0 * GB)
ACT = 2  # bf16 activations
FP8_UPCAST_OVERHEAD = 1.03  # per-layer upcast of fp8 weights: an extra pass over each weight (assumed)
STREAM_OVERHEAD = 1.05  # copies share memory bandwidth with compute, plus a sync per block (assumed;
#                         benchmarks/gpu_plan.py measures both on a real card)
LEAN_OVERHEAD = 1.03  # chunked attention: more, smaller kernels and RoPE recomputed per block (assumed)
TILE_CANDIDATES = (None, (16, 32), (16, 24), (8, 16), (8, 12), (4, 8), (2, 6), (2, 4))


def _largest_linear(layout: ModelLayout) -> int:
    d = layout.transformer_dims
    return max(d.video_ffn * d.video_dim, d.audio_ffn * d.audio_dim)


class _Sizes:
    """Bytes of each component in the strategy's storage format, where it lives, and how long loads take."""

    def __init__(self, layout: ModelLayout, machine: Machine, s: Strategy) -> None:
        fmt = s.weights.value
        c = layout.components
        self.t_store = c["transformer"].bytes_as(fmt)
        upcast = 2 * 2 * _largest_linear(layout) if s.weights is Weights.FP8 else 0
        if s.placement is Placement.STREAM:
            block = max(b.bytes_as(fmt) for b in layout.blocks)
            self.t_vram = layout.transformer_non_block.bytes_as(fmt) + s.blocks_in_flight * block + upcast
        else:
            self.t_vram = self.t_store + upcast
        self.proj = (c["connectors"] + c["text_projection"]).bytes_as(fmt)
        self.ups = c["upsampler"].bytes_as("bf16")
        self.vae = c["video_vae_decoder"].bytes_as("bf16")
        if "video_diffusion_decoder" in c:
            self.diff_vae = c["video_diffusion_decoder"].bytes_as("bf16")
        self.audio = c["audio_decoder"].bytes_as("fp32")
        te: TensorStats = c["text_encoder"]
        te_fmt = "bf16" if s.text_encoder in (TextPlacement.GPU, TextPlacement.CPU) else "fp8"
        self.te_store = te.bytes_as(te_fmt)
        layer = te.bytes_as(te_fmt) // max(1, layout.text_encoder.layers)
        self.te_vram = {TextPlacement.GPU: self.te_store, TextPlacement.GPU_FP8: self.te_store,
                        TextPlacement.STREAM: 2 * layer + 2 * 2 * layout.text_encoder.hidden * layout.text_encoder.mlp,
                        TextPlacement.CPU: 0}[s.text_encoder]
        self.te_ram = self.te_store if s.text_encoder in (TextPlacement.STREAM, TextPlacement.CPU) else 0
        self.disk = machine.disk_gbps * GB
        self.link = machine.profile.link_gbps * GB

    def cached_others(self, s: Strategy, *, on_gpu: set[str]) -> int:
        """RAM held by cached components that are not on the GPU in this stage."""
        if s.cache is Cache.NONE:
            return 0
        parts = {"proj": self.proj, "ups": self.ups, "vae": self.vae, "audio": self.audio}
        if s.placement is Placement.RESIDENT:
            parts["transformer"] = self.t_store
        if s.cache is Cache.ALL:
            parts["te"] = self.te_store
        return sum(v for k, v in parts.items() if k not in on_gpu)


def _text_stage(layout: ModelLayout, req: RequestShape, m: Machine, s: Strategy, z: _Sizes) -> StagePrediction:
    te = layout.text_encoder
    act = est.text_encoder_bytes(te, req.text_tokens, ACT)
    on_cpu = s.text_encoder is TextPlacement.CPU
    vram = VRAM_BASE + max(z.te_vram + (0 if on_cpu else act), z.proj + 64 * req.text_tokens * te.hidden)
    ram = RAM_BASE + z.te_ram + (act if on_cpu else 0) + z.cached_others(s, on_gpu={"proj", "te"})
    if s.placement is Placement.STREAM and s.cache is not Cache.NONE:
        ram += z.t_store
    flops = est.text_encoder_flops(te, req.text_tokens) * req.prompts
    secs = flops / ((m.profile.host_tflops if on_cpu else m.profile.tflops) * 1e12)
    if s.text_encoder is TextPlacement.STREAM:
        secs = max(secs, req.prompts * z.te_store / z.link)
    if s.cache is not Cache.ALL:
        secs += z.te_store / z.disk  # re-read every job
    return StagePrediction("text encoding", int(vram), int(ram), secs, s.text_encoder.value)


def _denoise_stage(name: str, layout: ModelLayout, shape: LatentShape, steps: int, req: RequestShape,
                   m: Machine, s: Strategy, z: _Sizes, extra_vram: int = 0) -> StagePrediction:
    act = est.transformer_bytes(layout.transformer_dims, shape, ACT, text_tokens=req.text_tokens,
                                per_token_timestep=req.per_token_timestep, ffn_chunk_tokens=s.ffn_chunk_tokens,
                                attn_chunk_tokens=s.attn_chunk_tokens)
    vram = VRAM_BASE + z.t_vram + act + extra_vram
    streamed = s.placement is Placement.STREAM
    ram = RAM_BASE + (z.t_store if streamed else 0) + z.cached_others(s, on_gpu={"ups"} if extra_vram else set())
    lora_vram, lora_ram = _lora_bytes(layout, req)
    vram, ram = vram + lora_vram, ram + lora_ram
    forwards = steps * req.passes_per_step
    compute = est.transformer_flops(layout, shape) / (m.profile.tflops * 1e12)
    if s.weights is Weights.FP8:
        compute *= FP8_UPCAST_OVERHEAD
    if s.ffn_chunk_tokens:
        compute *= 1.01
    if s.attn_chunk_tokens:
        compute *= LEAN_OVERHEAD
    per_forward = max(compute * STREAM_OVERHEAD, z.t_store / z.link) if streamed else compute
    detail = f"{shape.video_tokens} video + {shape.audio_tokens} audio tokens, {forwards} forwards"
    return StagePrediction(name, int(vram), int(ram), forwards * per_forward, detail)


def _lora_bytes(layout: ModelLayout, req: RequestShape) -> tuple[int, int]:
    """(VRAM, RAM) the LoRAs add to a denoising stage under loras/apply.py's clean-copy policy: no copy of
    the base weights either way; live holds the factors on the device plus one Linear's float32 delta and
    merged weight while it runs; fused holds one float32 merge buffer on the host while (re)fusing."""
    if not req.lora_factor_bytes:
        return 0, 0
    transient = 2 * 4 * _largest_linear(layout)
    return (req.lora_factor_bytes + transient, 0) if req.lora_mode == "live" else (0, transient)


def _decode_stages(layout: ModelLayout, req: RequestShape, m: Machine, s: Strategy, z: _Sizes,
                   full: LatentShape) -> tuple[tuple[StagePrediction, StagePrediction], TileSpec | None]:
    frames_bytes = 3 * req.width * req.height * req.frames
    transformer_ram = z.t_store if s.cache is not Cache.NONE else 0
    ram = RAM_BASE + transformer_ram + frames_bytes + z.cached_others(s, on_gpu={"vae", "audio", "transformer"})
    voc = est.vocoder_bytes(layout, req.seconds)
    audio = StagePrediction("audio decode", int(VRAM_BASE + z.audio + voc), int(ram), 0.05 * req.seconds,
                            "audio VAE + vocoder, float32")
    fallback = ""
    if req.decoder_for(layout.diffusion_decoder is not None) == "diffusion":
        sharp = _diffusion_decode(layout, full, m, z, int(ram))
        if req.decoder != "auto" or sharp.prediction.vram_bytes <= m.vram_budget or not layout.decoder:
            return (sharp.prediction, audio), sharp.tile
        # "auto": when not even the sharp decoder's smallest tile fits, the fast one is the plan
        fallback = f" (sharp decoder needs {gb(sharp.prediction.vram_bytes):.1f} GB in its smallest tiles)"
    budget = m.vram_budget - VRAM_BASE - z.vae
    chosen, best_secs = None, None
    for cand in TILE_CANDIDATES:
        tile = None if cand is None else TileSpec(cand[0], cand[1])
        if tile is not None and tile.size >= max(full.height, full.width) and tile.frames >= full.frames:
            continue
        need = est.vae_decode_bytes(layout, full, ACT, tile)
        secs = est.conv_decode_seconds(layout, full, tile, ACT, *_rates(m))
        if need <= budget and (best_secs is None or secs < best_secs):
            chosen, best_secs = (tile, need), secs
    if chosen is None:  # nothing fits: report the smallest tile, the fit check will flag the plan
        tile = TileSpec(*TILE_CANDIDATES[-1])
        chosen, best_secs = ((tile, est.vae_decode_bytes(layout, full, ACT, tile)),
                              est.conv_decode_seconds(layout, full, tile, ACT, *_rates(m)))
    tile, need = chosen
    detail = "untiled" if tile is None else f"{est.tiles_needed(full, tile)} x {tile.label()}"
    if layout.diffusion_decoder is not None:
        detail = "conv decoder (fast), " + detail + fallback
    vae = StagePrediction("VAE decode", int(VRAM_BASE + z.vae + need), int(ram), best_secs, detail)
    return (vae, audio), tile


def _rates(m: Machine) -> tuple[float, float]:
    """The device's matmul FLOP/s and memory bytes/s, for the decoders' time (`est.*_decode_seconds`)."""
    return m.profile.tflops * 1e12, m.profile.mem_gbps * 1e9


@dataclass(frozen=True)
class _Decode:
    prediction: StagePrediction
    tile: TileSpec | None


def _diffusion_decode(layout: ModelLayout, full: LatentShape, m: Machine, z: _Sizes, ram: int) -> _Decode:
    """The sharp decoder's stage: untiled when it fits, else the fastest tile that fits (on the GPU the
    larger of the whole-volume stages 1-3 and one tile; in RAM their features and the blend buffers),
    else the smallest tile (the fit check flags it)."""
    cfg = layout.diffusion_decoder
    options = []
    for cand in TILE_CANDIDATES:
        tile = None if cand is None else TileSpec(cand[0], cand[1])
        if tile is not None and tile.size >= max(full.height, full.width) and tile.frames >= full.frames:
            continue
        vram = VRAM_BASE + z.diff_vae + est.diffusion_decode_bytes(cfg, full, ACT, tile)
        host = ram + est.diffusion_host_bytes(cfg, full, ACT, tile)
        secs = est.diffusion_decode_seconds(cfg, full, tile, ACT, *_rates(m))
        options.append((tile, vram, host, secs))
    fitting = [o for o in options if o[1] <= m.vram_budget and o[2] <= m.ram_budget]
    tile, vram, ram, secs = min(fitting, key=lambda o: o[3]) if fitting else options[-1]
    detail = "diffusion decoder (sharp), untiled"
    if tile is not None:
        schedule = est.diffusion_schedule(cfg, full, tile)
        fitted = schedule.tiling
        detail = (f"diffusion decoder (sharp), {schedule.count} x {fitted.spatial_tile_px}px x "
                  f"{fitted.temporal_tile_frames}f tiles")
    return _Decode(StagePrediction("VAE decode", int(vram), ram, secs, detail), tile)


def predict_stages(layout: ModelLayout, req: RequestShape, m: Machine,
                   s: Strategy) -> tuple[tuple[StagePrediction, ...], TileSpec | None]:
    if m.device == "cpu":
        from model_runtime.memory.cpu_stages import predict_cpu_stages

        return predict_cpu_stages(layout, req, m, s)
    z = _Sizes(layout, m, s)
    full = req.latent()
    stages = [_text_stage(layout, req, m, s, z)]
    reload = z.t_store / z.disk if s.cache is Cache.NONE else 0.0
    if req.stage == "draft":
        st1 = _denoise_stage("stage 1", layout, full, req.steps_stage1, req, m, s, z)
        stages.append(_add_seconds(st1, reload))
    else:
        half = full.halved()
        st1 = _denoise_stage("stage 1", layout, half, req.steps_stage1, req, m, s, z)
        stages.append(_add_seconds(st1, reload))
        ups_act = est.upsampler_bytes(layout, half, ACT)
        keep_t = z.t_vram if s.placement is Placement.RESIDENT else 0
        ram = RAM_BASE + (z.t_store if s.placement is Placement.STREAM else 0) + z.cached_others(s, on_gpu={"ups"})
        stages.append(StagePrediction("upsample", int(VRAM_BASE + keep_t + z.ups + ups_act), int(ram),
                                      est.upsampler_bytes(layout, half, 1) * 60 / (m.profile.tflops * 1e12),
                                      "x2 latent upsampler"))
        stages.append(_denoise_stage("stage 2", layout, full, req.steps_stage2, req, m, s, z))
    decode, tile = _decode_stages(layout, req, m, s, z, full)
    return (*stages, *decode), tile


def _add_seconds(p: StagePrediction, secs: float) -> StagePrediction:
    return StagePrediction(p.name, p.vram_bytes, p.ram_bytes, p.seconds + secs, p.detail)
