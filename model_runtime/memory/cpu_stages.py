"""Per-stage RAM / time predictions for a job on the CPU (the CPU branch of `stages.predict_stages`).

On the CPU there is one memory: the figure that matters is anonymous memory (what the OS cannot drop),
reported as the stage's RAM; VRAM is 0. Every component computes in float32 (the runtime's CPU dtype)
and, as the engine does, stays loaded once used (Gemma included: re-reading it costs more than keeping
it), so each stage holds the weights of every component used so far plus its own activations.

Two placements:
* RESIDENT: weights loaded whole in float32 (4 bytes per parameter).
* MAPPED (`mapped`): large weights stay bf16 in the mapped file (page cache, not counted) and each
  module upcasts its own for its forward: a component holds its small tensors in float32 (norms, biases,
  tables: the non-linear parameters of transformer, connectors and Gemma; for the conv-only VAE and
  upsampler these are convs, also mapped, so only the working unit counts) plus one upcast unit of at most
  `mapped_units.UNIT_BYTES`. Every forward pays one bf16 -> float32 pass over the weights it uses
  (`UPCAST_GBPS`), and a re-read from disk when the files do not fit the RAM the job leaves to the page cache.
"""

from __future__ import annotations

from model_runtime.mapped_units import UNIT_BYTES
from model_runtime.memory import estimates as est
from model_runtime.memory.estimates import LatentShape, TileSpec
from model_runtime.memory.layout import ModelLayout, TensorStats
from model_runtime.memory.plan import (
    GB,
    Machine,
    Placement,
    RequestShape,
    StagePrediction,
    Strategy,
)

RAM_BASE = int(1.2 * GB)  # Python, torch, transformers, the tokenizer: measured RssAnon before any weight
ACT = 4  # float32 activations
UPCAST_GBPS = 4.0  # bf16 -> float32 copies of mapped weights, per forward (assumed; the scale benchmark measures it)
TILE_CANDIDATES = (None, (16, 32), (8, 16), (4, 8), (2, 4))


class _Weights:
    """Anonymous bytes of each component under the placement, and its bf16 file bytes."""

    def __init__(self, layout: ModelLayout, s: Strategy) -> None:
        c = layout.components
        mapped = s.placement is Placement.MAPPED
        unit = UNIT_BYTES

        def held(stats: TensorStats, small_only: bool = True) -> int:
            if not mapped:
                return stats.bytes_as("fp32")
            small = 4 * (stats.params - stats.linear_params) if small_only else 0
            return small + min(unit, stats.bytes_as("fp32"))

        te: TensorStats = c["text_encoder"]
        te_table = layout.text_encoder.vocab * layout.text_encoder.hidden
        self.te = held(TensorStats(te.params - te_table, te.linear_params)) if mapped else te.bytes_as("fp32")
        self.proj = held(c["connectors"] + c["text_projection"])
        self.transformer = held(c["transformer"])
        self.ups = held(c["upsampler"], small_only=False)
        self.vae = held(c["video_vae_decoder"], small_only=False)
        self.audio = c["audio_decoder"].bytes_as("fp32")  # small: never mapped
        self.mapped = mapped
        self.file = {"te": te.bytes_as("bf16"), "proj": (c["connectors"] + c["text_projection"]).bytes_as("bf16"),
                     "transformer": c["transformer"].bytes_as("bf16"), "ups": c["upsampler"].bytes_as("bf16"),
                     "vae": c["video_vae_decoder"].bytes_as("bf16")}

    def pass_seconds(self, part: str, m: Machine, anon_peak: int) -> float:
        """Extra seconds one forward over `part` costs when mapped: the upcast, and a disk re-read when the
        files do not fit in the RAM left over."""
        if not self.mapped:
            return 0.0
        secs = 3 * self.file[part] / (UPCAST_GBPS * GB)  # read 2 bytes, write 4 per parameter
        if sum(self.file.values()) > m.ram_gb * GB - anon_peak:
            secs += self.file[part] / (m.disk_gbps * GB)
        return secs


