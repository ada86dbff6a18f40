"""Output safety: the sidecar never replaces an unrelated file, no output inside a model folder, one writer
per path, no leftovers after a killed writer, the normal file mode."""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from model_runtime.errors import MediaError
from tests.conftest import REPO_ROOT
from tests.faults.conftest import generate_args

FRAMES = np.zeros((2, 32, 32, 3), dtype=np.uint8)


def _write(path, meta=None, **kw):
    from model_runtime.media.mux import write_mp4

    return write_mp4(path, FRAMES, 24.0, None, metadata=meta or {"job": 1}, preset="ultrafast", **kw)


def test_sidecar_never_replaces_a_same_stem_file(tmp_path):
    """`--out ~/proj/package.mp4` used to replace `~/proj/package.json`."""
    package = tmp_path / "package.json"
    package.write_text('{"name": "my-node-project"}')
    result = _write(tmp_path / "package.mp4")
    assert result.sidecar == tmp_path / "package.mp4.json"
    assert package.read_text() == '{"name": "my-node-project"}'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["package.json", "package.mp4", "package.mp4.json"]


@pytest.mark.parametrize("content", [b"my notes, not json", b"[1, 2]", None], ids=["text", "json-list", "folder"])
def test_sidecar_slot_taken_by_an_unrelated_file(fault, tmp_path, content):
    slot = tmp_path / "clip.mp4.json"
    if content is None:
        slot.mkdir()
    else:
        slot.write_bytes(content)
    fault(lambda: _write(tmp_path / "clip.mp4"), r"clip.mp4.json exists and is not a settings sidecar; it would be "
                                                 r"replaced: move it or choose another output name", MediaError)
    assert not (tmp_path / "clip.mp4").exists()


def test_output_inside_the_gemma_folder_is_refused(cli_fault, gemma_copy, tmp_path):
    """`--out <gemma folder>/config.mp4` used to replace the Gemma config.json."""
    cli_fault(generate_args(tmp_path, out=gemma_copy / "config.mp4"),
              r"refusing to write inside the model folder .*gemma: choose an output folder outside your model files")
    (gemma_copy / "sub").mkdir()
    cli_fault(generate_args(tmp_path, out=gemma_copy / "sub" / "x.mp4"), r"refusing to write inside the model folder")


def test_export_into_a_model_folder_is_refused(cli_fault, gemma_copy, tmp_path):
    from tests.runtime.test_export import make_clip

    (tmp_path / "src").mkdir()
    clip = make_clip(tmp_path / "src" / "clip.mp4", 32, 32, 6, 12, sound=False)
    cli_fault(["export", clip, "--preset", "youtube_1080p", "--out", gemma_copy / "tokenizer.mp4", "-q"],
              r"refusing to write inside the model folder")


def test_two_writers_on_one_path_never_mix(tmp_path):
    """Before the lock, 12 of 60 rounds had the MP4 of one job and the sidecar of the other."""
    from model_runtime.media.mux import sidecar_path

    out = tmp_path / "same.mp4"
    for rnd in range(8):
        errors = []

        def job(n, rnd=rnd, errors=errors):
            try:
                _write(out, {"job": n, "round": rnd})
            except Exception as exc:  # noqa: BLE001 - collected and asserted below
                errors.append(exc)

        threads = [threading.Thread(target=job, args=(n,)) for n in (1, 2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors
        import av

        with av.open(str(out)) as c:
            tag = json.loads(c.metadata["comment"])
        assert tag == json.loads(sidecar_path(out).read_text()), f"round {rnd}: MP4 and sidecar from different jobs"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["same.mp4", "same.mp4.json"]


def test_second_writer_fails_clearly_when_the_first_holds_on(fault, tmp_path, monkeypatch):
    from model_runtime.media import output_safety

    out = tmp_path / "busy.mp4"
    monkeypatch.setattr(output_safety, "LOCK_WAIT_S", 0.3)
    with output_safety.output_lock(out):
        fault(lambda: _write(out), r"busy.mp4: another job is writing this file right now; wait for it to finish "
                                   r"or choose another name", MediaError)
    assert not out.exists()


def test_leftovers_of_a_killed_writer_are_swept(tmp_path):
    """A writer killed by SIGKILL mid-write leaves its hidden temporary files; the next write removes them,
    but never those of a writer that is still alive."""
    code = (
        "import sys, time, pathlib\n"
        "from model_runtime.media.output_safety import output_lock\n"
        "from model_runtime.media.mux import temp_sibling\n"
        "out = pathlib.Path(sys.argv[1])\n"
        "with output_lock(out):\n"
        "    temp_sibling(out, '.partial.mp4'); temp_sibling(out, '.partial.json')\n"
        "    print('WRITING', flush=True); time.sleep(60)\n")
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    dead = subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "dead.mp4")], stdout=subprocess.PIPE,
                            text=True, env=env)
    alive = subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "alive.mp4")], stdout=subprocess.PIPE,
                             text=True, env=env)
    try:
        assert dead.stdout.readline().strip() == "WRITING" and alive.stdout.readline().strip() == "WRITING"
        dead.send_signal(signal.SIGKILL)
        dead.wait(timeout=30)
        partials = sorted(p.name for p in tmp_path.iterdir() if ".partial" in p.name)
        assert len(partials) == 4 and all(p.startswith(".") for p in partials)
        _write(tmp_path / "next.mp4")
        left = sorted(p.name for p in tmp_path.iterdir() if ".partial" in p.name)
        assert len(left) == 2 and all(p.startswith(".alive.mp4.") for p in left), left
    finally:
        alive.kill()
        alive.wait(timeout=30)


def test_outputs_get_the_normal_file_mode(tmp_path):
    old = os.umask(0o022)
    try:
        result = _write(tmp_path / "mode.mp4")
    finally:
        os.umask(old)
    assert stat.S_IMODE(result.path.stat().st_mode) == 0o644
    assert stat.S_IMODE(result.sidecar.stat().st_mode) == 0o644


def test_export_output_gets_the_normal_file_mode(tmp_path):
    from model_runtime.media.export import export
    from model_runtime.media.export_presets import get_preset
    from tests.runtime.test_export import make_clip

    clip = make_clip(tmp_path / "clip.mp4", 32, 32, 6, 12, sound=False)
    old = os.umask(0o027)
    try:
        result = export(clip, get_preset("youtube_1080p"), tmp_path / "yt.mp4")
    finally:
        os.umask(old)
    assert stat.S_IMODE(result.path.stat().st_mode) == 0o640


@pytest.mark.skipif(shutil.which("ffprobe") is None, reason="ffprobe not installed")
def test_write_into_a_vanished_folder_is_one_line(fault, tmp_path):
    fault(lambda: _write(tmp_path / "gone" / "x.mp4"), r"folder .*gone does not exist", MediaError)


def test_lock_is_released_when_the_holder_dies(tmp_path):
    from model_runtime.media.output_safety import is_locked, output_lock

    out = tmp_path / "x.mp4"
    code = ("import sys, time, pathlib\nfrom model_runtime.media.output_safety import output_lock\n"
            "with output_lock(pathlib.Path(sys.argv[1])):\n    print('LOCKED', flush=True); time.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, "-c", code, str(out)], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    assert proc.stdout.readline().strip() == "LOCKED"
    assert is_locked(out)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    started = time.monotonic()
    with output_lock(out, wait_s=5):
        assert time.monotonic() - started < 1
