"""CLI verbs on durable entities: read, list, signal and clean (api.md 2, entities.md 4.3, 5).

``taskhub get-entity --name counter --key k1``, ``taskhub list-entities [--name counter]``,
``taskhub signal-entity --name counter --key k1 --op add --input 5``, ``taskhub clean-entity-storage``.
"""

from __future__ import annotations

import argparse
from typing import Any

from taskhub.cli.instances import _json_arg, _time_arg
from taskhub.cli.registry import verb
from taskhub.client.async_client import TaskHubClient
from taskhub.client.entities import EntityMetadata
from taskhub.config.settings import Settings
from taskhub.format.timefmt import format_datetime
from taskhub.model.entities import EntityId


def _entity(p: argparse.ArgumentParser) -> None:
    p.add_argument("--name", required=True, help="entity name (lower-cased)")
    p.add_argument("--key", required=True, help="entity key")


def _view(meta: EntityMetadata, show_state: bool = True) -> dict[str, Any]:
    return {
        "entityId": {"name": meta.entity_id.name, "key": meta.entity_id.key},
        "instanceId": str(meta.entity_id),
        "exists": meta.exists,
        "lastOperationTime": format_datetime(meta.last_modified_at) if meta.last_modified_at else None,
        "backlogQueueSize": meta.backlog_queue_size,
        "lockedBy": meta.locked_by,
        **({"state": meta.state} if show_state else {}),
    }


def _get_args(p: argparse.ArgumentParser) -> None:
    _entity(p)
    p.add_argument("--no-state", action="store_true", help="leave the state out")


@verb("get-entity", "show an entity and its state", _get_args)
async def get_entity(ns: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    entity = EntityId(ns.name, ns.key)
    async with TaskHubClient(settings) as c:
        meta = await c.get_entity(entity, include_state=not ns.no_state)
    if meta is None:
        raise LookupError(
            f"no entity {str(entity)!r} in hub {settings.hub_name} (never signalled, or deleted)"
        )
    return _view(meta, not ns.no_state)


def _list_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--name", help="only entities of this name")
    p.add_argument("--key-prefix", help="only keys starting with this (needs --name)")
    p.add_argument("--show-state", action="store_true", help="include each entity's state")
    p.add_argument("--include-deleted", action="store_true", help="include entities without a state")
    p.add_argument("--last-operation-after", help="ISO 8601 time")
    p.add_argument("--last-operation-before", help="ISO 8601 time")
    p.add_argument("--top", type=int, default=100, help="page size (1-1000)")
    p.add_argument("--continuation-token")


@verb("list-entities", "list entities (one page)", _list_args)
async def list_entities(ns: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    async with TaskHubClient(settings) as c:
        page = await c.query_entities(
            name=ns.name,
            key_prefix=ns.key_prefix,
            last_modified_from=_time_arg(ns.last_operation_after, "--last-operation-after"),
            last_modified_to=_time_arg(ns.last_operation_before, "--last-operation-before"),
            include_state=ns.show_state,
            include_deleted=ns.include_deleted,
            page_size=ns.top,
            continuation_token=ns.continuation_token,
        )
    return {
        "entities": [_view(m, ns.show_state) for m in page.items],
        "continuationToken": page.continuation_token,
    }


def _signal_args(p: argparse.ArgumentParser) -> None:
    _entity(p)
    p.add_argument("--op", required=True, help="operation name")
    p.add_argument("--input", help="operation input as JSON, or @file")
    p.add_argument("--signal-time", help="deliver at this ISO 8601 time (default: now)")


@verb("signal-entity", "send an operation to an entity (one-way)", _signal_args)
async def signal_entity(ns: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    entity = EntityId(ns.name, ns.key)
    data = _json_arg(ns.input, "--input")
    when = _time_arg(ns.signal_time, "--signal-time")
    async with TaskHubClient(settings) as c:
        await c.signal_entity(entity, ns.op, input=data, signal_time=when)
    return {
        "instanceId": str(entity),
        "operation": ns.op,
        "signalTime": format_datetime(when) if when else None,
    }


def _clean_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--keep-empty", action="store_true", help="do not purge empty entities")
    p.add_argument("--keep-orphaned-locks", action="store_true", help="do not release orphaned locks")


@verb("clean-entity-storage", "release orphaned entity locks and purge old empty entities", _clean_args)
async def clean_entity_storage(ns: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    async with TaskHubClient(settings) as c:
        result = await c.clean_entity_storage(
            remove_empty_entities=not ns.keep_empty, release_orphaned_locks=not ns.keep_orphaned_locks
        )
    return {
        "emptyEntitiesRemoved": result.empty_entities_removed,
        "orphanedLocksReleased": result.orphaned_locks_released,
    }
