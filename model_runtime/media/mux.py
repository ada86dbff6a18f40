"""Write generated frames + 48 kHz stereo sound into an MP4 (H.264 yuv420p + AAC) that carries its settings.

Why it looks the way it does:
* The file is written under a temporary name in the destination folder and renamed only when complete
  (same folder -> `os.replace` is atomic), so a crash, a full disk or a cancel never leaves a half MP4
  that the history or a player could pick up.
* The sound is trimmed or zero-padded to exactly the video's duration (frames / fps): the model makes
  `round(frames / fps * 25)` audio latents, which rarely equals the video length to the sample, and
  players show a black tail or cut the sound when the two streams differ.
* Settings travel with the file twice: as a JSON `comment`/`description` tag in the MP4 (survives a copy
  to another machine) and as a sidecar named `<name>.mp4.json` (readable without FFmpeg). The sidecar
  name extends the full file name, so it can never be another file's name: `package.mp4` never touches
  `package.json`. An existing file under the sidecar's name that is not a settings sidecar (not a JSON
  object) is never replaced: the write is refused.
* Output safety (see `output_safety`): one writer per path at a time (the MP4 and its sidecar come from
  the same job), no output inside a model folder, leftovers of killed writers swept, normal file mode.
* RGB -> YUV uses BT.709 and the stream is tagged BT.709/limited range, so players do not guess.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import tempfile
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from model_runtime.errors import MediaError
from model_runtime.media.output_safety import apply_umask, output_lock, refuse_model_folder, sweep_partials
from model_runtime.media.video_encode import VideoEncodeThread, VideoSettings, encode_video

log = logging.getLogger(__name__)

AUDIO_RATE = 48_000
AUDIO_CODEC = "aac"
DISK_FULL_ERRNOS = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT}
NOT_WRITABLE_ERRNOS = {errno.EACCES, errno.EPERM, errno.EROFS}


@dataclass(frozen=True)
class MuxResult:
    """What was written: the final path, its sidecar, and the exact stream lengths."""

    path: Path
    sidecar: Path
    frames: int
    fps: Fraction
    duration_s: float
    audio_samples: int  # 0 when the file has no audio stream


def sidecar_path(path: str | Path) -> Path:
    """The settings sidecar of an output file: `clip.mp4` -> `clip.mp4.json` (one rule for writer and readers)."""
    path = Path(path)
    return path.with_name(path.name + ".json")


def _check_sidecar_slot(path: Path) -> None:
    """Refuse when the sidecar's name is taken by something that is not a settings sidecar."""
    side = sidecar_path(path)
    if not side.exists() and not side.is_symlink():
        return
    ok = side.is_file() and not side.is_symlink()
    if ok:
        try:
            ok = side.stat().st_size < 10_000_000 and isinstance(json.loads(side.read_bytes()), dict)
        except (OSError, ValueError, RecursionError):
            ok = False
    if not ok:
        raise MediaError(f"{path}: {side.name} exists and is not a settings sidecar; it would be replaced: "
                         "move it or choose another output name")


def fps_fraction(fps: float | Fraction) -> Fraction:
    """24.0 -> 24, 23.976 -> 24000/1001: a rational frame rate the container can store exactly."""
    if isinstance(fps, Fraction):
        return fps
    if not fps > 0:
        raise MediaError(f"frame rate must be positive, got {fps}")
    ntsc = round(fps * 1.001)
    if abs(fps - ntsc / 1.001) < 1e-3 and abs(fps - round(fps)) > 1e-3:
        return Fraction(ntsc * 1000, 1001)  # 23.976, 29.97, 59.94 are 24000/1001 ... as players expect
    return Fraction(fps).limit_denominator(1000)


def video_settings(fps: float | Fraction, crf: int = 18, preset: str = "medium") -> VideoSettings:
    """What `write_mp4` encodes the video with (an early encode must be started with the same)."""
    return VideoSettings(fps_fraction(fps), crf, preset)


