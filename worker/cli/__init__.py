"""The command-line verbs the worker contributes to ``taskhub`` (entry-point group ``taskhub.cli``):
``worker`` (``taskhub worker MODULE:APP``), ``func`` (``taskhub func start``), and ``replay``
(``taskhub replay``, registered by ``worker``).
"""

__all__: list[str] = []
