"""Apply a set of LoRAs (each with its strength) to a loaded transformer, fused or live.

fused: each adapted weight becomes `W + sum_i float(bf16(B_i * s_i) @ A_i)`, computed exactly as ltx-core
       1.0.0 does (the product in the LoRA file's dtype, the sum and the add in float32) from the clean
       weight, then written into the module in place: rounded once to the compute dtype, or quantised once
       to fp8 from the float32 merge when the memory plan stores weights as fp8. No cost per step.
live:  the base weights are never touched; each adapted Linear builds the same low-rank delta from the
       factors at compute time and adds it to its weight for that call (see `_live_forward` for why not
       activation-side), with the factors kept on the compute device (a few MB). Changing a strength or a
       LoRA only swaps factors: nothing is reloaded.

Clean-copy policy (what `memory.stages` charges): live keeps no copy (the base weights stay clean) and
holds the factors on the compute device; fused keeps no resident copy either: the clean weights of the
adapted modules are re-read from the checkpoint file (memory-mapped safetensors, one tensor at a time)
whenever the fused set changes, so a strength change costs a read of the adapted tensors only, never a
reload of the model and never a second copy of 46 GB in RAM.

`LoraApplier` owns this state for one transformer. Modules replaced behind its back (fp8 quantisation by a
memory plan builds new Fp8Linear objects) are noticed by `refresh()` and re-applied from the clean weights,
so fp8 storage always holds `quantise(float32 merge)`, never a re-quantised fp8 value.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from torch import nn

from model_runtime.loras.files import LoraFile

log = logging.getLogger(__name__)


class LoraMode(StrEnum):
    FUSED = "fused"
    LIVE = "live"


@dataclass(frozen=True)
class AppliedLora:
    """Provenance of one LoRA a job used: which file (by content), at which strength."""

    path: Path
    strength: float
    sha256: str
    modules: int
    unmatched: tuple[str, ...]  # file keys that adapt nothing in this model (reported, not applied)

    @property
    def name(self) -> str:
        return self.path.name

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "path": str(self.path), "strength": self.strength, "sha256": self.sha256,
                "modules": self.modules, "unmatched_keys": len(self.unmatched),
                "unmatched_examples": list(self.unmatched[:5])}


@dataclass(frozen=True)
class Weighted:
    """A LoRA with the strength it is applied at."""

    lora: LoraFile
    strength: float


def fused_delta(loras: Sequence[Weighted], module: str) -> torch.Tensor | None:
    """sum_i float32((B_i * s_i) @ A_i), the product in the file's dtype (ltx-core 1.0.0's `_prepare_deltas`:
    the bf16 product is what the reference goldens hold; an exact product lands up to 1e-3 away)."""
    deltas = [torch.matmul(w.lora.pairs[module].b * w.strength, w.lora.pairs[module].a).to(torch.float32)
              for w in loras if module in w.lora.pairs]
    if not deltas:
        return None
    return deltas[0] if len(deltas) == 1 else torch.sum(torch.stack(deltas, dim=0), dim=0)


class CheckpointWeights:
    """The clean weights of the transformer, read one tensor at a time from the checkpoint file."""

    def __init__(self, path: Path, prefix: str, unrename: Callable[[str], str]) -> None:
        self.path, self.prefix, self.unrename = path, prefix, unrename

    def read(self, modules: Sequence[str]) -> dict[str, torch.Tensor]:
        with safe_open(str(self.path), framework="pt", device="cpu") as fh:
            return {m: fh.get_tensor(self.prefix + self.unrename(m + ".weight")) for m in modules}


def _write_weight_(linear: nn.Module, merged: torch.Tensor) -> None:
    """Write a float32 weight into a Linear (rounded once) or an Fp8Linear (quantised once), in place."""
    from model_runtime.memory.executors import Fp8Linear

    if isinstance(linear, Fp8Linear):
        linear.load_weight_(merged)
    else:
        with torch.no_grad():
            linear.weight.copy_(merged.to(linear.weight.dtype))


def _live_forward(linear: nn.Module, factors: list[tuple[torch.Tensor, torch.Tensor]]):
    """F.linear(x, W + sum_i float32(Bs_i @ A_i)), the delta built from the factors at compute time.

    Why the delta and not `(x A^T) Bs^T`: the reference rounds the product `Bs @ A` to the LoRA's dtype
    (bf16) before adding it; activation-side low-rank adds skip that rounding and were measured 2.4e-3
    away from the reference's forward (tolerance 2e-4). Building the delta per call reproduces the
    reference exactly (bit-identical to fused in float32), costs 2 r in out flops per adapted Linear
    (about 1% of a forward at full size) and a transient of one weight, and keeps the base weights clean.
    """
    from model_runtime.memory.executors import Fp8Linear

    def forward(x: torch.Tensor) -> torch.Tensor:
        base = linear.dequantized_weight(torch.float32) if isinstance(linear, Fp8Linear) else linear.weight
        deltas = [torch.matmul(bs, a).to(torch.float32) for a, bs in factors]
        delta = deltas[0] if len(deltas) == 1 else torch.sum(torch.stack(deltas, dim=0), dim=0)
        weight = (base.to(torch.float32) + delta).to(x.dtype)
        bias = None if linear.bias is None else linear.bias.to(x.dtype)
        return nn.functional.linear(x, weight, bias)

    return forward


class LoraApplier:
    """The LoRA state of one transformer: which set is applied, how, and to which module objects."""

    def __init__(self, clean: CheckpointWeights) -> None:
        self.clean = clean
        self.module: nn.Module | None = None
        self.loras: tuple[Weighted, ...] = ()
        self.mode = LoraMode.LIVE
        self.device: torch.device = torch.device("cpu")
        self._bound: dict[str, nn.Module] = {}  # adapted module name -> the object the state was applied to
        self.fused_writes = 0  # weights rewritten (fused) since creation, for tests and benchmarks

    @property
    def adapted(self) -> list[str]:
        return sorted({m for w in self.loras for m in w.lora.pairs})

    def bind(self, module: nn.Module) -> None:
        """Use `module` (a freshly loaded transformer is clean: nothing of the old state is on it)."""
        if module is not self.module:
            self.module, self._bound = module, {}

    def set(self, loras: Sequence[Weighted], mode: LoraMode, device: torch.device | str) -> None:
        """Make `loras` (in order) the applied set, in `mode`; only what changed is redone (fused -> fused
        rewrites each affected weight once: clean + new delta, or clean where no LoRA adapts it now)."""
        assert self.module is not None, "bind() a transformer first"
        loras, mode, device = tuple(loras), LoraMode(mode), torch.device(device)
        if self._key(loras, mode, device) == self._key(self.loras, self.mode, self.device):
            self.refresh()
            return
        stale = list(self._bound) if self.mode is LoraMode.FUSED and mode is LoraMode.FUSED else []
        if not stale:
            self._undo()
        self.loras, self.mode, self.device = loras, mode, device
        self._bound = {}
        self.refresh(extra=[m for m in stale if m not in set(self.adapted)])

    def refresh(self, extra: Sequence[str] = ()) -> None:
        """(Re)apply the state to every adapted module whose object is not the one it was applied to (and
        to the fused modules in `extra`, which no LoRA adapts any more: they get their clean weight)."""
        assert self.module is not None
        todo = [m for m in self.adapted if self._bound.get(m) is not self.module.get_submodule(m)]
        if not todo and not extra:
            return
        if self.mode is LoraMode.FUSED:
            for name, clean in self.clean.read([*todo, *extra]).items():
                delta = fused_delta(self.loras, name)
                merged = clean.to(torch.float32) if delta is None else clean.to(torch.float32) + delta
                linear = self.module.get_submodule(name)
                _write_weight_(linear, merged)
                if delta is not None:
                    self._bound[name] = linear
                self.fused_writes += 1
        else:
            for name in todo:
                linear = self.module.get_submodule(name)
                factors = [(w.lora.pairs[name].a.to(self.device),
                            (w.lora.pairs[name].b * w.strength).to(self.device)) for w in self.loras
                           if name in w.lora.pairs]
                linear.forward = _live_forward(linear, factors)
                self._bound[name] = linear
        log.info("LoRAs %s applied %s to %d modules", [w.lora.info.name for w in self.loras], self.mode, len(todo))

    def _undo(self) -> None:
        """Put the base weights back where the current state changed them."""
        if self.module is None or not self._bound:
            return
        if self.mode is LoraMode.FUSED:
            names = [m for m, obj in self._bound.items() if self.module.get_submodule(m) is obj]
            for name, clean in self.clean.read(names).items():
                _write_weight_(self.module.get_submodule(name), clean.to(torch.float32))
                self.fused_writes += 1
        else:
            for obj in self._bound.values():
                obj.__dict__.pop("forward", None)
        self._bound = {}

    @staticmethod
    def _key(loras: tuple[Weighted, ...], mode: LoraMode, device: torch.device) -> tuple:
        return tuple((w.lora.sha256, w.strength) for w in loras), mode, device

    def factor_bytes(self) -> int:
        return sum(w.lora.nbytes for w in self.loras) if self.mode is LoraMode.LIVE else 0
