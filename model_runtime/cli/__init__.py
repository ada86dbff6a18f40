"""`ltx-studio-cli`: the runtime's command line (goldens, layout, generate, export, presets, plan, models).

Each subcommand lives in its own module exposing `register(subparsers)`; the module is imported only
when the CLI starts, never at package import.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from model_runtime import __version__
from model_runtime.errors import RuntimeErrorBase

SUBCOMMAND_MODULES = (
    "model_runtime.cli.goldens",   # check-goldens
    "model_runtime.cli.layout",    # check-layout
    "model_runtime.cli.generate",  # generate
    "model_runtime.cli.export",    # export, presets
    "model_runtime.cli.plan",      # plan
    "model_runtime.cli.models",    # models list|scan|verify|download|remove|token
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ltx-studio-cli", description="LTX Studio runtime tools")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level to stderr")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in SUBCOMMAND_MODULES:
        importlib.import_module(name).register(sub)
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
