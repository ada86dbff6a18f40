"""The app side of a Ray cluster: connect as a Ray Client, find or start the worker actors, and run jobs
on them with the same generator shape as `Runtime.generate` (events, then the result).

Scheduling (why): jobs from several threads share the workers; each takes any free live worker, first
one that already holds the job's model (a worker keeps the model of its last job), so a draft never
waits behind a long render while another worker is free. Faults: a worker that dies mid-job (its process
killed, its machine gone) is dropped and the job runs again once on another worker, with a NoticeEvent
telling the user; a lost connection to the cluster is a one-line `ClusterError`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from model_runtime import __version__
from model_runtime.cluster.protocol import (
    NAMESPACE,
    WORKER_RESOURCE,
    ClusterError,
    JobState,
    RemoteJob,
    RemoteResult,
    VersionSkewError,
    WorkerInfo,
    check_version,
    error_from,
)
from model_runtime.errors import GenerationCancelled
from model_runtime.sampling.control import CancelToken

log = logging.getLogger(__name__)

POLL_WAIT_S = 0.2        # a worker answers a poll as soon as an event is ready, or after this
CALL_TIMEOUT_S = 60.0    # a worker that does not answer a poll within this is treated as lost
START_TIMEOUT_S = 120.0  # a new actor starts a Python process and imports the runtime first
ACTOR_CONCURRENCY = 4
CONNECT_ATTEMPTS = 3     # Ray Client's own retries cover the socket, not a server that failed to start    # start/poll/cancel/info are served while a job runs on its own thread
INSTALL_HINT = "the Ray backend needs the cluster extra: pip install 'ltx-studio[cluster]' (or use the local backend)"


def import_ray():
    """Ray, imported on first use only (it is an optional extra)."""
    try:
        import ray
    except ImportError:
        raise ClusterError(INSTALL_HINT) from None
    return ray


class WorkerLost(ClusterError):  # noqa: N818 - reads as what happened
    """The worker's process or machine went away mid-job."""


@dataclass
class _Slot:
    name: str
    handle: Any
    busy: bool = False
    alive: bool = True
    model_key: str = ""
    job_id: str = ""


