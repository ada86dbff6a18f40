"""The same frames encode to the same H.264 packets in every process, whatever its heap holds
(`media.x264_cpu`: x264's AVX-512 kernels read uninitialised memory; issue 17)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

#: a draft-sized clip with smooth motion (MB-tree propagates it: the path that read uninitialised memory)
_ENCODE = """
import hashlib
import numpy as np
from model_runtime.media.mux import video_settings
from model_runtime.media.video_encode import encode_video

y, x = np.mgrid[0:64, 0:64]
frames = np.stack([np.stack([128 + 100 * np.sin((x + 3 * t) / (5 + c)) * np.cos((y - 2 * t) / 7) for c in range(3)], -1)
                   for t in range(9)])
frames = np.clip(frames + np.random.default_rng(0).normal(0, 20, frames.shape), 0, 255).astype(np.uint8)
video = encode_video(frames, video_settings(24.0, 18, "veryfast"))
print(hashlib.sha256(b"".join(bytes(p) for p in video.packets)).hexdigest())
video.close()
"""


def _encode(perturb: int) -> str:
    """The packets' hash from a fresh process whose every malloc and free fills memory with a byte of
    `perturb` (glibc's MALLOC_PERTURB_; 0 leaves memory as the allocator finds it)."""
    env = dict(os.environ, PYTHONPATH=str(REPO), MALLOC_PERTURB_=str(perturb))
    proc = subprocess.run([sys.executable, "-c", _ENCODE], env=env, capture_output=True, text=True, timeout=120,
                          cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout.strip()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="MALLOC_PERTURB_ is glibc's (Linux)")
def test_encode_does_not_depend_on_what_the_heap_holds():
    # before the fix, on this AVX-512 machine, each fill gave its own packets (4 fills: 4 different encodes)
    assert len({_encode(perturb) for perturb in (0, 1, 170)}) == 1


def _cpu_has_avx512() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return all(f" {flag}" in flags for flag in ("avx512f", "avx512bw", "avx512vl"))


@pytest.mark.skipif(not _cpu_has_avx512(), reason="this CPU has no AVX-512 for libx264 to leave out")
def test_x264_is_told_to_leave_out_avx512_only():
    from model_runtime.media.x264_cpu import x264_asm_flags, x264_options

    flags = x264_asm_flags()
    assert flags is not None, "libx264 bundled with PyAV was not found or not asked"
    assert x264_options() == {"x264-params": f"asm={flags}"}
    # x264's own name table: every AVX2-level set stays on, the AVX-512 bit is off
    import ctypes

    from model_runtime.media.x264_cpu import _cpu_names, _libx264_path

    names = _cpu_names(ctypes.CDLL(_libx264_path()))
    assert flags & names["AVX2"] == names["AVX2"] and not flags & (names["AVX512"] & ~names["AVX2"])
