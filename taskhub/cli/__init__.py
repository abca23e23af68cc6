"""The ``taskhub`` command line (a face of the hub).

``registry`` holds ``@verb`` and the parser; ``main`` loads the verb modules (``hub``, ``instances``,
``serve``, and plug-ins of the ``taskhub.cli`` entry-point group such as ``worker.cli``) and runs one.
"""

from taskhub.cli.main import main

__all__ = ["main"]
