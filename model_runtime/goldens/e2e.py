"""Golden section (g): the distilled two-stage text-to-audio+video run, end to end.

Runs the runtime's own distilled render (`pipelines.distilled.run` on a `ModelEngine` that loads every
component strictly) with the golden's initial noise injected, then compares what the reference
recorded: per-step x0 of both stages, the final latents, the upsampled latent, the re-noised stage-2
start, the float video, the uint8 frames (1-LSB rule), the 48 kHz waveform and its rate. It also checks
that drawing from the seed reproduces the stored noise exactly (so a plain seeded run is the same run).
Prompt, size, frames, fps and seed come from the golden's metadata.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import torch

from model_runtime.goldens import Comparison, GoldenContext, compare_uint8_frames
from model_runtime.models.video_vae import video_to_uint8
from model_runtime.pipelines.engine import (
    NO_PERTURBATION,
    DecodedAudio,
    Engine,
    Perturbation,
    PromptContexts,
    TokenConditioning,
)
from model_runtime.pipelines.geometry import Geometry
from model_runtime.sampling.ancestral import ANCESTRAL_NAMES, AncestralNoise
from model_runtime.sampling.noise import NOISE_ORDER, NoiseSource


@dataclass(frozen=True)
class DenoiseCall:
    video_in: torch.Tensor
    audio_in: torch.Tensor
    sigma: float
    perturbation: Perturbation
    contexts: PromptContexts
    video_x0: torch.Tensor
    audio_x0: torch.Tensor
    tokens: TokenConditioning | None = None


@dataclass
class RecordingEngine:
    """Forwards to a real engine and keeps every transformer call and upsampler output (like the
    reference goldens' forward hooks), so the pipeline under test runs unchanged."""

    inner: Engine
    calls: list[DenoiseCall] = field(default_factory=list)
    upsampled: list[torch.Tensor] = field(default_factory=list)
    encoded: list[tuple[torch.Tensor, torch.Tensor]] = field(default_factory=list)  # (pixels, latent)
    encoded_audio: list[tuple[torch.Tensor, torch.Tensor]] = field(default_factory=list)  # (mel, latent)
    states: dict = field(default_factory=dict)  # (stage, "initial" | "noised") -> StageStates

    @property
    def config(self) -> dict:
        return self.inner.config

    @property
    def model_version(self) -> str:
        return self.inner.model_version

    @property
    def device(self) -> torch.device:
        return self.inner.device

    @property
    def decoders(self) -> tuple[str, ...]:
        return getattr(self.inner, "decoders", ("conv",))

    @property
    def ancestral_stage1(self) -> bool:
        return bool(getattr(self.inner, "ancestral_stage1", False))

    def decoder_noise_shape(self, latent_shape: tuple[int, ...]) -> tuple[int, ...]:
        return self.inner.decoder_noise_shape(latent_shape)

    @property
    def distilled_lora(self):
        return self.inner.distilled_lora

    def use_loras(self, loras, mode: str):
        return self.inner.use_loras(loras, mode)

    def encode_prompts(self, prompts: tuple[str, ...]) -> tuple[PromptContexts, ...]:
        return self.inner.encode_prompts(prompts)

    def denoise(self, video: torch.Tensor, audio: torch.Tensor, sigma: torch.Tensor, geometry: Geometry,
                contexts: PromptContexts, perturbation: Perturbation = NO_PERTURBATION,
                tokens: TokenConditioning | None = None):
        vx0, ax0 = self.inner.denoise(video, audio, sigma, geometry, contexts, perturbation, tokens=tokens)
        self.calls.append(DenoiseCall(video.detach().cpu(), audio.detach().cpu(), float(sigma), perturbation,
                                      contexts, vx0.detach().cpu(), ax0.detach().cpu(), tokens))
        return vx0, ax0

    def encode_video(self, pixels: torch.Tensor) -> torch.Tensor:
        out = self.inner.encode_video(pixels)
        self.encoded.append((pixels.detach().cpu(), out.detach().cpu()))
        return out

    def encode_audio(self, mel: torch.Tensor) -> torch.Tensor:
        out = self.inner.encode_audio(mel)
        self.encoded_audio.append((mel.detach().cpu(), out.detach().cpu()))
        return out

    def observe_states(self, stage: str, label: str, states) -> None:
        """Called by the pipelines with each stage's states before and after noising."""
        self.states[(stage, label)] = states

    def upsample(self, video_latent: torch.Tensor) -> torch.Tensor:
        out = self.inner.upsample(video_latent)
        self.upsampled.append(out.detach().cpu())
        return out

    def decode_video(self, video_latent: torch.Tensor, tiled: bool, **kwargs) -> Iterator[torch.Tensor]:
        return self.inner.decode_video(video_latent, tiled, **kwargs)

    def decode_audio(self, audio_latent: torch.Tensor) -> DecodedAudio:
        return self.inner.decode_audio(audio_latent)


def golden_engine(ctx: GoldenContext):
    """A strict ModelEngine on the golden set's files (cached in the context: loaded once per session)."""
    from model_runtime.runtime import ModelEngine, ModelPaths

    files = ctx.files
    if files.is_split:
        f = {role: cf.path for role, cf in files.files.items()}
        paths = ModelPaths(upsampler=f.get("upsampler"), transformer=f["transformer"], text_encoder=f.get("text_encoder"),
                           video_vae=f.get("video_vae"), video_vae_conv=f.get("video_vae_conv"),
                           audio_vae=f.get("audio_vae"), duration_head=f.get("duration_head"))
    else:
        paths = ModelPaths(ctx.checkpoint_path, ctx.upsampler_path, ctx.text_encoder_dir)
    return ctx.cached("runtime.engine", lambda: ModelEngine(paths, ctx.device, ctx.dtype, strict=ctx.strict))


def golden_noise(ctx: GoldenContext, prefix: str = "e2e") -> dict[str, torch.Tensor]:
    names = (*NOISE_ORDER, *ANCESTRAL_NAMES)
    return {name: ctx.tensor(f"{prefix}.noise.{name}") for name in names if ctx.has(f"{prefix}.noise.{name}")}


def check_seeded_noise(ctx: GoldenContext) -> list[Comparison]:
    """Drawing from the seed in the documented order must give the stored noise bit for bit."""
    source = NoiseSource(ctx.settings["seed"])
    stored = golden_noise(ctx)
    drawn = {name: source.draw(name, ref.shape) for name, ref in stored.items() if name in NOISE_ORDER}
    if "ancestral_video" in stored:  # the stage-1 re-noise draws: their own generator, video then audio per step
        anc = AncestralNoise(ctx.settings["seed"])
        steps = stored["ancestral_video"].shape[0]
        pairs = [(anc.draw("video", i, tuple(stored["ancestral_video"].shape[1:])),
                  anc.draw("audio", i, tuple(stored["ancestral_audio"].shape[1:]))) for i in range(steps)]
        drawn["ancestral_video"] = torch.stack([v for v, _ in pairs])
        drawn["ancestral_audio"] = torch.stack([a for _, a in pairs])
    out = []
    for name, ref in drawn.items():
        err = (ref.double() - stored[name].double()).abs().max().item()
        out.append(Comparison(f"e2e.noise.{name} (seeded draw)", err, "exact", err == 0.0))
    return out


def run_render(ctx: GoldenContext, prefix: str = "e2e", settings: dict | None = None, conditioning=None, *,
               noise: dict[str, torch.Tensor] | None = None, loras: tuple = (), lora_mode: str = "live"):
    """The distilled render of the golden settings (those of `prefix`'s section when given) with the stored
    noise (`noise`, default `prefix`'s section's), an optional `Conditioning` and optional LoRAs
    (`pipelines.types.LoraSpec`); returns (result, recording)."""
    from model_runtime.pipelines import collect
    from model_runtime.pipelines import run as run_pipeline
    from model_runtime.pipelines.types import GenerationRequest

    s = settings or ctx.settings
    request = GenerationRequest(
        prompt=ctx.prompt, width=int(s["width"]), height=int(s["height"]), frames=int(s["num_frames"]),
        fps=float(s["fps"]), seed=int(s["seed"]), stage="render",
        initial_noise=golden_noise(ctx, prefix) if noise is None else noise,
        keep_float_video=True, previews=False, conditioning=conditioning, loras=loras, lora_mode=lora_mode,
    )
    engine = RecordingEngine(golden_engine(ctx))
    return collect(run_pipeline(engine, request)), engine


def run(ctx: GoldenContext) -> list[Comparison]:
    result, rec = run_render(ctx)
    n1 = ctx.tensor("e2e.stage1.denoised_video_steps").shape[0]
    stage1, stage2 = rec.calls[:n1], rec.calls[n1:]
    out = check_seeded_noise(ctx)
    for stage, calls in (("stage1", stage1), ("stage2", stage2)):
        out.append(ctx.compare(f"e2e.{stage}.denoised_video_steps", torch.stack([c.video_x0 for c in calls])))
        out.append(ctx.compare(f"e2e.{stage}.denoised_audio_steps", torch.stack([c.audio_x0 for c in calls])))
        out.append(ctx.compare(f"e2e.{stage}.video_latent", result.latents[stage].video))
        out.append(ctx.compare(f"e2e.{stage}.audio_latent", result.latents[stage].audio))
    for name, call in (("e2e.stage2.initial_video_tokens", "video_in"), ("e2e.stage2.initial_audio_tokens", "audio_in")):
        if ctx.has(name):
            out.append(ctx.compare(name, getattr(stage2[0], call)))
    out.append(ctx.compare("e2e.upsampled_video_latent", rec.upsampled[0]))
    if ctx.has("e2e.video"):
        out.append(ctx.compare("e2e.video", result.video))
        out.append(compare_uint8_frames("e2e.frames (uint8 of e2e.video)", result.frames,
                                        video_to_uint8(ctx.tensor("e2e.video"))))
    if ctx.has("e2e.video_frames"):  # LTX-2.5 set: frames as DistilledPipeline returns them, [F, H, W, 3] in [0, 1]
        frames01 = ((result.video[0] + 1.0) / 2.0).clamp(0.0, 1.0).permute(1, 2, 3, 0)
        out.append(ctx.compare("e2e.video_frames", frames01))
        out.append(compare_uint8_frames("e2e.frames_uint8", (frames01 * 255.0 + 0.5).floor().to(torch.uint8),
                                        ctx.tensor("e2e.frames_uint8")))
    out.append(ctx.compare("e2e.audio_waveform", result.waveform))
    out.append(ctx.compare("e2e.audio_sampling_rate", torch.tensor(result.sample_rate, dtype=torch.int64)))
    return out
