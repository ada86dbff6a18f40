"""The installed bundle vs the source install: size on disk, and cold start of the app and of the CLI.

Cold start = a fresh process each run (no warm interpreter), runs interleaved, medians, ratio
bundle/source in the same command. The page cache is not dropped (that needs root and disturbs the
machine): "cold" means a new process, not a cold disk. The app runs `--screenshot` under the offscreen
QPA (window built, shown, captured, exit); the CLI runs `--version` and `presets`.
Usage: .venv/bin/python benchmarks/bundle.py BUNDLE_DIR [--runs 5]
   (BUNDLE_DIR: e.g. ~/.cache/ltx-studio-dev/bundle/dist/ltx-studio-0.1.0, built by `./dev bundle`)
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def timed(cmd: list[str], env: dict) -> float:
    t0 = time.perf_counter()
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    dt = time.perf_counter() - t0
    if r.returncode:
        raise SystemExit(f"{cmd[0]} failed ({r.returncode}): {r.stderr[-2000:]}")
    return dt


def size_of(p: Path) -> int:
    return sum(f.stat().st_size for f in p.rglob("*") if f.is_file() and not f.is_symlink())


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("bundle", type=Path)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    env.pop("PYTHONPATH", None)
    src_env = dict(env, PYTHONPATH=str(REPO))
    py = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        cases = {
            "app --screenshot": ([str(args.bundle / "ltx-studio"), "--screenshot", f"{tmp}/b.png", "--profile", f"{tmp}/pb"],
                                 [py, "-m", "ltx_studio", "--screenshot", f"{tmp}/s.png", "--profile", f"{tmp}/ps"]),
            "cli --version": ([str(args.bundle / "ltx-studio-cli"), "--version"], [py, "-m", "model_runtime", "--version"]),
            "cli presets": ([str(args.bundle / "ltx-studio-cli"), "presets"], [py, "-m", "model_runtime", "presets"]),
        }
        for b, s in cases.values():  # one untimed run each: first-ever start pays one-off costs (pyc, fonts)
            timed(b, env)
            timed(s, src_env)
        print(f"bundle: {args.bundle} ({size_of(args.bundle) / 1e9:.2f} GB on disk)")
        tar = next(args.bundle.parent.glob(f"{args.bundle.name}-linux-*.tar.gz"), None)
        if tar:
            print(f"tar.gz: {tar.name} ({tar.stat().st_size / 1e9:.2f} GB)")
        print(f"{'start':<20}{'bundle s':>10}{'source s':>10}{'ratio':>8}   ({args.runs} runs each, interleaved, medians)")
        for name, (b, s) in cases.items():
            tb, ts = [], []
            for _ in range(args.runs):
                tb.append(timed(b, env))
                ts.append(timed(s, src_env))
            mb, ms = statistics.median(tb), statistics.median(ts)
            print(f"{name:<20}{mb:>10.2f}{ms:>10.2f}{mb / ms:>8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
