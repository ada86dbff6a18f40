"""Build modules on the meta device from the embedded config and assign-load official weights strictly.

One mechanism for every component: a `ComponentSpec` says where its keys live in the file, how to build
the module from the config and how official key names map onto the module's state dict. The loader
reads each tensor once (safetensors, never pickle), casts it per the dtype policy and assigns it: the
meta-built module never allocates weights of its own, so RAM holds one copy of each tensor.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import safe_open
from torch import nn

from model_runtime.checkpoints import SafetensorsHeader, read_header
from model_runtime.errors import CheckpointError, MissingKeysError, UnexpectedKeysError
from model_runtime.mapped import (
    MIN_MAPPED_BYTES,
    MappedFile,
    is_mapped,
    keep_mapped,
    mark_mapped,
    upcast_on_use,
)

log = logging.getLogger(__name__)

Rename = Callable[[str], "str | None"]


def _identity(key: str) -> str | None:
    return key


@dataclass(frozen=True)
class ComponentSpec:
    """How one component is found in a checkpoint file and built.

    build:   full embedded config -> module (called under `torch.device("meta")`).
    rename:  file key with `prefix` stripped -> module state-dict key, or None when the key belongs to
             another component stored under the same prefix (e.g. the text connectors inside
             `model.diffusion_model.`).
    unrename: the inverse of `rename` (module key -> file key without prefix); used to check the
             full-size layout both ways and to write checkpoints in the official layout (demo model).
    finish:  optional hook run after loading, on the target device, to compute buffers that are not
             stored in the file (non-persistent buffers come out of the meta build empty).
    prepare: optional transform of the state dict read from the file (module keys, FILE dtypes) before
             the dtype policy casts it: where the official loader rewrites weights at load time (LTX-2.5's
             diffusion decoder folds static gates into Linear weights in float32, then rounds to the file
             dtype), doing it here reproduces its numbers whatever dtype the module runs in.
    """

    name: str
    prefix: str
    build: Callable[[dict], nn.Module]
    rename: Rename = _identity
    unrename: Callable[[str], str] = _identity  # type: ignore[assignment]
    finish: Callable[[nn.Module], None] | None = None
    config_key: str | None = None  # section of the embedded config handed to `build` (None = whole config)
    prepare: Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]] | None = None

    def module_key(self, file_key: str) -> str | None:
        """The module state-dict key a file key loads into, or None when the key is not this component's
        (another prefix, or a key another component stored under this prefix owns)."""
        if not file_key.startswith(self.prefix):
            return None
        return self.rename(file_key[len(self.prefix):])


@dataclass(frozen=True)
class LoadReport:
    component: str
    loaded: int
    unexpected: tuple[str, ...] = ()
    dtypes: dict[str, int] = field(default_factory=dict)  # file dtype -> tensor count


DtypePolicy = Callable[[str, torch.dtype], torch.dtype]


def cast_floats_to(dtype: torch.dtype | None) -> DtypePolicy:
    """Policy: floating tensors become `dtype` (None keeps the header's dtype); integers are kept."""

    def policy(key: str, file_dtype: torch.dtype) -> torch.dtype:
        if dtype is None or not file_dtype.is_floating_point:
            return file_dtype
        return dtype

    return policy


def build_on_meta(spec: ComponentSpec, config: dict) -> nn.Module:
    """Build on the meta device; a config value of the wrong type or range is a CheckpointError naming it."""
    try:
        section = config if spec.config_key is None else config[spec.config_key]
        with torch.device("meta"), _no_weight_init():
            return spec.build(section)
    except CheckpointError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, IndexError, ZeroDivisionError, OverflowError) as exc:
        raise CheckpointError(f"{spec.name}: the embedded config cannot build this component "
                              f"({exc.__class__.__name__}: {exc}): the file is damaged or not an official "
                              "release; download it again") from None


#: the `torch.nn.init` functions module constructors call (`reset_parameters`)
_INIT_FUNCTIONS = ("uniform_", "normal_", "trunc_normal_", "constant_", "zeros_", "ones_", "xavier_uniform_",
                   "xavier_normal_", "kaiming_uniform_", "kaiming_normal_", "orthogonal_")


