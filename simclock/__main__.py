"""`python -m simclock`: the same as the `simclock` command."""

import sys

from simclock.replay.cli import main

sys.exit(main())
