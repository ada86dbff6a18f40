"""LoRA cost on the CPU: live vs fused forward speed, and a strength change vs a full transformer reload.

A transformer with the tiny set's architecture at a wider, deeper size (random weights written to a temp
checkpoint in the official layout, so the clean-weight reads and the reload go through the real loader)
and a random rank-r LoRA on every attention projection and FFN linear of every block (as the golden set's
lora_a). Everything runs in the same process, interleaved, and is reported as ratios of the best of N
runs (the least disturbed by other load on a shared machine):
* forward: no LoRA vs fused vs live (live builds each adapted Linear's delta at compute time);
* a strength change: live (swap factors) and fused (re-read + re-fuse the adapted tensors) vs a full
  reload of the transformer from the file, and vs reload + fuse (what fusing at pipeline build costs
  per change, as LTX-Desktop does).
Usage: PYTHONPATH=. .venv/bin/python benchmarks/lora.py [--heads 8] [--layers 4] [--rank 16] [--runs 5]
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import sys
import tempfile
import time
from pathlib import Path

import torch
from safetensors.torch import save_file

from model_runtime.checkpoints import inspect_checkpoint, read_header
from model_runtime.loading import load_component
from model_runtime.loras.apply import CheckpointWeights, LoraApplier, Weighted
from model_runtime.loras.files import LoraFile, LoraInfo, LoraPair
from model_runtime.models.denoiser import AVDenoiser, ModalityInput
from model_runtime.models.positions import audio_positions, video_positions
from model_runtime.models.transformer import PREFIX, TRANSFORMER_SPEC, unrename

TINY = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "ltx23_tiny" / "checkpoint.safetensors"
ADAPTED = ("attn1", "attn2", "audio_attn1", "audio_attn2", "audio_to_video_attn", "video_to_audio_attn", "ff",
           "audio_ff")


def scaled_config(config: dict, heads: int, layers: int) -> dict:
    cfg = copy.deepcopy(config)
    cfg["transformer"].update({"num_layers": layers, "num_attention_heads": heads, "audio_num_attention_heads": heads,
                               "attention_head_dim": 64, "audio_attention_head_dim": 32,
                               "cross_attention_dim": heads * 64, "audio_cross_attention_dim": heads * 32})
    return cfg


def write_checkpoint(cfg: dict, path: Path) -> None:
    torch.manual_seed(0)
    model = TRANSFORMER_SPEC.build(cfg["transformer"]).to(torch.bfloat16)
    state = {PREFIX + unrename(k): v.contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(path))


def random_lora(transformer: torch.nn.Module, rank: int) -> LoraFile:
    g = torch.Generator().manual_seed(1)
    pairs = {}
    for name, m in transformer.named_modules():
        parts = name.split(".")
        if isinstance(m, torch.nn.Linear) and len(parts) > 3 and parts[0] == "transformer_blocks" and parts[2] in ADAPTED:
            pairs[name] = LoraPair((torch.randn(rank, m.in_features, generator=g) / m.in_features ** 0.5).bfloat16(),
                                   (torch.randn(m.out_features, rank, generator=g) * 0.1).bfloat16())
    info = LoraInfo(Path("random.safetensors"), "random", None, rank, len(pairs), 0, "official")
    return LoraFile(info, hashlib.sha256(b"random").hexdigest(), pairs, (), 0)


def best_time(fn, runs: int) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--heads", type=int, default=8)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--rank", type=int, default=16)
    ap.add_argument("--tokens", type=int, default=768, help="video tokens per forward (audio: a quarter)")
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    torch.set_grad_enabled(False)
    cfg = scaled_config(inspect_checkpoint(TINY).config, args.heads, args.layers)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "wide.safetensors"
        write_checkpoint(cfg, path)
        header = read_header(path)

        def reload() -> torch.nn.Module:
            return load_component(header, TRANSFORMER_SPEC, cfg, dtype=torch.float32)[0]

        transformer = reload()
        denoiser = AVDenoiser(transformer)
        lora = random_lora(transformer, args.rank)
        applier = LoraApplier(CheckpointWeights(path, PREFIX, unrename))
        applier.bind(transformer)
        t = cfg["transformer"]
        f, h, w = 4, 12, max(1, args.tokens // 48)
        audio_t = max(1, f * h * w // 4)
        g = torch.Generator().manual_seed(2)
        video = ModalityInput(torch.randn(1, f * h * w, 128, generator=g), 0.7,
                              torch.randn(1, 128, t["cross_attention_dim"], generator=g), video_positions(f, h, w, 24.0))
        audio = ModalityInput(torch.randn(1, audio_t, 128, generator=g), 0.7,
                              torch.randn(1, 128, t["audio_cross_attention_dim"], generator=g), audio_positions(audio_t))

        def forward() -> None:
            denoiser(video, audio)

        modes = {"none": (), "fused": (Weighted(lora, 0.7),), "live": (Weighted(lora, 0.7),)}
        times: dict[str, list[float]] = {m: [] for m in modes}
        for _ in range(args.runs):  # interleaved: background load hits every mode alike
            for mode, loras in modes.items():
                applier.set(loras, "live" if mode == "none" else mode, "cpu")
                forward()  # warm-up after a switch
                times[mode].append(best_time(forward, 1))
        fwd = {m: min(v) for m, v in times.items()}
        change = {}
        for mode in ("live", "fused"):
            applier.set((Weighted(lora, 0.7),), mode, "cpu")
            strengths = iter([0.5, 0.7] * args.runs)
            change[mode] = best_time(lambda m=mode, s=strengths: applier.set((Weighted(lora, next(s)),), m, "cpu"),
                                       args.runs)
        applier.set((), "live", "cpu")
        full = best_time(reload, args.runs)

        def rebuild() -> None:  # reload, then fuse into the fresh module
            fresh = LoraApplier(CheckpointWeights(path, PREFIX, unrename))
            fresh.bind(reload())
            fresh.set((Weighted(lora, 0.5),), "fused", "cpu")

        rebuilt = best_time(rebuild, args.runs)
    adapted, total = len(lora.pairs), sum(1 for _ in transformer.parameters())
    out = sys.stdout
    out.write(f"transformer: {args.layers} layers, video dim {args.heads * 64}, {f * h * w} video + {audio_t} audio "
              f"tokens; LoRA rank {args.rank} on {adapted} Linears ({total} tensors in the model); CPU, "
              f"{torch.get_num_threads()} threads, best of {args.runs}\n")
    out.write(f"forward  no LoRA {fwd['none'] * 1e3:8.1f} ms   fused {fwd['fused'] * 1e3:8.1f} ms   "
              f"live {fwd['live'] * 1e3:8.1f} ms\n")
    out.write(f"  live / fused = {fwd['live'] / fwd['fused']:.3f}   fused / no LoRA = {fwd['fused'] / fwd['none']:.3f}\n")
    out.write(f"strength change  live {change['live'] * 1e3:8.2f} ms   fused {change['fused'] * 1e3:8.1f} ms   "
              f"full transformer reload {full * 1e3:8.1f} ms   reload + fuse {rebuilt * 1e3:8.1f} ms\n")
    out.write(f"  reload / live change = {full / change['live']:.0f}x   reload / fused change = "
              f"{full / change['fused']:.2f}x   (reload + fuse) / fused change = {rebuilt / change['fused']:.2f}x\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
