"""The runtime's front door: open the model files once, then run generation jobs one at a time.

    runtime = Runtime.open(ModelPaths(checkpoint, upsampler, text_encoder_dir), device="cuda")
    for event in runtime.generate(request, cancel=token):   # ProgressEvent / PreviewEvent ...
        ...                                                  # ... and the GenerationResult last

`Runtime.open` only reads headers (fast, and it refuses a wrong file before any weights load); each
component is loaded strictly on first use and stays resident between jobs (a draft never loads the
upsampler). `ModelEngine` is the one owner of the loaded modules (STYLE 6): pipelines only call it.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from model_runtime.checkpoints import inspect_checkpoint
from model_runtime.errors import InvalidRequestError, RuntimeErrorBase
from model_runtime.loading import ComponentSpec, load_component
from model_runtime.pipelines.engine import NO_PERTURBATION, DecodedAudio, Perturbation, PromptContexts
from model_runtime.pipelines.geometry import Geometry
from model_runtime.pipelines.types import Event, GenerationRequest, GenerationResult
from model_runtime.sampling.control import CancelToken

log = logging.getLogger(__name__)

PROMPT_CACHE_SIZE = 8  # recent prompt encodings: promoting a draft re-uses its prompt's encoding


@dataclass(frozen=True)
class ModelPaths:
    """The user's model files: the LTX-2.3 single file, the x2 spatial upscaler, the Gemma-3 folder."""

    checkpoint: Path
    upsampler: Path | None = None
    text_encoder_dir: Path | None = None


class ModelEngine:
    """Implements `pipelines.engine.Engine` over the real LTX-2.3 components, loaded lazily and kept."""

    def __init__(self, paths: ModelPaths, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32,
                 *, strict: bool = True) -> None:
        self.paths = paths
        self.info = inspect_checkpoint(paths.checkpoint)
        self._device = torch.device(device)
        self.dtype = dtype
        self.strict = strict
        self._modules: dict[str, Any] = {}
        self._positions_cache: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}
        self._prompts: OrderedDict[str, PromptContexts] = OrderedDict()

    # --- Engine protocol: facts -------------------------------------------------------------------
    @property
    def config(self) -> dict:
        return self.info.config

    @property
    def model_version(self) -> str:
        return self.info.model_version

    @property
    def device(self) -> torch.device:
        return self._device

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
        for name in names or tuple(self._modules):
            module = self._modules.pop(name, None)
            if hasattr(module, "release"):  # the text encoder frees Gemma and its heads
                module.release()

    def _load(self, spec: ComponentSpec) -> torch.nn.Module:
        module, _ = load_component(self.info.header, spec, self.config, dtype=self.dtype, device=self._device,
                                   strict=self.strict)
        return module

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

        if self.paths.text_encoder_dir is None:
            raise InvalidRequestError("encoding a prompt needs the Gemma-3 text encoder folder; none was given")
        return TextEncoder(self.paths.text_encoder_dir, self.info.header, self.config, dtype=self.dtype,
                           device=self._device, strict=self.strict)

    def denoise(self, video: torch.Tensor, audio: torch.Tensor, sigma: torch.Tensor, geometry: Geometry,
                contexts: PromptContexts, perturbation: Perturbation = NO_PERTURBATION,
                ) -> tuple[torch.Tensor, torch.Tensor]:
        from model_runtime.models.denoiser import AVDenoiser, ModalityInput

        denoiser = self.component("transformer", lambda: AVDenoiser(self._load(_spec("transformer"))))
        v_pos, a_pos = self._positions(geometry)
        out = denoiser(ModalityInput(video, sigma, contexts.video, v_pos),
                       ModalityInput(audio, sigma, contexts.audio, a_pos), _pass_options(perturbation))
        return out.video.x0, out.audio.x0

    def upsample(self, video_latent: torch.Tensor) -> torch.Tensor:
        from model_runtime.models.upsampler import load_upsampler, upsample_video_latent

        if self.paths.upsampler is None:
            raise InvalidRequestError("a render needs the x2 spatial upscaler file; none was given")
        upsampler = self.component("upsampler", lambda: load_upsampler(
            self.paths.upsampler, dtype=self.dtype, device=self._device, strict=self.strict)[0])
        decoder = self._video_decoder()
        with torch.inference_mode():
            latent = video_latent.to(self._device, self.dtype)
            return upsample_video_latent(latent, upsampler, decoder.per_channel_statistics).float()

    def decode_video(self, video_latent: torch.Tensor, tiled: bool) -> Iterator[torch.Tensor]:
        from model_runtime.models.video_vae import TilingConfig, decode_video

        decoder = self._video_decoder()
        tiling = TilingConfig() if tiled else None
        with torch.inference_mode():
            chunks = decode_video(decoder, video_latent.to(self._device, self.dtype), tiling)
            for chunk in chunks:
                yield chunk.float().cpu()

    def decode_audio(self, audio_latent: torch.Tensor) -> DecodedAudio:
        from model_runtime.models.audio_vae import decode_audio

        decoder = self.component("audio_decoder", lambda: self._load(_spec("audio_vae_decoder")))
        vocoder = self.component("vocoder", lambda: self._load(_spec("vocoder")))
        out = decode_audio(audio_latent.to(self._device), decoder, vocoder)
        return DecodedAudio(out.waveform.float().cpu(), int(out.sample_rate))

    # --- helpers -----------------------------------------------------------------------------------
    def _video_decoder(self) -> torch.nn.Module:
        return self.component("video_decoder", lambda: self._load(_spec("video_decoder")))

    def _positions(self, geometry: Geometry) -> tuple[torch.Tensor, torch.Tensor]:
        key = (geometry.video_shape, geometry.audio_shape, geometry.fps)
        if key not in self._positions_cache:
            self._positions_cache[key] = (geometry.video_positions(self._device),
                                          geometry.audio_positions(self._device))
        return self._positions_cache[key]


def _spec(name: str) -> ComponentSpec:
    from model_runtime.components import spec

    return spec(name)


def _pass_options(p: Perturbation):
    """Map a pipeline Perturbation onto the denoiser's pass options (one STG block list for both modalities)."""
    from model_runtime.models.denoiser import PassOptions

    if p.video_stg_blocks != p.audio_stg_blocks:
        raise InvalidRequestError(
            "STG must perturb the same blocks for video and audio (set the same stg_blocks and a non-zero "
            f"stg for both); got video {p.video_stg_blocks}, audio {p.audio_stg_blocks}"
        )
    return PassOptions(stg_blocks=p.video_stg_blocks, isolate_modalities=p.isolate_modalities)


class Runtime:
    """Loaded model files + the job lock. One job runs at a time (one GPU); a second caller gets an error."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self._busy = threading.Lock()

    @classmethod
    def open(cls, paths: ModelPaths, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32,
             *, strict: bool = True) -> Runtime:
        """Validate the files (headers only) and return a runtime that loads components on first use."""
        return cls(ModelEngine(paths, device, dtype, strict=strict))

    def generate(self, request: GenerationRequest, cancel: CancelToken | None = None
                 ) -> Generator[Event | GenerationResult, None, GenerationResult]:
        """Run one job: yields ProgressEvent / PreviewEvent, then the GenerationResult (also returned)."""
        from model_runtime.pipelines import run

        if not self._busy.acquire(blocking=False):
            raise RuntimeErrorBase("the runtime is already running a job: queue the request instead")
        try:
            result = yield from run(self.engine, request, cancel)
            yield result
            return result
        finally:
            self._busy.release()
