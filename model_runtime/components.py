"""The one list of components in the official files: what the layout check, the demo-model writer and the
runtime iterate over, so a component added in one place cannot be forgotten in another.

The list holds the `ComponentSpec` objects themselves, imported by plain import statements (the import
linter and PyInstaller see every module a checkpoint is built from). Importing this module imports the
model modules (torch); nothing on a light path does: the CLI's layout, goldens and generate commands, the
demo writer and the runtime import it when they run.

`group`: components of one group may claim the same file tensor. The video VAE's encoder and decoder
both use the one `vae.per_channel_statistics.*` pair stored in the file (likewise the audio VAE); any other
tensor claimed twice is a layout error.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from model_runtime.loading import ComponentSpec
from model_runtime.models.audio_vae import AUDIO_DECODER_SPEC, AUDIO_ENCODER_SPEC
from model_runtime.models.diffusion_decoder import VIDEO_DIFFUSION_DECODER_SPEC
from model_runtime.models.duration_head import DURATION_HEAD_SPEC
from model_runtime.models.transformer import TRANSFORMER_SPEC
from model_runtime.models.upsampler import UPSAMPLER_SPEC
from model_runtime.models.video_vae import VIDEO_DECODER_SPEC, VIDEO_ENCODER_SPEC
from model_runtime.models.vocoder import VOCODER_SPEC
from model_runtime.text.connectors import AUDIO_CONNECTOR_SPEC, VIDEO_CONNECTOR_SPEC
from model_runtime.text.gemma4 import GEMMA4_SPEC
from model_runtime.text.projection import TEXT_PROJECTION_SPEC

FileRole = Literal["checkpoint", "upsampler", "transformer", "text_encoder", "video_vae", "video_vae_conv",
                   "audio_vae", "duration_head"]


@dataclass(frozen=True)
class FileComponent:
    """A component and the file it lives in."""

    spec: ComponentSpec
    file: FileRole
    group: str


#: every component of the LTX-2.3 single file, in file order, then the x2 spatial upscaler (its own file),
#: then the components of each LTX-2.5 split file
REGISTRY: tuple[FileComponent, ...] = (
    FileComponent(TRANSFORMER_SPEC, "checkpoint", "transformer"),
    FileComponent(VIDEO_CONNECTOR_SPEC, "checkpoint", "video_connector"),
    FileComponent(AUDIO_CONNECTOR_SPEC, "checkpoint", "audio_connector"),
    FileComponent(TEXT_PROJECTION_SPEC, "checkpoint", "text_projection"),
    FileComponent(VIDEO_ENCODER_SPEC, "checkpoint", "video_vae"),
    FileComponent(VIDEO_DECODER_SPEC, "checkpoint", "video_vae"),
    FileComponent(AUDIO_ENCODER_SPEC, "checkpoint", "audio_vae"),
    FileComponent(AUDIO_DECODER_SPEC, "checkpoint", "audio_vae"),
    FileComponent(VOCODER_SPEC, "checkpoint", "vocoder"),
    FileComponent(UPSAMPLER_SPEC, "upsampler", "upsampler"),
    # LTX-2.5 split files (the same specs where the component is the same; roles name the file)
    FileComponent(TRANSFORMER_SPEC, "transformer", "transformer"),
    FileComponent(VIDEO_CONNECTOR_SPEC, "transformer", "video_connector"),
    FileComponent(AUDIO_CONNECTOR_SPEC, "transformer", "audio_connector"),
    FileComponent(TEXT_PROJECTION_SPEC, "text_encoder", "text_projection"),
    FileComponent(GEMMA4_SPEC, "text_encoder", "gemma4"),
    FileComponent(VIDEO_ENCODER_SPEC, "video_vae", "video_vae"),
    FileComponent(VIDEO_DIFFUSION_DECODER_SPEC, "video_vae", "video_vae"),
    FileComponent(VIDEO_ENCODER_SPEC, "video_vae_conv", "video_vae"),
    FileComponent(VIDEO_DECODER_SPEC, "video_vae_conv", "video_vae"),
    FileComponent(AUDIO_ENCODER_SPEC, "audio_vae", "audio_vae"),
    FileComponent(AUDIO_DECODER_SPEC, "audio_vae", "audio_vae"),
    FileComponent(VOCODER_SPEC, "audio_vae", "vocoder"),
    FileComponent(DURATION_HEAD_SPEC, "duration_head", "duration_head"),
)


def in_file(file: FileRole) -> tuple[FileComponent, ...]:
    """The components of one file, in file order."""
    return tuple(r for r in REGISTRY if r.file == file)


def specs(file: FileRole = "checkpoint") -> tuple[ComponentSpec, ...]:
    """The specs of one file, in file order."""
    return tuple(r.spec for r in in_file(file))


def spec(name: str) -> ComponentSpec:
    """A spec by its `ComponentSpec.name` (e.g. "transformer", "vocoder")."""
    for ref in REGISTRY:
        if ref.spec.name == name:
            return ref.spec
    raise KeyError(f"no component named {name!r}")

