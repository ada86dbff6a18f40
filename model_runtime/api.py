"""The runtime's only public face: everything the app (and any other caller) may use of `model_runtime`.

    paths = ModelPaths(checkpoint, upsampler, text_encoder_dir)
    runtime = Runtime.open(paths, device, dtype)
    result = yield from runtime.generate(RequestSpec(...), cancel=token)   # events only; returns the result
    write_result(result, "clip.mp4", spec)                                 # one writer, one metadata format

An import-linter contract (pyproject.toml) lets `ltx_studio` import this module and no other of the
runtime, so the seam is one file to read.

Cheap to import on purpose: the app's GUI thread imports it at start-up and must not pay for torch (about
1,700 modules, seconds of GIL-holding C initialisation). The plain-data part (specs, enums, errors, the
cancel token) is imported here; the torch-backed names (`Runtime`, the events, `write_result`, the media
functions) are imported on first attribute access (PEP 562 `__getattr__`), by the explicit import
statements in the loaders below, which the import linter and PyInstaller both see.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from model_runtime.conditioning.items import (
    AudioTrack,
    Conditioning,
    Extend,
    ExtendPlan,
    ImageKeyframe,
    Retake,
    TimeSpan,
    conditioning_problems,
    extend_plan,
)
from model_runtime.cpu_threads import cpu_threads
from model_runtime.errors import (
    CheckpointError,
    GenerationCancelled,
    InvalidRequestError,
    LoraError,
    MediaError,
    RuntimeErrorBase,
    UnsupportedModelError,
)
from model_runtime.loras.spec import STRENGTH_RANGE, LoraSpec
from model_runtime.sampling.control import CancelToken, ProgressEvent, drive
from model_runtime.spec import (
    SIZE_MULTIPLE,
    TEMPORAL_STRIDE,
    Device,
    ModelPaths,
    Pipeline,
    RequestSpec,
    Stage,
)

if TYPE_CHECKING:
    from model_runtime.checkpoints import inspect_checkpoint, inspect_upsampler
    from model_runtime.cluster.client import Cluster, save_result
    from model_runtime.cluster.protocol import (
        ClusterError,
        RemoteJob,
        RemoteResult,
        VersionSkewError,
        WorkerInfo,
        WorkerModel,
        backend_address,
    )
    from model_runtime.demo import ensure_demo_model
    from model_runtime.families import ROLE_TEXT as MODEL_FILE_ROLES
    from model_runtime.families import ComponentFile, ModelFiles
    from model_runtime.families import identify as identify_model_file
    from model_runtime.hub.adopt import adopt, scan_everywhere
    from model_runtime.hub.auth import find_token, store_token
    from model_runtime.hub.catalogue import Catalogue, load_catalogue
    from model_runtime.hub.errors import DownloadCancelled, DownloadPaused, TokenStoreError
    from model_runtime.hub.overview import ItemRow, overview, ready_paths
    from model_runtime.hub.recommend import recommend
    from model_runtime.hub.store import ModelStore, default_models_dir
    from model_runtime.hub.transfer import DownloadControl, FileProgress, FileState, ItemDownload
    from model_runtime.loras.library import LibraryEntry, format_size
    from model_runtime.loras.library import scan_folder as scan_lora_folder
    from model_runtime.media.export import ExportCancelled, export
    from model_runtime.media.export_presets import ExportPreset, list_presets
    from model_runtime.media.mux import read_metadata, video_settings
    from model_runtime.media.probe import probe, thumbnails, waveform_peaks
    from model_runtime.media.result import (
        atomic_write,
        encode_preset,
        read_request,
        write_latents,
        write_result,
    )
    from model_runtime.media.video_encode import EarlyVideoEncode
    from model_runtime.memory.machine import MachineInfo
    from model_runtime.memory.plan import Machine
    from model_runtime.models.duration_head import DurationBounds, DurationPrediction
    from model_runtime.pipelines.types import (
        GenerationRequest,
        GenerationResult,
        NoticeEvent,
        PreviewEvent,
        StageLatents,
    )
    from model_runtime.runtime import Runtime

__all__ = [
    "AudioTrack", "Conditioning", "Extend", "ExtendPlan", "ImageKeyframe", "Retake", "TimeSpan",
    "conditioning_problems", "extend_plan",
    "SIZE_MULTIPLE", "STRENGTH_RANGE", "TEMPORAL_STRIDE", "LibraryEntry", "LoraSpec", "format_size",
    "scan_lora_folder", "CancelToken", "CheckpointError", "Device", "ExportCancelled", "ExportPreset",
    "GenerationCancelled", "GenerationRequest", "GenerationResult", "InvalidRequestError", "LoraError", "MediaError",
    "Machine", "MachineInfo", "ModelPaths", "NoticeEvent", "Pipeline", "PreviewEvent", "ProgressEvent", "RequestSpec", "Runtime",
    "RuntimeErrorBase", "Stage", "StageLatents", "UnsupportedModelError", "atomic_write", "ensure_demo_model",
    "cpu_threads", "export", "inspect_checkpoint", "inspect_upsampler", "list_presets", "pick_device", "demo_model_paths", "detect_machine", "plan_line", "plan_machine", "probe",
    "read_metadata", "read_request", "thumbnails", "warm_up", "waveform_peaks", "write_latents", "write_result",
    "EarlyVideoEncode", "encode_preset", "video_settings",  # the H.264 encode started while the audio decodes
    # model families (LTX-2.3 single file, LTX-2.5 split files) and LTX-2.5's auto duration / decoders
    "ComponentFile", "DurationBounds", "DurationPrediction", "MODEL_FILE_ROLES", "ModelFiles", "decoder_seconds",
    "identify_model_file",
    # render on a Ray cluster (model_runtime.cluster; Ray itself only when a cluster is connected)
    "Cluster", "ClusterError", "RemoteJob", "RemoteResult", "VersionSkewError", "WorkerInfo", "WorkerModel",
    "backend_address", "drive", "save_result",
    # model downloads (model_runtime.hub)
    "Catalogue", "DownloadCancelled", "DownloadControl", "DownloadPaused", "FileProgress", "FileState", "ItemDownload",
    "ItemRow", "ModelStore", "TokenStoreError", "adopt", "default_models_dir", "find_token",
    "load_catalogue", "overview", "ready_paths", "recommend", "scan_everywhere", "store_token",
]


def _generation() -> dict[str, Any]:
    from model_runtime.pipelines.types import (
        GenerationRequest,
        GenerationResult,
        NoticeEvent,
        PreviewEvent,
        StageLatents,
    )
    from model_runtime.runtime import Runtime

    return {"Runtime": Runtime, "GenerationRequest": GenerationRequest, "GenerationResult": GenerationResult,
            "NoticeEvent": NoticeEvent, "PreviewEvent": PreviewEvent, "StageLatents": StageLatents}


def _files() -> dict[str, Any]:
    from model_runtime.checkpoints import inspect_checkpoint, inspect_upsampler
    from model_runtime.media.mux import read_metadata, video_settings
    from model_runtime.media.result import (
        atomic_write,
        encode_preset,
        read_request,
        write_latents,
        write_result,
    )
    from model_runtime.media.video_encode import EarlyVideoEncode

    return {"inspect_checkpoint": inspect_checkpoint, "inspect_upsampler": inspect_upsampler,
            "read_metadata": read_metadata, "atomic_write": atomic_write,
            "read_request": read_request, "write_latents": write_latents, "write_result": write_result,
            "EarlyVideoEncode": EarlyVideoEncode, "video_settings": video_settings,
            "encode_preset": encode_preset}


def _demo() -> dict[str, Any]:
    """The built-in demo model's builder (its own group: a job on given files never imports it)."""
    from model_runtime.demo import ensure_demo_model

    return {"ensure_demo_model": ensure_demo_model}


