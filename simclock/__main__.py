"""`python -m simclock`: the same as the `simclock` command."""

import sys

from simclock.cli import main

sys.exit(main())
