"""What a render's imports cost, group by group: how much of our "imports" stage is the model libraries.

Each run is a fresh Python process that times the steps of `model_runtime.warm.WARM_STEPS` in their order
(torch, safetensors, our runtime modules, transformers' Gemma classes, diffusers' LTX-2 classes: what a
first render imports, as the app's warm-up imports it) and then PyAV. A step's time is what it adds after
the steps before it (shared dependencies are paid once, by the first step that needs them). Medians over
`--runs` processes are printed per step, with the share of the whole, and which heavy torch subsystems
are loaded after each step (torch._dynamo, torch.distributed.tensor, sympy: pulled in by diffusers' and
transformers' own module-level imports, never by ours).

Why: issue #18's last gap to the reference is this stage; the table says how much of it is ours to cut
and how much comes with the libraries ARCHITECTURE.md names (transformers for Gemma, diffusers' LTX-2
classes). The machine may be shared: the load average is printed.

Usage: .venv/bin/python benchmarks/import_floor.py [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

CHILD = """
import json, sys, time
from model_runtime.warm import WARM_STEPS
HEAVY = ("torch._dynamo", "torch.distributed.tensor", "sympy")
rows = []
for step in [*WARM_STEPS, "av"]:
    t = time.perf_counter()
    if step == "av":
        import av  # noqa: F401
        name = "import_av"
    else:
        step()
        name = step.__name__
    rows.append({"step": name, "s": time.perf_counter() - t, "heavy": [m for m in HEAVY if m in sys.modules]})
print(json.dumps(rows))
"""


def run_once() -> list[dict]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    out = subprocess.run([sys.executable, "-c", CHILD], env=env, cwd=REPO, capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    runs = [run_once() for _ in range(args.runs)]
    steps = [r["step"] for r in runs[0]]
    medians = {s: statistics.median(run[i]["s"] for run in runs) for i, s in enumerate(steps)}
    total = sum(medians.values())
    print(f"imports of a first render, median of {args.runs} fresh processes (load average "
          f"{os.getloadavg()[0]:.2f}):")
    for i, s in enumerate(steps):
        heavy = ", ".join(runs[0][i]["heavy"]) or "-"
        print(f"  {s:22s} {medians[s]:6.2f} s  {medians[s] / total:5.1%}   heavy torch modules loaded: {heavy}")
    libs = medians["import_transformers"] + medians["import_diffusers"]
    print(f"  {'total':22s} {total:6.2f} s")
    print(f"transformers + diffusers (with what they pull in): {libs:.2f} s = {libs / total:.1%} of the imports")


if __name__ == "__main__":
    main()
