"""Model setup: find the LTX-2.3 checkpoint, upsampler and Gemma folder, or the LTX-2.5 split files, and say
what is there, what is missing and, for a wrong file, what it is and what it should be.

Header-only inspection (model_runtime.checkpoints, no torch), so the Settings → Models page answers
instantly even for 46 GB files. A folder is searched a few levels deep, which covers a ComfyUI `models/`
tree (checkpoints/, latent_upscale_models/, text_encoders/).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace
from pathlib import Path

import model_runtime.api as api
from ltx_studio.settings import SPLIT_FIELDS

log = logging.getLogger(__name__)

PURPOSE = {
    "checkpoint": "the LTX-2.3 model itself (transformer, video/audio VAEs, vocoder): nothing generates without it",
    "upsampler": "the x2 spatial latent upscaler: needed to render (promote a draft to 720p/1080p/4K)",
    "text_encoder": "the Gemma-3-12B folder: turns the prompt into what the model understands",
    # LTX-2.5 split files (Settings field names)
    "transformer": "the LTX-2.5 transformer with its text connectors: nothing generates without it",
    "text_encoder_file": "the packed Gemma-4 text encoder with the LTX projection: turns the prompt into what "
                         "the model understands",
    "video_vae": "the diffusion video VAE: the Sharp decoder (and the video encoder)",
    "video_vae_conv": "the conv video VAE: the Fast decoder",
    "audio_vae": "the audio VAE with its vocoder: the clip's sound",
    "duration_head": "the duration head: \"Auto\" duration predicts the clip length from the prompt",
    "upsampler_25": "the LTX-2.5 x2 spatial latent upscaler: needed to render (promote a draft to 720p/1080p/4K)",
}
#: LTX-2.5 files a real model cannot do without (besides the transformer and one of the two video VAEs)
REQUIRED_25 = ("text_encoder_file", "audio_vae")
#: what a missing optional LTX-2.5 file costs
OPTIONAL_25 = {"duration_head": "the duration is set by hand", "upsampler_25": "drafts still work"}
LABELS = {"text_encoder": "text encoder", "text_encoder_file": "text encoder", "video_vae": "video VAE (Sharp)",
          "video_vae_conv": "video VAE (Fast)", "audio_vae": "audio VAE", "upsampler_25": "upsampler"}
MAX_DEPTH = 4


@dataclass(frozen=True)
class ItemStatus:
    role: str  # the Settings field the path belongs to
    path: str
    ok: bool
    message: str
    required: bool = True  # leaving the demo needs it

    @property
    def purpose(self) -> str:
        return PURPOSE[self.role]

    @property
    def label(self) -> str:
        return LABELS.get(self.role, self.role.replace("_", " "))


@dataclass(frozen=True)
class FoundModels:
    """What a folder scan found (Settings field -> path) and the family it makes complete."""

    checkpoint: str = ""
    upsampler: str = ""
    text_encoder: str = ""
    transformer: str = ""
    text_encoder_file: str = ""
    video_vae: str = ""
    video_vae_conv: str = ""
    audio_vae: str = ""
    duration_head: str = ""
    upsampler_25: str = ""

    @property
    def family(self) -> str | None:
        """"2.5" when the split files' transformer was found, "2.3" for a single checkpoint, None for neither."""
        if self.transformer and not self.checkpoint:
            return "2.5"
        return "2.3" if self.checkpoint else None


