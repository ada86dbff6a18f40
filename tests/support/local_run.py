"""A request run on the local backend in a fresh process (the reference the cluster tests compare with)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from tests.support.ray_head import REPO

#: the local backend in a fresh process, on the torch threads every backend uses on this machine
#: (`api.cpu_threads`, as the app, the CLI and a cluster worker): a process of its own so nothing left by other
#: tests in this one can change a float sum
_LOCAL_RUN = """
import json, sys
import numpy as np
import torch
import model_runtime.api as api
from tests.events import drain
torch.set_num_threads(api.cpu_threads())
cache, spec_json, out = sys.argv[1:4]
spec = api.RequestSpec.from_dict(json.loads(spec_json))
runtime = api.Runtime.open(api.demo_model_paths(__import__("pathlib").Path(cache) / "demo-model"), "cpu",
                           memory=api.plan_machine("cpu"))
_, local = drain(runtime.generate(spec))
api.write_result(local, out, spec)
np.save(out + ".middle.npy", local.frames[len(local.frames) // 2].numpy())
"""


def local_run(cache: Path, spec, out: Path) -> np.ndarray:
    """Run `spec` on the local backend in a fresh process; the MP4 at `out` and the raw middle frame."""
    import json

    proc = subprocess.run([sys.executable, "-c", _LOCAL_RUN, str(cache), json.dumps(spec.to_dict()), str(out)],
                          env=dict(os.environ, PYTHONPATH=str(REPO)), capture_output=True,
                          text=True, timeout=300, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return np.load(str(out) + ".middle.npy")
