"""`ltx-studio-cli` as a user runs it: real subprocesses, exit codes, one-line errors, a playable MP4."""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from model_runtime.api import cpu_threads

CLI = [sys.executable, "-m", "model_runtime"]
FFPROBE = shutil.which("ffprobe")


def cli(*args: str | Path, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run the CLI; output decoded by hand so a progress line's `\r` survives (text mode would make it `\n`)."""
    proc = subprocess.run([*CLI, *map(str, args)], capture_output=True, timeout=timeout)
    return subprocess.CompletedProcess(proc.args, proc.returncode, proc.stdout.decode("utf-8", "replace"),
                                       proc.stderr.decode("utf-8", "replace"))


def one_line_error(proc: subprocess.CompletedProcess) -> str:
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: "), lines[0]
    return lines[0]


# --- check-layout --------------------------------------------------------------------------------------

def test_check_layout_full_passes(layout_full):
    proc = cli("check-layout", layout_full)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "checkpoint: 5947 tensors" in proc.stdout
    assert "checkpoint: PASS" in proc.stdout and "spatial_upscaler_x2: PASS" in proc.stdout
    assert proc.stdout.rstrip().endswith("layout PASS: 2 file(s) checked")


def test_check_layout_names_a_removed_key(layout_full, tmp_path):
    doc = json.loads(gzip.open(layout_full, "rt").read())
    victim = "vocoder.vocoder.conv_post.weight"
    assert victim in doc["checkpoint"]["tensors"]
    del doc["checkpoint"]["tensors"][victim]
    broken = tmp_path / "broken.json.gz"
    with gzip.open(broken, "wt") as fh:
        json.dump(doc, fh)
    proc = cli("check-layout", broken)
    assert proc.returncode == 1
    assert f"missing-in-file: {victim}" in proc.stdout
    assert "checkpoint: FAIL (1 mismatches)" in proc.stdout


def test_check_layout_bad_file(tmp_path):
    bad = tmp_path / "layout.json.gz"
    bad.write_bytes(b"not gzip")
    proc = cli("check-layout", bad)
    assert proc.returncode == 2
    assert "not a layout file" in one_line_error(proc)


# --- check-goldens -------------------------------------------------------------------------------------

def test_check_goldens_one_section(tiny_dir):
    proc = cli("check-goldens", tiny_dir, "--section", "schedules")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = [ln for ln in proc.stdout.splitlines() if ln.startswith("schedule.")]
    assert rows and all(ln.rstrip().endswith("PASS") for ln in rows)
    assert proc.stdout.splitlines()[-1] == f"goldens PASS: {len(rows)}/{len(rows)} passed"


def test_check_goldens_runs_every_section_by_default(tiny_dir):
    """A plain `check-goldens DIR` runs every section of every golden file: the plain file's sections and
    each prefix of golden_conditioning.safetensors (what `run_all` iterates when no --section is given)."""
    from model_runtime.goldens.sections import SECTIONS, all_sections

    assert set(all_sections(tiny_dir)) == {*SECTIONS, "i2v", "kf", "retake", "a2v"}


@pytest.mark.slow
def test_check_goldens_conditioning_sections(tiny_dir):
    """The conditioning sections through the CLI, every tensor against its tolerance: they are checked only
    here. The plain file's sections each have their own in-process test (test_golden_*.py, and
    test_lora_runtime.py for `lora`) sharing one loaded model set; running them again in this subprocess
    took ~50 s of the suite's 10-minute budget, so this run is limited to the sections nothing else runs."""
    proc = cli("check-goldens", tiny_dir, *[a for s in ("i2v", "kf", "retake", "a2v") for a in ("--section", s)])
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    last = proc.stdout.splitlines()[-1]
    assert last.startswith("goldens PASS: ")
    done, total = last.removeprefix("goldens PASS: ").split()[0].split("/")
    assert done == total and int(total) > 100
    # one row per tensor of each conditioning section
    rows = [ln.split()[0] for ln in proc.stdout.splitlines()[1:-1] if ln.strip()]
    for prefix in ("i2v.", "kf.", "kf.attn.", "retake.", "a2v."):
        assert any(r.startswith(prefix) for r in rows), f"no {prefix}* rows"
    assert "i2v.frames_uint8" in rows and "retake.video_latent" in rows and "a2v.stage1.denoised_video_steps" in rows


@pytest.mark.parametrize("make", ["missing", "file", "not-golden"])
def test_check_goldens_bad_dir(tmp_path, make):
    target = tmp_path / "set"
    if make == "file":
        target.write_text("x")
    elif make == "not-golden":
        target.mkdir()
    proc = cli("check-goldens", target)
    assert proc.returncode == 2
    one_line_error(proc)


# --- generate ------------------------------------------------------------------------------------------

def _gen_args(tiny_dir: Path, out: Path, **over) -> list[str]:
    args = {
        "--checkpoint": tiny_dir / "checkpoint.safetensors",
        "--upsampler": tiny_dir / "spatial_upscaler_x2.safetensors",
        "--text-encoder": tiny_dir / "text_encoder",
        "--prompt": "a red fox trots through snow, birds chirp",
        "--width": 64, "--height": 64, "--frames": 9, "--fps": 24, "--seed": 3, "--stage": "draft", "--out": out,
    }
    args.update(over)
    flat: list[str] = ["generate"]
    for k, v in args.items():
        if v is not None:
            flat += [k, str(v)]
    return flat


@pytest.mark.skipif(FFPROBE is None, reason="ffprobe not installed (apt-get install ffmpeg)")
def test_generate_draft_writes_a_valid_mp4(tiny_dir, tmp_path):
    out = tmp_path / "draft.mp4"
    proc = cli(*_gen_args(tiny_dir, out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "\r" in proc.stderr and "stage1" in proc.stderr  # the progress line was drawn in place
    info = json.loads(subprocess.run([FFPROBE, "-v", "error", "-show_streams", "-show_format", "-of", "json",
                                      str(out)], capture_output=True, text=True, check=True).stdout)
    streams = {s["codec_type"]: s for s in info["streams"]}
    v, a = streams["video"], streams["audio"]
    assert v["codec_name"] == "h264" and (v["width"], v["height"]) == (64, 64) and int(v["nb_frames"]) == 9
    assert a["codec_name"] == "aac" and int(a["sample_rate"]) == 48_000 and a["channels"] == 2
    assert abs(float(a["duration"]) - float(v["duration"])) < 1 / 24
    assert abs(float(v["duration"]) - 9 / 24) < 1e-3
    settings = json.loads(info["format"]["tags"]["comment"])
    asked, ran = settings["request"], settings["runtime"]  # write_result's one metadata format (app and CLI)
    assert asked["seed"] == 3 and asked["stage"] == "draft" and asked["width"] == 64
    assert ran["seed"] == 3 and settings["generator"] == "ltx-studio-cli"
    # a draft is encoded as the app encodes one (the preset follows the stage), and it says so: a re-run
    # of this request anywhere writes the same MP4; the numbers that decide the low bits are recorded
    assert settings["encode"] == {"crf": 18, "preset": "veryfast"}
    assert ran["numerics"]["device"] == "cpu" and ran["numerics"]["threads"] == cpu_threads(ui=False)
    assert json.loads(out.with_name(out.name + ".json").read_text()) == settings  # the sidecar: draft.mp4.json
    assert sorted(p.name for p in tmp_path.iterdir()) == ["draft.mp4", "draft.mp4.json"]


BAD_INPUTS = {
    "missing-checkpoint": ({"--checkpoint": "/nonexistent/ltx-2.3.safetensors"}, "file not found"),
    "upsampler-as-checkpoint": ({"--checkpoint": "UPSAMPLER"}, "latent upsampler file"),
    "width-off-grid": ({"--width": 100}, "width 100 must be a positive multiple of 32"),
    "render-needs-64": ({"--stage": "render", "--width": 96}, "multiple of 64"),
    "frames-not-8k+1": ({"--frames": 10}, "8k+1"),
    "empty-prompt": ({"--prompt": "   "}, "prompt is empty"),
    "zero-fps": ({"--fps": 0}, "fps must be a positive number"),
    "out-folder-missing": ({"--out": "/nonexistent-folder/x.mp4"}, "does not exist"),
    "out-not-mp4": ({"--out": "OUT.avi"}, "must be an .mp4 file"),
    "render-without-upsampler": ({"--stage": "render", "--upsampler": None}, "needs --upsampler"),
    "gemma-missing": ({"--text-encoder": "/nonexistent/gemma-3-12b-it"}, "Gemma text encoder folder not found"),
    "gemma-is-checkpoint-folder": ({"--text-encoder": "TINY"}, "no config.json"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_generate_bad_input_is_one_line(tiny_dir, tmp_path, case):
    over, message = BAD_INPUTS[case]
    subst = {"UPSAMPLER": tiny_dir / "spatial_upscaler_x2.safetensors", "TINY": tiny_dir,
             "OUT.avi": tmp_path / "x.avi"}
    over = {k: subst.get(v, v) if isinstance(v, str) else v for k, v in over.items()}
    proc = cli(*_gen_args(tiny_dir, tmp_path / "x.mp4", **over), timeout=120)
    assert proc.returncode != 0
    line = one_line_error(proc)  # a single line: nothing was loaded, no progress was drawn
    assert message in line
    assert list(tmp_path.iterdir()) == []


def test_generate_print_plan_prints_the_plan_and_loads_nothing(tiny_dir, tmp_path):
    proc = cli(*_gen_args(tiny_dir, tmp_path / "x.mp4"), "--print-plan", "--ram-gb", "6", timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.startswith("machine: CPU (cpu)") and "plan: " in proc.stdout
    assert "text encoding" in proc.stdout and "stage 1" in proc.stdout and "VAE decode" in proc.stdout
    assert list(tmp_path.iterdir()) == []


def test_generate_refuses_a_job_that_fits_nowhere_in_one_line(tiny_dir, tmp_path):
    proc = cli(*_gen_args(tiny_dir, tmp_path / "x.mp4"), "--ram-gb", "0.5", timeout=120)
    assert proc.returncode != 0
    line = one_line_error(proc)  # refused before anything loaded: no progress, no plan line
    assert "does not fit this cpu machine (0.5 GB RAM)" in line and "GB RAM" in line
    assert "would fit" in line or "no smaller format fits either" in line
    assert list(tmp_path.iterdir()) == []


# --- process exit ----------------------------------------------------------------------------------------

def test_exit_now_runs_atexit_handlers_flushes_and_keeps_the_code(tmp_path):
    """The CLI skips the interpreter's teardown (`cli.exit_now`), not what a normal exit does: atexit
    handlers run (a logging handler's file is flushed, a temp dir's finalizer removes it), buffered
    stdout/stderr reach the pipe, and the exit code is the command's."""
    log = tmp_path / "log.txt"
    code = (
        "import atexit, logging, sys, tempfile\n"
        "from pathlib import Path\n"
        "from model_runtime.cli import exit_now\n"
        f"logging.basicConfig(filename={str(log)!r}, level=logging.INFO)\n"
        "logging.getLogger('t').info('logged before exit')\n"
        "tmp = tempfile.TemporaryDirectory()\n"
        "Path(tmp.name, 'f').write_text('x')\n"
        "atexit.register(lambda: print('handler ran', tmp.name))\n"
        "sys.stdout.write('buffered, no newline')\n"
        "sys.stderr.write('err')\n"
        "exit_now(3)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 3, proc.stderr
    assert proc.stdout.startswith("buffered, no newline") and "handler ran" in proc.stdout
    assert proc.stderr == "err"
    assert "logged before exit" in log.read_text()
    assert not Path(proc.stdout.split("handler ran", 1)[1].strip()).exists()  # the temp dir was cleaned up
