"""Export presets: every preset's output checked with ffprobe, loudness with ffmpeg's ebur128 meter.

Inputs are small synthetic clips (PyAV-encoded, tone + noise sound at 44.1 kHz so the 48 kHz resample
is exercised); the 4K presets run at their real size on a few frames.
"""

from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from model_runtime.media.export import export, frame_span, video_filters
from model_runtime.media.export_presets import get_preset, list_presets
from model_runtime.media.mux import write_mp4
from model_runtime.media.probe import probe

FFPROBE, FFMPEG = shutil.which("ffprobe"), shutil.which("ffmpeg")
needs_ffmpeg = pytest.mark.skipif(FFPROBE is None or FFMPEG is None,
                                  reason="ffprobe/ffmpeg not installed (apt-get install ffmpeg)")
SETTINGS = {"prompt": "a lighthouse at dusk, waves", "seed": 42}
IN_RATE = 44_100


def make_clip(path: Path, width: int, height: int, frames: int, fps: int, *, spikes: bool = False,
              level: float = 0.05, sound: bool = True) -> Path:
    """Moving gradient + a 440 Hz tone with noise; `spikes` adds clicks that force the true-peak limiter."""
    video = np.empty((frames, height, width, 3), dtype=np.uint8)
    steps = 8 * np.arange(frames)[:, None, None]
    video[..., 0] = (np.arange(width)[None, None, :] * 255 // width + steps) % 256
    video[..., 1] = (np.arange(height) * 255 // height)[None, :, None]
    video[..., 2] = (40 + 3 * np.arange(frames))[:, None, None]
    t = np.arange(round(frames / fps * IN_RATE)) / IN_RATE
    rng = np.random.default_rng(0)
    tone = level * np.sin(2 * np.pi * 440 * t) + level / 4 * rng.standard_normal(t.size)
    audio = np.stack([tone, np.roll(tone, 7)]).astype(np.float32)
    if spikes:
        audio[:, :: IN_RATE // 5] = 0.98
    write_mp4(path, video, fps, audio if sound else None, IN_RATE, SETTINGS, preset="ultrafast")
    return path


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("src")
    return {
        "grid_portrait": make_clip(d / "grid_portrait.mp4", 1088, 1920, 24, 12, spikes=True),
        "small_portrait": make_clip(d / "small_portrait.mp4", 272, 480, 24, 12),
        "landscape": make_clip(d / "landscape.mp4", 320, 176, 24, 12, level=0.3),
        "short_landscape": make_clip(d / "short_landscape.mp4", 320, 176, 8, 8),
        "short_portrait": make_clip(d / "short_portrait.mp4", 176, 320, 8, 8),
    }


def ffprobe(path: Path) -> dict:
    out = subprocess.run([FFPROBE, "-v", "error", "-show_streams", "-show_format", "-of", "json", str(path)],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def keyframes(path: Path) -> list[int]:
    out = subprocess.run([FFPROBE, "-v", "error", "-select_streams", "v", "-show_entries", "packet=pts,flags",
                          "-of", "csv=p=0", str(path)], capture_output=True, text=True, check=True).stdout
    rows = sorted((int(pts), flags) for pts, flags in (line.split(",")[:2] for line in out.split()))
    return [i for i, (_pts, flags) in enumerate(rows) if "K" in flags]


def ebur128(path: Path) -> tuple[float, float]:
    """Integrated loudness (LUFS) and true peak (dBTP) by ffmpeg's ebur128 filter: an independent meter."""
    err = subprocess.run([FFMPEG, "-nostats", "-hide_banner", "-i", str(path), "-map", "0:a", "-af",
                          "ebur128=peak=true", "-f", "null", "-"], capture_output=True, text=True, check=True).stderr
    summary = err[err.rindex("Summary:"):]
    i = float(re.search(r"I:\s+(-?[\d.]+|-inf) LUFS", summary).group(1))
    peak = float(re.search(r"True peak:\s+Peak:\s+(-?[\d.]+|-inf) dBFS", summary).group(1))
    return i, peak


def top_level_boxes(path: Path) -> list[str]:
    names, data = [], path.read_bytes()
    pos = 0
    while pos + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[pos:pos + 8])
        if size == 1:
            size = struct.unpack(">Q", data[pos + 8:pos + 16])[0]
        names.append(kind.decode("latin-1"))
        if size < 8:
            break
        pos += size
    return names


def check_output(path: Path, preset_name: str, source: Path, frames: int) -> dict:
    preset = get_preset(preset_name)
    src = probe(source)
    info = ffprobe(path)
    streams = {s["codec_type"]: s for s in info["streams"]}
    v, a = streams["video"], streams["audio"]
    want_w, want_h = (preset.width, preset.height) if preset.width else (src.width, src.height)
    assert (v["width"], v["height"]) == (want_w, want_h)
    assert v["pix_fmt"] == preset.video.pix_fmt
    assert Fraction(v["r_frame_rate"]) == src.fps
    assert int(v["nb_frames"]) == frames
    assert (v["color_primaries"], v["color_transfer"], v["color_space"]) == ("bt709",) * 3
    if preset.video.codec == "libx264":
        assert (v["codec_name"], v["profile"]) == ("h264", "High")
        gop = int(src.fps * Fraction(preset.video.gop_max_s))
        keys = keyframes(path)
        assert keys[0] == 0 and all(b - a <= gop for a, b in zip(keys, [*keys[1:], frames], strict=True))
    else:
        assert (v["codec_name"], v["profile"]) == ("prores", "HQ")
    assert int(a["sample_rate"]) == 48_000 and a["channels"] == 2
    if preset.audio.codec == "aac":
        assert (a["codec_name"], a["profile"]) == ("aac", "LC")
    else:
        assert a["codec_name"] == "pcm_s24le"
    assert abs(float(a["duration"]) - float(v["duration"])) < 1 / float(src.fps)
    assert abs(float(v["duration"]) - frames / float(src.fps)) < 1e-3
    boxes = top_level_boxes(path)
    assert boxes.index("moov") < boxes.index("mdat"), boxes
    tag = json.loads(info["format"]["tags"]["comment"])
    assert tag["seed"] == SETTINGS["seed"] and tag["prompt"] == SETTINGS["prompt"]
    assert tag["export"]["preset"] == preset_name
    return info


def check_loudness(path: Path, preset_name: str, source: Path) -> None:
    preset = get_preset(preset_name)
    measured_i, peak = ebur128(path)
    if preset.loudness is None:  # masters keep the generated level
        assert abs(measured_i - ebur128(source)[0]) < 1.0
        return
    assert abs(measured_i - preset.loudness.integrated_lufs) <= 1.0, measured_i
    assert peak <= preset.loudness.true_peak_dbtp + 0.2, peak  # AAC's rounding may nudge a limited peak


CASES = [  # preset, source, in_s, out_s, frames
    ("shorts", "grid_portrait", None, None, 24),
    ("reels", "small_portrait", None, None, 24),
    ("tiktok", "small_portrait", 0.5, 1.75, 15),
    ("youtube_1080p", "landscape", None, None, 24),
    ("youtube_4k", "short_landscape", None, None, 8),
    ("vertical_4k_master", "short_portrait", None, None, 8),
    ("prores_master", "small_portrait", None, None, 24),
]


def test_every_preset_is_covered():
    assert sorted(c[0] for c in CASES) == sorted(p.name for p in list_presets())


@needs_ffmpeg
@pytest.mark.parametrize(("preset", "source", "in_s", "out_s", "frames"), CASES, ids=[c[0] for c in CASES])
def test_preset_output(tmp_path, clips, preset, source, in_s, out_s, frames):
    p = get_preset(preset)
    out = tmp_path / f"out{p.suffix}"
    events = []
    result = export(clips[source], p, out, in_s=in_s, out_s=out_s, progress=events.append)
    assert result.frames == frames and out.is_file()
    assert [e.step for e in events if e.stage == "video"] == list(range(1, frames + 1))
    assert events[-1].eta_s == pytest.approx(0.0)
    check_output(out, preset, clips[source], frames)
    check_loudness(out, preset, clips[source])
    assert sorted(x.name for x in tmp_path.iterdir()) == [out.name]  # no partial file left


def test_generation_grid_is_cropped_not_scaled():
    chain = video_filters(get_preset("shorts"), 1088, 1920)
    assert chain == [("crop", "1080:1920"), ("setsar", "1"), ("format", "yuv420p")]
    pad = video_filters(get_preset("shorts"), 1920, 1088, fit="pad")
    assert pad[0][0] == "scale" and pad[0][1].startswith("1080:612") and pad[1][0] == "pad"


def _first_frame(path: Path) -> np.ndarray:
    import av

    with av.open(str(path)) as c:
        return next(c.decode(video=0)).to_ndarray(format="rgb24")


@needs_ffmpeg
def test_no_black_bars_unless_asked(tmp_path, clips):
    shorts = get_preset("shorts")
    crop, pad = tmp_path / "crop.mp4", tmp_path / "pad.mp4"
    export(clips["landscape"], shorts, crop, out_s=0.25)
    export(clips["landscape"], shorts, pad, out_s=0.25, fit="pad")
    top_crop, top_pad = _first_frame(crop)[:200].mean(), _first_frame(pad)[:200].mean()
    assert top_pad < 20 < top_crop  # padded: black band on top; cropped: picture to the edge


@needs_ffmpeg
def test_frame_exact_trim_keeps_streams_equal(tmp_path, clips):
    info = probe(clips["small_portrait"])
    span = frame_span(info, 0.3, 1.4)
    assert (span.first, span.count) == (4, 13)
    out = tmp_path / "trim.mov"
    export(clips["small_portrait"], get_preset("prores_master"), out, in_s=0.3, out_s=1.4)
    streams = {s["codec_type"]: s for s in ffprobe(out)["streams"]}
    assert int(streams["video"]["nb_frames"]) == 13
    assert int(streams["audio"]["duration_ts"]) == round(13 / 12 * 48_000)
