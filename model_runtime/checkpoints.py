"""Find, inspect and validate official LTX checkpoint files without loading any weights.

The safetensors header is parsed by hand (8-byte little-endian length + JSON) so inspection is cheap,
needs no torch, and can say precisely what is wrong with a truncated or foreign file.
"""

from __future__ import annotations

import json
import logging
import math
import re
import struct
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from model_runtime.errors import CheckpointError, UnsupportedModelError

log = logging.getLogger(__name__)

_MAX_HEADER_BYTES = 100 * 1024 * 1024  # safetensors' own limit
#: deepest JSON nesting accepted in a header or an embedded config: the official files nest 4 deep; a
#: hostile file nesting thousands deep would otherwise exhaust Python's recursion limit while parsing
MAX_JSON_DEPTH = 64
#: the largest embedded config accepted (the official 2.3 config is about 10 kB)
MAX_CONFIG_BYTES = 1024 * 1024
_STRINGS = re.compile(rb'"(?:[^"\\]|\\.)*"')
_REDOWNLOAD = "the file is damaged or not an official release: download it again"

#: safetensors dtype name -> bytes per element
DTYPE_SIZES = {
    "F64": 8, "F32": 4, "F16": 2, "BF16": 2, "F8_E4M3": 1, "F8_E5M2": 1,
    "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1,
}

#: component name -> key prefix in the official LTX-2.x single file
COMPONENT_PREFIXES = {
    "transformer": "model.diffusion_model.",
    "text_projection": "text_embedding_projection.",
    "video_vae": "vae.",
    "audio_vae": "audio_vae.",
    "vocoder": "vocoder.",
}

#: what a 2.3 single file must hold, and what each component is for (shown to the user when missing)
REQUIRED_COMPONENTS = {
    "transformer": "the audio-video diffusion transformer (generation itself)",
    "text_projection": "the projection from Gemma features to the text connectors (prompt understanding)",
    "video_vae": "the video VAE (turns latents into frames)",
    "audio_vae": "the audio VAE (turns audio latents into a mel spectrogram)",
    "vocoder": "the vocoder with bandwidth extension (turns the mel spectrogram into 48 kHz sound)",
}

SUPPORTED_VERSION_PREFIX = "2.3"
#: `_class_name` of the transformer section in LTX-2.x configs (LTX-Video 0.9 files say Transformer3DModel)
LTX2_TRANSFORMER_CLASS = "AVTransformer3DModel"


@dataclass(frozen=True)
class TensorInfo:
    dtype: str
    shape: tuple[int, ...]
    begin: int
    end: int

    @property
    def numel(self) -> int:
        n = 1
        for s in self.shape:
            n *= s
        return n


@dataclass(frozen=True)
class SafetensorsHeader:
    path: Path
    tensors: dict[str, TensorInfo]
    metadata: dict[str, str]
    data_offset: int
    file_size: int


@dataclass(frozen=True)
class CheckpointInfo:
    """What an LTX checkpoint file is, read from its header only."""

    path: Path
    kind: str  # "ltx2-single-file" | "spatial-upsampler"
    model_version: str
    config: dict
    components: tuple[str, ...]
    missing_components: tuple[str, ...] = ()
    header: SafetensorsHeader = field(repr=False, compare=False, default=None)  # type: ignore[assignment]

    @property
    def parameter_count(self) -> int:
        return sum(t.numel for t in self.header.tensors.values())


def foreign_format_hint(first_bytes: bytes) -> str:
    """Name the format of a file that is not safetensors, so the message says what the user picked."""
    if first_bytes[:1] == b"\x80":
        return ": it is a Python pickle (.ckpt/.pt/.bin), which is never loaded for safety"
    if first_bytes[:4] == b"PK\x03\x04":
        return ": it is a zip archive (a torch.save .pt/.ckpt file?), which is never loaded for safety"
    if first_bytes[:4] == b"GGUF":
        return ": it is a GGUF file (llama.cpp/ComfyUI-GGUF), not supported"
    return ""


