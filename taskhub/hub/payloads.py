"""Large payloads <-> gzip blobs in ``{h}-largemessages`` (storage-format.md 3.6, 4.4, 1.5).

* A queue message whose JSON is over 45 KiB (UTF-8) is stored whole, gzipped, as
  ``{instanceId}/message-{ActivityId:N}-{EventType}.json.gz``; the queue carries a wrapper that has only
  ``CompressedBlobName``. Reading resolves the wrapper transparently.
* A History/Instances column in ``VARIABLE_SIZE_PROPERTIES`` whose UTF-16 size is over 60 KiB is stored
  as ``{PK}/history-{RK}-{EventType}-{rand:X8}-{Prop}.json.gz``; the row gets ``{Prop}BlobName`` and an
  empty ``{Prop}``. Reading puts the text back.
* Message blobs are never deleted by processing; purge deletes them by instance-id prefix.
"""

from __future__ import annotations

import base64
import gzip
import random
from typing import Any

from taskhub.errors import FormatError, StorageError
from taskhub.format.messages import (
    MAX_QUEUE_MESSAGE_BYTES,
    MessageData,
    decode_message,
    encode_message,
    large_message_wrapper,
)
from taskhub.format.names import HubNames
from taskhub.format.rows import MAX_PROPERTY_UTF16_BYTES, VARIABLE_SIZE_PROPERTIES, utf16_size
from taskhub.storage import Storage

__all__ = ["Payloads", "BLOB_NAME_SUFFIX"]

BLOB_NAME_SUFFIX = "BlobName"


class Payloads:
    """Encodes queue messages and table rows for one hub, offloading what is too large."""

    def __init__(self, storage: Storage, names: HubNames, *, base64_messages: bool = False) -> None:
        self.storage = storage
        self.names = names
        self.base64_messages = base64_messages
        self._container_ready = False

    @property
    def container(self) -> str:
        return self.names.large_message_container

    async def _ensure_container(self) -> None:
        if not self._container_ready:
            await self.storage.create_container(self.container)
            self._container_ready = True

    async def _upload(self, name: str, text: str) -> None:
        data = gzip.compress(text.encode("utf-8"), mtime=0)
        try:
            await self.storage.upload_blob(self.container, name, data)
        except StorageError as err:
            if not err.not_found:
                raise
            self._container_ready = False
            await self._ensure_container()
            await self.storage.upload_blob(self.container, name, data)

    async def download_text(self, name: str) -> str:
        data = await self.storage.download_blob(self.container, name)
        try:
            return gzip.decompress(data).decode("utf-8")
        except (OSError, EOFError, UnicodeDecodeError) as err:
            raise FormatError(f"blob {self.container}/{name} is not gzip'ed UTF-8 text: {err}") from None

    # -- queue messages ----------------------------------------------------------------------------

    async def encode_message(self, md: MessageData) -> tuple[str, str | None]:
        """The queue body for ``md`` and the blob it was offloaded to (None when it fits in 45 KiB)."""
        text = encode_message(md)
        blob: str | None = None
        if len(text.encode("utf-8")) > MAX_QUEUE_MESSAGE_BYTES:
            tm = md.task_message
            if tm is None or tm.orchestration_instance is None or not tm.orchestration_instance.instance_id:
                raise ValueError("a large message needs TaskMessage.OrchestrationInstance.InstanceId")
            blob = HubNames.message_blob(
                tm.orchestration_instance.instance_id, md.activity_id, tm.event.event_type.name
            )
            await self._ensure_container()
            await self._upload(blob, text)
            text = encode_message(large_message_wrapper(blob))
        if self.base64_messages:
            text = base64.b64encode(text.encode("utf-8")).decode("ascii")
        return text, blob

    async def decode_message(self, body: str | bytes) -> MessageData:
        """The MessageData of a queue body (raw or Base64), fetching the blob a wrapper points to."""
        md = decode_message(body)
        if md.compressed_blob_name:
            name = md.compressed_blob_name
            full = decode_message(await self.download_text(name))
            full.compressed_blob_name = name
            return full
        return md

    def message_blob_url(self, blob_name: str) -> str:
        return self.storage.blob_url(self.container, blob_name)

    # -- table properties --------------------------------------------------------------------------

    async def offload_row(self, row: dict[str, Any], event_type_name: str = "") -> dict[str, str]:
        """Move oversized variable-size columns of ``row`` (in place) to blobs; returns {prop: blob name}."""
        moved: dict[str, str] = {}
        for prop in VARIABLE_SIZE_PROPERTIES:
            value = row.get(prop)
            if isinstance(value, str) and value and utf16_size(value) > MAX_PROPERTY_UTF16_BYTES:
                name = HubNames.property_blob(
                    str(row["PartitionKey"]),
                    str(row.get("RowKey", "")),
                    event_type_name or _instances_fallback(prop),
                    random.randrange(2**31),
                    prop,
                )
                if not moved:
                    await self._ensure_container()
                await self._upload(name, value)
                row[prop] = ""
                row[prop + BLOB_NAME_SUFFIX] = name
                moved[prop] = name
        return moved

    async def resolve_row(self, row: dict[str, Any]) -> dict[str, Any]:
        """Put offloaded column values back (in place): ``{Prop}BlobName`` -> ``{Prop}``."""
        for key in [k for k in row if k.endswith(BLOB_NAME_SUFFIX)]:
            prop = key[: -len(BLOB_NAME_SUFFIX)]
            name = row.pop(key)
            if name:
                row[prop] = await self.download_text(str(name))
        return row

    def is_blob_url(self, value: str | None) -> bool:
        """True when ``value`` is the URL of a blob in this hub's large-message container."""
        if not value or not value.startswith(("http://", "https://")):
            return False
        return self.storage.blob_name_from_url(self.container, value) is not None

    async def resolve_instance_value(self, value: str | None) -> str | None:
        """An Instances Input/Output that may be a blob URL (3.6 step 4, 4.4 step 4) -> the value."""
        if not value or not self.is_blob_url(value):
            return value
        name = self.storage.blob_name_from_url(self.container, value)
        assert name is not None
        text = await self.download_text(name)
        if name.endswith("ExecutionStarted.json.gz"):
            tm = decode_message(text).task_message
            return getattr(tm.event, "input", None) if tm else None
        return text

    async def delete_instance_blobs(self, instance_id: str) -> int:
        """Delete every blob whose name starts with the raw instance id (purge; no trailing slash, as DTFx)."""
        names = await self.storage.list_blobs(self.container, prefix=instance_id)
        for name in names:
            await self.storage.delete_blob(self.container, name)
        return len(names)


def _instances_fallback(prop: str) -> str:
    # Instances rows have no EventType; DTFx names the blob after the column (history--Input-...).
    return prop if prop in ("Input", "Output", "Tags") else "Input"
