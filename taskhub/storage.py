"""The one seam between the task hub and Azure Storage.

This is the only module that imports ``azure.*``. It wraps the SDKs' asyncio clients
(azure-storage-queue, azure-data-tables, azure-storage-blob, azure-identity) behind one ``Storage``
object whose methods take and return plain Python values, and it turns every SDK error into
:class:`~taskhub.errors.StorageError` with a ``kind`` (not found, conflict, precondition failed,
lease lost, other). It also counts the calls it makes (``Storage.calls``), which the benchmark reads.

Table rows are plain dicts: ``str`` -> Edm.String, ``int`` -> Edm.Int32, ``bool`` -> Edm.Boolean,
aware ``datetime`` -> Edm.DateTime. Rows read back are :class:`Row` (a dict with ``etag`` and
``timestamp``).
"""

from __future__ import annotations

import base64
import collections
import functools
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, ParamSpec, TypeVar
from urllib.parse import quote

from azure.core import MatchConditions
from azure.core.exceptions import (
    AzureError,
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
    ServiceRequestError,
)
from azure.data.tables import EntityProperty, TableTransactionError, UpdateMode
from azure.data.tables.aio import TableServiceClient
from azure.storage.blob.aio import BlobLeaseClient, BlobServiceClient
from azure.storage.queue.aio import QueueServiceClient

from taskhub.errors import StorageError, StorageErrorKind
from taskhub.settings import ConnectionInfo, Settings

__all__ = ["Storage", "Row", "ReceivedMessage", "BatchOp", "BlobInfo", "QueryPage"]

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")

_LEASE_LOST_CODES = {
    "LeaseLost",
    "LeaseIdMismatchWithLeaseOperation",
    "LeaseIdMismatchWithBlobOperation",
    "LeaseIdMismatchWithContainerOperation",
    "LeaseNotPresentWithLeaseOperation",
    "LeaseNotPresentWithBlobOperation",
    "LeaseNotPresentWithContainerOperation",
    "LeaseIdMissing",
    "LeaseIsBrokenAndCannotBeRenewed",
    "LeaseIsBreakingAndCannotBeAcquired",
    "LeaseIsBreakingAndCannotBeChanged",
}


def _classify(err: AzureError, operation: str) -> StorageError:
    """Translate an SDK exception into a StorageError with a kind."""
    status = getattr(err, "status_code", None)
    code = getattr(err, "error_code", None)
    if code is None and isinstance(err, HttpResponseError) and err.response is not None:
        code = getattr(err.response, "headers", {}).get("x-ms-error-code")
    code = getattr(code, "value", code)  # the queue SDK gives an enum (StorageErrorCode.POP_RECEIPT_MISMATCH)
    code = str(code) if code else None
    if code in _LEASE_LOST_CODES:
        kind = StorageErrorKind.LEASE_LOST
    elif isinstance(err, ResourceNotFoundError) or status == 404 or code == "PopReceiptMismatch":
        kind = StorageErrorKind.NOT_FOUND
    elif isinstance(err, ResourceModifiedError) or status == 412:
        kind = StorageErrorKind.PRECONDITION_FAILED
    elif isinstance(err, ResourceExistsError) or status == 409:
        kind = StorageErrorKind.CONFLICT
    else:
        kind = StorageErrorKind.OTHER
    if isinstance(err, ServiceRequestError):
        message = f"cannot reach the storage service ({_first_line(err)}); is Azurite running?"
    else:
        message = _first_line(err)
    return StorageError(kind, message, status=status, code=code, operation=operation)


def _first_line(err: BaseException) -> str:
    text = str(getattr(err, "message", None) or err) or type(err).__name__
    return text.strip().splitlines()[0][:300]


