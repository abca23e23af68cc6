"""``python -m worker MODULE:APP``."""

import sys

from worker.cli.worker import main

sys.exit(main())
