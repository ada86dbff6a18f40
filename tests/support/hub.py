"""Helpers for download tests: lay out tiny repositories from the fixtures and run the hub server process."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

SERVER = Path(__file__).with_name("hub_server.py")
CHECKPOINT = "ltx-2.3-22b-distilled-1.1.safetensors"
UPSCALER = "ltx-2.3-spatial-upscaler-x2-1.1.safetensors"
TOKEN = "hf_testtoken"


def make_repos(root: Path, tiny: Path) -> Path:
    """Lightricks/LTX-2.3 (tiny checkpoint + upscaler under the real file names) and a gated Gemma folder."""
    ltx = root / "Lightricks" / "LTX-2.3"
    ltx.mkdir(parents=True)
    shutil.copyfile(tiny / "checkpoint.safetensors", ltx / CHECKPOINT)
    shutil.copyfile(tiny / "spatial_upscaler_x2.safetensors", ltx / UPSCALER)
    gemma = root / "google" / "gemma-3-12b-it"
    shutil.copytree(tiny / "text_encoder", gemma)
    for p in gemma.iterdir():
        p.chmod(0o644)
    (gemma / ".gated").write_text("")
    return root


@dataclass
class HubServer:
    root: Path
    log: Path
    port: int = 0
    proc: subprocess.Popen | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, *extra: str) -> HubServer:
        cmd = [sys.executable, str(SERVER), "--root", str(self.root), "--port", str(self.port),
               "--token", TOKEN, "--log", str(self.log), *extra]
        deadline = time.monotonic() + 10
        while True:  # the previous process' port can take a moment to free after a kill
            self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
            line = self.proc.stdout.readline()
            if line.startswith("PORT "):
                self.port = int(line.split()[1])
                return self
            self.proc.wait()
            if time.monotonic() > deadline:
                raise RuntimeError(f"hub server did not start: {line!r}")
            time.sleep(0.1)

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
        if self.proc:
            self.proc.wait()

    def gets(self, path: str) -> list[dict]:
        if not self.log.exists():
            return []
        recs = [json.loads(x) for x in self.log.read_text().splitlines()]
        return [r for r in recs if r["path"] == path]  # "get" (a response ended) or "die" (the server exited)


def cli_env(endpoint: str, hf_home: Path) -> dict[str, str]:
    """The CLI's environment: this server as the hub, an empty HF home (no token of the developer's)."""
    env = {k: v for k, v in os.environ.items() if k not in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")}
    env.update(HF_ENDPOINT=endpoint, HF_HOME=str(hf_home), HF_HUB_DISABLE_TELEMETRY="1",
               PYTHONPATH=str(SERVER.parents[2]))
    return env
