"""The CPU instruction sets libx264 may use: all it detects except AVX-512, so a clip encodes to the same bytes
in every process.

Why: with its AVX-512 kernels, the x264 that PyAV bundles (core 165) makes packets that depend on the
contents of uninitialised heap memory whenever MB-tree rate control propagates motion (measured on the demo
draft's 64x64 frames: one fresh process per glibc `MALLOC_PERTURB_` value 0, 1, 85, 170 gave four different
encodes; widths 192, 224, 320, 480, 704 and 960 were affected too). What that memory holds depends on the
process's history, so the same frames came out of different processes as different MP4s, up to 50 levels
apart over a fifth of the pixels (issue 17: one fresh run in eight under load). Without AVX-512 (x264's AVX2
and older kernels, which valgrind checks and finds no uninitialised read in) the packets are the same for
every fill, and MB-tree, a quality feature, stays on. The speed cost is in benchmarks/x264_asm.py.

How: libx264's own detection (`x264_cpu_detect`, exported by the library) without the AVX-512 bit (read from
its `x264_cpu_names` table rather than hard-coded) goes to x264's `asm` parameter. The library is the one
PyAV loaded (`_libx264_path`).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import logging
from pathlib import Path

log = logging.getLogger(__name__)

#: where PyAV wheels keep their bundled libraries, relative to the `av` package folder
_BUNDLE_DIRS = ("../av.libs", ".dylibs", "../av.dylibs")


class _CpuName(ctypes.Structure):
    """One entry of libx264's `x264_cpu_names` table (`x264_cpu_name_t`: name, flags)."""

    _fields_ = [("name", ctypes.c_char_p), ("flags", ctypes.c_uint32)]


def _loaded_libx264() -> str | None:
    """The libx264 this process has mapped (Linux; PyAV's libavcodec loads it with `av`), whatever the layout
    (a wheel's `av.libs`, a PyInstaller bundle, the system's)."""
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return None
    for line in maps.splitlines():
        path = line.split(maxsplit=5)[-1]
        if "libx264" in Path(path).name:
            return path
    return None


def _libx264_path() -> str | None:
    """The libx264 PyAV uses: the one mapped into this process, else the one beside the `av` package (wheels
    bundle it), else the system's (a PyAV built against system FFmpeg)."""
    import av

    loaded = _loaded_libx264()
    if loaded:
        return loaded
    package = Path(av.__file__).parent
    for folder in _BUNDLE_DIRS:
        found = sorted((package / folder).glob("*x264*"))
        if found:
            return str(found[0])
    return ctypes.util.find_library("x264")


def _cpu_names(lib: ctypes.CDLL) -> dict[str, int]:
    table = ctypes.cast(ctypes.addressof(_CpuName.in_dll(lib, "x264_cpu_names")), ctypes.POINTER(_CpuName))
    names: dict[str, int] = {}
    for i in range(256):  # the table ends with an empty name
        if not table[i].name:
            break
        names[table[i].name.decode()] = table[i].flags
    return names


@functools.cache
def x264_asm_flags() -> int | None:
    """x264's `asm` value for this CPU without AVX-512; None when there is nothing to turn off (no AVX-512
    on this CPU or in this build) or libx264 cannot be asked (then x264 chooses, and says so in the log)."""
    path = _libx264_path()
    try:
        lib = ctypes.CDLL(path) if path else None
        names = _cpu_names(lib) if lib is not None else {}
        avx512 = names.get("AVX512", 0) & ~names.get("AVX2", 0)
        if not avx512:
            return None
        lib.x264_cpu_detect.restype = ctypes.c_uint32
        detected = int(lib.x264_cpu_detect())
    except (OSError, ValueError, AttributeError) as exc:
        log.warning("cannot read libx264's CPU flags (%s): H.264 encodes may differ between processes", exc)
        return None
    if not detected & avx512:
        return None
    return detected & ~avx512


def x264_options() -> dict[str, str]:
    """The libx264 stream options that keep its output independent of the process (see the module doc)."""
    flags = x264_asm_flags()
    return {} if flags is None else {"x264-params": f"asm={flags}"}
