"""`TextEncoder`: the typed text API the pipelines call: prompt -> video/audio contexts for the transformer.

It owns the whole text path of one checkpoint: the Gemma folder (tokenizer + language model), the
`text_embedding_projection` and the two connectors from the LTX single file. Everything is checked when
the encoder is made (folder layout, V2 text config, Gemma dims against the projection's shape) but
weights load on first use. Gemma-3-12B is 24 GB in bf16 and is only needed until the prompts are encoded:
`encode_all` runs every prompt of a job (prompt + negative) in one residency, then `release_gemma()`
frees it; the projection/connectors (about 6 GB for 2.3) go with `release()`.
"""

from __future__ import annotations

import contextlib
import gc
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from model_runtime.checkpoints import SafetensorsHeader, inspect_checkpoint, read_header
from model_runtime.errors import CheckpointError
from model_runtime.loading import load_component
from model_runtime.mapped import MappedFile, compute_dtype
from model_runtime.memory.plan import TextPlacement
from model_runtime.text.connectors import (
    AUDIO_CONNECTOR_SPEC,
    VIDEO_CONNECTOR_SPEC,
    ConnectorOutput,
    run_connectors,
)
from model_runtime.text.gemma import (
    GemmaEncoder,
    inspect_gemma_folder,
    load_gemma_language_model,
    load_gemma_mapped,
)
from model_runtime.text.projection import (
    TEXT_PROJECTION_SPEC,
    TextProjection,
    check_gemma_matches,
    check_v2_text_config,
    with_gemma_dims,
)
from model_runtime.text.tokenizer import DEFAULT_TEXT_MAX_LENGTH, PromptTokenizer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TextEncoding:
    """One encoded prompt. B = 1, T = the text length (1024 for 2.3).

    video_context `[B, T, Dv]` and audio_context `[B, T, Da]` feed the transformer's text cross-attention;
    context_mask `[B, T]` int64 is the connectors' mask (all ones: registers fill the padding);
    input_ids / attention_mask `[B, T]` int64 are the tokenizer's output (kept for reproducibility).
    """

    prompt: str
    video_context: torch.Tensor
    audio_context: torch.Tensor
    context_mask: torch.Tensor
    input_ids: torch.Tensor
    attention_mask: torch.Tensor


@dataclass(frozen=True)
class TextFeatures:
    """Intermediate tensors of `project_and_connect` (the goldens compare them)."""

    video_features: torch.Tensor
    audio_features: torch.Tensor
    output: ConnectorOutput


def project_and_connect(projection: TextProjection, video_connector: nn.Module, audio_connector: nn.Module,
                        hidden_states: torch.Tensor, attention_mask: torch.Tensor) -> TextFeatures:
    """Stacked Gemma states `[B, T, D, L+1]` + binary mask -> features -> connector contexts."""
    weight = projection.video_aggregate_embed.weight
    with torch.inference_mode():
        hidden = hidden_states.to(device=weight.device, dtype=compute_dtype(projection, weight))
        mask = attention_mask.to(weight.device)
        video, audio = projection(hidden, mask)
    return TextFeatures(video, audio, run_connectors(video_connector, audio_connector, video, audio, mask))


