"""Frozen entry point: one program, two names. `ltx-studio` starts the app; `ltx-studio-cli` (a second
executable in the same bundle, a console one on Windows) runs the command line. Both share one analysis
of the code, so the bundle carries each library once."""

import sys
from pathlib import Path


def main() -> int:
    if Path(sys.executable).stem.lower().endswith("-cli"):
        from model_runtime.cli import console

        console()  # ends the process (see `model_runtime.cli.exit_now`)
    from ltx_studio.app import main as app_main

    return app_main()


if __name__ == "__main__":
    sys.exit(main())
