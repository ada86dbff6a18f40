"""Weights that stay in the memory-mapped safetensors file and are upcast one layer at a time (CPU plans).

Why: on a CPU-only machine whose RAM is smaller than the weights in the compute dtype (LTX-2.3 is 46 GB in
bf16, 92 GB in float32), loading every tensor as float32 is not an option. Instead the large tensors are
zero-copy views into a copy-on-write mapping of the file, in the file's own dtype: they are page cache,
which the OS can drop and re-read, not anonymous memory. Each module that owns such a tensor gets a
forward pre-hook that swaps in a compute-dtype copy and a forward hook that swaps the file view back, so
only the layer that is running holds an upcast copy:

* a `Linear` whose upcast weight would exceed `UNIT_BYTES` runs in chunks of output rows, each chunk
  upcast on its own (the 188160-wide `text_embedding_projection`, Gemma's MLP at full size);
* an `Embedding` looks its rows up straight in the file's table and upcasts only the rows it returned
  (Gemma's 262k x 3840 table is never copied); a module's `embed_scale` (Gemma) is applied in float32;
* every other module (transformer blocks' own tables, conv layers of the VAEs, norms) upcasts its own
  tensors for the length of its forward.

Tensors under `min_bytes` (biases, norms, statistics, scale tables) are simply loaded in the compute dtype:
they cost little and code that reads them outside a forward then sees the compute dtype. The arithmetic is
the same as with weights upcast at load time (a bf16 -> float32 cast is exact), so results are identical.
"""

from __future__ import annotations

import mmap
import types
from pathlib import Path

import torch
from torch import nn

from model_runtime.checkpoints import SafetensorsHeader, read_header
from model_runtime.mapped_units import UNIT_BYTES

#: safetensors dtype names -> torch dtypes
TORCH_DTYPES = {
    "F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
    "F8_E4M3": torch.float8_e4m3fn, "F8_E5M2": torch.float8_e5m2, "I64": torch.int64, "I32": torch.int32,
    "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8, "BOOL": torch.bool,
}
#: a tensor at least this big stays in the file (smaller ones are loaded in the compute dtype)
MIN_MAPPED_BYTES = 1 << 20
_STATE = "_ltx_mapped"


class MappedFile:
    """A safetensors file mapped copy-on-write: `tensor(key)` is a view of the file, no bytes are copied.

    Copy-on-write (MAP_PRIVATE) keeps the file untouched and gives torch a writable buffer; nothing writes
    to the views, so their pages stay file-backed. The mapping lives as long as any view of it."""

    def __init__(self, header: SafetensorsHeader | str | Path) -> None:
        self.header = header if isinstance(header, SafetensorsHeader) else read_header(header)
        with open(self.header.path, "rb") as fh:
            self._map = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_COPY)

    def tensor(self, key: str) -> torch.Tensor:
        info = self.header.tensors[key]
        dtype = TORCH_DTYPES[info.dtype]
        if info.numel == 0:
            return torch.empty(info.shape, dtype=dtype)
        offset = self.header.data_offset + info.begin
        if offset % dtype.itemsize:  # safetensors aligns tensors in practice; copy the odd one that is not
            raw = torch.frombuffer(self._map, dtype=torch.uint8, count=info.end - info.begin, offset=offset)
            return raw.clone().view(dtype).view(info.shape)
        return torch.frombuffer(self._map, dtype=dtype, count=info.numel, offset=offset).view(info.shape)


def is_mapped(t: torch.Tensor) -> bool:
    """True for tensors that live in a file mapping (set by `load_mapped`)."""
    return bool(getattr(t, _STATE, False))


def mark_mapped(t: torch.Tensor) -> torch.Tensor:
    setattr(t, _STATE, True)
    return t


def keep_mapped(t: torch.Tensor, min_bytes: int = MIN_MAPPED_BYTES) -> bool:
    """Whether a file tensor stays in the file: floating and at least `min_bytes` big."""
    return t.is_floating_point() and t.numel() * t.element_size() >= min_bytes


