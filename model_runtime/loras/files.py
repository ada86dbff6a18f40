"""Read a LoRA file and check it against the model it is meant for, before any weight is touched.

Why this is strict: community LoRAs come in several key conventions and for many models; a runtime that
silently ignores the keys it does not understand applies half a LoRA and the user never learns why the
style "does not take" (the "non-LoRA keys" reports of other tools). So every key of the file is
accounted for: applied, `.alpha` (read, never applied: ltx-core 1.0.0 does no alpha/rank scaling), or
reported by name as matching nothing.

Conventions (all read with safetensors; pickle-based files are refused from their first bytes, never
unpickled):
* official / ComfyUI: `diffusion_model.<official module>.lora_A.weight` / `.lora_B.weight` (what
  ltx-pipelines' `--lora` reads), also with kohya's `lora_down` / `lora_up` suffixes;
* diffusers: `transformer.<diffusers module>.lora_A.weight` (what `save_lora_weights` writes);
* PEFT: `base_model.model.<diffusers module>.lora_A.weight` (a `PeftModel` state dict).
Official names are mapped to diffusers module names by diffusers' own LTX-2 converter
(`LTX2LoraLoaderMixin.lora_state_dict`); the kohya suffixes by diffusers' PEFT<->kohya table.

Importing this module does not import torch (a library page lists files from the GUI thread); reading a
file's factors does.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from safetensors import safe_open

from model_runtime.checkpoints import SafetensorsHeader, foreign_format_hint, read_header
from model_runtime.errors import CheckpointError, LoraError

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

TRANSFORMER_PREFIX = "model.diffusion_model."
_A, _B = ".lora_A.weight", ".lora_B.weight"
_ALPHA = ".alpha"
_DIFFUSERS = "transformer."
_PEFT = "base_model.model."

#: LoRA metadata keys that name the base model, most specific first (official, SAI model spec, kohya)
FAMILY_METADATA_KEYS = ("model_version", "ltx_model_version", "base_model_version", "modelspec.architecture",
                        "ss_base_model_version", "base_model")
#: other model families, recognised in metadata values or key names (for a message that says what it is)
OTHER_FAMILIES: tuple[tuple[str, str], ...] = (
    (r"wan|(^|\.)blocks\.\d+\.(self|cross)_attn\.", "Wan"), (r"hunyuan", "HunyuanVideo"), (r"flux|double_blocks|single_blocks", "Flux"),
    (r"sdxl|stable-diffusion-xl|lora_te2_", "Stable Diffusion XL"), (r"sd3|mmdit|joint_blocks", "Stable Diffusion 3"),
    (r"lora_unet_|down_blocks|stable-diffusion|sd_v1|sd1|sd2", "Stable Diffusion"), (r"mochi", "Mochi"),
    (r"cogvideo", "CogVideoX"), (r"ltx-?video|ltxv|0\.9", "LTX-Video 0.9"),
)


def model_family(model_version: str) -> str:
    """'2.3.0' -> 'LTX-2.3' (a LoRA is made for one major.minor release)."""
    parts = model_version.split(".")
    return "LTX-" + ".".join(parts[:2])


@dataclass(frozen=True)
class LoraTargets:
    """What a LoRA may adapt: the transformer's 2-D weights by diffusers module name -> (out, in)."""

    family: str
    shapes: Mapping[str, tuple[int, int]]

    @classmethod
    def from_checkpoint(cls, header: SafetensorsHeader, model_version: str) -> LoraTargets:
        """From the checkpoint's header only (no weight is read), so a bad LoRA is refused in milliseconds."""
        from model_runtime.models.transformer import FOREIGN_MARKER, rename

        shapes: dict[str, tuple[int, int]] = {}
        for key, info in header.tensors.items():
            if not key.startswith(TRANSFORMER_PREFIX) or not key.endswith(".weight") or len(info.shape) != 2:
                continue
            mk = rename(key[len(TRANSFORMER_PREFIX):])
            if mk is not None and not mk.startswith(FOREIGN_MARKER):
                shapes[mk[: -len(".weight")]] = (info.shape[0], info.shape[1])
        return cls(model_family(model_version), shapes)

    @classmethod
    def for_model_file(cls, path: str | Path) -> LoraTargets:
        """From the file that holds the transformer: an LTX-2.3 single checkpoint or an LTX-2.5 split
        transformer file (the same module names and shapes: LoRAs tell the two apart by their metadata)."""
        from model_runtime.families import identify

        file = identify(path)
        if file.role not in ("single", "transformer"):
            raise LoraError(f"{file.path}: LoRAs adapt the transformer, and this file holds no transformer "
                            "(give the LTX-2.3 checkpoint or the LTX-2.5 transformer file)")
        return cls.from_checkpoint(file.header, file.version)


