"""Export: trim points and preset files are user data; bad ones get one line, and nothing is written."""

from __future__ import annotations

import pytest

from tests.runtime.test_export import make_clip

GOOD_PRESET = '''name = "mine"
label = "Mine"
description = "a user preset"
container = "mp4"
width = 64
height = 64

[video]
codec = "libx264"
profile = "high"
pix_fmt = "yuv420p"
crf = 20
speed = "veryfast"

[audio]
codec = "aac"
sample_rate = 48000
channels = 2
'''


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return make_clip(tmp_path_factory.mktemp("src") / "clip.mp4", 64, 64, 24, 12)


@pytest.mark.parametrize("extra, match", [
    (["--in", "nan"], r"the in point must be a time in seconds from 0 to 2.00, got nan"),
    (["--out-point", "inf"], r"the out point must be a time in seconds from 0 to 2.00, got inf"),
    (["--in", "-1"], r"the in point must be a time in seconds from 0 to 2.00, got -1.0"),
    (["--in", "0.4", "--out-point", "0.1"], r"the out point \(0.1 s\) must come after the in point \(0.4 s\)"),
    (["--preset", "nope"], r"unknown export preset 'nope'; choose one of: prores_master, reels"),
], ids=["in-nan", "out-inf", "in-negative", "out-before-in", "unknown-preset"])
def test_export_trim_points(cli_fault, tmp_path, clip, extra, match):
    argv = ["export", clip, "--preset", "reels", "--out", tmp_path / "out.mp4", "-q", *extra]
    if "--preset" in extra:
        argv[2:4] = []
    cli_fault(argv, match, keep=[clip.parent])
    assert not (tmp_path / "out.mp4").exists()


def test_export_input_not_a_video(cli_fault, tmp_path):
    src = tmp_path / "notes.mp4"
    src.write_text("not a video at all")
    cli_fault(["export", src, "--preset", "reels", "--out", tmp_path / "out.mp4", "-q"],
              r"notes.mp4: cannot open the clip \(.*\): it is not a video FFmpeg can read; pick an MP4 or MOV file")


def test_export_input_missing(cli_fault, tmp_path):
    cli_fault(["export", tmp_path / "gone.mp4", "--preset", "reels", "--out", tmp_path / "out.mp4", "-q"],
              r"gone.mp4: file not found: check the path")


def test_preset_folder_missing(cli_fault, tmp_path):
    cli_fault(["presets", "--preset-dir", tmp_path / "nope"], r"preset folder .*nope does not exist: check the path")


@pytest.mark.parametrize("old, new, match", [
    ('pix_fmt = "yuv420p"', 'pix_fmt = "yuv420p,drawtext=text=owned"', r"video.pix_fmt = .* is invalid, expected one of yuv420p"),
    ('codec = "libx264"', 'codec = "libfoo"', r"video.codec = 'libfoo' is invalid, expected one of libx264, prores_ks"),
    ("crf = 20", 'crf = "20"', r"video.crf = '20' is invalid, expected a whole number from 0 to 51"),
    ("crf = 20", "crf = 99", r"video.crf = 99 is invalid, expected a whole number from 0 to 51"),
    ("crf = 20", "crf = nan", r"video.crf = nan is invalid"),
    ('speed = "veryfast"', 'speed = "fast; rm -rf /"', r"video.speed = .* is invalid, expected one of ultrafast"),
    ('profile = "high"', 'profile = "high:x264opts=x"', r"video.profile = .* is invalid, expected one of baseline"),
    ("width = 64", "width = 65", r"width and height must both be set, even and positive"),
    ("width = 64", "width = 100000", r"width = 100000 is invalid, expected a whole number from 16 to 7680"),
    ("width = 64", "width = true", r"width = True is invalid, expected a whole number"),
    ('name = "mine"', 'name = "my preset; $(x)"', r"name = .* is invalid, expected a short name"),
    ('label = "Mine"', 'label = "Mine\\u0007"', r"label = .* is invalid, expected printable text"),
    ("sample_rate = 48000", "sample_rate = 12345", r"audio.sample_rate = 12345 is invalid"),
    ("channels = 2", "channels = 6", r"audio.channels = 6 is invalid, expected a whole number from 2 to 2"),
    ('codec = "aac"', 'codec = "pcm_s24le"', r"an mp4 preset takes libx264 video and aac sound"),
    ('container = "mp4"', 'container = "avi"', r"container = 'avi' is invalid, expected one of mp4, mov"),
    ("height = 64", "height = 64\nfilter = \"hflip\"", r"unknown key\(s\) filter"),
    ("[audio]", "[audio]\nvolume = 3", r"unknown key\(s\) volume in \[audio\]"),
    ("height = 64", "height = 64\nmax_duration_s = inf", r"max_duration_s = inf is invalid"),
    ("height = 64", "height = 64\n[loudness]\nintegrated_lufs = nan\ntrue_peak_dbtp = -1\nlra = 11",
     r"loudness.integrated_lufs = nan is invalid, expected a number from -70 to -5"),
    ("height = 64", "height = 64\nvideo = 3", r"\[video\] must be a table"),
], ids=["pix-fmt-injection", "codec", "crf-str", "crf-range", "crf-nan", "speed-injection", "profile-injection",
        "width-odd", "width-huge", "width-bool", "name", "label-control", "sample-rate", "channels",
        "mp4-codec", "container", "unknown-key", "unknown-audio-key", "duration-inf", "loudness-nan",
        "video-not-table"])
def test_user_preset_fields(cli_fault, tmp_path, old, new, match):
    folder = tmp_path / "presets"
    folder.mkdir()
    assert old in GOOD_PRESET
    text = GOOD_PRESET.replace(old, new, 1)
    if new.startswith("height = 64\nvideo"):
        text = text.replace("[video]\n", "[video_]\n")
    (folder / "mine.toml").write_text(text)
    cli_fault(["presets", "--preset-dir", folder], r"export preset .*mine.toml.*" + match + r".*fix the file")


def test_good_user_preset_loads(tmp_path):
    from model_runtime.media.export_presets import load_preset

    (tmp_path / "mine.toml").write_text(GOOD_PRESET)
    assert load_preset(tmp_path / "mine.toml").video.pix_fmt == "yuv420p"


@pytest.mark.parametrize("content, match", [
    (b"name = \xff\xfe", r"cannot read export preset .*UnicodeDecodeError|cannot read export preset .*codec"),
    (b"name = [[[", r"cannot read export preset .*; fix the file"),
], ids=["not-utf8", "bad-toml"])
def test_unreadable_preset_file(cli_fault, tmp_path, content, match):
    folder = tmp_path / "presets"
    folder.mkdir()
    (folder / "bad.toml").write_bytes(content)
    cli_fault(["presets", "--preset-dir", folder], match)