def fit_audio(waveform: Any, samples: int) -> np.ndarray:
    """[C, N] float -> float32 [2, samples]: mono duplicated, trimmed or zero-padded at the end, clipped."""
    wav = np.asarray(waveform, dtype=np.float32)
    if wav.ndim != 2 or wav.shape[0] not in (1, 2):
        raise MediaError(f"waveform must be [channels (1 or 2), samples], got shape {tuple(wav.shape)}")
    if wav.shape[0] == 1:
        wav = np.repeat(wav, 2, axis=0)
    out = np.zeros((2, samples), dtype=np.float32)
    n = min(samples, wav.shape[1])
    out[:, :n] = wav[:, :n]
    return np.clip(out, -1.0, 1.0)


def _check_frames(frames: Any) -> np.ndarray:
    arr = np.asarray(frames)
    if arr.dtype != np.uint8 or arr.ndim != 4 or arr.shape[-1] != 3 or arr.shape[0] < 1:
        raise MediaError(f"frames must be uint8 [F, H, W, 3] with F >= 1, got {arr.dtype} {tuple(arr.shape)}")
    height, width = arr.shape[1:3]
    if height % 2 or width % 2:
        raise MediaError(f"H.264 yuv420p needs an even width and height, got {width}x{height}")
    return np.ascontiguousarray(arr)


def os_error_message(path: Path, exc: BaseException) -> str:
    code = getattr(exc, "errno", None)
    if code in DISK_FULL_ERRNOS:
        return f"{path}: cannot write the video: the disk is full (or the file size limit was reached)"
    if code in NOT_WRITABLE_ERRNOS:
        return f"{path}: cannot write the video: the folder is not writable"
    return f"{path}: cannot write the video: {exc}"


