"""LTX-2.5: families from headers, clear errors for wrong/mismatched files, every golden section of the
split-file set within its stated tolerance, the full-size layout both ways, and `generate` from the tiny
split files (auto duration, both decoders) producing a playable MP4."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from model_runtime.errors import CheckpointError

FILES = {
    "transformer": "diffusion_models/ltx-2.5-22b-distilled-transformer-bf16.safetensors",
    "text_encoder": "text_encoders/gemma4-12b-with-proj-ltx-2.5-bf16.safetensors",
    "video_vae": "vae/ltx-2.5-video-vae-bf16.safetensors",
    "video_vae_conv": "vae/ltx-2.5-video-vae-conv-bf16.safetensors",
    "audio_vae": "vae/ltx-2.5-audio-vae-bf16.safetensors",
    "upsampler": "latent_upscale_models/ltx-2.5-latent-spatial-upscaler-x2-bf16-1.0.safetensors",
    "duration_head": "model_patches/ltx-2.5-duration-head-bf16.safetensors",
}


def f25(tiny25_dir: Path, role: str) -> Path:
    return tiny25_dir / FILES[role]


@pytest.mark.parametrize("role", list(FILES))
def test_each_split_file_is_identified_from_its_header(tiny25_dir, role):
    from model_runtime.families import identify

    info = identify(f25(tiny25_dir, role))
    assert info.role == role
    assert info.family in ("2.5", None)  # the upscaler states no version


def test_single_file_is_2_3(tiny_dir):
    from model_runtime.families import identify

    info = identify(tiny_dir / "checkpoint.safetensors")
    assert (info.role, info.family) == ("single", "2.3")


def test_split_model_lists_its_components(tiny25_dir):
    from model_runtime.families import ModelFiles

    files = ModelFiles.split(f25(tiny25_dir, "transformer"), text_encoder=f25(tiny25_dir, "text_encoder"),
                             video_vae=f25(tiny25_dir, "video_vae_conv"), audio_vae=f25(tiny25_dir, "audio_vae"))
    assert files.family == "2.5" and files.is_split
    assert files.present() == ("transformer", "text_encoder", "video_vae_conv", "audio_vae")
    assert files.file_for("video_encoder").role == "video_vae_conv"  # the conv file carries the encoder too
    with pytest.raises(CheckpointError, match="duration head"):
        files.file_for("duration_head")


def test_2_3_vae_with_2_5_transformer_is_refused_naming_the_file(tiny_dir, tiny25_dir):
    from model_runtime.families import ModelFiles

    ckpt = tiny_dir / "checkpoint.safetensors"
    with pytest.raises(CheckpointError) as err:
        ModelFiles.split(f25(tiny25_dir, "transformer"), video_vae=ckpt)
    msg = str(err.value)
    assert str(ckpt) in msg and "2.3" in msg and "\n" not in msg


def test_gemma3_folder_with_2_5_is_refused(tiny_dir, tiny25_dir):
    from model_runtime.families import ModelFiles

    with pytest.raises(CheckpointError, match="Gemma-4"):
        ModelFiles.split(f25(tiny25_dir, "transformer"), text_encoder=tiny_dir / "text_encoder")


def test_2_5_file_given_as_2_3_checkpoint_is_refused(tiny25_dir):
    from model_runtime.families import ModelFiles

    with pytest.raises(CheckpointError, match="--transformer") as err:
        ModelFiles.single(f25(tiny25_dir, "transformer"))
    assert "LTX-2.5 transformer" in str(err.value)


def test_component_given_in_the_wrong_slot_is_named(tiny25_dir):
    from model_runtime.families import ModelFiles

    with pytest.raises(CheckpointError, match=r"audio VAE file .*, but it was given as the LTX-2.5 duration head"):
        ModelFiles.split(f25(tiny25_dir, "transformer"), duration_head=f25(tiny25_dir, "audio_vae"))


@pytest.mark.parametrize("section", ["schedules", "text", "transformer", "video_vae", "upsampler", "audio",
                                     "duration"])
def test_ltx25_golden_section(golden25_ctx, section):
    from model_runtime.goldens.sections import SECTIONS

    results = SECTIONS[section](golden25_ctx)
    assert results, f"section {section} compared nothing"
    for r in results:
        print(f"{r.name}: {r.max_abs_error:.3e} (tol {r.tolerance}) {r.detail}")
    assert [r.name for r in results if not r.passed] == []


def test_every_tolerance_golden_is_compared(golden25_ctx):
    """No 2.5 golden with a tolerance is left out by the sections (e2e included, by name)."""
    from model_runtime.goldens.sections import SECTIONS

    assert "duration" in SECTIONS
    prefixes = ("text.", "transformer.", "vae.", "audio.", "upsampler.", "duration.", "schedule.", "e2e.")
    with_tol = [n for n, t in golden25_ctx.tolerances.items() if t != "input"]
    assert with_tol and all(n.startswith(prefixes) for n in with_tol)


@pytest.mark.slow
def test_ltx25_e2e_goldens(golden25_ctx):
    from model_runtime.goldens import e2e

    results = e2e.run(golden25_ctx)
    names = {r.name for r in results}
    expected = {n for n in golden25_ctx.names("e2e.") if not n.startswith("e2e.noise.")}
    assert expected <= names, f"not compared: {sorted(expected - names)}"
    assert sum(r.name.endswith("(seeded draw)") for r in results) == 7  # 5 pipeline draws + 2 ancestral streams
    assert [r.name for r in results if not r.passed] == []


def test_full_size_layout_matches_both_ways(layout25_full):
    from model_runtime.layout import check_layout_file

    reports = check_layout_file(layout25_full)
    assert len(reports) == 7
    for r in reports:
        assert r.passed, f"{r.title}: {[str(m) for m in r.mismatches[:5]]}"
        assert r.claimed_params == r.file_params


def _cli(*args: str) -> subprocess.CompletedProcess:
    code = "import sys; from model_runtime.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=600)


def _split_args(d: Path) -> list[str]:
    return ["--transformer", str(f25(d, "transformer")), "--text-encoder", str(f25(d, "text_encoder")),
            "--video-vae", str(f25(d, "video_vae")), "--video-vae", str(f25(d, "video_vae_conv")),
            "--audio-vae", str(f25(d, "audio_vae")), "--duration-head", str(f25(d, "duration_head"))]


@pytest.mark.parametrize(("decoder", "tiled"), [("conv", False), ("diffusion", False), ("diffusion", True)])
def test_generate_from_split_files_with_auto_duration(tiny25_dir, tmp_path, decoder, tiled):
    """A small draft with `--frames auto`: 0.3..0.4 s at 24 fps admits exactly 9 frames (8k+1)."""
    from model_runtime.media.probe import probe

    out = tmp_path / f"draft_{decoder}.mp4"
    extra = []
    if tiled:  # the same run also takes a LoRA made for the 2.5 transformer
        from tests.runtime.test_lora_ltx25 import make_lora

        lora = make_lora(f25(tiny25_dir, "transformer"), tmp_path / "style25.safetensors", "2.5.0")
        extra = ["--tiled-decode", "--lora", f"{lora}:0.8"]
    proc = _cli("-v", "generate", *_split_args(tiny25_dir), "--prompt", "a red fox in the snow", "--width", "64",
                "--height", "64", "--frames", "auto", "--auto-duration", "0.3", "0.4", "--decoder", decoder,
                "--out", str(out), *extra)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert ("diffusion decode in" in proc.stderr) == (decoder == "diffusion" and tiled)
    assert "auto duration:" in proc.stderr and "-> 9 frames" in proc.stderr
    info = probe(out)
    assert (info.width, info.height) == (64, 64) and info.frames == 9 and info.has_audio
    import json

    from model_runtime.media.mux import sidecar_path

    sidecar = json.loads(sidecar_path(out).read_text())
    assert sidecar["runtime"]["decoder"] == decoder and sidecar["runtime"]["model_version"] == "2.5.0"
    assert sidecar["request"]["decoder"] == decoder and sidecar["auto_duration"]["frames"] == 9
    if tiled:
        (applied,) = sidecar["loras"] if "loras" in sidecar else sidecar["runtime"]["loras"]
        assert applied["name"] == "style25.safetensors" and applied["strength"] == 0.8 and applied["modules"] > 0


def test_generate_refuses_mixed_families_in_one_sentence(tiny_dir, tiny25_dir, tmp_path):
    proc = _cli("generate", "--transformer", str(tiny_dir / "checkpoint.safetensors"), "--text-encoder",
                str(f25(tiny25_dir, "text_encoder")), "--prompt", "x", "--width", "64", "--height", "64",
                "--frames", "9", "--out", str(tmp_path / "x.mp4"))
    assert proc.returncode == 2
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and "checkpoint.safetensors" in lines[0] and "--checkpoint" in lines[0]
    assert not (tmp_path / "x.mp4").exists()


def test_frames_auto_on_2_3_says_what_is_missing(tiny_dir, tmp_path):
    proc = _cli("generate", "--checkpoint", str(tiny_dir / "checkpoint.safetensors"), "--text-encoder",
                str(tiny_dir / "text_encoder"), "--prompt", "x", "--width", "64", "--height", "64",
                "--frames", "auto", "--out", str(tmp_path / "x.mp4"))
    assert proc.returncode == 2 and "--duration-head" in proc.stderr


def test_planner_knows_ltx25(layout25_full, layout_full):
    """Real 2.5 sizes (Gemma-4 counted from its tensors, diffusion decoder), the sharp decoder tiled when
    untiled does not fit, and 'auto' falling back to the fast decoder when not even its tiles fit."""
    from model_runtime.memory import estimates as est
    from model_runtime.memory.estimates import gb
    from model_runtime.memory.layout import ModelLayout
    from model_runtime.memory.plan import Machine, RequestShape
    from model_runtime.memory.planner import choose_plan

    l25, l23 = ModelLayout.from_layout_json(layout25_full), ModelLayout.from_layout_json(layout_full)
    assert (l25.family, l23.family) == ("2.5", "2.3")
    assert 11.5e9 < l25.components["text_encoder"].params < 12.5e9  # Gemma-4 LM, from the file's tensors
    assert l25.components["video_diffusion_decoder"].params == 104_754_608  # every vae.decoder.* tensor
    big = RequestShape(1920, 1088, 241, 24.0)
    untiled = est.diffusion_decode_bytes(l25.diffusion_decoder, big.latent(), 2)
    for vram in (12, 24):  # 1080p 10 s: the sharp decoder untiled needs more than 24 GB; tiled it fits both
        plan = choose_plan(l25, big, Machine(vram, 64))
        vae = next(s for s in plan.stages if s.name == "VAE decode")
        assert plan.fits and vae.detail.startswith("diffusion decoder (sharp)") and "tiles" in vae.detail
        assert plan.vae_tile is not None and vae.vram_bytes < untiled and gb(untiled) > 24
    # 4K 20 s: the whole-volume stages 1-3 (their output goes to RAM in slabs) fit 24 GB but not 12 GB
    huge = RequestShape(3840, 2176, 481, 24.0)
    on24, on12 = choose_plan(l25, huge, Machine(24, 64)), choose_plan(l25, huge, Machine(12, 64))
    vae24, vae12 = (next(s for s in p.stages if s.name == "VAE decode") for p in (on24, on12))
    assert on24.fits and vae24.detail.startswith("diffusion decoder (sharp)") and gb(vae24.vram_bytes) <= 24
    assert vae12.detail.startswith("conv decoder") and "sharp decoder needs" in vae12.detail
    small = choose_plan(l25, RequestShape(768, 512, 121, 24.0), Machine(24, 64))
    assert small.fits and "diffusion decoder" in next(s for s in small.stages if s.name == "VAE decode").detail
