"""Table writes and entity-group transactions as plain requests (see ``lean``).

The entity JSON is what azure-data-tables sends for the same dict: ``str`` -> Edm.String (annotated),
``int`` -> Edm.Int32 and ``bool`` (not annotated), ``datetime`` -> Edm.DateTime in UTC with microseconds
(a datetime read from the service is sent back as the text it came with), ``float`` -> Edm.Double,
``UUID`` -> Edm.Guid, ``bytes`` -> Edm.Binary (base64), an ``Enum`` as its ``str``, an
``EntityProperty`` as its value with its type always annotated; ``None`` columns are left out.

A transaction is one ``POST /$batch`` whose multipart/mixed body holds one changeset with one
``application/http`` part per operation, in order, laid out as the SDK lays it out: insert ``POST``,
upsert-replace ``PUT``, upsert-merge ``PATCH``, merge/replace If-Match ``PATCH``/``PUT`` with
``If-Match``, delete ``DELETE`` with ``If-Match`` (the ETag, or ``*``). The answer is read part by part:
the ETag of each, or the first failed part raised as ``TableTransactionError`` with its status and code.
"""

from __future__ import annotations

import base64
import json
import math
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from email.utils import formatdate
from enum import Enum
from typing import Any
from urllib.parse import quote

from azure.core.exceptions import HttpResponseError
from azure.core.rest import HttpRequest
from azure.data.tables import RequestTooLargeError, TableTransactionError

from taskhub.storage.lean import LeanPipeline, raise_error, service_error
from taskhub.storage.types import BatchOp

__all__ = ["LeanTable", "entity_json", "parse_batch_response"]

_STRING, _DATETIME = "Edm.String", "Edm.DateTime"
_TOO_LARGE = "The transaction request was too large"
_INT32 = 2**31
_INT64 = 2**63
_ACCEPT_FULL, _ACCEPT_MINIMAL = "application/json", "application/json;odata=minimalmetadata"
# (method, If-Match, JSON body) per batch kind; the If-Match of a delete is its ETag or "*"
_BATCH_VERBS: dict[str, tuple[str, bool, bool]] = {
    "insert": ("POST", False, True),
    "upsert_replace": ("PUT", False, True),
    "upsert_merge": ("PATCH", False, True),
    "merge_if_match": ("PATCH", True, True),
    "replace_if_match": ("PUT", True, True),
    "delete": ("DELETE", True, False),
}


def _too_large(response: Any, reason: str) -> HttpResponseError:
    """The SDK's error for a transaction over the service's size limit (a whole batch or one part)."""
    return service_error(
        413, reason, response.headers, response.content, cls=RequestTooLargeError, response=response,
        message=_TOO_LARGE,
    )


def _base64(value: bytes | str) -> str:
    return base64.b64encode(value.encode("utf-8") if isinstance(value, str) else value).decode("utf-8")


def _datetime_text(value: datetime) -> str:
    service = getattr(value, "tables_service_value", None)
    if service:
        return str(service)
    value = value.astimezone(UTC)
    try:
        return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    except ValueError:
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def _double(value: Any) -> Any:
    if isinstance(value, str):
        return value
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def _int32(value: Any) -> int:
    value = int(value)
    if not -_INT32 <= value < _INT32:
        raise TypeError(f"{value} is too large to be cast to type Edm.Int32.")
    return value


def _int64(value: Any) -> str:
    if not -_INT64 <= int(value) < _INT64:
        raise TypeError(f"{value} is too large to be cast to type Edm.Int64.")
    return str(value)


_TYPED: dict[str, Any] = {  # an EntityProperty's value by its Edm type
    "Edm.Binary": _base64,
    "Edm.Boolean": lambda v: v,
    _DATETIME: lambda v: v if isinstance(v, str) else _datetime_text(v),
    "Edm.Double": _double,
    "Edm.Guid": str,
    "Edm.Int32": _int32,
    "Edm.Int64": _int64,
    _STRING: str,
}


