"""The Ray render backend on a real single-machine Ray cluster: two CPU worker actors, the demo model.

No Ray mocks: `LocalHead` runs `ray start --head --block` in a temp dir, this test process connects as a
Ray Client (as the app does), and the faults are real (a worker process SIGKILLed, the head stopped).
One cluster for the session (`ray_head` in tests/conftest.py); the tests that break it run last, in file
order: the SIGKILL test leaves one worker, the stop test ends the cluster.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import numpy as np
import pytest

ray = pytest.importorskip("ray", reason="Ray is an optional extra: pip install '.[cluster]' to run these tests")

import model_runtime.api as api  # noqa: E402
from model_runtime import __version__  # noqa: E402
from model_runtime.cluster.client import Cluster, save_result  # noqa: E402
from model_runtime.cluster.protocol import (  # noqa: E402
    NAMESPACE,
    ClusterError,
    RemoteJob,
    VersionSkewError,
    WorkerModel,
    backend_address,
)
from model_runtime.cpu_threads import cpu_threads  # noqa: E402
from model_runtime.sampling.control import drive  # noqa: E402
from tests.events import drain  # noqa: E402
from tests.support.local_run import local_run as _local_run  # noqa: E402
from tests.support.ray_head import REPO  # noqa: E402

pytestmark = pytest.mark.slow

#: tiny drafts: seconds on one CPU thread once the model is loaded
SMALL = {"width": 64, "height": 64, "frames": 9, "fps": 24.0}
#: ~3.5 s after its first denoising step (mostly the decode): a kill at that step lands mid-job
MEDIUM = {"width": 192, "height": 192, "frames": 49, "fps": 24.0}
#: a job whose denoising steps take ~0.75 s each on one CPU thread, so a cancel or a kill lands mid-job
LONG = {"width": 768, "height": 512, "frames": 121, "fps": 24.0}


@pytest.fixture(scope="module")
def head(ray_head, ray_worker_cache):
    return ray_head


@pytest.fixture(scope="module")
def cache(ray_worker_cache) -> Path:
    return ray_worker_cache


@pytest.fixture(scope="module")
def cluster(head, cache):
    c = Cluster.connect(head.address, cache_dir=str(cache))
    yield c
    c.close()


def job(seed: int = 1, size: dict | None = None, **kw) -> RemoteJob:
    spec = api.RequestSpec(prompt="a red fox in the snow", seed=seed, **(size or SMALL))
    return RemoteJob(uuid.uuid4().hex[:8], spec.to_dict(), WorkerModel(demo=True), __version__, **kw)


def timed_run(cluster: Cluster, j: RemoteJob, out: dict) -> None:
    started = time.monotonic()
    events, result = drain(cluster.run(j))
    out[j.job_id] = (started, time.monotonic(), events, result)


def test_two_jobs_run_at_once_on_two_workers(cluster, tmp_path):
    assert cluster.capacity == 2
    jobs, out = [job(seed=1), job(seed=2)], {}
    threads = [threading.Thread(target=timed_run, args=(cluster, j, out)) for j in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    (s1, e1, ev1, r1), (s2, e2, ev2, r2) = out[jobs[0].job_id], out[jobs[1].job_id]
    assert {r1.worker, r2.worker} == {"ltx-worker-0", "ltx-worker-1"}
    assert s2 < e1 and s1 < e2  # overlapping lifetimes: neither waited for the other
    assert any(isinstance(e, api.ProgressEvent) and e.stage == "stage1" for e in ev1 + ev2)
    assert any(isinstance(e, api.PreviewEvent) and isinstance(e.image, np.ndarray) for e in ev1 + ev2)
    for r in (r1, r2):
        path = save_result(r, tmp_path / f"{r.worker}.mp4")
        info = api.probe(path)
        assert (info.frames, info.width, info.height) == (9, 64, 64) and info.has_audio
    infos = {w.name: w for w in cluster.workers()}
    assert {w.loaded_model for w in infos.values()} == {"demo model"} and infos["ltx-worker-0"].device == "cpu"
    assert all(w.version == __version__ and w.current_job == "" for w in infos.values())


def _decoded(path: Path) -> np.ndarray:
    import av

    with av.open(str(path)) as f:
        return np.stack([fr.to_ndarray(format="rgb24") for fr in f.decode(video=0)])


def test_same_seed_same_frames_as_the_local_backend(cluster, cache, tmp_path):
    """Bit-identical on CPU: the raw middle frame and every decoded frame of the MP4. The worker runs a CPU
    job on this machine's `cpu_threads()` (not the one thread Ray gives a 1-CPU actor), as the local run
    does, because float sums split over a different number of threads round differently."""
    j = job(seed=7, keep_latents=True)
    _, remote = drain(cluster.run(j))
    spec = api.RequestSpec.from_dict(j.spec)
    local_mp4 = tmp_path / "local.mp4"
    local_middle = _local_run(cache, spec, local_mp4)
    assert np.array_equal(remote.middle_frame, local_middle)
    remote_mp4 = save_result(remote, tmp_path / "remote.mp4")
    assert np.array_equal(_decoded(remote_mp4), _decoded(local_mp4))
    assert api.read_request(remote_mp4) == api.read_request(local_mp4) == spec
    assert remote.latents is not None and len(remote.latents) > 0


def test_cli_generate_on_the_cluster_matches_local(head, cluster, cache, tmp_path):
    """`ltx-studio-cli generate --backend ray://…` (a subprocess: Ray Client is one connection per process)
    against the same command on the local backend: the job carries the CLI's thread count
    (`cpu_threads(ui=False)`), so the worker's frames are the local `generate`'s."""
    demo = api.demo_model_paths(cache / "demo-model")
    out = tmp_path / "remote.mp4"
    cli = [sys.executable, "-m", "model_runtime", "generate", "--checkpoint", str(demo.checkpoint),
           "--text-encoder", str(demo.text_encoder_dir), "--prompt", "waves on a rocky shore", "--width", "64",
           "--height", "64", "--frames", "9", "--seed", "11", "--backend", head.address, "--out", str(out)]
    remote = subprocess.run(cli, env=dict(os.environ, PYTHONPATH=str(REPO)), capture_output=True, text=True,
                            timeout=300)
    assert remote.returncode == 0, remote.stderr
    assert "on ltx-worker-" in remote.stderr
    spec = api.read_request(out)
    assert (spec.prompt, spec.seed, spec.width, spec.frames) == ("waves on a rocky shore", 11, 64, 9)
    local_mp4 = tmp_path / "local.mp4"
    local_cli = [*cli[:cli.index("--backend")], "--backend", "local", "--out", str(local_mp4)]
    local = subprocess.run(local_cli, env=dict(os.environ, PYTHONPATH=str(REPO)), capture_output=True, text=True,
                           timeout=300)
    assert local.returncode == 0, local.stderr
    assert np.array_equal(_decoded(out), _decoded(local_mp4))
    remote_numerics = json.loads(out.with_name(out.name + ".json").read_text())["runtime"]["numerics"]
    local_numerics = json.loads(local_mp4.with_name(local_mp4.name + ".json").read_text())["runtime"]["numerics"]
    assert remote_numerics["threads"] == local_numerics["threads"] == cpu_threads(ui=False)


def test_cancel_reaches_the_running_job(cluster):
    j = job(size=LONG)
    token = api.CancelToken()
    gen, seen = cluster.run(j, token), []
    with pytest.raises(api.GenerationCancelled, match="stop now"):
        for event in gen:
            seen.append(event)
            if isinstance(event, api.ProgressEvent) and event.stage == "stage1" and not token.cancelled:
                token.cancel("stop now")
    steps = [e.step for e in seen if isinstance(e, api.ProgressEvent) and e.stage == "stage1"]
    assert max(steps) < 8, f"the job ran all its steps: {steps}"
    assert not any(isinstance(e, api.ProgressEvent) and e.stage == "decode" for e in seen)  # nothing after it
    _, again = drain(cluster.run(job()))  # the worker is free and its model still loaded
    assert again.frames == 9


def test_another_version_is_refused_with_both_versions(cluster):
    with pytest.raises(VersionSkewError, match=rf"runs LTX Studio {__version__} but this app is 9\.9\.9"):
        drain(cluster.run(RemoteJob("skew", job().spec, WorkerModel(demo=True), "9.9.9")))


def test_backend_addresses():
    assert backend_address("local") is None
    assert backend_address("auto") == "ray://127.0.0.1:10001"
    assert backend_address("ray://gpu-box:10001") == "ray://gpu-box:10001"
    with pytest.raises(api.InvalidRequestError, match="ray://HOST:PORT"):
        backend_address("gpu-box")


def test_unreachable_cluster_is_one_clear_line():
    with pytest.raises(ClusterError, match="cannot reach the Ray cluster at ray://127.0.0.1:9"):
        Cluster.connect("ray://127.0.0.1:9")


def test_worker_killed_mid_job_runs_again_on_the_other_worker(head, cache):
    c = Cluster.connect(head.address, cache_dir=str(cache))  # the previous test disconnected the client
    try:
        j, events, killed = job(size=MEDIUM), [], []

        def kill_at_first_step(event) -> None:
            events.append(event)
            if not killed and isinstance(event, api.ProgressEvent) and event.stage == "stage1":
                name = c.assignments()[j.job_id]
                pid = ray.get(ray.get_actor(name, namespace=NAMESPACE).pid.remote())
                os.kill(pid, signal.SIGKILL)
                killed.append(name)

        result = drive(c.run(j), kill_at_first_step)
        notices = [e.message for e in events if isinstance(e, api.NoticeEvent)]
        assert killed and result.worker != killed[0], (killed, result.worker, events)
        assert notices and f"worker {killed[0]} stopped mid-job" in notices[0] and "again" in notices[0]
        assert c.capacity == 1 and result.frames == 49
    finally:
        c.close()


def test_cluster_stopped_mid_job_is_a_clear_error(head, cache):
    """Last: it ends the module's cluster."""
    c = Cluster.connect(head.address, cache_dir=str(cache))
    j, token = job(size=MEDIUM), api.CancelToken()
    with pytest.raises(ClusterError, match="lost the Ray cluster at ray://127.0.0.1:.*waiting jobs stay queued"):
        for event in c.run(j, token):
            if isinstance(event, api.ProgressEvent) and event.stage == "stage1" and head.process.poll() is None:
                head.stop()


