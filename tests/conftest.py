"""Test-wide setup. QT_QPA_PLATFORM must be set before any QApplication exists (pytest-qt makes one)."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(os.environ.get("LTX_FIXTURES", REPO_ROOT.parent / "shared" / "fixtures"))
TINY = FIXTURES / "ltx23_tiny"
LAYOUT_FULL = FIXTURES / "ltx23_layout_full.json.gz"


@pytest.fixture(scope="session")
def tiny_dir() -> Path:
    if not (TINY / "golden.safetensors").is_file():
        pytest.skip(f"golden fixtures not found at {TINY} (set LTX_FIXTURES to the shared/fixtures folder)")
    return TINY


@pytest.fixture(scope="session")
def layout_full() -> Path:
    if not LAYOUT_FULL.is_file():
        pytest.skip(f"full-size layout not found at {LAYOUT_FULL} (set LTX_FIXTURES)")
    return LAYOUT_FULL


@pytest.fixture(scope="session")
def golden_ctx(tiny_dir):
    """One GoldenContext for the whole session: components load once (strictly) and are shared."""
    from model_runtime.goldens import GoldenContext

    return GoldenContext.open(tiny_dir)
