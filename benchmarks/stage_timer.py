"""Exclusive per-stage wall time for one process, by wrapping functions (standard library only).

Used by `benchmarks/runtime.py` for our CLI and by `benchmarks/reference_distilled.py` inside the
reference's own virtual environment, so both sides are cut into the same stages the same way. A stage's
time excludes the stages nested inside it (a lazy load inside a denoising stage counts as "load", an
import inside a load counts as "imports"), so the stages plus "other" add up to the process's time.
Imports are timed by wrapping `builtins.__import__` (only the outermost import of a chain is a region).
"""

from __future__ import annotations

import builtins
import functools
import time
from collections.abc import Callable, Generator, Iterator


class StageTimer:
    """A stack of open regions; `totals[name]` is the exclusive seconds spent in `name`."""

    def __init__(self) -> None:
        self.totals: dict[str, float] = {}
        self._stack: list[list] = []  # [name, start, seconds spent in nested regions]

    def enter(self, name: str) -> None:
        self._stack.append([name, time.perf_counter(), 0.0])

    def exit(self) -> None:
        name, start, nested = self._stack.pop()
        elapsed = time.perf_counter() - start
        self.totals[name] = self.totals.get(name, 0.0) + elapsed - nested
        if self._stack:
            self._stack[-1][2] += elapsed

    def current(self) -> str | None:
        return self._stack[-1][0] if self._stack else None

    def wrap(self, fn: Callable, name: str | Callable[..., str]) -> Callable:
        """`fn` timed as `name` (or as `name(*args, **kwargs)` when a callable picks the stage)."""

        @functools.wraps(fn)
        def timed(*args, **kwargs):
            self.enter(name(*args, **kwargs) if callable(name) else name)
            try:
                return fn(*args, **kwargs)
            finally:
                self.exit()

        return timed

    def wrap_gen(self, gen: Iterator, name: str) -> Generator:
        """Time each step of a lazy generator (a decoder yielding chunks, a pipeline block yielding events)
        as `name`; what the generator returns is passed on (`yield from` keeps working)."""
        while True:
            self.enter(name)
            try:
                item = next(gen)
            except StopIteration as stop:
                return stop.value
            finally:
                self.exit()
            yield item

    def patch_gen(self, owner: object, attr: str, name: str | Callable[..., str]) -> None:
        """`owner.attr` is a generator function: time its steps (see `wrap_gen`)."""
        fn = getattr(owner, attr)

        @functools.wraps(fn)
        def timed(*args, **kwargs):
            return self.wrap_gen(fn(*args, **kwargs), name(*args, **kwargs) if callable(name) else name)

        setattr(owner, attr, timed)

    def patch(self, owner: object, attr: str, name: str | Callable[..., str]) -> None:
        setattr(owner, attr, self.wrap(getattr(owner, attr), name))

    def time_imports(self) -> None:
        """Count every outermost `import` as "imports" from now on."""
        original = builtins.__import__

        def timed_import(*args, **kwargs):
            if self.current() == "imports":
                return original(*args, **kwargs)
            self.enter("imports")
            try:
                return original(*args, **kwargs)
            finally:
                self.exit()

        builtins.__import__ = timed_import
