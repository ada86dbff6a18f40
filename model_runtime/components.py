"""The one list of components in the official files: what the layout check, the demo-model writer and the
runtime iterate over, so a component added in one place cannot be forgotten in another.

The list is data (module path + attribute of each `ComponentSpec`) and is resolved on first use: importing
this module imports no model code, and a spec module that fails to import is reported by name.

`group`: components of one group may claim the same file tensor. The video VAE's encoder and decoder
both use the one `vae.per_channel_statistics.*` pair stored in the file (likewise the audio VAE); any other
tensor claimed twice is a layout error.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Literal

from model_runtime.errors import CheckpointError
from model_runtime.loading import ComponentSpec

FileRole = Literal["checkpoint", "upsampler", "transformer", "text_encoder", "video_vae", "video_vae_conv",
                   "audio_vae", "duration_head"]


@dataclass(frozen=True)
class ComponentRef:
    """Where a ComponentSpec is defined and which file it lives in."""

    module: str
    attr: str
    file: FileRole
    group: str

    def resolve(self) -> ComponentSpec:
        try:
            spec = getattr(importlib.import_module(self.module), self.attr)
        except (ImportError, AttributeError) as exc:
            raise CheckpointError(f"component {self.module}.{self.attr} is not available: {exc}") from exc
        if not isinstance(spec, ComponentSpec):
            raise CheckpointError(f"{self.module}.{self.attr} is not a ComponentSpec")
        return spec


#: every component of the LTX-2.3 single file, in file order, then the x2 spatial upscaler (its own file),
#: then the components of each LTX-2.5 split file
REGISTRY: tuple[ComponentRef, ...] = (
    ComponentRef("model_runtime.models.transformer", "TRANSFORMER_SPEC", "checkpoint", "transformer"),
    ComponentRef("model_runtime.text.connectors", "VIDEO_CONNECTOR_SPEC", "checkpoint", "video_connector"),
    ComponentRef("model_runtime.text.connectors", "AUDIO_CONNECTOR_SPEC", "checkpoint", "audio_connector"),
    ComponentRef("model_runtime.text.projection", "TEXT_PROJECTION_SPEC", "checkpoint", "text_projection"),
    ComponentRef("model_runtime.models.video_vae", "VIDEO_ENCODER_SPEC", "checkpoint", "video_vae"),
    ComponentRef("model_runtime.models.video_vae", "VIDEO_DECODER_SPEC", "checkpoint", "video_vae"),
    ComponentRef("model_runtime.models.audio_vae", "AUDIO_ENCODER_SPEC", "checkpoint", "audio_vae"),
    ComponentRef("model_runtime.models.audio_vae", "AUDIO_DECODER_SPEC", "checkpoint", "audio_vae"),
    ComponentRef("model_runtime.models.vocoder", "VOCODER_SPEC", "checkpoint", "vocoder"),
    ComponentRef("model_runtime.models.upsampler", "UPSAMPLER_SPEC", "upsampler", "upsampler"),
    # LTX-2.5 split files (the same specs where the component is the same; roles name the file)
    ComponentRef("model_runtime.models.transformer", "TRANSFORMER_SPEC", "transformer", "transformer"),
    ComponentRef("model_runtime.text.connectors", "VIDEO_CONNECTOR_SPEC", "transformer", "video_connector"),
    ComponentRef("model_runtime.text.connectors", "AUDIO_CONNECTOR_SPEC", "transformer", "audio_connector"),
    ComponentRef("model_runtime.text.projection", "TEXT_PROJECTION_SPEC", "text_encoder", "text_projection"),
    ComponentRef("model_runtime.text.gemma4", "GEMMA4_SPEC", "text_encoder", "gemma4"),
    ComponentRef("model_runtime.models.video_vae", "VIDEO_ENCODER_SPEC", "video_vae", "video_vae"),
    ComponentRef("model_runtime.models.diffusion_decoder", "VIDEO_DIFFUSION_DECODER_SPEC", "video_vae", "video_vae"),
    ComponentRef("model_runtime.models.video_vae", "VIDEO_ENCODER_SPEC", "video_vae_conv", "video_vae"),
    ComponentRef("model_runtime.models.video_vae", "VIDEO_DECODER_SPEC", "video_vae_conv", "video_vae"),
    ComponentRef("model_runtime.models.audio_vae", "AUDIO_ENCODER_SPEC", "audio_vae", "audio_vae"),
    ComponentRef("model_runtime.models.audio_vae", "AUDIO_DECODER_SPEC", "audio_vae", "audio_vae"),
    ComponentRef("model_runtime.models.vocoder", "VOCODER_SPEC", "audio_vae", "vocoder"),
    ComponentRef("model_runtime.models.duration_head", "DURATION_HEAD_SPEC", "duration_head", "duration_head"),
)


def refs(file: FileRole) -> tuple[ComponentRef, ...]:
    return tuple(r for r in REGISTRY if r.file == file)


def specs(file: FileRole = "checkpoint") -> tuple[ComponentSpec, ...]:
    """The resolved specs of one file, in registry order."""
    return tuple(r.resolve() for r in refs(file))


def spec(name: str) -> ComponentSpec:
    """A spec by its `ComponentSpec.name` (e.g. "transformer", "vocoder")."""
    for ref in REGISTRY:
        s = ref.resolve()
        if s.name == name:
            return s
    raise KeyError(f"no component named {name!r}")

