"""Runtime benchmark: distilled two-stage render time / peak RSS on the tiny fixture, and the load peak RSS
of a >= 1 GB checkpoint in the official layout.

1. For each size, a fresh process opens the tiny fixture and runs the distilled render (stage 1 at half
   size, x2 upsample, 3 refinement steps, decode) 1 + repeats times: "cold" includes the lazy component
   loads (and Gemma), "warm" jobs have everything resident (each with a new prompt, so text encoding
   is timed too). The machine may be shared: the median and min of the warm runs are both shown.
   Peak RSS is the process's ru_maxrss (includes Python + torch, about 0.4 GB before any model).
2. A checkpoint is generated in a temp dir from the components registry (every spec built on meta from
   a scaled-up copy of the tiny config, random bf16 weights under the official key names, embedded
   config + model_version), then a fresh process loads every component strictly, once keeping the file
   dtype (bf16) and once casting to float32; the file is deleted afterwards.

3. (default) Our `ltx-studio-cli generate --stage render` against Lightricks' reference
   (`ltx_pipelines.distilled`, run by `benchmarks/reference_distilled.py` with the Python named by
   LTX_REFERENCE_PYTHON: a separate venv with ltx-core==1.0.0 / ltx-pipelines==1.0.0; the project never
   imports them) on one generated official-layout checkpoint (~330 M params: a 10-layer, 1024-wide
   transformer and a 256-wide video decoder; cached under ~/.cache/ltx-studio-dev/, keyed by its config),
   the fixture's x2 upscaler and Gemma folder, 384x256, 33 frames, 24 fps, seed 42, float32 on the CPU.
   First a per-stage profile of each side (exclusive seconds: imports, load, text, stage1, upsample,
   stage2, video decode, audio decode, mux; see `stage_timer.py`), side by side with ratios; then
   `--pairs` alternating whole-process runs (ours, reference, ours, ...) and the median of the per-pair
   ratios ours / reference with their range. Without LTX_REFERENCE_PYTHON only our side is printed.
   Setting up the reference venv (torch from the local wheel, never a CUDA download):
     python3.11 -m venv ~/.cache/ltx-ref-venv
     ~/.cache/ltx-ref-venv/bin/pip install -c constraints.txt ltx-core==1.0.0 ltx-pipelines==1.0.0 transformers==4.57.3
   (transformers 4.57: ltx-core 1.0.0's Gemma builder uses transformers-4 module paths; PyPI has no
   torchaudio for torch 2.13: move torchaudio/lib/*.so aside, the distilled text-to-video path only needs its
   pure-Python parts.)

Usage: .venv/bin/python benchmarks/runtime.py [--pairs 5] [--profiles 1]
       .venv/bin/python benchmarks/runtime.py --sizes 192x128,384x256 [--frames 17] [--repeats 3] [--big-gb 1.0]
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TINY = Path(os.environ.get("LTX_FIXTURES", REPO.parent / "shared" / "fixtures")) / "ltx23_tiny"


def rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


# --- 1. distilled render on the tiny fixture -----------------------------------------------------------

def child_render(width: int, height: int, frames: int, fps: float, repeats: int) -> dict:
    import torch

    from model_runtime.pipelines.types import GenerationRequest, ProgressEvent
    from model_runtime.runtime import ModelPaths, Runtime

    torch.manual_seed(0)
    base = rss_mb()
    runtime = Runtime.open(ModelPaths(TINY / "checkpoint.safetensors", TINY / "spatial_upscaler_x2.safetensors",
                                      TINY / "text_encoder"))
    timings = []
    for take in range(1 + repeats):  # a new prompt each time: the runtime caches recent prompt encodings
        request = GenerationRequest(prompt=f"A red fox trots across a snowy clearing, birds chirp (take {take})",
                                    width=width, height=height, frames=frames, fps=fps, seed=1, stage="render",
                                    previews=False)
        stages: dict[str, float] = {}
        t0 = last = time.perf_counter()
        current = None
        gen = runtime.generate(request)
        while True:
            try:
                ev = next(gen)
            except StopIteration as stop:
                stages[current] = stages.get(current, 0.0) + time.perf_counter() - last
                shape = tuple(stop.value.frames.shape)
                break
            if isinstance(ev, ProgressEvent) and ev.stage != current:
                now = time.perf_counter()
                if current is not None:
                    stages[current] = stages.get(current, 0.0) + now - last
                current, last = ev.stage, now
        timings.append((time.perf_counter() - t0, stages))
    warm = sorted(timings[1:], key=lambda t: t[0])
    return {"cold_s": timings[0][0], "warm_median_s": warm[len(warm) // 2][0], "warm_min_s": warm[0][0],
            "stages": warm[0][1], "frames_shape": shape, "base_rss_mb": base, "peak_rss_mb": peak_rss_mb()}


def run_child(args: list[str]) -> dict:
    proc = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, timeout=1800)
    if proc.returncode != 0:
        raise SystemExit(f"child {args} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def render_table(sizes: list[tuple[int, int]], frames: int, fps: float, repeats: int) -> None:
    print(f"\n## distilled two-stage render, tiny fixture, {frames} frames @ {fps:g} fps, float32 CPU "
          f"({os.cpu_count()} cores); warm = median of {repeats}, stages of the fastest warm run")
    print(f"{'size':>9} {'cold s':>8} {'warm s':>8} {'min s':>6} {'text':>6} {'stage1':>7} {'upsmpl':>7} "
          f"{'stage2':>7} {'decode':>7} {'peak RSS MB':>12} {'base RSS MB':>12}")
    for w, h in sizes:
        r = run_child(["--child-render", f"{w}x{h}", str(frames), str(fps), str(repeats)])
        st = r["stages"]
        print(f"{w}x{h:<5} {r['cold_s']:8.2f} {r['warm_median_s']:8.2f} {r['warm_min_s']:6.2f} "
              f"{st.get('text', 0):6.2f} {st.get('stage1', 0):7.2f} "
              f"{st.get('upsample', 0):7.2f} {st.get('stage2', 0):7.2f} {st.get('decode', 0):7.2f} "
              f"{r['peak_rss_mb']:12.0f} {r['base_rss_mb']:12.0f}", flush=True)


# --- 2. load of a >= 1 GB generated checkpoint -------------------------------------------------------

def scaled_config(config: dict, layers: int) -> dict:
    """The tiny config with a wider, deeper transformer (and matching connectors): only sizes change."""
    c = copy.deepcopy(config)
    c["transformer"].update(
        num_layers=layers, num_attention_heads=8, attention_head_dim=128, cross_attention_dim=1024,
        audio_num_attention_heads=8, audio_attention_head_dim=64, audio_cross_attention_dim=512,
        connector_num_attention_heads=8, connector_attention_head_dim=128,
        audio_connector_num_attention_heads=8, audio_connector_attention_head_dim=64,
    )
    return c


def _file_bytes(config: dict) -> int:
    from model_runtime.components import specs
    from model_runtime.loading import build_on_meta

    keys: dict[str, int] = {}
    for spec in specs("checkpoint"):
        for k, t in build_on_meta(spec, config).state_dict().items():
            keys[spec.prefix + spec.unrename(k)] = t.numel() * 2
    return sum(keys.values())


def config_for_size(config: dict, target_bytes: int) -> dict:
    """Fewest transformer layers whose bf16 file reaches `target_bytes` (sizes are linear in layers)."""
    a, b = _file_bytes(scaled_config(config, 2)), _file_bytes(scaled_config(config, 4))
    per_layer = (b - a) / 2
    layers = max(2, int(-(-(target_bytes - a) // per_layer)) + 2)
    return scaled_config(config, layers)


def write_checkpoint(path: Path, config: dict, model_version: str, build_config: dict | None = None
                     ) -> tuple[int, int]:
    """Random bf16 weights for every registry component, official key names; returns (tensors, params).
    `build_config`: the config the modules are built from when it differs from the embedded one (the text
    projection's input size comes from the Gemma folder, see `text.projection.with_gemma_dims`)."""
    import torch
    from safetensors.torch import save_file

    from model_runtime.components import specs
    from model_runtime.loading import build_on_meta

    gen = torch.Generator().manual_seed(0)
    tensors: dict[str, torch.Tensor] = {}
    for spec in specs("checkpoint"):
        for k, t in build_on_meta(spec, build_config or config).state_dict().items():
            fk = spec.prefix + spec.unrename(k)
            if fk not in tensors:  # shared tensors (VAE statistics) are stored once
                tensors[fk] = (torch.randn(t.shape, generator=gen) * 0.02).to(torch.bfloat16)
    save_file(tensors, str(path), metadata={"config": json.dumps(config), "model_version": model_version})
    return len(tensors), sum(t.numel() for t in tensors.values())


def child_load(path: str, dtype_name: str) -> dict:
    import torch

    from model_runtime.checkpoints import inspect_checkpoint
    from model_runtime.components import specs
    from model_runtime.loading import load_component

    info = inspect_checkpoint(path)
    base = rss_mb()
    dtype = None if dtype_name == "file" else getattr(torch, dtype_name)
    t0 = time.perf_counter()
    modules = [load_component(info.header, s, info.config, dtype=dtype, strict=True)[0] for s in specs("checkpoint")]
    seconds = time.perf_counter() - t0
    weights = sum(t.numel() * t.element_size() for m in modules for t in m.state_dict().values())
    return {"base_rss_mb": base, "peak_rss_mb": peak_rss_mb(), "after_rss_mb": rss_mb(), "load_s": seconds,
            "weights_mb": weights / 2**20}


def load_table(target_gb: float) -> None:
    from model_runtime.checkpoints import inspect_checkpoint

    tiny = inspect_checkpoint(TINY / "checkpoint.safetensors")
    config = config_for_size(tiny.config, int(target_gb * 2**30))
    with tempfile.TemporaryDirectory(prefix="ltx-bench-") as tmp:
        path = Path(tmp) / "ltx-2.3-bench.safetensors"
        t0 = time.perf_counter()
        n, params = write_checkpoint(path, config, tiny.model_version)
        size_mb = path.stat().st_size / 2**20
        print(f"\n## strict load of a generated official-layout checkpoint ({n} tensors, {params / 1e6:.0f} M params, "
              f"{config['transformer']['num_layers']} layers, file {size_mb:.0f} MiB, written in "
              f"{time.perf_counter() - t0:.1f} s)")
        print(f"{'dtype':>8} {'load s':>7} {'weights MiB':>12} {'base RSS':>9} {'peak RSS':>9} {'peak-base':>10} "
              f"{'(peak-base)/file':>17} {'(peak-base)/weights':>20}")
        for dtype in ("file", "float32"):
            r = run_child(["--child-load", str(path), dtype])
            delta = r["peak_rss_mb"] - r["base_rss_mb"]
            label = "bf16" if dtype == "file" else dtype
            print(f"{label:>8} {r['load_s']:7.2f} {r['weights_mb']:12.0f} {r['base_rss_mb']:9.0f} "
                  f"{r['peak_rss_mb']:9.0f} {delta:10.0f} {delta / size_mb:17.2f} {delta / r['weights_mb']:20.2f}",
                  flush=True)
    print(f"(temporary checkpoint deleted: {not path.exists()})")


# --- 3. our CLI vs the reference, per stage and whole process -------------------------------------

BENCH_LAYERS = 10  # with the widths of `scaled_config` and the decoder below: ~330 M parameters
BENCH_DECODER_BASE_CHANNELS = 32  # the video decoder starts at 8 x 32 = 256 channels
BENCH_SHAPE = {"width": 384, "height": 256, "frames": 33, "fps": 24.0, "seed": 42}
BENCH_PROMPT = ("A red fox trots across a snowy forest clearing at dawn, its breath visible in the cold air, "
                "while birds chirp softly and the wind rustles through the pine trees.")
STAGES = ("imports", "load", "text", "stage1", "upsample", "stage2", "video decode", "audio decode", "mux")
CACHE = Path(os.environ.get("LTX_STUDIO_DEV_CACHE", Path.home() / ".cache" / "ltx-studio-dev"))


def bench_model() -> tuple[Path, Path, Path]:
    """(checkpoint, upsampler, Gemma folder): the generated checkpoint, cached in a folder named by the hash
    of its config (written once, to a temp name then renamed), and the fixture's upscaler and Gemma."""
    from model_runtime.checkpoints import inspect_checkpoint
    from model_runtime.text.gemma import inspect_gemma_folder
    from model_runtime.text.projection import with_gemma_dims

    tiny = inspect_checkpoint(TINY / "checkpoint.safetensors")
    config = scaled_config(tiny.config, BENCH_LAYERS)
    config["vae"] = dict(config["vae"], decoder_base_channels=BENCH_DECODER_BASE_CHANNELS)
    key = hashlib.sha256(json.dumps([config, tiny.model_version, "bf16-randn-0.02-seed0"], sort_keys=True)
                         .encode()).hexdigest()[:16]
    path = CACHE / f"bench-{key}" / "ltx-2.3-bench.safetensors"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".partial")
        gemma = inspect_gemma_folder(TINY / "text_encoder").dims
        n, params = write_checkpoint(tmp, config, tiny.model_version, with_gemma_dims(config, gemma))
        os.replace(tmp, path)
        print(f"(generated {path}: {n} tensors, {params / 1e6:.0f} M params)", flush=True)
    return path, TINY / "spatial_upscaler_x2.safetensors", TINY / "text_encoder"


