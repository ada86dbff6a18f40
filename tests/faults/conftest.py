"""The fault suite's three checks, shared by every case.

Every case asserts: (1) one line that names the problem and the fix (a regex per case matches both),
(2) no traceback on stderr, (3) nothing the user had is changed (a snapshot of every file under the
case's folders: content hash, size and mode, before and after).
"""

from __future__ import annotations

import hashlib
import json
import re
import signal
import struct
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest

from tests.conftest import TINY

CHECKPOINT = TINY / "checkpoint.safetensors"
GEMMA = TINY / "text_encoder"


def snapshot(*roots: Path) -> dict[str, tuple[str, int]]:
    """path -> (sha256, mode) of every file under `roots` (folders included by name, mode)."""
    out: dict[str, tuple[str, int]] = {}
    for root in roots:
        items = [root] if root.is_file() else sorted(root.rglob("*")) if root.exists() else []
        for p in items:
            if p.is_symlink():
                out[str(p)] = ("link:" + str(p.readlink()), 0)
            elif p.is_file():
                with open(p, "rb") as fh:  # builtin open: cases patch Path methods to inject OS errors
                    out[str(p)] = (hashlib.sha256(fh.read()).hexdigest(), p.stat().st_mode)
            elif p.is_dir():
                out[str(p)] = ("dir", p.stat().st_mode)
    return out


def check_line(text: str, match: str) -> str:
    """The message is one line, matches `match` (problem ... fix), and carries no traceback."""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    assert len(lines) == 1, f"expected one line, got: {text!r}"
    assert "Traceback" not in text
    assert re.search(match, lines[0]), f"{match!r} not in {lines[0]!r}"
    return lines[0]


@pytest.fixture
def fault(capsys, tmp_path):
    """`fault(fn, match, exc=RuntimeErrorBase, keep=(paths...))`: fn raises exc with a one-line message
    matching `match`, prints no traceback, and leaves every file under tmp_path and `keep` unchanged."""
    from model_runtime.errors import RuntimeErrorBase

    def run(fn: Callable[[], object], match: str, exc: type[BaseException] = RuntimeErrorBase,
            keep: Iterable[Path] = ()) -> str:
        roots = [tmp_path, *keep]
        before = snapshot(*roots)
        with pytest.raises(exc) as info:
            fn()
        err = capsys.readouterr().err
        assert "Traceback" not in err, err
        assert snapshot(*roots) == before, "a user file was changed"
        return check_line(str(info.value), match)

    return run


@pytest.fixture
def cli_fault(capsys, tmp_path):
    """`cli_fault(argv, match, rc=2, keep=())`: the CLI, in process, exits `rc` with one `error:` line."""
    from model_runtime.cli import main

    def run(argv: list[str], match: str, rc: int = 2, keep: Iterable[Path] = ()) -> str:
        roots = [tmp_path, *keep]
        before = snapshot(*roots)
        old = signal.getsignal(signal.SIGTERM)
        try:
            code = main([str(a) for a in argv])
        finally:
            signal.signal(signal.SIGTERM, old)
        out = capsys.readouterr()
        assert code == rc, out.err
        assert snapshot(*roots) == before, "a user file was changed"
        line = check_line(out.err, match)
        assert line.startswith("error: ")
        return line

    return run


def write_safetensors(path: Path, header: dict | bytes, data: bytes = b"") -> Path:
    """A safetensors file with exactly this header (dict -> JSON, or raw bytes) and data."""
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + data)
    return path


def tiny_component(path: Path, prefix: str, mutate: Callable[[dict], None] | None = None,
                   config_edit: Callable[[dict], None] | None = None) -> tuple[Path, dict]:
    """Copy the tiny checkpoint's tensors under `prefix` (with its config) into a small file, after
    `mutate(tensors)` and `config_edit(config)`; returns (path, config)."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(str(CHECKPOINT), framework="pt") as fh:
        meta = dict(fh.metadata())
        tensors = {k: fh.get_tensor(k) for k in fh.keys() if k.startswith(prefix)}
    config = json.loads(meta["config"])
    if mutate:
        mutate(tensors)
    if config_edit:
        config_edit(config)
    meta["config"] = json.dumps(config)
    save_file(tensors, str(path), metadata=meta)
    return path, config


@pytest.fixture
def gemma_copy(tmp_path) -> Path:
    """A writable copy of the tiny Gemma folder."""
    import shutil

    if not (GEMMA / "config.json").is_file():
        pytest.skip(f"tiny Gemma fixture not found at {GEMMA}")
    dst = tmp_path / "gemma"
    shutil.copytree(GEMMA, dst)
    for p in [dst, *dst.iterdir()]:
        p.chmod(0o755 if p.is_dir() else 0o644)
    return dst


def generate_args(tmp_path: Path, **over: object) -> list[str]:
    """`generate` arguments for the tiny fixture with `over` replacing flags (None drops a flag)."""
    args: dict[str, object] = {"--checkpoint": CHECKPOINT, "--text-encoder": GEMMA, "--prompt": "a fox",
                               "--width": 64, "--height": 64, "--frames": 9, "--fps": 24, "--seed": 1,
                               "--out": tmp_path / "out.mp4"}
    for k, v in over.items():
        args["--" + k.replace("_", "-")] = v
    argv: list[str] = ["generate"]
    for k, v in args.items():
        if v is not None:
            argv += [k, str(v)]
    return argv
