"""The Azure Storage backend (DTFx AzureStorage format): ``checkpoint`` (the one ordered commit),
``instance_rows`` (coalesced Instances-row merges), ``partitions`` (the lease-blob partition manager).
"""

__all__: list[str] = []