def cli_args(model: tuple[Path, Path, Path], out: Path) -> list[str]:
    s = BENCH_SHAPE
    return ["generate", "--checkpoint", str(model[0]), "--upsampler", str(model[1]), "--text-encoder",
            str(model[2]), "--prompt", BENCH_PROMPT, "--width", str(s["width"]), "--height", str(s["height"]),
            "--frames", str(s["frames"]), "--fps", str(s["fps"]), "--seed", str(s["seed"]), "--stage", "render",
            "--out", str(out)]


def reference_args(model: tuple[Path, Path, Path], out: Path) -> list[str]:
    s = BENCH_SHAPE
    return [str(REPO / "benchmarks" / "reference_distilled.py"), *map(str, model), str(out), BENCH_PROMPT,
            str(s["width"]), str(s["height"]), str(s["frames"]), str(s["fps"]), str(s["seed"])]


def child_cli_profile(argv: list[str]) -> dict:
    """Run our CLI in this process with every stage wrapped (same cut as reference_distilled.py)."""
    from stage_timer import StageTimer

    timer = StageTimer()
    timer.time_imports()
    from model_runtime import cli, families, runtime
    from model_runtime.media import result
    from model_runtime.pipelines import conditioned
    from model_runtime.text import encoder

    # every name below must exist: a refactor that moves one fails here loudly instead of timing nothing
    timer.patch(runtime.ModelEngine, "component", "load")
    timer.patch(families, "identify", "load")  # headers of every model file (ModelFiles.single / .split)
    timer.patch(encoder.TextEncoder, "_load_gemma", "load")
    timer.patch(encoder, "load_component", "load")
    timer.patch(runtime.ModelEngine, "encode_prompts", "text")
    timer.patch_gen(conditioned, "denoise_stage", lambda job, stage, *a, **k: stage)
    timer.patch(runtime.ModelEngine, "upsample", "upsample")
    timer.patch(runtime.ModelEngine, "decode_audio", "audio decode")
    timer.patch(result, "write_mp4", "mux")
    timer.patch_gen(runtime.ModelEngine, "decode_video", "video decode")
    code = cli.main(argv)
    if code != 0:
        raise SystemExit(code)
    return {"stages": timer.totals}