def entity_json(row: dict[str, Any]) -> dict[str, Any]:
    """The JSON object of ``row`` as the service receives it (see the module docstring)."""
    out: dict[str, Any] = {}
    for name, value in row.items():
        kind = type(value)
        edm: str | None
        if kind is str:
            edm = _STRING
        elif value is None:
            continue
        elif kind is bool:
            edm = None
        elif kind is int:
            edm, value = None, _int32(value)
        elif isinstance(value, Enum):
            edm, value = _STRING, str(value)
        elif isinstance(value, datetime):
            edm, value = _DATETIME, _datetime_text(value)
        elif isinstance(value, tuple):  # EntityProperty(value, edm_type)
            if value[0] is None:
                continue
            edm = str(getattr(value[1], "value", value[1]))
            if edm not in _TYPED:
                raise TypeError(f"column {name!r}: unknown Edm type {edm!r}")
            value = _TYPED[edm](value[0])
        elif kind is float:
            edm, value = "Edm.Double", _double(value)
        elif kind is uuid.UUID:
            edm, value = "Edm.Guid", str(value)
        elif kind is bytes:
            edm, value = "Edm.Binary", _base64(value)
        else:
            raise TypeError(f"column {name!r}: a {kind.__name__} cannot be stored in a table")
        out[name] = value
        if edm:
            out[name + "@odata.type"] = edm
    return out


