"""Check that the runtime's modules, built at full size from a config, match a file layout key for key.

Building on the meta device costs no memory, so the 22 B-parameter model can be checked on any laptop.
The check runs both ways because each direction catches a different bug:
* file -> modules: every tensor in the file is claimed by exactly one component (through its `rename`),
  with the same shape. An unclaimed tensor would be silently ignored by a non-strict loader.
* modules -> file: every module weight's official name (through `unrename`) is in the file with the same
  shape, and `rename(unrename(k)) == k`, so the demo-model writer and the loader agree.
Components of one registry group may share a tensor (the VAE statistics used by encoder and decoder).

Inputs: the reference layout (`ltx23_layout_full.json.gz`: every key of the full 22 B single file and of
the x2 upscaler with shapes, plus the config they were built from) or a real `.safetensors` file (its
header and embedded config): `check_layout_file` accepts both.
"""

from __future__ import annotations

import gzip
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from model_runtime.components import FileComponent, in_file
from model_runtime.errors import CheckpointError
from model_runtime.loading import ComponentSpec, build_on_meta

log = logging.getLogger(__name__)

Shapes = Mapping[str, tuple[int, ...]]


@dataclass(frozen=True)
class Mismatch:
    """One disagreement. kind: "shape" | "missing-in-file" | "unclaimed" | "claimed-twice" |
    "unused-by-module" (the rename maps to a name the module lacks: a strict load would fail) |
    "rename-roundtrip" (rename(unrename(k)) != k) | "build" (the module could not be built)."""

    kind: str
    key: str
    component: str
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.kind}: {self.key} [{self.component}] {self.detail}".rstrip()


@dataclass(frozen=True)
class ComponentLayout:
    name: str
    tensors: int
    params: int


@dataclass(frozen=True)
class LayoutReport:
    """The result for one file (the single checkpoint, or the upscaler)."""

    title: str
    file_tensors: int
    file_params: int
    components: tuple[ComponentLayout, ...]
    shared_keys: tuple[str, ...]
    mismatches: tuple[Mismatch, ...]
    shared_params: int = 0  # parameters of shared tensors counted more than once in `components`

    @property
    def passed(self) -> bool:
        return not self.mismatches and self.file_tensors > 0

    @property
    def claimed_params(self) -> int:
        """Parameters of the modules, each shared tensor counted once (should equal `file_params`)."""
        return sum(c.params for c in self.components) - self.shared_params


@dataclass(frozen=True)
class LayoutSource:
    """What to check: a config per file and the file's key -> shape map."""

    title: str
    config: dict
    shapes: dict[str, tuple[int, ...]]
    role: str  # registry file role: "checkpoint" | "upsampler"


def _numel(shape: Sequence[int]) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


def _module_shapes(spec: ComponentSpec, config: dict) -> dict[str, tuple[int, ...]]:
    module = build_on_meta(spec, config)
    return {k: tuple(v.shape) for k, v in module.state_dict().items()}


def _check_component(spec: ComponentSpec, module: Shapes, file: Shapes,
                     claims: dict[str, list[tuple[str, str]]], group: str) -> list[Mismatch]:
    """Both directions for one component; records its claims on file keys in `claims`."""
    out: list[Mismatch] = []
    for fk in file:
        mk = spec.module_key(fk)
        if mk is None:
            continue
        if mk not in module:
            out.append(Mismatch("unused-by-module", fk, spec.name, f"renamed to {mk!r}, which the module lacks"))
            continue
        claims.setdefault(fk, []).append((spec.name, group))
        if tuple(file[fk]) != module[mk]:
            out.append(Mismatch("shape", fk, spec.name, f"file {list(file[fk])} != module {list(module[mk])}"))
    for mk, shape in module.items():
        fk = spec.prefix + spec.unrename(mk)
        if fk not in file:
            out.append(Mismatch("missing-in-file", fk, spec.name, f"module weight {mk!r} {list(shape)}"))
        elif spec.rename(spec.unrename(mk)) != mk:
            out.append(Mismatch("rename-roundtrip", fk, spec.name,
                                f"rename(unrename({mk!r})) = {spec.rename(spec.unrename(mk))!r}"))
    return out


def check_shapes(source: LayoutSource, components: Sequence[FileComponent] | None = None) -> LayoutReport:
    """Build every component of `source.role` on meta from `source.config`; compare with `source.shapes`."""
    components = in_file(source.role) if components is None else components  # type: ignore[arg-type]
    claims: dict[str, list[tuple[str, str]]] = {}
    mismatches: list[Mismatch] = []
    layouts: list[ComponentLayout] = []
    for ref in components:
        spec = ref.spec
        try:
            module = _module_shapes(spec, source.config)
        except Exception as exc:  # a config the module rejects is a finding, not a crash
            mismatches.append(Mismatch("build", spec.prefix, spec.name, f"{exc.__class__.__name__}: {exc}"))
            continue
        layouts.append(ComponentLayout(spec.name, len(module), sum(_numel(s) for s in module.values())))
        mismatches += _check_component(spec, module, source.shapes, claims, ref.group)
    shared: list[str] = []
    for fk, who in claims.items():
        if len(who) > 1:
            if len({g for _, g in who}) > 1:
                mismatches.append(Mismatch("claimed-twice", fk, ", ".join(n for n, _ in who)))
            else:
                shared.append(fk)
    for fk in source.shapes:
        if fk not in claims and not any(m.key == fk for m in mismatches):
            mismatches.append(Mismatch("unclaimed", fk, "-", f"{list(source.shapes[fk])}: no component uses it"))
    shared_params = sum(_numel(source.shapes[k]) * (len(claims[k]) - 1) for k in shared)
    return LayoutReport(
        title=source.title,
        file_tensors=len(source.shapes),
        file_params=sum(_numel(s) for s in source.shapes.values()),
        components=tuple(layouts),
        shared_keys=tuple(sorted(shared)),
        mismatches=tuple(sorted(mismatches, key=lambda m: (m.kind, m.key))),
        shared_params=shared_params,
    )


