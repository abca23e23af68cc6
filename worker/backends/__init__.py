"""The backend seam: where work items come from and where episodes are committed. ``base`` holds the
interfaces (``Backend``, ``PartitionManager``); each backend is one folder (``azure_storage``).
"""

__all__: list[str] = []
