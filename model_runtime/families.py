"""Model families as data: which LTX release a set of files is, and which file holds each component.

LTX-2.3 ships one single file (transformer + connectors + text projection + video VAE + audio VAE +
vocoder) next to a Gemma-3 folder; LTX-2.5 ships one file per component (transformer with its
connectors, a packed Gemma-4 text encoder with the text projection, a diffusion video VAE, a conv video
VAE, an audio VAE with its vocoder, an x2 upscaler, a duration head). Both run through the same modules
and pipelines: what differs is read here from each file's header (`__metadata__`: `config`,
`model_version`, `gemma_config`, `gemma_source_checkpoint`) and handed to the loader as
(file, config) per component. Mixes are allowed as long as every file is of the same family (a quantised
2.5 transformer with a bf16 2.5 VAE); a component of the other family is refused with one sentence
naming the file and what it should be.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from model_runtime.checkpoints import (
    REQUIRED_COMPONENTS,
    SafetensorsHeader,
    components_in,
    metadata_json,
    read_header,
)
from model_runtime.errors import CheckpointError, UnsupportedModelError

log = logging.getLogger(__name__)

Family = Literal["2.3", "2.5"]
Role = Literal["single", "transformer", "text_encoder", "video_vae", "video_vae_conv", "audio_vae", "upsampler",
               "duration_head"]

#: what each 2.5 split file is, as a user should read it in an error message
ROLE_TEXT: dict[str, str] = {
    "single": "the LTX-2.3 single checkpoint file (ltx-2.3-22b-*.safetensors)",
    "transformer": "the LTX-2.5 transformer file (diffusion_models/ltx-2.5-*-transformer-*.safetensors)",
    "text_encoder": "the LTX-2.5 Gemma-4 text encoder file (text_encoders/gemma4-12b-with-proj-ltx-2.5-*.safetensors)",
    "video_vae": "the LTX-2.5 diffusion video VAE file (vae/ltx-2.5-video-vae-*.safetensors)",
    "video_vae_conv": "the LTX-2.5 conv video VAE file (vae/ltx-2.5-video-vae-conv-*.safetensors)",
    "audio_vae": "the LTX-2.5 audio VAE file (vae/ltx-2.5-audio-vae-*.safetensors)",
    "upsampler": "a latent upsampler file (the spatial x2 upscaler)",
    "duration_head": "the LTX-2.5 duration head file (model_patches/ltx-2.5-duration-head-*.safetensors)",
}

#: component spec name -> the split-file role that holds it (2.5); a 2.3 single file holds all but these
SPEC_ROLES: dict[str, Role] = {
    "transformer": "transformer",
    "video_connector": "transformer",
    "audio_connector": "transformer",
    "text_projection": "text_encoder",
    "gemma4": "text_encoder",
    "video_encoder": "video_vae",
    "video_diffusion_decoder": "video_vae",
    "video_decoder": "video_vae_conv",
    "audio_vae_encoder": "audio_vae",
    "audio_vae_decoder": "audio_vae",
    "vocoder": "audio_vae",
    "spatial_upsampler": "upsampler",
    "duration_head": "duration_head",
}
_NOT_IN_SINGLE = {"upsampler", "duration_head", "text_encoder", "video_vae"}

DIFFUSION_VAE_CLASS = "CausalDiffusionVAE"


def family_of(version: str) -> Family | None:
    if version.startswith("2.3"):
        return "2.3"
    if version.startswith("2.5"):
        return "2.5"
    return None


@dataclass(frozen=True)
class ComponentFile:
    """One model file, identified from its header alone."""

    path: Path
    role: Role
    family: Family | None  # None: the file states no version (upscalers)
    version: str
    config: dict = field(repr=False)
    header: SafetensorsHeader = field(repr=False, compare=False)
    gemma_version: str = ""  # text encoder: its own; transformer: the one it was trained with

    @property
    def size_bytes(self) -> int:
        return self.header.file_size

    @property
    def model_version(self) -> str:
        """The `model_version` metadata (the name `checkpoints.CheckpointInfo` uses)."""
        return self.version


def _role_of(header: SafetensorsHeader, cfg: dict) -> Role | None:
    keys = header.tensors
    if "gemma_config" in header.metadata or "tokenizer_json" in keys:
        return "text_encoder"
    if cfg.get("_class_name") == "LatentUpsampler":
        return "upsampler"
    if "duration_head" in cfg or any(k.startswith("duration_head.") for k in keys):
        return "duration_head"
    vae = cfg.get("vae")
    has_transformer = any(k.startswith("model.diffusion_model.") for k in keys)
    if has_transformer and isinstance(cfg.get("transformer"), dict):
        return "single" if isinstance(vae, dict) and any(k.startswith("vae.") for k in keys) else "transformer"
    if isinstance(vae, dict):
        return "video_vae" if vae.get("_class_name") == DIFFUSION_VAE_CLASS else "video_vae_conv"
    if "audio_vae" in cfg or any(k.startswith("audio_vae.") for k in keys):
        return "audio_vae"
    return None


def identify(path: str | Path) -> ComponentFile:
    """What an LTX model file is (role, family), from its header; refuses what is none of them."""
    header = read_header(path)
    cfg = metadata_json(header, "config")
    role = _role_of(header, cfg)
    if role is None:
        raise UnsupportedModelError(
            f"{header.path}: not an LTX-2.3 or LTX-2.5 model file (no recognisable config or component keys)"
        )
    version = header.metadata.get("model_version", "")
    gemma_version = ""
    if role == "text_encoder":
        gcfg = metadata_json(header, "gemma_config")
        gemma_version = str(gcfg.get("gemma_version", ""))
        version = version or ("2.5" if gcfg.get("model_type", "").startswith("gemma4") else "")
        cfg = {"gemma_config": gcfg}
    elif role in ("transformer", "single"):
        gemma_version = str(metadata_json(header, "gemma_source_checkpoint").get("gemma_version", ""))
    family = family_of(version)
    if version and family is None:
        raise UnsupportedModelError(
            f"{header.path}: model version {version} is not supported; expected LTX-2.3.x or LTX-2.5.x"
        )
    return ComponentFile(header.path, role, family, version, cfg, header, gemma_version)


def _expect(file: ComponentFile, role: Role, family: Family | None) -> None:
    """One sentence when a file is not the component it was given as."""
    if file.role != role:
        raise CheckpointError(f"{file.path}: this is {ROLE_TEXT[file.role]}, but it was given as {ROLE_TEXT[role]}")
    if family is not None and file.family is not None and file.family != family:
        raise CheckpointError(
            f"{file.path}: this is an LTX-{file.family} file ({file.version}), but the other files are LTX-{family}: "
            f"use {ROLE_TEXT[role].replace('the LTX-2.5', f'the LTX-{family}')}"
        )


@dataclass(frozen=True)
class ModelFiles:
    """A complete model of one family: role -> file, plus the Gemma-3 folder for 2.3."""

    family: Family
    files: Mapping[str, ComponentFile]
    gemma3_dir: Path | None = None

    # --- construction ------------------------------------------------------------------------
    @classmethod
    def single(cls, checkpoint: str | Path, upsampler: str | Path | None = None,
               text_encoder: str | Path | None = None) -> ModelFiles:
        """An LTX-2.3 single file (+ upscaler, + Gemma-3 folder)."""
        f = identify(checkpoint)
        if f.role != "single" or f.family != "2.3":
            what = ROLE_TEXT[f.role] if f.role != "single" else f"an LTX-{f.version} single file"
            raise CheckpointError(
                f"{f.path}: this is {what}, but it was given as the checkpoint: --checkpoint takes "
                f"{ROLE_TEXT['single']}; give LTX-2.5 split files with --transformer, --video-vae, --audio-vae, "
                "--text-encoder"
            )
        missing = [c for c in REQUIRED_COMPONENTS if c not in components_in(f.header)]
        if missing:
            raise CheckpointError(f"{f.path}: incomplete LTX-{f.version} checkpoint, missing {', '.join(missing)}")
        files: dict[str, ComponentFile] = {"single": f}
        if upsampler is not None:
            up = identify(upsampler)
            _expect(up, "upsampler", None)
            files["upsampler"] = up
        te = Path(text_encoder) if text_encoder is not None else None
        if te is not None and te.is_file():
            raise CheckpointError(
                f"{te}: LTX-2.3 needs the Gemma-3 text encoder folder (google/gemma-3-12b-it), not a single file"
            )
        return cls("2.3", files, te)

    @classmethod
    def split(cls, transformer: str | Path, *, text_encoder: str | Path | None = None,
              video_vae: str | Path | None = None, video_vae_conv: str | Path | None = None,
              audio_vae: str | Path | None = None, upsampler: str | Path | None = None,
              duration_head: str | Path | None = None) -> ModelFiles:
        """LTX-2.5 split files; the transformer decides the family, every other file must agree."""
        t = identify(transformer)
        if t.role == "single":
            raise CheckpointError(
                f"{t.path}: this is an LTX-{t.version} single file: give it with --checkpoint, not --transformer"
            )
        _expect(t, "transformer", None)
        family = t.family or "2.5"
        files: dict[str, ComponentFile] = {"transformer": t}
        given = {"text_encoder": text_encoder, "video_vae": video_vae, "video_vae_conv": video_vae_conv,
                 "audio_vae": audio_vae, "upsampler": upsampler, "duration_head": duration_head}
        for role, path in given.items():
            if path is None:
                continue
            p = Path(path)
            if role == "text_encoder" and p.is_dir():
                raise CheckpointError(
                    f"{p}: a text encoder folder (Gemma-3?) was given for an LTX-2.5 transformer, which needs "
                    "the packed Gemma-4 file text_encoders/gemma4-12b-with-proj-ltx-2.5-*.safetensors"
                )
            f = identify(p)
            if role == "video_vae" and f.role == "video_vae_conv":
                role = "video_vae_conv"  # --video-vae given the conv file: it is still a valid video VAE
            if f.role == "single":
                raise CheckpointError(
                    f"{f.path}: this is an LTX-{f.version} single file, but it was given as {ROLE_TEXT[role]}: "
                    f"2.3 and 2.5 components do not mix"
                )
            _expect(f, role, family)  # type: ignore[arg-type]
            files[role] = f
        te = files.get("text_encoder")
        if te is not None and t.gemma_version and te.gemma_version and te.gemma_version != t.gemma_version:
            raise CheckpointError(
                f"{te.path}: this text encoder is {te.gemma_version}, but {t.path.name} was trained with "
                f"{t.gemma_version}: use the matching text encoder file"
            )
        return cls(family, files)

    # --- queries -----------------------------------------------------------------------------
    @property
    def is_split(self) -> bool:
        return "single" not in self.files

    @property
    def main(self) -> ComponentFile:
        """The file whose config describes the transformer (single file or split transformer)."""
        return self.files["single"] if "single" in self.files else self.files["transformer"]

    @property
    def model_version(self) -> str:
        return self.main.version

    @property
    def config(self) -> dict:
        """The transformer-side config (transformer + scheduler [+ VAE sections for a single file])."""
        return self.main.config

    def has(self, role: Role) -> bool:
        if role in self.files:
            return True
        return not self.is_split and role not in _NOT_IN_SINGLE

    def present(self) -> tuple[str, ...]:
        """Roles present, in a stable order (what the app's model page lists)."""
        if not self.is_split:
            return ("single", *[r for r in ("upsampler",) if r in self.files]) + (("gemma3",) if self.gemma3_dir else ())
        return tuple(r for r in ROLE_TEXT if r in self.files)

    def file_for(self, spec_name: str) -> ComponentFile:
        """The file that holds component `spec_name`; one sentence naming what is missing otherwise."""
        role = SPEC_ROLES.get(spec_name)
        if role is None:
            raise KeyError(f"unknown component {spec_name!r}")
        if not self.is_split:
            if role == "upsampler" and "upsampler" in self.files:
                return self.files["upsampler"]
            if role in ("duration_head", "upsampler") or spec_name in ("video_diffusion_decoder", "gemma4"):
                raise CheckpointError(f"LTX-{self.model_version} has no {spec_name.replace('_', ' ')}: "
                                      f"give {ROLE_TEXT[role]}")
            return self.files["single"]
        if role == "video_vae" and role not in self.files and spec_name == "video_encoder":
            role = "video_vae_conv"  # the conv file carries the same encoder
        if role not in self.files:
            raise CheckpointError(f"{spec_name.replace('_', ' ')} needed but not given: add {ROLE_TEXT[role]}")
        return self.files[role]

    def config_for(self, spec_name: str) -> dict:
        """The config the loader hands to the component's build (2.3 shape, whatever the family)."""
        f = self.file_for(spec_name)
        if not self.is_split or spec_name in ("transformer", "video_connector", "audio_connector"):
            return f.config if spec_name != "spatial_upsampler" else f.config
        if spec_name == "text_projection":
            from model_runtime.text.gemma4 import gemma4_dims
            from model_runtime.text.projection import with_gemma_dims

            return with_gemma_dims(self.config, gemma4_dims(f.config["gemma_config"], f.path))
        return f.config