def check_split(paths: dict[str, str]) -> list[ItemStatus]:
    """LTX-2.5 split files (Settings field -> path): each file is identified from its header and checked
    against the transformer by the runtime's own rules (`ModelFiles.split`), so a wrong file gets the
    runtime's sentence: which file it is and what it should be (a 2.3 VAE with a 2.5 transformer, a
    Gemma-3 folder where the packed Gemma-4 file goes, ...)."""
    transformer = paths.get("transformer", "")
    t_status = _check_transformer(transformer)
    out = [t_status]
    for field, name in SPLIT_FIELDS.items():
        if field == "transformer":
            continue
        path = paths.get(field, "")
        # one video VAE is enough (either decodes; both carry the same encoder): the diffusion VAE is asked
        # for when neither is given, the conv VAE is never required on its own
        required = field in REQUIRED_25 or (field == "video_vae" and not paths.get("video_vae_conv"))
        if not path:
            cost = OPTIONAL_25.get(field) or {
                "video_vae": "or give the conv video VAE instead" if required else "the conv video VAE decodes",
                "video_vae_conv": "without it Sharp is the only decoder"}.get(field, "")
            out.append(ItemStatus(field, "", False, f"missing: {PURPOSE[field]}" + (f" ({cost})" if cost else ""),
                                  required))
            continue
        try:
            if t_status.ok:
                files = api.ModelFiles.split(transformer, **{name: path})
                f = files.files.get(name) or next(v for k, v in files.files.items() if k != "transformer")
            else:  # no usable transformer to check against: the file alone
                if Path(path).is_dir():
                    raise api.CheckpointError(f"{path}: a folder, not {api.MODEL_FILE_ROLES[name]}")
                f = api.identify_model_file(path)
                if f.role != name:
                    raise api.CheckpointError(f"{path}: this is {api.MODEL_FILE_ROLES[f.role]}, not "
                                              f"{api.MODEL_FILE_ROLES[name]}")
        except (api.RuntimeErrorBase, OSError) as exc:
            out.append(ItemStatus(field, path, False, str(exc), required))
            continue
        out.append(ItemStatus(field, path, True, _describe(f), required))
    return out


def _check_transformer(path: str) -> ItemStatus:
    if not path:
        return ItemStatus("transformer", "", False, f"missing: {PURPOSE['transformer']}")
    try:
        t = api.ModelFiles.split(path).main
    except (api.RuntimeErrorBase, OSError) as exc:
        return ItemStatus("transformer", path, False, str(exc))
    return ItemStatus("transformer", path, True, _describe(t))


def _describe(f) -> str:
    """One file as the page lists it: what it is (the runtime's words), its version and size."""
    version = f", version {f.version}" if f.version else ""
    n = f.size_bytes
    size = f"{n / 1e9:.1f} GB" if n >= 1e8 else f"{n / 1e6:.1f} MB" if n >= 1e5 else f"{n / 1e3:.0f} kB"
    return f"{api.MODEL_FILE_ROLES[f.role]}{version}, {size}"


def present_and_missing(statuses: list[ItemStatus]) -> tuple[list[str], list[str]]:
    """The components present (checked) and those missing or wrong, by label, for the family line."""
    return [s.label for s in statuses if s.ok], [s.label for s in statuses if not s.ok]


def check_checkpoint(path: str) -> ItemStatus:
    if not path:
        return ItemStatus("checkpoint", "", False, f"missing: {PURPOSE['checkpoint']}")
    try:
        info = api.inspect_checkpoint(path)
    except api.CheckpointError as exc:
        return ItemStatus("checkpoint", path, False, str(exc))
    return ItemStatus("checkpoint", path, True, f"LTX-{info.model_version}, {info.parameter_count / 1e9:.2f} B parameters, "
                      f"components: {', '.join(info.components)}")


def check_upsampler(path: str) -> ItemStatus:
    if not path:
        return ItemStatus("upsampler", "", False, f"missing: {PURPOSE['upsampler']} (drafts still work)")
    try:
        api.inspect_upsampler(path)
    except api.CheckpointError as exc:
        return ItemStatus("upsampler", path, False, str(exc))
    return ItemStatus("upsampler", path, True, "spatial latent upsampler x2")


