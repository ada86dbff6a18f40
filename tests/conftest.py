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


@pytest.fixture(scope="session")
def ray_head():
    """One real local Ray cluster for the session (two CPU workers), only if a test asks for it: starting
    Ray and warming two worker processes costs ~25 s on 2 cores, paid once for the app and runtime tests.
    tests/runtime/test_cluster.py ends with the tests that kill a worker and stop the cluster, so tests
    that need it healthy sit before it (tests/app runs first)."""
    pytest.importorskip("ray", reason="Ray is an optional extra: pip install '.[cluster]' to run the cluster tests")
    from tests.support.ray_head import LocalHead

    # a lost head is noticed after Ray Client's reconnect grace period (30 s by default): 3 s here
    os.environ["RAY_CLIENT_RECONNECT_GRACE_PERIOD"] = "3"
    head = LocalHead.start(workers=2)
    try:
        yield head
    finally:
        head.stop()


@pytest.fixture(scope="session")
def ray_worker_cache(ray_head, tmp_path_factory) -> Path:
    """The workers' cache folder with the demo model already built (the workers find it there); built
    while the head starts."""
    from model_runtime.demo import ensure_demo_model

    root = tmp_path_factory.mktemp("worker-cache")
    ensure_demo_model(root / "demo-model")
    ray_head.wait_listening()
    return root
