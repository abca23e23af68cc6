"""What a failed episode decided, kept so that its retry decides the same (pure, no I/O).

A checkpoint sends the episode's messages first and writes its history second. When the history write
fails, the messages are out but the episode is not committed: the batch goes back to the queue and the
episode runs again. Run with a new time, it would send an entity call again under a new request id and
a new sorter label, and the entity could not tell the copy from a new call. Run with the failed
attempt's time (``OrchestratorStarted``) and its generated execution ids, it sends byte-for-byte the
same requests: the entity's sorter drops the second copy (entities.md 2.7), a sub-orchestration's
second start is discarded as a duplicate, a timer fires at the same time.

Messages are known by their identity (``WorkMessage.identity``: ActivityId and sequence number), which
a copy put back in a message's place keeps; the pipeline puts a batch holding all of the failed
attempt's messages in that attempt's order first (:meth:`EpisodeMemo.arrange`). A decision is reused
only by an attempt that starts from the same history (same sentinel ETag, same number of events) with
the same messages first, in the same order (new ones may follow): once anything
was committed, it is stale and forgotten; and an attempt without all of the failed one's messages would
number its requests differently, so it decides afresh.

Until the failed attempt's messages come back (they were given back with a short delay), other messages
for the instance wait (:meth:`EpisodeMemo.waiting_for`): an entity's answer to a call the failed attempt
sent must not be applied, or dropped as "no such instance", before the episode that sends the call
again; and an episode of only new messages would decide afresh. The wait ends after
:data:`MAX_WAIT_S` whatever happens (the messages may have gone to another worker).
"""

from __future__ import annotations

import collections
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

__all__ = ["EpisodeMemo", "Decision"]

MAX_WAIT_S = 60.0
"""How long other messages of an instance wait for the return of its failed attempt's messages."""
MAX_ENTRIES = 10_000
"""Decisions kept at most (oldest first out); one per instance whose checkpoint failed and not yet retried."""


@dataclass
class Decision:
    """One attempt's choices: its time and the ids it generated, in order."""

    etag: str | None
    events: int
    messages: tuple[str, ...]
    now: datetime
    guids: list[str] = field(default_factory=list)
    since: float = field(default_factory=time.monotonic)
    sent: bool = False
    """Its checkpoint failed with messages to send (some may be out): only then is it repeated."""
    group: object | None = None
    """When the failed attempt was a group commit of several steps (``worker.pipeline.group_commit``):
    the merged episode it tried to commit. Its retry commits that episode again as it is (its
    activities ran in memory; deciding again would run them again and might send other messages)."""
    _next: int = 0

    def new_guid(self) -> str:
        """The ids of the attempt this one repeats, in the same order; new ones past them."""
        if self._next < len(self.guids):
            value = self.guids[self._next]
        else:
            value = uuid.uuid4().hex
            self.guids.append(value)
        self._next += 1
        return value


class EpisodeMemo:
    """Per instance, the decision of its last episode whose checkpoint has not succeeded yet."""

    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self._max = max_entries
        self._by_instance: collections.OrderedDict[str, Decision] = collections.OrderedDict()

    def __len__(self) -> int:
        return len(self._by_instance)

    def begin(
        self,
        instance_id: str,
        *,
        etag: str | None,
        events: int,
        messages: tuple[str, ...],
        now: Callable[[], datetime],
    ) -> tuple[Decision, bool]:
        """The decision for an attempt from this history with these messages (ids, in the order the
        episode applies them): the failed attempt's (True) when it repeats it (see the module
        docstring), else a fresh one at ``now()`` (False). Kept until :meth:`done`."""
        old = self._by_instance.pop(instance_id, None)
        if (
            old is not None
            and old.sent
            and old.etag == etag
            and old.events == events
            and messages[: len(old.messages)] == old.messages
        ):
            decision = Decision(
                etag, events, messages, old.now, list(old.guids), old.since, sent=True, group=old.group
            )
            repeated = True
        else:
            decision = Decision(etag, events, messages, now())
            repeated = False
        self._by_instance[instance_id] = decision
        while len(self._by_instance) > self._max:
            self._by_instance.popitem(last=False)
        return decision, repeated

    def waiting_for(
        self, instance_id: str, *, etag: str | None, events: int, messages: tuple[str, ...]
    ) -> tuple[str, ...]:
        """The failed attempt's message ids when a batch of ``messages`` (ids, in order) must wait for
        them: the history is the one the failed attempt started from, the batch does not begin with them,
        and they were given back less than :data:`MAX_WAIT_S` ago. Empty otherwise."""
        old = self._by_instance.get(instance_id)
        if old is None or not old.sent or old.etag != etag or old.events != events:
            return ()
        if messages[: len(old.messages)] == old.messages:
            return ()
        if time.monotonic() - old.since > MAX_WAIT_S:
            return ()
        return old.messages

    def arrange(self, instance_id: str, *, etag: str | None, events: int, messages: Sequence[str]) -> list[int]:
        """The order in which to apply a batch of ``messages`` (identities, in queue order): the failed
        attempt's messages first, in its order, then the others, when this batch holds them all and
        starts from its history; else as they are. A message put back while it waited comes again as
        a new queue message inserted later, so it may sort after messages it preceded."""
        keep = list(range(len(messages)))
        old = self._by_instance.get(instance_id)
        if old is None or not old.sent or old.etag != etag or old.events != events:
            return keep
        where = {m: i for i, m in enumerate(messages)}
        if not all(m in where for m in old.messages):
            return keep
        first = [where[m] for m in old.messages]
        return first + [i for i in keep if i not in set(first)]

    def failed(self, instance_id: str, decision: Decision, group: object | None = None) -> None:
        """The attempt's checkpoint failed after it may have sent messages: its retry repeats it (and
        commits ``group``, the merged episode of a group commit, as it is)."""
        if self._by_instance.get(instance_id) is decision:
            decision.sent = True
            decision.group = group

    def done(self, instance_id: str) -> None:
        """The attempt's checkpoint succeeded: nothing to repeat."""
        self._by_instance.pop(instance_id, None)
