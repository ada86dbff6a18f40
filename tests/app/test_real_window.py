"""One real-window test: the app under Xvfb (xcb platform), a screenshot of the whole screen, not blank."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT


def _free_display() -> int:
    for n in range(90, 200):
        if not Path(f"/tmp/.X11-unix/X{n}").exists() and not Path(f"/tmp/.X{n}-lock").exists():
            return n
    raise RuntimeError("no free X display number")


def start_xvfb(width: int, height: int) -> tuple[subprocess.Popen, str]:
    """An Xvfb server with one screen of width×height; (process, DISPLAY). Skips when Xvfb is missing."""
    if not shutil.which("Xvfb"):
        pytest.skip("Xvfb is not installed (./dev setup installs it: apt package xvfb)")
    n = _free_display()
    proc = subprocess.Popen(["Xvfb", f":{n}", "-screen", "0", f"{width}x{height}x24", "-nolisten", "tcp"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 15
    while not Path(f"/tmp/.X11-unix/X{n}").exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail("Xvfb did not start")
        time.sleep(0.05)
    return proc, f":{n}"


@pytest.fixture
def xvfb_display():
    proc, display = start_xvfb(1600, 1000)
    yield display
    proc.terminate()
    proc.wait(timeout=10)


@pytest.mark.xvfb
def test_real_window_screenshot_is_not_blank(xvfb_display, tmp_path):
    shot = tmp_path / "window.png"
    env = {k: v for k, v in os.environ.items() if k != "QT_QPA_PLATFORM"}
    env.update(DISPLAY=xvfb_display, QT_QPA_PLATFORM="xcb")
    out = subprocess.run([sys.executable, "-m", "ltx_studio", "--profile", str(tmp_path / "p"),
                          "--screenshot", str(shot)], env=env, capture_output=True, text=True,
                         timeout=120, cwd=REPO_ROOT)
    assert out.returncode == 0, out.stderr
    from PySide6.QtGui import QImage

    img = QImage(str(shot))
    assert img.width() >= 800 and img.height() >= 500
    colours = set()
    for y in range(0, img.height(), 7):
        for x in range(0, img.width(), 7):
            colours.add(img.pixel(x, y))
    # A blank or black capture has one or two colours; the laid-out window has panels, text and frames.
    assert len(colours) >= 8, f"screenshot looks blank ({len(colours)} colours)"
    dark = sum(1 for y in range(0, img.height(), 7) for x in range(0, img.width(), 7) if img.pixelColor(x, y).value() < 40)
    assert dark < 0.9 * len(range(0, img.height(), 7)) * len(range(0, img.width(), 7))
