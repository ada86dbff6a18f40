"""Carry out a plan on any `nn.Module` with a list of blocks, on any torch device (CPU included).

* `quantize_fp8_` — every `nn.Linear` inside the given modules keeps its weight as float8 (e4m3) with one
  float32 scale per output row and upcasts it to the compute dtype inside `forward`: half the bytes of
  bf16, a few % of time. Lossy by design (e4m3 keeps 3 mantissa bits); `dequantized_copy` builds the
  plain module with the same rounded weights, which the fp8 module matches to float tolerance.
* `stream_blocks` — blocks' parameters and buffers live on a storage device (pinned host RAM for CUDA)
  and are copied to the compute device just before each block runs; the next `blocks_in_flight - 1`
  blocks are prefetched (on a side CUDA stream when there is one) and a block's copy is dropped right
  after its forward. On CPU the copies are real copies, so the same code path runs and is tested.
* `resident_on` — one component on the compute device for the duration of a stage, back to its storage
  device afterwards (the single owner of `.to()` moves, STYLE #6).
* `chunk_feed_forward` — FFN modules run over the token axis in chunks (per-token maths: exact).
* `VramBudget` — a simulated VRAM ceiling: executors charge what they place on the compute device and a
  charge over the limit raises `torch.OutOfMemoryError`, so the OOM path is exercised on CPU.

Tiled decoding lives in `tiling.py`; `apply_plan` (in `apply.py`) combines these for a plan.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence

import torch
from torch import nn

log = logging.getLogger(__name__)

FP8_DTYPE = torch.float8_e4m3fn
FP8_MAX = 448.0  # largest finite e4m3fn value


class VramBudget:
    """Bytes placed on the compute device by the executors, against a limit (None = unlimited)."""

    def __init__(self, limit_bytes: int | None = None) -> None:
        self.limit = limit_bytes
        self.used = 0
        self.peak = 0

    def charge(self, nbytes: int, what: str) -> None:
        if self.limit is not None and self.used + nbytes > self.limit:
            raise torch.OutOfMemoryError(
                f"simulated VRAM budget: {what} needs {nbytes / 1e6:.1f} MB, "
                f"{self.used / 1e6:.1f} of {self.limit / 1e6:.1f} MB in use")
        self.used += nbytes
        self.peak = max(self.peak, self.used)

    def release(self, nbytes: int) -> None:
        self.used -= nbytes


def find_blocks(module: nn.Module) -> nn.ModuleList:
    """The module's block list: `transformer_blocks` (diffusers / ltx-core), `blocks`, `layers`, or else
    its longest `nn.ModuleList`."""
    for name in ("transformer_blocks", "blocks", "layers"):
        blocks = getattr(module, name, None)
        if isinstance(blocks, nn.ModuleList) and len(blocks):
            return blocks
    lists = [m for m in module.modules() if isinstance(m, nn.ModuleList)]
    if not lists:
        raise ValueError(f"{type(module).__name__} has no list of blocks to stream")
    return max(lists, key=len)


# -- fp8 storage -------------------------------------------------------------------------------------


def _to_fp8(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(e4m3 values, float32 scale per output row) of a weight, quantised from float32."""
    w = weight.float()
    scale = (w.abs().amax(dim=1, keepdim=True) / FP8_MAX).clamp(min=torch.finfo(torch.float32).tiny)
    return (w / scale).to(FP8_DTYPE), scale