def check_text_encoder(path: str) -> ItemStatus:
    if not path:
        return ItemStatus("text_encoder", "", False, f"missing: {PURPOSE['text_encoder']}")
    folder = Path(path)
    cfg = folder / "config.json"
    if not cfg.is_file():
        return ItemStatus("text_encoder", path, False, "no config.json: expected the Hugging Face Gemma-3 folder")
    try:
        model_type = json.loads(cfg.read_text("utf-8")).get("model_type", "")
    except (OSError, ValueError) as exc:
        return ItemStatus("text_encoder", path, False, f"config.json unreadable: {exc}")
    if not model_type.startswith("gemma3"):
        return ItemStatus("text_encoder", path, False, f"model_type {model_type!r} is not Gemma-3")
    weights = list(folder.glob("*.safetensors"))
    tok = [n for n in ("tokenizer.json", "tokenizer.model") if (folder / n).is_file()]
    if not weights:
        return ItemStatus("text_encoder", path, False, "no *.safetensors weights in the folder")
    if not tok:
        return ItemStatus("text_encoder", path, False, "no tokenizer.json / tokenizer.model in the folder")
    size = sum(p.stat().st_size for p in weights) / 1e9
    return ItemStatus("text_encoder", path, True, f"Gemma-3 ({model_type}), {len(weights)} weight file(s), {size:.1f} GB")


def check_all(checkpoint: str, upsampler: str, text_encoder: str) -> list[ItemStatus]:
    up = check_upsampler(upsampler)
    return [check_checkpoint(checkpoint), replace(up, required=False), check_text_encoder(text_encoder)]


def save_refusal(statuses: list[ItemStatus], use_demo: bool) -> str | None:
    """Why Settings → Models must not save these paths (None: fine to save).

    A path that is set must be the right kind of file (a README as the checkpoint, /tmp as the Gemma
    folder were once saved without a word). Leaving the demo needs at least the checkpoint and Gemma."""
    wrong = [s for s in statuses if s.path and not s.ok]
    if wrong:
        return "; ".join(f"{s.label} {s.path}: {s.message}" for s in wrong)
    if not use_demo:
        missing = [s.label for s in statuses if not s.ok and s.required]
        if missing:
            return f"the real model needs the {' and the '.join(missing)}: set them, or keep the demo model on"
    return None


def _walk(root: Path, depth: int = 0):
    try:
        entries = sorted(root.iterdir())
    except OSError:
        return
    for p in entries:
        yield p
        if p.is_dir() and depth < MAX_DEPTH and not p.name.startswith("."):
            yield from _walk(p, depth + 1)


#: an LTX-2.5 split file's role (the runtime's `identify`) -> the Settings field it fills
ROLE_FIELDS_25 = {name: field for field, name in SPLIT_FIELDS.items() if name != "upsampler"}


def scan_folder(root: str | Path) -> FoundModels:
    """The first valid file of each kind under `root`: LTX-2.3 checkpoint, Gemma-3 folder, upscalers and the
    LTX-2.5 split files, each recognised from its header by the runtime (no loading).

    The two families' x2 upscalers have identical headers; a name with "2.5" in it pairs with LTX-2.5 and
    the others with LTX-2.3 (either takes the other's when it has none of its own)."""
    found: dict[str, str] = {}
    upscalers: list[str] = []
    for p in _walk(Path(root)):
        if p.is_dir() and "text_encoder" not in found and check_text_encoder(str(p)).ok:
            found["text_encoder"] = str(p)
        elif p.suffix == ".safetensors" and p.is_file():
            try:
                f = api.identify_model_file(p)
            except (api.RuntimeErrorBase, OSError):
                continue
            if f.role == "upsampler":
                upscalers.append(str(p))
            elif f.role == "single":
                if "checkpoint" not in found and check_checkpoint(str(p)).ok:
                    found["checkpoint"] = str(p)
            elif f.family == "2.5" and f.role in ROLE_FIELDS_25:
                found.setdefault(ROLE_FIELDS_25[f.role], str(p))
    if upscalers:
        named_25 = [u for u in upscalers if "2.5" in Path(u).name]
        others = [u for u in upscalers if u not in named_25]
        found["upsampler"] = (others or named_25)[0]
        found["upsampler_25"] = (named_25 or others)[0]
    log.info("scanned %s: %s", root, found)
    return FoundModels(**found)
