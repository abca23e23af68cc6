"""Every private part of the Azure SDKs the storage seam relies on, in one place, each with its reason.

The seam sends its hot calls as its own requests (:mod:`taskhub.storage.lean`) through the SDK
client's own policies and transport, and reads table queries as raw JSON (:mod:`taskhub.storage.json_rows`).
Where azure-core or the storage SDKs offer a public way, the seam uses it (a client's ``url``,
``api_version`` and ``scheme``; ``isinstance`` on azure-core's public policy classes; the ``transport``
keyword). What has no public way is read here, and only here:

========================================  ===============================================================
private read                              why there is no public way
========================================  ===============================================================
``TableServiceClient._policies``          the policy list a table client is built from (request id,
                                          headers, proxy, **credential**, redirect, hosts, **retry**): the
                                          SDK's shared-key signer is itself private, so the lean pipeline
                                          reuses these objects rather than building its own
``QueueServiceClient._pipeline``,         the same for queues; the queue SDK keeps only the built
``AsyncPipeline._impl_policies``          pipeline, whose synchronous policies are wrapped in azure-core's
``_SansIOAsyncHTTPPolicyRunner._policy``  private ``_SansIOAsyncHTTPPolicyRunner`` (unwrapped here)
``TableClient._cosmos_endpoint``          whether the SDK treats the endpoint as Cosmos DB (which sends a
                                          merge as POST + X-HTTP-Method): the lean writes keep the SDK path
``QueueClient._message_encode_policy``,   whether messages go as they are (no base64/XML encoding), the
``QueueClient._message_decode_policy``    only encoding the lean queue calls implement
``TableClient._client``                   the generated client, whose public ``send_request`` runs a raw
                                          request through the client's full pipeline (table queries)
``AioHttpTransport._has_been_opened``     the transport's own guard against re-opening a closed session,
                                          kept when :class:`~taskhub.storage.transport.KeepAliveTransport`
                                          opens its session itself
========================================  ===============================================================

Seven of the storage SDK's private policy classes are dropped from the lean pipeline
(:data:`STORAGE_ONLY_POLICIES`), matched by class (imported here) rather than by name.

The SDK versions these reads were checked against are pinned in ``pyproject.toml`` and listed in
:data:`CHECKED_VERSIONS`; ``tests/test_sdk_internals.py`` fails when an installed version differs from
that list or when any read above no longer finds what it expects. Upgrading an SDK is a deliberate change:
bump the pin, run that test, update this module and :data:`CHECKED_VERSIONS`.
"""

from __future__ import annotations

from typing import Any

from azure.core.pipeline._base_async import _SansIOAsyncHTTPPolicyRunner
from azure.core.rest import AsyncHttpResponse, HttpRequest
from azure.storage.queue._message_encoding import NoDecodePolicy, NoEncodePolicy
from azure.storage.queue._shared.policies import (
    QueueMessagePolicy,
    RangeHeaderPolicy,
    StorageContentValidation,
    StorageLoggingPolicy,
    StorageRequestHook,
)
from azure.storage.queue._shared.policies_async import AsyncContentValidationPolicy, AsyncStorageResponseHook

__all__ = [
    "CHECKED_VERSIONS",
    "STORAGE_ONLY_POLICIES",
    "is_cosmos_endpoint",
    "messages_unencoded",
    "queue_policies",
    "send_table_request",
    "table_policies",
    "transport_was_opened",
    "unwrap_policy",
]

CHECKED_VERSIONS = {
    "azure-core": "1.41.0",
    "azure-data-tables": "12.7.0",
    "azure-storage-queue": "12.18.1",
}
"""The distributions whose internals this module was checked against (the pins in ``pyproject.toml``)."""

STORAGE_ONLY_POLICIES: tuple[type, ...] = (
    QueueMessagePolicy,  # message-id URLs of the SDK's own message operations
    RangeHeaderPolicy,  # byte ranges (blobs and files)
    StorageContentValidation,  # MD5 of request bodies the seam never asks for
    AsyncContentValidationPolicy,
    StorageLoggingPolicy,  # debug logging of every request
    StorageRequestHook,  # the raw_request_hook / raw_response_hook keywords the seam never passes
    AsyncStorageResponseHook,
)
"""The storage SDK's own policies the seam's requests never need (dropped from the lean pipeline)."""


def unwrap_policy(policy: Any) -> Any:
    """The policy a built pipeline holds: synchronous ones come wrapped in azure-core's runner."""
    return policy._policy if isinstance(policy, _SansIOAsyncHTTPPolicyRunner) else policy


def table_policies(service: Any) -> list[Any]:
    """The policies of a ``TableServiceClient`` (aio), in pipeline order."""
    return list(service._policies)


def queue_policies(service: Any) -> list[Any]:
    """The policies of a ``QueueServiceClient`` (aio), in pipeline order, unwrapped."""
    return [unwrap_policy(p) for p in service._pipeline._impl_policies]


def is_cosmos_endpoint(table_client: Any) -> bool:
    """Whether the table SDK treats ``table_client``'s endpoint as Cosmos DB's Table API."""
    return bool(table_client._cosmos_endpoint)


def messages_unencoded(queue_client: Any) -> bool:
    """Whether ``queue_client`` sends and reads message text as it is (no base64 or binary encoding)."""
    return isinstance(queue_client._message_encode_policy, NoEncodePolicy) and isinstance(
        queue_client._message_decode_policy, NoDecodePolicy
    )


async def send_table_request(table_client: Any, request: HttpRequest) -> AsyncHttpResponse:
    """Run ``request`` through ``table_client``'s full pipeline (auth, retries, user agent); the answer
    with any status, body not yet read."""
    response: AsyncHttpResponse = await table_client._client.send_request(request)
    return response


def transport_was_opened(transport: Any) -> bool:
    """Whether an ``AioHttpTransport`` has opened (and maybe closed) its session before."""
    return bool(transport._has_been_opened)
