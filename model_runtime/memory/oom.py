"""Out-of-memory recovery: free what the failed attempt held, retry once with the next plan down.

Why only once: a second OOM with a plan predicted to need clearly less memory means the prediction or the
machine is off by more than a retry can fix; failing cleanly with the numbers is more useful than a
ladder of ever slower attempts.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Callable, Generator, Sequence
from typing import TypeVar

import torch

from model_runtime.errors import RuntimeErrorBase
from model_runtime.memory.estimates import gb
from model_runtime.memory.plan import MemoryPlan

log = logging.getLogger(__name__)
T = TypeVar("T")
E = TypeVar("E")


class OutOfMemoryJobError(RuntimeErrorBase):
    """The job ran out of memory with its plan and with the fallback; the message has the figures."""

    def __init__(self, message: str, attempts: tuple[tuple[MemoryPlan, str], ...]) -> None:
        super().__init__(message)
        self.attempts = attempts


def is_oom(exc: BaseException) -> bool:
    """CUDA raises torch.OutOfMemoryError; MPS and some CUDA paths raise RuntimeError('... out of memory')."""
    if isinstance(exc, torch.OutOfMemoryError):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def free_memory() -> None:
    """Drop unreachable tensors and return cached device blocks to the driver."""
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    mps = getattr(torch, "mps", None)
    if mps is not None and torch.backends.mps.is_available():
        mps.empty_cache()


def _device_peak() -> str:
    if torch.cuda.is_available():
        return f", device peak {gb(torch.cuda.max_memory_allocated()):.2f} GB allocated"
    return ""


def iter_with_oom_retry(job_fn: Callable[[MemoryPlan], Generator[E, None, T]], plans: Sequence[MemoryPlan],
                        notice: Callable[[str], E]) -> Generator[E, None, T]:
    """The generator form, for jobs that stream events (progress, previews): the job's events pass
    through; on OOM memory is freed, `notice(message)` is yielded and the job restarts with `plans[1]`.
    Runs `plans[0]`, then once `plans[1]`; a second OOM (or none to fall back to) raises
    OutOfMemoryJobError with predicted and seen figures. Returns the job's return value."""
    if not plans:
        raise ValueError("iter_with_oom_retry needs at least one plan")
    attempts: list[tuple[MemoryPlan, str]] = []
    for i, plan in enumerate(plans[:2]):
        try:
            return (yield from job_fn(plan))
        except Exception as exc:  # noqa: BLE001 - anything but OOM is re-raised untouched
            if not is_oom(exc):
                raise
            detail = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}{_device_peak()}"
        attempts.append((plan, detail))  # the exception and its frames are gone here: memory can be freed
        free_memory()
        if i == 0 and len(plans) > 1:
            message = retry_message(plan, plans[1])
            log.warning("%s", message)
            yield notice(message)
    raise _failure(plans, attempts)


def retry_message(failed: MemoryPlan, fallback: MemoryPlan) -> str:
    return f"Ran out of memory with {failed.summary}. Retrying once with {fallback.summary}."


def _failure(plans: Sequence[MemoryPlan], attempts: list[tuple[MemoryPlan, str]]) -> OutOfMemoryJobError:
    m = plans[0].machine
    lines = [f"Out of memory on a {m.vram_gb:g} GB {m.device} device with {m.ram_gb:g} GB RAM."]
    for plan, detail in attempts:
        lines.append(f"  plan {plan.strategy.label}: predicted {gb(plan.peak_vram_bytes):.2f} GB VRAM, "
                     f"{gb(plan.peak_ram_bytes):.2f} GB RAM; failed with {detail}")
    lines.append("Try a smaller size or fewer frames, or close other programs using the GPU.")
    return OutOfMemoryJobError("\n".join(lines), tuple(attempts))
