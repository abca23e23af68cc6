"""The Azure Storage backend (DTFx AzureStorage format): ``checkpoint`` (the one ordered commit),
``instance_rows`` (coalesced Instances-row merges), the two partition managers: ``partitions`` (lease
blobs) and ``table_partitions`` (the Partitions table); ``backend``, ``work_items``, ``activity_items``
and ``listener`` implement ``worker.backends.base``.
"""

__all__: list[str] = []
