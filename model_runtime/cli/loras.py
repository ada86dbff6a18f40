"""`ltx-studio-cli loras DIR [--checkpoint FILE | --transformer FILE]`: list a folder's LoRAs and whether each fits.

One row per weight file: name, declared family, rank, adapted modules, size, key convention and, with
--checkpoint (LTX-2.3) or --transformer (LTX-2.5's split transformer file), OK or the reason the file cannot be used with that model (the check a job runs, headers
and LoRA factors only: the model's weights are not loaded). Exit status 0 when every file is usable.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(subparsers) -> None:
    p = subparsers.add_parser("loras", help="list a folder's LoRAs (name, family, rank, size, fits the model?)",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dir", type=Path, help="folder with LoRA .safetensors files (searched recursively)")
    model = p.add_mutually_exclusive_group()
    model.add_argument("--checkpoint", type=Path, default=None, help="check each file against this LTX-2.3 checkpoint")
    model.add_argument("--transformer", type=Path, default=None,
                       help="check each file against this LTX-2.5 transformer file")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from model_runtime.loras.files import LoraTargets
    from model_runtime.loras.library import format_size, scan_folder

    model = args.checkpoint or args.transformer
    targets = None if model is None else LoraTargets.for_model_file(model)
    entries = scan_folder(args.dir, targets)
    out = sys.stdout
    width = max([len(e.path.name) for e in entries] + [4])
    out.write(f"{'name':<{width}}  {'family':<12} {'rank':>5} {'modules':>8} {'size':>10}  {'keys':<10} status\n")
    for e in entries:
        i = e.info
        family = (i.family or "-") if i else "-"
        cols = (f"{i.rank:>5} {i.modules:>8} {format_size(i.size_bytes):>10}  {i.convention:<10}" if i
                else f"{'-':>5} {'-':>8} {'-':>10}  {'-':<10}")
        status = "OK" if e.usable else f"REFUSED: {e.problem}"
        if e.usable and targets is None:
            status = "-"
        out.write(f"{e.path.name:<{width}}  {family:<12} {cols} {status}\n")
    usable = sum(e.usable for e in entries)
    out.write(f"{len(entries)} file(s), {usable} usable" + (f" with {targets.family}" if targets else "") + "\n")
    return 0 if usable == len(entries) else 1

