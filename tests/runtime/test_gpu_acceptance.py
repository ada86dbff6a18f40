"""`benchmarks/gpu_acceptance.py --dry-run`: the GPU acceptance script's CPU fallback runs end to end and
writes its report, so the script cannot rot between the days a GPU is available."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_gpu_acceptance_dry_run_writes_its_report(tiny_dir, tmp_path):
    report = tmp_path / "report.json"
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_acceptance.py"), "--dry-run", "--json",
                           str(report)], capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    data = json.loads(report.read_text())
    assert data["dry_run"] and data["goldens_fp32_pass"] and data["goldens_fp32"]
    assert len(data["goldens_bf16"]) == len(data["goldens_fp32"])
    placements = {row["strategy"] for row in data["strategies"]}
    assert len(placements) == 2 and any("mapped" in p for p in placements)
    for row in [*data["strategies"], data["draft_64x64x9"], data["render_64x64x9"]]:
        assert "error" not in row and row["finite"] and row["seconds"] > 0 and row["measured_peak_gb"] > 0
    assert not list(tmp_path.glob("*.part"))