def _op(fn: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
    """Count the call under the method's name and translate SDK errors."""
    name = fn.__name__

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        self = args[0]
        self.calls[name] += 1  # type: ignore[attr-defined]
        try:
            return await fn(*args, **kwargs)
        except TableTransactionError as err:
            raise _classify(err, name) from err
        except AzureError as err:
            raise _classify(err, name) from err

    return wrapper


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


class Row(dict[str, Any]):
    """A table entity as plain values, with the service's ``etag`` and ``timestamp``."""

    etag: str | None = None
    timestamp: datetime | None = None


@dataclass
class ReceivedMessage:
    """A queue message this process holds; ``pop_receipt`` changes on every update."""

    queue: str
    id: str
    pop_receipt: str
    content: str
    dequeue_count: int
    inserted_on: datetime | None
    next_visible_on: datetime | None


@dataclass
class BlobInfo:
    etag: str
    lease_state: str  # available | leased | expired | breaking | broken
    lease_status: str  # locked | unlocked


@dataclass
class QueryPage:
    rows: list[Row]
    continuation_token: str | None


BatchKind = Literal[
    "insert", "upsert_replace", "upsert_merge", "merge_if_match", "replace_if_match", "delete"
]


@dataclass
class BatchOp:
    """One operation of an entity-group transaction (all rows share one PartitionKey)."""

    kind: BatchKind
    row: dict[str, Any]
    etag: str | None = None


def _plain(value: Any) -> Any:
    if isinstance(value, EntityProperty):
        return value.value
    return value


def _to_row(entity: Any) -> Row:
    row = Row({k: _plain(v) for k, v in entity.items()})
    meta = getattr(entity, "metadata", None) or {}
    row.etag = meta.get("etag")
    row.timestamp = meta.get("timestamp")
    return row


def _encode_token(token: Any) -> str | None:
    if not token:
        return None
    return base64.urlsafe_b64encode(json.dumps(token, separators=(",", ":")).encode()).decode()


def _decode_token(token: str | None) -> Any:
    if not token:
        return None
    try:
        return json.loads(base64.urlsafe_b64decode(token.encode()))
    except ValueError:
        raise ValueError(f"continuation token {token[:40]!r} is not one this hub issued") from None


class Storage:
    """Queues, tables and blobs of one storage account (tables may live in a tracking account).

    Use as ``async with Storage(settings) as storage:`` or call :meth:`close`.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.calls: collections.Counter[str] = collections.Counter()
        self._credentials: list[Any] = []
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
        network: dict[str, Any] = {"use_env_settings": False, "connection_timeout": 10, "read_timeout": 30}
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
        await self._queues.close()
        await self._tables.close()
        await self._blobs.close()
        for cred in self._credentials:
            await cred.close()

    async def __aenter__(self) -> Storage:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

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

    # -- queues -----------------------------------------------------------------------------------

    @_op
    async def create_queue(self, name: str) -> bool:
        """Create a queue; False if it already existed."""
        try:
            await self._queue(name).create_queue()
            return True
        except ResourceExistsError:
            return False

    @_op
    async def delete_queue(self, name: str) -> bool:
        """Delete a queue; False if there was none."""
        try:
            await self._queue(name).delete_queue()
            return True
        except ResourceNotFoundError:
            return False

    @_op
    async def list_queues(self, prefix: str) -> list[str]:
        """Names of the queues starting with ``prefix``."""
        return [q.name async for q in self._queues.list_queues(name_starts_with=prefix)]

    @_op
    async def send_message(self, queue: str, content: str, *, visibility_timeout: int = 0) -> None:
        """Put a message that never expires (ttl -1), invisible for ``visibility_timeout`` seconds."""
        await self._queue(queue).send_message(
            content, visibility_timeout=visibility_timeout or None, time_to_live=-1
        )

    @_op
    async def receive_messages(
        self, queue: str, *, max_messages: int, visibility_timeout: int
    ) -> list[ReceivedMessage]:
        """Dequeue up to ``max_messages`` (one service call), hiding them for ``visibility_timeout`` s."""
        paged = self._queue(queue).receive_messages(
            messages_per_page=max_messages, max_messages=max_messages, visibility_timeout=visibility_timeout
        )
        out: list[ReceivedMessage] = []
        async for page in paged.by_page():
            async for m in page:
                out.append(
                    ReceivedMessage(
                        queue=queue,
                        id=m.id,
                        pop_receipt=m.pop_receipt,
                        content=m.content if isinstance(m.content, str) else bytes(m.content).decode("utf-8"),
                        dequeue_count=m.dequeue_count or 0,
                        inserted_on=m.inserted_on,
                        next_visible_on=m.next_visible_on,
                    )
                )
            break
        return out

    @_op
    async def update_message(self, message: ReceivedMessage, *, visibility_timeout: int) -> None:
        """Change a held message's visibility; updates ``message.pop_receipt`` and ``next_visible_on``."""
        updated = await self._queue(message.queue).update_message(
            message.id, message.pop_receipt, visibility_timeout=visibility_timeout
        )
        message.pop_receipt = updated.pop_receipt
        message.next_visible_on = updated.next_visible_on

    @_op
    async def delete_message(self, message: ReceivedMessage) -> None:
        """Delete a held message."""
        await self._queue(message.queue).delete_message(message.id, message.pop_receipt)

    @_op
    async def peek_messages(self, queue: str, *, max_messages: int = 32) -> list[ReceivedMessage]:
        """Look at up to 32 visible messages without taking them (no pop receipt)."""
        msgs = await self._queue(queue).peek_messages(max_messages=max_messages)
        return [
            ReceivedMessage(
                queue, m.id, "", m.content, m.dequeue_count or 0, m.inserted_on, m.next_visible_on
            )
            for m in msgs
        ]

    @_op
    async def queue_length(self, queue: str) -> int:
        """Approximate number of messages in a queue."""
        props = await self._queue(queue).get_queue_properties()
        return int(props.approximate_message_count or 0)

    # -- tables -----------------------------------------------------------------------------------

    @_op
    async def create_table(self, name: str) -> bool:
        """Create a table; False if it already existed."""
        try:
            await self._tables.create_table(name)
            return True
        except ResourceExistsError:
            return False

    @_op
    async def delete_table(self, name: str) -> bool:
        """Delete a table; False if there was none."""
        try:
            await self._tables.delete_table(name)
        except ResourceNotFoundError:
            return False
        return True

    @_op
    async def list_tables(self, prefix: str) -> list[str]:
        """Names of the tables starting with ``prefix`` (case-sensitive compare on the returned names)."""
        names = [t.name async for t in self._tables.list_tables()]
        return [n for n in names if n.lower().startswith(prefix.lower())]

    @_op
    async def get_entity(self, table: str, partition_key: str, row_key: str) -> Row | None:
        """One row, or None."""
        try:
            return _to_row(await self._table(table).get_entity(partition_key, row_key))
        except ResourceNotFoundError:
            return None

    @_op
    async def query_page(
        self,
        table: str,
        query_filter: str | None,
        *,
        select: Sequence[str] | None = None,
        page_size: int = 1000,
        continuation_token: str | None = None,
    ) -> QueryPage:
        """One page of a query and the token for the next (None at the end)."""
        client = self._table(table)
        kwargs: dict[str, Any] = {"results_per_page": page_size}
        if select:
            kwargs["select"] = list(select)
        paged = (
            client.query_entities(query_filter, **kwargs) if query_filter else client.list_entities(**kwargs)
        )
        pages = paged.by_page(continuation_token=_decode_token(continuation_token))
        rows: list[Row] = []
        async for page in pages:
            async for entity in page:
                rows.append(_to_row(entity))
            break
        return QueryPage(rows, _encode_token(pages.continuation_token))

    async def query(
        self, table: str, query_filter: str | None, *, select: Sequence[str] | None = None
    ) -> AsyncIterator[Row]:
        """Every row matching the filter, page by page (each page counts as one call)."""
        token: str | None = None
        while True:
            page = await self.query_page(table, query_filter, select=select, continuation_token=token)
            for row in page.rows:
                yield row
            token = page.continuation_token
            if not token:
                return

    @_op
    async def insert_entity(self, table: str, row: dict[str, Any]) -> str:
        """Insert a new row (conflict if it exists); returns its ETag."""
        meta = await self._table(table).create_entity(row)
        return str(meta.get("etag"))

    @_op
    async def upsert_entity(
        self, table: str, row: dict[str, Any], *, mode: Literal["merge", "replace"] = "merge"
    ) -> str:
        """Insert-or-merge (or insert-or-replace) a row; returns its ETag."""
        meta = await self._table(table).upsert_entity(
            row, mode=UpdateMode.MERGE if mode == "merge" else UpdateMode.REPLACE
        )
        return str(meta.get("etag"))

    @_op
    async def update_entity(
        self,
        table: str,
        row: dict[str, Any],
        *,
        etag: str | None,
        mode: Literal["merge", "replace"] = "merge",
    ) -> str:
        """Merge/replace an existing row, If-Match ``etag`` (None = unconditional); returns the new ETag."""
        kwargs: dict[str, Any] = {"mode": UpdateMode.MERGE if mode == "merge" else UpdateMode.REPLACE}
        if etag:
            kwargs.update(etag=etag, match_condition=MatchConditions.IfNotModified)
        meta = await self._table(table).update_entity(row, **kwargs)
        return str(meta.get("etag"))

    @_op
    async def delete_entity(
        self, table: str, partition_key: str, row_key: str, *, etag: str | None = None
    ) -> bool:
        """Delete a row (If-Match ``etag`` when given); False if it was not there."""
        kwargs: dict[str, Any] = {}
        if etag:
            kwargs.update(etag=etag, match_condition=MatchConditions.IfNotModified)
        try:
            await self._table(table).delete_entity(partition_key, row_key, **kwargs)
        except ResourceNotFoundError:
            return False
        return True

    @_op
    async def submit_batch(self, table: str, ops: Iterable[BatchOp]) -> list[str | None]:
        """Run an entity-group transaction (<= 100 ops, one PartitionKey), all or nothing; ETags in order."""
        actions: list[Any] = []
        for op in ops:
            if op.kind == "insert":
                actions.append(("create", op.row))
            elif op.kind == "upsert_replace":
                actions.append(("upsert", op.row, {"mode": UpdateMode.REPLACE}))
            elif op.kind == "upsert_merge":
                actions.append(("upsert", op.row, {"mode": UpdateMode.MERGE}))
            elif op.kind in ("merge_if_match", "replace_if_match"):
                mode = UpdateMode.MERGE if op.kind == "merge_if_match" else UpdateMode.REPLACE
                actions.append(
                    (
                        "update",
                        op.row,
                        {"mode": mode, "etag": op.etag, "match_condition": MatchConditions.IfNotModified},
                    )
                )
            elif op.kind == "delete":
                extra = {"etag": op.etag, "match_condition": MatchConditions.IfNotModified} if op.etag else {}
                actions.append(("delete", op.row, extra))
            else:  # pragma: no cover - guarded by the Literal type
                raise ValueError(f"unknown batch operation {op.kind!r}")
        if not actions:
            return []
        results = await self._table(table).submit_transaction(actions)
        return [r.get("etag") if r else None for r in results]

    # -- blobs ------------------------------------------------------------------------------------

    @_op
    async def create_container(self, name: str) -> bool:
        """Create a blob container; False if it already existed."""
        try:
            await self._blobs.create_container(name)
            return True
        except ResourceExistsError:
            return False

    @_op
    async def delete_container(self, name: str) -> bool:
        """Delete a container and its blobs; False if there was none."""
        try:
            await self._blobs.delete_container(name)
        except ResourceNotFoundError:
            return False
        return True

    @_op
    async def list_containers(self, prefix: str) -> list[str]:
        """Names of the containers starting with ``prefix``."""
        return [c.name async for c in self._blobs.list_containers(name_starts_with=prefix)]

    @_op
    async def upload_blob(
        self,
        container: str,
        name: str,
        data: bytes,
        *,
        if_none_match: bool = False,
        lease_id: str | None = None,
    ) -> str:
        """Write a block blob (overwrite, or only-if-absent with ``if_none_match``); returns its ETag."""
        blob = self._blobs.get_blob_client(container, name)
        # overwrite=False makes the SDK send If-None-Match: *
        kwargs: dict[str, Any] = {"overwrite": not if_none_match}
        if lease_id:
            kwargs["lease"] = lease_id
        result = await blob.upload_blob(data, **kwargs)
        return str(result.get("etag"))

    @_op
    async def download_blob(self, container: str, name: str) -> bytes:
        """A blob's whole content."""
        stream = await self._blobs.get_blob_client(container, name).download_blob()
        return bytes(await stream.readall())

    @_op
    async def read_blob(self, container: str, name: str) -> tuple[bytes, BlobInfo]:
        """A blob's content and its ETag and lease state, in one call."""
        stream = await self._blobs.get_blob_client(container, name).download_blob()
        data = bytes(await stream.readall())
        props = stream.properties
        return data, BlobInfo(str(props.etag), str(props.lease.state), str(props.lease.status))

    @_op
    async def delete_blob(self, container: str, name: str) -> bool:
        """Delete a blob; False if it was not there."""
        try:
            await self._blobs.get_blob_client(container, name).delete_blob()
        except ResourceNotFoundError:
            return False
        return True

    @_op
    async def list_blobs(self, container: str, prefix: str | None = None) -> list[str]:
        """Names of the blobs (optionally under ``prefix``); empty if the container does not exist."""
        try:
            cc = self._blobs.get_container_client(container)
            return [b.name async for b in cc.list_blobs(name_starts_with=prefix)]
        except ResourceNotFoundError:
            return []

    @_op
    async def blob_properties(self, container: str, name: str) -> BlobInfo:
        """ETag and lease state of a blob."""
        props = await self._blobs.get_blob_client(container, name).get_blob_properties()
        return BlobInfo(str(props.etag), str(props.lease.state), str(props.lease.status))

    def blob_url(self, container: str, name: str) -> str:
        """The blob's URL, each path segment escaped as .NET ``Uri.EscapeDataString`` does."""
        base = self._blobs.get_container_client(container).url.rstrip("/")
        return base + "/" + "/".join(quote(seg, safe="") for seg in name.split("/"))

    def blob_name_from_url(self, container: str, url: str) -> str | None:
        """The blob name inside ``container`` that ``url`` points to, or None if it points elsewhere."""
        from urllib.parse import unquote

        base = self._blobs.get_container_client(container).url.rstrip("/") + "/"
        if not url.startswith(base):
            return None
        return "/".join(unquote(seg) for seg in url[len(base) :].split("/"))

    # -- leases (blob or, with name=None, container) ------------------------------------------------

    def _lease(self, container: str, name: str | None, lease_id: str | None) -> BlobLeaseClient:
        target: Any = (
            self._blobs.get_container_client(container)
            if name is None
            else self._blobs.get_blob_client(container, name)
        )
        return BlobLeaseClient(target, lease_id=lease_id)

    @_op
    async def acquire_lease(
        self, container: str, name: str | None, *, duration: int, proposed_id: str
    ) -> str:
        """Take a lease (15-60 s, or -1) with the given id; conflict if someone holds it."""
        lease = self._lease(container, name, proposed_id)
        await lease.acquire(lease_duration=duration)
        return str(lease.id)

    @_op
    async def renew_lease(self, container: str, name: str | None, lease_id: str) -> None:
        """Renew a held lease; lease_lost if it is no longer ours."""
        await self._lease(container, name, lease_id).renew()

    @_op
    async def change_lease(self, container: str, name: str | None, lease_id: str, proposed_id: str) -> str:
        """Change a lease's id (how a lease is stolen with the current id read from the blob)."""
        lease = self._lease(container, name, lease_id)
        await lease.change(proposed_lease_id=proposed_id)
        return str(lease.id)

    @_op
    async def release_lease(self, container: str, name: str | None, lease_id: str) -> None:
        """Give a lease up."""
        await self._lease(container, name, lease_id).release()

    @_op
    async def break_lease(self, container: str, name: str | None, *, period: int = 0) -> int:
        """Break whatever lease is held; returns the seconds until it is broken."""
        return int(await self._lease(container, name, None).break_lease(lease_break_period=period))
