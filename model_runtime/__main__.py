import sys

try:  # Ctrl-C while Python imports the CLI: the same one line as anywhere else, never a traceback
    from model_runtime.cli import console
except KeyboardInterrupt:
    sys.stderr.write("cancelled\n")
    sys.exit(130)

console()
