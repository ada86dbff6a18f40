"""`ltx-studio --self-test` exactly as a user runs it: real app, real queue, real runtime on the built-in
demo model (made on the spot, official layout), a draft, a render of that draft, the player, a screenshot,
all in a real X11 window under Xvfb."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.app.test_real_window import xvfb_display  # noqa: F401 - pytest fixture
from tests.conftest import REPO_ROOT


@pytest.mark.xvfb
@pytest.mark.slow
def test_self_test_with_the_demo_model(xvfb_display, tmp_path):  # noqa: F811 - the fixture
    shot = tmp_path / "self-test.png"
    env = {k: v for k, v in os.environ.items() if k != "QT_QPA_PLATFORM"}
    env.update(DISPLAY=xvfb_display, QT_QPA_PLATFORM="xcb", LTX_STUDIO_HOME=str(tmp_path / "home"))
    out = subprocess.run([sys.executable, "-m", "ltx_studio", "--self-test", "--screenshot", str(shot)],
                         env=env, capture_output=True, text=True, timeout=420, cwd=REPO_ROOT)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "self-test: ok: screenshot" in out.stdout
    assert "self-test: FAILED" not in out.stdout
    assert "self-test: ok: keyframes on the track: [0, " in out.stdout  # first and last frame, in the shot
    from PySide6.QtGui import QImage

    img = QImage(str(shot))
    assert img.width() >= 800 and img.height() >= 500
    colours = {img.pixel(x, y) for y in range(0, img.height(), 9) for x in range(0, img.width(), 9)}
    assert len(colours) >= 16, f"screenshot looks blank ({len(colours)} colours)"
