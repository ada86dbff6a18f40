"""Run a draft of the full-width scale model through `ltx-studio-cli generate` and measure it from outside.

    .venv/bin/python benchmarks/scale_run.py                     # K=4, L=2, 320x192x9 draft, --ram-gb 6
    .venv/bin/python benchmarks/scale_run.py --ram-gb none       # the machine's own RAM (no memory flags)

The model comes from `benchmarks/scale_model.py` (generated once into ~/.cache/ltx-studio-dev, reused).
`generate` runs as a child process exactly as a user runs it; this script samples the RssAnon of the
child's whole process tree every 50 ms (what the OS cannot drop: the figure a RAM budget is about) and
prints it against the budget, the wall time, the seconds per denoising step and the plan's predicted RAM
(both from the child's stderr), and on a GPU its peak VRAM against the plan. `--json FILE` keeps the rows.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.scale_model import ensure_scale_model  # noqa: E402
from model_runtime.memory.measure import process_tree, rss_anon_bytes  # noqa: E402


def run_generate(args: list[str], env: dict[str, str] | None = None) -> dict:
    """Run `ltx-studio-cli generate ARGS`; return wall seconds, sampled peak RssAnon of the tree, stderr."""
    cmd = [sys.executable, "-m", "model_runtime", "generate", *args]
    started = time.monotonic()
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT,
                            env=env or dict(os.environ, PYTHONPATH=str(ROOT)))
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.05):
            peak[0] = max(peak[0], sum(rss_anon_bytes(p) for p in process_tree(proc.pid)))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate()
    done.set()
    sampler.join()
    return {"rc": proc.returncode, "wall_s": round(time.monotonic() - started, 1), "peak_rss_anon_gb":
            round(peak[0] / 1e9, 2), "stderr": err, "stdout": out}


def _valid_mp4(path: Path, frames: int) -> bool:
    """The file exists and (with ffprobe installed) holds an H.264 video of `frames` frames and an audio stream."""
    if not path.is_file() or path.stat().st_size == 0:
        return False
    ffprobe = shutil.which("ffprobe")
    if ffprobe is None:
        return True
    info = json.loads(subprocess.run([ffprobe, "-v", "error", "-show_streams", "-of", "json", str(path)],
                                     capture_output=True, text=True).stdout or "{}")
    kinds = {s["codec_type"]: s for s in info.get("streams", [])}
    return "audio" in kinds and int(kinds.get("video", {}).get("nb_frames", -1)) == frames


def parse(stderr: str) -> dict:
    """The plan and measurements `generate` prints on stderr."""
    row: dict = {}
    if m := re.search(r"^ran: (.*)$", stderr, re.M):
        row["plan"] = m.group(1)
    if m := re.search(r"predicted ([\d.]+) GB, RAM plan", stderr):
        row["predicted_ram_gb"] = float(m.group(1))
    if m := re.search(r"peak RssAnon ([\d.]+) GB", stderr):
        row["self_reported_rss_anon_gb"] = float(m.group(1))
    if m := re.search(r"peak VRAM ([\d.]+) GB allocated \(predicted ([\d.]+) GB\)", stderr):
        row["peak_vram_gb"], row["predicted_vram_gb"] = float(m.group(1)), float(m.group(2))
    row["s_per_step"] = {k: float(v) for k, v in re.findall(r"(stage\w*) ([\d.]+) s/step", stderr)}
    return row


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--blocks", type=int, default=4)
    p.add_argument("--gemma-layers", type=int, default=2)
    p.add_argument("--width", type=int, default=320)
    p.add_argument("--height", type=int, default=192)
    p.add_argument("--frames", type=int, default=9)
    p.add_argument("--ram-gb", default="6", help="RAM budget for generate, or 'none' for no memory flags")
    p.add_argument("--device", default="auto")
    p.add_argument("--prompt", default="A red fox trots across a snowy clearing at dawn.")
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    model = ensure_scale_model(args.blocks, args.gemma_layers)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "scale.mp4"
        gen_args = ["--checkpoint", str(model.checkpoint), "--text-encoder", str(model.text_encoder_dir),
                    "--prompt", args.prompt, "--width", str(args.width), "--height", str(args.height),
                    "--frames", str(args.frames), "--device", args.device, "--out", str(out)]
        if args.ram_gb != "none":
            gen_args += ["--ram-gb", args.ram_gb]
        res = run_generate(gen_args)
        mp4_ok = _valid_mp4(out, args.frames)
    row = {"model": f"K={args.blocks} L={args.gemma_layers}", "size": f"{args.width}x{args.height}x{args.frames}",
           "ram_gb_flag": args.ram_gb, "rc": res["rc"], "mp4_written": mp4_ok, "wall_s": res["wall_s"],
           "peak_rss_anon_gb": res["peak_rss_anon_gb"], **parse(res["stderr"])}
    budget = None if args.ram_gb == "none" else float(args.ram_gb)
    lines = [f"scale draft {row['size']} on {row['model']}: rc {row['rc']}, mp4 {'ok' if mp4_ok else 'MISSING'}",
             f"  plan: {row.get('plan', '?')}",
             f"  peak RssAnon (process tree, sampled) {row['peak_rss_anon_gb']:.2f} GB"
             + (f" vs budget {budget:g} GB (ratio {row['peak_rss_anon_gb'] / budget:.2f})" if budget else "")
             + f"; plan predicted {row.get('predicted_ram_gb', float('nan')):.2f} GB",
             f"  wall {row['wall_s']:.1f} s; per denoising step: "
             + ", ".join(f"{k} {v:.2f} s" for k, v in row["s_per_step"].items())]
    if "peak_vram_gb" in row:
        lines.append(f"  peak VRAM {row['peak_vram_gb']:.2f} GB vs plan {row['predicted_vram_gb']:.2f} GB "
                     f"(ratio {row['peak_vram_gb'] / max(row['predicted_vram_gb'], 1e-9):.2f})")
    print("\n".join(lines))  # noqa: T201 - a benchmark's report
    if res["rc"] != 0:
        print(res["stderr"][-3000:], file=sys.stderr)  # noqa: T201
    if args.json:
        args.json.write_text(json.dumps(row, indent=2))
    return res["rc"]


if __name__ == "__main__":
    raise SystemExit(main())
