"""Download throughput: LTX Studio's verified, resumable download vs a plain huggingface_hub download of
the same file from the same local hub-compatible server, in the same command, runs interleaved.

Ours hashes (sha256) while writing and fsyncs before the rename; plain `hf_hub_download(local_dir=...)`
does neither, so the ratio is the price of verification. Loopback HTTP on a shared CPU: the absolute
MB/s is this machine's, the ratio is the result.
Usage: .venv/bin/python benchmarks/download.py [--mb 512] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from model_runtime.hub.catalogue import parse_catalogue  # noqa: E402
from model_runtime.hub.store import ModelStore  # noqa: E402
from model_runtime.hub.transfer import ItemDownload  # noqa: E402
from tests.support.hub import HubServer  # noqa: E402

ITEM = """schema = 1
[[item]]
id = "bench"
role = "component"
title = "benchmark file"
purpose = "throughput"
repo = "bench/big"
revision = "main"
files = ["big.safetensors"]
size_bytes = 0
sha256 = ""
weights = "bf16"
gated = false
licence = "none"
licence_url = "https://example.invalid"
runtime_loads = false
min_vram_gb = 0
min_ram_gb = 0
"""


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=int, default=512)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    from huggingface_hub import hf_hub_download

    cache = Path.home() / ".cache" / "ltx-studio-dev" / "bench-download"
    repo = cache / "repos" / "bench" / "big"
    repo.mkdir(parents=True, exist_ok=True)
    big = repo / "big.safetensors"
    size = args.mb * 2**20
    if not big.exists() or big.stat().st_size != size:
        with open(big, "wb") as f:
            for _ in range(args.mb):
                f.write(os.urandom(2**20))
    server = HubServer(cache / "repos", cache / "server.log").start()
    item = parse_catalogue(ITEM).get("bench")
    ours, plain = [], []
    try:
        for _ in range(args.runs):
            with tempfile.TemporaryDirectory(dir=cache) as d:
                t0 = time.perf_counter()
                ItemDownload(item, ModelStore(Path(d) / "models"), endpoint=server.endpoint).run()
                ours.append(size / (time.perf_counter() - t0) / 1e6)
            with tempfile.TemporaryDirectory(dir=cache) as d:
                t0 = time.perf_counter()
                hf_hub_download("bench/big", "big.safetensors", local_dir=Path(d) / "plain", endpoint=server.endpoint)
                plain.append(size / (time.perf_counter() - t0) / 1e6)
    finally:
        server.kill()
        (cache / "server.log").unlink(missing_ok=True)
    o, p = statistics.median(ours), statistics.median(plain)
    print(f"file: {args.mb} MiB, {args.runs} runs each, interleaved, loopback server (tests/support/hub_server.py)")
    print(f"LTX Studio (sha256 while writing + fsync): median {o:7.1f} MB/s  runs {[round(x) for x in ours]}")
    print(f"plain hf_hub_download(local_dir)        : median {p:7.1f} MB/s  runs {[round(x) for x in plain]}")
    print(f"ratio ours/plain: {o / p:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
