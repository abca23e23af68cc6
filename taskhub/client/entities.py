"""The client's entity methods (api.md 2, entities.md 4.3, 5): signal, read, query and clean entities.

:class:`EntityClient` is a mixin of ``TaskHubClient``: it reaches the hub through the client's ``service``
(:mod:`taskhub.client.service`).

- ``signal_entity`` sends the RequestMessage of a client signal (no ``parent``, not labelled) as an
  EventRaised ``op`` (or ``op@<time>``, hidden until then) to the entity; no row is written.
- ``get_entity`` reads the Instances row: the entity exists when its SchedulerState has a state.
- ``query_entities`` pages over Instances rows whose id starts with ``@name@`` (or ``@``).
- ``clean_entity_storage`` releases locks held by orchestrations that are no longer running, and purges
  entities that are empty (no state, no lock, nothing queued) and untouched for longer than the reorder
  window (``entityMessageReorderWindowInMinutes``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from taskhub.client.service import OrchestrationServiceClient
from taskhub.config.settings import Settings
from taskhub.format.entities import (
    ReleaseMessage,
    RequestMessage,
    check_operation_name,
    delayed_event_name,
    is_entity_instance,
    stamp_datetime,
    stamp_of,
)
from taskhub.format.entity_state import SchedulerState, parse_entity_status
from taskhub.format.history import EventRaisedEvent, OrchestrationStatus, utcnow
from taskhub.format.rows import InstanceRow
from taskhub.model.entities import EntityId
from taskhub.model.values import from_json, to_json
from taskhub.telemetry import spans

__all__ = ["EntityClient", "EntityMetadata", "CleanEntityStorageResult"]

_ALIVE = (OrchestrationStatus.RUNNING, OrchestrationStatus.SUSPENDED, OrchestrationStatus.PENDING)


@dataclass
class EntityMetadata:
    """What the hub knows of one entity."""

    entity_id: EntityId
    last_modified_at: datetime | None
    """When its last batch ran (the Instances ``CreatedTime``, as DTFx reports it)."""
    serialized_state: str | None
    """The state's JSON text (``None`` without ``include_state``, or when it was deleted)."""
    backlog_queue_size: int = 0
    locked_by: str | None = None
    exists: bool = True

    @property
    def state(self) -> Any:
        """The decoded state."""
        return from_json(self.serialized_state)


@dataclass
class CleanEntityStorageResult:
    empty_entities_removed: int = 0
    orphaned_locks_released: int = 0


class EntityClient:
    """Entity methods of ``TaskHubClient``."""

    service: OrchestrationServiceClient
    settings: Settings

    async def signal_entity(
        self,
        entity_id: EntityId | str,
        operation: str,
        *,
        input: Any = None,
        signal_time: datetime | timedelta | None = None,
    ) -> None:
        """Send a one-way operation to an entity (delayed until ``signal_time`` when given)."""
        target = EntityId.of(entity_id)
        check_operation_name(operation)
        text = None if input is None else to_json(input, what=f"input of entity operation {operation!r}")
        msg = RequestMessage(id=str(uuid.uuid4()), op=operation, signal=True, input=text)
        name, visible_at = "op", None
        if signal_time is not None:
            if isinstance(signal_time, timedelta):
                due = utcnow() + signal_time
            elif isinstance(signal_time, datetime) and signal_time.tzinfo is not None:
                due = signal_time
            else:
                raise ValueError(
                    f"signal_time must be a timedelta or a timezone-aware datetime, got {signal_time!r}"
                )
            msg.due = stamp_of(due)
            name, visible_at = delayed_event_name(msg.due), stamp_datetime(msg.due)
        await self._send_entity(str(target), name, msg.to_json(), visible_at)

    async def _send_entity(self, instance_id: str, name: str, text: str, visible_at: datetime | None) -> None:
        event = EventRaisedEvent(
            name=name, input=text, timestamp=utcnow(), parent_trace_context=spans.current_context()
        )
        await self.service.send_event(instance_id, event, visible_at=visible_at)

    async def get_entity(
        self, entity_id: EntityId | str, *, include_state: bool = True
    ) -> EntityMetadata | None:
        """The entity, or ``None`` when it does not exist (never created, or deleted)."""
        target = EntityId.of(entity_id)
        row = await self.service.get_instance(str(target))
        if row is None:
            return None
        meta = await self._metadata(row, include_state=True)
        if meta is None or not meta.exists:
            return None
        if not include_state:
            meta.serialized_state = None
        return meta

    async def _metadata(self, row: InstanceRow, *, include_state: bool) -> EntityMetadata | None:
        try:
            entity = EntityId.parse(row.instance_id)
        except ValueError:
            return None
        exists, size, locked = parse_entity_status(row.custom_status)
        serialized = None
        if include_state:
            text = await self.service.resolve_payload(row.input)
            state = SchedulerState.from_json(text)
            exists, serialized = state.state is not None, state.state
            size, locked = len(state.queue), state.locked_by
        return EntityMetadata(entity, row.created_time, serialized, size, locked, exists)

    async def query_entities(
        self,
        *,
        name: str | None = None,
        key_prefix: str | None = None,
        last_modified_from: datetime | None = None,
        last_modified_to: datetime | None = None,
        include_state: bool = True,
        include_deleted: bool = False,
        page_size: int = 100,
        continuation_token: str | None = None,
    ) -> Any:
        """One page of entities (``Page[EntityMetadata]``); ``key_prefix`` needs ``name``."""
        from taskhub.client.status import Page

        if not 1 <= page_size <= 1000:
            raise ValueError(f"page_size must be 1-1000, got {page_size}")
        if key_prefix is not None and name is None:
            raise ValueError("key_prefix needs name (entity ids are '@name@key')")
        prefix = "@" if name is None else str(EntityId(name, key_prefix or ""))
        rows, token = await self.service.query_instances(
            created_from=last_modified_from,
            created_to=last_modified_to,
            instance_id_prefix=prefix,
            page_size=page_size,
            continuation_token=continuation_token,
        )
        items = []
        for row in rows:
            meta = await self._metadata(row, include_state=include_state)
            if meta is not None and (include_deleted or meta.exists):
                items.append(meta)
        return Page(items, token)

    async def clean_entity_storage(
        self, *, remove_empty_entities: bool = True, release_orphaned_locks: bool = True
    ) -> CleanEntityStorageResult:
        """Release orphaned locks and purge old empty entities (entities.md 4.3); every page is visited."""
        result = CleanEntityStorageResult()
        window = self.settings.entity_message_reorder_window
        token: str | None = None
        while True:
            rows, token = await self.service.query_instances(
                instance_id_prefix="@", page_size=100, continuation_token=token
            )
            for row in rows:
                if not is_entity_instance(row.instance_id):
                    continue
                exists, size, locked = parse_entity_status(row.custom_status)
                if release_orphaned_locks and locked is not None and await self._orphaned(locked):
                    release = ReleaseMessage(locked, "fix-orphaned-lock").to_json()
                    await self._send_entity(row.instance_id, "release", release, None)
                    result.orphaned_locks_released += 1
                old = row.last_updated_time is None or utcnow() - row.last_updated_time > window
                if remove_empty_entities and not exists and locked is None and size == 0 and old:
                    await self.service.purge_instance(row.instance_id)
                    result.empty_entities_removed += 1
            if token is None:
                return result

    async def _orphaned(self, owner: str) -> bool:
        row = await self.service.get_instance(owner)
        return row is None or row.runtime_status not in _ALIVE
