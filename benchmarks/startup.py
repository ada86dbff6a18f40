"""Cold start to the first shown window: LTX Studio vs a bare PySide6 window, ratio of medians.

Each run is a fresh Python process (cold imports) that shows its window and quits on the first event
loop turn after show. Both run in this same command, interleaved, under the same QPA platform.
The app builds its window progressively (ltx_studio.ui.main_window): the frame with the final layout is
shown first, the panels follow one build step per event-loop turn. For honesty the benchmark also times,
as information (not in the ratio), a process that waits until every panel is built before it quits.
It also times the command line: `ltx-studio-cli --help` and `ltx-studio-cli presets` (issue 16: ~10 s and
~8 s once, when they imported torch; the goal is under 1 s), against a bare `python -c pass`, and checks
that neither imports torch.
Usage: .venv/bin/python benchmarks/startup.py [--runs 7] [--cli-only]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

BARE = (
    "import sys\nfrom PySide6.QtCore import QTimer\nfrom PySide6.QtWidgets import QApplication, QMainWindow\n"
    "app = QApplication(sys.argv[:1]); w = QMainWindow(); w.resize(1400, 860); w.show()\n"
    "QTimer.singleShot(0, app.quit); app.exec()\n"
)


FULL = (
    "import sys\nfrom pathlib import Path\nfrom PySide6.QtCore import QTimer\n"
    "from PySide6.QtWidgets import QApplication\nfrom ltx_studio.context import AppContext\n"
    "from ltx_studio.paths import AppPaths\nfrom ltx_studio.ui.main_window import MainWindow\n"
    "ctx = AppContext.create(AppPaths.for_root(Path(sys.argv[1])))\n"
    "app = QApplication(sys.argv[:1]); w = MainWindow(ctx); w.show()\n"
    "def poll():\n    app.quit() if w.is_built else QTimer.singleShot(0, poll)\n"
    "QTimer.singleShot(0, poll); app.exec(); w.shutdown()\n"
)


def timed(cmd: list[str], env: dict) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


CLI = ("import sys\nfrom model_runtime.cli import main\ncode = main(sys.argv[1:])\n"
       "assert 'torch' not in sys.modules, 'the command imported torch'\nsys.exit(code)\n")


def cli(runs: int, env: dict) -> None:
    bare = [sys.executable, "-c", "pass"]
    cmds = {"--help": [sys.executable, "-c", CLI, "--help"], "presets": [sys.executable, "-c", CLI, "presets"]}
    for cmd in (bare, *cmds.values()):
        timed(cmd, env)  # warm the OS file cache
    base = statistics.median(timed(bare, env) for _ in range(runs))
    print(f"python -c pass            median {base * 1000:.0f} ms")
    for name, cmd in cmds.items():
        t = [timed(cmd, env) for _ in range(runs)]
        m = statistics.median(t)
        print(f"ltx-studio-cli {name:<10} median {m * 1000:.0f} ms (max {max(t) * 1000:.0f}), {m / base:.1f} x bare "
              f"python; {'under' if m < 1.0 else 'OVER'} the 1 s goal")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--cli-only", action="store_true", help="time only the command line")
    args = ap.parse_args()
    env = dict(os.environ)
    cli(args.runs, env)
    if args.cli_only:
        return
    env.setdefault("QT_QPA_PLATFORM", "offscreen")
    with tempfile.TemporaryDirectory() as profile:
        app_cmd = [sys.executable, "-m", "ltx_studio", "--profile", profile, "--quit-after", "0.001"]
        bare_cmd = [sys.executable, "-c", BARE]
        full_cmd = [sys.executable, "-c", FULL, profile]
        timed(app_cmd, env), timed(bare_cmd, env), timed(full_cmd, env)  # warm the OS file cache for all
        app_t, bare_t, full_t = [], [], []
        for _ in range(args.runs):
            app_t.append(timed(app_cmd, env))
            bare_t.append(timed(bare_cmd, env))
            full_t.append(timed(full_cmd, env))
    a, b = statistics.median(app_t), statistics.median(bare_t)
    print(f"platform={env['QT_QPA_PLATFORM']} runs={args.runs}")
    print(f"ltx-studio  median {a * 1000:.0f} ms  (min {min(app_t) * 1000:.0f}, max {max(app_t) * 1000:.0f})")
    print(f"bare PySide6 median {b * 1000:.0f} ms  (min {min(bare_t) * 1000:.0f}, max {max(bare_t) * 1000:.0f})")
    f = statistics.median(full_t)
    print(f"(info) ltx-studio until every panel is built: median {f * 1000:.0f} ms, {f / b:.2f} x bare")
    print(f"startup ratio (app / bare, medians): {a / b:.2f}")


if __name__ == "__main__":
    main()
