"""The server's TaskHubClients, one per hub that a request names with ``?taskHub=``.

* The server's own hub (``hubName`` of its settings) always has a client, created on first use (a start
  on a fresh account creates the hub, as the CLI does).
* Any other name must be a hub that exists in the account (its Instances and History tables): an unknown
  name is a 404 that creates nothing. The account's hub list is read at most every few seconds.
* At most ``MAX_OPEN_HUBS`` other hubs keep an open client (least recently used first out). An evicted
  client is closed as soon as no request is using it; every client is closed when the server stops.
"""

from __future__ import annotations

import asyncio
import contextvars
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from taskhub.client.async_client import TaskHubClient
from taskhub.config.settings import Settings

__all__ = ["HubClients", "UnknownHubError", "MAX_OPEN_HUBS"]

MAX_OPEN_HUBS = 16
"""Other hubs than the server's own with an open client at one time."""
_LIST_TTL = 5.0

_IN_USE: contextvars.ContextVar[list[_Entry] | None] = contextvars.ContextVar(
    "taskhub_http_hubs", default=None
)


class UnknownHubError(LookupError):
    """``?taskHub=`` names no hub of the account."""


class _Entry:
    __slots__ = ("client", "evicted", "users")

    def __init__(self, client: TaskHubClient) -> None:
        self.client = client
        self.users = 0
        self.evicted = False


class HubClients:
    """``await hubs.client(name_or_None)``; requests run inside ``async with hubs.request():`` so that a
    client evicted meanwhile is closed only after them."""

    def __init__(
        self,
        settings: Settings,
        *,
        max_open: int = MAX_OPEN_HUBS,
        factory: Callable[[Settings], TaskHubClient] = TaskHubClient,
    ) -> None:
        self.settings = settings
        self.max_open = max_open
        self._factory = factory
        self._own = _Entry(factory(settings))
        self._others: OrderedDict[str, _Entry] = OrderedDict()
        self._known: tuple[float, dict[str, str]] = (-_LIST_TTL, {})
        self._lock = asyncio.Lock()
        self._closing: set[asyncio.Task[None]] = set()
        self._retired: list[_Entry] = []  # evicted while a request used them

    @property
    def open_count(self) -> int:
        """Clients open now, the server's own included."""
        return 1 + len(self._others) + len(self._retired) + len(self._closing)

    async def _existing_name(self, name: str) -> str | None:
        """The hub's name as the account spells it, or None when no such hub exists."""
        at, known = self._known
        found = known.get(name.lower())
        if found is None and time.monotonic() - at >= _LIST_TTL:
            async with self._lock:
                at, known = self._known
                if time.monotonic() - at >= _LIST_TTL:
                    names = await self._own.client.service.admin.list_hubs()
                    known = {n.lower(): n for n in names}
                    self._known = (time.monotonic(), known)
            found = known.get(name.lower())
        return found

    async def client(self, hub: str | None) -> TaskHubClient:
        if not hub or hub.lower() == self.settings.hub_name.lower():
            return self._use(self._own)
        entry = self._others.get(hub.lower())
        if entry is None:
            self.settings.with_overrides(hub_name=hub)  # an invalid name: ConfigurationError (400)
            name = await self._existing_name(hub)
            if name is None:
                raise UnknownHubError(
                    f"there is no task hub named {hub!r} in this storage account "
                    "(the server does not create hubs named by ?taskHub=)"
                )
            entry = self._others.get(hub.lower())
            if entry is None:
                entry = self._others[hub.lower()] = _Entry(
                    self._factory(self.settings.with_overrides(hub_name=name))
                )
                while len(self._others) > self.max_open:
                    _, old = self._others.popitem(last=False)
                    old.evicted = True
                    if old.users == 0:
                        self._close_later(old)
                    else:
                        self._retired.append(old)
        self._others.move_to_end(hub.lower())
        return self._use(entry)

    def _use(self, entry: _Entry) -> TaskHubClient:
        in_use = _IN_USE.get()
        if in_use is not None and entry not in in_use:
            in_use.append(entry)
            entry.users += 1
        return entry.client

    def _close_later(self, entry: _Entry) -> None:
        task = asyncio.get_running_loop().create_task(entry.client.close())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    @asynccontextmanager
    async def request(self) -> AsyncIterator[None]:
        """The scope of one request: the clients it took are closed after it if evicted meanwhile."""
        in_use: list[_Entry] = []
        token = _IN_USE.set(in_use)
        try:
            yield
        finally:
            _IN_USE.reset(token)
            for entry in in_use:
                entry.users -= 1
                if entry.evicted and entry.users == 0 and entry in self._retired:
                    self._retired.remove(entry)
                    self._close_later(entry)

    async def close(self) -> None:
        """Close every client (the server stops)."""
        entries = [self._own, *self._others.values(), *self._retired]
        self._others.clear()
        self._retired.clear()
        for entry in entries:
            await entry.client.close()
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)


ClientFor = Callable[[str | None], Awaitable[TaskHubClient]]