def assign_mapped(model: nn.Module, tensors: dict[str, torch.Tensor], dtype: torch.dtype,
                  min_bytes: int = MIN_MAPPED_BYTES) -> None:
    """Assign views of a `MappedFile` to a meta-built `model` strictly: the large floating ones stay views
    of the file (marked, in the file's dtype), the rest become `dtype` copies. The caller then fills the
    non-persistent buffers and calls `upcast_on_use`."""
    state: dict[str, torch.Tensor] = {}
    pointers: set[int] = set()
    for name, t in tensors.items():
        if keep_mapped(t, min_bytes):
            state[name] = mark_mapped(t)
            pointers.add(t.data_ptr())
        else:
            state[name] = t.to(dtype) if t.is_floating_point() else t.clone()
    model.load_state_dict(state, strict=True, assign=True)
    del state
    for t in [*model.parameters(), *model.buffers()]:  # assign wraps views in Parameters: mark those too
        if t.data_ptr() in pointers:
            mark_mapped(t)


def compute_dtype(module: nn.Module, weight: torch.Tensor) -> torch.dtype:
    """The dtype `module` computes in: set by `upcast_on_use` when its weights stay in the file, else the
    dtype of its representative `weight`."""
    dtype = getattr(module, "compute_dtype", None)
    return dtype if isinstance(dtype, torch.dtype) else weight.dtype


def _direct(m: nn.Module) -> list[tuple[str, torch.Tensor, bool]]:
    out = [(n, p, True) for n, p in m._parameters.items() if p is not None and is_mapped(p)]
    out += [(n, b, False) for n, b in m._buffers.items() if b is not None and is_mapped(b)]
    return out




def _linear_in_chunks(module: nn.Linear, dtype: torch.dtype, rows: int):
    def forward(self: nn.Linear, x: torch.Tensor) -> torch.Tensor:
        out = x.new_empty((*x.shape[:-1], self.out_features), dtype=dtype)
        for start in range(0, self.out_features, rows):
            w = self.weight[start:start + rows].to(dtype)
            b = None if self.bias is None else self.bias[start:start + rows].to(dtype)
            out[..., start:start + rows] = nn.functional.linear(x.to(dtype), w, b)
            del w
        return out

    return types.MethodType(forward, module)


def _embedding(module: nn.Embedding, dtype: torch.dtype):
    def forward(self: nn.Embedding, ids: torch.Tensor) -> torch.Tensor:
        rows = nn.functional.embedding(ids, self.weight, self.padding_idx, self.max_norm, self.norm_type,
                                       self.scale_grad_by_freq, self.sparse).to(dtype)
        scale = getattr(self, "embed_scale", None)  # Gemma's scaled embedding: sqrt(hidden), in float32
        return rows if scale is None else rows * scale.to(dtype)

    return types.MethodType(forward, module)


def upcast_on_use(root: nn.Module, dtype: torch.dtype, unit_bytes: int = UNIT_BYTES) -> int:
    """Give every module of `root` that owns mapped tensors a way to run in `dtype` (see the module doc).
    Permanent: the hooks belong to the module as long as its weights live in the file. Returns the number
    of modules changed."""
    root.compute_dtype = dtype
    itemsize = torch.empty((), dtype=dtype).element_size()
    changed = 0
    for m in root.modules():
        own = _direct(m)
        if not own:
            continue
        changed += 1
        if isinstance(m, nn.Embedding):
            m.forward = _embedding(m, dtype)
            continue
        if isinstance(m, nn.Linear) and m.weight.numel() * itemsize > unit_bytes:
            rows = max(1, unit_bytes // (m.in_features * itemsize))
            m.forward = _linear_in_chunks(m, dtype, rows)
            continue
        m.register_forward_pre_hook(lambda mod, _args, own=own: _swap_in(mod, own, dtype))
        m.register_forward_hook(lambda mod, _args, _out, own=own: _swap_out(mod, own))
    return changed


def _swap_in(m: nn.Module, own: list[tuple[str, torch.Tensor, bool]], dtype: torch.dtype) -> None:
    for name, t, is_param in own:
        if is_param:
            m._parameters[name] = nn.Parameter(t.to(dtype), requires_grad=False)
        else:
            m._buffers[name] = t.to(dtype)


def _swap_out(m: nn.Module, own: list[tuple[str, torch.Tensor, bool]]) -> None:
    for name, t, is_param in own:  # the original file view (a Parameter or a buffer) goes back
        (m._parameters if is_param else m._buffers)[name] = t
