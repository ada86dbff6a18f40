"""Read and cast a component's weights on a background thread while the job does something else first.

Why: on the CPU a job starts with work that leaves a core idle (importing transformers and Gemma's
modelling code, loading Gemma, tokenizing: mostly single-threaded Python), and only then needs the
transformer, whose load is almost all GIL-free work (reading the file, casting bf16 -> float32: ~1.3 GB
written at the benchmark size). Started at the job's start, the transformer's read and cast run on the
idle core during the prompt's encoding; `ModelEngine` then builds the module on meta and assigns the
prefetched tensors (`load_component(preloaded=...)`), which keeps every check of the strict load.

Only the work that needs no import and no module runs here (safetensors and torch are loaded before the
thread starts), so the thread never takes Python's import lock. A failure is not raised on the thread: the
load then reads the file itself and reports it with the usual message.
"""

from __future__ import annotations

import logging
import threading
import time

import torch
from safetensors import safe_open

from model_runtime.checkpoints import SafetensorsHeader
from model_runtime.loading import ComponentSpec

log = logging.getLogger(__name__)


def component_keys(header: SafetensorsHeader, spec: ComponentSpec) -> list[str]:
    """The file keys `spec` reads (its prefix, minus keys another component stored there owns)."""
    return [k for k in header.tensors if spec.module_key(k) is not None]


def prefetch_bytes(header: SafetensorsHeader, spec: ComponentSpec, dtype: torch.dtype) -> int:
    """RAM the prefetched tensors take once cast to `dtype` (what the plan must have room for)."""
    itemsize = torch.empty((), dtype=dtype).element_size()
    return sum(header.tensors[k].numel * itemsize for k in component_keys(header, spec))


class WeightPrefetch:
    """The tensors of `spec` in `header`'s file, cast like `load_component(dtype=dtype)` casts them."""

    def __init__(self, header: SafetensorsHeader, spec: ComponentSpec, dtype: torch.dtype,
                 device: torch.device | str = "cpu") -> None:
        self.header, self.spec, self.dtype, self.device = header, spec, dtype, torch.device(device)
        self._tensors: dict[str, torch.Tensor] | None = None
        self._failed = False
        self.seconds = 0.0
        self._thread = threading.Thread(target=self._run, name=f"prefetch-{spec.name}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        t0 = time.perf_counter()
        try:
            out: dict[str, torch.Tensor] = {}
            with safe_open(str(self.header.path), framework="pt", device="cpu") as fh:
                for key in component_keys(self.header, self.spec):
                    t = fh.get_tensor(key)
                    out[key] = t.to(device=self.device, dtype=self.dtype if t.is_floating_point() else t.dtype)
            self._tensors = out
        except Exception:  # noqa: BLE001 - the foreground load reads the file again and reports it
            self._failed = True
        self.seconds = time.perf_counter() - t0

    def take(self) -> dict[str, torch.Tensor] | None:
        """Wait for the thread and hand the tensors over (once); None when it failed or was taken."""
        self._thread.join()
        tensors, self._tensors = self._tensors, None
        if self._failed:
            log.info("prefetching %s failed: it is read in the foreground", self.spec.name)
        elif tensors is not None:
            log.info("prefetched %s: %d tensors in %.2f s", self.spec.name, len(tensors), self.seconds)
        return tensors
