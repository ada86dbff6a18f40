"""A real single-machine Ray cluster for tests and benchmarks: `ray start --head --block` in a temp dir.

Why `--block` in a child process (not `ray.init()` in the test process): the test process must be a Ray
*Client*, like the app, so that stopping the cluster mid-job is something it survives and reports; and
terminating the blocking `ray start` ends every process of that cluster (GCS, raylet, workers) and
nothing else on the machine (`ray stop` would end every Ray cluster of this user).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from model_runtime.cluster.protocol import WORKER_RESOURCE

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LocalHead:
    """A running head with `workers` units of the worker resource and as many CPUs."""

    process: subprocess.Popen
    address: str          # ray://127.0.0.1:PORT (Ray Client)
    temp_dir: Path
    log: Path

    @classmethod
    def start(cls, workers: int = 2, cpus: int | None = None) -> LocalHead:
        ray_bin = shutil.which("ray", path=str(Path(sys.executable).parent)) or "ray"
        # a short path: Ray's unix sockets live under it (AF_UNIX paths are limited to 107 bytes)
        temp_dir = Path(tempfile.mkdtemp(prefix="ltxray-", dir="/tmp"))
        client_port = _free_port()
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
                   RAY_USAGE_STATS_ENABLED="0")
        log = temp_dir / "head.log"
        cmd = [ray_bin, "start", "--head", "--block", f"--port={_free_port()}",
               f"--ray-client-server-port={client_port}", f"--num-cpus={cpus or workers}", "--num-gpus=0",
               f"--resources={json.dumps({WORKER_RESOURCE: workers})}", "--include-dashboard=false",
               f"--temp-dir={temp_dir}", "--disable-usage-stats"]
        with open(log, "w") as fh:
            process = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        return cls(process, f"ray://127.0.0.1:{client_port}", temp_dir, log)

    def wait_listening(self, timeout_s: float = 120.0) -> None:
        """Until the Ray Client port accepts connections (the head takes seconds to start)."""
        port = int(self.address.rsplit(":", 1)[1])
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"ray start exited {self.process.returncode}: {self.log.read_text()[-2000:]}")
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    return
            time.sleep(0.3)
        raise TimeoutError(f"the Ray head did not listen within {timeout_s} s: {self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        """End the cluster at once: SIGKILL to every process of the session `ray start` began (GCS,
        raylet, client server, worker actors: Ray moves workers to their own process groups, not sessions).
        Why not SIGTERM: `ray start --block` then waits ~30 s for its children, which is what a test pays.
        To the client this is what a machine lost from the network looks like."""
        import psutil

        sid = self.process.pid  # start_new_session: the session id is the leader's pid
        if self.process.poll() is None:
            for proc in psutil.process_iter():
                try:
                    if os.getsid(proc.pid) == sid:
                        proc.kill()
                except (psutil.Error, ProcessLookupError, PermissionError):
                    continue
            self.process.wait(timeout=30)
        shutil.rmtree(self.temp_dir, ignore_errors=True)