def json_depth(raw: bytes) -> int:
    """The deepest bracket nesting of a JSON text, found without parsing it (strings are skipped)."""
    body = np.frombuffer(_STRINGS.sub(b'""', raw), dtype=np.uint8)
    steps = (body == ord("{")).astype(np.int32) + (body == ord("[")) - (body == ord("}")) - (body == ord("]"))
    return int(steps.cumsum().max(initial=0))


def parse_json_document(raw: bytes, where: str, what: str) -> object:
    """Parse untrusted JSON with a depth limit; raise CheckpointError naming `what` and the fix."""
    if json_depth(raw) > MAX_JSON_DEPTH:
        raise CheckpointError(f"{where}: {what} nests deeper than {MAX_JSON_DEPTH} levels: {_REDOWNLOAD}")
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise CheckpointError(f"{where}: corrupt {what}, not valid JSON ({exc.__class__.__name__}): "
                              f"{_REDOWNLOAD}") from None


def read_prefix(p: Path, what: str = "model file") -> tuple[bytes, bytes, int]:
    """(8-byte length, header bytes, file size) of a safetensors file; every OS error is one clear line."""
    if not p.exists():
        raise CheckpointError(f"{p}: file not found")
    if p.is_dir():
        raise CheckpointError(f"{p}: is a folder, expected a .safetensors file")
    try:
        size = p.stat().st_size
        with p.open("rb") as fh:
            raw_len = fh.read(8)
            if len(raw_len) < 8:
                raise CheckpointError(f"{p}: not a safetensors file (only {size} bytes)")
            (n,) = struct.unpack("<Q", raw_len)
            if foreign_format_hint(raw_len):  # name the format before guessing at a length it never had
                raise CheckpointError(f"{p}: not a safetensors file{foreign_format_hint(raw_len)}")
            if n == 0 or n > _MAX_HEADER_BYTES:
                raise CheckpointError(
                    f"{p}: not a safetensors file (header length {n}){foreign_format_hint(raw_len)}")
            if 8 + n > size:
                raise CheckpointError(f"{p}: truncated or corrupt: header says {n} bytes, file has {size - 8}")
            return raw_len, fh.read(n), size
    except PermissionError:
        raise CheckpointError(f"{p}: cannot read the {what}: permission denied; make it readable "
                              f"(chmod u+r) or pick another copy") from None
    except OSError as exc:
        raise CheckpointError(f"{p}: cannot read the {what}: {exc.strerror or exc}; check the disk "
                              "or copy the file again") from None


def _tensor_info(p: Path, key: str, entry: object, data_size: int) -> TensorInfo:
    """One header entry, every field type-checked before use (bools are not integers here)."""
    def ints(v: object) -> bool:
        return isinstance(v, list) and all(isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in v)

    if not isinstance(entry, dict) or not isinstance(entry.get("dtype"), str) or not ints(entry.get("shape")) \
            or not ints(entry.get("data_offsets")) or len(entry["data_offsets"]) != 2:
        raise CheckpointError(f"{p}: corrupt safetensors header (bad entry for {key!r}): {_REDOWNLOAD}")
    dtype = entry["dtype"]
    begin, end = entry["data_offsets"]
    info = TensorInfo(dtype, tuple(entry["shape"]), begin, end)
    if dtype not in DTYPE_SIZES:
        raise CheckpointError(f"{p}: tensor {key!r} has unsupported dtype {dtype}")
    if begin > end or end - begin != info.numel * DTYPE_SIZES[dtype] or end > data_size:
        raise CheckpointError(
            f"{p}: truncated or corrupt: tensor {key!r} needs bytes {begin}..{end}, "
            f"the file holds {data_size} data bytes"
        )
    return info