def _key(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError("PartitionKey or RowKey must be of type string.")
    return quote(value.replace("'", "''"), safe="")


def parse_batch_response(content_type: str, body: bytes) -> list[tuple[int, str, dict[str, str], bytes]]:
    """The ``application/http`` parts of a batch answer, in order: (status, reason, headers, body)."""
    boundary = _boundary(content_type)
    parts: list[tuple[int, str, dict[str, str], bytes]] = []
    for raw in _split(body, boundary):
        headers, payload = _head(raw)
        inner = headers.get("content-type", "")
        if inner.startswith("multipart/mixed"):
            parts.extend(parse_batch_response(inner, payload))
            continue
        status_line, _, rest = payload.partition(b"\n")
        fields = status_line.decode("latin-1").strip().split(" ", 2)
        if len(fields) < 2 or not fields[1].isdigit():
            raise ValueError(
                f"a batch answer part does not start with an HTTP status line: {status_line[:80]!r}"
            )
        part_headers, part_body = _head(rest)
        parts.append((int(fields[1]), fields[2] if len(fields) > 2 else "", part_headers, part_body.strip()))
    return parts


def _boundary(content_type: str) -> str:
    for param in content_type.split(";")[1:]:
        name, _, value = param.strip().partition("=")
        if name.lower() == "boundary":
            return value.strip('"')
    raise ValueError(f"a batch answer without a multipart boundary (Content-Type {content_type[:80]!r})")


def _split(body: bytes, boundary: str) -> list[bytes]:
    delimiter = b"--" + boundary.encode("latin-1")
    pieces = body.split(delimiter)[1:]  # before the first delimiter: the preamble
    out = []
    for piece in pieces:
        if piece.startswith(b"--"):  # the close delimiter
            break
        out.append(piece[2:] if piece.startswith(b"\r\n") else piece.lstrip(b"\n"))
    return out


def _head(raw: bytes) -> tuple[dict[str, str], bytes]:
    """Headers (lower-case names) and the rest of a MIME part or HTTP message."""
    end = raw.find(b"\r\n\r\n")
    sep = 4
    if end < 0 or (0 <= raw.find(b"\n\n") < end):
        end, sep = raw.find(b"\n\n"), 2
    if end < 0:
        end, sep = len(raw), 0
    headers: dict[str, str] = {}
    for line in raw[:end].decode("latin-1").splitlines():
        name, colon, value = line.partition(":")
        if colon:
            headers[name.strip().lower()] = value.strip()
    return headers, raw[end + sep :]


class LeanTable:
    """One table's writes through a :class:`LeanPipeline` (the table client's policies and transport)."""

    def __init__(self, pipeline: LeanPipeline, account_url: str, table: str, version: str) -> None:
        self._pipeline = pipeline
        self._account_url = account_url
        self._table_url = f"{account_url}/{quote(table, safe='')}"
        self._version = version

    def _entity_url(self, row: dict[str, Any]) -> str:
        return f"{self._table_url}(PartitionKey='{_key(row['PartitionKey'])}',RowKey='{_key(row['RowKey'])}')"

    async def write(self, row: dict[str, Any], *, method: str, if_match: str | None) -> str:
        """PUT (replace) or PATCH (merge) one entity, If-Match ``if_match`` when given; its new ETag."""
        headers = {
            "Content-Type": "application/json",
            "x-ms-version": self._version,
            "DataServiceVersion": "3.0",
            "Accept": _ACCEPT_FULL,
        }
        if if_match:
            headers["If-Match"] = if_match
        body = json.dumps(entity_json(row)).encode("utf-8")
        response = await self._pipeline.send(
            HttpRequest(method, self._entity_url(row), headers=headers, content=body)
        )
        if response.status_code != 204:
            raise_error(response)
        return str(response.headers.get("ETag"))

    async def transaction(self, ops: Sequence[BatchOp]) -> list[str | None]:
        """Run ``ops`` as one entity-group transaction; the ETag of each (None for a delete)."""
        for op in ops:
            if op.kind in ("merge_if_match", "replace_if_match") and not op.etag:
                raise ValueError(f"a {op.kind} batch operation needs an etag")
            if op.row.get("PartitionKey") != ops[0].row.get("PartitionKey"):
                raise ValueError("the operations of one transaction must share one PartitionKey")
        batch, changeset = f"batch_{uuid.uuid4()}", f"changeset_{uuid.uuid4()}"
        now = formatdate(usegmt=True)
        chunks = [f"--{batch}\r\nContent-Type: multipart/mixed; boundary={changeset}\r\n\r\n".encode()]
        for index, op in enumerate(ops):
            method, fenced, has_body = _BATCH_VERBS[op.kind]
            url = self._table_url if op.kind == "insert" else self._entity_url(op.row)
            lines = [
                f"--{changeset}",
                "Content-Type: application/http",
                "Content-Transfer-Encoding: binary",
                f"Content-ID: {index}",
                "",
                f"{method} {url} HTTP/1.1",
            ]
            body = json.dumps(entity_json(op.row)).encode("utf-8") if has_body else b""
            if has_body:
                lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
            lines += [f"x-ms-version: {self._version}", "DataServiceVersion: 3.0"]
            lines.append(f"Accept: {_ACCEPT_MINIMAL if op.kind in ('insert', 'delete') else _ACCEPT_FULL}")
            if fenced:
                lines.append(f"If-Match: {op.etag or '*'}")
            lines += [f"x-ms-date: {now}", f"Date: {now}", "", ""]
            chunks += ["\r\n".join(lines).encode("utf-8"), body, b"\r\n"]
        chunks.append(f"--{changeset}--\r\n\r\n--{batch}--\r\n".encode())
        headers = {
            "x-ms-version": self._version,
            "DataServiceVersion": "3.0",
            "MaxDataServiceVersion": "3.0;NetFx",
            "Content-Type": f"multipart/mixed; boundary={batch}",
            "Accept": "application/json",
        }
        request = HttpRequest(
            "POST", f"{self._account_url}/$batch", headers=headers, content=b"".join(chunks)
        )
        response = await self._pipeline.send(request)
        status, reason = response.status_code, response.reason or ""
        if status == 413:
            raise _too_large(response, reason)
        if status != 202:
            raise_error(response)
        try:
            parts = parse_batch_response(response.headers.get("Content-Type", ""), response.content)
        except ValueError as err:
            raise HttpResponseError(message=f"unreadable batch answer: {err}", response=response) from None
        for status, reason, part_headers, part_body in parts:
            if status == 413:
                raise _too_large(response, reason)
            if not 200 <= status < 300:
                raise service_error(
                    status, reason, part_headers, part_body, cls=TableTransactionError, response=response
                )
        if len(parts) != len(ops):
            raise HttpResponseError(
                message=f"a batch of {len(ops)} operations was answered with {len(parts)} parts"
            )
        return [part_headers.get("etag") for _, _, part_headers, _ in parts]
