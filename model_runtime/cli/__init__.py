"""`ltx-studio-cli`: the runtime's command line (goldens, layout, generate, export, presets, plan).

Each subcommand lives in its own module exposing `register(subparsers)`, listed below as the imported
module. Those modules import only the standard library at their top: a subcommand's heavy imports (torch,
the planner, PyAV) sit inside its handler, so `ltx-studio-cli --help` stays fast.
"""

from __future__ import annotations

import argparse
import logging
import sys

from model_runtime import __version__
from model_runtime.cli import export, generate, goldens, layout, plan
from model_runtime.errors import RuntimeErrorBase

#: in `--help` order: check-goldens, check-layout, generate, export + presets, plan
SUBCOMMANDS = (goldens, layout, generate, export, plan)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ltx-studio-cli", description="LTX Studio runtime tools")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level to stderr")
    sub = parser.add_subparsers(dest="command", required=True)
    for command in SUBCOMMANDS:
        command.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        return int(args.func(args) or 0)
    except RuntimeErrorBase as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("cancelled\n")
        return 130


if __name__ == "__main__":
    sys.exit(main())
