"""What a worker keeps in memory of the orchestrations on the control queues it owns.

For each instance: the history as its last checkpoint wrote it (with the sentinel ETag, so the next
episode needs no read; a stale entry only costs a refused checkpoint, after which it is dropped) and,
with extended sessions, the executor's session: the orchestrator where that episode left it
(``worker.engine.decisions``),
so the next episode carries on instead of replaying the whole history.

Bounded two ways: an orchestrator not used for ``extendedSessionIdleTimeoutInSeconds`` is let go (its
history stays), and the least recently used instances are dropped whole once the cached histories
hold more than ``max_events`` events. Dropping only costs a history read and a replay later.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from taskhub.format.rows import HistoryLoad
from worker.engine.history_index import HistoryIndex

__all__ = ["InstanceCache", "Cached", "DEFAULT_MAX_EVENTS"]

DEFAULT_MAX_EVENTS = 200_000
"""About 100-300 MB of events; a 10,000-step orchestration fits many times over."""


@dataclass
class Cached:
    history: HistoryLoad
    index: HistoryIndex
    """Kept up to date with ``history`` (``worker.engine.history_index``)."""
    session: object | None
    """The executor's session where the last episode left it, or ``None`` (sessions off, idle, ended)."""
    used_at: float


class InstanceCache:
    def __init__(
        self,
        *,
        sessions: bool,
        idle_timeout_s: float,
        max_events: int = DEFAULT_MAX_EVENTS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._clock = clock
        self.sessions = sessions
        self.idle_timeout_s = idle_timeout_s
        self.max_events = max_events
        self._entries: OrderedDict[str, Cached] = OrderedDict()
        self._with_replay: OrderedDict[str, float] = OrderedDict()
        """Instances whose entry holds an orchestrator, oldest use first (what ``_let_idle_go`` walks)."""
        self._events = 0
        self.resumed = 0
        """Episodes that carried on in memory instead of replaying (for tests and the benchmark)."""

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def events(self) -> int:
        return self._events

    def get(self, instance_id: str) -> Cached | None:
        """The cached history and, if still fresh, the orchestrator that can carry on over it."""
        entry = self._entries.get(instance_id)
        if entry is None:
            return None
        self._entries.move_to_end(instance_id)
        now = self._clock()
        if entry.session is not None and now - entry.used_at > self.idle_timeout_s:
            entry.session = None
            self._with_replay.pop(instance_id, None)
        elif entry.session is not None:
            self._with_replay[instance_id] = now
            self._with_replay.move_to_end(instance_id)
        entry.used_at = now
        return entry

    def put(self, instance_id: str, history: HistoryLoad, index: HistoryIndex, session: object | None) -> None:
        """What the last checkpoint wrote; the orchestrator is kept only with extended sessions on."""
        self.pop(instance_id)
        kept = session if self.sessions else None
        now = self._clock()
        self._entries[instance_id] = Cached(history, index, kept, now)
        if kept is not None:
            self._with_replay[instance_id] = now
        self._events += len(history.events)
        while self._events > self.max_events and len(self._entries) > 1:
            oldest = next(iter(self._entries))
            self.pop(oldest)
        self._let_idle_go()

    def pop(self, instance_id: str) -> None:
        self._with_replay.pop(instance_id, None)
        entry = self._entries.pop(instance_id, None)
        if entry is not None:
            self._events -= len(entry.history.events)

    def forget(self, instance_ids: Iterable[str] | None = None) -> None:
        """Drop everything (a lost lease) or some instances (a failed episode)."""
        if instance_ids is None:
            self._entries.clear()
            self._with_replay.clear()
            self._events = 0
            return
        for instance_id in instance_ids:
            self.pop(instance_id)

    def _let_idle_go(self) -> None:
        """Orchestrators idle past the timeout are let go (their histories stay). The oldest-used come
        first and leave the walk once let go, so a call costs what it lets go, not the cache's size."""
        cutoff = self._clock() - self.idle_timeout_s
        while self._with_replay:
            instance_id, used_at = next(iter(self._with_replay.items()))
            if used_at > cutoff:
                break
            del self._with_replay[instance_id]
            self._entries[instance_id].session = None
