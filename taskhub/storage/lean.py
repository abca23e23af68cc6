"""The hot storage calls as plain HTTP requests through a trimmed copy of the SDK client's pipeline.

Per call, the SDKs spend more CPU than the worker's own step: the generated operation layer serializes
every header and query value through a generic model serializer (and the queue message through an XML
model), a table batch is written and read back with the ``email`` package, and the pipeline runs
policies the hub never uses. For the calls a checkpoint makes (queue send/receive/update/delete, table
merge/replace, the history batch) the seam builds the same REST request itself and sends it through
:class:`LeanPipeline`: the client's own policy objects (request id and date headers, proxy, redirect,
location, **the same retry policy**, the same credential policy), without content decoding, tracing,
HTTP logging and request/response hooks, and with the User-Agent header the client would send, read
once. The transport (and so the connection pool) is the client's own. Failures are raised as the
SDK's exception types with the same status, error code and first message line (:func:`raise_error`),
so :mod:`taskhub.storage.errors` and :mod:`taskhub.storage.retry` see what they saw before.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable
from typing import Any
from xml.etree import ElementTree

from azure.core.exceptions import (
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.core.pipeline import AsyncPipeline
from azure.core.pipeline.policies import (
    ContentDecodePolicy,
    CustomHookPolicy,
    DistributedTracingPolicy,
    HttpLoggingPolicy,
    NetworkTraceLoggingPolicy,
    UserAgentPolicy,
)
from azure.core.rest import AsyncHttpResponse, HttpRequest

from taskhub.storage.sdk_internals import STORAGE_ONLY_POLICIES, unwrap_policy

__all__ = ["LeanPipeline", "raise_error", "service_error"]

_UNUSED = (
    ContentDecodePolicy,
    CustomHookPolicy,
    DistributedTracingPolicy,
    HttpLoggingPolicy,
    NetworkTraceLoggingPolicy,
    *STORAGE_ONLY_POLICIES,  # the storage SDK's own: message-id URLs, ranges, MD5, debug logging, raw hooks
)


class LeanPipeline:
    """A pipeline of ``policies`` (an SDK client's) minus the ones the seam's own requests never need,
    on ``transport`` (the client's)."""

    def __init__(self, policies: Iterable[Any], transport: Any) -> None:
        kept: list[Any] = []
        self.user_agent: str | None = None
        for policy in policies:
            policy = unwrap_policy(policy)
            if isinstance(policy, UserAgentPolicy):
                self.user_agent = policy.user_agent
            elif not isinstance(policy, _UNUSED):
                # a policy that calls the next one is linked into one pipeline: this one gets its own copy
                kept.append(copy.copy(policy))
        self.policies: tuple[Any, ...] = tuple(kept)
        self._pipeline: AsyncPipeline[Any, Any] = AsyncPipeline(transport, kept)

    async def send(self, request: HttpRequest) -> AsyncHttpResponse:
        """Send ``request``; the response with its body read (any status)."""
        if self.user_agent:
            request.headers["User-Agent"] = self.user_agent
        return (await self._pipeline.run(request)).http_response


def _json_error(body: bytes) -> tuple[str | None, str | None]:
    try:
        error = json.loads(body).get("odata.error") or {}
        message = error.get("message")
        return error.get("code"), message.get("value") if isinstance(message, dict) else message
    except (ValueError, AttributeError):
        return None, None


def _xml_error(body: bytes) -> tuple[str | None, str | None]:
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError:
        return None, None
    return root.findtext("Code"), root.findtext("Message")


def service_error(
    status: int,
    reason: str,
    headers: Any,
    body: bytes,
    *,
    cls: type[HttpResponseError] | None = None,
    response: Any = None,
    message: str | None = None,
) -> HttpResponseError:
    """The SDK exception for a failed answer: ``cls``, or by status as the SDKs map it (404 not found,
    409 exists, 412 modified); ``status_code``, ``error_code`` and the service's message set."""
    code, text = (
        _json_error(body) if body[:1] == b"{" else _xml_error(body) if body[:1] == b"<" else (None, None)
    )
    code = code or headers.get("x-ms-error-code")
    if cls is None:
        cls = {404: ResourceNotFoundError, 409: ResourceExistsError, 412: ResourceModifiedError}.get(
            status, HttpResponseError
        )
    text = text or message or f"Operation returned an invalid status '{reason}'"
    if code:
        text += f"\nErrorCode:{code}"
    err = cls(message=text)
    err.status_code, err.reason, err.response = status, reason, response
    err.error_code = code  # type: ignore[attr-defined]
    return err


def raise_error(response: AsyncHttpResponse) -> None:
    """Raise :func:`service_error` for ``response``."""
    raise service_error(
        response.status_code, response.reason or "", response.headers, response.content, response=response
    )
