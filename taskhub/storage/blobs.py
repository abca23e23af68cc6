"""Blob and lease operations of the storage seam."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.storage.blob.aio import BlobLeaseClient

from taskhub.storage.base import StorageBase
from taskhub.storage.errors import op
from taskhub.storage.types import BlobInfo

__all__ = ["BlobOps"]


class BlobOps(StorageBase):
    @op
    async def create_container(self, name: str) -> bool:
        """Create a blob container; False if it already existed."""
        try:
            await self._blobs.create_container(name)
            return True
        except ResourceExistsError:
            return False

    @op
    async def delete_container(self, name: str) -> bool:
        """Delete a container and its blobs; False if there was none."""
        try:
            await self._blobs.delete_container(name)
        except ResourceNotFoundError:
            return False
        return True

    @op
    async def list_containers(self, prefix: str) -> list[str]:
        """Names of the containers starting with ``prefix``."""
        return [c.name async for c in self._blobs.list_containers(name_starts_with=prefix)]

    @op
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

    @op
    async def download_blob(self, container: str, name: str) -> bytes:
        """A blob's whole content."""
        stream = await self._blobs.get_blob_client(container, name).download_blob()
        return bytes(await stream.readall())

    @op
    async def read_blob(self, container: str, name: str) -> tuple[bytes, BlobInfo]:
        """A blob's content and its ETag and lease state, in one call."""
        stream = await self._blobs.get_blob_client(container, name).download_blob()
        data = bytes(await stream.readall())
        props = stream.properties
        return data, BlobInfo(str(props.etag), str(props.lease.state), str(props.lease.status))

    @op
    async def delete_blob(self, container: str, name: str) -> bool:
        """Delete a blob; False if it was not there."""
        try:
            await self._blobs.get_blob_client(container, name).delete_blob()
        except ResourceNotFoundError:
            return False
        return True

    @op
    async def list_blobs(self, container: str, prefix: str | None = None) -> list[str]:
        """Names of the blobs (optionally under ``prefix``); empty if the container does not exist."""
        try:
            cc = self._blobs.get_container_client(container)
            return [b.name async for b in cc.list_blobs(name_starts_with=prefix)]
        except ResourceNotFoundError:
            return []

    @op
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

    @op
    async def acquire_lease(
        self, container: str, name: str | None, *, duration: int, proposed_id: str
    ) -> str:
        """Take a lease (15-60 s, or -1) with the given id; conflict if someone holds it."""
        lease = self._lease(container, name, proposed_id)
        await lease.acquire(lease_duration=duration)
        return str(lease.id)

    @op
    async def renew_lease(self, container: str, name: str | None, lease_id: str) -> None:
        """Renew a held lease; lease_lost if it is no longer ours."""
        await self._lease(container, name, lease_id).renew()

    @op
    async def change_lease(self, container: str, name: str | None, lease_id: str, proposed_id: str) -> str:
        """Change a lease's id (how a lease is stolen with the current id read from the blob)."""
        lease = self._lease(container, name, lease_id)
        await lease.change(proposed_lease_id=proposed_id)
        return str(lease.id)

    @op
    async def release_lease(self, container: str, name: str | None, lease_id: str) -> None:
        """Give a lease up."""
        await self._lease(container, name, lease_id).release()

    @op
    async def break_lease(self, container: str, name: str | None, *, period: int = 0) -> int:
        """Break whatever lease is held; returns the seconds until it is broken."""
        return int(await self._lease(container, name, None).break_lease(lease_break_period=period))
