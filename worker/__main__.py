"""``python -m worker MODULE:APP``."""

import sys

from worker.cli import main

sys.exit(main())
