"""What the app side and a worker actor send each other: plain frozen dataclasses (no torch, no Ray).

Why plain data: the two ends may be different installs on different machines. Everything here pickles
without the runtime's heavy modules, a job is described by its `RequestSpec` as a dict (the same JSON
form a job record or an MP4's metadata carries), and the worker's version travels with every answer so
a mismatch is refused with both versions named instead of failing somewhere inside a pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from model_runtime import errors
from model_runtime.errors import RuntimeErrorBase
from model_runtime.spec import ModelPaths

#: the custom Ray resource a worker machine advertises, one unit per GPU (`ray start --resources`)
WORKER_RESOURCE = "ltx_worker"
#: Ray namespace of the named worker actors, so every client of a cluster finds the same workers
NAMESPACE = "ltx-studio"
#: the port `ray start --head` serves Ray Client connections on by default
CLIENT_PORT = 10001
LOCAL = "local"
AUTO = "auto"


class ClusterError(RuntimeErrorBase):
    """The cluster cannot be reached or was lost, or no worker can take the job (one line, says what to do)."""


class VersionSkewError(ClusterError):
    """A worker runs another LTX Studio version than the app: refused, both versions named."""


def check_version(worker_name: str, worker_version: str, app_version: str) -> None:
    if worker_version != app_version:
        raise VersionSkewError(f"worker {worker_name} runs LTX Studio {worker_version} but this app is "
                               f"{app_version}: install the same version on both machines")


def backend_address(text: str) -> str | None:
    """The Ray Client address of a `--backend` value: None for "local", `ray://127.0.0.1:10001` for "auto"
    (a cluster started on this machine), `ray://host:port` as given. Why always Ray Client (never a driver
    inside the cluster): a driver process is ended by Ray when its node's raylet dies, and the app must
    survive a lost cluster; a client only sees its connection drop."""
    value = text.strip()
    if value == LOCAL:
        return None
    if value == AUTO:
        return f"ray://127.0.0.1:{CLIENT_PORT}"
    host, sep, port = value.removeprefix("ray://").rpartition(":")
    if not value.startswith("ray://") or not sep or not host or not port.isdigit():
        raise errors.InvalidRequestError(f"backend {text!r}: write local, auto or ray://HOST:PORT "
                                         f"(the head's Ray Client port, {CLIENT_PORT} by default)")
    return value


@dataclass(frozen=True)
class WorkerModel:
    """Which model a job needs: the built-in demo model (built in the worker's own cache folder) or files.

    File paths are tried as given (a shared path), then by file name in the worker machine's models
    folder, so a laptop and a GPU box with different folders run the same job."""

    demo: bool = False
    paths: ModelPaths | None = None

    @property
    def key(self) -> str:
        """What identifies the loaded model (a worker keeps the model of its last job)."""
        return "demo" if self.demo else repr(self.paths)


@dataclass(frozen=True)
class RemoteJob:
    """One job for a worker: the request as `RequestSpec.to_dict()`, the model, the metadata to embed."""

    job_id: str
    spec: dict[str, Any]
    model: WorkerModel
    app_version: str
    extra: dict[str, Any] = field(default_factory=dict)   # merged into the MP4's metadata (write_result)
    crf: int = 18
    preset: str | None = None           # None: the request's stage's (`encode_preset`), as a local job
    draft_latents: bytes | None = None  # a promoted draft's stage-1 latents file, sent along (safetensors)
    keep_latents: bool = False          # send back the stage-1 latents (a draft the user may promote)
    cpu_threads: int | None = None      # a CPU job's torch threads: the client's local count (`cpu_threads`), so
    #                                     the frames are its local backend's; None: the worker's cpu_threads()


@dataclass(frozen=True)
class WorkerInfo:
    """One worker as the Settings page and `ltx-studio-cli worker` show it."""

    name: str
    node: str
    version: str
    device: str
    gpu: str
    free_vram_gb: float | None
    loaded_model: str
    current_job: str
    model_key: str = ""  # `WorkerModel.key` of the loaded model: a new client sends a job where it is loaded

    def line(self) -> str:
        vram = f", {self.free_vram_gb:.1f} GB free" if self.free_vram_gb is not None else ""
        job = f", running {self.current_job}" if self.current_job else ", idle"
        return (f"{self.name} on {self.node}: {self.gpu or self.device}{vram}, "
                f"{self.loaded_model or 'no model loaded'}{job} (v{self.version})")


class JobState(StrEnum):
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class RemoteResult:
    """A finished job: the MP4 and its settings sidecar as bytes (written by the worker with `write_result`,
    so they carry the same metadata as a local job's), the draft's stage-1
    latents file as bytes when asked, the middle frame (uint8 [H, W, 3] numpy) for a thumbnail, and
    `GenerationResult.settings`."""

    mp4: bytes
    sidecar: bytes
    latents: bytes | None
    middle_frame: Any
    settings: dict[str, Any]
    worker: str
    frames: int
    width: int
    height: int


@dataclass(frozen=True)
class JobUpdate:
    """What a poll returns: the events since the last poll (runtime event dataclasses, previews as numpy),
    the job's state, and at the end the result or the error (its runtime class name and message)."""

    events: tuple[Any, ...]
    state: JobState
    result: RemoteResult | None = None
    error_kind: str = ""
    error: str = ""


def error_from(kind: str, message: str) -> RuntimeErrorBase:
    """The runtime error a worker reported, as the same class here (so the app words it the same way)."""
    cls = getattr(errors, kind, None)
    if isinstance(cls, type) and issubclass(cls, RuntimeErrorBase):
        return cls(message)
    if kind in ("VersionSkewError", "ClusterError"):
        return {"VersionSkewError": VersionSkewError, "ClusterError": ClusterError}[kind](message)
    return RuntimeErrorBase(f"{kind} on the worker: {message}" if kind else message)
