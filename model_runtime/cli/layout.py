"""`ltx-studio-cli check-layout FILE`: build the full-size model on meta and match a file layout both ways.

FILE is the reference layout (`ltx23_layout_full.json.gz`) or a real `.safetensors` checkpoint/upscaler.
Exit status 0 only when every file tensor and every module weight match.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the layout check imports torch (through the loaders): `--help` must not wait for it
    from model_runtime.layout import LayoutReport

#: mismatches listed per file before "... and N more" (the full list is rarely useful on a terminal)
SHOW_MISMATCHES = 25


def register(subparsers) -> None:
    p = subparsers.add_parser("check-layout", help="match the runtime's full-size modules against a file layout",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("file", help="layout .json.gz (reference) or a .safetensors checkpoint / upscaler")
    p.add_argument("--text-encoder", metavar="DIR", default=None,
                   help="Gemma folder that sizes the text projection of a .safetensors file (default: Gemma-3-12B)")
    p.add_argument("--all", action="store_true", help="list every mismatch, not only the first ones")
    p.set_defaults(func=run)


def _billions(n: int) -> str:
    return f"{n / 1e9:.3f} B" if n >= 1e8 else f"{n / 1e6:.3f} M"


def format_report(report: LayoutReport, *, show_all: bool = False) -> list[str]:
    """Human-readable lines: file totals, one row per component, the mismatches, PASS/FAIL."""
    lines = [f"{report.title}: {report.file_tensors} tensors, {report.file_params:,} parameters ({_billions(report.file_params)}) in the file"]
    for c in report.components:
        lines.append(f"  {c.name:<28} {c.tensors:>6} tensors  {_billions(c.params):>12}")
    if report.shared_keys:
        lines.append(f"  tensors shared by encoder and decoder: {len(report.shared_keys)}")
    lines.append(f"  modules total: {report.claimed_params:,} parameters")
    shown = report.mismatches if show_all else report.mismatches[:SHOW_MISMATCHES]
    lines += [f"  MISMATCH {m}" for m in shown]
    if len(report.mismatches) > len(shown):
        lines.append(f"  ... and {len(report.mismatches) - len(shown)} more (use --all)")
    verdict = "PASS" if report.passed else f"FAIL ({len(report.mismatches)} mismatches)"
    lines.append(f"{report.title}: {verdict}")
    return lines


def run(args: argparse.Namespace) -> int:
    from model_runtime.layout import check_layout_file

    reports = check_layout_file(args.file, args.text_encoder)
    for report in reports:
        sys.stdout.write("\n".join(format_report(report, show_all=args.all)) + "\n")
    ok = all(r.passed for r in reports)
    sys.stdout.write(f"layout {'PASS' if ok else 'FAIL'}: {len(reports)} file(s) checked\n")
    return 0 if ok else 1
