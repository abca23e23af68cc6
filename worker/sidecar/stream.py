"""The work-item stream: connected SDK workers, the work handed to them, and their answers.

Each ``GetWorkItems`` call is a :class:`Connection` with the concurrency limits its request gives (0
means ``DEFAULT_LIMIT``) and, when the request has work-item filters (durabletask-python
``use_work_item_filters()``, durabletask-js ``workItemFilters: "auto"``), the function names it takes:
work is routed by them, and a connection without filters takes everything. ``Dispatcher.run(kind, name,
item)`` waits for a connection that takes ``name`` with a free slot of that kind (at most ``WAIT_FOR_WORKER_S``, then :class:`NoWorker`: the caller gives the work back to the queue,
so work for a function nobody connected waits), puts the item on that connection's stream with a fresh
completion token and awaits the answer. A connection that ends (the worker disconnected, or the sidecar
stops) fails every item it held with :class:`WorkerGone` at once, so the caller gives the work back at
once rather than after a visibility timeout; an abandon call does the same for one item. Idle streams get
a health ping every ``HEALTH_PING_S``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal

from worker.executors.base import LeaveForLater
from worker.sidecar.proto import pb

__all__ = [
    "Dispatcher",
    "Connection",
    "NoWorker",
    "WorkerGone",
    "UnknownToken",
    "HEALTH_PING_S",
    "WAIT_FOR_WORKER_S",
    "DEFAULT_LIMIT",
]

log = logging.getLogger(__name__)

Kind = Literal["orchestrator", "activity", "entity"]
HEALTH_PING_S = 10.0
"""An idle stream gets a ``healthPing`` work item this often (keeps proxies and the SDK's watchdog calm)."""
WAIT_FOR_WORKER_S = 10.0
"""How long a work item waits for a connected worker with a free slot before it goes back to the queue."""
DEFAULT_LIMIT = 100
"""Work items of one kind a connection holds at once when its request gives no limit."""


class NoWorker(LeaveForLater):
    """No connected worker took the work item in time; it goes back to its queue (not counted toward
    ``poisonMessageThreshold``: it waits for a worker)."""


class WorkerGone(Exception):
    """The worker holding the work item disconnected or abandoned it; it goes back to its queue."""


class UnknownToken(LookupError):
    """A completion for a token this sidecar does not hold (already answered, or given back)."""


@dataclass(eq=False)
class Connection:
    limits: dict[Kind, int]
    id: int
    names: dict[Kind, frozenset[str]] | None = None
    """Per kind, the (case-folded) function names this worker's filters take; None: every name."""
    items: asyncio.Queue[pb.WorkItem] = field(default_factory=asyncio.Queue)
    held: dict[Kind, int] = field(default_factory=lambda: {"orchestrator": 0, "activity": 0, "entity": 0})
    tokens: set[str] = field(default_factory=set)

    def free(self, kind: Kind) -> int:
        return self.limits[kind] - self.held[kind]

    def takes(self, kind: Kind, name: str) -> bool:
        return self.names is None or name.casefold() in self.names[kind]


@dataclass
class _Pending:
    connection: Connection
    kind: Kind
    future: asyncio.Future[Any]


class Dispatcher:
    """Hands work items to connected workers and matches their answers by completion token."""

    def __init__(self) -> None:
        self._connections: list[Connection] = []
        self._pending: dict[str, _Pending] = {}
        self._changed = asyncio.Condition()
        self._ids = itertools.count(1)
        self._closed = False

    @property
    def connections(self) -> int:
        return len(self._connections)

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def _slot(self, kind: Kind, name: str) -> Connection:
        async def found() -> Connection:
            async with self._changed:
                while True:
                    if self._closed:
                        raise NoWorker("the sidecar is stopping")
                    free = [c for c in self._connections if c.free(kind) > 0 and c.takes(kind, name)]
                    if free:
                        best = max(free, key=lambda c: c.free(kind))
                        best.held[kind] += 1
                        return best
                    await self._changed.wait()

        try:
            return await asyncio.wait_for(found(), WAIT_FOR_WORKER_S)
        except TimeoutError:
            raise NoWorker(
                f"no connected worker took the {kind} work item {name!r} within {WAIT_FOR_WORKER_S:.0f} s "
                f"({len(self._connections)} connected)"
            ) from None

    async def run(self, kind: Kind, name: str, request: Any) -> Any:
        """Hand ``request`` (an ``OrchestratorRequest``, ``ActivityRequest`` or ``EntityBatchRequest``) to a
        worker; its answer."""
        connection = await self._slot(kind, name)
        token = uuid.uuid4().hex
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[token] = _Pending(connection, kind, future)
        connection.tokens.add(token)
        field_name = {
            "orchestrator": "orchestratorRequest",
            "activity": "activityRequest",
            "entity": "entityRequest",
        }
        item = pb.WorkItem(completionToken=token, **{field_name[kind]: request})
        try:
            connection.items.put_nowait(item)
            return await future
        finally:
            self._pending.pop(token, None)
            connection.tokens.discard(token)
            connection.held[kind] -= 1
            await self._notify()

    def complete(self, token: str, response: Any) -> None:
        pending = self._pending.get(token)
        if pending is None or pending.future.done():
            raise UnknownToken(
                f"completion token {token!r} is not held by this sidecar (answered already, or given back "
                "after the worker disconnected)"
            )
        pending.future.set_result(response)

    def abandon(self, token: str) -> None:
        pending = self._pending.get(token)
        if pending is None or pending.future.done():
            raise UnknownToken(f"completion token {token!r} is not held by this sidecar")
        pending.future.set_exception(WorkerGone("the worker abandoned the work item"))

    async def stream(self, request: pb.GetWorkItemsRequest) -> AsyncIterator[pb.WorkItem]:
        """One ``GetWorkItems`` call: the work items for this connection, until it ends."""
        limits: dict[Kind, int] = {
            "orchestrator": request.maxConcurrentOrchestrationWorkItems or DEFAULT_LIMIT,
            "activity": request.maxConcurrentActivityWorkItems or DEFAULT_LIMIT,
            "entity": request.maxConcurrentEntityWorkItems or DEFAULT_LIMIT,
        }
        connection = Connection(limits, next(self._ids), _names(request))
        self._connections.append(connection)
        log.info(
            "sidecar.worker_connected connection=%d limits=%s filters=%s",
            connection.id,
            limits,
            connection.names,
        )
        await self._notify()
        try:
            while not self._closed:
                try:
                    item = await asyncio.wait_for(connection.items.get(), HEALTH_PING_S)
                except TimeoutError:
                    item = pb.WorkItem(healthPing=pb.HealthPing())
                if item.completionToken and item.completionToken not in self._pending:
                    continue  # its caller stopped waiting meanwhile
                yield item
        finally:
            self._connections.remove(connection)
            for token in list(connection.tokens):
                pending = self._pending.get(token)
                if pending is not None and not pending.future.done():
                    pending.future.set_exception(WorkerGone("the worker holding it disconnected"))
            log.info(
                "sidecar.worker_disconnected connection=%d gave_back=%d",
                connection.id,
                len(connection.tokens),
            )
            with contextlib.suppress(RuntimeError):
                await self._notify()

    async def close(self) -> None:
        """Stop: streams end, waiting work items go back."""
        self._closed = True
        for c in self._connections:
            c.items.put_nowait(pb.WorkItem(healthPing=pb.HealthPing()))
        await self._notify()


def _names(request: pb.GetWorkItemsRequest) -> dict[Kind, frozenset[str]] | None:
    if not request.HasField("workItemFilters"):
        return None
    f = request.workItemFilters
    return {
        "orchestrator": frozenset(o.name.casefold() for o in f.orchestrations),
        "activity": frozenset(a.name.casefold() for a in f.activities),
        "entity": frozenset(e.name.casefold() for e in f.entities),
    }