def _free_cache(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
    elif device.type == "mps":
        torch.mps.empty_cache()


class TextEncoder:
    """Prompt -> `TextEncoding` for one model: LTX-2.3 (single file + Gemma-3 folder) or LTX-2.5 (the packed
    Gemma-4 file with the text projection + the transformer file with the connectors)."""

    def __init__(
        self,
        gemma_dir: str | Path,
        checkpoint: str | Path | SafetensorsHeader,
        config: dict | None = None,
        *,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str = "cpu",
        gemma_device: torch.device | str | None = None,
        max_length: int = DEFAULT_TEXT_MAX_LENGTH,
        strict: bool = True,
        placement: TextPlacement | None = None,
        mapped: bool = False,
        min_mapped_bytes: int | None = None,
    ):
        """`placement`: where Gemma runs, as a memory plan says (None: plainly on `gemma_device`):
        GPU / GPU_FP8 (fp8 storage, see `memory.executors`) on `device`, STREAM (layers kept in RAM and
        streamed through `device` one at a time), CPU (on the CPU, its weights left in the mapped shards).
        `mapped`: keep large weights in the model files (a CPU plan whose weights exceed RAM): the
        projection and connectors keep theirs in the file and upcast per layer (`mapped`), and the
        language model (Gemma-3 folder or packed Gemma-4 file) is mapped too."""
        header = checkpoint if isinstance(checkpoint, SafetensorsHeader) else read_header(checkpoint)
        config = config if config is not None else inspect_checkpoint(header.path).config
        check_v2_text_config(config["transformer"])
        folder = inspect_gemma_folder(gemma_dir)
        check_gemma_matches(header, folder.dims)
        self._setup(folder, PromptTokenizer.from_folder(folder.path, max_length),
                    lambda dt, dev: load_gemma_language_model(folder, dtype=dt, device=dev),
                    (header, with_gemma_dims(config, folder.dims)), (header, config),
                    dtype=dtype, device=device, gemma_device=gemma_device, strict=strict, placement=placement,
                    mapped=mapped, min_mapped_bytes=min_mapped_bytes,
                    load_gemma_mapped=lambda dt, floor: load_gemma_mapped(folder, dtype=dt, min_mapped_bytes=floor))

    @classmethod
    def for_model(cls, files, *, dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu",
                  gemma_device: torch.device | str | None = None, max_length: int = DEFAULT_TEXT_MAX_LENGTH,
                  strict: bool = True, placement: TextPlacement | None = None, mapped: bool = False,
                  min_mapped_bytes: int | None = None) -> TextEncoder:
        """The text path of a `families.ModelFiles` (either family), placed as `__init__` describes."""
        if not files.is_split:
            if files.gemma3_dir is None:
                raise CheckpointError("encoding a prompt needs the Gemma-3 text encoder folder; none was given")
            return cls(files.gemma3_dir, files.main.header, files.config, dtype=dtype, device=device,
                       gemma_device=gemma_device, max_length=max_length, strict=strict, placement=placement,
                       mapped=mapped, min_mapped_bytes=min_mapped_bytes)
        from model_runtime.text.gemma4 import (
            inspect_gemma4_file,
            load_gemma4_language_model,
            load_gemma4_mapped,
        )

        te = files.file_for("text_projection")
        check_v2_text_config(files.config["transformer"])
        gemma = inspect_gemma4_file(te.path)
        check_gemma_matches(te.header, gemma.dims)
        self = cls.__new__(cls)
        self._setup(gemma, PromptTokenizer.from_gemma4_file(gemma, max_length),
                    lambda dt, dev: load_gemma4_language_model(gemma, dtype=dt, device=dev, strict=strict),
                    (te.header, files.config_for("text_projection")), (files.main.header, files.config),
                    dtype=dtype, device=device, gemma_device=gemma_device, strict=strict, placement=placement,
                    mapped=mapped, min_mapped_bytes=min_mapped_bytes,
                    load_gemma_mapped=lambda dt, floor: load_gemma4_mapped(gemma, dtype=dt, min_mapped_bytes=floor,
                                                                           strict=strict))
        return self

    def _setup(self, folder, tokenizer: PromptTokenizer, load_gemma, projection_source: tuple[SafetensorsHeader, dict],
               connector_source: tuple[SafetensorsHeader, dict], *, dtype: torch.dtype, device: torch.device | str,
               gemma_device: torch.device | str | None, strict: bool, placement: TextPlacement | None,
               mapped: bool, min_mapped_bytes: int | None,
               load_gemma_mapped: Callable[[torch.dtype, int | None], nn.Module]) -> None:
        """`load_gemma`(dtype, device) loads the language model; `load_gemma_mapped`(dtype, floor) loads it
        on the CPU with its large weights left in the mapped file (Gemma-3 folder or packed Gemma-4 file)."""
        self.folder = folder  # GemmaFolder (2.3) or Gemma4File (2.5): both carry `.dims` and `.path`
        self.tokenizer = tokenizer
        self._load_gemma_plain = load_gemma
        self._load_gemma_mapped = load_gemma_mapped
        self._projection_source = projection_source
        self._connector_source = connector_source
        self.header, self.config = connector_source
        self.dtype = dtype
        self.device = torch.device(device)
        self.gemma_device = torch.device(gemma_device) if gemma_device is not None else self.device
        self.strict = strict
        self.placement = placement
        self.mapped = mapped
        self.min_mapped_bytes = min_mapped_bytes
        self._mapped_files: dict[Path, MappedFile] = {}
        if placement is TextPlacement.CPU or (mapped and self.device.type == "cpu"):
            self.gemma_device = torch.device("cpu")
        self._gemma: GemmaEncoder | None = None
        self._heads: tuple[TextProjection, nn.Module, nn.Module] | None = None

    # --- residency ---------------------------------------------------------------------------
    @property
    def gemma(self) -> GemmaEncoder:
        if self._gemma is None:
            self._gemma = GemmaEncoder(self.folder, self._load_gemma())
        return self._gemma

    def _load_gemma(self) -> nn.Module:
        p = self.placement
        cpu_mapped = self.gemma_device.type == "cpu" and (p is TextPlacement.CPU or self.mapped)
        if cpu_mapped:
            return self._load_gemma_mapped(self.dtype, self.min_mapped_bytes)
        if p is TextPlacement.GPU_FP8:
            from model_runtime.memory.executors import quantize_fp8_

            model = self._load_gemma_plain(self.dtype, torch.device("cpu"))
            quantize_fp8_(model)
            return model.to(self.gemma_device)
        if p is TextPlacement.STREAM:  # stays in RAM; `_placed` streams its layers through the device
            return self._load_gemma_plain(self.dtype, torch.device("cpu"))
        return self._load_gemma_plain(self.dtype, self.gemma_device)

    def _mapped_file(self, header: SafetensorsHeader) -> MappedFile | None:
        """`header`'s file mapped when weights stay in the files on this (CPU) device, else None."""
        if not self.mapped or self.device.type != "cpu":
            return None
        if header.path not in self._mapped_files:
            self._mapped_files[header.path] = MappedFile(header)
        return self._mapped_files[header.path]

    @contextlib.contextmanager
    def _placed(self) -> Iterator[GemmaEncoder]:
        """Gemma ready to run: as loaded, or (STREAM) its layers streamed through `gemma_device`."""
        gemma = self.gemma
        if self.placement is not TextPlacement.STREAM:
            yield gemma
            return
        from model_runtime.memory.apply import non_block_resident
        from model_runtime.memory.streaming import stream_blocks

        layers = gemma.model.layers
        with non_block_resident(gemma.model, layers, self.gemma_device), \
                stream_blocks(layers, self.gemma_device, blocks_in_flight=2):
            yield gemma

    @property
    def heads(self) -> tuple[TextProjection, nn.Module, nn.Module]:
        """(projection, video connector, audio connector), loaded strictly (one or two files)."""
        if self._heads is None:
            sources = (self._projection_source, self._connector_source, self._connector_source)
            loaded = [
                load_component(header, spec, config, dtype=self.dtype, device=self.device, strict=self.strict,
                               mapped=self._mapped_file(header), min_mapped_bytes=self.min_mapped_bytes)[0]
                for spec, (header, config) in zip((TEXT_PROJECTION_SPEC, VIDEO_CONNECTOR_SPEC, AUDIO_CONNECTOR_SPEC),
                                                  sources, strict=True)
            ]
            self._heads = (loaded[0], loaded[1], loaded[2])  # type: ignore[assignment]
        return self._heads  # type: ignore[return-value]

    @property
    def gemma_loaded(self) -> bool:
        return self._gemma is not None

    def release_gemma(self) -> None:
        """Free the Gemma language model (the largest part); a later `encode` loads it again."""
        if self._gemma is not None:
            self._gemma = None
            _free_cache(self.gemma_device)
            log.info("released Gemma (%s)", self.gemma_device)

    def release(self) -> None:
        """Free everything this encoder loaded."""
        self.release_gemma()
        if self._heads is not None:
            self._heads = None
            _free_cache(self.device)

    def __enter__(self) -> TextEncoder:
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    # --- encoding ----------------------------------------------------------------------------
    def encode(self, prompt: str) -> TextEncoding:
        tokens = self.tokenizer(prompt)
        with self._placed() as gemma:
            hidden = gemma.hidden_states(tokens.input_ids, tokens.attention_mask)
        out = project_and_connect(*self.heads, hidden, tokens.attention_mask).output
        return TextEncoding(prompt, out.video_context, out.audio_context, out.context_mask,
                            tokens.input_ids, tokens.attention_mask)

    def encode_all(self, prompts: list[str] | tuple[str, ...], *, release_gemma: bool = True) -> list[TextEncoding]:
        """Encode every prompt of a job with one Gemma residency, then (by default) free Gemma."""
        try:
            return [self.encode(p) for p in prompts]
        finally:
            if release_gemma:
                self.release_gemma()
