import sys

from ltx_studio.app import main

sys.exit(main())
