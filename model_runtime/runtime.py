"""The runtime's front door: open the model files once, then run generation jobs one at a time.

    runtime = Runtime.open(ModelPaths(checkpoint, upsampler, text_encoder_dir), device="cuda")    # LTX-2.3
    runtime = Runtime.open(ModelPaths(transformer=..., text_encoder=..., video_vae=..., ...))    # LTX-2.5
    result = yield from runtime.generate(spec, cancel=token)  # yields ProgressEvent / PreviewEvent / NoticeEvent

`generate` takes a `RequestSpec` (plain data, the user's overrides; `Runtime.request` fills the model's
defaults) or a ready `GenerationRequest`, yields only events and returns the `GenerationResult`.

`Runtime.open` only reads headers (fast, and it refuses a wrong file before any weights load); each
component is loaded strictly on first use and stays resident between jobs (a draft never loads the
upsampler). `ModelEngine` is the one owner of the loaded modules (STYLE 6): pipelines only call it.

Memory plans (`model_runtime.memory`): given `memory=Machine(vram_gb, ram_gb)` the runtime plans each job
from the checkpoint header and the request (`choose_plan` / `plan_ladder`); given a sequence of
`MemoryPlan`s it uses them as the ladder. The engine carries a plan out through `apply_plan` (fp8
storage, block streaming, chunked FFN / attention) for the transformer and the plan's decode tiles, and
the job runs under `iter_with_oom_retry`: on out-of-memory it frees memory, yields a `NoticeEvent` and
reruns once with the next plan down; a second failure raises `OutOfMemoryJobError` with the figures.
Without `memory` jobs run as before (everything on `device`, no retry).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import replace
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from model_runtime.errors import InvalidRequestError, RuntimeErrorBase
from model_runtime.families import ModelFiles
from model_runtime.loading import ComponentSpec, load_component
from model_runtime.loras.state import EngineLoras
from model_runtime.memory.plan import Machine, MemoryPlan, RequestShape
from model_runtime.models.acceleration import DEFAULT_ACCELERATION, Acceleration, attention_kernels
from model_runtime.pipelines.engine import (
    NO_PERTURBATION,
    DecodedAudio,
    Perturbation,
    PromptContexts,
    TokenConditioning,
)
from model_runtime.pipelines.envelope import ModelEnvelope, check_within
from model_runtime.pipelines.geometry import Geometry
from model_runtime.pipelines.types import (
    Event,
    GenerationRequest,
    GenerationResult,
    LoraSpec,
    NoticeEvent,
    VideoSink,
)
from model_runtime.sampling.control import CancelToken
from model_runtime.spec import ModelPaths, Pipeline, RequestSpec

if TYPE_CHECKING:
    from model_runtime.checkpoints import SafetensorsHeader

log = logging.getLogger(__name__)

PROMPT_CACHE_SIZE = 8  # recent prompt encodings: promoting a draft re-uses its prompt's encoding


class DoesNotFitError(InvalidRequestError):
    """No memory plan fits this job on this machine; `nearest` is the largest smaller request that fits."""

    def __init__(self, message: str, nearest: GenerationRequest | None) -> None:
        super().__init__(message)
        self.nearest = nearest


class ModelEngine:
    """Implements `pipelines.engine.Engine` over the real LTX-2.3 components, loaded lazily and kept."""

    def __init__(self, paths: ModelPaths, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32,
                 *, strict: bool = True, planned: bool = False, budget: Any = None,
                 acceleration: Acceleration = DEFAULT_ACCELERATION, min_mapped_bytes: int | None = None) -> None:
        """`planned`: the transformer is loaded to host storage and placed per job by a memory plan
        (`memory_plan`); `budget`: a `memory.VramBudget` the plan's executors charge (a simulated VRAM
        ceiling for tests, None in production); `acceleration`: SDPA kernels and torch.compile policy;
        `min_mapped_bytes`: under a MAPPED plan, tensors smaller than this are loaded rather than left in
        the file (tests map everything with 0)."""
        self.paths = paths
        self.acceleration = acceleration
        self.planned = planned
        self.budget = budget
        self._plan: MemoryPlan | None = None
        self._placement: contextlib.ExitStack | None = None  # the running job's apply_plan, once entered
        self._placed = False
        self.min_mapped_bytes = min_mapped_bytes
        self._mapped_files: dict[Path, Any] = {}  # per model file, mapped once a MAPPED plan needs it
        self._prefetch: Any = None  # the transformer's weights being read on a background thread
        self.files = paths.model_files()
        self._device = torch.device(device)
        self.dtype = dtype
        self.strict = strict
        self._modules: dict[str, Any] = {}
        self._loras = EngineLoras(self.files.main.path)  # the file that holds the transformer
        self._positions_cache: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}
        self._prompts: OrderedDict[str, PromptContexts] = OrderedDict()

    # --- Engine protocol: facts -------------------------------------------------------------------
    @property
    def config(self) -> dict:
        return self.files.config

    @property
    def model_version(self) -> str:
        return self.files.model_version

    @property
    def family(self) -> str:
        return self.files.family

    @property
    def ancestral_stage1(self) -> bool:
        """LTX-2.5's distilled stage 1 samples Euler-ancestral (ltx-pipelines: model_version >= 2.5)."""
        return self.files.family == "2.5"

    @property
    def decoders(self) -> tuple[str, ...]:
        """Video decoders these files provide, the fallback first: "conv" (fast) and/or "diffusion" (sharp)."""
        out = []
        if self.files.has("video_vae_conv"):
            out.append("conv")
        if self.files.has("video_vae"):
            out.append("diffusion")
        return tuple(out)

    @property
    def device(self) -> torch.device:
        return self._device

    @property
    def distilled_lora(self) -> LoraSpec | None:
        return self.paths.distilled_lora

    # --- residency ------------------------------------------------------------------------------
    def component(self, name: str, factory: Callable[[], Any]) -> Any:
        """The loaded component `name`, built by `factory` on first use."""
        if name not in self._modules:
            log.info("loading %s", name)
            self._modules[name] = factory()
        return self._modules[name]

    def loaded(self) -> tuple[str, ...]:
        return tuple(self._modules)

    def release(self, *names: str) -> None:
        """Drop loaded components (all when no names are given); they reload on next use."""
        if not names or "transformer" in names:
            prefetch, self._prefetch = self._prefetch, None
            if prefetch is not None:
                prefetch.take()  # wait for the thread; its tensors are dropped
        for name in names or tuple(self._modules):
            module = self._modules.pop(name, None)
            if hasattr(module, "release"):  # the text encoder frees Gemma and its heads
                module.release()

    def _load(self, spec: ComponentSpec, device: torch.device | str | None = None, *,
              mappable: bool = False, preloaded: dict[str, torch.Tensor] | None = None) -> torch.nn.Module:
        """Load one component from the file that holds it; `mappable` ones keep their large weights in the
        mapped file under a MAPPED plan (CPU), so a model bigger than RAM runs."""
        source = self.files.file_for(spec.name)
        on_cpu = torch.device(device or self._device).type == "cpu"
        mapped = self._mapped(source.header) if mappable and on_cpu else None
        module, _ = load_component(source.header, spec, self.files.config_for(spec.name), dtype=self.dtype,
                                   device=device or self._device, strict=self.strict, mapped=mapped,
                                   min_mapped_bytes=self.min_mapped_bytes, preloaded=preloaded)
        return module

    def _mapped(self, header: SafetensorsHeader | None = None):
        """`header`'s file (default: the one holding the transformer) mapped, when the running plan keeps
        weights in the file (else None)."""
        from model_runtime.memory.plan import Placement

        if self._plan is None or self._plan.strategy.placement is not Placement.MAPPED:
            return None
        header = header or self.files.main.header
        if header.path not in self._mapped_files:
            from model_runtime.mapped import MappedFile

            self._mapped_files[header.path] = MappedFile(header)
        return self._mapped_files[header.path]

    @contextlib.contextmanager
    def memory_plan(self, plan: MemoryPlan) -> Iterator[MemoryPlan]:
        """Run the enclosed job under `plan`: the transformer is placed by `apply_plan` on first use and
        put back in host storage when the job ends (also when it fails), so a retry starts clean."""
        self._plan, self._placement, self._placed = plan, contextlib.ExitStack(), False
        try:
            yield plan
        finally:
            placement, self._plan, self._placement, self._placed = self._placement, None, None, False
            placement.close()

    def _transformer(self):
        from model_runtime.models.denoiser import AVDenoiser

        storage = "cpu" if self.planned else None
        denoiser = self.component("transformer", lambda: AVDenoiser(self._loaded_transformer(storage)))
        if self._placement is not None and not self._placed:
            from model_runtime.memory.apply import apply_plan

            self._placement.enter_context(apply_plan(denoiser.transformer, self._plan, self._device,
                                                     budget=self.budget))
            self._placed = True
            self._loras.dirty = True  # fp8 storage may have replaced adapted modules
        if self._loras.dirty:
            self._loras.apply(denoiser.transformer, self._device)
        return denoiser

    def prefetch_transformer(self) -> bool:
        """Start reading and casting the transformer's weights on a background thread (`prefetch`), so the
        prompt's encoding overlaps them; only on the CPU under a plan that keeps them resident in the
        compute dtype (a mapped, streamed or fp8 plan places them its own way) and whose RAM budget holds
        them beside the text encoding's peak. True when started."""
        from model_runtime.memory.plan import Placement, Weights

        plan = self._plan
        if ("transformer" in self._modules or self._prefetch is not None or self._device.type != "cpu"
                or plan is None or plan.strategy.placement is not Placement.RESIDENT
                or plan.strategy.weights is not Weights.BF16 or self.acceleration.compile):
            return False
        from model_runtime.prefetch import WeightPrefetch, prefetch_bytes

        header, spec = self.files.file_for("transformer").header, _spec("transformer")
        text = next((s.ram_bytes for s in plan.stages if s.name == "text encoding"), 0)
        if text + prefetch_bytes(header, spec, self.dtype) > plan.machine.ram_budget:
            return False  # the weights would sit beside Gemma during the encoding: only when RAM has room
        self._prefetch = WeightPrefetch(header, spec, self.dtype, "cpu")
        return True

    def _loaded_transformer(self, storage: str | None) -> torch.nn.Module:
        prefetch, self._prefetch = self._prefetch, None
        preloaded = prefetch.take() if prefetch is not None else None
        transformer = self._load(_spec("transformer"), storage, mappable=preloaded is None, preloaded=preloaded)
        if self.acceleration.compile:
            from model_runtime.models.acceleration import compile_blocks

            compile_blocks(transformer)
        return transformer

    # --- LoRAs --------------------------------------------------------------------------------------
    def use_loras(self, loras: tuple[LoraSpec, ...], mode: str) -> tuple[dict[str, Any], ...]:
        """Check each LoRA against this checkpoint now; apply the set at the next denoise (live: factors on
        the device; fused: merged into the weights). The base weights are never reloaded for a change."""
        return self._loras.use(loras, mode, self.files.main.header, self.model_version)

    @property
    def lora_applier(self):
        """The transformer's LoRA state (None before the first denoise), for tests and benchmarks."""
        return self._loras.applier

    # --- Engine protocol: operations --------------------------------------------------------------
    def encode_prompts(self, prompts: tuple[str, ...]) -> tuple[PromptContexts, ...]:
        """Encode a job's prompts with one Gemma residency; recent encodings are reused.

        On an accelerator Gemma (24 GB for 2.3) is freed right after, so the transformer gets the memory;
        on the CPU it stays loaded (RAM is not the constraint there, reload time is).
        """
        missing = [p for p in dict.fromkeys(prompts) if p not in self._prompts]
        if missing:
            encoder = self.component("text_encoder", self._text_encoder)
            with torch.inference_mode():
                encodings = encoder.encode_all(missing, release_gemma=self._device.type != "cpu")
            for enc in encodings:
                self._prompts[enc.prompt] = PromptContexts(enc.video_context.to(self._device),
                                                           enc.audio_context.to(self._device))
        for p in prompts:
            self._prompts.move_to_end(p)
        out = tuple(self._prompts[p] for p in prompts)
        while len(self._prompts) > PROMPT_CACHE_SIZE:
            self._prompts.popitem(last=False)
        return out

    def _text_encoder(self):
        from model_runtime.text.encoder import TextEncoder

        if not self.files.has("text_encoder") and self.files.gemma3_dir is None:
            what = ("the Gemma-3 text encoder folder" if not self.files.is_split
                    else "the Gemma-4 text encoder file (text_encoders/gemma4-12b-with-proj-ltx-2.5-*.safetensors)")
            raise InvalidRequestError(f"encoding a prompt needs {what}; none was given")
        placement = None if self._plan is None else self._plan.strategy.text_encoder
        return TextEncoder.for_model(self.files, dtype=self.dtype, device=self._device, strict=self.strict,
                                     placement=placement, mapped=self._mapped() is not None,
                                     min_mapped_bytes=self.min_mapped_bytes)

    def denoise(self, video: torch.Tensor, audio: torch.Tensor, sigma: torch.Tensor, geometry: Geometry,
                contexts: PromptContexts, perturbation: Perturbation = NO_PERTURBATION,
                tokens: TokenConditioning | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        from model_runtime.models.denoiser import ModalityInput

        denoiser = self._transformer()
        v_pos, a_pos = self._positions(geometry)
        t = tokens or TokenConditioning()
        if t.video_positions is not None:
            v_pos = t.video_positions.to(self._device)
        kf = _keyframes_mask(geometry, video, self._device) if denoiser.uses_keyframes else None
        with attention_kernels(self._device, self.acceleration.attention):
            out = denoiser(ModalityInput(video, sigma, contexts.video, v_pos, _token_sigma(t.video_mask, sigma),
                                         t.video_attention, keyframes_mask=kf),
                           ModalityInput(audio, sigma, contexts.audio, a_pos, _token_sigma(t.audio_mask, sigma)),
                           _pass_options(perturbation))
        return out.video.x0, out.audio.x0

    def encode_video(self, pixels: torch.Tensor) -> torch.Tensor:
        encoder = self.component("video_encoder", lambda: self._load(_spec("video_encoder")))
        with torch.inference_mode():
            return encoder(pixels.to(self._device, self.dtype)).float()

    def encode_audio(self, mel: torch.Tensor) -> torch.Tensor:
        from model_runtime.models.audio_vae import encode_audio_mel

        encoder = self.component("audio_encoder", lambda: self._load(_spec("audio_vae_encoder")))
        with torch.inference_mode():
            return encode_audio_mel(mel, encoder).float()

    def upsample(self, video_latent: torch.Tensor) -> torch.Tensor:
        from model_runtime.models.upsampler import load_upsampler, upsample_video_latent

        if self.paths.upsampler is None:
            raise InvalidRequestError("a render needs the x2 spatial upscaler file; none was given")
        upsampler = self.component("upsampler", lambda: load_upsampler(
            self.paths.upsampler, dtype=self.dtype, device=self._device, strict=self.strict,
            mapped=self._mapped() is not None and self._device.type == "cpu",
            min_mapped_bytes=self.min_mapped_bytes)[0])
        with torch.inference_mode():
            latent = video_latent.to(self._device, self.dtype)
            return upsample_video_latent(latent, upsampler, self._latent_statistics()).float()

    def decode_video(self, video_latent: torch.Tensor, tiled: bool, decoder: str = "conv",
                     noise: torch.Tensor | None = None) -> Iterator[torch.Tensor]:
        """Float pixel chunks. `decoder` "diffusion" (LTX-2.5) denoises `noise` (`decoder_noise_shape`)."""
        from model_runtime.models.video_vae import TilingConfig, decode_video

        if decoder == "diffusion":
            module = self._diffusion_decoder()
            tiling = self._diffusion_tiling(tiled)
            with torch.inference_mode():
                latent = video_latent.to(self._device, self.dtype)
                if tiling is None:
                    yield module.decode(latent, noise=noise).float().cpu()
                    return
                store = None if self._device.type == "cpu" else torch.device("cpu")  # features + blend in RAM
                for chunk in module.decode_tiled(latent, tiling, noise=noise, store=store):
                    yield chunk.float().cpu()
            return
        conv = self._video_decoder()
        tiled = tiled or (self._plan is not None and self._plan.vae_tile is not None)
        tiling = TilingConfig() if tiled else None
        with torch.inference_mode():
            chunks = decode_video(conv, video_latent.to(self._device, self.dtype), tiling)
            for chunk in chunks:
                yield chunk.float().cpu()

    def _diffusion_tiling(self, tiled: bool):
        """The diffusion decoder's tiles: the plan's tile when it planned one (its peak is one tile's), else
        the conv decoder's default sizes when the request asks for tiling, else None (untiled)."""
        from model_runtime.models.video_vae import TilingConfig

        tile = None if self._plan is None else self._plan.vae_tile
        if tile is not None:
            return tile.tiling()
        return TilingConfig() if tiled else None

    def decoder_noise_shape(self, latent_shape: tuple[int, ...]) -> tuple[int, ...]:
        """The diffusion decoder's pixel-noise canvas for a latent (from the config; nothing is loaded)."""
        from model_runtime.models.diffusion_decoder_config import DiffusionDecoderConfig

        vae = self.files.config_for("video_diffusion_decoder")["vae"]
        return DiffusionDecoderConfig.from_vae_section(vae).canvas_shape(latent_shape)

    def predict_duration(self, prompt: str, fps: float, bounds=None):
        """LTX-2.5 auto duration: the DurationHead's length for `prompt` (`models.duration_head`)."""
        from model_runtime.models.duration_head import DurationBounds, predict_duration

        if not self.files.has("duration_head"):
            raise InvalidRequestError("auto duration needs the LTX-2.5 duration head file "
                                      "(model_patches/ltx-2.5-duration-head-*.safetensors); none was given")
        head = self.component("duration_head", lambda: self._load(_spec("duration_head")))
        (contexts,) = self.encode_prompts((prompt,))
        return predict_duration(head, contexts.video, contexts.audio, fps, bounds or DurationBounds())

    def decode_audio(self, audio_latent: torch.Tensor) -> DecodedAudio:
        from model_runtime.models.audio_vae import decode_audio

        decoder = self.component("audio_decoder", lambda: self._load(_spec("audio_vae_decoder")))
        vocoder = self.component("vocoder", lambda: self._load(_spec("vocoder")))
        out = decode_audio(audio_latent.to(self._device), decoder, vocoder)
        return DecodedAudio(out.waveform.float().cpu(), int(out.sample_rate))

    # --- helpers -----------------------------------------------------------------------------------
    def _video_decoder(self) -> torch.nn.Module:
        return self.component("video_decoder", lambda: self._load(_spec("video_decoder"), mappable=True))

    def _diffusion_decoder(self) -> torch.nn.Module:
        return self.component("video_diffusion_decoder", lambda: self._load(_spec("video_diffusion_decoder")))

    def _latent_statistics(self):
        """The video VAE's per-channel statistics (both 2.5 VAE files carry the same pair)."""
        for name in ("video_decoder", "video_diffusion_decoder"):
            if name in self._modules:
                return self._modules[name].per_channel_statistics
        if "conv" in self.decoders:
            return self._video_decoder().per_channel_statistics
        return self._diffusion_decoder().per_channel_statistics

    def _positions(self, geometry: Geometry) -> tuple[torch.Tensor, torch.Tensor]:
        key = (geometry.video_shape, geometry.audio_shape, geometry.fps)
        if key not in self._positions_cache:
            self._positions_cache[key] = (geometry.video_positions(self._device),
                                          geometry.audio_positions(self._device))
        return self._positions_cache[key]


def _lora_factor_bytes(request: GenerationRequest, paths: ModelPaths) -> int:
    """Bytes of the job's LoRA files (headers only; the dev render's stage 2 adds the distilled LoRA)."""
    from model_runtime.loras.files import inspect_lora

    specs = [*request.loras]
    if request.pipeline == "dev" and request.stage == "render" and paths.distilled_lora is not None:
        specs.append(paths.distilled_lora)
    return sum(inspect_lora(s.path).size_bytes for s in specs)


def _layout(files: ModelFiles):
    """The planner's view of the user's files: headers only (no weight is read); 2.3's Gemma-3 sizes from
    its folder's `config.json` when there is one, 2.5's Gemma-4 counted from the packed file's tensors."""
    from model_runtime.memory.layout import ModelLayout

    return ModelLayout.from_model_files(files)


def _spec(name: str) -> ComponentSpec:
    from model_runtime.components import spec

    return spec(name)


def _token_sigma(mask: torch.Tensor | None, sigma: torch.Tensor) -> torch.Tensor | None:
    """Per-token sigma = denoise mask x sigma (the reference's `timesteps_from_mask`), `[B, N]`."""
    if mask is None:
        return None
    return (mask * torch.as_tensor(sigma, dtype=torch.float32, device=mask.device))[..., 0]


def _keyframes_mask(geometry: Geometry, video: torch.Tensor, device: torch.device) -> torch.Tensor:
    """LTX-2.5's keyframe-embedding mask for `video`'s tokens: the grid's mask (latent frame 0), extended
    with zeros over guide tokens a keyframe image appended (`pipelines.conditioned`), which are not grid
    tokens of the generated clip."""
    grid = geometry.keyframes_mask(device)
    extra = video.shape[1] - grid.shape[1]
    return grid if extra <= 0 else torch.cat([grid, grid.new_zeros(grid.shape[0], extra, 1)], dim=1)


def _pass_options(p: Perturbation):
    """Map a pipeline Perturbation onto the denoiser's pass options: one STG block list for both modalities,
    or video-only STG (a guider that guides video alone)."""
    from model_runtime.models.denoiser import PassOptions

    video_only = bool(p.video_stg_blocks) and not p.audio_stg_blocks
    if p.video_stg_blocks != p.audio_stg_blocks and not video_only:
        raise InvalidRequestError(
            "STG must perturb the same blocks for video and audio, or video alone (set the same stg_blocks and "
            f"a non-zero stg for both); got video {p.video_stg_blocks}, audio {p.audio_stg_blocks}"
        )
    return PassOptions(stg_blocks=p.video_stg_blocks, isolate_modalities=p.isolate_modalities,
                       audio_stg=not video_only)


class Runtime:
    """Loaded model files + the job lock. One job runs at a time (one GPU); a second caller gets an error."""

    def __init__(self, engine: Any, memory: Machine | Sequence[MemoryPlan] | None = None) -> None:
        self.engine = engine
        self.memory = memory
        self._busy = threading.Lock()
        self._layout = None
        self.last_plan: MemoryPlan | None = None  # the plan the last job ran under (after any OOM retry)

    @classmethod
    def open(cls, paths: ModelPaths, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32,
             *, strict: bool = True, memory: Machine | Sequence[MemoryPlan] | None = None,
             budget: Any = None, acceleration: Acceleration = DEFAULT_ACCELERATION,
             min_mapped_bytes: int | None = None) -> Runtime:
        """Validate the files (headers only) and return a runtime that loads components on first use.
        `memory`: plan each job for this machine, or use these plans as the fallback ladder (see above);
        `acceleration`: the device's attention kernels (`auto` by default) and optional torch.compile;
        `min_mapped_bytes`: see `ModelEngine`."""
        engine = ModelEngine(paths, device, dtype, strict=strict, planned=memory is not None, budget=budget,
                             acceleration=acceleration, min_mapped_bytes=min_mapped_bytes)
        return cls(engine, memory)

    def predict_duration(self, prompt: str, fps: float, bounds=None):
        """LTX-2.5 "Auto" duration: the predicted length of `prompt` before any job runs (a
        `models.duration_head.DurationPrediction`; encodes the prompt, which the job then reuses)."""
        if not self._busy.acquire(blocking=False):
            raise RuntimeErrorBase("the runtime is running a job: predict the duration before or after it")
        try:
            return self.engine.predict_duration(prompt, fps, bounds)
        finally:
            self._busy.release()

    def plans(self, request: GenerationRequest) -> tuple[MemoryPlan, ...]:
        """The memory plans a job would try, best first (empty without `memory`)."""
        if self.memory is None:
            return ()
        if not isinstance(self.memory, Machine):
            return tuple(self.memory)
        from model_runtime.memory.planner import plan_ladder

        if self._layout is None:
            self._layout = _layout(self.engine.files)
        cond = request.conditioning
        shape = RequestShape(request.width, request.height, request.frames, request.fps, stage=request.stage,
                             prompts=2 if request.negative_prompt else 1, decoder=request.decoder,
                             lora_factor_bytes=_lora_factor_bytes(request, self.engine.paths),
                             lora_mode=request.lora_mode,
                             per_token_timestep=cond is not None and not cond.empty,
                             guide_frames=len(cond.keyframes) if cond is not None else 0)
        return plan_ladder(self._layout, shape, self.memory)

    def refuse_if_nothing_fits(self, request: GenerationRequest, plans: Sequence[MemoryPlan]) -> None:
        """Raise `DoesNotFitError` (before anything loads) when the best plan does not fit the machine,
        with the figures and the largest smaller format that would fit."""
        if not plans or plans[0].fits or not isinstance(self.memory, Machine):
            return
        from model_runtime.memory.planner import nearest_fitting

        plan, m = plans[0], self.memory
        nearest = nearest_fitting(self._layout, plans[0].request, m)
        hint = (f"; {nearest.width}x{nearest.height}, {nearest.frames} frames would fit" if nearest is not None
                else "; no smaller format fits either")
        gpu = m.device != "cpu"
        where = f"{m.vram_gb:g} GB VRAM + {m.ram_gb:g} GB RAM" if gpu else f"{m.ram_gb:g} GB RAM"
        needs = (f"~{plan.peak_vram_bytes / 1e9:.1f} GB VRAM and " if gpu else "") + f"~{plan.peak_ram_bytes / 1e9:.1f} GB RAM"
        raise DoesNotFitError(
            f"{request.width}x{request.height}, {request.frames} frames does not fit this {m.device} machine "
            f"({where}): the smallest plan ({plan.strategy.label}) needs {needs}{hint}",
            replace(request, width=nearest.width, height=nearest.height, frames=nearest.frames) if nearest else None)

    def request(self, spec: RequestSpec) -> GenerationRequest:
        """The runnable request for `spec`: the loaded model's defaults (`pipelines.dev.defaults_for`) with
        the spec's overrides on top, and the draft latents read from their file (promotion)."""
        video_g = audio_g = None
        if spec.pipeline == Pipeline.DEV:
            from model_runtime.pipelines.dev import defaults_for

            d = defaults_for(self.engine.model_version)
            video_over, audio_over = spec.guidance_overrides()
            video_g, audio_g = replace(d.video, **video_over), replace(d.audio, **audio_over)
        draft = None
        if spec.draft_latents:
            from safetensors.torch import load_file

            from model_runtime.pipelines.types import StageLatents

            t = load_file(spec.draft_latents)
            draft = StageLatents(video=t["video"], audio=t["audio"])
        return GenerationRequest(
            prompt=spec.prompt, width=spec.width, height=spec.height, frames=spec.frames, fps=spec.fps,
            seed=spec.seed, negative_prompt=spec.negative_prompt, stage=spec.stage.value,
            pipeline=spec.pipeline.value, steps=spec.steps if spec.pipeline == Pipeline.DEV else None,
            video_guidance=video_g, audio_guidance=audio_g, draft_latents=draft,
            tiled_decode=spec.tiled_decode, previews=spec.previews, decoder=spec.decoder, loras=spec.loras,
            lora_mode=spec.lora_mode, conditioning=spec.conditioning_items(),
        )

    def generate(self, request: GenerationRequest | RequestSpec, cancel: CancelToken | None = None,
                 on_video: VideoSink | None = None) -> Generator[Event, None, GenerationResult]:
        """Run one job: yields ProgressEvent / PreviewEvent (and a NoticeEvent if it had to fall back to a
        smaller memory plan) and returns the GenerationResult (`result = yield from runtime.generate(...)`).
        `on_video` gets the decoded frames before the audio is decoded (see `pipelines.types.VideoSink`;
        again after a fall-back to a smaller plan), where that can gain (`video_encode.encode_overlap_pays`:
        not on a CPU whose cores torch's threads all take)."""
        from model_runtime.memory.oom import iter_with_oom_retry
        from model_runtime.pipelines import run

        config = getattr(self.engine, "config", None)
        if isinstance(config, dict):  # the checkpoint's own envelope, before any weight is loaded
            check_within(ModelEnvelope.for_config(config), request)
        if not self._busy.acquire(blocking=False):
            raise RuntimeErrorBase("the runtime is already running a job: queue the request instead")
        if on_video is not None and not self._encode_overlap_pays():
            on_video = None  # the writer encodes after the audio decode, as without a sink
        try:
            if isinstance(request, RequestSpec):
                request = self.request(request)
            plans = self.plans(request)
            self.refuse_if_nothing_fits(request, plans)
            if plans:
                return (yield from iter_with_oom_retry(lambda p: self._planned(p, request, cancel, on_video),
                                                       plans, NoticeEvent))
            return (yield from run(self.engine, request, cancel, on_video))
        finally:
            self._busy.release()

    def _encode_overlap_pays(self) -> bool:
        from model_runtime.cpu_threads import cpu_threads
        from model_runtime.media.video_encode import encode_overlap_pays

        device = torch.device(getattr(self.engine, "device", "cpu"))  # the cores this process may use, as the
        return encode_overlap_pays(device.type, cpu_threads(ui=False), torch.get_num_threads())  # thread rule

    def _planned(self, plan: MemoryPlan, request: GenerationRequest, cancel: CancelToken | None,
                 on_video: VideoSink | None = None) -> Generator[Event, None, GenerationResult]:
        from model_runtime.pipelines import run

        log.info("memory plan: %s", plan.summary)
        self.last_plan = plan
        if request.decoder == "auto" and "diffusion" in getattr(self.engine, "decoders", ()):
            request = replace(request, decoder=plan.video_decoder)  # the sharp decoder only when it fits
        with self.engine.memory_plan(plan):
            prefetch = getattr(self.engine, "prefetch_transformer", None)  # test engines may not have it
            if prefetch is not None:
                prefetch()  # the transformer's read overlaps the prompt's encoding (CPU, resident plans)
            result = yield from run(self.engine, request, cancel, on_video)
        return replace(result, settings=dict(result.settings or {}) | {"numerics": self._numerics(plan)})

    def _numerics(self, plan: MemoryPlan) -> dict[str, Any]:
        """What besides the request decides a job's low bits, recorded with its result: the torch thread count
        (a float sum split over another number of threads rounds differently: the demo draft's frames differ
        between 1 and 2 threads) and the plan's numeric choices (weights, placement, decode tiles). Two runs
        of one request give the same frames when these match (same device and files)."""
        from dataclasses import asdict

        device = getattr(self.engine, "device", None)
        return {"device": str(device), "dtype": str(getattr(self.engine, "dtype", "")).removeprefix("torch."),
                "threads": torch.get_num_threads(), "plan": plan.strategy.label,
                "strategy": {k: str(v) if isinstance(v, Enum) else v for k, v in asdict(plan.strategy).items()},
                "vae_tile": plan.vae_tile.label() if plan.vae_tile else None}
