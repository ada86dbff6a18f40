"""Lightricks' reference render, run by `benchmarks/runtime.py` with the reference's own interpreter.

Run ONLY with the Python of a separate virtual environment that has ltx-core==1.0.0 and
ltx-pipelines==1.0.0 (the project never imports them); `LTX_REFERENCE_PYTHON` points at it.
It does what `python -m ltx_pipelines.distilled` does (DistilledPipeline.__call__ with
`TilingConfig.default()`, then `media_io.encode_video` to an MP4), with the same three wrappers the
golden fixtures were made with (see fixtures/ltx23_tiny/README.md) and no change to the reference's code:
* the pipeline module's `torch` is a proxy whose `bfloat16` is float32 (the pipeline hard-codes bf16;
  both sides then compute in float32 on the CPU), and `torch.cuda.synchronize` is a no-op on a CPU build;
* ltx-core 1.0.0 hard-codes Gemma-3-12B's dims (`GEMMA3_CONFIG_FOR_LTX`): they are set from the Gemma
  folder's `config.json` (a module-global swap), so its own Gemma builder loads the small test Gemma.

Prints one JSON line: {"stages": {stage: exclusive seconds}, "total_s": in-process seconds}.
Usage: <reference python> reference_distilled.py CHECKPOINT UPSAMPLER GEMMA_DIR OUT.mp4 PROMPT W H FRAMES FPS SEED
"""

from __future__ import annotations

import time

T0 = time.perf_counter()

import json  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

from stage_timer import StageTimer  # noqa: E402

TIMER = StageTimer()
TIMER.time_imports()


class _TorchFloat32:
    """`torch` with `bfloat16` read as float32 (what the golden fixtures' reference runs used)."""

    def __init__(self, torch) -> None:
        self._torch = torch

    def __getattr__(self, name: str):
        return self._torch.float32 if name == "bfloat16" else getattr(self._torch, name)


def _gemma_dims_from_folder(gemma_dir: Path) -> None:
    from ltx_core.text_encoders.gemma import config as gemma_config

    cfg = json.loads((gemma_dir / "config.json").read_text())
    target = gemma_config.GEMMA3_CONFIG_FOR_LTX
    text = {k: v for k, v in cfg["text_config"].items() if k in gemma_config.Gemma3TextConfig.__dataclass_fields__}
    text["rope_scaling"] = gemma_config.Gemma3RopeScaling(**cfg["text_config"].get("rope_scaling", {}))
    vision = {k: v for k, v in cfg["vision_config"].items()
              if k in gemma_config.Gemma3VisionConfig.__dataclass_fields__}
    target.text_config = gemma_config.Gemma3TextConfig(**text)
    target.vision_config = gemma_config.Gemma3VisionConfig(**vision)
    for key in ("boi_token_index", "eoi_token_index", "image_token_index", "mm_tokens_per_image"):
        setattr(target, key, cfg[key])


def main() -> None:
    checkpoint, upsampler, gemma, out, prompt = sys.argv[1:6]
    width, height, frames = (int(v) for v in sys.argv[6:9])
    fps, seed = float(sys.argv[9]), int(sys.argv[10])

    import torch
    from ltx_core.model.video_vae import TilingConfig, get_video_chunks_number
    from ltx_pipelines import distilled
    from ltx_pipelines.utils import media_io, model_ledger

    torch.cuda.synchronize = lambda *a, **k: None  # a CPU build raises; the reference calls it between stages
    distilled.torch = _TorchFloat32(torch)
    _gemma_dims_from_folder(Path(gemma))

    for method in ("transformer", "video_decoder", "video_encoder", "text_encoder", "gemma_embeddings_processor",
                   "audio_decoder", "vocoder", "spatial_upsampler"):
        TIMER.patch(model_ledger.ModelLedger, method, "load")
    TIMER.patch(distilled, "encode_prompts", "text")
    calls = iter(("stage1", "stage2"))
    TIMER.patch(distilled, "denoise_audio_video", lambda *a, **k: next(calls))
    TIMER.patch(distilled, "upsample_video", "upsample")
    TIMER.patch(distilled, "vae_decode_audio", "audio decode")
    decode_video = distilled.vae_decode_video
    distilled.vae_decode_video = lambda *a, **k: TIMER.wrap_gen(iter(decode_video(*a, **k)), "video decode")

    with torch.inference_mode():  # as ltx_pipelines.distilled.main
        pipeline = TIMER.wrap(distilled.DistilledPipeline, "load")(
            distilled_checkpoint_path=checkpoint, spatial_upsampler_path=upsampler, gemma_root=gemma, loras=(),
            device=torch.device("cpu"))
        tiling = TilingConfig.default()
        video, audio = pipeline(prompt=prompt, seed=seed, height=height, width=width, num_frames=frames,
                                frame_rate=fps, images=[], tiling_config=tiling)
        TIMER.wrap(media_io.encode_video, "mux")(video=video, fps=fps, audio=audio, output_path=out,
                                                 video_chunks_number=get_video_chunks_number(frames, tiling))
    print(json.dumps({"stages": TIMER.totals, "total_s": time.perf_counter() - T0}))


if __name__ == "__main__":
    main()