@dataclass(frozen=True)
class LoraPair:
    """One adapted module: delta = (B * strength) @ A, A [rank, in], B [out, rank], in the file's dtype."""

    a: torch.Tensor
    b: torch.Tensor

    @property
    def rank(self) -> int:
        return int(self.a.shape[0])


@dataclass(frozen=True)
class LoraInfo:
    """A LoRA file as the library page shows it (header only, nothing loaded)."""

    path: Path
    name: str
    family: str | None  # declared in the metadata; None when the file does not say
    rank: int  # the largest rank among its modules
    modules: int
    size_bytes: int
    convention: str


@dataclass(frozen=True)
class LoraFile:
    """A LoRA read and checked against a model: its adapted modules and an account of every other key."""

    info: LoraInfo
    sha256: str
    pairs: Mapping[str, LoraPair]  # diffusers module name -> factors
    unmatched: tuple[str, ...]  # file keys that adapt nothing in this model
    alpha_keys: int  # `.alpha` keys: read, not applied (ltx-core 1.0.0 has no alpha/rank scaling)

    @property
    def path(self) -> Path:
        return self.info.path

    @property
    def nbytes(self) -> int:
        return sum(p.a.numel() * p.a.element_size() + p.b.numel() * p.b.element_size() for p in self.pairs.values())


# --- key conventions -------------------------------------------------------------------------------
def _kohya_to_peft() -> dict[str, str]:
    from diffusers.utils.state_dict_utils import PEFT_TO_KOHYA_SS

    return {f".{v}.": f".{k}." for k, v in PEFT_TO_KOHYA_SS.items()}


def _convention(keys: list[str]) -> str:
    if any(k.startswith(_PEFT) for k in keys):
        return "peft"
    if any(k.startswith(_DIFFUSERS) for k in keys):
        return "diffusers"
    return "official"


def to_diffusers_names(keys: list[str]) -> dict[str, str]:
    """diffusers-convention name -> original file key, for every key the converters keep.

    The converters work on state dicts; they are given {key: key} so that the values say which file key
    each converted name came from (and which keys they dropped: those are reported, not lost)."""
    from diffusers.loaders.lora_pipeline import LTX2LoraLoaderMixin

    suffixes = _kohya_to_peft()
    normalised: dict[str, str] = {}
    for k in keys:
        nk = _DIFFUSERS + k[len(_PEFT):] if k.startswith(_PEFT) else k
        for old, new in suffixes.items():
            nk = nk.replace(old, new)
        normalised[nk] = k
    converted = LTX2LoraLoaderMixin.lora_state_dict(normalised)
    return {name: original for name, original in converted.items() if isinstance(original, str)}


def _split(name: str) -> tuple[str, str] | None:
    """'transformer.<module>.lora_A.weight' -> (module, 'a'); None for anything else."""
    if not name.startswith(_DIFFUSERS):
        return None
    for suffix, part in ((_A, "a"), (_B, "b")):
        if name.endswith(suffix):
            return name[len(_DIFFUSERS): -len(suffix)], part
    return None


# --- family ------------------------------------------------------------------------------------------
def declared_family(metadata: Mapping[str, str]) -> str | None:
    """The model family the file's metadata names, if any ('LTX-2.3', 'LTX-2.5', 'Wan', ...)."""
    for key in FAMILY_METADATA_KEYS:
        value = str(metadata.get(key, "")).strip().lower()
        if not value:
            continue
        m = re.search(r"ltx[-_ ]?(?:video[-_ ]?)?(\d+)(?:\.(\d+))?", value)
        if m and m.group(1) != "0":
            return f"LTX-{m.group(1)}.{m.group(2) or '0'}"
        if key == "model_version" and (m := re.fullmatch(r"(\d+)\.(\d+)(?:\.\d+)?", value)):
            return f"LTX-{m.group(1)}.{m.group(2)}"
        for pattern, family in OTHER_FAMILIES:
            if re.search(pattern, value):
                return family
    return None


def guess_family(keys: list[str]) -> str | None:
    """A family guess from key names, for the message when nothing matches."""
    joined = "\n".join(keys[:200]).lower()
    for pattern, family in OTHER_FAMILIES:
        if re.search(pattern, joined):
            return family
    return None


# --- reading -----------------------------------------------------------------------------------------
_SHA_CACHE: dict[tuple[str, int, int], str] = {}


def file_sha256(path: Path) -> str:
    """sha256 of the file (provenance of every job that used it), cached per (path, size, mtime)."""
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _SHA_CACHE:
        h = hashlib.sha256()
        with path.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 22), b""):
                h.update(chunk)
        _SHA_CACHE[key] = h.hexdigest()
    return _SHA_CACHE[key]


