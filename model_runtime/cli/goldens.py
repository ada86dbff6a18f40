"""`ltx-studio-cli check-goldens DIR`: run every golden section and print one row per compared tensor.

DIR is a golden set laid out like `shared/fixtures/ltx23_tiny/` (LTX-2.3 single file) or
`shared/fixtures/ltx25_tiny/` (LTX-2.5 split files named by the golden's `settings["files"]`); every
`golden*.safetensors` in it is checked (the plain goldens and e.g. the conditioning goldens), each of its
sections in turn. Tensors of a section another piece of work owns are listed as not checked (never silently
dropped). Tolerances come from the golden file's
metadata (never from here). Exit status 0 only when every comparison passes; 1 when one fails; 2 when
DIR is not a golden set.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from model_runtime.errors import CheckpointError

log = logging.getLogger(__name__)


def register(subparsers) -> None:
    p = subparsers.add_parser("check-goldens", help="compare the runtime against a reference golden set",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dir", type=Path, help="golden set folder (2.3: checkpoint, upscaler, text_encoder/; 2.5: split "
                   "files; golden*.safetensors)")
    p.add_argument("--section", action="append", default=None,
                   help="run only this section (repeatable); default: all")
    p.set_defaults(func=run)


def _tol(tol: float | str) -> str:
    return f"{tol:.1e}" if isinstance(tol, float) else str(tol)


def format_row(c, width: int) -> str:
    verdict = "PASS" if c.passed and c.checked else "-" if not c.checked else "FAIL"
    detail = f"  {c.detail}" if c.detail else ""
    return f"{c.name:<{width}}  {c.max_abs_error:>10.3e}  {_tol(c.tolerance):>16}  {verdict}{detail}"


def run(args: argparse.Namespace) -> int:
    from model_runtime.goldens import sections as goldens

    root: Path = args.dir
    if not root.is_dir():
        raise CheckpointError(f"{root}: not a folder (expected a golden set folder)")
    if not (root / "golden.safetensors").is_file():
        raise CheckpointError(f"{root}: no golden.safetensors: not a golden set directory")
    known = goldens.all_sections(root)
    sections = tuple(args.section) if args.section else None
    unknown = [s for s in sections or () if s not in known]
    if unknown:
        raise CheckpointError(f"unknown section(s) {unknown}; choose from {list(known)}")
    results = goldens.run_all(root, sections, catch=True)
    width = max([len(c.name) for c in results] + [6])
    out = sys.stdout
    out.write(f"{'tensor':<{width}}  {'max |err|':>10}  {'tolerance':>16}  result\n")
    for c in results:
        out.write(format_row(c, width) + "\n")
    failed = [c.name for c in results if not c.passed]
    skipped = [c for c in results if not c.checked]
    compared = len(results) - len(skipped)
    summary = f"{compared - len(failed)}/{compared} passed" + (
        f", {len(skipped)} not checked ({'; '.join(sorted({c.detail for c in skipped}))})" if skipped else "")
    if not results:
        out.write("goldens FAIL: nothing was compared\n")
        return 1
    out.write(f"goldens {'PASS' if not failed else 'FAIL'}: {summary}" + (f"; failed: {', '.join(failed)}" if failed else "") + "\n")
    return 0 if not failed else 1
