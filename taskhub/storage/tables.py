"""Table operations of the storage seam (rows are plain dicts, see ``types``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any, Literal

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.data.tables import UpdateMode

from taskhub.storage.base import StorageBase
from taskhub.storage.errors import op
from taskhub.storage.json_rows import query_page_json
from taskhub.storage.retry import holds, repeat_write
from taskhub.storage.types import BatchOp, QueryPage, Row, decode_token, encode_token, to_row

__all__ = ["TableOps"]


class TableOps(StorageBase):
    @op
    async def create_table(self, name: str) -> bool:
        """Create a table; False if it already existed."""
        try:
            await self._tables.create_table(name)
            return True
        except ResourceExistsError:
            return False

    @op
    async def delete_table(self, name: str) -> bool:
        """Delete a table; False if there was none."""
        try:
            await self._tables.delete_table(name)
        except ResourceNotFoundError:
            return False
        return True

    @op
    async def list_tables(self, prefix: str) -> list[str]:
        """Names of the tables starting with ``prefix`` (case-sensitive compare on the returned names)."""
        names = [t.name async for t in self._tables.list_tables()]
        return [n for n in names if n.lower().startswith(prefix.lower())]

    @op
    async def get_entity(self, table: str, partition_key: str, row_key: str) -> Row | None:
        """One row, or None."""
        try:
            return to_row(await self._table(table).get_entity(partition_key, row_key))
        except ResourceNotFoundError:
            return None

    @op
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
        pages = paged.by_page(continuation_token=decode_token(continuation_token))
        rows: list[Row] = []
        async for page in pages:
            async for entity in page:
                rows.append(to_row(entity))
            break
        return QueryPage(rows, encode_token(pages.continuation_token))

    @op
    async def query_page_lean(
        self,
        table: str,
        query_filter: str | None,
        *,
        select: Sequence[str] | None = None,
        page_size: int = 1000,
        continuation_token: str | None = None,
    ) -> QueryPage:
        """:meth:`query_page` with the reply's JSON read directly (same rows and tokens, a fraction of
        the SDK's deserialization CPU; see ``json_rows``). For long reads such as a 10,000-event history."""
        return await query_page_json(
            self._table(table),
            query_filter,
            select=select,
            page_size=page_size,
            continuation_token=continuation_token,
        )

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

    @op
    async def insert_entity(self, table: str, row: dict[str, Any]) -> str:
        """Insert a new row (conflict if it exists); returns its ETag. Repeated after a timeout or a
        dropped connection; a conflict then is checked against the row (see ``retry``)."""
        client = self._table(table)

        async def call() -> str:
            return str((await client.create_entity(row)).get("etag"))

        return await repeat_write("insert_entity", call, confirm=lambda: self._landed(table, row))

    @op
    async def upsert_entity(
        self, table: str, row: dict[str, Any], *, mode: Literal["merge", "replace"] = "merge"
    ) -> str:
        """Insert-or-merge (or insert-or-replace) a row; returns its ETag."""
        client = self._table(table)
        update_mode = UpdateMode.MERGE if mode == "merge" else UpdateMode.REPLACE
        lean = self._lean_table(table)

        async def call() -> str:  # the same columns written twice leave the same row
            if lean is not None:
                return await lean.write(row, method="PATCH" if mode == "merge" else "PUT", if_match=None)
            return str((await client.upsert_entity(row, mode=update_mode)).get("etag"))

        return await repeat_write("upsert_entity", call)

    @op
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
        client = self._table(table)
        lean = self._lean_table(table)

        async def call() -> str:
            if lean is not None:  # unconditional is If-Match *: the row must exist
                return await lean.write(row, method="PATCH" if mode == "merge" else "PUT", if_match=etag or "*")
            return str((await client.update_entity(row, **kwargs)).get("etag"))

        return await repeat_write("update_entity", call, confirm=lambda: self._landed(table, row))

    @op
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

    @op
    async def submit_batch(self, table: str, ops: Iterable[BatchOp]) -> list[str | None]:
        """Run an entity-group transaction (<= 100 ops, one PartitionKey), all or nothing; ETags in order."""
        items = list(ops)
        actions: list[Any] = []
        for item in items:
            if item.kind == "insert":
                actions.append(("create", item.row))
            elif item.kind == "upsert_replace":
                actions.append(("upsert", item.row, {"mode": UpdateMode.REPLACE}))
            elif item.kind == "upsert_merge":
                actions.append(("upsert", item.row, {"mode": UpdateMode.MERGE}))
            elif item.kind in ("merge_if_match", "replace_if_match"):
                mode = UpdateMode.MERGE if item.kind == "merge_if_match" else UpdateMode.REPLACE
                actions.append(
                    (
                        "update",
                        item.row,
                        {"mode": mode, "etag": item.etag, "match_condition": MatchConditions.IfNotModified},
                    )
                )
            elif item.kind == "delete":
                extra = {"etag": item.etag, "match_condition": MatchConditions.IfNotModified} if item.etag else {}
                actions.append(("delete", item.row, extra))
            else:  # pragma: no cover - guarded by the Literal type
                raise ValueError(f"unknown batch operation {item.kind!r}")
        if not actions:
            return []
        client = self._table(table)
        fenced = [a[1] for a in actions if a[0] == "create" or (a[0] == "update" and len(a) > 2)]
        lean = self._lean_table(table)

        async def call() -> list[str | None]:
            if lean is not None:  # the same transaction, its body built here (``lean_tables``)
                return await lean.transaction(items)
            results = await client.submit_transaction(actions)
            return [r.get("etag") if r else None for r in results]

        async def confirm() -> list[str | None] | None:
            # all or nothing: the batch landed if every fenced row holds what it sent
            if not fenced:
                return None
            etags: dict[tuple[str, str], str] = {}
            for sent in fenced:
                landed = await self._landed(table, sent)
                if landed is None:
                    return None
                etags[(sent["PartitionKey"], sent["RowKey"])] = landed
            return [etags.get((a[1]["PartitionKey"], a[1]["RowKey"])) for a in actions]

        return await repeat_write("submit_batch", call, confirm=confirm)

    async def _landed(self, table: str, sent: dict[str, Any]) -> str | None:
        """The row's ETag if it holds every column of ``sent`` (an earlier attempt landed), else None."""
        try:
            stored = to_row(await self._table(table).get_entity(sent["PartitionKey"], sent["RowKey"]))
        except ResourceNotFoundError:
            return None
        return stored.etag if holds(stored, sent) else None