#: parsed headers by (file, size, header bytes): a CLI job reads each model file's header a dozen times
#: (argument checks, families, the memory planner, every component's load), and parsing the JSON of the
#: 2.3 file is the slow part (~50 ms at the benchmark size); the bytes are still read and compared every
#: time, so a changed file is parsed again
_PARSED: OrderedDict[tuple[Path, int, bytes], SafetensorsHeader] = OrderedDict()
_PARSED_MAX = 16


def read_header(path: str | Path) -> SafetensorsHeader:
    """Parse and validate a safetensors header; raise CheckpointError naming the problem."""
    p = Path(path)
    raw_len, raw, size = read_prefix(p)
    key = (p, size, raw)
    header = _PARSED.get(key)
    if header is None:
        header = _parse_header(p, raw_len, raw, size)
        _PARSED[key] = header
        while len(_PARSED) > _PARSED_MAX:
            _PARSED.popitem(last=False)
    return header


def _parse_header(p: Path, raw_len: bytes, raw: bytes, size: int) -> SafetensorsHeader:
    n = len(raw)
    if not raw.lstrip(b" ").startswith(b"{"):
        raise CheckpointError(f"{p}: not a safetensors file (no JSON header){foreign_format_hint(raw_len)}")
    doc = parse_json_document(raw, str(p), "safetensors header")
    if not isinstance(doc, dict):
        raise CheckpointError(f"{p}: corrupt safetensors header (not a JSON object)")
    metadata = doc.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise CheckpointError(f"{p}: corrupt safetensors header (__metadata__ must map names to strings): "
                              f"{_REDOWNLOAD}")
    data_size = size - 8 - n
    tensors = {key: _tensor_info(p, key, entry, data_size) for key, entry in doc.items()}
    return SafetensorsHeader(p, tensors, dict(metadata), 8 + n, size)


def metadata_json(header: SafetensorsHeader, key: str) -> dict:
    """A JSON-object entry of the header's `__metadata__` ({} when absent), parsed as untrusted data (size
    and depth limits); CheckpointError naming the entry and the fix when it is damaged."""
    raw = header.metadata.get(key)
    if raw is None:
        return {}
    what = "embedded config" if key == "config" else f"embedded {key!r} metadata"
    data = raw.encode("utf-8", "surrogatepass")
    if len(data) > MAX_CONFIG_BYTES:
        raise CheckpointError(f"{header.path}: the {what} is {len(data)} bytes (limit {MAX_CONFIG_BYTES}): "
                              f"{_REDOWNLOAD}")
    doc = parse_json_document(data, str(header.path), what)
    if not isinstance(doc, dict):
        raise CheckpointError(f"{header.path}: the {what} is not a JSON object: {_REDOWNLOAD}")
    return doc


def _load_config(header: SafetensorsHeader) -> dict:
    if header.metadata.get("config") is None:
        raise UnsupportedModelError(
            f"{header.path}: no embedded 'config' in the file's metadata: not an official LTX-2.x checkpoint "
            "(LTX-Video 0.9 files and diffusers-format folders are not supported; use the official "
            "ltx-2.3 single file)"
        )
    cfg = metadata_json(header, "config")
    check_config_types(cfg, header.path)
    return cfg


def check_config_types(cfg: dict, where: object) -> None:
    """Every section a builder reads must be an object, and every number in it finite: a config value
    of the wrong type fails here with its name, not deep inside a module constructor."""
    for name, section in cfg.items():
        if name in ("transformer", "vae", "audio_vae", "vocoder") and not isinstance(section, dict):
            raise CheckpointError(f"{where}: embedded config section {name!r} is a {type(section).__name__}, "
                                  f"expected an object: {_REDOWNLOAD}")
    bad = _non_finite(cfg, "")
    if bad:
        raise CheckpointError(f"{where}: embedded config value {bad} is not a finite number: {_REDOWNLOAD}")


def _non_finite(node: object, path: str) -> str | None:
    if isinstance(node, float) and not math.isfinite(node):
        return path or "<root>"
    children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for k, v in children:
        found = _non_finite(v, f"{path}.{k}" if path else str(k))
        if found:
            return found
    return None