class Cluster:
    """A connected Ray cluster and its LTX Studio workers. Thread-safe: `run` may be called from one thread
    per concurrent job."""

    def __init__(self, address: str, ray: Any, slots: list[_Slot], app_version: str) -> None:
        self.address = address
        self._ray = ray
        self._slots = slots
        self.app_version = app_version
        self._cond = threading.Condition()

    @classmethod
    def connect(cls, address: str, *, app_version: str = __version__, cache_dir: str = "",
                models_dir: str = "") -> Cluster:
        """Connect to `address` (`ray://host:port`) and start (or find) one worker actor per unit of the
        `ltx_worker` resource. Workers of another version are left out; none left is a VersionSkewError."""
        ray = import_ray()
        _check_reachable(address)
        for attempt in range(1, CONNECT_ATTEMPTS + 1):
            try:
                if ray.is_initialized():
                    ray.shutdown()
                ray.init(address, namespace=NAMESPACE, log_to_driver=False)
                count = int(ray.cluster_resources().get(WORKER_RESOURCE, 0))
                break
            except Exception as exc:  # noqa: BLE001 - Ray reports a failed connection with many exception types
                # a busy head may fail to start this client's server process in time: try again
                log.warning("connecting to %s (attempt %d): %s", address, attempt, _first_line(exc))
                if attempt == CONNECT_ATTEMPTS:
                    raise ClusterError(f"cannot connect to the Ray cluster at {address}: {_first_line(exc)} (is "
                                       "`ray start --head` running there? or switch the render backend to local)"
                                       ) from None
                time.sleep(2.0 * attempt)
        if count == 0:
            ray.shutdown()
            raise ClusterError(f"the Ray cluster at {address} has no LTX Studio workers: run `ltx-studio-cli "
                               "worker` on a GPU machine and the `ray start` line it prints")
        slots = [_Slot(name, _actor(ray, name, cache_dir, models_dir))
                 for name in (f"ltx-worker-{i}" for i in range(count))]
        cluster = cls(address, ray, slots, app_version)
        try:
            cluster._check_versions()
        except BaseException:
            cluster.close()
            raise
        return cluster

    def _check_versions(self) -> None:
        """Every worker's version against this app's (and which model each one already holds)."""
        refused: list[str] = []
        for slot in self._slots:
            # a plain string first: another version's WorkerInfo may not even unpickle here
            version = self._ray.get(slot.handle.version.remote(), timeout=START_TIMEOUT_S)
            try:
                check_version(slot.name, version, self.app_version)
            except VersionSkewError as exc:
                slot.alive = False
                refused.append(str(exc))
                log.warning("%s", exc)
                continue
            # a worker that kept a model from an earlier client gets the jobs for it first
            slot.model_key = self._ray.get(slot.handle.info.remote(), timeout=START_TIMEOUT_S).model_key
        if refused and not any(s.alive for s in self._slots):
            raise VersionSkewError("; ".join(refused))

    @property
    def capacity(self) -> int:
        """How many jobs can run at once (live workers)."""
        return sum(s.alive for s in self._slots)

    def assignments(self) -> dict[str, str]:
        """Job id -> the worker running it now (no network call)."""
        with self._cond:
            return {s.job_id: s.name for s in self._slots if s.busy}

    def workers(self, timeout_s: float = 5.0) -> list[WorkerInfo]:
        """Each live worker's facts (GPU, free VRAM, loaded model, current job); a silent one is skipped."""
        out = []
        for slot in [s for s in self._slots if s.alive]:
            try:
                out.append(self._ray.get(slot.handle.info.remote(), timeout=timeout_s))
            except Exception as exc:  # noqa: BLE001 - the listing must not fail because one worker is slow
                log.info("worker %s did not answer: %s", slot.name, _first_line(exc))
        return out

    def run(self, job: RemoteJob, cancel: CancelToken | None = None) -> Generator[Any, None, RemoteResult]:
        """Run `job` on a free worker: yields the runtime's events, returns the RemoteResult. A worker lost
        mid-job: one NoticeEvent and a second run on another worker; lost again, or the cluster lost: a
        ClusterError. A cancel raises GenerationCancelled, waiting or running."""
        from model_runtime.pipelines.types import NoticeEvent

        tried: set[str] = set()
        while True:
            slot = self._acquire(job, tried, cancel)
            try:
                return (yield from self._run_on(slot, job, cancel))
            except WorkerLost as lost:
                tried.add(slot.name)
                if len(tried) > 1:
                    raise ClusterError(f"{lost}; it was already re-run once, so it stops here (queue it again "
                                       "or switch the render backend to local)") from None
                log.warning("%s: re-queued once", lost)
                yield NoticeEvent(f"{lost}: running the job again on another worker")
            finally:
                with self._cond:
                    slot.busy, slot.job_id = False, ""
                    self._cond.notify_all()

    def _acquire(self, job: RemoteJob, tried: set[str], cancel: CancelToken | None) -> _Slot:
        with self._cond:
            while True:
                if cancel is not None:
                    cancel.raise_if_cancelled()
                live = [s for s in self._slots if s.alive and s.name not in tried]
                if not live:
                    raise ClusterError(f"no LTX Studio worker is left in the cluster at {self.address} "
                                       "(switch the render backend to local, or restart the workers)")
                free = [s for s in live if not s.busy]
                if free:
                    slot = next((s for s in free if s.model_key == job.model.key), free[0])
                    slot.busy, slot.job_id = True, job.job_id
                    return slot
                self._cond.wait(POLL_WAIT_S)

    def _run_on(self, slot: _Slot, job: RemoteJob, cancel: CancelToken | None
                ) -> Generator[Any, None, RemoteResult]:
        ray = self._ray
        try:
            ray.get(slot.handle.start.remote(job), timeout=START_TIMEOUT_S)
            told = False
            while True:
                if cancel is not None and cancel.cancelled and not told:
                    slot.handle.cancel.remote(job.job_id, cancel.reason)
                    told = True
                update = ray.get(slot.handle.poll.remote(job.job_id, POLL_WAIT_S), timeout=CALL_TIMEOUT_S)
                yield from update.events
                if update.state == JobState.RUNNING:
                    continue
                slot.model_key = job.model.key
                if update.state == JobState.DONE:
                    return update.result
                if update.state == JobState.CANCELLED:
                    raise GenerationCancelled(update.error)
                raise error_from(update.error_kind, update.error)
        except (GeneratorExit, KeyboardInterrupt):  # the caller stopped listening: stop the job there too
            slot.handle.cancel.remote(job.job_id, "the client went away")
            raise
        except ray.exceptions.RayActorError as exc:
            slot.alive = False
            raise WorkerLost(f"worker {slot.name} stopped mid-job ({_first_line(exc)[:120]})") from None
        except ray.exceptions.RayTaskError as exc:  # the worker refused (another version, busy): its error
            raise _remote_error(exc) from None
        except (GenerationCancelled, ClusterError):
            raise
        except (ray.exceptions.RayError, ConnectionError, OSError, TimeoutError) as exc:
            raise self._lost(exc) from None

    def _lost(self, exc: BaseException) -> ClusterError:
        return ClusterError(f"lost the Ray cluster at {self.address} mid-job ({_first_line(exc)[:160]}): "
                            "waiting jobs stay queued; switch the render backend to local or restart the cluster")

    def close(self) -> None:
        """Disconnect (the workers stay up on their machines, with their models loaded)."""
        try:
            self._ray.shutdown()
        except Exception as exc:  # noqa: BLE001 - closing a dead connection must not fail the caller
            log.info("ray shutdown: %s", _first_line(exc))