class Fp8Linear(nn.Module):
    """A Linear whose weight is stored as e4m3 with a float32 scale per output row."""

    def __init__(self, linear: nn.Linear) -> None:
        super().__init__()
        q, scale = _to_fp8(linear.weight.detach())
        self.register_buffer("weight_fp8", q)
        self.register_buffer("weight_scale", scale)
        self.bias = None if linear.bias is None else nn.Parameter(linear.bias.detach(), requires_grad=False)
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.compute_dtype = linear.weight.dtype

    def dequantized_weight(self, dtype: torch.dtype | None = None) -> torch.Tensor:
        dtype = dtype or self.compute_dtype
        return (self.weight_fp8.to(torch.float32) * self.weight_scale).to(dtype)

    @torch.no_grad()
    def load_weight_(self, weight: torch.Tensor) -> None:
        """Quantise `weight` (e.g. a LoRA merged in float32) into this module's storage, in place (so a
        block streamer's storage tensors stay the ones the module uses)."""
        q, scale = _to_fp8(weight.to(self.weight_fp8.device))
        self.weight_fp8.copy_(q)
        self.weight_scale.copy_(scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bias = None if self.bias is None else self.bias.to(x.dtype)
        return nn.functional.linear(x, self.dequantized_weight(x.dtype), bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, fp8 e4m3 + row scale"


def quantize_fp8_(module: nn.Module, skip: Sequence[str] = ()) -> int:
    """Replace every nn.Linear under `module` (names not starting with a `skip` prefix) by an Fp8Linear,
    in place; return the bytes saved. Idempotent: Fp8Linear children are left alone."""
    saved = 0
    for name, child in list(module.named_modules()):
        for cname, sub in list(child.named_children()):
            full = f"{name}.{cname}" if name else cname
            if isinstance(sub, nn.Linear) and not any(full.startswith(p) for p in skip):
                q = Fp8Linear(sub)
                saved += sub.weight.numel() * sub.weight.element_size() - q.weight_fp8.numel() - 4 * q.weight_scale.numel()
                setattr(child, cname, q)
    log.info("fp8 storage: %.2f GB saved", saved / 1e9)
    return saved


def dequantized_copy_(module: nn.Module) -> None:
    """Turn every Fp8Linear back into a plain Linear holding the same rounded weights (the reference the
    fp8 path must match to float tolerance)."""
    for _name, child in list(module.named_modules()):
        for cname, sub in list(child.named_children()):
            if isinstance(sub, Fp8Linear):
                lin = nn.Linear(sub.in_features, sub.out_features, bias=sub.bias is not None,
                                device=sub.weight_fp8.device, dtype=sub.compute_dtype)
                lin.weight = nn.Parameter(sub.dequantized_weight(), requires_grad=False)
                if sub.bias is not None:
                    lin.bias = nn.Parameter(sub.bias.detach().clone(), requires_grad=False)
                setattr(child, cname, lin)


# -- FFN chunking ------------------------------------------------------------------------------------


def _is_ffn(module: nn.Module) -> bool:
    return type(module).__name__ in ("FeedForward", "FeedForwardNetwork", "Mlp", "MLP")


@contextlib.contextmanager
def chunk_feed_forward(module: nn.Module, chunk_tokens: int, dim: int = 1) -> Iterator[int]:
    """Run every FFN under `module` over `chunk_tokens` tokens at a time along `dim`; yield their count."""
    def chunked(orig):
        def forward(x: torch.Tensor, *args, **kwargs) -> torch.Tensor:
            if x.dim() <= dim or x.shape[dim] <= chunk_tokens:
                return orig(x, *args, **kwargs)
            out = None
            for i, c in enumerate(x.split(chunk_tokens, dim=dim)):
                y = orig(c, *args, **kwargs)
                if out is None:  # written in place: no list of chunk outputs plus a concatenated copy
                    out = y.new_empty((*x.shape[:dim], x.shape[dim], *y.shape[dim + 1:]))
                out.narrow(dim, i * chunk_tokens, y.shape[dim]).copy_(y)
            return out
        return forward

    saved: list[tuple[nn.Module, object]] = []
    try:
        for m in module.modules():
            if _is_ffn(m):
                saved.append((m, m.__dict__.get("forward")))
                m.forward = chunked(m.forward)
        yield len(saved)
    finally:
        for m, before in saved:
            if before is None:
                del m.forward  # the class forward is back
            else:
                m.forward = before


# -- placement ---------------------------------------------------------------------------------------


def _tensors(module: nn.Module) -> list[tuple[nn.Module, str, torch.Tensor, bool]]:
    out = []
    for m in module.modules():
        for n, p in m.named_parameters(recurse=False):
            out.append((m, n, p, True))
        for n, b in m.named_buffers(recurse=False):
            if b is not None:
                out.append((m, n, b, False))
    return out


def _set(m: nn.Module, name: str, t: torch.Tensor, is_param: bool) -> None:
    if is_param:
        m._parameters[name] = nn.Parameter(t, requires_grad=False)
    else:
        m._buffers[name] = t


def module_bytes(module: nn.Module) -> int:
    return sum(t.numel() * t.element_size() for _, _, t, _ in _tensors(module))


@contextlib.contextmanager
def resident_on(module: nn.Module, device: torch.device | str, budget: VramBudget | None = None,
                storage: torch.device | str = "cpu") -> Iterator[nn.Module]:
    """`module` on `device` inside the block and on `storage` afterwards (also when the block raises)."""
    nbytes = module_bytes(module)
    if budget is not None:
        budget.charge(nbytes, type(module).__name__)
    try:
        module.to(device)
        yield module
    finally:
        module.to(storage)
        if budget is not None:
            budget.release(nbytes)
