"""``python -m rnnkit``: the ``rnnkit`` command line, for when the console script is not on PATH."""

import sys

from rnnkit.cli.main import main

sys.exit(main())