def test_worker_command_prints_the_ray_start_line(tmp_path, capsys):
    """Runs without a cluster (first in file order is not needed: it touches no Ray state)."""
    from model_runtime.cli import main

    assert main(["worker", "--models-dir", str(tmp_path), "--join", "gpu-head", "--workers", "2"]) == 0
    out = capsys.readouterr().out
    assert f"LTX Studio {__version__}" in out and f"ray: {ray.__version__}" in out
    assert "ray start --address=gpu-head:6379 --resources='{\"ltx_worker\": 2}' --num-gpus=0" in out
    assert f"models folder: {tmp_path}" in out and "none ready here" in out


def test_a_worker_finds_model_files_by_name_in_its_models_folder(tmp_path):
    """A job names the files as the app sees them; a worker machine keeps them elsewhere."""
    from model_runtime.cluster.worker import resolve_paths

    shared = tmp_path / "shared" / "gemma"
    shared.mkdir(parents=True)
    models = tmp_path / "models"
    (models / "ltx").mkdir(parents=True)
    (models / "ltx" / "ltx-2.3.safetensors").write_bytes(b"x")
    given = api.ModelPaths(Path("/laptop/models/ltx-2.3.safetensors"), None, shared)
    found = resolve_paths(given, models)
    assert found.checkpoint == models / "ltx" / "ltx-2.3.safetensors" and found.text_encoder_dir == shared
    with pytest.raises(api.CheckpointError, match="upscaler.safetensors: not at /laptop/up"):
        resolve_paths(api.ModelPaths(Path("/laptop/up/upscaler.safetensors")), models)
