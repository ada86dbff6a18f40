"""What a first job imports, as real import statements: the steps `api.warm_up` runs ahead of that job.

Each step imports one group (the torch-heavy runtime modules, the Gemma classes of transformers, the
LTX-2 classes of diffusers), so the warm-up can stop between groups when the app closes, and the import
linter and PyInstaller see every module by name (no strings).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

log = logging.getLogger(__name__)


def import_torch() -> None:
    import torch  # noqa: F401 - the point: the biggest first-use import


def import_runtime() -> None:
    from model_runtime import components, runtime  # noqa: F401
    from model_runtime.media import mux  # noqa: F401
    from model_runtime.models import (  # noqa: F401
        audio_vae,
        denoiser,
        transformer,
        upsampler,
        video_vae,
        vocoder,
    )
    from model_runtime.pipelines import dev, distilled, preview, stages, types  # noqa: F401
    from model_runtime.sampling import guidance  # noqa: F401
    from model_runtime.text import connectors, encoder, gemma, tokenizer  # noqa: F401


def import_safetensors() -> None:
    import safetensors.torch  # noqa: F401


def import_transformers() -> None:
    from transformers import (  # noqa: F401
        AutoTokenizer,
        Gemma3ForConditionalGeneration,
        Gemma3TextModel,
        PreTrainedTokenizerFast,
    )


def import_diffusers() -> None:
    import diffusers.models.attention_dispatch  # noqa: F401
    import diffusers.models.autoencoders.autoencoder_kl_ltx2  # noqa: F401
    import diffusers.models.autoencoders.autoencoder_kl_ltx2_audio  # noqa: F401
    import diffusers.pipelines.ltx2.connectors  # noqa: F401
    import diffusers.pipelines.ltx2.latent_upsampler  # noqa: F401
    import diffusers.pipelines.ltx2.vocoder  # noqa: F401
    from diffusers import LTX2VideoTransformer3DModel  # noqa: F401


#: in order: torch first (everything else needs it), then the runtime, then the model libraries
WARM_STEPS: tuple[Callable[[], None], ...] = (
    import_torch, import_safetensors, import_runtime, import_transformers, import_diffusers,
)


def run_steps(stop: Callable[[], bool] = lambda: False, after_step: Callable[[], None] = lambda: None) -> bool:
    """Every step in order (see `api.warm_up` for why); False when `stop()` ended it early. A failed import
    only costs a debug line: the job then imports (and reports) it itself."""
    for step in WARM_STEPS:
        if stop():
            return False
        try:
            step()
        except Exception as exc:  # noqa: BLE001 - a warm-up miss only means the job imports it later
            log.debug("warm-up step %s skipped: %s", step.__name__, exc)
        after_step()
    return True
