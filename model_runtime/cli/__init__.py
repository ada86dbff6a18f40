"""`ltx-studio-cli`: the runtime's command line (goldens, layout, generate, export, presets, plan, loras,
models, worker).

Each subcommand lives in its own module exposing `register(subparsers)`, listed below as the imported
module. Those modules import only the standard library at their top: a subcommand's heavy imports (torch,
the planner, PyAV) sit inside its handler, so `ltx-studio-cli --help` stays fast.
"""

from __future__ import annotations

import argparse
import atexit
import logging
import os
import signal
import sys
import threading
import traceback

from model_runtime import __version__
from model_runtime.cli import export, generate, goldens, layout, loras, models, plan, worker
from model_runtime.errors import RuntimeErrorBase

log = logging.getLogger(__name__)

#: in `--help` order: check-goldens, check-layout, generate, export + presets, plan, loras, models, worker
SUBCOMMANDS = (goldens, layout, generate, export, plan, loras, models, worker)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ltx-studio-cli", description="LTX Studio runtime tools")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level to stderr")
    sub = parser.add_subparsers(dest="command", required=True)
    for command in SUBCOMMANDS:
        command.register(sub)
    return parser


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the program is so it unwinds exactly like Ctrl-C: `finally` blocks remove
    temporary files and release output locks, and the exit says what happened in one line."""


def _on_sigterm(signum, frame) -> None:  # noqa: ARG001 - the signal module's handler signature
    raise Terminated()


def _install_sigterm() -> None:
    """Only the main thread may set handlers; an embedding program keeps its own (then this is a no-op)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _on_sigterm)


def main(argv: list[str] | None = None) -> int:
    """Run one subcommand. Whatever happens, the user sees one line on stderr, never a traceback:
    runtime errors say what to change, Ctrl-C and SIGTERM (at any moment, start-up included) say
    "cancelled", and an unforeseen error says so and where the details are (-v)."""
    verbose = False
    try:
        _install_sigterm()
        parser = build_parser()
        args = parser.parse_args(argv)
        verbose = args.verbose
        logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                            format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
        return int(args.func(args) or 0)
    except RuntimeErrorBase as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    except Terminated:
        sys.stderr.write("cancelled (SIGTERM)\n")
        return 143
    except KeyboardInterrupt:
        sys.stderr.write("cancelled\n")
        return 130
    except MemoryError:
        sys.stderr.write("error: out of memory: ask for a smaller size or fewer frames, or close other programs\n")
        return 2
    except Exception as exc:  # noqa: BLE001 - the last line of defence: one line, the details in the -v log
        log.debug("unexpected error", exc_info=True)
        first = (str(exc).strip().splitlines() or [""])[0][:300]
        sys.stderr.write(f"error: unexpected {exc.__class__.__name__}: {first} "
                         f"(run again with -v for details, and please report it)\n")
        if verbose:
            traceback.print_exc(file=sys.stderr)
        return 1


def exit_now(code: int) -> None:
    """End the process with `code` once a command has finished, without the interpreter's teardown.

    Why: after a `generate`, tearing down the interpreter (freeing every object of torch, transformers and
    diffusers, module by module) takes longer than the command's own argument checks: ~3 s of a 4-second
    exit on a loaded 2-core machine, measured (benchmarks/runtime.py counts it as "other"). Nothing is left
    to do by then: the command's `finally` blocks have run, its outputs were written to a temp file and
    renamed. So the atexit handlers run as usual (logging flushes, temp-dir finalizers, torch's own), the
    standard streams are flushed, and the process ends with `os._exit`. Only for entry points that own the
    process; `main` itself returns, for callers (tests, the app) that go on running."""
    try:
        atexit._run_exitfuncs()  # the handlers a normal exit runs; the module teardown is what is skipped
        sys.stdout.flush()
        sys.stderr.flush()
    except BaseException:  # noqa: BLE001 - a closed pipe or a failing handler: exit the ordinary way instead
        sys.exit(code)
    os._exit(code)


def console() -> None:
    """The `ltx-studio-cli` / `python -m model_runtime` entry point: `main`, then `exit_now`."""
    exit_now(main())


if __name__ == "__main__":
    console()
