"""The LoRA state of a model engine: which LoRAs the next denoise runs with, checked and kept small.

`use()` is called by the pipelines (through the engine) at the start of each stage: it reads every LoRA
against the checkpoint's header (a bad one raises before anything heavy runs) and records the wanted set;
`apply()` is called by the engine when it hands out the transformer, after any memory-plan placement (fp8
storage replaces modules, which `LoraApplier.refresh` notices), so the set is applied lazily, once.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from model_runtime.loras.spec import LoraSpec

if TYPE_CHECKING:
    import torch

    from model_runtime.checkpoints import SafetensorsHeader
    from model_runtime.loras.apply import LoraApplier

log = logging.getLogger(__name__)


class EngineLoras:
    def __init__(self, checkpoint: Path) -> None:
        self.checkpoint = Path(checkpoint)
        self.targets = None  # loras.files.LoraTargets, from the checkpoint header on first use
        self.files: dict[tuple[str, str | None], Any] = {}  # (path, requested sha256) -> LoraFile
        self.previous: set[tuple[str, str | None]] = set()
        self.wanted: tuple = ()
        self.mode = "live"
        self.dirty = False
        self.applier: LoraApplier | None = None

    def use(self, loras: tuple[LoraSpec, ...], mode: str, header: SafetensorsHeader,
            model_version: str) -> tuple[dict[str, Any], ...]:
        """Check and record the set; returns each LoRA's provenance (`AppliedLora.to_dict`)."""
        from model_runtime.loras.apply import AppliedLora, Weighted
        from model_runtime.loras.files import LoraTargets, file_sha256, read_lora

        if self.targets is None:
            self.targets = LoraTargets.from_checkpoint(header, model_version)
        weighted, keys = [], []
        for spec in loras:
            key = (str(spec.path.resolve()), spec.sha256)
            lora = self.files.get(key)
            if lora is None or lora.sha256 != file_sha256(spec.path):  # a file replaced since: read it again
                lora = read_lora(spec.path, self.targets, expected_sha256=spec.sha256)
                self.files[key] = lora
            weighted.append(Weighted(lora, spec.strength))
            keys.append(key)
        # keep the factors of this set and the previous one (a dev render alternates two sets), drop the rest
        keep = set(keys) | self.previous
        self.files = {k: v for k, v in self.files.items() if k in keep}
        self.previous = set(keys)
        self.wanted, self.mode, self.dirty = tuple(weighted), mode, True
        return tuple(AppliedLora(w.lora.path, w.strength, w.lora.sha256, len(w.lora.pairs),
                                 w.lora.unmatched).to_dict() for w in weighted)

    def apply(self, transformer: torch.nn.Module, device: torch.device) -> None:
        """Bring `transformer` to the wanted set (nothing to do, and no applier, until a LoRA is used)."""
        from model_runtime.loras.apply import CheckpointWeights, LoraApplier
        from model_runtime.models.transformer import PREFIX, unrename

        if self.applier is None:
            if not self.wanted:
                self.dirty = False
                return
            self.applier = LoraApplier(CheckpointWeights(self.checkpoint, PREFIX, unrename))
        self.applier.bind(transformer)
        self.applier.set(self.wanted, self.mode, device)
        self.dirty = False
