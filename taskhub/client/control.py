"""Steer and purge orchestration instances: the ``InstanceControl`` part of ``TaskHubClient``.

Raise event, terminate, suspend and resume are one event each sent to the instance (the worker changes
the status when it processes it); rewind makes the failed tasks run again; restart starts the
orchestrator again with the same input; purge deletes the history, the stored payloads and the status
row. All of it through the client's backend seam (``self.service``, :mod:`taskhub.client.service`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Sequence
from datetime import datetime
from typing import Any

from taskhub.client.service import OrchestrationServiceClient
from taskhub.client.status import OrchestrationState, Page, PurgeResult
from taskhub.errors import OrchestrationNotFoundError, OrchestrationStateError
from taskhub.format.history import (
    EventRaisedEvent,
    ExecutionResumedEvent,
    ExecutionSuspendedEvent,
    ExecutionTerminatedEvent,
    HistoryEvent,
    OrchestrationStatus,
)
from taskhub.format.rows import InstanceRow
from taskhub.model.values import to_json
from taskhub.telemetry import spans, tracing

__all__ = ["InstanceControl", "PURGEABLE_STATUSES", "parse_status"]

PURGEABLE_STATUSES = (
    OrchestrationStatus.COMPLETED,
    OrchestrationStatus.FAILED,
    OrchestrationStatus.TERMINATED,
    OrchestrationStatus.CANCELED,
)
"""The finished statuses: purge takes only these, and events no longer reach them."""


def parse_status(value: OrchestrationStatus | str) -> OrchestrationStatus:
    """A runtime status given as the enum or its name or value, any case; ValueError lists the allowed."""
    if isinstance(value, OrchestrationStatus):
        return value
    for s in OrchestrationStatus:
        if value.lower() in (s.value.lower(), s.name.lower()):
            return s
    allowed = ", ".join(s.value for s in OrchestrationStatus)
    raise ValueError(f"{value!r} is not a runtime status; allowed: {allowed}")


def _not_an_entity(instance_id: str) -> None:
    """Orchestration operations do not reach entities (``@name@key``): ValueError saying what does."""
    if isinstance(instance_id, str) and instance_id.startswith("@"):
        raise ValueError(
            f"{instance_id[:60]!r} is an entity's id, not an orchestration's: signal the entity instead "
            "(signal_entity, taskhub signal-entity, or the HTTP entity routes)"
        )


class InstanceControl:
    """Steering and purging methods of ``TaskHubClient``."""

    service: OrchestrationServiceClient
    get_orchestration_state: Callable[..., Coroutine[Any, Any, OrchestrationState | None]]
    schedule_new_orchestration: Callable[..., Coroutine[Any, Any, str]]
    query_orchestrations: Callable[..., Coroutine[Any, Any, Page[OrchestrationState]]]

    # -- steer --------------------------------------------------------------------------------------

    async def _require(self, instance_id: str) -> InstanceRow:
        row = await self.service.get_instance(instance_id)
        if row is None:
            raise OrchestrationNotFoundError(instance_id)
        return row

    async def _send(self, instance_id: str, event: HistoryEvent, *, row: InstanceRow | None = None) -> None:
        _not_an_entity(instance_id)
        if row is None:
            await self._require(instance_id)
        await self.service.send_event(instance_id, event)

    async def raise_orchestration_event(self, instance_id: str, event_name: str, *, data: Any = None) -> None:
        """Send an external event. OrchestrationNotFoundError if there is no such instance,
        OrchestrationStateError if it has finished (Completed, Failed, Terminated, Canceled)."""
        if not isinstance(event_name, str) or not event_name:
            raise ValueError("event_name must be a non-empty string")
        _not_an_entity(instance_id)
        payload = to_json(data, what=f"data of event {event_name!r}")
        row = await self._require(instance_id)
        if row.runtime_status is not None and row.runtime_status in PURGEABLE_STATUSES:
            raise OrchestrationStateError(
                instance_id,
                row.runtime_status.value,
                f"raise event {event_name!r} to",
                "events reach only Pending, Running or Suspended instances",
            )
        span = spans.begin(
            tracing.event_name(event_name), "producer", tracing.event_attributes(event_name, instance_id)
        )
        event = EventRaisedEvent(name=event_name, input=payload, parent_trace_context=spans.context_of(span))
        await self._send(instance_id, event, row=row)
        spans.finish(span)

    async def terminate_orchestration(self, instance_id: str, *, output: Any = None) -> None:
        """Ask the instance to stop; its status becomes Terminated with ``output`` as the reason."""
        reason = to_json(output, what="termination output")
        await self._send(instance_id, ExecutionTerminatedEvent(input=reason))

    async def suspend_orchestration(self, instance_id: str, *, reason: str | None = None) -> None:
        """Suspend: the instance stops processing events until it is resumed."""
        await self._send(instance_id, ExecutionSuspendedEvent(reason=reason))

    async def resume_orchestration(self, instance_id: str, *, reason: str | None = None) -> None:
        """Resume a suspended instance; the events it buffered are processed."""
        await self._send(instance_id, ExecutionResumedEvent(reason=reason))

    async def rewind_orchestration(self, instance_id: str, *, reason: str | None = None) -> None:
        """Rewind a Failed instance: its failed activities and sub-orchestrations run again and it goes
        on from there (Durable Functions' rewind; the history keeps the failures as ``GenericEvent`` rows).
        OrchestrationNotFoundError if there is no such instance, OrchestrationStateError if it is not Failed."""
        _not_an_entity(instance_id)
        row = await self._require(instance_id)
        if row.runtime_status is not OrchestrationStatus.FAILED:
            raise OrchestrationStateError(
                instance_id,
                getattr(row.runtime_status, "value", "unknown"),
                "rewind",
                "only a Failed instance can be rewound",
            )
        await self.service.rewind(instance_id, reason)

    async def restart_orchestration(self, instance_id: str, *, new_instance_id: bool = True) -> str:
        """Start the instance's orchestrator again with the same input; returns the id it runs under
        (a new one, or the same id when ``new_instance_id=False``, which needs a finished instance). Like
        Durable Functions' RestartAsync, the new run gets the client's ``defaultVersion``."""
        _not_an_entity(instance_id)
        state = await self.get_orchestration_state(instance_id)
        if state is None:
            raise OrchestrationNotFoundError(instance_id)
        return await self.schedule_new_orchestration(
            state.name, input=state.input, instance_id=None if new_instance_id else instance_id
        )

    # -- purge --------------------------------------------------------------------------------------

    async def purge_orchestration(self, instance_id: str) -> PurgeResult:
        """Delete the instance's history rows, large-message blobs and Instances row."""
        if await self.service.get_instance(instance_id) is None:
            return PurgeResult(0)
        await self.service.purge_instance(instance_id)
        return PurgeResult(1)

    async def purge_orchestrations_by(
        self,
        *,
        created_from: datetime,
        created_to: datetime | None = None,
        statuses: Sequence[OrchestrationStatus | str] | None = None,
    ) -> PurgeResult:
        """Purge finished instances created in the range (only Completed, Failed, Terminated, Canceled)."""
        wanted = [parse_status(s) for s in statuses] if statuses else list(PURGEABLE_STATUSES)
        wanted = [s for s in wanted if s in PURGEABLE_STATUSES]
        if not wanted:
            return PurgeResult(0)
        count, token = 0, None
        sem = asyncio.Semaphore(8)

        async def one(iid: str) -> None:
            async with sem:
                await self.service.purge_instance(iid)

        while True:
            page = await self.query_orchestrations(
                created_from=created_from,
                created_to=created_to,
                statuses=wanted,
                page_size=100,
                continuation_token=token,
            )
            await asyncio.gather(*(one(s.instance_id) for s in page.items))
            count += len(page.items)
            token = page.continuation_token
            if not token:
                return PurgeResult(count)
