import sys

try:  # Ctrl-C while Python imports the app: one line, never a traceback
    from ltx_studio.app import main
except KeyboardInterrupt:
    sys.stderr.write("ltx-studio: interrupted during start-up; nothing was changed\n")
    sys.exit(130)

sys.exit(main())
