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
TINY25 = FIXTURES / "ltx25_tiny"
LAYOUT25_FULL = FIXTURES / "ltx25_layout_full.json.gz"


def _missing(what: str) -> None:
    """Outside CI a checkout without shared/ skips (with the reason); in CI the goldens are the point."""
    if os.environ.get("CI"):
        pytest.fail(f"{what} missing in CI: shared/fixtures must sit beside the clone (or set LTX_FIXTURES)")
    pytest.skip(f"{what} (set LTX_FIXTURES to the shared/fixtures folder)")


@pytest.fixture(scope="session")
def tiny_dir() -> Path:
    if not (TINY / "golden.safetensors").is_file():
        _missing(f"golden fixtures not found at {TINY}")
    return TINY


@pytest.fixture(scope="session")
def tiny_paths(tiny_dir: Path):
    """The tiny fixture's three model files as the runtime takes them."""
    from model_runtime.runtime import ModelPaths

    return ModelPaths(tiny_dir / "checkpoint.safetensors", tiny_dir / "spatial_upscaler_x2.safetensors",
                      tiny_dir / "text_encoder")


@pytest.fixture(scope="session")
def layout_full() -> Path:
    if not LAYOUT_FULL.is_file():
        _missing(f"full-size layout not found at {LAYOUT_FULL}")
    return LAYOUT_FULL


@pytest.fixture(scope="session")
def golden_ctx(tiny_dir):
    """One GoldenContext for the whole session: components load once (strictly) and are shared."""
    from model_runtime.goldens import GoldenContext

    return GoldenContext.open(tiny_dir)


@pytest.fixture(scope="session")
def tiny25_dir() -> Path:
    if not (TINY25 / "golden.safetensors").is_file():
        _missing(f"LTX-2.5 golden fixtures not found at {TINY25}")
    return TINY25


@pytest.fixture(scope="session")
def golden25_ctx(tiny25_dir):
    """The LTX-2.5 golden set (split files), opened once per session."""
    from model_runtime.goldens import GoldenContext

    return GoldenContext.open(tiny25_dir)


@pytest.fixture(scope="session")
def layout25_full() -> Path:
    if not LAYOUT25_FULL.is_file():
        _missing(f"LTX-2.5 full-size layout not found at {LAYOUT25_FULL}")
    return LAYOUT25_FULL
