"""memory.heap: the decode's scoped glibc settings are set, restored and trimmed; nothing happens off glibc."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from model_runtime.memory import heap


class Recorder:
    def __init__(self, accept: bool = True) -> None:
        self.calls: list[tuple] = []
        self.accept = accept

    def malloc(self) -> heap.Malloc:
        def mallopt(param: int, value: int) -> int:
            self.calls.append(("mallopt", param, value))
            return 1 if self.accept else 0

        def malloc_trim(pad: int) -> int:
            self.calls.append(("trim", pad))
            return 1

        return heap.Malloc(mallopt, malloc_trim)


SCOPED = [("mallopt", heap.M_MMAP_THRESHOLD, heap.SCOPED_MMAP_THRESHOLD),
          ("mallopt", heap.M_TRIM_THRESHOLD, heap.SCOPED_TRIM_THRESHOLD)]
AFTER = [("mallopt", heap.M_MMAP_THRESHOLD, heap.AFTER_MMAP_THRESHOLD),
         ("mallopt", heap.M_TRIM_THRESHOLD, heap.AFTER_TRIM_THRESHOLD), ("trim", 0)]


def test_scope_sets_then_restores_and_trims_once_when_nested():
    rec = Recorder()
    malloc = rec.malloc()
    with heap.reused_heap(malloc) as outer:
        assert rec.calls == SCOPED
        with heap.reused_heap(malloc) as inner:
            assert rec.calls == SCOPED
        assert rec.calls == SCOPED  # the inner scope leaves the outer one's settings alone
    assert (outer, inner) == (True, True)
    assert rec.calls == SCOPED + AFTER


def test_scope_restores_after_an_error_and_reports_a_refusal():
    rec = Recorder(accept=False)
    with pytest.raises(ValueError), heap.reused_heap(rec.malloc()) as applied:
        assert applied is False
        raise ValueError
    assert rec.calls[-3:] == AFTER


def test_not_glibc_changes_nothing(monkeypatch):
    monkeypatch.setattr(heap.sys, "platform", "darwin")
    assert heap.glibc_malloc() is None
    with heap.reused_heap() as applied:
        assert applied is False


#: in a fresh interpreter's main thread (glibc's main arena, as the CLI decodes; pytest's own threads and
#: the arenas they leave behind are not part of it): faults of a freed-then-reallocated 40 MiB block
_PROBE = """
import ctypes, resource
from model_runtime.memory import heap
libc = ctypes.CDLL(None)
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, (ctypes.c_size_t,)
libc.free.argtypes = (ctypes.c_void_p,)
def faults():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    p = libc.malloc(40 << 20)
    ctypes.memset(p, 1, 40 << 20)
    libc.free(p)
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
plain = [faults(), faults()]
with heap.reused_heap() as applied:
    inside = [faults(), faults()]
print(applied, plain[1], inside[1], faults())
"""


@pytest.mark.skipif(heap.glibc_malloc() is None, reason="glibc only (the settings are glibc's)")
def test_freed_blocks_are_reused_inside_the_scope():
    """glibc alone maps a freed 40 MiB block afresh each time (~10 k page faults); inside the scope the second
    one lands in the first one's pages; after it, the heap was trimmed and the old behaviour is back."""
    out = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[2])
    applied, plain, inside, after = out.stdout.split()
    assert applied == "True"
    assert int(inside) < 1000 < min(int(plain), int(after))
