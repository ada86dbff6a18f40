"""GPU readiness checked on the CPU: sampling steps never read a device value back to the host (so a step
can be captured as a CUDA graph and never stalls the GPU queue), and shapes are static within a job."""

from __future__ import annotations

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from model_runtime.pipelines.engine import PromptContexts
from model_runtime.pipelines.geometry import geometry
from model_runtime.pipelines.stages import plain_x0
from model_runtime.runtime import ModelEngine, ModelPaths
from model_runtime.sampling.euler import euler_loop
from model_runtime.sampling.schedules import distilled_sigmas

#: ops that copy a device value to the host (`.item()`, `float(t)`, `bool(t)`, `if t:`) or whose output
#: shape depends on tensor values; on CUDA each one is a host synchronisation
SYNCING_OPS = ("_local_scalar_dense", "nonzero", "masked_select", "unique", "_unique2", "is_nonzero")


class SyncCounter(TorchDispatchMode):
    """Records every syncing op and every (op, output shape) seen while active."""

    def __init__(self) -> None:
        super().__init__()
        self.syncs: list[str] = []
        self.shapes: list[tuple[str, tuple]] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = func.__name__.split(".")[0]
        if name in SYNCING_OPS:
            self.syncs.append(str(func))
        out = func(*args, **(kwargs or {}))
        if isinstance(out, torch.Tensor):
            self.shapes.append((str(func), tuple(out.shape)))
        return out


def test_euler_steps_on_the_real_transformer_never_sync(tiny_dir):
    engine = ModelEngine(ModelPaths(tiny_dir / "checkpoint.safetensors"))
    geom = geometry(engine.config, 192, 128, 17, 24.0)
    gen = torch.Generator().manual_seed(0)
    inner = engine.config["transformer"]
    contexts = PromptContexts(torch.randn(1, 16, inner["num_attention_heads"] * inner["attention_head_dim"],
                                          generator=gen),
                              torch.randn(1, 16, inner["audio_num_attention_heads"] * inner["audio_attention_head_dim"],
                                          generator=gen))
    latents = (torch.randn(geom.video_token_shape, generator=gen), torch.randn(geom.audio_token_shape, generator=gen))
    x0_fn = plain_x0(engine, geom, contexts)
    x0_fn(latents, distilled_sigmas(1)[0], 0)  # first use loads the transformer (not part of a step)

    counter = SyncCounter()
    windows: list[tuple[int, int]] = []  # (syncs before the step's model call, shape records before it)

    def observed_x0(lat, sigma, index):
        windows.append((len(counter.syncs), len(counter.shapes)))
        return x0_fn(lat, sigma, index)

    per_step_syncs, per_step_shapes = [], []
    with counter:
        for _step in euler_loop(distilled_sigmas(1)[:4], latents, observed_x0):
            syncs_before, shapes_before = windows[-1]
            per_step_syncs.append(counter.syncs[syncs_before:])
            per_step_shapes.append(counter.shapes[shapes_before:])
    assert len(per_step_syncs) == 3
    assert all(not s for s in per_step_syncs), f"host syncs inside a step: {per_step_syncs}"
    assert per_step_shapes[0], "the counter saw no ops: it is not observing the step"
    assert per_step_shapes[1:] == per_step_shapes[:-1], "every step must run the same ops on the same shapes"
