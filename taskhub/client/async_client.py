"""``TaskHubClient``: start, query and steer orchestrations (api.md section 2, runtime.md 7.9).

The client decides (ids, versions, dedupe against a running instance, the ExecutionStarted event and
the Pending status row) and the store acts, through the client's backend seam ``self.service``
(:mod:`taskhub.client.service`; on Azure Storage :mod:`taskhub.hub.service`, exactly as DTFx's client:
start = ExecutionStarted on the instance's control queue, then the Instances row; raise event,
terminate, suspend and resume = one message each, which the worker applies; status and queries read
the Instances table). ``TaskHubClient(settings, service=...)`` takes another implementation.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from taskhub.client.control import InstanceControl, parse_status
from taskhub.client.entities import EntityClient
from taskhub.client.service import OrchestrationServiceClient, service_for
from taskhub.client.status import OrchestrationState, Page
from taskhub.config.settings import Settings
from taskhub.errors import OrchestrationAlreadyExistsError
from taskhub.format.history import (
    ExecutionCompletedEvent,
    ExecutionStartedEvent,
    HistoryEvent,
    OrchestrationInstance,
    OrchestrationStatus,
    utcnow,
)
from taskhub.format.names import validate_instance_id
from taskhub.format.rows import InstanceRow
from taskhub.model.values import to_json
from taskhub.model.versioning import validate_version
from taskhub.telemetry import spans

__all__ = ["TaskHubClient"]

ACTIVE_STATUSES = (OrchestrationStatus.PENDING, OrchestrationStatus.RUNNING, OrchestrationStatus.SUSPENDED)


def function_name(name_or_fn: str | Callable[..., Any]) -> str:
    """The registered name of an orchestrator given by name or by function object."""
    if isinstance(name_or_fn, str):
        if not name_or_fn:
            raise ValueError("orchestrator name must not be empty")
        return name_or_fn
    if callable(name_or_fn):
        return str(getattr(name_or_fn, "__taskhub_name__", None) or name_or_fn.__name__)
    raise TypeError(f"expected an orchestrator name or function, got {type(name_or_fn).__name__}")


class TaskHubClient(InstanceControl, EntityClient):
    """Async client of one task hub. ``async with TaskHubClient() as client: ...``

    Split by job: starting, reading and waiting here; steering and purging instances in
    :class:`~taskhub.client.control.InstanceControl`; entities in :class:`~taskhub.client.entities.EntityClient`.
    """

    def __init__(
        self, settings: Settings | None = None, *, service: OrchestrationServiceClient | None = None
    ) -> None:
        self.settings = settings or Settings.load()
        self._own_service = service is None
        self.service: OrchestrationServiceClient = service or service_for(self.settings)

    async def __aenter__(self) -> TaskHubClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._own_service:
            await self.service.close()

    # -- start --------------------------------------------------------------------------------------

    async def schedule_new_orchestration(
        self,
        name_or_fn: str | Callable[..., Any],
        *,
        input: Any = None,
        instance_id: str | None = None,
        start_at: datetime | None = None,
        tags: dict[str, str] | None = None,
        version: str | None = None,
    ) -> str:
        """Start an orchestration; returns its instance id (default ``uuid4().hex``). The instance gets
        ``version``, by default the settings' ``defaultVersion`` (none when that is unset).

        Raises ValueError for an invalid id, TypeError for a non-JSON input, and
        OrchestrationAlreadyExistsError when the id is Pending, Running or Suspended.
        """
        name = function_name(name_or_fn)
        version = (self.settings.default_version or "") if version is None else validate_version(version)
        instance_id = uuid.uuid4().hex if instance_id is None else validate_instance_id(instance_id)
        serialized = to_json(input, what=f"input of orchestration {name!r}")
        if start_at is not None and start_at.tzinfo is None:
            raise ValueError("start_at must be timezone-aware (for example datetime.now(timezone.utc))")
        existing = await self.service.get_instance(instance_id)
        if existing is not None and existing.runtime_status in ACTIVE_STATUSES:
            raise OrchestrationAlreadyExistsError(instance_id, existing.runtime_status.value)
        generation = (existing.generation or 0) + 1 if existing is not None else 0
        execution_id = uuid.uuid4().hex
        now = utcnow()
        instance = OrchestrationInstance(instance_id, execution_id)
        span = spans.begin_create(name, version, instance)
        event = ExecutionStartedEvent(
            parent_trace_context=spans.context_of(span),
            orchestration_instance=instance,
            name=name,
            version=version,
            input=serialized,
            tags=tags,
            scheduled_start_time=start_at,
            generation=generation,
            timestamp=now,
        )
        row = InstanceRow(
            instance_id=instance_id,
            execution_id=execution_id,
            name=name,
            version=version,
            input=serialized,
            created_time=now,
            last_updated_time=now,
            runtime_status=OrchestrationStatus.PENDING,
            scheduled_start_time=start_at,
            generation=generation,
            tags=tags,
            task_hub_name=self.settings.hub_name,
        )
        etag = None if existing is None else existing.etag or "*"
        await self.service.create_instance(event, row, existing_etag=etag, visible_at=start_at)
        spans.finish(span)
        return instance_id

    # -- read ---------------------------------------------------------------------------------------

    async def get_orchestration_state(
        self, instance_id: str, *, fetch_payloads: bool = True
    ) -> OrchestrationState | None:
        """The instance's status row, or None if there is no such instance."""
        row = await self.service.get_instance(instance_id)
        if row is None:
            return None
        state = OrchestrationState.from_row(row)
        if fetch_payloads:
            resolve = self.service.resolve_payload
            state.serialized_input = await resolve(state.serialized_input)
            state.serialized_output = await resolve(state.serialized_output)
            if state.runtime_status is OrchestrationStatus.FAILED:
                state.failure_details = await self._failure_details(instance_id)
        else:
            state.serialized_input = state.serialized_output = None
        return state

    async def _failure_details(self, instance_id: str) -> Any:
        for event in reversed(await self.service.history(instance_id)):
            if isinstance(event, ExecutionCompletedEvent):
                return event.failure_details
        return None

    async def _wait(
        self, instance_id: str, done: Callable[[OrchestrationState], bool], timeout: float, what: str
    ) -> OrchestrationState:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        delay = 0.05
        while True:
            state = await self.get_orchestration_state(instance_id)
            if state is not None and done(state):
                return state
            remaining = deadline - loop.time()
            if remaining <= 0:
                status = state.runtime_status.value if state else "not found"
                raise TimeoutError(
                    f"orchestration {instance_id!r} did not {what} within {timeout} s (status: {status})"
                )
            await asyncio.sleep(min(delay, remaining))
            delay = min(delay * 1.5, 1.0)

    async def wait_for_orchestration_start(
        self, instance_id: str, *, timeout: float = 60
    ) -> OrchestrationState:
        """Wait until the instance is no longer Pending; TimeoutError after ``timeout`` seconds."""
        return await self._wait(
            instance_id, lambda s: s.runtime_status is not OrchestrationStatus.PENDING, timeout, "start"
        )

    async def wait_for_orchestration_completion(
        self, instance_id: str, *, timeout: float = 60
    ) -> OrchestrationState:
        """Wait until the instance is Completed, Failed, Terminated or Canceled; TimeoutError otherwise."""
        return await self._wait(
            instance_id,
            lambda s: (
                s.runtime_status.is_terminal and s.runtime_status is not OrchestrationStatus.CONTINUED_AS_NEW
            ),
            timeout,
            "complete",
        )

    async def query_orchestrations(
        self,
        *,
        created_from: datetime | None = None,
        created_to: datetime | None = None,
        statuses: Sequence[OrchestrationStatus | str] | None = None,
        instance_id_prefix: str | None = None,
        page_size: int = 100,
        continuation_token: str | None = None,
    ) -> Page[OrchestrationState]:
        """One page of instances matching all the given filters."""
        if not 1 <= page_size <= 1000:
            raise ValueError(f"page_size must be 1-1000, got {page_size}")
        parsed = [parse_status(s) for s in statuses] if statuses else None
        rows, token = await self.service.query_instances(
            created_from=created_from,
            created_to=created_to,
            statuses=parsed,
            instance_id_prefix=instance_id_prefix,
            page_size=page_size,
            continuation_token=continuation_token,
        )
        # entities live in the same table; they are not orchestrations (api.md 2)
        return Page(
            [OrchestrationState.from_row(r) for r in rows if not r.instance_id.startswith("@")], token
        )

    async def get_orchestration_history(self, instance_id: str) -> list[HistoryEvent]:
        """The current execution's history events, oldest first."""
        await self._require(instance_id)
        return await self.service.history(instance_id)