def _shape_map(tensors: Mapping[str, Mapping]) -> dict[str, tuple[int, ...]]:
    return {k: tuple(int(s) for s in v["shape"]) for k, v in tensors.items()}


def _with_assumed_gemma(config: dict, gemma: Mapping | None) -> dict:
    """The text projection's input width depends on the Gemma model, which the LTX config does not name;
    the layout file states the Gemma dims it was derived with, so build with exactly those."""
    if not gemma:
        return config
    from model_runtime.text.gemma import GemmaDims
    from model_runtime.text.projection import with_gemma_dims

    return with_gemma_dims(config, GemmaDims(int(gemma["hidden_size"]), int(gemma["num_hidden_layers"])))


#: role names of the LTX-2.5 layout file -> registry file roles (`components.FileRole`)
SPLIT_ROLES = {"transformer": "transformer", "text_encoder": "text_encoder", "video_vae": "video_vae",
               "video_vae_conv": "video_vae_conv", "audio_vae": "audio_vae", "spatial_upscaler": "upsampler",
               "duration_head": "duration_head"}


def _tensor_shapes(tensors: Mapping[str, Mapping]) -> tuple[dict[str, tuple[int, ...]], list[str]]:
    """Shapes of the real tensors; entries whose shape is not a list of ints are byte assets (the packed
    tokenizer and sidecar JSON of the Gemma-4 file), returned by name and not shape-checked."""
    shapes, assets = {}, []
    for k, v in tensors.items():
        if all(isinstance(s, int) for s in v["shape"]):
            shapes[k] = tuple(v["shape"])
        else:
            assets.append(k)
    return shapes, assets


def _split_sources(doc: dict) -> list[LayoutSource]:
    """LTX-2.5: one source per component file, each built from its own metadata (the text projection also
    needs the transformer's widths, as the runtime builds it)."""
    files = doc["files"]
    transformer_cfg = files["transformer"]["metadata"]["config"]
    gemma = files["text_encoder"]["metadata"]["gemma_config"]
    sources = []
    for name, entry in files.items():
        role = SPLIT_ROLES[name]
        meta = entry["metadata"]
        if role == "text_encoder":
            from model_runtime.text.gemma4 import gemma4_dims
            from model_runtime.text.projection import with_gemma_dims

            config = with_gemma_dims(transformer_cfg, gemma4_dims(gemma)) | {"gemma_config": gemma}
        else:
            config = meta["config"]
        shapes, assets = _tensor_shapes(entry["tensors"])
        title = entry.get("file", name) + (f" ({len(assets)} byte assets not shape-checked)" if assets else "")
        sources.append(LayoutSource(title, config, shapes, role))
    return sources


def read_layout_json(path: str | Path) -> list[LayoutSource]:
    """The reference layout file: the 2.3 single checkpoint and (when present) the x2 upscaler, or every
    LTX-2.5 split file."""
    p = Path(path)
    try:
        opener = gzip.open if p.suffix == ".gz" else open
        with opener(p, "rt", encoding="utf-8") as fh:
            doc = json.load(fh)
        if "files" in doc:
            return _split_sources(doc)
        config = _with_assumed_gemma(doc["config"], doc.get("gemma_dims_assumed"))
        sources = [LayoutSource("checkpoint", config, _shape_map(doc["checkpoint"]["tensors"]), "checkpoint")]
        up = doc.get("spatial_upscaler_x2")
        if up is not None:
            sources.append(LayoutSource("spatial_upscaler_x2", up["config"], _shape_map(up["tensors"]), "upsampler"))
    except FileNotFoundError:
        raise CheckpointError(f"{p}: file not found") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(f"{p}: not a layout file ({exc.__class__.__name__}: {exc})") from None
    return sources


def read_safetensors_layout(path: str | Path, text_encoder: str | Path | None = None) -> list[LayoutSource]:
    """A real file: its header's shapes and its embedded config (a single file or an upscaler).

    `text_encoder`: the Gemma folder whose dims size the text projection; without it the projection is
    built for Gemma-3-12B, as the reference does."""
    from model_runtime.checkpoints import inspect_checkpoint, inspect_upsampler, read_header

    header = read_header(path)
    is_upsampler = '"LatentUpsampler"' in header.metadata.get("config", "")
    info = inspect_upsampler(path) if is_upsampler else inspect_checkpoint(path)
    config = info.config
    if text_encoder is not None and not is_upsampler:
        from model_runtime.text.gemma import inspect_gemma_folder

        dims = inspect_gemma_folder(text_encoder).dims
        config = _with_assumed_gemma(config, {"hidden_size": dims.hidden_size,
                                              "num_hidden_layers": dims.num_hidden_layers})
    shapes = {k: t.shape for k, t in info.header.tensors.items()}
    return [LayoutSource(Path(path).name, config, shapes, "upsampler" if is_upsampler else "checkpoint")]


def check_layout_file(path: str | Path, text_encoder: str | Path | None = None) -> list[LayoutReport]:
    """Check a layout JSON(.gz) or a .safetensors file; one report per file described."""
    p = Path(path)
    sources = read_safetensors_layout(p, text_encoder) if p.suffix == ".safetensors" else read_layout_json(p)
    return [check_shapes(s) for s in sources]
