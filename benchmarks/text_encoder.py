"""Gemma on a short prompt: the padded 1024-token forward vs only the prompt's real tokens, same run.

    .venv/bin/python benchmarks/text_encoder.py                    # the scale model's full-width Gemma (L=2)
    .venv/bin/python benchmarks/text_encoder.py --gemma DIR        # any Gemma-3 folder (e.g. the real one)

Both paths run on the same loaded model (weights in the mapped file, float32 compute, as a CPU plan runs
it), `--repeats` times each, alternating; printed: the best seconds of each, their ratio, the number of real
tokens and the largest difference between the two results over the real rows (padded rows are 0 in both).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from model_runtime.text.gemma import GemmaEncoder, inspect_gemma_folder, load_gemma_mapped  # noqa: E402
from model_runtime.text.tokenizer import PromptTokenizer  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--gemma", type=Path, default=None, help="Gemma-3 folder (default: the K=4/L=2 scale model's)")
    p.add_argument("--prompt", default="A red fox trots across a snowy clearing at dawn.")
    p.add_argument("--repeats", type=int, default=2)
    args = p.parse_args(argv)
    if args.gemma is None:
        from benchmarks.scale_model import ensure_scale_model

        args.gemma = ensure_scale_model(4, 2).text_encoder_dir
    folder = inspect_gemma_folder(args.gemma)
    gemma = GemmaEncoder(folder, load_gemma_mapped(folder, dtype=torch.float32))
    tokens = PromptTokenizer.from_folder(folder.path)(args.prompt)
    times: dict[bool, list[float]] = {True: [], False: []}
    states: dict[bool, torch.Tensor] = {}
    for _ in range(args.repeats):
        for real_only in (False, True):
            t0 = time.perf_counter()
            states[real_only] = gemma.hidden_states(tokens.input_ids, tokens.attention_mask, real_tokens_only=real_only)
            times[real_only].append(time.perf_counter() - t0)
    padded, real = min(times[False]), min(times[True])
    diff = (states[True] - states[False]).abs().max().item()
    scale = states[False].abs().max().item()
    print(f"Gemma {folder.dims.num_hidden_layers} layers x {folder.dims.hidden_size}, prompt of "  # noqa: T201
          f"{tokens.num_tokens} real tokens in {tokens.input_ids.shape[1]}:\n"
          f"  padded {padded:.3f} s, real tokens only {real:.3f} s: speed-up x{padded / real:.1f}\n"
          f"  max |difference| {diff:.3e} (largest state {scale:.3e})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
