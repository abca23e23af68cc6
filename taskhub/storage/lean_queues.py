"""Queue message calls as plain requests (see ``lean``): Put, Get, Update and Delete Message.

The requests are the ones azure-storage-queue sends for the seam's calls: the message text XML-escaped
in ``<QueueMessage><MessageText>`` (no encoding, as the clients are built), ``messagettl=-1``,
``visibilitytimeout`` only when set, ``numofmessages`` on a receive, ``popreceipt`` on an update and a
delete. The XML answers are read with ElementTree; times (RFC 1123) become aware UTC datetimes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote
from xml.etree import ElementTree
from xml.sax.saxutils import escape

from azure.core.exceptions import HttpResponseError
from azure.core.rest import HttpRequest

from taskhub.storage.lean import LeanPipeline, raise_error

__all__ = ["LeanQueue", "QueueMessageXml", "parse_http_date"]

_MONTHS = {
    m: i
    for i, m in enumerate(
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"], 1
    )
}
_PROLOG = "<?xml version='1.0' encoding='utf-8'?>\n<QueueMessage><MessageText>"


def parse_http_date(text: str | None) -> datetime | None:
    """``Mon, 30 Nov 2026 10:10:25 GMT`` -> an aware UTC datetime (None for None)."""
    if not text:
        return None
    try:
        _, day, month, year, clock, _zone = text.split()
        hour, minute, second = clock.split(":")
        return datetime(int(year), _MONTHS[month], int(day), int(hour), int(minute), int(second), tzinfo=UTC)
    except (ValueError, KeyError):
        raise HttpResponseError(message=f"unreadable time {text[:40]!r} in a queue answer") from None


@dataclass
class QueueMessageXml:
    """One ``<QueueMessage>`` of an answer."""

    id: str
    pop_receipt: str
    inserted_on: datetime | None
    next_visible_on: datetime | None
    dequeue_count: int
    content: str | None


def _messages(body: bytes) -> list[QueueMessageXml]:
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError as err:
        raise HttpResponseError(message=f"unreadable queue answer: {err}") from None
    return [
        QueueMessageXml(
            id=m.findtext("MessageId") or "",
            pop_receipt=m.findtext("PopReceipt") or "",
            inserted_on=parse_http_date(m.findtext("InsertionTime")),
            next_visible_on=parse_http_date(m.findtext("TimeNextVisible")),
            dequeue_count=int(m.findtext("DequeueCount") or 0),
            content=m.findtext("MessageText"),
        )
        for m in root.iter("QueueMessage")
    ]


class LeanQueue:
    """One queue's message calls through a :class:`LeanPipeline` (the queue client's policies)."""

    def __init__(self, pipeline: LeanPipeline, queue_url: str, version: str) -> None:
        self._pipeline = pipeline
        self._messages_url = f"{queue_url}/messages"
        self._version = version

    async def _send(self, method: str, url: str, params: dict[str, str], body: bytes | None = None) -> Any:
        headers = {"x-ms-version": self._version}
        if body is not None:
            headers["Content-Type"] = "application/xml"
        if method in ("POST", "GET"):
            headers["Accept"] = "application/xml"
        request = HttpRequest(method, url, params=params, headers=headers, content=body)
        return await self._pipeline.send(request)

    async def put(self, content: str, *, visibility_timeout: int | None) -> QueueMessageXml:
        """Put a message that never expires; the service's record of it (no text)."""
        params = {"visibilitytimeout": str(visibility_timeout)} if visibility_timeout is not None else {}
        params["messagettl"] = "-1"
        body = (_PROLOG + escape(content) + "</MessageText></QueueMessage>").encode("utf-8")
        response = await self._send("POST", self._messages_url, params, body)
        if response.status_code != 201:
            raise_error(response)
        found = _messages(response.content)
        if not found:
            raise HttpResponseError(message="the queue answered a put without the message", response=response)
        return found[0]

    async def get(self, *, max_messages: int, visibility_timeout: int) -> list[QueueMessageXml]:
        """Dequeue up to ``max_messages``, hidden for ``visibility_timeout`` s."""
        params = {"numofmessages": str(max_messages), "visibilitytimeout": str(visibility_timeout)}
        response = await self._send("GET", self._messages_url, params)
        if response.status_code != 200:
            raise_error(response)
        return _messages(response.content)

    async def update(
        self, message_id: str, pop_receipt: str, *, visibility_timeout: int
    ) -> tuple[str, datetime | None]:
        """Change a held message's visibility; its new pop receipt and next-visible time."""
        params = {"popreceipt": pop_receipt, "visibilitytimeout": str(visibility_timeout)}
        response = await self._send("PUT", f"{self._messages_url}/{quote(message_id, safe='')}", params)
        if response.status_code != 204:
            raise_error(response)
        headers = response.headers
        return headers.get("x-ms-popreceipt") or "", parse_http_date(headers.get("x-ms-time-next-visible"))

    async def delete(self, message_id: str, pop_receipt: str) -> None:
        """Delete a held message."""
        params = {"popreceipt": pop_receipt}
        response = await self._send("DELETE", f"{self._messages_url}/{quote(message_id, safe='')}", params)
        if response.status_code != 204:
            raise_error(response)
