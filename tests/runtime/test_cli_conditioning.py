"""`ltx-studio-cli generate` with its directing flags, as a user runs it: each writes a valid MP4 from the tiny
set (first + last frame, retake of a span of that clip, extension of it, a soundtrack), and each kind of
bad input is one clear line with no job (nothing written, no model loaded)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tests.runtime.test_cli import FFPROBE, _gen_args, cli, one_line_error

pytestmark = pytest.mark.skipif(FFPROBE is None, reason="ffprobe not installed (apt-get install ffmpeg)")


def probe(path: Path) -> dict:
    info = json.loads(subprocess.run([FFPROBE, "-v", "error", "-show_streams", "-show_format", "-of", "json",
                                      str(path)], capture_output=True, text=True, check=True).stdout)
    streams = {s["codec_type"]: s for s in info["streams"]}
    return {"video": streams["video"], "audio": streams.get("audio"), "settings": json.loads(info["format"]["tags"]["comment"])}


def _clip_args(tiny_dir: Path, out: Path, **over) -> list[str]:
    """Flags of a retake/extension: the clip's format comes from its source."""
    return _gen_args(tiny_dir, out, **{"--width": None, "--height": None, "--frames": None, "--fps": None, **over})


@pytest.fixture(scope="module")
def keyframed(tiny_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cli") / "keyframed.mp4"
    proc = cli(*_gen_args(tiny_dir, out), "--image", f"{tiny_dir / 'cond_image.png'}@0",
               "--image", f"{tiny_dir / 'cond_last.png'}@8:0.9")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


@pytest.mark.slow
def test_first_and_last_frame(keyframed):
    info = probe(keyframed)
    assert int(info["video"]["nb_frames"]) == 9 and info["audio"]["codec_name"] == "aac"
    images = info["settings"]["request"]["conditioning"]["images"]
    assert [(i["frame"], i["strength"]) for i in images] == [(0, 1.0), (8, 0.9)]
    assert Path(images[0]["path"]).is_absolute()


@pytest.mark.slow
def test_retake_a_span(tiny_dir, keyframed, tmp_path):
    out = tmp_path / "retake.mp4"
    proc = cli(*_clip_args(tiny_dir, out), "--retake", keyframed, "--span", "0.1:0.3")
    assert proc.returncode == 0, proc.stderr[-3000:]
    info = probe(out)
    assert int(info["video"]["nb_frames"]) == 9 and (info["video"]["width"], info["video"]["height"]) == (64, 64)
    assert info["audio"]["codec_name"] == "aac"
    assert info["settings"]["request"]["conditioning"]["retake"]["span"] == [0.1, 0.3]


@pytest.mark.slow
def test_extend_by_seconds(tiny_dir, keyframed, tmp_path):
    out = tmp_path / "extended.mp4"
    proc = cli(*_clip_args(tiny_dir, out), "--extend", keyframed, "--seconds", "0.5")
    assert proc.returncode == 0, proc.stderr[-3000:]
    info = probe(out)
    assert int(info["video"]["nb_frames"]) == 9 + 16  # 0.5 s at 24 fps rounds to two latent frames
    assert float(info["audio"]["duration"]) > 0.9


@pytest.mark.slow
def test_soundtrack_drives_the_clip(tiny_dir, tmp_path):
    out = tmp_path / "a2v.mp4"
    proc = cli(*_gen_args(tiny_dir, out), "--audio", tiny_dir / "cond_audio.wav")
    assert proc.returncode == 0, proc.stderr[-3000:]
    info = probe(out)
    assert int(info["video"]["nb_frames"]) == 9 and int(info["audio"]["sample_rate"]) == 48000


@pytest.fixture(scope="module")
def silent_clip(tmp_path_factory) -> Path:
    from model_runtime.media.mux import write_mp4

    path = tmp_path_factory.mktemp("silent") / "silent.mp4"
    write_mp4(path, np.zeros((9, 64, 64, 3), np.uint8), 24.0, None)
    return path


BAD = {
    "unreadable-image": (["--image", "TEXT@0"], "not a readable image"),
    "image-syntax": (["--image", "IMAGE"], "PATH@FRAME"),
    "keyframe-past-end": (["--image", "IMAGE@9"], "past the clip's end"),
    "two-keyframes-one-latent-frame": (["--image", "IMAGE@1", "--image", "IMAGE@8"], "same latent frame"),
    "span-outside-clip": (["--retake", "CLIP", "--span", "0.2:1.5"], "ends after the clip's end"),
    "span-without-retake": (["--span", "0.1:0.2"], "go together"),
    "extend-source-without-audio": (["--extend", "SILENT", "--seconds", "1"], "no audio track"),
    "audio-too-short": (["--audio", "WAV", "--frames", "49"], "too short"),
    "audio-wrong-format": (["--audio", "TEXT"], "not a readable media file"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_conditioning_is_one_line_and_no_job(tiny_dir, tmp_path, silent_clip, case):
    extra, message = BAD[case]
    text = tmp_path / "notes.txt"
    text.write_text("not media")
    clip = tiny_dir / "cond_video.mp4"
    subst = {"TEXT": str(text), "IMAGE": str(tiny_dir / "cond_image.png"), "CLIP": str(clip),
             "SILENT": str(silent_clip), "WAV": str(tiny_dir / "cond_audio.wav")}
    for key, value in subst.items():
        extra = [a.replace(key, value) if not a.startswith("--") else a for a in extra]
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    source_flags = any(a in ("--retake", "--extend") for a in extra)
    base = _clip_args(tiny_dir, out_dir / "x.mp4") if source_flags else _gen_args(tiny_dir, out_dir / "x.mp4")
    if "--frames" in extra:
        i = base.index("--frames")
        base = base[:i] + base[i + 2:]
    proc = cli(*base, *extra, timeout=120)
    assert proc.returncode != 0
    assert message in one_line_error(proc)
    assert list(out_dir.iterdir()) == []