def _families() -> dict[str, Any]:
    """Which family and component a model file is, from its header (no torch)."""
    from model_runtime.families import ROLE_TEXT, ComponentFile, ModelFiles, identify

    return {"identify_model_file": identify, "MODEL_FILE_ROLES": ROLE_TEXT, "ComponentFile": ComponentFile,
            "ModelFiles": ModelFiles}


def _duration() -> dict[str, Any]:
    """LTX-2.5 auto duration's bounds and prediction (imports torch: worker thread only)."""
    from model_runtime.models.duration_head import DurationBounds, DurationPrediction

    return {"DurationBounds": DurationBounds, "DurationPrediction": DurationPrediction}


def _cluster() -> dict[str, Any]:
    """The Ray render backend's client side: torch-free; Ray is imported by `Cluster.connect` only."""
    from model_runtime.cluster.client import Cluster, save_result
    from model_runtime.cluster.protocol import (
        ClusterError,
        RemoteJob,
        RemoteResult,
        VersionSkewError,
        WorkerInfo,
        WorkerModel,
        backend_address,
    )

    return {"Cluster": Cluster, "save_result": save_result, "ClusterError": ClusterError, "RemoteJob": RemoteJob,
            "RemoteResult": RemoteResult, "VersionSkewError": VersionSkewError, "WorkerInfo": WorkerInfo,
            "WorkerModel": WorkerModel, "backend_address": backend_address}


