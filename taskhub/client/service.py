"""The client's backend seam: what ``TaskHubClient``, ``taskhub serve`` (HTTP API and dashboard) and the
``taskhub`` CLI ask of the store that holds a task hub (DTFx ``IOrchestrationServiceClient``; the client
half of durabletask-go's ``Backend``). The worker's half is ``worker.backends.base``.

- ``OrchestrationServiceClient``: instances: create, send an event, read, query, history, payloads,
  rewind, purge; ``admin`` is the hub's operator view;
- ``HubAdmin``: the hub's resources and what operators look at: create and delete the hub, the hubs of
  the account, health, the messages waiting for an instance, a history read for a viewer, the partition
  owners, the scale signal, the metrics backlog, poisoned messages;
- the values they return that are not rows of the wire format: ``QueueHealth``, ``HubHealth``,
  ``QueuedMessage``.

A hub that does not exist yet reads as empty (``get_instance`` None, ``query_instances`` no rows);
``create_instance`` and ``send_event`` create it on first use. Storage failures raise
``taskhub.errors.StorageError``.

``SERVICES`` is the one registration: storage provider -> implementation, imported only when used
(taskhub's front doors never import a storage room). Implementations: ``taskhub.hub.service`` (Azure
Storage, the DTFx format).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from taskhub.config.settings import Settings
from taskhub.format.history import ExecutionStartedEvent, HistoryEvent, OrchestrationStatus
from taskhub.format.rows import InstanceRow
from taskhub.telemetry.metrics import Metrics

__all__ = [
    "OrchestrationServiceClient",
    "HubAdmin",
    "QueueHealth",
    "HubHealth",
    "QueuedMessage",
    "SERVICES",
    "DEFAULT_SERVICE",
    "service_for",
]


@dataclass
class QueueHealth:
    name: str
    depth: int | None = None
    oldest_age: timedelta | None = None
    owner: str | None = None  # who owns the queue now
    lease_state: str | None = None  # leased | available | expired | breaking | broken | draining | missing
    intent_owner: str | None = None  # who should own it
    error: str | None = None


@dataclass
class HubHealth:
    hub: str
    read_at: datetime
    lease_interval: timedelta
    control_queues: list[QueueHealth] = field(default_factory=list)
    work_items: QueueHealth | None = None
    poison_count: int | None = None
    large_messages: int | None = None
    large_messages_capped: bool = False
    workers: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    manager: str = "blobs"
    """``blobs`` (intent/ownership lease blobs) or ``table`` (the ``{Hub}Partitions`` table's rows)."""


@dataclass
class QueuedMessage:
    event_type: str
    name: str | None
    inserted_on: datetime | None
    visible: bool = True


class HubAdmin(Protocol):
    """The hub's resources and the operator's view of it."""

    async def create_hub(self) -> dict[str, Any]:
        """Create every resource of the hub (idempotent); what exists now, as the CLI prints it."""
        ...

    async def delete_hub(self) -> dict[str, Any]:
        """Delete every resource of the hub (and nothing else); what was deleted."""
        ...

    async def list_hubs(self) -> list[str]:
        """The task hubs of the account, sorted (case as the store spells them)."""
        ...

    async def health(self) -> HubHealth:
        """Queues, owners and counts, read now (each part reports its own error)."""
        ...

    async def queued_for(
        self, instance_id: str, *, limit: int = 32
    ) -> tuple[str, int | None, list[QueuedMessage]]:
        """(the instance's queue, its depth, the visible messages for the instance among the first ``limit``)."""
        ...

    async def history_for_view(self, instance_id: str) -> list[HistoryEvent]:
        """The current execution's events, read the fastest way, for a caller that only shows them."""
        ...

    async def partition_owners(self) -> list[dict[str, object]]:
        """Per control queue: who owns it and who intends to (``taskhub get-partitions``)."""
        ...

    async def worker_seen(self) -> bool:
        """True when some worker serves the hub now (``taskhub start-new`` warns when none does)."""
        ...

    async def scale_status(self) -> dict[str, Any]:
        """The scale signal as KEDA's JSON (``targetWorkerCount``); LookupError when the hub has no queues."""
        ...

    async def collect_metrics(self, into: Metrics) -> None:
        """Set the backlog gauges and the storage-call counters on ``into`` (one Prometheus scrape)."""
        ...

    async def poisoned(self) -> list[dict[str, object]]:
        """The poisoned messages, one summary each."""
        ...

    async def requeue_poisoned(self, message_id: str) -> str:
        """Send a poisoned message back where it came from; the queue it went to."""
        ...


class OrchestrationServiceClient(Protocol):
    """The store of one task hub, as the client sees it."""

    @property
    def admin(self) -> HubAdmin:
        """The operator's view of the same hub."""
        ...

    async def close(self) -> None: ...

    async def get_instance(self, instance_id: str) -> InstanceRow | None:
        """The instance's status row; None when there is no such instance (or no hub yet)."""
        ...

    async def query_instances(
        self,
        *,
        created_from: datetime | None = None,
        created_to: datetime | None = None,
        statuses: list[OrchestrationStatus] | None = None,
        instance_id_prefix: str | None = None,
        page_size: int = 100,
        continuation_token: str | None = None,
    ) -> tuple[list[InstanceRow], str | None]:
        """One page of status rows matching all the filters, and the token of the next (none: the last)."""
        ...

    async def create_instance(
        self,
        event: ExecutionStartedEvent,
        row: InstanceRow,
        *,
        existing_etag: str | None,
        visible_at: datetime | None,
    ) -> None:
        """Start an instance: deliver ``event`` (hidden until ``visible_at``), then write ``row`` (Pending;
        over the finished row of the same id when ``existing_etag`` is given). A row that another writer
        changed meanwhile is left to it (the worker's checkpoint wins)."""
        ...

    async def send_event(
        self, instance_id: str, event: HistoryEvent, *, visible_at: datetime | None = None
    ) -> None:
        """Deliver one event to the instance (raise, terminate, suspend, resume, an entity's message)."""
        ...

    async def history(self, instance_id: str) -> list[HistoryEvent]:
        """The current execution's history events, oldest first."""
        ...

    async def resolve_payload(self, value: str | None) -> str | None:
        """A status row's Input/Output/CustomStatus as its JSON text (fetched when stored apart)."""
        ...

    async def rewind(self, instance_id: str, reason: str | None) -> None:
        """Rewind a Failed instance (and its failed children) so that its failed tasks run again."""
        ...

    async def purge_instance(self, instance_id: str) -> None:
        """Delete the instance's history, its stored payloads and its status row (the row last)."""
        ...


SERVICES: dict[str, str] = {
    "AzureStorage": "taskhub.hub.service:AzureStorageService",
}
"""host.json ``storageProvider.type`` -> the implementation of ``OrchestrationServiceClient``."""
DEFAULT_SERVICE = "AzureStorage"


def service_for(settings: Settings, provider: str = DEFAULT_SERVICE) -> OrchestrationServiceClient:
    """The registered client-side service for ``provider``, over the hub ``settings`` name."""
    path = SERVICES.get(provider)
    if path is None:
        known = ", ".join(sorted(SERVICES))
        raise ValueError(f"storage provider {provider!r} has no client service here; registered: {known}")
    module, _, name = path.partition(":")
    service: OrchestrationServiceClient = getattr(importlib.import_module(module), name)(settings)
    return service
