"""What the operation mixins share: the SDK clients and the call counter."""

from __future__ import annotations

import collections
from typing import Any

__all__ = ["StorageBase"]


class StorageBase:
    calls: collections.Counter[str]
    _queues: Any
    _tables: Any
    _blobs: Any
    _queue_clients: dict[str, Any]
    _table_clients: dict[str, Any]

    def _queue(self, name: str) -> Any:
        client = self._queue_clients.get(name)
        if client is None:
            client = self._queue_clients[name] = self._queues.get_queue_client(name)
        return client

    def _table(self, name: str) -> Any:
        client = self._table_clients.get(name)
        if client is None:
            client = self._table_clients[name] = self._tables.get_table_client(name)
        return client
