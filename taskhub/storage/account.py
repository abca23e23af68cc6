"""``Storage``: the SDK clients of one account (tables may be in a tracking account), and their lifecycle."""

from __future__ import annotations

import collections
from typing import Any

from azure.data.tables.aio import TableServiceClient
from azure.storage.blob.aio import BlobServiceClient
from azure.storage.queue.aio import QueueServiceClient

from taskhub.config.settings import ConnectionInfo, Settings
from taskhub.storage.blobs import BlobOps
from taskhub.storage.conditions import StorageConditions
from taskhub.storage.queues import QueueOps
from taskhub.storage.tables import TableOps
from taskhub.storage.transport import KeepAliveTransport

__all__ = ["Storage"]


def _proxies_for(endpoint: str) -> dict[str, str]:
    """The environment's proxies (HTTP_PROXY, HTTPS_PROXY) for ``endpoint``, honouring NO_PROXY; none
    for loopback addresses."""
    import ipaddress
    import urllib.request
    from urllib.parse import urlsplit

    host = urlsplit(endpoint).hostname or ""
    try:
        if host == "localhost" or ipaddress.ip_address(host).is_loopback:
            return {}
    except ValueError:
        pass
    found = {k: v for k, v in urllib.request.getproxies().items() if k in ("http", "https")}
    if not found or urllib.request.proxy_bypass(host):
        return {}
    return found


class Storage(QueueOps, TableOps, BlobOps):
    """Queues, tables and blobs of one storage account (tables may live in a tracking account).

    Use as ``async with Storage(settings) as storage:`` or call :meth:`close`.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.calls: collections.Counter[str] = collections.Counter()
        self.conditions = StorageConditions()
        """Known failure conditions, one log line each (``taskhub.storage.conditions``)."""
        self._credentials: list[Any] = []
        self._transports: dict[str, Any] = {}
        self._lean: dict[tuple[str, str], Any] = {}
        self._lean_pipelines: dict[str, Any] = {}
        conn = settings.connection
        tracking = settings.tracking_connection or conn
        self._queues = self._make_client(QueueServiceClient, conn, "queue")
        self._blobs = self._make_client(BlobServiceClient, conn, "blob")
        self._tables = self._make_client(TableServiceClient, tracking, "table")
        self._queue_clients: dict[str, Any] = {}
        self._table_clients: dict[str, Any] = {}

    # -- lifecycle --------------------------------------------------------------------------------

    def _make_client(self, cls: Any, conn: ConnectionInfo, service: str) -> Any:
        # The SDK defaults wait 15 s+ between retries (storage) or retry 10 times (tables); the runtime
        # has its own backoff loops, so a failing call should surface within a few seconds.
        retry: dict[str, Any] = (
            {"retry_total": 3, "retry_backoff_factor": 0.4, "retry_backoff_max": 4}
            if service == "table"
            else {"retry_total": 3, "initial_backoff": 0.5, "increment_base": 2, "random_jitter_range": 1}
        )
        endpoint = conn.endpoints()[service]
        # aiohttp with trust_env re-reads ~/.netrc and the proxy variables on every request, in the
        # thread pool: half the queue throughput. Read the proxy settings once here instead.
        # The SDKs wait up to 300 s for a response; a worker must not stall that long on one call:
        # give up after 30 s and let the retry policy try again.
        timeouts = {"connection_timeout": 10, "read_timeout": 30}
        network: dict[str, Any] = {"use_env_settings": False, **timeouts}
        # idle connections are dropped before the server closes them (see taskhub.storage.transport)
        # kept: the seam's own requests (``lean``) go through the same transport and connection pool
        network["transport"] = self._transports[service] = KeepAliveTransport(use_env_settings=False, **timeouts)
        proxies = _proxies_for(endpoint or "")
        if proxies:
            network["proxies"] = proxies
        if conn.connection_string:
            return cls.from_connection_string(conn.connection_string, **retry, **network)
        credential = self._credential(conn)
        return cls(endpoint, credential=credential, **retry, **network)

    def _credential(self, conn: ConnectionInfo) -> Any:
        from azure.identity.aio import (
            ClientSecretCredential,
            DefaultAzureCredential,
            ManagedIdentityCredential,
        )

        cred: Any
        if (conn.credential or "").lower().startswith("managedidentity"):
            cred = (
                ManagedIdentityCredential(client_id=conn.client_id)
                if conn.client_id
                else ManagedIdentityCredential()
            )
        elif conn.tenant_id and conn.client_id and conn.client_secret:
            cred = ClientSecretCredential(conn.tenant_id, conn.client_id, conn.client_secret)
        else:
            cred = DefaultAzureCredential()
        self._credentials.append(cred)
        return cred

    async def close(self) -> None:
        for client in (*self._queue_clients.values(), *self._table_clients.values()):
            await client.close()
        self._queue_clients.clear()
        self._table_clients.clear()
        self._lean.clear()
        self._lean_pipelines.clear()
        await self._queues.close()
        await self._tables.close()
        await self._blobs.close()
        for cred in self._credentials:
            await cred.close()

    async def __aenter__(self) -> Storage:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
