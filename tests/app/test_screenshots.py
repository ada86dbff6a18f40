"""Screenshots as tests (issue 16): the real window under Xvfb at 1366×768 and 1920×1080, dark and light.

Every visible widget must lie inside the window, no button or plain label may be narrower than its text,
and the key controls must be visible. The screenshots stay in test-artifacts/screenshots/ (git-ignored;
CI keeps the folder as an artifact).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.app.test_real_window import start_xvfb
from tests.conftest import REPO_ROOT

ARTIFACTS = REPO_ROOT / "test-artifacts" / "screenshots"


@pytest.mark.xvfb
@pytest.mark.parametrize("size", [(1366, 768), (1920, 1080)], ids=["1366x768", "1920x1080"])
@pytest.mark.parametrize("theme", ["dark", "light"])
def test_window_fits_the_screen_and_nothing_is_clipped(size, theme, tmp_path):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / f"studio-{size[0]}x{size[1]}-{theme}.png"
    proc, display = start_xvfb(*size)
    try:
        env = {k: v for k, v in os.environ.items() if k != "QT_QPA_PLATFORM"}
        env.update(DISPLAY=display, QT_QPA_PLATFORM="xcb", PYTHONPATH=str(REPO_ROOT))
        out = subprocess.run([sys.executable, "-m", "tests.app.screenshot_driver", str(tmp_path / "p"), str(shot),
                              theme], env=env, capture_output=True, text=True, timeout=120, cwd=REPO_ROOT)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["min_size"][0] <= size[0] and report["min_size"][1] <= size[1], report
    assert report["window"][0] <= size[0] and report["window"][1] <= size[1], report
    assert report["problems"] == [], report["problems"]
    assert report["hidden_keys"] == [], report["hidden_keys"]
    assert report["volume_width"] >= 80  # not squeezed to a handle
    assert report["welcome_shown"]  # a first start shows the welcome card
    assert shot.is_file() and shot.with_name(shot.stem + "-welcome.png").is_file()
