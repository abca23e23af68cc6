"""``python -m tests.process.fault_worker ARGS``: the ``taskhub`` command (``python -m taskhub ARGS``)
with the test faults its environment asks for installed first (``tests.faults.install_from_env``).

The process tests start a worker through this module when they inject a fault into it; production code
reads no fault setting.
"""

from __future__ import annotations

import os
import sys

from taskhub.cli import main
from tests.faults import install_from_env

if __name__ == "__main__":
    install_from_env(os.environ)
    sys.exit(main())