def timed_process(cmd: list[str]) -> tuple[float, dict | None]:
    """Wall seconds of a whole child process (start to exit) and its last stdout line as JSON, if any."""
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=3600, cwd=REPO,
                          env=dict(os.environ, PYTHONPATH=str(REPO)))
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{cmd[:3]} failed:\n{proc.stderr[-3000:]}")
    lines = proc.stdout.strip().splitlines()
    return wall, (json.loads(lines[-1]) if lines and lines[-1].startswith("{") else None)


def versus_reference(pairs: int, profiles: int) -> None:
    ref_python = os.environ.get("LTX_REFERENCE_PYTHON")
    model = bench_model()
    s = BENCH_SHAPE
    with tempfile.TemporaryDirectory(prefix="ltx-bench-") as tmp:
        ours_out, ref_out = Path(tmp) / "ours.mp4", Path(tmp) / "reference.mp4"
        ours_cli = [sys.executable, "-m", "model_runtime", *cli_args(model, ours_out)]
        ours_profile = [sys.executable, __file__, "--child-cli-profile", *cli_args(model, ours_out)]
        ref_cmd = [ref_python, *reference_args(model, ref_out)] if ref_python else None
        print(f"\n## distilled two-stage render, {s['width']}x{s['height']}, {s['frames']} frames @ {s['fps']:g} fps, "
              f"float32 CPU ({os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}); checkpoint "
              f"{model[0].stat().st_size / 2**20:.0f} MiB bf16")
        ours_runs, ref_runs = [], []
        for _ in range(profiles):  # alternate: ours, reference
            ours_runs.append(timed_process(ours_profile))
            if ref_cmd:
                ref_runs.append(timed_process(ref_cmd))
        print(f"per-stage exclusive seconds (median of {profiles} profiled run(s) each; 'other' = process time "
              "not in a stage: interpreter start, argument checks, ...)")
        print(f"{'stage':<13} {'ours s':>8} {'reference s':>12} {'ours/ref':>9}")
        for stage in (*STAGES, "other", "process"):
            ours = statistics.median(_stage(r, stage) for r in ours_runs)
            ref = statistics.median(_stage(r, stage) for r in ref_runs) if ref_runs else float("nan")
            ratio = ours / ref if ref_runs and ref > 0 else float("nan")
            print(f"{stage:<13} {ours:8.2f} {ref:12.2f} {ratio:9.2f}", flush=True)
        if pairs <= 0:
            return
        print(f"\nwhole process (our CLI `{' '.join(ours_cli[1:4])} ...` vs reference_distilled.py), "
              f"{pairs} alternating pairs")
        ratios = []
        for i in range(pairs):
            load = os.getloadavg()[0]
            ours, _ = timed_process(ours_cli)
            ref, _ = timed_process(ref_cmd) if ref_cmd else (float("nan"), None)
            ratios.append(ours / ref)
            print(f"pair {i + 1}: ours {ours:6.2f} s  reference {ref:6.2f} s  ratio {ours / ref:5.2f}  "
                  f"(load average before {load:.1f})", flush=True)
        if ref_cmd:
            print(f"whole-process ratio ours/reference: median {statistics.median(ratios):.2f} "
                  f"(pairs {min(ratios):.2f}-{max(ratios):.2f})")


