"""Device policy for the transformer's speed: which SDPA kernels attention may use, and `torch.compile`.

Why a policy and not a fixed choice: the best attention kernel depends on the device. On CUDA, PyTorch's
flash kernel is fastest where it applies (fp16/bf16, head dim <= 256), the memory-efficient kernel covers
float32 and other head dims, and the math kernel is the always-correct fallback; `auto` lists them in
that order and lets PyTorch take the first that supports the inputs (`sdpa_kernel(..., set_priority=True)`).
On the CPU and MPS PyTorch's own choice is already right (a fused CPU flash kernel), so `auto` leaves it
alone. Naming one kernel (`--attention flash`) restricts SDPA to it, with math as the fallback, so a
kernel that cannot run the inputs (flash in float32 on CUDA) never fails a job.

`compile=True` compiles each transformer block in place (`nn.Module.compile`: the state dict, fp8
storage and hooks are unchanged) with static shapes: a job's shapes are fixed, so the first step of a new
size compiles and every later step (and every later job of that size) reuses it. On the CPU it equals
eager within the goldens' tolerances (tests/runtime/test_sampling_gpu_ready.py); its point is the GPU.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import nn

from model_runtime.errors import InvalidRequestError

log = logging.getLogger(__name__)

ATTENTION_CHOICES = ("auto", "flash", "efficient", "math")


@dataclass(frozen=True)
class Acceleration:
    """attention: one of ATTENTION_CHOICES; compile: compile the transformer blocks (see module doc)."""

    attention: str = "auto"
    compile: bool = False

    def __post_init__(self) -> None:
        if self.attention not in ATTENTION_CHOICES:
            raise InvalidRequestError(
                f"unknown attention kernel {self.attention!r}: choose one of {', '.join(ATTENTION_CHOICES)}")


#: the policy a runtime gets unless told otherwise: the device's attention kernels, no compilation
DEFAULT_ACCELERATION = Acceleration()


def sdpa_backends(device: torch.device | str, attention: str) -> list | None:
    """The SDPA kernels allowed on `device`, in priority order; None leaves PyTorch's choice alone."""
    from torch.nn.attention import SDPBackend

    named = {"flash": SDPBackend.FLASH_ATTENTION, "efficient": SDPBackend.EFFICIENT_ATTENTION,
             "math": SDPBackend.MATH}
    if attention == "auto":
        if torch.device(device).type != "cuda":
            return None
        return [SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH]
    return list(dict.fromkeys([named[attention], SDPBackend.MATH]))


@contextlib.contextmanager
def attention_kernels(device: torch.device | str, attention: str) -> Iterator[None]:
    """Run the enclosed transformer calls with the policy's SDPA kernels."""
    backends = sdpa_backends(device, attention)
    if backends is None:
        yield
        return
    from torch.nn.attention import sdpa_kernel

    with sdpa_kernel(backends, set_priority=True):
        yield


def compile_blocks(transformer: nn.Module, backend: str = "inductor") -> int:
    """Compile every transformer block in place (static shapes); returns how many were compiled.
    `backend`: inductor generates kernels (the GPU's speed-up); tests also use aot_eager (graph capture and
    decompositions without code generation, seconds instead of minutes on a small CPU)."""
    blocks = getattr(transformer, "transformer_blocks", ())
    for block in blocks:
        block.compile(backend=backend, dynamic=False)
    log.info("compiled %d transformer blocks (%s)", len(blocks), backend)
    return len(blocks)