def predict_cpu_stages(layout: ModelLayout, req: RequestShape, m: Machine,
                       s: Strategy) -> tuple[tuple[StagePrediction, ...], TileSpec | None]:
    w = _Weights(layout, s)
    host = m.profile.host_tflops * 1e12
    te = layout.text_encoder
    full = req.latent()
    held = RAM_BASE + w.te + w.proj
    te_act = est.text_encoder_bytes(te, req.text_tokens, ACT)
    text_ram = held + te_act
    text_secs = req.prompts * (est.text_encoder_flops(te, req.text_tokens) / host
                               + w.pass_seconds("te", m, text_ram) + w.pass_seconds("proj", m, text_ram))
    stages = [StagePrediction("text encoding", 0, int(text_ram), text_secs, "on the CPU")]
    held += w.transformer

    def denoise(name: str, shape: LatentShape, steps: int) -> StagePrediction:
        act = est.transformer_bytes(layout.transformer_dims, shape, ACT, text_tokens=req.text_tokens,
                                    per_token_timestep=req.per_token_timestep, ffn_chunk_tokens=s.ffn_chunk_tokens,
                                    attn_chunk_tokens=s.attn_chunk_tokens)
        forwards = steps * req.passes_per_step
        per = est.transformer_flops(layout, shape) / (m.profile.tflops * 1e12) + w.pass_seconds(
            "transformer", m, held + act)
        return StagePrediction(name, 0, int(held + act), forwards * per,
                               f"{shape.video_tokens} video + {shape.audio_tokens} audio tokens, {forwards} forwards")

    if req.stage == "draft":
        stages.append(denoise("stage 1", full, req.steps_stage1))
    else:
        half = full.halved()
        stages.append(denoise("stage 1", half, req.steps_stage1))
        held += w.ups
        ups_ram = held + est.upsampler_bytes(layout, half, ACT)
        stages.append(StagePrediction("upsample", 0, int(ups_ram), est.upsampler_bytes(layout, half, 1) * 60 / host
                                      + w.pass_seconds("ups", m, ups_ram), "x2 latent upsampler"))
        stages.append(denoise("stage 2", full, req.steps_stage2))
    held += 3 * req.width * req.height * req.frames  # + the uint8 output frames
    sharp = _sharp_decode(layout, req, full, m, held, host)
    tile = None
    if sharp is not None:
        stages.append(sharp)
        held += layout.components["video_diffusion_decoder"].bytes_as("fp32")  # stays loaded, as the engine keeps it
    else:
        held += w.vae
        tile, need, secs = _tile(layout, full, m, held, host)
        detail = "untiled" if tile is None else f"{est.tiles_needed(full, tile)} x {tile.label()}"
        if layout.diffusion_decoder is not None:
            detail = "conv decoder (fast), " + detail
        stages.append(StagePrediction("VAE decode", 0, int(held + need), secs + w.pass_seconds("vae", m, held + need),
                                      detail))
    held += w.audio
    voc = est.vocoder_bytes(layout, req.seconds)
    stages.append(StagePrediction("audio decode", 0, int(held + voc), 0.5 * req.seconds, "audio VAE + vocoder, float32"))
    return tuple(stages), tile


def _sharp_decode(layout: ModelLayout, req: RequestShape, full: LatentShape, m: Machine, held: int,
                  host: float) -> StagePrediction | None:
    """LTX-2.5's diffusion decoder (Sharp) when the job decodes with it, else None (the conv decoder). It
    loads whole in float32 and decodes untiled, as the engine runs it; "auto" takes it for a render only when
    that fits the RAM (otherwise the conv decoder, which tiles), an explicit choice always."""
    if req.decoder_for(layout.diffusion_decoder is not None) != "diffusion":
        return None
    weights = layout.components["video_diffusion_decoder"].bytes_as("fp32")
    need = est.diffusion_decode_bytes(layout.diffusion_decoder, full, ACT)
    if req.decoder == "auto" and layout.decoder and held + weights + need > m.ram_budget:
        return None
    secs = est.diffusion_decode_seconds(layout.diffusion_decoder, full, None, ACT, host, m.profile.mem_gbps * 1e9)
    return StagePrediction("VAE decode", 0, int(held + weights + need), secs, "diffusion decoder (sharp), untiled")


def _tile(layout: ModelLayout, full: LatentShape, m: Machine, held: int,
          host: float) -> tuple[TileSpec | None, int, float]:
    """The fastest decode tile whose activations fit beside what is held (the smallest if none does)."""
    best: tuple[TileSpec | None, int, float] | None = None
    for cand in TILE_CANDIDATES:
        tile = None if cand is None else TileSpec(cand[0], cand[1])
        need = est.vae_decode_bytes(layout, full, ACT, tile)
        secs = est.conv_decode_seconds(layout, full, tile, ACT, host, m.profile.mem_gbps * 1e9)
        if held + need <= m.ram_budget and (best is None or secs < best[2]):
            best = (tile, need, secs)
    if best is None:
        tile = TileSpec(*TILE_CANDIDATES[-1])
        best = (tile, est.vae_decode_bytes(layout, full, ACT, tile),
                est.conv_decode_seconds(layout, full, tile, ACT, host, m.profile.mem_gbps * 1e9))
    return best