def components_in(header: SafetensorsHeader) -> tuple[str, ...]:
    found = []
    for name, prefix in COMPONENT_PREFIXES.items():
        if any(k.startswith(prefix) for k in header.tensors):
            found.append(name)
    return tuple(found)


def _refuse_other_models(header: SafetensorsHeader, cfg: dict, version: str) -> None:
    """Raise UnsupportedModelError naming what the file is when it is not an LTX-2.3 single file.

    Order matters: a stated version is the most reliable clue (an LTX-2.5 file may carry new classes),
    then the transformer class (LTX-Video 0.9 files carry a config but no model_version)."""
    where = header.path
    if cfg.get("_class_name") == "LatentUpsampler":
        raise UnsupportedModelError(f"{where}: this is a latent upsampler file; give it as the upsampler, not the checkpoint")
    if version.startswith("2.5"):
        raise UnsupportedModelError(
            f"{where}: this is an LTX-{version} file, not an LTX-{SUPPORTED_VERSION_PREFIX} single checkpoint: LTX-2.5 "
            "ships as separate component files with a Gemma-4 text encoder; give them as split files "
            "(--transformer, --text-encoder, --video-vae, --audio-vae)"
        )
    if version and not version.startswith(SUPPORTED_VERSION_PREFIX):
        raise UnsupportedModelError(
            f"{where}: model version {version} is not supported; expected LTX-{SUPPORTED_VERSION_PREFIX}.x or LTX-2.5"
        )
    section = cfg.get("transformer")
    cls = section.get("_class_name") if isinstance(section, dict) else None
    if cls is not None and cls != LTX2_TRANSFORMER_CLASS:
        raise UnsupportedModelError(
            f"{where}: transformer class {cls!r} is not LTX-2's {LTX2_TRANSFORMER_CLASS}: an LTX-Video 0.9.x "
            f"(video-only) checkpoint? This runtime runs LTX-{SUPPORTED_VERSION_PREFIX} single files."
        )
    if not version:
        raise UnsupportedModelError(
            f"{where}: no 'model_version' in the metadata: an LTX-Video 0.9.x or unofficial file? "
            f"This runtime runs LTX-{SUPPORTED_VERSION_PREFIX} single files."
        )
    if not isinstance(section, dict):
        raise UnsupportedModelError(f"{where}: embedded config has no 'transformer' section")


def inspect_checkpoint(path: str | Path, *, require_complete: bool = True) -> CheckpointInfo:
    """Say what an LTX-2.3 single file holds; refuse anything else with a clear message."""
    header = read_header(path)
    cfg = _load_config(header)
    version = header.metadata.get("model_version", "")
    _refuse_other_models(header, cfg, version)
    comps = components_in(header)
    missing = tuple(c for c in REQUIRED_COMPONENTS if c not in comps)
    if missing and require_complete:
        lines = "; ".join(f"{c}: {REQUIRED_COMPONENTS[c]}" for c in missing)
        raise CheckpointError(f"{header.path}: incomplete LTX-{version} checkpoint, missing {lines}")
    return CheckpointInfo(header.path, "ltx2-single-file", version, cfg, comps, missing, header)


def inspect_upsampler(path: str | Path) -> CheckpointInfo:
    """Validate a spatial latent upsampler file (bare keys, its own `config` metadata)."""
    header = read_header(path)
    cfg = _load_config(header)
    if cfg.get("_class_name") != "LatentUpsampler":
        raise UnsupportedModelError(
            f"{header.path}: not a latent upsampler (config class {cfg.get('_class_name')!r}); "
            "expected the ltx-2.3 spatial upscaler x2 file"
        )
    if not cfg.get("spatial_upsample", False):
        raise UnsupportedModelError(f"{header.path}: only spatial latent upsamplers are supported")
    return CheckpointInfo(header.path, "spatial-upsampler", header.metadata.get("model_version", ""), cfg,
                          ("upsampler",), (), header)
