"""One writer for a finished generation, used by the CLI's `generate` and by the app.

The MP4 (and its sidecar) carries one metadata format: `{"request": RequestSpec.to_dict(), "runtime":
result.settings, "encode": {"crf", "preset"}, ...extra}`. The `request` part is what the user asked for
(overrides only), so any clip, made by the CLI or the app, can be read back with `read_request` and queued
again; the `runtime` part records what actually ran (defaults filled in, sigmas, guidance).

Why the encoder's speed preset follows the request's stage (`encode_preset`) instead of each caller's
choice: the preset changes the decoded pixels (x264 is lossy), and a clip re-queued from its request must
come out the same. When the app wrote drafts with "veryfast" and the CLI, a re-run or a script with the
default "medium", the same seed gave frames up to 56 levels apart; now every writer of a request's MP4
(app, CLI, cluster worker, re-queue) encodes it the same way, and `encode` records what was used.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from model_runtime.errors import MediaError
from model_runtime.media.mux import MuxResult, read_metadata, temp_sibling, write_mp4
from model_runtime.media.video_encode import VideoEncodeThread
from model_runtime.spec import RequestSpec, Stage

log = logging.getLogger(__name__)

METADATA_FORMAT = "ltx-studio/1"
#: x264 quality of every result (lower is better; the CLI's --crf replaces it)
DEFAULT_CRF = 18
#: x264 speed preset per stage: a draft is a quick look (encode fast), a render is the keeper (encode well)
STAGE_PRESETS = {Stage.DRAFT: "veryfast", Stage.RENDER: "medium"}


def encode_preset(stage: Stage | str) -> str:
    """The x264 preset a request's MP4 is written with (see the module doc for why it follows the stage)."""
    return STAGE_PRESETS[Stage(stage)]


def atomic_write(path: Path, write: Callable[[Path], Any], suffix: str | None = None) -> Path:
    """`write(tmp)` to a fresh name next to `path`, then rename it into place (same folder: atomic), so a
    reader never sees a half-written file; on failure the temporary file is removed."""
    path = Path(path)
    tmp = temp_sibling(path, suffix or f".partial{path.suffix}")
    try:
        write(tmp)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def write_result(result: Any, path: str | Path, spec: RequestSpec, *, extra: Mapping[str, Any] | None = None,
                 crf: int = DEFAULT_CRF, preset: str | None = None, early: VideoEncodeThread | None = None) -> MuxResult:
    """Write a GenerationResult as an MP4 + sidecar carrying the re-queueable metadata (see the module doc);
    `preset` None: the request's stage's (`encode_preset`), what every product path uses. `early`: the frames'
    encode started during the job (`video_encode.EarlyVideoEncode`), if any (used only when its settings match)."""
    settings = dict(result.settings or {})
    preset = preset or encode_preset(spec.stage)
    metadata = {"format": METADATA_FORMAT, "request": pin_loras(spec, settings.get("loras")).to_dict(),
                "runtime": settings, "encode": {"crf": crf, "preset": preset}} | dict(extra or {})
    frames = result.frames.cpu().numpy() if hasattr(result.frames, "cpu") else result.frames
    wave = result.waveform.cpu().numpy() if hasattr(result.waveform, "cpu") else result.waveform
    return write_mp4(path, frames, result.fps, wave, int(result.sample_rate), metadata, crf=crf, preset=preset,
                     early=early)


def pin_loras(spec: RequestSpec, applied: list[dict] | None) -> RequestSpec:
    """The spec with each LoRA pinned to the sha256 the job actually used (its provenance), so a re-queue
    of the clip runs the same files or refuses a file that changed since."""
    if not spec.loras or not applied or len(applied) < len(spec.loras):
        return spec
    from model_runtime.loras.spec import LoraSpec

    pinned = tuple(LoraSpec(s.path, s.strength, a.get("sha256") or s.sha256)
                   for s, a in zip(spec.loras, applied, strict=False))
    return spec.with_changes(loras=pinned)


def write_latents(result: Any, path: str | Path) -> Path | None:
    """A draft's stage-1 latents (what promotion to a render starts from), atomically; None without them."""
    stage1 = (result.latents or {}).get("stage1")
    if stage1 is None:
        return None
    from safetensors.torch import save_file

    tensors = {"video": stage1.video.contiguous().cpu(), "audio": stage1.audio.contiguous().cpu()}
    return atomic_write(Path(path), lambda tmp: save_file(tensors, str(tmp)))


def read_request(path: str | Path) -> RequestSpec:
    """The request a clip was made from (CLI or app), to queue it again. MediaError when it has none."""
    meta = read_metadata(path)
    request = meta.get("request")
    if not isinstance(request, dict):
        raise MediaError(f"{path}: no generation request in its metadata (not made by LTX Studio?)")
    try:
        return RequestSpec.from_dict(request)
    except (TypeError, ValueError) as exc:
        raise MediaError(f"{path}: its generation request is unreadable: {exc}") from None
