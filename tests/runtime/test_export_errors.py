"""Export failure paths and the CLI: duration limits, cancel, disk full, wrong names — never a partial file."""

from __future__ import annotations

import argparse
import errno
import os

import pytest

from model_runtime.errors import MediaError
from model_runtime.media import export as export_mod
from model_runtime.media.export import ExportCancelled, export
from model_runtime.media.export_presets import get_preset, list_presets, load_preset
from model_runtime.sampling.control import CancelToken
from tests.runtime.test_export import make_clip


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return make_clip(tmp_path_factory.mktemp("src") / "clip.mp4", 96, 160, 24, 12)


def _files(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_platform_limits_are_data():
    limits = {p.name: p.max_duration_s for p in list_presets()}
    assert (limits["shorts"], limits["tiktok"], limits["reels"]) == (180, 600, 900)


def test_over_the_limit_says_what_to_do(tmp_path):
    long_clip = make_clip(tmp_path / "long.mp4", 32, 32, 181, 1, sound=False)  # 181 s at 1 fps: cheap to make
    out = tmp_path / "short.mp4"
    with pytest.raises(MediaError, match=r"YouTube Shorts accepts clips up to 180 s; this one is 181.00 s"):
        export(long_clip, get_preset("shorts"), out)
    get_preset("tiktok").check_duration(181.0)  # within TikTok's 600 s
    assert not out.exists()


def test_cancel_removes_the_partial_file(tmp_path, clip):
    token = CancelToken()

    def on_progress(ev):
        if ev.stage == "video" and ev.step == 3:
            token.cancel()

    with pytest.raises(ExportCancelled):
        export(clip, get_preset("reels"), tmp_path / "out.mp4", progress=on_progress, cancel=token)
    assert _files(tmp_path) == []


def test_full_disk_is_a_clear_message(tmp_path, clip, monkeypatch):
    def no_space(src, dst):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(export_mod.os, "replace", no_space)
    with pytest.raises(MediaError, match="the disk is full"):
        export(clip, get_preset("prores_master"), tmp_path / "out.mov")
    assert _files(tmp_path) == []


def test_missing_folder_and_wrong_suffix(tmp_path, clip):
    with pytest.raises(MediaError, match="does not exist"):
        export(clip, get_preset("reels"), tmp_path / "nope" / "out.mp4")
    with pytest.raises(MediaError, match=r"writes \.mov files"):
        export(clip, get_preset("prores_master"), tmp_path / "out.mp4")
    with pytest.raises(MediaError, match="must come after the in point"):
        export(clip, get_preset("reels"), tmp_path / "out.mp4", in_s=1.5, out_s=1.0)
    assert _files(tmp_path) == []


def test_bad_preset_file_is_rejected(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\nlabel = "X"\ndescription = ""\ncontainer = "avi"\n'
                   '[video]\ncodec = "libx264"\npix_fmt = "yuv420p"\n[audio]\ncodec = "aac"\n')
    with pytest.raises(MediaError, match="container = 'avi' is invalid, expected one of mp4, mov"):
        load_preset(bad)
    with pytest.raises(MediaError, match="unknown export preset 'nope'"):
        get_preset("nope")


def _cli(argv: list[str]) -> int:
    from model_runtime.cli import export as cli_export

    parser = argparse.ArgumentParser()
    cli_export.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


def test_cli_lists_presets(capsys):
    assert _cli(["presets"]) == 0
    names = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert names == [p.name for p in list_presets()]


def test_cli_exports_a_trimmed_span(tmp_path, clip, capsys):
    out = tmp_path / "clip.mov"
    assert _cli(["export", str(clip), "--preset", "prores_master", "--out", str(out),
                 "--in", "0.5", "--out-point", "1.5", "-q"]) == 0
    assert out.is_file() and "12 frames  1.000 s" in capsys.readouterr().out