def check_output_path(path: str | Path, suffix: str = ".mp4", what: str = "the output must be an") -> Path:
    """Refuse an output path that cannot be written, before any work is done (the CLI and the export
    call this early). `suffix` is the container's extension; `what` starts the wrong-extension message."""
    path = Path(path)
    if path.suffix.lower() != suffix:
        raise MediaError(f"{path}: {what} {suffix} file")
    folder = path.parent
    if not folder.is_dir():
        raise MediaError(f"{path}: cannot write the file: folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise MediaError(f"{path}: cannot write the file: the folder {folder} is not writable")
    if path.is_dir():
        raise MediaError(f"{path}: cannot write the file: a folder with that name exists")
    refuse_model_folder(path)
    return path


def _encode_audio(container, stream, audio: np.ndarray, sample_rate: int) -> None:
    """Feed planar float chunks; PyAV re-chunks them to AAC's frame size (and resamples if needed)."""
    import av

    chunk = 4096
    for start in range(0, audio.shape[1], chunk):
        part = np.ascontiguousarray(audio[:, start:start + chunk])
        frame = av.AudioFrame.from_ndarray(part, format="fltp", layout="stereo")
        frame.sample_rate = sample_rate
        frame.pts = start
        frame.time_base = Fraction(1, sample_rate)
        container.mux(stream.encode(frame))
    container.mux(stream.encode(None))


def _write_container(tmp: Path, frames: np.ndarray, settings: VideoSettings, audio: np.ndarray | None,
                     sample_rate: int, tag: str, early: VideoEncodeThread | None = None) -> None:
    """The MP4 at `tmp`: the video packets (encoded early by `early` when it has exactly these frames and
    settings, else now), then the AAC stream."""
    import av

    video = early.take(frames, settings) if early is not None else None
    if video is None:
        video = encode_video(frames, settings)
    try:
        with av.open(str(tmp), mode="w", format="mp4", options={"movflags": "+faststart"}) as container:
            container.metadata["comment"] = tag
            container.metadata["description"] = tag
            vstream = container.add_stream_from_template(video.stream)  # the scratch stream's parameters
            astream = None
            if audio is not None:  # every stream exists before the first packet (the header) is written
                astream = container.add_stream(AUDIO_CODEC, rate=AUDIO_RATE)
                astream.layout = "stereo"
                astream.bit_rate = 192_000
            for packet in video.packets:
                packet.stream = vstream
                container.mux(packet)
            if astream is not None:
                _encode_audio(container, astream, audio, sample_rate)
    finally:
        video.close()


def temp_sibling(path: Path, suffix: str) -> Path:
    """A fresh hidden name next to `path` (`.<name>.<random><suffix>`): same filesystem, so the final
    rename is atomic; its name leads `sweep_partials` back to `path`. Created with the normal file mode."""
    try:
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    except OSError as exc:
        raise MediaError(os_error_message(path, exc)) from exc
    os.close(fd)
    apply_umask(Path(name))
    return Path(name)


def _write_pair(path: Path, arr: np.ndarray, settings: VideoSettings, audio: np.ndarray | None, sample_rate: int,
                tag: str, metadata: dict | None, early: VideoEncodeThread | None) -> None:
    """The MP4 and its sidecar under temporary names, then renamed into place (all or nothing)."""
    tmp = temp_sibling(path, ".partial.mp4")
    tmp_side = temp_sibling(path, ".partial.json")
    try:
        _write_container(tmp, arr, settings, audio, sample_rate, tag, early)
        tmp_side.write_text(json.dumps(metadata or {}, indent=2, sort_keys=True, ensure_ascii=False) + "\n",
                            encoding="utf-8")
        os.replace(tmp, path)
        try:
            os.replace(tmp_side, sidecar_path(path))
        except OSError:
            path.unlink(missing_ok=True)  # all or nothing: an MP4 without its sidecar is not "complete"
            raise
    except OSError as exc:
        raise MediaError(os_error_message(path, exc)) from exc
    except Exception as exc:  # av.FFmpegError and encoder failures: still one clear line, no partial file
        code = getattr(exc, "errno", None)
        if code in DISK_FULL_ERRNOS | NOT_WRITABLE_ERRNOS:
            raise MediaError(os_error_message(path, exc)) from exc
        raise MediaError(f"{path}: cannot encode the video: {exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)
        tmp_side.unlink(missing_ok=True)


def write_mp4(
    path: str | Path,
    frames: Any,
    fps: float | Fraction,
    waveform: Any | None,
    sample_rate: int = AUDIO_RATE,
    metadata: dict | None = None,
    *,
    crf: int = 18,
    preset: str = "medium",
    early: VideoEncodeThread | None = None,
) -> MuxResult:
    """Write `frames` (uint8 [F, H, W, 3]) and `waveform` (float [2, N] in [-1, 1], or None) to `path`.

    The audio is fitted to exactly F / fps seconds. `metadata` (JSON-serialisable generation settings)
    goes into the MP4's comment/description tags and into `sidecar_path(path)`. `early`: the frames' H.264
    encode started before the sound was ready (`video_encode`); used only if it matches. Raises MediaError
    with a one-line reason; on any failure neither a partial MP4 nor a sidecar is left behind.
    """
    path = Path(path)
    arr = _check_frames(frames)
    rate = fps_fraction(fps)
    if waveform is not None and not sample_rate > 0:
        raise MediaError(f"sample rate must be positive, got {sample_rate}")
    try:
        tag = json.dumps(metadata or {}, sort_keys=True, ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        raise MediaError(f"generation settings are not JSON-serialisable: {exc}") from None
    check_output_path(path)
    duration = arr.shape[0] / rate
    samples = round(duration * sample_rate) if waveform is not None else 0
    audio = fit_audio(waveform, samples) if waveform is not None else None
    with output_lock(path):
        _check_sidecar_slot(path)
        sweep_partials(path.parent)
        _write_pair(path, arr, video_settings(rate, crf, preset), audio, sample_rate, tag, metadata, early)
    log.info("wrote %s: %d frames @ %s fps, %d audio samples", path, arr.shape[0], rate, samples)
    return MuxResult(path, sidecar_path(path), arr.shape[0], rate, float(duration), samples)


def read_metadata(path: str | Path) -> dict:
    """The generation settings of an output file: the sidecar if present, else the MP4's comment tag."""
    path = Path(path)
    side = sidecar_path(path)
    try:
        if side.is_file():
            return json.loads(side.read_text(encoding="utf-8"))
        import av

        with av.open(str(path)) as container:
            tag = container.metadata.get("comment") or container.metadata.get("description") or "{}"
        return json.loads(tag)
    except (OSError, ValueError) as exc:
        raise MediaError(f"{path}: cannot read its generation settings: {exc}") from None