def _check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """A plain TCP connect first: Ray Client retries an unreachable address for ~30 s before it gives up,
    a refused or silent port is known in milliseconds (or `timeout_s`)."""
    import socket

    host, _, port = address.removeprefix("ray://").rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout_s):
            pass
    except (OSError, ValueError) as exc:
        raise ClusterError(f"cannot reach the Ray cluster at {address}: {_first_line(exc)} (is `ray start --head` "
                           "running there, and its Ray Client port open? or switch the render backend to local)"
                           ) from None


def _actor(ray: Any, name: str, cache_dir: str, models_dir: str):
    """The named worker actor `name`, started if it is not running (detached: it outlives this client and
    keeps its model loaded for the next one). One GPU per worker when the cluster has them."""
    from model_runtime.cluster.worker import RenderWorker

    resources = ray.cluster_resources()
    gpus = 1 if resources.get("GPU", 0) >= resources.get(WORKER_RESOURCE, 0) > 0 else 0
    return ray.remote(RenderWorker).options(
        name=name, namespace=NAMESPACE, get_if_exists=True, lifetime="detached", max_restarts=0,
        max_concurrency=ACTOR_CONCURRENCY, num_cpus=1, num_gpus=gpus, resources={WORKER_RESOURCE: 1},
    ).remote(name, cache_dir, models_dir)


def _remote_error(exc: Any) -> Exception:
    """The error a worker's method raised, as the same class here (not Ray's wrapper with its traceback)."""
    from model_runtime.errors import RuntimeErrorBase

    cause = getattr(exc, "cause", None)
    if isinstance(cause, RuntimeErrorBase):
        return type(cause)(*cause.args)
    return error_from(type(cause).__name__ if cause is not None else "", _first_line(cause or exc))


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def save_result(result: RemoteResult, out: Path) -> Path:
    """Write a remote job's MP4 and its sidecar at `out` (each atomically: a reader never sees half)."""
    from model_runtime.media.mux import sidecar_path
    from model_runtime.media.result import atomic_write

    out = Path(out)
    atomic_write(sidecar_path(out), lambda tmp: tmp.write_bytes(result.sidecar))
    return atomic_write(out, lambda tmp: tmp.write_bytes(result.mp4))


def wait_until_ready(address: str, timeout_s: float = 60.0) -> Cluster:
    """Connect, retrying until `timeout_s` (a head that is still starting)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return Cluster.connect(address)
        except VersionSkewError:
            raise
        except ClusterError:
            if time.monotonic() > deadline:
                raise
            time.sleep(1.0)
