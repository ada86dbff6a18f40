"""Golden checks: compare the runtime against numbers computed by Lightricks' reference implementation.

A golden set is a directory laid out like `shared/fixtures/ltx23_tiny/` (see its README.md):
`checkpoint.safetensors`, `spatial_upscaler_x2.safetensors`, `text_encoder/`, `golden.safetensors`; or,
for LTX-2.5, like `shared/fixtures/ltx25_tiny/`: split component files named by the golden's
`settings["files"]` (role -> relative path) next to `golden.safetensors`. Either way the set is opened as
a `families.ModelFiles`, and each component is loaded from the file and config that model says.
Every run parameter comes from the checkpoint's embedded config and the golden file's `settings`
metadata, every tolerance from its `tolerances` metadata: nothing here knows set A's numbers.

Each section module (`text`, `transformer`, `video_vae`, `audio`, `upsampler`, `schedules`, `e2e`,
`guided`, `lora` (which reads `golden_conditioning.safetensors` itself)) exposes `run(ctx: GoldenContext) -> list[Comparison]`;
`goldens.sections` lists them (real functions, imported explicitly) and runs every file of a set.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import safe_open

from model_runtime.checkpoints import read_header
from model_runtime.errors import CheckpointError
from model_runtime.loading import ComponentSpec, load_component


def golden_files(root: str | Path) -> list[str]:
    """Every `golden*.safetensors` of a set, the plain `golden.safetensors` first."""
    names = sorted(p.name for p in Path(root).glob("golden*.safetensors"))
    return sorted(names, key=lambda n: n != "golden.safetensors")

# uint8 frames: the README's rule "may differ by 1 on at most 0.5% of values"
UINT8_MAX_LSB = 1
UINT8_MAX_FRACTION = 0.005


@dataclass(frozen=True)
class Comparison:
    name: str
    max_abs_error: float
    tolerance: float | str  # a number, or "exact"
    passed: bool
    detail: str = ""
    checked: bool = True  # False: reported, deliberately not compared here (the detail says why)


@dataclass
class GoldenContext:
    """One golden directory: its tensors, metadata, and lazily loaded components (loaded once, strictly)."""

    root: Path
    strict: bool = True
    dtype: torch.dtype = torch.float32
    device: str = "cpu"  # the end-to-end section runs its engine here (benchmarks/gpu_acceptance.py: cuda)
    _tensors: dict[str, torch.Tensor] = field(default_factory=dict, repr=False)
    _modules: dict[str, torch.nn.Module] = field(default_factory=dict, repr=False)
    metadata: dict[str, str] = field(default_factory=dict)

    file: str = "golden.safetensors"

    @classmethod
    def open(cls, root: str | Path, *, strict: bool = True, file: str = "golden.safetensors",
             share: GoldenContext | None = None) -> GoldenContext:
        """The golden file `file` of the set at `root`; `share`: reuse another file's loaded components."""
        root = Path(root)
        golden = root / file
        if not golden.is_file():
            raise CheckpointError(f"{root}: no {file}: not a golden set directory")
        header = read_header(golden)
        ctx = cls(root=root, strict=strict, metadata=dict(header.metadata), file=file)
        if share is not None:
            ctx._modules = share._modules
        with safe_open(str(golden), framework="pt", device="cpu") as fh:
            for k in fh.keys():
                ctx._tensors[k] = fh.get_tensor(k)
        return ctx

    # --- files -------------------------------------------------------------------------------
    @property
    def checkpoint_path(self) -> Path:
        return self.root / "checkpoint.safetensors"

    @property
    def upsampler_path(self) -> Path:
        return self.root / "spatial_upscaler_x2.safetensors"

    @property
    def text_encoder_dir(self) -> Path:
        return self.root / "text_encoder"

    @property
    def files(self):
        """The set's model files (`families.ModelFiles`), identified from their headers."""
        if "files" not in self._modules:
            from model_runtime.families import ModelFiles

            split = self.settings.get("files")
            if isinstance(split, dict) and "transformer" in split:
                paths = {role: self.root / rel for role, rel in split.items()}
                self._modules["files"] = ModelFiles.split(  # type: ignore[assignment]
                    paths["transformer"], text_encoder=paths.get("text_encoder"), video_vae=paths.get("video_vae"),
                    video_vae_conv=paths.get("video_vae_conv"), audio_vae=paths.get("audio_vae"),
                    upsampler=paths.get("spatial_upscaler"), duration_head=paths.get("duration_head"))
            else:
                self._modules["files"] = ModelFiles.single(  # type: ignore[assignment]
                    self.checkpoint_path, self.upsampler_path if self.upsampler_path.is_file() else None,
                    self.text_encoder_dir if self.text_encoder_dir.is_dir() else None)
        return self._modules["files"]

    # --- metadata ----------------------------------------------------------------------------
    @property
    def settings(self) -> dict:
        return json.loads(self.metadata.get("settings", "{}"))

    @property
    def tolerances(self) -> dict[str, float | str]:
        return json.loads(self.metadata.get("tolerances", "{}"))

    @property
    def prompt(self) -> str:
        return self.metadata["prompt"]

    @property
    def negative_prompt(self) -> str:
        return self.metadata.get("negative_prompt", "")

    @property
    def config(self) -> dict:
        return self.files.config

    # --- tensors -----------------------------------------------------------------------------
    def has(self, name: str) -> bool:
        return name in self._tensors

    def names(self, prefix: str = "") -> list[str]:
        return sorted(k for k in self._tensors if k.startswith(prefix))

    def tensor(self, name: str) -> torch.Tensor:
        """A golden tensor; float16 inputs are returned as float32 (the values the reference used)."""
        t = self._tensors[name]
        return t.float() if t.dtype in (torch.float16, torch.bfloat16) else t

    def module(self, spec: ComponentSpec, path: Path | None = None, config: dict | None = None) -> torch.nn.Module:
        """Load a component once with the production loader (strict in golden checks), from the file and
        config the set's `ModelFiles` assigns to it unless `path` / `config` say otherwise."""
        path = path or self.files.file_for(spec.name).path
        key = f"{spec.name}@{path}"
        if key not in self._modules:
            if config is None:
                config = self.files.config_for(spec.name)
            mod, _ = load_component(path, spec, config, dtype=self.dtype, strict=self.strict)
            self._modules[key] = mod
        return self._modules[key]

    def cached(self, key: str, factory):
        """Cache anything expensive shared between sections (e.g. a loaded Gemma)."""
        if key not in self._modules:
            self._modules[key] = factory()
        return self._modules[key]

    # --- comparisons -------------------------------------------------------------------------
    def compare(self, name: str, actual: torch.Tensor, *, golden: str | None = None) -> Comparison:
        """Compare `actual` to golden tensor `golden or name` with the tolerance from the metadata."""
        ref_name = golden or name
        ref = self._tensors[ref_name]
        tol = self.tolerances.get(ref_name)
        if tol is None or tol == "input":
            raise KeyError(f"golden {ref_name!r} has no comparison tolerance ({tol!r})")
        actual = actual.detach().to("cpu")
        if tuple(actual.shape) != tuple(ref.shape):
            return Comparison(name, float("inf"), tol, False, f"shape {tuple(actual.shape)} != {tuple(ref.shape)}")
        if tol == "exact":
            err = (actual.to(torch.float64) - ref.to(torch.float64)).abs().max().item() if ref.numel() else 0.0
            return Comparison(name, err, "exact", err == 0.0)
        err = (actual.to(torch.float64) - ref.to(torch.float64)).abs().max().item() if ref.numel() else 0.0
        return Comparison(name, err, float(tol), bool(err <= float(tol)))


    def compare_all(self, prefix: str, computed: dict[str, torch.Tensor]) -> list[Comparison]:
        """Compare every golden under `prefix` that has a tolerance; one the runtime did not compute fails."""
        results = []
        for name in self.names(prefix):
            if self.tolerances.get(name, "input") == "input":
                continue
            if name in computed and self.tolerances[name] == "uint8":
                results.append(compare_uint8_frames(name, computed[name], self._tensors[name]))
            elif name in computed:
                results.append(self.compare(name, computed[name]))
            else:
                results.append(Comparison(name, float("inf"), self.tolerances[name], False, "not computed by the runtime"))
        return results


def compare_uint8_frames(name: str, actual: torch.Tensor, reference: torch.Tensor) -> Comparison:
    """uint8 frames may differ by 1 LSB on at most 0.5% of values (the README's rule)."""
    if actual.shape != reference.shape:
        return Comparison(name, float("inf"), "1 LSB on <=0.5%", False, f"shape {tuple(actual.shape)} != {tuple(reference.shape)}")
    diff = (actual.to(torch.int16) - reference.to(torch.int16)).abs()
    worst = int(diff.max().item()) if diff.numel() else 0
    frac = float((diff > 0).float().mean().item()) if diff.numel() else 0.0
    ok = worst <= UINT8_MAX_LSB and frac <= UINT8_MAX_FRACTION
    return Comparison(name, float(worst), "1 LSB on <=0.5%", ok, f"{frac * 100:.3f}% of values differ")
