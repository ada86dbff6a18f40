"""LTX-2.x runtime: checkpoints, loading, models, sampling, pipelines, memory plans and media.

No Qt, no work at import time: submodules are imported where they are used.
"""

__version__ = "0.1.0"
