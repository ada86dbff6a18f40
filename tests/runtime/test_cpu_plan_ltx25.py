"""The CPU memory plan of an LTX-2.5 job names the video decoder it budgets for, as the GPU plan does: the
runtime's "auto" decoder follows the plan, so a CPU plan that only knew the conv decoder made every CPU
render decode Fast. Planning stays torch-free (the app plans on its GUI thread)."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO_ROOT


def _vae(plan):
    return next(s for s in plan.stages if s.name == "VAE decode")


def test_cpu_plans_the_sharp_decoder_for_renders_and_falls_back_when_it_cannot_fit(layout25_full):
    from model_runtime.memory.layout import ModelLayout
    from model_runtime.memory.plan import Machine, RequestShape
    from model_runtime.memory.planner import choose_plan

    layout = ModelLayout.from_layout_json(layout25_full)
    cpu = Machine(0, 64, device="cpu")
    render = choose_plan(layout, RequestShape(768, 512, 121, 24.0, stage="render"), cpu)
    assert render.fits and render.video_decoder == "diffusion"
    assert _vae(render).detail == "diffusion decoder (sharp), untiled"
    draft = choose_plan(layout, RequestShape(768, 512, 121, 24.0, stage="draft"), cpu)
    assert draft.video_decoder == "conv" and _vae(draft).detail.startswith("conv decoder (fast)")
    fast = choose_plan(layout, RequestShape(768, 512, 121, 24.0, stage="render", decoder="conv"), cpu)
    assert fast.video_decoder == "conv" and _vae(fast).seconds != _vae(render).seconds
    # 1080p 10 s: the untiled sharp decode needs more than the machine has; "auto" decodes Fast (tiled) ...
    big = choose_plan(layout, RequestShape(1920, 1088, 241, 24.0, stage="render"), cpu)
    assert big.fits and big.video_decoder == "conv" and "tiles" in _vae(big).detail
    # ... and an explicit Sharp choice is budgeted as asked, and flagged
    sharp = choose_plan(layout, RequestShape(1920, 1088, 241, 24.0, stage="render", decoder="diffusion"), cpu)
    assert sharp.video_decoder == "diffusion" and not sharp.fits


def test_planning_ltx25_from_headers_imports_no_torch(tiny25_dir):
    code = (
        "import sys\nfrom pathlib import Path\nimport model_runtime.api as api\n"
        f"F = Path({str(tiny25_dir)!r})\n"
        "p = api.ModelPaths(transformer=next((F / 'diffusion_models').glob('*')),"
        " text_encoder=next((F / 'text_encoders').glob('*')), video_vae=F / 'vae/ltx-2.5-video-vae-bf16.safetensors',"
        " video_vae_conv=F / 'vae/ltx-2.5-video-vae-conv-bf16.safetensors',"
        " audio_vae=F / 'vae/ltx-2.5-audio-vae-bf16.safetensors')\n"
        "m = api.plan_machine('cpu')\n"
        "secs = api.decoder_seconds(p, 256, 128, 49, 24.0, 'render', m)\n"
        "line = api.plan_line(p, 256, 128, 49, 24.0, 'render', m)\n"
        "print(sorted(secs), all(s > 0 for s in secs.values()), bool(line), 'torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=REPO_ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[-2] == "['conv', 'diffusion'] True True False"