def _media() -> dict[str, Any]:
    from model_runtime.media.export import ExportCancelled, export
    from model_runtime.media.export_presets import ExportPreset, list_presets
    from model_runtime.media.probe import probe, thumbnails, waveform_peaks

    return {"ExportCancelled": ExportCancelled, "export": export, "ExportPreset": ExportPreset,
            "list_presets": list_presets, "probe": probe, "thumbnails": thumbnails, "waveform_peaks": waveform_peaks}


def _machine() -> dict[str, Any]:
    from model_runtime.memory.machine import MachineInfo
    from model_runtime.memory.plan import Machine

    return {"Machine": Machine, "MachineInfo": MachineInfo}


def _loras() -> dict[str, Any]:
    from model_runtime.loras.library import LibraryEntry, format_size, scan_folder

    return {"LibraryEntry": LibraryEntry, "format_size": format_size, "scan_lora_folder": scan_folder}


def _hub() -> dict[str, Any]:
    """Model downloads, adoption and verification (model_runtime.hub): no torch, huggingface_hub on use."""
    from model_runtime.hub.adopt import adopt, scan_everywhere
    from model_runtime.hub.auth import find_token, store_token
    from model_runtime.hub.catalogue import Catalogue, load_catalogue
    from model_runtime.hub.errors import DownloadCancelled, DownloadPaused, TokenStoreError
    from model_runtime.hub.overview import ItemRow, overview, ready_paths
    from model_runtime.hub.recommend import recommend
    from model_runtime.hub.store import ModelStore, default_models_dir
    from model_runtime.hub.transfer import DownloadControl, FileProgress, FileState, ItemDownload

    return {"adopt": adopt, "scan_everywhere": scan_everywhere, "find_token": find_token,
            "store_token": store_token, "Catalogue": Catalogue, "load_catalogue": load_catalogue,
            "DownloadCancelled": DownloadCancelled, "DownloadPaused": DownloadPaused,
            "TokenStoreError": TokenStoreError, "ItemRow": ItemRow,
            "overview": overview, "ready_paths": ready_paths, "recommend": recommend, "ModelStore": ModelStore,
            "default_models_dir": default_models_dir, "DownloadControl": DownloadControl,
            "FileProgress": FileProgress, "FileState": FileState, "ItemDownload": ItemDownload}


#: model downloads, adoption and verification (model_runtime.hub), for the Models page
_HUB_NAMES = ("adopt", "scan_everywhere", "find_token", "store_token", "Catalogue", "load_catalogue",
             "DownloadCancelled", "DownloadPaused", "TokenStoreError", "ItemRow", "overview",
             "ready_paths", "recommend", "ModelStore", "default_models_dir", "DownloadControl", "FileProgress",
             "FileState", "ItemDownload")


#: lazily imported name -> the loader that imports it (with the names that come along)
_LOADERS: dict[str, Callable[[], dict[str, Any]]] = {
    **dict.fromkeys(("Runtime", "GenerationRequest", "GenerationResult", "NoticeEvent", "PreviewEvent",
                     "StageLatents"), _generation),
    "ensure_demo_model": _demo,
    **dict.fromkeys(("inspect_checkpoint", "inspect_upsampler", "read_metadata",
                     "atomic_write", "read_request", "write_latents", "write_result", "EarlyVideoEncode",
                     "video_settings", "encode_preset"), _files),
    **dict.fromkeys(("Machine", "MachineInfo"), _machine),
    **dict.fromkeys(("LibraryEntry", "format_size", "scan_lora_folder"), _loras),
    **dict.fromkeys(("ExportCancelled", "export", "ExportPreset", "list_presets", "probe", "thumbnails",
                     "waveform_peaks"), _media),
    **dict.fromkeys(_HUB_NAMES, _hub),
    **dict.fromkeys(("identify_model_file", "MODEL_FILE_ROLES", "ComponentFile", "ModelFiles"), _families),
    **dict.fromkeys(("DurationBounds", "DurationPrediction"), _duration),
    **dict.fromkeys(("Cluster", "save_result", "ClusterError", "RemoteJob", "RemoteResult", "VersionSkewError",
                     "WorkerInfo", "WorkerModel", "backend_address"), _cluster),
}