def _header(path: Path) -> SafetensorsHeader:
    if path.suffix.lower() != ".safetensors":
        raise LoraError(f"{path}: LoRAs are read from .safetensors files only (a {path.suffix or 'suffix-less'} "
                        "file may be a pickle, which can run code when opened); convert it to safetensors")
    if path.is_file():  # name a pickle / torch zip from its first bytes before parsing anything
        with path.open("rb") as fh:
            hint = foreign_format_hint(fh.read(8))
        if hint:
            raise LoraError(f"LoRA {path}: not a safetensors file{hint}")
    try:
        return read_header(path)
    except CheckpointError as exc:
        raise LoraError(f"LoRA {exc}") from None


def inspect_lora(path: str | Path) -> LoraInfo:
    """Name, declared family, rank, size and convention from the header alone (for a library listing)."""
    path = Path(path)
    header = _header(path)
    keys = list(header.tensors)
    ranks = [info.shape[0] for k, info in header.tensors.items()
             if (k.endswith((_A, ".lora_down.weight"))) and info.shape]
    return LoraInfo(path, path.stem, declared_family(header.metadata), max(ranks, default=0), len(ranks),
                    header.file_size, _convention(keys))


def _names(keys, limit: int = 8) -> str:
    keys = sorted(keys)
    return ", ".join(keys[:limit]) + (f", ... ({len(keys) - limit} more)" if len(keys) > limit else "")


def read_lora(path: str | Path, targets: LoraTargets, *, expected_sha256: str | None = None) -> LoraFile:
    """Read `path` and check it fits `targets`; raise LoraError with one line saying what is wrong."""
    path = Path(path)
    header = _header(path)
    info = inspect_lora(path)
    name = path.name
    if info.family is not None and info.family != targets.family:
        raise LoraError(f"{name} is a LoRA for {info.family} (its metadata says so); the loaded model is "
                        f"{targets.family}: choose a LoRA made for {targets.family}")
    keys = list(header.tensors)
    named = to_diffusers_names(keys)
    groups: dict[str, dict[str, str]] = {}
    alpha = [k for k in keys if k.endswith(_ALPHA)]
    for dname, original in named.items():
        split = _split(dname)
        if split is not None and split[0] in targets.shapes:
            groups.setdefault(split[0], {})[split[1]] = original
    used = {k for g in groups.values() for k in g.values()} | set(alpha)
    unmatched = tuple(sorted(k for k in keys if k not in used))
    if not groups:
        guess = guess_family(keys)
        hint = f"; it looks like a LoRA for {guess}" if guess else ""
        raise LoraError(f"{name}: none of its {len(keys)} keys adapts a module of the {targets.family} transformer"
                        f"{hint} (e.g. {_names(keys, 3)})")
    problems = [f"{m}: only lora_{'A' if 'a' in g else 'B'}" for m, g in groups.items() if len(g) != 2]
    for module, g in groups.items():
        if len(g) != 2:
            continue
        a_shape, b_shape = header.tensors[g["a"]].shape, header.tensors[g["b"]].shape
        out_f, in_f = targets.shapes[module]
        if len(a_shape) != 2 or len(b_shape) != 2 or a_shape[0] != b_shape[1]:
            problems.append(f"{module}: ranks differ (lora_A {list(a_shape)}, lora_B {list(b_shape)})")
        elif a_shape[1] != in_f or b_shape[0] != out_f:
            problems.append(f"{module}: delta [{b_shape[0]}, {a_shape[1]}] does not fit the weight [{out_f}, {in_f}]")
    if problems:
        raise LoraError(f"{name}: {len(problems)} module(s) with mismatched ranks or shapes (a LoRA for another "
                        f"model size or a damaged file): {_names(problems, 4)}")
    sha = file_sha256(path)
    if expected_sha256 is not None and sha != expected_sha256:
        raise LoraError(f"{name} has changed since it was chosen (sha256 {sha[:12]}..., expected "
                        f"{expected_sha256[:12]}...): pick it again to use the new file")
    pairs: dict[str, LoraPair] = {}
    with safe_open(str(path), framework="pt", device="cpu") as fh:
        for module, g in sorted(groups.items()):
            pairs[module] = LoraPair(fh.get_tensor(g["a"]), fh.get_tensor(g["b"]))
    if unmatched:
        log.warning("%s: %d of %d keys match nothing in the %s transformer and are not applied: %s", name,
                    len(unmatched), len(keys), targets.family, _names(unmatched))
    if alpha:
        log.info("%s: %d .alpha keys read and not applied (no alpha/rank scaling, as ltx-core 1.0.0)", name, len(alpha))
    log.info("LoRA %s: %d modules, rank %d, %s convention", name, len(pairs), info.rank, info.convention)
    return LoraFile(info, sha, pairs, unmatched, len(alpha))
