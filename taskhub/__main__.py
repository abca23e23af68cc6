"""``python -m taskhub`` = the ``taskhub`` command."""

import sys

from taskhub.cli import main

sys.exit(main())