def __getattr__(name: str) -> Any:
    loader = _LOADERS.get(name)
    if loader is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    names = loader()
    globals().update(names)  # later lookups are plain module attributes
    return names[name]


def detect_machine(device: str = "auto", use_torch: bool = False) -> MachineInfo:
    """This machine (`MachineInfo`: device, name, total and free memories), the one detection every path
    uses. Its `capacity()` is what the Models page recommends files for and the fit advice reads; its
    `jobs()` is what a job is planned for. Without `use_torch` nothing imports torch (`nvidia-smi`
    answers for NVIDIA cards), so the GUI thread may call it."""
    from model_runtime.memory.machine import detect

    return detect(device, use_torch)


def plan_machine(device: str = "auto", vram_gb: float | None = None, ram_gb: float | None = None) -> Machine:
    """The machine jobs are planned for (`Machine`): the device's free VRAM and the available RAM, each
    replaced by an override when given. Torch is imported only to ask an accelerator."""
    from model_runtime.memory.machine import detect

    return detect(device).jobs(vram_gb, ram_gb)


def demo_model_paths(root: Path) -> ModelPaths:
    """The demo model's files under `root` (built there by `ensure_demo_model`)."""
    from model_runtime.demo import demo_paths

    return demo_paths(Path(root)).model_paths()


def plan_line(paths: ModelPaths, width: int, height: int, frames: int, fps: float, stage: str, machine) -> str:
    """One line for a job before it runs: memory strategy, predicted peak VRAM and RAM, predicted time, or
    why it does not fit with the nearest format that would. Headers only, no torch: cheap enough to call
    on every format change from the GUI thread."""
    from model_runtime.memory.job_plan import plan_line as line
    from model_runtime.memory.plan import RequestShape

    return line(paths, RequestShape(width, height, frames, fps, stage=str(stage)), machine)


def decoder_seconds(paths: ModelPaths, width: int, height: int, frames: int, fps: float, stage: str,
                    machine) -> dict[str, float]:
    """LTX-2.5's video decoders' predicted decode time for a job ("conv" = Fast, "diffusion" = Sharp; only
    those the files provide), from the memory planner's FLOP estimates on `machine`'s throughput. Headers
    only, no torch: the app calls it from the GUI thread on every format change."""
    from model_runtime.memory.job_plan import decoder_seconds as seconds
    from model_runtime.memory.plan import RequestShape

    return seconds(paths, RequestShape(width, height, frames, fps, stage=str(stage)), machine)


def pick_device() -> tuple[Device, Any]:
    """CUDA (bf16) > Apple MPS (bf16) > CPU (float32: bf16 matmuls are slow and inexact on most CPUs)."""
    import torch

    if torch.cuda.is_available():
        return Device.CUDA, torch.bfloat16
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return Device.MPS, torch.bfloat16
    return Device.CPU, torch.float32


def warm_up(stop: Callable[[], bool] = lambda: False, after_step: Callable[[], None] = lambda: None) -> bool:
    """Import what a first job would import (torch, every runtime module a job uses, the Gemma / LTX-2
    classes of transformers and diffusers) ahead of that job; loads no weights. `stop` is polled between
    imports so a closing app is not held up (`after_step` runs after each import group); returns False
    when it stopped early.

    Why: import-time C-extension initialisation holds the GIL for long stretches; done before a job, on a
    worker thread, it does not freeze a UI during the job. A failed import only costs a debug line: the
    job then imports (and reports) it itself.
    """
    from model_runtime.warm import run_steps

    if not run_steps(stop, after_step):
        return False
    pick_device()
    return True