def _stage(run: tuple[float, dict], stage: str) -> float:
    wall, data = run
    stages = data["stages"]
    if stage == "process":
        return wall
    if stage == "other":
        return wall - sum(stages.values())
    return stages.get(stage, 0.0)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child-render":
        w, h = (int(v) for v in sys.argv[2].split("x"))
        print(json.dumps(child_render(w, h, int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5]))))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "--child-load":
        print(json.dumps(child_load(sys.argv[2], sys.argv[3])))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "--child-cli-profile":
        from model_runtime.cli import exit_now

        print(json.dumps(child_cli_profile(sys.argv[2:])))
        exit_now(0)  # ends as `python -m model_runtime` does (its "other" includes the same exit)
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pairs", type=int, default=5, help="alternating whole-process pairs vs the reference")
    ap.add_argument("--profiles", type=int, default=1, help="profiled runs per side for the stage table")
    ap.add_argument("--sizes", default="", help="tiny-fixture render table: WxH list, multiples of 64")
    ap.add_argument("--frames", type=int, default=17)
    ap.add_argument("--fps", type=float, default=24.0)
    ap.add_argument("--repeats", type=int, default=5, help="warm runs per size")
    ap.add_argument("--big-gb", type=float, default=0.0, help="load table: generated checkpoint GiB (0 = skip)")
    args = ap.parse_args()
    sizes = [tuple(int(v) for v in s.split("x")) for s in args.sizes.split(",") if s]
    if not sizes and args.big_gb <= 0:
        versus_reference(args.pairs, args.profiles)
    if sizes:
        render_table(sizes, args.frames, args.fps, args.repeats)
    if args.big_gb > 0:
        load_table(args.big_gb)


if __name__ == "__main__":
    main()