@contextlib.contextmanager
def _no_weight_init() -> Iterator[None]:
    """Constructors skip their random initialisation while a component is built on meta: the values do not
    exist there and the strict assign-load replaces every tensor, so it only costs time (each init op runs
    through PyTorch's Python meta kernels: ~0.08 s of the benchmark model's builds). The stand-ins skip
    meta tensors only: a module imported during the build that keeps a reference to one (`from
    torch.nn.init import ...`) still initialises real tensors afterwards."""
    saved = {name: getattr(nn.init, name) for name in _INIT_FUNCTIONS}
    for name, fn in saved.items():
        setattr(nn.init, name, _skipping_meta(fn))
    try:
        yield
    finally:
        for name, fn in saved.items():
            setattr(nn.init, name, fn)


def _skipping_meta(init: Callable) -> Callable:
    @functools.wraps(init)
    def skip(tensor: torch.Tensor, *args, **kwargs) -> torch.Tensor:
        return tensor if tensor.is_meta else init(tensor, *args, **kwargs)

    return skip


#: elements of each tensor checked for NaN/Inf after loading: a damaged or badly converted file has them
#: everywhere, so a strided sample finds them at a cost of ~1 ms for the whole 22B model
NONFINITE_SAMPLE = 4096


def sampled_nonfinite(t: torch.Tensor, sample: int = NONFINITE_SAMPLE) -> bool:
    """True when an evenly strided sample of `t` (all of it when small) holds a NaN or an Inf."""
    if not t.is_floating_point() or t.numel() == 0:
        return False
    flat = t.detach().reshape(-1)
    if flat.numel() > sample:
        flat = flat[:: flat.numel() // sample]
    return not bool(torch.isfinite(flat.float()).all())


def check_finite_weights(where: object, component: str, named: Iterable[tuple[str, torch.Tensor]]) -> None:
    """Raise CheckpointError naming the first weights with NaN/Inf in their sample."""
    bad = [name for name, t in named if sampled_nonfinite(t)]
    if bad:
        raise CheckpointError(f"{where}: {component}: {len(bad)} weight(s) hold NaN or Inf values "
                              f"({_names(bad, 4)}): the file is damaged; download it again")


def _dtype_mismatches(header: SafetensorsHeader, mapping: dict[str, str], expected: dict[str, torch.dtype]) -> list[str]:
    """File tensors whose dtype class contradicts the module: an integer/bool weight where the module has
    floats (or the reverse) is a damaged or foreign file, whatever the shape says."""
    wrong = []
    for fk, mk in mapping.items():
        file_float = header.tensors[fk].dtype.startswith(("F", "BF"))
        if file_float != expected[mk].is_floating_point:
            wrong.append(f"{fk} ({header.tensors[fk].dtype}, expected {str(expected[mk]).removeprefix('torch.')})")
    return wrong


def plan_keys(spec: ComponentSpec, file_keys: Iterable[str], expected: set[str]) -> tuple[dict[str, str], list[str]]:
    """Map file keys -> module keys for one component; return (mapping, unexpected file keys)."""
    mapping: dict[str, str] = {}
    unexpected: list[str] = []
    for fk in file_keys:
        mk = spec.module_key(fk)
        if mk is None:
            continue
        if mk in expected and mk not in mapping.values():
            mapping[fk] = mk
        else:
            unexpected.append(fk)
    return mapping, unexpected


def _names(keys: Iterable[str], limit: int = 12) -> str:
    keys = sorted(keys)
    head = ", ".join(keys[:limit])
    return head + (f", ... ({len(keys) - limit} more)" if len(keys) > limit else "")


def _compute_dtype(policy: DtypePolicy) -> torch.dtype:
    """The dtype a policy gives floating weights (what mapped weights are upcast to)."""
    return policy("", torch.bfloat16)


def _remark_mapped(module: nn.Module, pointers: set[int]) -> None:
    """`load_state_dict(assign=True)` wraps tensors in new Parameters: carry the mapped mark over."""
    for t in [*module.parameters(), *module.buffers()]:
        if t.data_ptr() in pointers:
            mark_mapped(t)


def load_component(
    path_or_header: str | Path | SafetensorsHeader,
    spec: ComponentSpec,
    config: dict,
    *,
    dtype: torch.dtype | DtypePolicy | None = torch.float32,
    device: torch.device | str = "cpu",
    strict: bool = False,
    mapped: MappedFile | None = None,
    min_mapped_bytes: int | None = None,
    preloaded: Mapping[str, torch.Tensor] | None = None,
) -> tuple[nn.Module, LoadReport]:
    """Build `spec` on meta, assign its weights from the file; a missing key is always an error.

    `mapped` (the same file, mapped; CPU only): large floating tensors stay views of the file in its dtype
    and are upcast to the policy's dtype one module at a time when they run (`mapped`). `preloaded`: file key
    -> tensor already read (`prefetch.WeightPrefetch`); each is cast by the policy like a tensor read here
    (a no-op when the prefetch cast it already) and checked like one."""
    header = path_or_header if isinstance(path_or_header, SafetensorsHeader) else read_header(path_or_header)
    policy = dtype if callable(dtype) else cast_floats_to(dtype)
    module = build_on_meta(spec, config)
    module_state = module.state_dict()
    shapes = {k: tuple(v.shape) for k, v in module_state.items()}
    expected = set(shapes)
    mapping, unexpected = plan_keys(spec, header.tensors.keys(), expected)
    missing = expected - set(mapping.values())
    if missing:
        raise MissingKeysError(
            f"{header.path}: {spec.name}: {len(missing)} weight(s) missing from the file: {_names(missing)}"
        )
    wrong = [f"{fk} {list(header.tensors[fk].shape)} (expected {list(shapes[mk])})"
             for fk, mk in mapping.items() if tuple(header.tensors[fk].shape) != shapes[mk]]
    if wrong:  # the embedded config does not describe these weights: say so before reading anything
        raise CheckpointError(f"{header.path}: {spec.name}: {len(wrong)} tensor(s) with the wrong shape: {_names(wrong)}")
    wrong = _dtype_mismatches(header, mapping, {k: v.dtype for k, v in module_state.items()})
    if wrong:
        raise CheckpointError(f"{header.path}: {spec.name}: {len(wrong)} tensor(s) stored in the wrong dtype: "
                              f"{_names(wrong, 4)}; the file is damaged or not an official release: download it again")
    if unexpected:
        msg = f"{header.path}: {spec.name}: {len(unexpected)} tensor(s) in the file are not used: {_names(unexpected)}"
        if strict:
            raise UnexpectedKeysError(msg)
        log.warning(msg)
    state: dict[str, torch.Tensor] = {}
    dtypes: dict[str, int] = {}
    min_bytes = MIN_MAPPED_BYTES if min_mapped_bytes is None else min_mapped_bytes
    if spec.prepare is not None:  # prepare rewrites the read tensors (new ones, not file views): load them
        mapped = None
    try:
        with safe_open(str(header.path), framework="pt", device="cpu") as fh:
            for fk, mk in mapping.items():
                dtypes[header.tensors[fk].dtype] = dtypes.get(header.tensors[fk].dtype, 0) + 1
                if mapped is not None:
                    view = mapped.tensor(fk)
                    if keep_mapped(view, min_bytes):
                        state[mk] = mark_mapped(view)
                        continue
                t = preloaded.get(fk) if preloaded is not None else None
                if t is None:
                    t = fh.get_tensor(fk)
                state[mk] = t if spec.prepare is not None else t.to(device=device, dtype=policy(mk, t.dtype))
    except Exception as exc:  # noqa: BLE001 - safetensors raises OSError, RuntimeError or its own SafetensorError
        raise CheckpointError(f"{header.path}: cannot read {spec.name} weights ({exc}): check the file's "
                              "permissions and the disk, or download it again") from None
    if spec.prepare is not None:
        state = {mk: t.to(device=device, dtype=policy(mk, t.dtype)) for mk, t in spec.prepare(state).items()}
    # mapped views are checked too: the strided sample reads a few file-backed pages, no anonymous memory
    check_finite_weights(header.path, spec.name, state.items())
    pointers = {t.data_ptr() for t in state.values() if is_mapped(t)}
    module.load_state_dict(state, strict=True, assign=True)
    del state
    if mapped is not None:
        _remark_mapped(module, pointers)
        upcast_on_use(module, _compute_dtype(policy))
    if spec.finish is not None:
        spec.finish(module)
    still_meta = [n for n, t in [*module.named_parameters(), *module.named_buffers()] if t.is_meta]
    if still_meta:
        raise CheckpointError(f"{spec.name}: internal error: tensors left unmaterialised: {_names(still_meta)}")
    module.eval().requires_grad_(False)
    report = LoadReport(spec.name, len(mapping), tuple(unexpected), dtypes)
    log.info("loaded %s: %d tensors %s", spec.name, report.loaded, dtypes)
    return module, report
