"""What the operation mixins share: the SDK clients, the lean request paths and the call counter."""

from __future__ import annotations

import collections
from typing import Any, Protocol
from urllib.parse import urlsplit

from taskhub.storage.lean import LeanPipeline
from taskhub.storage.lean_queues import LeanQueue
from taskhub.storage.lean_tables import LeanTable
from taskhub.storage.sdk_internals import (
    is_cosmos_endpoint,
    messages_unencoded,
    queue_policies,
    table_policies,
)

__all__ = ["CallInterceptor", "StorageBase"]


class CallInterceptor(Protocol):
    """Something awaited before every storage call (tests install one to make chosen calls fail)."""

    async def before_call(self, operation: str, args: tuple[Any, ...]) -> None:
        """Called with the operation's name (a method of ``Storage``) and its arguments (``args[0]`` is
        the ``Storage``); an SDK exception raised here is the call's failure."""


class StorageBase:
    lean_requests = True
    """Send the hot calls as the seam's own requests (``lean``); False: through the SDK's operations."""
    interceptor: CallInterceptor | None = None
    """None in production. Tests set one (on ``Storage`` or an instance) to inject faults:
    ``tests/faults.py``."""
    calls: collections.Counter[str]
    _queues: Any
    _tables: Any
    _blobs: Any
    _transports: dict[str, Any]
    _queue_clients: dict[str, Any]
    _table_clients: dict[str, Any]
    _lean: dict[tuple[str, str], LeanTable | LeanQueue | None]
    _lean_pipelines: dict[str, LeanPipeline]

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

    def _lean_pipeline(self, service: str) -> LeanPipeline:
        pipeline = self._lean_pipelines.get(service)
        if pipeline is None:
            policies = table_policies(self._tables) if service == "table" else queue_policies(self._queues)
            pipeline = self._lean_pipelines[service] = LeanPipeline(policies, self._transports[service])
        return pipeline

    def _lean_table(self, name: str) -> LeanTable | None:
        """The table's lean writes (``lean_tables``); None where the SDK path is kept: a SAS in the URL
        or a Cosmos endpoint (whose merge is sent differently)."""
        key = ("table", name)
        if not self.lean_requests:
            return None
        if key not in self._lean:
            client = self._table(name)
            lean = None
            # a table client's url is the account's (primary location), with the SAS if any
            if not urlsplit(client.url).query and not is_cosmos_endpoint(client):
                lean = LeanTable(self._lean_pipeline("table"), client.url, name, client.api_version)
            self._lean[key] = lean
        found = self._lean[key]
        return found if isinstance(found, LeanTable) else None

    def _lean_queue(self, name: str) -> LeanQueue | None:
        """The queue's lean message calls (``lean_queues``); None where the SDK path is kept: a SAS in the
        URL, or a message encoding other than none."""
        key = ("queue", name)
        if not self.lean_requests:
            return None
        if key not in self._lean:
            client = self._queue(name)
            lean = None
            if not urlsplit(client.url).query and messages_unencoded(client):
                lean = LeanQueue(self._lean_pipeline("queue"), client.url, client.api_version)
            self._lean[key] = lean
        found = self._lean[key]
        return found if isinstance(found, LeanQueue) else None

    async def _intercept(self, operation: str, args: tuple[Any, ...]) -> None:
        """Await the interceptor, if any, before ``operation``."""
        if self.interceptor is not None:
            await self.interceptor.before_call(operation, args)
