"""The planner's data: the levers of a strategy, a request's shape, a machine, and the resulting plan.

All frozen dataclasses, so a plan can be shown, logged, compared and sent across threads as a value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from model_runtime.memory.estimates import LatentShape, TileSpec, gb

GB = 1e9
#: fraction of the card the plan may fill: the caching allocator fragments, and the display needs some
VRAM_HEADROOM = 0.92
#: fraction of RAM the plan may fill: the OS, the desktop and the page cache need the rest
RAM_HEADROOM = 0.90


class Weights(StrEnum):
    BF16 = "bf16"
    FP8 = "fp8"  # fp8 (e4m3) storage with a per-row scale, upcast to bf16 per layer at compute time


class Placement(StrEnum):
    RESIDENT = "resident"  # every transformer block in VRAM
    STREAM = "stream"  # blocks live in pinned RAM; a few at a time are copied in, with prefetch
    MAPPED = "mapped"  # CPU: weights stay bf16 in the memory-mapped file, each layer upcast as it runs


class TextPlacement(StrEnum):
    GPU = "gpu"  # Gemma in bf16 on the GPU for encoding, then moved out
    GPU_FP8 = "gpu-fp8"
    STREAM = "stream-fp8"  # Gemma layers in pinned RAM (fp8), streamed through the GPU
    CPU = "cpu"  # Gemma runs on the CPU in bf16


class Cache(StrEnum):
    ALL = "all"  # every loaded component stays in RAM between stages and jobs
    NO_TEXT = "no-text-encoder"  # Gemma is freed after encoding and re-read from disk next job
    NONE = "none"  # every component is freed when its stage ends and re-read when next needed


@dataclass(frozen=True)
class Strategy:
    weights: Weights = Weights.BF16
    placement: Placement = Placement.RESIDENT
    text_encoder: TextPlacement = TextPlacement.GPU
    cache: Cache = Cache.ALL
    ffn_chunk_tokens: int | None = None  # run each FFN over this many tokens at a time (exact; less memory)
    blocks_in_flight: int = 2  # streaming: the block computing plus the one being prefetched
    attn_chunk_tokens: int | None = None  # lean blocks: attention over query chunks, RoPE per chunk (exact)

    @property
    def label(self) -> str:
        parts = [self.weights.value]
        if self.placement is Placement.STREAM:
            parts.append("block streaming")
        elif self.placement is Placement.MAPPED:
            parts.append("weights mapped from the file, upcast per layer")
        if self.attn_chunk_tokens:
            parts.append("chunked attention")
        elif self.ffn_chunk_tokens:
            parts.append("chunked FFN")
        te = {TextPlacement.GPU: "", TextPlacement.GPU_FP8: "fp8 text encoder",
              TextPlacement.STREAM: "streamed text encoder", TextPlacement.CPU: "text encoder on CPU"}
        if te[self.text_encoder]:
            parts.append(te[self.text_encoder])
        if self.cache is not Cache.ALL:
            parts.append("text encoder unloaded after encoding" if self.cache is Cache.NO_TEXT
                         else "components unloaded between stages")
        return " + ".join(parts)


@dataclass(frozen=True)
class RequestShape:
    """What a job asks for, as far as memory is concerned."""

    width: int
    height: int
    frames: int
    fps: float
    stage: str = "render"  # "draft": one stage at this size; "render": half size, x2 upsample, refine
    steps_stage1: int = 8
    steps_stage2: int = 3
    passes_per_step: int = 1  # guidance passes (dev model: 4), run one after another
    prompts: int = 1  # prompts to encode (2 with a negative prompt)
    per_token_timestep: bool = False  # image/keyframe conditioning gives tokens their own sigma
    text_tokens: int = 1024
    guide_frames: int = 0  # keyframes at frames other than 0: each appends one latent frame of tokens
    lora_factor_bytes: int = 0  # the LoRA files' factors (live mode keeps them on the compute device)
    lora_mode: str = "live"  # "live" | "fused": see loras/apply.py for the clean-copy policy
    decoder: str = "auto"  # LTX-2.5 video decoder: "diffusion" (sharp), "conv" (fast), auto = by stage

    def decoder_for(self, has_diffusion: bool) -> str:
        """The decoder this job runs (the pipeline's rule: auto = conv drafts, diffusion renders)."""
        if not has_diffusion:
            return "conv"
        if self.decoder == "auto":
            return "diffusion" if self.stage == "render" else "conv"
        return self.decoder

    @property
    def seconds(self) -> float:
        return self.frames / self.fps

    def latent(self) -> LatentShape:
        return LatentShape.for_pixels(self.width, self.height, self.frames, self.fps, self.guide_frames)


@dataclass(frozen=True)
class DeviceProfile:
    tflops: float  # effective bf16 TFLOPS on big matmuls (about half the datasheet figure)
    link_gbps: float  # pinned host -> device copy bandwidth
    host_tflops: float  # CPU bf16 matmul throughput, for a text encoder on the CPU
    unified: bool  # one memory pool (Apple silicon, CPU): streaming to "VRAM" gains nothing
    mem_gbps: float = 800.0  # effective device-memory bandwidth of elementwise kernels (decode traffic)


#: rough defaults per device kind; a Machine may override each (the benchmark measures them)
DEVICE_PROFILES = {
    "cuda": DeviceProfile(tflops=80.0, link_gbps=20.0, host_tflops=0.5, unified=False, mem_gbps=800.0),
    "mps": DeviceProfile(tflops=10.0, link_gbps=100.0, host_tflops=0.5, unified=True, mem_gbps=200.0),
    "cpu": DeviceProfile(tflops=0.5, link_gbps=100.0, host_tflops=0.5, unified=True, mem_gbps=20.0),
}


@dataclass(frozen=True)
class Machine:
    vram_gb: float
    ram_gb: float
    device: str = "cuda"
    tflops: float | None = None
    link_gbps: float | None = None
    disk_gbps: float = 2.0

    @property
    def profile(self) -> DeviceProfile:
        base = DEVICE_PROFILES.get(self.device, DEVICE_PROFILES["cpu"])
        return DeviceProfile(self.tflops or base.tflops, self.link_gbps or base.link_gbps, base.host_tflops,
                             base.unified, base.mem_gbps)

    @property
    def vram_budget(self) -> float:
        return self.vram_gb * GB * VRAM_HEADROOM

    @property
    def ram_budget(self) -> float:
        return self.ram_gb * GB * RAM_HEADROOM


@dataclass(frozen=True)
class StagePrediction:
    name: str
    vram_bytes: int
    ram_bytes: int
    seconds: float
    detail: str = ""

    def to_dict(self) -> dict:
        return {"name": self.name, "vram_gb": gb(self.vram_bytes), "ram_gb": gb(self.ram_bytes),
                "seconds": round(self.seconds, 1), "detail": self.detail}


@dataclass(frozen=True)
class MemoryPlan:
    """One way to run one request on one machine, with its predicted cost per stage."""

    strategy: Strategy
    stages: tuple[StagePrediction, ...]
    vae_tile: TileSpec | None
    request: RequestShape = field(repr=False)
    machine: Machine = field(repr=False)
    fits: bool = True

    @property
    def video_decoder(self) -> str:
        """"diffusion" or "conv": the decoder this plan budgets for (LTX-2.5's "auto" may fall back to conv)."""
        vae = next((s for s in self.stages if s.name == "VAE decode"), None)
        return "diffusion" if vae is not None and vae.detail.startswith("diffusion") else "conv"

    @property
    def peak_vram_bytes(self) -> int:
        return max((s.vram_bytes for s in self.stages), default=0)

    @property
    def peak_ram_bytes(self) -> int:
        return max((s.ram_bytes for s in self.stages), default=0)

    @property
    def seconds(self) -> float:
        return sum(s.seconds for s in self.stages)

    @property
    def summary(self) -> str:
        tiles = f", {self.vae_tile.label()}" if self.vae_tile else ""
        warn = "" if self.fits else " (does not fit this machine)"
        return (f"{self.strategy.label}{tiles}, ~{gb(self.peak_vram_bytes):.1f} GB VRAM, "
                f"~{gb(self.peak_ram_bytes):.1f} GB RAM{warn}")

    def to_dict(self) -> dict:
        s = self.strategy
        return {
            "strategy": s.label, "summary": self.summary, "fits": self.fits,
            "weights": s.weights.value, "placement": s.placement.value, "text_encoder": s.text_encoder.value,
            "cache": s.cache.value, "ffn_chunk_tokens": s.ffn_chunk_tokens, "blocks_in_flight": s.blocks_in_flight,
            "attn_chunk_tokens": s.attn_chunk_tokens,
            "vae_tile": None if self.vae_tile is None else {
                "frames": self.vae_tile.frames, "size": self.vae_tile.size, "halo": self.vae_tile.halo,
                "halo_frames": self.vae_tile.halo_frames, "label": self.vae_tile.label()},
            "peak_vram_gb": gb(self.peak_vram_bytes), "peak_ram_gb": gb(self.peak_ram_bytes),
            "seconds": round(self.seconds, 1),
            "machine": {"vram_gb": self.machine.vram_gb, "ram_gb": self.machine.ram_gb, "device": self.machine.device},
            "request": {"width": self.request.width, "height": self.request.height, "frames": self.request.frames,
                        "fps": self.request.fps, "stage": self.request.stage},
            "stages": [st.to_dict() for st in self.stages],
        }


