"""Reuse freed activations inside the video decode: glibc malloc settings for the length of one decode.

Why: torch's CPU tensors come from `malloc`. glibc serves a block of at least `M_MMAP_THRESHOLD` bytes
(raised on the fly to the largest such block freed, at most 32 MiB) with a fresh `mmap` and gives it back
on free, and it returns the top of its heap to the OS whenever more than `M_TRIM_THRESHOLD` is free there.
The VAE decode allocates and frees activations of tens of MiB op after op, so nearly every op writes into
brand-new pages: a page fault per 4 KiB, each page zeroed by the kernel. Measured on the 384x256, 33-frame
bench render (issue #18): our video decode took ~143 k minor faults inside the render, Lightricks' reference
~60 (it frees its transformer just before the decode, and the decode reuses those heap pages); the same
decoder on its own costs the same time on both sides, faults included. The faults cost ~0.3 s of system
time per decode on this VM (`benchmarks/video_decode.py` prints the A/B).

What: inside `reused_heap()` blocks below `SCOPED_MMAP_THRESHOLD` come from the heap and the heap keeps
what is freed, so the decode's later activations land in pages its earlier ones already touched. On the
way out the heap's free pages go back to the OS (`malloc_trim`), so the decode leaves no more resident
memory than before, and the thresholds are set to `AFTER_*`: glibc cannot switch its on-the-fly rule back
on, and these are the values that rule reaches by itself in a process that has freed a >= 32 MiB block.
Scoped rather than process-wide: weights and the text encoder are allocated and released outside it, so a
released component still returns its memory. Only on Linux with glibc; elsewhere it does nothing. The C
library is looked up when the scope is entered, never at import.

It helps allocations made on the process's main thread only (glibc's main arena, where the CLI decodes). A
thread of its own (the app's job thread) allocates from a per-thread arena: glibc carves that arena from
64 MiB heaps and unmaps a heap as soon as it is empty, whatever the thresholds say (measured: a 40 MiB
tensor costs its ~10 k faults each time on such a thread, inside the scope or not). So the runtime enters
the scope on the main thread only; the app's decode gains from the in-place block forward alone.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

log = logging.getLogger(__name__)

# mallopt parameter numbers from glibc's <malloc.h>
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3

#: inside the scope: blocks below this come from the heap (larger ones are still mapped on their own)
SCOPED_MMAP_THRESHOLD = 1 << 30
#: inside the scope: free memory the heap keeps at its top (mallopt takes an int: the largest it accepts)
SCOPED_TRIM_THRESHOLD = (1 << 31) - 1
#: after the scope: glibc's own ceiling for its on-the-fly threshold on 64-bit, and twice it for the trim
AFTER_MMAP_THRESHOLD = 32 << 20
AFTER_TRIM_THRESHOLD = 64 << 20


@dataclass(frozen=True)
class Malloc:
    """The two glibc calls the scope needs (tests pass recorders)."""

    mallopt: Callable[[int, int], int]
    malloc_trim: Callable[[int], int]


def glibc_malloc() -> Malloc | None:
    """This process's glibc `mallopt`/`malloc_trim`, or None when the C library is not glibc (only glibc has
    `gnu_get_libc_version`, and the parameter numbers above are glibc's)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version  # noqa: B018 - the probe: musl and others lack it
        mallopt, trim = libc.mallopt, libc.malloc_trim
    except (OSError, AttributeError):
        return None
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    trim.argtypes, trim.restype = (ctypes.c_size_t,), ctypes.c_int
    return Malloc(mallopt, trim)


_lock = threading.Lock()
_depth = 0  # open scopes in this process: only the outermost one sets and restores
_in_force = False  # whether the outermost scope's settings were accepted


@contextlib.contextmanager
def reused_heap(malloc: Malloc | None = None) -> Iterator[bool]:
    """Keep freed blocks in the heap until the scope ends (see the module docstring); yields whether the
    settings are in force. `malloc`: default glibc's, None elsewhere (then nothing changes)."""
    global _depth, _in_force
    malloc = malloc if malloc is not None else glibc_malloc()
    with _lock:
        if _depth == 0:
            _in_force = malloc is not None and all(
                malloc.mallopt(param, value) == 1
                for param, value in ((M_MMAP_THRESHOLD, SCOPED_MMAP_THRESHOLD), (M_TRIM_THRESHOLD, SCOPED_TRIM_THRESHOLD)))
        _depth += 1
        applied = _in_force
    try:
        yield applied
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and malloc is not None:
                malloc.mallopt(M_MMAP_THRESHOLD, AFTER_MMAP_THRESHOLD)
                malloc.mallopt(M_TRIM_THRESHOLD, AFTER_TRIM_THRESHOLD)
                malloc.malloc_trim(0)
