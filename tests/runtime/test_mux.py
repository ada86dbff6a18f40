"""MP4 muxing: streams as promised (ffprobe), exact A/V duration, settings carried, no partial files."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from model_runtime.errors import MediaError
from model_runtime.media.mux import fit_audio, fps_fraction, read_metadata, sidecar_path, write_mp4

FFPROBE = shutil.which("ffprobe")
needs_ffprobe = pytest.mark.skipif(FFPROBE is None, reason="ffprobe not installed (apt-get install ffmpeg)")


def ffprobe(path: Path) -> dict:
    out = subprocess.run([FFPROBE, "-v", "error", "-show_streams", "-show_format", "-of", "json", str(path)],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def _frames(n: int = 17, h: int = 64, w: int = 96) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=(n, h, w, 3), dtype=np.uint8)


def _tone(seconds: float, rate: int = 48_000) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    return np.stack([0.3 * np.sin(2 * np.pi * 440 * t), 0.3 * np.sin(2 * np.pi * 660 * t)]).astype(np.float32)


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


@needs_ffprobe
@pytest.mark.parametrize("audio_seconds", [2.0, 0.3], ids=["longer-trimmed", "shorter-padded"])
def test_streams_durations_and_settings(tmp_path, audio_seconds):
    settings = {"prompt": "a fox in snow — dawn", "seed": 7, "fps": 24.0}
    out = tmp_path / "clip.mp4"
    res = write_mp4(out, _frames(), 24.0, _tone(audio_seconds), 48_000, settings)
    assert res.path == out and out.is_file()
    assert res.audio_samples == round(17 / 24 * 48_000)
    info = ffprobe(out)
    streams = {s["codec_type"]: s for s in info["streams"]}
    video, audio = streams["video"], streams["audio"]
    assert video["codec_name"] == "h264" and video["pix_fmt"] == "yuv420p"
    assert (video["width"], video["height"]) == (96, 64)
    assert int(video["nb_frames"]) == 17 and video["r_frame_rate"] == "24/1"
    assert audio["codec_name"] == "aac" and int(audio["sample_rate"]) == 48_000 and audio["channels"] == 2
    frame = 1 / 24
    assert abs(float(video["duration"]) - 17 / 24) < 1e-3
    assert abs(float(audio["duration"]) - float(video["duration"])) < frame
    assert json.loads(info["format"]["tags"]["comment"]) == settings
    assert json.loads(sidecar_path(out).read_text()) == settings
    assert read_metadata(out) == settings
    assert _leftovers(tmp_path) == []


@needs_ffprobe
def test_no_audio_and_rational_fps(tmp_path):
    out = tmp_path / "silent.mp4"
    write_mp4(out, _frames(9), 23.976, None, 48_000, {"seed": 1})
    info = ffprobe(out)
    assert [s["codec_type"] for s in info["streams"]] == ["video"]
    assert info["streams"][0]["r_frame_rate"] == "24000/1001"


def test_tag_is_read_back_without_sidecar(tmp_path):
    out = tmp_path / "clip.mp4"
    write_mp4(out, _frames(9), 25, _tone(1.0), 48_000, {"seed": 3})
    sidecar_path(out).unlink()
    assert read_metadata(out) == {"seed": 3}


def test_fit_audio_trims_pads_and_duplicates_mono():
    wav = np.ones((1, 10), dtype=np.float32) * 2.0
    out = fit_audio(wav, 15)
    assert out.shape == (2, 15)
    assert np.all(out[:, :10] == 1.0) and np.all(out[:, 10:] == 0.0)  # clipped to [-1, 1], zero tail
    assert fit_audio(np.zeros((2, 100)), 40).shape == (2, 40)
    assert fps_fraction(29.97) == Fraction(30000, 1001)
    assert fps_fraction(24.0) == 24 and fps_fraction(12.5) == Fraction(25, 2)


@pytest.mark.parametrize(
    ("frames", "match"),
    [
        (np.zeros((3, 64, 96, 3), dtype=np.float32), "uint8"),
        (np.zeros((3, 63, 96, 3), dtype=np.uint8), "even width and height"),
        (np.zeros((0, 64, 96, 3), dtype=np.uint8), "F >= 1"),
    ],
)
def test_bad_frames_are_refused(tmp_path, frames, match):
    with pytest.raises(MediaError, match=match):
        write_mp4(tmp_path / "x.mp4", frames, 24, None)
    assert list(tmp_path.iterdir()) == []


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(MediaError, match="does not exist"):
        write_mp4(tmp_path / "nope" / "x.mp4", _frames(3), 24, None)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root can write into a read-only folder")
def test_unwritable_folder_is_a_clear_error(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(MediaError, match="not writable"):
            write_mp4(folder / "x.mp4", _frames(3), 24, None)
    finally:
        folder.chmod(0o700)


_DISK_FULL_SCRIPT = """
import resource, signal, sys
import numpy as np
from model_runtime.errors import MediaError
from model_runtime.media.mux import write_mp4
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)   # get EFBIG instead of being killed
resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))
frames = np.random.default_rng(0).integers(0, 256, size=(17, 128, 192, 3), dtype=np.uint8)
try:
    write_mp4(sys.argv[1], frames, 24, np.zeros((2, 40000), np.float32), 48000, {"seed": 1})
except MediaError as exc:
    print("MEDIA_ERROR", exc)
"""


@pytest.mark.skipif(sys.platform != "linux", reason="simulates a full disk with RLIMIT_FSIZE (Linux)")
def test_full_disk_leaves_no_partial_file(tmp_path):
    """A file-size limit makes every write past 20 kB fail like a full disk (EFBIG)."""
    out = tmp_path / "big.mp4"
    proc = subprocess.run([sys.executable, "-c", _DISK_FULL_SCRIPT, str(out)], capture_output=True, text=True,
                          timeout=120)
    assert "MEDIA_ERROR" in proc.stdout, proc.stdout + proc.stderr
    assert "disk is full" in proc.stdout
    assert list(tmp_path.iterdir()) == []
